"""The table of known writers. Each entry was checked on real binaries (uv 0.7.13-0.7.19 from
PyPI, CPython 3.11) with rotrace itself; docs/known-writers.md shows the same table.

An entry matches an event by a regex on its path (and, where it says so, on the program that
wrote it and on whether the path is in a virtual environment). The first match wins, so the
specific entries come first.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rotrace.events import FileEvent, ProcessInfo
from rotrace.pathnames import TMP_NAME, program_name
from rotrace.patterns import Lazy


@dataclass(frozen=True, eq=False)  # the table's entries are unique: equal means the same one,
class Known:  # and hashing by identity keeps the report's counters cheap
    id: str
    title: str
    who: str
    why: str
    fix: str
    path: str  # regex searched in the path
    exe: str | None = None  # regex matched against the writer's executable name
    in_venv: bool | None = None  # True: only inside a venv; False: only outside one
    venv_root: bool = False  # the path is directly in the venv's top directory
    cmd: str | None = None  # regex that must be found in the writer's command line
    # What a plan applies instead of a mount, as data (policy/mounts.py reads it): settings
    # (NAME, value) that move the writes to a writable scratch place or avoid them, and
    # commands for the image's build (`{dir}`: each directory whose writes it avoids).
    env: tuple[tuple[str, str], ...] = ()
    build: tuple[str, ...] = ()
    # Settings, each one enough, that avoid the writes but change what the program does (uv
    # then leaves the environment as it is): the fix names them, a plan never sets them by
    # itself, and a policy whose [env] has one avoids the writes (`check --policy`).
    avoided_by: tuple[tuple[str, str], ...] = ()
    # A regex whose first group is the top of the writer's tree (a cache's root): writes
    # anywhere in it need one mount there, since the writer renames across its subdirectories.
    root: str | None = None
    data: bool = False  # the writes are data the program reads back: a tmpfs loses them
    mounted: bool = False  # the fix is the mount itself: no setting holds every such program
    # a `mounted` writer's fix where no mount can go (its place held files, the program itself)
    otherwise: str | None = None
    # a cache the program builds again where it is missing: its setting may start it empty even
    # where the run read back what the place held (mypy's SQLite cache, updated in place)
    cache: bool = False
    # the tree its setting moves holds what the program reads (profiles, startup scripts): where
    # it held files before the run, the setting would run another program than was traced
    config: bool = False
    # the program ignores its tree where it cannot write there (IPython: "not a writable
    # location, using a temp directory"), its configuration with it: shipped read-only in the
    # image, the configuration is lost as surely as under the setting
    needs_writable: bool = False
    # directories under the home that the setting moves too, where the program reads its
    # configuration (MPLCONFIGDIR: ~/.config/matplotlib beside the font cache in ~/.cache): where
    # one holds files, the setting would run another program than was traced
    config_dirs: tuple[str, ...] = ()
    # settings that keep such a configuration read where it is when the setting moves the rest
    # (`{dir}`: the directory that holds it): MATPLOTLIBRC for matplotlibrc
    config_env: tuple[tuple[str, str], ...] = ()
    # the entries of such a directory that `config_env` keeps read (matplotlibrc): where it holds
    # any other (a style library), the setting would still hide it, and is not offered
    config_files: tuple[str, ...] = ()
    # the place is in the home: what comes before the pattern's match is /root or /home/NAME (a
    # run's HOME elsewhere is read as /root): the same names elsewhere (huggingface_hub's
    # --local-dir keeps a .cache/huggingface of its own beside the files) are no place the
    # setting moves
    in_home: bool = False
    tolerated: bool = False  # refused, they never stop their writer (Python goes on without bytecode)
    # False: never told by its name: by what the file holds (policy/databases.py), or by the
    # writer's command line (pytest's --basetemp: policy/verdict.py)
    named: bool = True
    # the program removes the directory and makes it anew at each run: a mount point there cannot
    # be removed (EBUSY), and making it fails (EEXIST): a plan mounts above it, or refuses
    remade: bool = False
    # True: only an unnamed temporary file made in the directory the path names (O_TMPFILE),
    # as a program that checks it may write there makes one; Python's own writes never do
    unnamed: bool = False
    # the run's settings that make these writes (UV_COMPILE_BYTECODE at run time): a plan, which
    # keeps the run's settings (explain.settings), leaves these out where the writer shows
    unset: tuple[str, ...] = ()
    # the ways the program runs without the network (a setting, true; an option of its command
    # line), under which it fills its cache from nothing: where the cache held files before the
    # run, a setting that moves it starts the program without what it reads (`offline_writers`)
    offline: tuple[str, ...] = ()
    # where the setting moves the writes when its value is an option, not the path itself
    # (PYTEST_ADDOPTS="-o cache_dir=/tmp/pytest-cache"): the place the plan mounts for it
    moves_to: tuple[str, ...] = ()
    # the writes are the image's build's, made at each start instead: a plan mounts nothing for
    # them (a mount would have the container build at every start), it refuses them with the fix
    at_build: bool = False

    def __reduce__(self) -> tuple[object, ...]:
        return (_by_id, (self.id,))  # across a pipe, the table's own entry (equal means the same)

    @property
    def targets(self) -> list[str]:
        """The places the setting moves the writes to: its values that are paths, and
        `moves_to`."""
        return [value for _, value in self.env if value.startswith("/")] + list(self.moves_to)

    @property
    def fix_unmounted(self) -> str | None:
        """The fix where the writes' place cannot be mounted: a `mounted` writer's mount is no
        fix there (said otherwise, or not at all)."""
        return self.otherwise if self.mounted else self.fix

    @property
    def remedy(self) -> str | None:
        """What applies the fix, where rotrace can: "a setting", "a build step"; None where the
        fix is the user's own change (install at build time...)."""
        return "a setting" if self.env else "a build step" if self.build else None

    def avoided(self, environment: Mapping[str, str], run: Mapping[str, str]) -> str | None:
        """The setting of `environment` (a policy's [env], a manifest's container) that avoids
        these writes (`avoided_by`: `uv run`'s sync, with UV_NO_SYNC) and that the traced `run`
        did not have: "NAME=value" as `environment` sets it."""
        for name, value in self.avoided_by:
            if sets(environment, name, value) and not sets(run, name, value):
                return f"{name}={environment[name]}"
        return None

    def fits(self, exe: str, in_venv: bool, cmdline: str) -> bool:
        """The writer's conditions: its program, its command line, inside a venv or not."""
        if self.in_venv is not None and self.in_venv != in_venv:
            return False
        if self.exe is not None and not _regex(self.exe).fullmatch(exe):
            return False
        return self.cmd is None or _regex(self.cmd).search(cmdline) is not None


