# Sourced by the scripts: make sure the programs they run are installed. As root with apt-get
# they are installed; otherwise the script stops and says the exact command to run.
#   need_tools strace bwrap gcc
need_tools() {
    declare -A package=([strace]=strace [bwrap]=bubblewrap [gcc]="gcc libc6-dev" [apparmor_parser]=apparmor
                        [unshare]=util-linux)
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
