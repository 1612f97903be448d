# Sourced by the scripts: make sure the programs they run are installed. As root with apt-get
# they are installed; otherwise the script stops and says the exact command to run.
#   need_tools strace bwrap gcc
#   need_python_headers python3
need_tools() {
    declare -A package=([strace]=strace [bwrap]=bubblewrap [gcc]="gcc libc6-dev" [apparmor_parser]=apparmor
                        [unshare]=util-linux [mkfs.btrfs]=btrfs-progs [mkfs.ext4]=e2fsprogs)
    local missing=() tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || missing+=(${package[$tool]:-$tool})
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "$(basename "$0"): installing ${missing[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
    else
        echo "$(basename "$0"): needs ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
        exit 2
    fi
}

# Python.h for the Python that builds rotrace (the compiled loop): Debian's python3-dev.
need_python_headers() {
    "$1" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' \
        && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ "$(command -v "$1")" = /usr/bin/python3 ]; then
        echo "$(basename "$0"): installing python3-dev" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-dev >/dev/null
    else
        echo "$(basename "$0"): needs the headers of $1 (Python.h); for Debian's python3 run:" \
            "sudo apt-get install -y python3-dev" >&2
        exit 2
    fi
}