_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})  # what uv takes for true


def sets(environment: Mapping[str, str], name: str, value: str) -> bool:
    """`environment` sets `name` to `value` (for "true", any value uv takes for true)."""
    had = environment.get(name)
    return had is not None and (had == value or (value == "true" and had.strip().lower() in _TRUE))


_HOMES = r"(?:/root|/home/[^/]+)"  # the homes a known writer's place in ~ is read in
_HOME = Lazy(_HOMES)  # what comes before an `in_home` entry's place

_regex = functools.cache(re.compile)

# the directories of uv's cache (`<cache>/wheels-v5`): where one is, its parent is a cache
_CACHE_BUCKETS = "archive|builds|sdists|wheels|simple|interpreter|environments|git|flat-index"  # the table's patterns, compiled once (asked for every write)


KNOWN: tuple[Known, ...] = (
    Known(  # before the installers': what pip installs there is the build's, not the app's
        id="build-env",
        title="build's isolated build environment",
        who="build (`python -m build`: a venv in build-env-* with the build requirements)",
        why="build makes a virtual environment under $TMPDIR for the build requirements and installs them there",
        fix="keep $TMPDIR writable: a tmpfs on /tmp (`--tmpfs /tmp`, an emptyDir), or build at image build time",
        path=r"/build-env-[^/]+(/|$)",
    ),
    Known(  # before the entries of environments changed at run time: its build environments are venvs
        id="uv-no-cache",
        title="uv's temporary cache",
        who="uv with UV_NO_CACHE (its cache, the isolated build environments of packages it builds included)",
        why="UV_NO_CACHE makes uv's cache a temporary directory under $TMPDIR (.tmpXXXXXX), removed when uv "
        "exits; it downloads, unpacks and builds packages there",
        fix="keep $TMPDIR writable: a tmpfs on /tmp (`--tmpfs /tmp`, an emptyDir); UV_CACHE_DIR does not apply",
        path=rf"/{TMP_NAME}/(?:" + _CACHE_BUCKETS + r")-v[0-9]+(/|$)",
    ),
    Known(
        id="uv-pip-install",
        title="packages installed at run time",
        who="uv pip (`uv pip install`, `uv pip sync`)",
        why="the command installs packages into the environment while it runs",
        fix="install at build time (`uv pip install` in the image build), never when the app starts",
        path=r".",
        exe=r"uv",
        in_venv=True,
        cmd=r"\bpip\s+(install|sync|uninstall)\b",
    ),
    Known(
        id="pip-install",
        title="packages installed at run time",
        who="pip (`pip install`)",
        why="pip installs packages (and compiles their bytecode) into the environment while the app runs",
        fix="install at build time (`pip install` in the image build), never when the app starts",
        path=r".",
        exe=r"(python|pip)[0-9.]*",
        in_venv=True,
        cmd=r"\b(pip[0-9.]*|__pip-runner__\.py)\s+(.*\s)?(install|uninstall)\b",
    ),
    Known(
        id="pip-build-env",
        title="pip's isolated build environment",
        who="pip (building an sdist: `__pip-runner__.py install` into pip-build-env-*)",
        why="pip installs the build requirements of an sdist into a temporary prefix under $TMPDIR",
        fix="keep $TMPDIR writable: a tmpfs on /tmp (`--tmpfs /tmp`, an emptyDir), or install wheels at build time",
        path=r"/pip-build-env-[^/]+(/|$)",
    ),
    Known(
        id="poetry-in-project-venv",
        title="poetry's in-project environment",
        who="poetry (`poetry install`, `poetry run` with virtualenvs.in-project)",
        why="poetry makes the project's environment in .venv at run time; an empty directory there (a mount"
        " point) is a broken environment to poetry, which removes it and fails on the read-only project",
        fix="POETRY_VIRTUALENVS_IN_PROJECT=false, POETRY_VIRTUALENVS_PATH=/tmp/poetry-venvs (on a writable"
        " tmpfs), or `poetry install` at image build time",
        path=r"/\.venv(/|$)",
        cmd=r"(?:^|/)poetry(?:\s|$)",
        root=r"^(.*/\.venv)(?:/|$)",  # the environment, moved whole by the setting
        env=(("POETRY_VIRTUALENVS_IN_PROJECT", "false"), ("POETRY_VIRTUALENVS_PATH", "/tmp/poetry-venvs")),
    ),
    Known(
        id="uv-cache",
        cache=True,
        title="uv's cache",
        who="uv (`uvx` and `uv run --with` keep their environments there too)",
        why="uv keeps downloaded and built packages, the environments of uvx and its interpreter probe "
        "in its cache (~/.cache/uv, or UV_CACHE_DIR), and renames between the cache's subdirectories",
        fix="UV_CACHE_DIR=/tmp/uv-cache (on a writable tmpfs), or UV_NO_CACHE=true, which still needs a writable /tmp",
        path=r"/\.cache/uv(/|$)|/(?:" + _CACHE_BUCKETS + r")-v[0-9]+(/|$)",
        exe=r"uv",
        env=(("UV_CACHE_DIR", "/tmp/uv-cache"),),
        offline=("UV_OFFLINE", "--offline"),
        root=r"^(.*/\.cache/uv)(?:/|$)|^(.*?)/(?:" + _CACHE_BUCKETS + r")-v[0-9]+(?:/|$)",
    ),
    Known(  # before the entries of `uv run`'s sync: UV_NO_SYNC is `uv run`'s, and avoids none of these
        id="uv-sync-command",
        title="`uv sync` at run time",
        who="`uv sync` (the environment's lock, its packages and their metadata)",
        why="`uv sync` makes the environment match uv.lock each time it runs: it locks it and installs into it"
        " whatever UV_NO_SYNC says, which is `uv run`'s",
        fix="run `uv sync` at image build time (`RUN uv sync --frozen`), not when the container starts; start"
        " the app with `uv run` and UV_NO_SYNC=true, or with the environment's own python",
        path=r".",
        exe=r"uv",
        cmd=r"(?:^|[\s/])uv(?:\s+-\S+)*\s+sync(?:\s|$)",
        in_venv=True,
    ),
    Known(
        id="uv-venv-lock",
        title="uv's environment lock",
        who="uv >= 0.7.14 (`uv run`, `uv sync`)",
        why="uv locks the virtual environment (<venv>/.lock, created through <venv>/.tmpXXXXXX) before "
        "checking it is in sync. In a read-only root 0.7.14-0.7.18 die with 'Read-only file system "
        "(os error 30)'; 0.7.19 and later carry on without the lock, silently (a WARN line only with -v).",
        fix="set UV_NO_SYNC=true at run time (it implies UV_FROZEN; uv refuses UV_FROZEN beside UV_LOCKED): `uv run` then leaves the environment alone",
        avoided_by=(("UV_NO_SYNC", "true"),),
        path=rf"/(\.lock|{TMP_NAME})$",
        exe=r"uv",
        in_venv=True,
        venv_root=True,
    ),
    Known(
        id="pytest-bytecode",
        title="pytest's rewritten modules (__pycache__)",
        who="pytest, rewriting the asserts of test modules, conftest files and plugins",
        why="pytest caches each module whose asserts it rewrites as NAME.cpython-3X-pytest-VERSION.pyc in"
        " __pycache__ beside it, which no compileall writes",
        fix="PYTHONDONTWRITEBYTECODE=1 (pytest then keeps them in memory), or --assert=plain (no rewriting)",
        # (written under NAME.pyc.PID, then renamed into place)
        path=r"/__pycache__/[^/]+-pytest-[^/]*\.pyc(?:\.[0-9]+)?$",
        env=(("PYTHONDONTWRITEBYTECODE", "1"),),
        tolerated=True,
    ),
    Known(  # before the bytecode entries: its writes are the same, and no setting stops them
        id="python-compile",
        title="bytecode compiled on purpose",
        who="py_compile or compileall, asked to compile (`python -m py_compile`, `python -m compileall`: a "
        "pre-commit hook, a step run at start)",
        why="py_compile and compileall write the bytecode they are asked for, whatever "
        "PYTHONDONTWRITEBYTECODE says",
        fix="compile at build time (in the image), not when the app runs; else the directory needs a "
        "writable mount",
        path=r"/__pycache__(/|$)",
        exe=r"python[0-9.]*",
        cmd=r"(?:^|\s)-m\s*(?:py_compile|compileall)(?:\s|$)|\b(?:import|from)\s+(?:py_compile|compileall)\b"
        r"|(?:^|[\s/])(?:py_compile|compileall)\.py(?:\s|$)",
    ),
    Known(
        id="uv-compile-bytecode",
        title="bytecode written into the environment",
        who="uv compiling the environment when it syncs (UV_COMPILE_BYTECODE), itself or with the Python it runs "
        "its compile script in",
        why="a missing __pycache__ entry is written at first import; uv compiles every module when "
        "UV_COMPILE_BYTECODE is set and `uv run` syncs the environment",
        fix="compile at build time (`uv sync --compile-bytecode`, or UV_COMPILE_BYTECODE=1 only in the build), "
        "do not leave UV_COMPILE_BYTECODE set at run time, and set PYTHONDONTWRITEBYTECODE=1",
        path=r"/__pycache__(/|$)",
        # uv itself, or the Python it runs its compile script with (uv 0.9: pip_compileall.py)
        exe=r"uv|python[0-9.]*",
        cmd=r"pip_compileall\.py|^(?:\S*/)?uv(?:\s|$)",
        in_venv=True,
        unset=("UV_COMPILE_BYTECODE",),
    ),
    Known(
        id="venv-bytecode",
        title="bytecode written into the environment",
        who="Python, importing the environment's modules",
        why="a module installed without its bytecode gets it written into __pycache__ at its first import",
        fix="compile at build time with the venv's own Python (`<venv>/bin/python -m compileall <venv>`, "
        "`uv sync --compile-bytecode`) and set PYTHONDONTWRITEBYTECODE=1 at run time",
        path=r"/__pycache__(/|$)",
        in_venv=True,
        env=(("PYTHONDONTWRITEBYTECODE", "1"),),
        build=("{python} -m compileall -q {dir}",),
        tolerated=True,
    ),
    Known(
        id="uv-installer-metadata",
        title="installer metadata",
        who="uv sync (installing into the environment)",
        why="uv writes INSTALLER, REQUESTED and uv_cache.json into each .dist-info it installs",
        fix="sync at build time, not at run time (UV_NO_SYNC=true); UV_NO_INSTALLER_METADATA=1 skips these files",
        avoided_by=(("UV_NO_SYNC", "true"), ("UV_NO_INSTALLER_METADATA", "true")),
        path=r"\.dist-info/(INSTALLER|REQUESTED|uv_cache\.json|" + TMP_NAME + ")$",
        exe=r"uv",
        in_venv=True,
    ),
    Known(
        id="uv-sync-at-run-time",
        title="the environment changed at run time",
        who="uv (`uv run` or `uv sync` syncing the environment)",
        why="`uv run` installs or removes packages when the environment is out of date with uv.lock",
        fix="sync at build time and set UV_NO_SYNC=true at run time (or run the venv's python directly)",
        avoided_by=(("UV_NO_SYNC", "true"),),
        path=r".",
        exe=r"uv",
        cmd=r"^(?!.*\buv(?:\s+-\S+)*\s+(?:venv|pip)\b)",  # `uv venv`, `uv pip install`: no sync
        in_venv=True,
    ),
    Known(
        id="uv-project-build",
        title="the project built at run time",
        who="uv (`uv run`, `uv sync`: the project's build backend, setuptools, hatchling...)",
        why="the environment was synced without the project (`uv sync --no-install-project`, or the source"
        " copied after the sync), so `uv run` builds and installs the project at each start, its build"
        " backend writing into the source tree (egg-info, build/)",
        fix="install the project at build time (`uv sync --frozen` once the source is in the image, without"
        " --no-install-project) and set UV_NO_SYNC=true at run time (or run the venv's python directly)",
        avoided_by=(("UV_NO_SYNC", "true"),),
        path=r".",
        named=False,  # by the process: a build backend `uv run` started (policy/verdict.py)
        at_build=True,
    ),
    Known(
        id="uv-lockfile",
        title="uv.lock rewritten",
        who="uv (`uv run`, `uv sync`)",
        why="uv re-locks when uv.lock is missing or out of date with pyproject.toml",
        fix="commit an up-to-date uv.lock and set UV_FROZEN=true (use it as is) or UV_LOCKED=true (fail if stale)",
        avoided_by=(("UV_FROZEN", "true"), ("UV_LOCKED", "true")),
        path=r"/uv\.lock$",
        exe=r"uv",
    ),
    Known(
        id="pdm-python",
        title="pdm's saved interpreter",
        who="pdm (`pdm run`, `pdm install`)",
        why="pdm saves the interpreter it picked in .pdm-python at the project's root where none is saved "
        "(and every time with PDM_IGNORE_SAVED_PYTHON set, which does not stop the write)",
        fix="save it at build time (`pdm use` in the image writes .pdm-python) and leave "
        "PDM_IGNORE_SAVED_PYTHON unset at run time",
        path=r"/\.pdm-python$",
        unset=("PDM_IGNORE_SAVED_PYTHON",),
    ),
    Known(
        id="uv-project-lock",
        title="uv's project lock",
        who="uv (`uv run`, `uv sync`)",
        why="uv takes a lock per project in $TMPDIR (uv-<hash>.lock)",
        fix="keep $TMPDIR writable: a tmpfs on /tmp (`--tmpfs /tmp`, an emptyDir)",
        path=r"/uv-[0-9a-f]{16}\.lock$",
        exe=r"uv",
    ),
    Known(
        id="uv-python-downloads",
        title="uv's managed Pythons",
        who="uv (finding or installing a Python)",
        why="uv installs Pythons it downloads under ~/.local/share/uv/python",
        fix="install the Python at build time; UV_PYTHON_DOWNLOADS=never at run time "
        "(UV_PYTHON_INSTALL_DIR moves the directory)",
        path=r"/uv/python(/|$)",
        exe=r"uv",
    ),
    Known(
        id="uv-tools",
        title="uv's tool environments",
        who="uv (`uv tool install`, `uvx`)",
        why="uv keeps tool environments under ~/.local/share/uv/tools",
        fix=(
            "run an installed tool by its entry point (~/.local/bin/TOOL, or in UV_TOOL_BIN_DIR), not"
            " `uvx`, which takes its lock in the tool directory even when the tool is installed; a tool"
            " not installed yet: install it at build time (UV_TOOL_DIR and UV_TOOL_BIN_DIR move tools"
            " to a writable path)"
        ),
        path=r"/uv/tools(/|$)",
        exe=r"uv",
    ),
    Known(
        id="uv-temporary-cache",
        title="uv's temporary directories",
        who="uv (with UV_NO_CACHE, and for its interpreter probe)",
        why="uv works in temporary directories under $TMPDIR: UV_NO_CACHE makes its whole cache one",
        fix="keep $TMPDIR writable: a tmpfs on /tmp (`--tmpfs /tmp`, an emptyDir)",
        path=rf"/{TMP_NAME}(/|$)",
        exe=r"uv",
    ),
    Known(
        id="numba-cache",
        cache=True,
        title="Numba's compiled functions",
        who="Numba (`@jit(cache=True)`)",
        why="Numba caches compiled functions (*.nbi, *.nbc) in __pycache__ beside the source",
        fix="NUMBA_CACHE_DIR=/tmp/numba-cache (on a writable tmpfs)",
        path=r"/__pycache__/[^/]+\.nb[ic]$",
        env=(("NUMBA_CACHE_DIR", "/tmp/numba-cache"),),
    ),
    Known(
        id="numba-cache-check",
        title="Numba's check that it may cache beside the source",
        who="Numba (`@jit(cache=True)`)",
        why="Numba checks it may write into __pycache__ (an unnamed temporary file) before it loads "
        "or saves a compiled function's cache there; refused, it finds no cache at all",
        fix="NUMBA_CACHE_DIR=/tmp/numba-cache (on a writable tmpfs)",
        path=r"/__pycache__$",
        unnamed=True,
        env=(("NUMBA_CACHE_DIR", "/tmp/numba-cache"),),
    ),
    Known(
        id="python-bytecode",
        title="bytecode (__pycache__)",
        who="Python, importing modules",
        why="Python writes a module's bytecode into __pycache__ the first time it imports it",
        fix="compile at build time with the Python that runs the app (`python3.X -m compileall`, "
        "`uv sync --compile-bytecode`) and set PYTHONDONTWRITEBYTECODE=1",
        path=r"/__pycache__(/|$)",
        env=(("PYTHONDONTWRITEBYTECODE", "1"),),
        build=("{python} -m compileall -q -l {dir}",),  # its directories only: not a venv in the project
        tolerated=True,
    ),
    Known(
        id="pytest-basetemp",
        title="pytest's base temporary directory",
        who="pytest (--basetemp)",
        why="pytest removes its --basetemp directory and makes it anew at each run: a mount point there"
        " cannot be removed (EBUSY), and pytest then fails making it (FileExistsError)",
        fix="give --basetemp a directory inside a writable mount (--basetemp=/tmp/pytest-basetemp, with a"
        " tmpfs on /tmp), not a mount point itself",
        path=r".",
        named=False,
        remade=True,
    ),
    Known(
        id="pytest-cache",
        cache=True,
        title="pytest's cache",
        who="pytest (the cacheprovider plugin: --lf, --ff, the `cache` fixture and the plugins that use it)",
        why="pytest keeps the last run's failures, and what tests and plugins store with `config.cache`, in"
        " .pytest_cache in the root directory",
        fix="PYTEST_ADDOPTS=-o cache_dir=/tmp/pytest-cache (on a writable tmpfs), or `cache_dir` in pytest's"
        " ini options; not `-p no:cacheprovider`, which removes the `cache` fixture tests and plugins may use",
        # and the directory pytest (>= 8) fills first, beside it, then renames onto it
        path=r"/\.pytest_cache(/|$)|/pytest-cache-files-[a-z0-9_]{8}(/|$)",
        # the plugin moved, not turned off: a suite whose tests use the cache fixture runs as traced
        env=(("PYTEST_ADDOPTS", "-o cache_dir=/tmp/pytest-cache"),),
        moves_to=("/tmp/pytest-cache",),
    ),
    Known(
        id="mypy-cache",
        cache=True,
        title="mypy's cache",
        who="mypy (incremental mode)",
        why="mypy keeps its incremental cache in .mypy_cache in the working directory",
        fix="MYPY_CACHE_DIR=/tmp/mypy-cache (on a writable tmpfs), or --cache-dir=/dev/null for no cache",
        path=r"/\.mypy_cache(/|$)",
        env=(("MYPY_CACHE_DIR", "/tmp/mypy-cache"),),
    ),
    Known(
        id="dmypy-status",
        title="the mypy daemon's status file",
        who="dmypy (`dmypy run`, `dmypy start`)",
        why="the daemon writes its pid and socket address to .dmypy.json in the working directory",
        fix="`dmypy --status-file /tmp/dmypy.json` (on a writable tmpfs)",
        path=r"/\.dmypy\.json$",
    ),
    Known(
        id="ruff-cache",
        cache=True,
        title="ruff's cache",
        who="ruff",
        why="ruff keeps its cache in .ruff_cache in the project directory",
        fix="RUFF_CACHE_DIR=/tmp/ruff-cache (on a writable tmpfs), or --no-cache",
        path=r"/\.ruff_cache(/|$)",
        env=(("RUFF_CACHE_DIR", "/tmp/ruff-cache"),),
    ),
    Known(
        id="black-cache",
        cache=True,
        title="black's cache",
        who="black",
        why="black remembers which files it formatted in ~/.cache/black",
        fix="BLACK_CACHE_DIR=/tmp/black-cache (on a writable tmpfs)",
        path=r"/\.cache/black(/|$)",
        in_home=True,
        env=(("BLACK_CACHE_DIR", "/tmp/black-cache"),),
    ),
    Known(
        id="sphinx-doctrees",
        cache=True,
        title="Sphinx's pickled environment",
        who="sphinx-build",
        why="sphinx-build keeps its environment in <output>/.doctrees between builds",
        fix="`-d /tmp/doctrees` (on a writable tmpfs), and build into a writable mount",
        path=r"/\.doctrees(/|$)",
    ),
    Known(
        id="coverage-data",
        title="coverage.py's data file",
        who="coverage.py (`coverage run`, pytest-cov)",
        why="coverage writes its data to .coverage (and .coverage.* in parallel mode) in the working directory",
        fix="COVERAGE_FILE=/tmp/.coverage (on a writable tmpfs)",
        path=r"/\.coverage(\.[^/]*)?$",
        env=(("COVERAGE_FILE", "/tmp/.coverage"),),
    ),
    Known(
        id="coverage-html",
        title="coverage.py's HTML report",
        who="coverage.py (`coverage html`, pytest-cov's --cov-report=html)",
        why="coverage writes its HTML report in htmlcov in the working directory, over the last one",
        fix="`coverage html -d /tmp/htmlcov` (pytest-cov: `--cov-report=html:/tmp/htmlcov`) on a writable tmpfs,"
        " or `directory` under [html] in its configuration",
        path=r"/htmlcov(/|$)",
    ),
    Known(
        id="hypothesis-db",
        title="Hypothesis's example database",
        who="Hypothesis (property-based tests)",
        why="Hypothesis keeps failing examples in .hypothesis in the working directory",
        fix="`settings(database=None)` in a profile, or run from a writable directory",
        path=r"/\.hypothesis(/|$)",
    ),
    Known(
        id="tox-envs",
        title="tox's environments",
        who="tox",
        why="tox builds its environments in .tox in the project",
        # not "build the environments at image build time": tox still writes each one's log
        # (.tox/py/log) at run time
        fix="`tox --workdir /tmp/tox` (on a writable tmpfs)",
        path=r"/\.tox(/|$)",
    ),
    Known(
        id="nox-envs",
        title="nox's environments",
        who="nox",
        why="nox builds its environments in .nox in the project",
        fix="`nox --envdir /tmp/nox` (on a writable tmpfs)",
        path=r"/\.nox(/|$)",
    ),
    Known(
        id="matplotlib-config",
        title="Matplotlib's config and font cache",
        who="Matplotlib",
        why="Matplotlib writes its font cache under ~/.cache/matplotlib (or ~/.config/matplotlib)",
        fix="MPLCONFIGDIR=/tmp/matplotlib (on a writable tmpfs; with MATPLOTLIBRC=~/.config/matplotlib where a"
        " matplotlibrc is there, which MPLCONFIGDIR would hide; where a style library is there too, a writable"
        " font cache directory instead), or build the font cache at image build time",
        path=r"/\.(cache|config)/matplotlib(/|$)",
        in_home=True,
        env=(("MPLCONFIGDIR", "/tmp/matplotlib"),),
        config_dirs=(".config/matplotlib",),  # matplotlibrc, stylelib
        config_env=(("MATPLOTLIBRC", "{dir}"),),  # the matplotlibrc in it
        config_files=("matplotlibrc",),  # not stylelib/, which only MPLCONFIGDIR names
        # where ~/.config/matplotlib is not writable, Matplotlib takes a temporary directory for
        # its configuration too (and sets MPLCONFIGDIR to it): a style library is lost with it
        needs_writable=True,
    ),
    Known(
        id="ipython",
        title="IPython's state",
        who="IPython (also under Jupyter kernels)",
        why="IPython keeps its history and profiles in ~/.ipython",
        fix="IPYTHONDIR=/tmp/ipython (on a writable tmpfs)",
        path=r"/\.ipython(/|$)",
        in_home=True,
        env=(("IPYTHONDIR", "/tmp/ipython"),),
        config=True,
        needs_writable=True,
    ),
    Known(
        id="jupyter-runtime",
        title="Jupyter's runtime files",
        who="Jupyter (jupyter_core: servers and kernels)",
        why="Jupyter writes its runtime files (server info, kernel connection files) in "
        "~/.local/share/jupyter/runtime",
        fix="JUPYTER_RUNTIME_DIR=/tmp/jupyter/runtime (on a writable tmpfs)",
        path=r"/\.local/share/jupyter/runtime(/|$)",
        in_home=True,
        env=(("JUPYTER_RUNTIME_DIR", "/tmp/jupyter/runtime"),),
    ),
    Known(
        id="jupyter-data",
        title="Jupyter's data files",
        who="Jupyter (jupyter_core)",
        why="Jupyter keeps its data (kernel specs, extensions, workspaces) in ~/.local/share/jupyter",
        fix="JUPYTER_DATA_DIR=/tmp/jupyter/data and JUPYTER_RUNTIME_DIR=/tmp/jupyter/runtime (on a writable tmpfs)"
        " where it held nothing before: it holds the kernel specs and extensions Jupyter reads",
        path=r"/\.local/share/jupyter(/|$)",
        in_home=True,
        env=(("JUPYTER_DATA_DIR", "/tmp/jupyter/data"), ("JUPYTER_RUNTIME_DIR", "/tmp/jupyter/runtime")),
        config=True,
    ),
    Known(
        id="jupyter-config",
        title="Jupyter's configuration",
        who="Jupyter (jupyter_core: its migration from ~/.ipython, `jupyter --generate-config`)",
        why="jupyter_core writes ~/.jupyter when it migrates an IPython configuration or generates one",
        fix="JUPYTER_CONFIG_DIR=/tmp/jupyter/config (on a writable tmpfs), or the configuration in the image",
        path=r"/\.jupyter(/|$)",
        in_home=True,
        env=(("JUPYTER_CONFIG_DIR", "/tmp/jupyter/config"),),
        config=True,
    ),
    Known(
        id="pre-commit-cache",
        title="pre-commit's hook environments",
        who="pre-commit",
        why="pre-commit installs the hooks' environments under ~/.cache/pre-commit",
        fix="PRE_COMMIT_HOME on a writable mount (or install the hooks at image build time)",
        path=r"/\.cache/pre-commit(/|$)",
        in_home=True,
        env=(("PRE_COMMIT_HOME", "/tmp/pre-commit"),),
    ),
    Known(
        id="pylint-cache",
        title="pylint's statistics",
        who="pylint",
        why="pylint keeps per-module statistics under ~/.cache/pylint",
        fix="PYLINTHOME=/tmp/pylint (on a writable tmpfs)",
        path=r"/\.cache/pylint(/|$)",
        in_home=True,
        env=(("PYLINTHOME", "/tmp/pylint"),),
    ),
    Known(  # before the whole cache's entry: its own setting leaves the models where they are
        id="huggingface-datasets",
        cache=True,
        title="datasets' cache (Hugging Face)",
        who="Hugging Face datasets",
        why="datasets writes the Arrow files it prepares, and their locks, to ~/.cache/huggingface/datasets as"
        " it loads data, and builds them again where they are missing",
        fix="HF_DATASETS_CACHE=/tmp/huggingface/datasets (on a writable tmpfs): it moves the datasets' cache"
        " alone, not the models in ~/.cache/huggingface/hub",
        path=r"/\.cache/huggingface/datasets(/|$)",
        in_home=True,
        env=(("HF_DATASETS_CACHE", "/tmp/huggingface/datasets"),),
    ),
    Known(
        id="huggingface-cache",
        title="downloaded models (Hugging Face)",
        who="Hugging Face libraries",
        why="models and datasets are downloaded to ~/.cache/huggingface at first use",
        fix="HF_HOME=/tmp/huggingface (on a writable tmpfs); better, download at image build time into HF_HOME "
        "and set HF_HUB_OFFLINE=1 at run time",
        # its places (hub/, datasets/, xet/, token...): not the download/ metadata and .gitignore
        # that huggingface_hub's --local-dir keeps in a .cache/huggingface of its own
        path=r"/\.cache/huggingface/(?!download(?:/|$)|upload(?:/|$)|\.gitignore$)",
        in_home=True,
        env=(("HF_HOME", "/tmp/huggingface"),),
        # offline, it reads the models it holds and cannot fetch them again: HF_HOME would hide them
        offline=("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"),
    ),
    Known(
        id="torch-cache",
        title="downloaded models (PyTorch hub)",
        who="PyTorch hub, torchvision",
        why="models are downloaded to ~/.cache/torch at first use",
        fix="TORCH_HOME=/tmp/torch (on a writable tmpfs); better, download at image build time into TORCH_HOME",
        path=r"/\.cache/torch(/|$)",
        in_home=True,
        env=(("TORCH_HOME", "/tmp/torch"),),
    ),
    Known(
        id="git-optional-index-lock",
        title="git's index refresh",
        who="git (`git status`, `git describe`, `git diff` in a checkout whose files' times changed)",
        why="git rewrites .git/index to refresh the times it keeps of the files, an optional write"
        " it takes .git/index.lock for",
        fix="GIT_OPTIONAL_LOCKS=0 (git then leaves the index as it is)",
        path=r"/\.git/index\.lock$",
        exe=r"git",
        cmd=r"^(\S*/)?git(\s+(-[Cc]\s+\S+|-\S+))*\s+(status|describe|diff)(\s|$)",  # the subcommand
        env=(("GIT_OPTIONAL_LOCKS", "0"),),
    ),
    Known(
        id="pip-selfcheck",
        title="pip's version check",
        who="pip",
        why="pip records when it last checked PyPI for a newer pip",
        fix="PIP_DISABLE_PIP_VERSION_CHECK=1",
        path=r"/\.cache/pip/selfcheck(/|$)",
        in_home=True,
        env=(("PIP_DISABLE_PIP_VERSION_CHECK", "1"),),
    ),
    Known(
        id="pip-cache",
        cache=True,
        title="pip's cache",
        who="pip",
        why="pip keeps downloaded and built wheels in ~/.cache/pip",
        fix="PIP_NO_CACHE_DIR=1, or PIP_CACHE_DIR=/tmp/pip-cache (on a writable tmpfs)",
        path=r"/\.cache/pip(/|$)",
        in_home=True,
        env=(("PIP_CACHE_DIR", "/tmp/pip-cache"),),
        root=r"^(.*/\.cache/pip)(?:/|$)",
    ),
    Known(
        id="pip-cache-way",
        title="pip's cache, on its way",
        who="pip",
        why="where ~/.cache/pip is not there yet, pip checks that it may write the first directory"
        " of its way that is (~/.cache, or the home itself) and makes the cache there",
        fix="PIP_NO_CACHE_DIR=1, or PIP_CACHE_DIR=/tmp/pip-cache (on a writable tmpfs)",
        path=r"^(/root|/home/[^/]+)(/\.cache)?/?$",
        exe=r"(python|pip)[0-9.]*",
        cmd=r"(?<![\w.-])(pip[0-9.]*|__pip-runner__\.py)(?![\w-])",  # not pip-compile, pip-sync
        env=(("PIP_CACHE_DIR", "/tmp/pip-cache"),),
    ),
    Known(
        id="virtualenv-app-data",
        title="virtualenv's app data",
        who="virtualenv (making environments for tox, nox, hatch, pipx, poetry)",
        why="virtualenv keeps its seed wheels and what it learnt of each interpreter in its app data "
        "(~/.local/share/virtualenv; ~/.cache/virtualenv from 20.31)",
        fix="VIRTUALENV_OVERRIDE_APP_DATA=/tmp/virtualenv (on a writable tmpfs)",
        path=r"/(?:\.local/share|\.cache)/virtualenv(/|$)",
        in_home=True,
        env=(("VIRTUALENV_OVERRIDE_APP_DATA", "/tmp/virtualenv"),),
        root=r"^(.*/(?:\.local/share|\.cache)/virtualenv)(?:/|$)",
    ),
    Known(
        id="xdg-cache",
        cache=True,
        mounted=True,
        title="a cache in ~/.cache",
        who="programs following the XDG base directories",
        why="programs keep caches in $XDG_CACHE_HOME, ~/.cache by default",
        # no setting for the plan: XDG_CACHE_HOME holds only a program that follows it
        # (Flask-Caching's expanduser("~/.cache/...") does not), a mount holds any
        fix=(
            "a writable mount (tmpfs, emptyDir) at its directory in ~/.cache; XDG_CACHE_HOME=/tmp/cache"
            " moves it only for a program that follows the XDG base directories"
        ),
        otherwise=(
            "XDG_CACHE_HOME=/tmp/cache (on a writable tmpfs) moves it, for a program that follows the XDG"
            " base directories (one that runs from its cache, as `pipx run` does, then makes it anew there);"
            " else the program's own option for its cache, or the cache made at image build time"
        ),
        path=rf"^{_HOMES}/\.cache(/|$)",
    ),
    Known(
        id="xdg-state",
        title="state kept in ~/.local/state",
        who="programs following the XDG base directories (platformdirs' user_state_dir: scrapy's job files)",
        why="programs keep state (logs, history, job files) in $XDG_STATE_HOME, ~/.local/state by default",
        fix="XDG_STATE_HOME=/tmp/state (on a writable tmpfs; a volume there where the state must outlive "
        "the container)",
        path=rf"^{_HOMES}/\.local/state(/|$)",
        env=(("XDG_STATE_HOME", "/tmp/state"),),
        root=rf"^({_HOMES}/\.local/state)(?:/|$)",
    ),
    Known(
        id="sqlite-read-only",
        title="a SQLite database opened read-write",
        who="SQLite (Python's sqlite3, Django, datasette...)",
        why="SQLite opens a database read-write where it may; under a read-only root it opens it "
        "read-only instead, and reads work (nothing was written: no journal, no WAL, no change)",
        fix="nothing where the app only reads it (SQLite then opens it read-only); an app that "
        "changes it needs its directory writable (a persistent volume)",
        path=r"$^",
        named=False,
    ),
    Known(
        id="python-history",
        title="the interactive Python history",
        who="Python's interactive prompt",
        why="the REPL saves its history to ~/.python_history",
        fix="PYTHON_HISTORY=/tmp/.python_history (Python >= 3.13), or no REPL in production",
        path=r"/\.python_history$",
    ),
)


