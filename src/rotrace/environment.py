"""The part of a run's environment that decides what uv, pip and Python write, recorded in the
trace so that `rotrace diff` can show that, say, UV_NO_SYNC=true was the change.

Recorded: every UV_*, PIP_*, PYTHON* and XDG_* variable, and HOME, TMPDIR, VIRTUAL_ENV,
PATH, USER; the settings the known writers follow (`also`: MPLCONFIGDIR, NUMBA_CACHE_DIR...,
which a plan keeps as the run had them); the uid and gid. Secrets never are (redact.py): a
variable whose name says it holds one (UV_PUBLISH_TOKEN, UV_INDEX_<NAME>_PASSWORD...) is
recorded as "<redacted>"; in the others, the credentials of a URL
(UV_INDEX_URL=https://***@host/simple, PIP_PROXY=***@proxy:3128), a secret query parameter,
and the value of any secret-named variable of the whole environment (GITHUB_TOKEN's, say) are
masked as "***".
"""

from __future__ import annotations

import os
from collections.abc import Collection

from rotrace.redact import redact_environment, secrets_in

_PREFIXES = ("UV_", "PIP_", "PYTHON", "XDG_")
_NAMES = frozenset({"HOME", "TMPDIR", "VIRTUAL_ENV", "PATH", "USER"})


def recorded(name: str, also: Collection[str] = ()) -> bool:
    return name in _NAMES or name.startswith(_PREFIXES) or name in also


def run_environment(
    env: dict[str, str] | None = None, also: Collection[str] = (), ids: tuple[int, int] | None = None
) -> dict[str, str]:
    """What the trace records of `env` (default: this process's), with uid and gid (`ids`,
    default this process's); `also`: more names to record."""
    env = dict(os.environ if env is None else env)
    out = redact_environment({k: v for k, v in sorted(env.items()) if recorded(k, also)}, secrets_in(env))
    uid, gid = ids if ids is not None else (os.getuid(), os.getgid())
    out["uid"], out["gid"] = str(uid), str(gid)
    return out
