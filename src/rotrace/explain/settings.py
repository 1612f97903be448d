"""The settings that decide where, or whether, the writers rotrace knows write: a run's values
of these made its trace, so a plan made from it holds only with them (policy/mounts.py keeps
them). UV_NO_CACHE=true sends uv's cache to a temporary directory; without it uv writes
~/.cache/uv, which no mount of the plan covers."""

from __future__ import annotations

from collections.abc import Collection

from rotrace.explain.known import KNOWN
from rotrace.patterns import Lazy

_OWN = frozenset(
    {
        # uv: its cache, whether `uv run` syncs the environment (and so writes it), where it
        # puts interpreters, tools and the project's environment, how it links files
        "UV_NO_CACHE",
        "UV_CACHE_DIR",
        "UV_NO_SYNC",
        "UV_FROZEN",
        "UV_LOCKED",
        "UV_COMPILE_BYTECODE",
        "UV_LINK_MODE",
        "UV_PYTHON_INSTALL_DIR",
        "UV_PYTHON_DOWNLOADS",
        "UV_TOOL_DIR",
        "UV_TOOL_BIN_DIR",
        "UV_PROJECT_ENVIRONMENT",
        # pip and Python
        "PIP_NO_CACHE_DIR",
        "PIP_CACHE_DIR",
        "PIP_DISABLE_PIP_VERSION_CHECK",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONPYCACHEPREFIX",
        "PYTHONUSERBASE",
        # the XDG base directories, which many programs follow
        "XDG_CACHE_HOME",
        "XDG_STATE_HOME",
        "XDG_DATA_HOME",
        "XDG_CONFIG_HOME",
    }
)

# Each known writer's own setting is one (MPLCONFIGDIR, NUMBA_CACHE_DIR...), and each setting
# that runs one without the network (UV_OFFLINE, HF_HUB_OFFLINE): offline, it reads its cache as
# it is and fetches nothing into it, which the plan counts on (it keeps such a cache in place).
RUN_SETTINGS: frozenset[str] = (
    _OWN
    | {name for known in KNOWN for name, _value in known.env}
    | {way for known in KNOWN for way in known.offline if not way.startswith("-")}
)

# The programs a family of settings is read by: a setting of theirs decides nothing in a run
# none of them ran in (a machine's PIP_DISABLE_PIP_VERSION_CHECK, for a run of no pip).
_PYTHON = Lazy(r"(python|pypy)[0-9.]*[mtd]?")
_READ_BY = (
    ("UV_", Lazy(r"uvx?")),
    ("PIP_", Lazy(r"pip[0-9.]*")),
    ("PYTHON", _PYTHON),
    ("PYTEST_", Lazy(r"pytest|py\.test")),
    ("RUFF_", Lazy(r"ruff")),
)


def concerns(name: str, ran: Collection[str] | None) -> bool:
    """Whether the setting `name` may decide what a run that ran the programs `ran` wrote (by
    name: executables, scripts, `python -m` modules; None: not known, so it may)."""
    if ran is None:
        return True
    for prefix, readers in _READ_BY:
        if name.startswith(prefix):
            return any(readers.fullmatch(program) for program in ran)
    if name.startswith("XDG_"):
        return True  # any program may follow the XDG directories
    return any(_PYTHON.fullmatch(program) for program in ran)  # the other known writers are Python's
