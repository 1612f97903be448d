# Sourced by the scripts: make (once) and activate the project's virtualenv with rotrace in it.
# ROTRACE_VENV overrides where it lives; ROTRACE_EXTRAS which extras are installed.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${ROTRACE_VENV:-$here/.venv}
extras=${ROTRACE_EXTRAS:-dev}
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
stamp="$venv/.rotrace-installed-$extras"
fastloop="$here/src/rotrace/tracer/_fastloop.c"  # built in place by the editable install
built=$(compgen -G "$here/src/rotrace/tracer/_fastloop*.so" || true)
if [ ! -f "$stamp" ] || [ "$here/pyproject.toml" -nt "$stamp" ] || [ "$fastloop" -nt "$stamp" ] \
    || { [ -z "$built" ] && command -v gcc >/dev/null; }; then
    # With PYTHONDONTWRITEBYTECODE set (some CI images) pip compiles nothing and every run
    # would compile rich and click from source: install as a user's machine does.
    env -u PYTHONDONTWRITEBYTECODE "$venv/bin/python" -m pip install --quiet --upgrade pip
    env -u PYTHONDONTWRITEBYTECODE "$venv/bin/python" -m pip install --quiet -e "$here[$extras]"
    touch "$stamp"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
