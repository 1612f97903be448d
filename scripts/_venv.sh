# Sourced by the scripts: make (once) and activate the project's virtualenv with rotrace in it.
# ROTRACE_VENV overrides where it lives; ROTRACE_EXTRAS which extras are installed.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${ROTRACE_VENV:-$here/.venv}
extras=${ROTRACE_EXTRAS:-dev}
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
# The install builds the tracer's compiled loop in place (src/rotrace/tracer/_fastloop*.so)
# when gcc and Python's headers are there; the stamp says whether they were, so that the
# install is made again once they are (scripts/test installs them), and only then.
stamp="$venv/.rotrace-installed-$extras"
fastloop="$here/src/rotrace/tracer/_fastloop.c"
built=$(compgen -G "$here/src/rotrace/tracer/_fastloop*.so" || true)
toolchain=no
if command -v gcc >/dev/null && "$venv/bin/python" -c \
    'import os, sys, sysconfig; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))'; then
    toolchain=yes
fi
if [ ! -f "$stamp" ] || [ "$here/pyproject.toml" -nt "$stamp" ] || [ "$here/setup.py" -nt "$stamp" ] \
    || [ "$fastloop" -nt "$stamp" ] \
    || { [ -z "$built" ] && [ "$toolchain" = yes ] && [ "$(cat "$stamp")" != yes ]; }; then
    # With PYTHONDONTWRITEBYTECODE set (some CI images) pip compiles nothing and every run
    # would compile rich and click from source: install as a user's machine does.
    env -u PYTHONDONTWRITEBYTECODE "$venv/bin/python" -m pip install --quiet --upgrade pip
    env -u PYTHONDONTWRITEBYTECODE "$venv/bin/python" -m pip install --quiet -e "$here[$extras]"
    echo "$toolchain" >"$stamp"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