# A temporary name made from the final one (`name.tmp.4f2a9c`, `x.pyc.140737`, `name.tmpAb12Cd`,
# `name~`): atomic writers write it, then rename it to the final name.
_TEMPORARY_SUFFIX = Lazy(r"(?:\.tmp(?:[._-]?[0-9A-Za-z]+)?|\.[0-9]{5,}|\.[0-9a-f]{8,}|~)$")


def _names(event: FileEvent) -> list[str]:
    """The names a write is known by: its path and, for a rename, its target (where the file ends
    up); each also without a temporary suffix (the name an atomic writer renames it to)."""
    names = [os.fsdecode(event.path)]
    if event.op == "rename" and event.target is not None:
        names.append(os.fsdecode(event.target))
    for name in list(names):
        final = _TEMPORARY_SUFFIX.sub("", name)
        if final != name and not final.endswith("/") and final not in names:
            names.append(final)
    return names


def explain(event: FileEvent, venv: bytes | None, cmdline: str = "") -> Known | None:
    """The known writer behind a write event, if any; cmdline (the writer's) narrows it down.

    The table's first entry that knows any of the write's names wins: a cache written under a
    temporary name and renamed into a directory another writer shares (Numba's index in
    __pycache__) is that cache's, not the directory's usual writer's."""
    names = _names(event)
    unnamed = "O_TMPFILE" in (event.flags or "")
    for known, pattern in _fitting(program_name(event.exe), venv is not None, cmdline):
        if (known.venv_root and os.path.dirname(event.path) != venv) or (known.unnamed and not unnamed):
            continue
        for name in names:
            found = pattern.search(name)
            if found is not None and (not known.in_home or _HOME.fullmatch(name[: found.start()])):
                return known
    return None


