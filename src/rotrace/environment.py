"""The part of a run's environment that decides what uv, pip and Python write, recorded in the
trace so that `rotrace diff` can show that, say, UV_NO_SYNC=true was the change.

Recorded: every UV_*, PIP_*, PYTHON* and XDG_* variable, and HOME, TMPDIR, VIRTUAL_ENV,
PATH, USER; the uid and gid. A value whose name looks secret (TOKEN, SECRET, PASSWORD,
PASSWD, KEY, AUTH, CREDENTIAL, a URL with a password) is recorded as "<redacted>".
"""

from __future__ import annotations

import os
import re

_PREFIXES = ("UV_", "PIP_", "PYTHON", "XDG_")
_NAMES = frozenset({"HOME", "TMPDIR", "VIRTUAL_ENV", "PATH", "USER"})
_SECRET = re.compile(r"TOKEN|SECRET|PASSW|KEY|AUTH|CREDENTIAL", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"://[^/@\s]*:[^/@\s]*@")
REDACTED = "<redacted>"


def recorded(name: str) -> bool:
    return name in _NAMES or name.startswith(_PREFIXES)


def redact(name: str, value: str) -> str:
    return REDACTED if _SECRET.search(name) or _URL_PASSWORD.search(value) else value


def run_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """What the trace records of `env` (default: this process's), with uid and gid."""
    env = dict(os.environ if env is None else env)
    out = {k: redact(k, v) for k, v in sorted(env.items()) if recorded(k)}
    out["uid"], out["gid"] = str(os.getuid()), str(os.getgid())
    return out
