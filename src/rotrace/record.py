"""What a trace records besides its events: the header (command, cwd, how it ended, the processes,
the directories' states, the environment...). A module of its own so that the report reads a
header without the JSON codec (tracefile.py)."""

from __future__ import annotations

import os
import signal
from collections.abc import Collection
from dataclasses import InitVar, dataclass, field

from rotrace.events import DirState, ProcessInfo
from rotrace.patterns import decimal
from rotrace.redact import Redactor, secrets_in


@dataclass
class Source:
    """One run a merged trace was made from (`rotrace merge`): its header, without its events."""

    command: list[str]
    cwd: str
    exit_code: int
    signal: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    programs: list[str] = field(default_factory=list)  # the executables it ran
    kernel: str | None = None  # the kernel release, where the trace recorded it
    rotrace_version: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    path: str = ""  # the trace file it was read from
    checkpoint: str | None = None  # a checkpoint's time (UTC, ISO 8601): the run had not ended
    let_go: bool = False  # an attached process let go, still running: no exit status
    stopped: str | None = None  # the signal rotrace passed on that ended the run (TraceHeader.stopped)

    @property
    def name(self) -> str:
        """A short name for a person: its `name` or `app` label, else its program's name."""
        for key in ("name", "app"):
            if key in self.labels:
                return self.labels[key]
        return self.command[0].rsplit("/", 1)[-1] if self.command else "?"


