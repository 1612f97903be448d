"""What a trace records besides its events: the header (command, cwd, how it ended, the processes,
the directories' states, the environment...). A module of its own so that the report reads a
header without the JSON codec (tracefile.py)."""

from __future__ import annotations

import signal
from collections.abc import Collection
from dataclasses import InitVar, dataclass, field, replace

from rotrace.events import DirState, ProcessInfo
from rotrace.redact import Redactor


@dataclass
class TraceHeader:
    command: list[str]
    cwd: str
    exit_code: int
    signal: str | None = None
    allowlist: list[str] = field(default_factory=list)
    seccomp: bool = True
    all_opens: bool = False
    warnings: list[str] = field(default_factory=list)
    read_only: bool = False  # traced inside the read-only sandbox (--read-only)
    sandbox_writable: list[str] | None = None  # what the sandbox mounted writable
    processes: list[ProcessInfo] = field(default_factory=list)
    directories: dict[bytes, DirState] = field(default_factory=dict)  # before the first write in each
    environment: dict[str, str] = field(default_factory=dict)  # environment.py: what decides the writes
    enforced: int | None = None  # run --enforce: the Landlock ABI that denied writes outside the allowlist
    secrets: InitVar[Collection[str]] = ()  # values known to be secret (redact.secrets_in), masked anywhere

    def __post_init__(self, secrets: Collection[str]) -> None:
        """No secret reaches a trace, a report or an export, whoever makes the header: a run's,
        or one read back from a trace an older rotrace wrote (redact.py; idempotent)."""
        redact = Redactor(secrets)
        self.command = redact.argv(self.command)
        self.processes = [replace(p, cmdline=tuple(redact.argv(p.cmdline))) for p in self.processes]
        self.environment = redact.environment(self.environment)

    @property
    def command_failed(self) -> bool:
        return self.exit_code != 0


def signal_name(sig: int | None) -> str | None:
    if sig is None:
        return None
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"SIG{sig}"