@functools.lru_cache(maxsize=256)
def _fitting(exe: str, in_venv: bool, cmdline: str) -> tuple[tuple[Known, re.Pattern[str]], ...]:
    """The entries that fit a writer, in the table's order, each with its path's regex (asked
    for every write, answered once per program)."""
    return tuple((k, _regex(k.path)) for k in KNOWN if k.named and k.fits(exe, in_venv, cmdline))


def offline_writers(
    environment: Mapping[str, str], processes: Iterable[ProcessInfo] = ()
) -> frozenset[Known]:
    """The known writers that ran without the network (`Known.offline`): told by the run's
    environment, or by the command line of one of their `processes`."""
    commands = [(program_name(p.exe), p.cmdline) for p in processes]
    found = set()
    for known in KNOWN:
        for way in known.offline:
            if way.startswith("-"):
                ran = any(
                    way in argv[1:]
                    for exe, argv in commands
                    if known.exe is None or _regex(known.exe).fullmatch(exe)
                )
            else:
                ran = environment.get(way, "").strip().lower() not in ("", "0", "false", "no", "off")
            if ran:
                found.add(known)
    return frozenset(found)


BY_ID = {k.id: k for k in KNOWN}
# ids of entries that were split, for traces written before: the first part stands for the whole
BY_ID.update({"ipython-jupyter": BY_ID["ipython"], "model-caches": BY_ID["huggingface-cache"]})


READ_ONLY_DATABASE = BY_ID["sqlite-read-only"]  # policy/databases.py finds it, by content


def _by_id(known_id: str) -> Known:
    return BY_ID[known_id]