@dataclass
class Generalised:
    """Sibling names of a merge's runs written as one glob (`rotrace merge`)."""

    glob: str  # the whole path, the glob in its last component
    names: int  # the distinct names it stands for
    runs: tuple[int, ...]  # the runs they were written in
    most: int | None = (
        None  # the most of them one run left (None: not known, a trace an older rotrace merged)
    )


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
    labels: dict[str, str] = field(default_factory=dict)  # run --label KEY=VALUE
    sources: list[Source] = field(default_factory=list)  # a merged trace's runs (else empty)
    generalised: list[Generalised] = field(default_factory=list)  # a merged trace's name families
    # `run --checkpoint`: the time (UTC, ISO 8601) this trace of a run still going was written;
    # exit_code and signal then mean nothing (the JSON has exit_code null)
    checkpoint: str | None = None
    # `run -p PID` ended by a signal to rotrace: the process was let go and runs on, so it has no
    # exit status either (the JSON has exit_code null and "let_go": true)
    let_go: bool = False
    # the signal rotrace received that stopped the run (passed on to the command): the command's
    # end is that stop, which no write of its caused (the JSON has "stopped": "SIGTERM")
    stopped: str | None = None
    # the calls by which the command changed the mounts of rotrace's mount namespace (mount,
    # umount2, move_mount, pivot_root): they outlast it, and a name may reach another file than
    # the one it wrote (a gate reading a file after the run: gate_inputs.py)
    remounted: list[str] = field(default_factory=list)
    secrets: InitVar[Collection[str]] = ()  # values known to be secret (redact.secrets_in), masked anywhere

    def __post_init__(self, secrets: Collection[str]) -> None:
        """No secret reaches a trace, a report or an export, whoever makes the header: a run's,
        or one read back from a trace an older rotrace wrote (redact.py; idempotent). The values
        of the secret-named variables it recorded are known secrets too: a trace written before
        they were masked holds them in its command lines as well."""
        known = set(secrets)
        for env in (self.environment, self.labels, *(s.environment for s in self.sources),
                    *(s.labels for s in self.sources)):  # fmt: skip
            known |= secrets_in(env)
        redact = Redactor(known)
        # a secret one command line shows by its form, another may carry as a plain argument
        # (the environment's and the labels' are in `known`: secrets_in)
        found: set[str] = set()
        for argv in (self.command, *(p.cmdline for p in self.processes), *(s.command for s in self.sources)):
            found |= redact.found(argv)
        if not found <= known:
            redact = Redactor(known | found)
        self.masks = redact  # for what else the run's programs gave: a symbolic link's content
        self.command = redact.argv(self.command)
        self.processes = [p._replace(cmdline=tuple(redact.argv(p.cmdline))) for p in self.processes]
        self.environment = redact.environment(self.environment)
        self.labels = redact.environment(self.labels)  # `--label token=...`: read as a variable
        self.warnings = [redact.text(w) for w in self.warnings]  # a trace's file is anyone's to edit
        for source in self.sources:
            source.command = redact.argv(source.command)
            source.environment = redact.environment(source.environment)
            source.labels = redact.environment(source.labels)

    @property
    def user(self) -> tuple[int, int] | None:
        """(uid, gid) the command ran as (a merged trace's: where its runs agree), None: unknown."""
        uid, gid = decimal(self.environment.get("uid", "")), decimal(self.environment.get("gid", ""))
        return (uid, gid) if uid is not None and gid is not None and max(uid, gid) < 1 << 32 else None

    def seen_in(self, runs: Collection[int]) -> str | None:
        """A merged trace's coverage of a place: in how many of its runs it was written, and by
        which (one run only is flagged: a one-off, or a path the other runs did not reach)."""
        if not self.sources:
            return None
        chosen = sorted(i for i in set(runs) if 0 <= i < len(self.sources))
        named: dict[str, set[int]] = {}
        for i in range(len(self.sources)):
            named.setdefault(self._run_name(i), set()).add(i)
        # a name other runs share, which did not all write here, says which ones did
        names = ", ".join(
            dict.fromkeys(
                self._numbered(i) if not named[self._run_name(i)] <= set(chosen) else self._run_name(i)
                for i in chosen
            )
        )
        once = " (in one run only: check it)" if len(chosen) == 1 and len(self.sources) > 1 else ""
        return f"seen in {len(chosen)} of {len(self.sources)} runs: {names}{once}"

    def _numbered(self, index: int) -> str:
        """A run among others of one name: its number and arguments (`pylint #2 (pkg_b)`)."""
        args = " ".join(self.sources[index].command[1:])
        args = args if len(args) <= 40 else args[:39] + "…"
        return f"{self._run_name(index)} #{index + 1}" + (f" ({args})" if args else "")

    def _run_name(self, index: int) -> str:
        """A merged run's name for a person: its `name` label, else the values of the labels that
        tell the runs apart (a matrix's `cell`), else its `app` label or program."""
        source = self.sources[index]
        if "name" in source.labels:
            return source.name
        keys = sorted({k for s in self.sources for k in s.labels})
        varying = [k for k in keys if len({s.labels.get(k) for s in self.sources}) > 1]
        told = [source.labels[k] for k in varying if k in source.labels]
        return "/".join(told) if told else source.name

    def script_names(self) -> dict[tuple[str, int], str]:
        """(executable's name, pid) -> the script the kernel ran that interpreter for (a console
        script, `#!/usr/bin/env python3`), which names the process where people read it (`black
        123`, not `python3.11 123`; the JSON keeps the executable). A pid that ran two scripts
        (merged runs), or a script and then the interpreter alone (`poetry run python -m app`
        exec'd in poetry's pid), keeps its executable's name: its events do not say which ran."""
        found: dict[tuple[str, int], set[str | None]] = {}
        for p in self.processes:
            name = os.fsdecode(os.path.basename(p.exe))
            script = os.fsdecode(os.path.basename(p.script)) if p.script else None
            found.setdefault((name, p.pid), set()).add(script)
        return {
            key: script for key, names in found.items() if len(names) == 1 and (script := next(iter(names)))
        }

    @property
    def runs(self) -> int:
        """How many runs the trace holds: a merged trace's sources, else one."""
        return len(self.sources) or 1

    @property
    def command_failed(self) -> bool:
        return self.exit_code != 0 and self.checkpoint is None

    @property
    def failed_on_its_own(self) -> bool:
        """The command failed, and not because rotrace stopped it (a server ended by the SIGTERM
        rotrace passed on exits 143): what a write that failed may have caused."""
        return self.command_failed and self.stopped is None


def checkpoint_note(path: str, when: str) -> str:
    """The one line that says a trace is a checkpoint, wherever one is read."""
    return (
        f"{path} is a checkpoint written at {when} while the command was still running: not a"
        " finished run (no exit status; writes after that time are not in it)"
    )


def signal_name(sig: int | None) -> str | None:
    if sig is None:
        return None
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"SIG{sig}"
