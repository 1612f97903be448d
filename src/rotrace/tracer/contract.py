"""What a trace is asked (TraceOptions) and what it answers (TraceResult, and an event for
each file syscall): a module of its own, light to import, because `rotrace run` builds the
request and forks its report process before the tracer itself is imported."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from rotrace.events import DirState, FileEvent, ProcessInfo
from rotrace.tracer.signals import DEFAULT_GRACE

EventSink = Callable[[FileEvent], None]
ProcessSink = Callable[[ProcessInfo], None]  # each program the command runs, as it starts


class TraceOptions(NamedTuple):
    """How the command is traced (what `run` asked for)."""

    seccomp: bool = True  # stop only on decoded syscalls (a BPF filter), see seccomp.py
    all_opens: bool = False  # record read-only opens as well as writes
    stdout_to_stderr: bool = False  # keep rotrace's stdout for its own output (--json -)
    writable: tuple[str, ...] | None = None  # enforce with Landlock: the command may write only here
    writable_notes: tuple[str, ...] = ()  # what `writable` leaves out of the allowlist, and why
    confined: bool = False  # --enforce, --read-only: no input pushed into a terminal (seccomp.py)
    # its writes may land on this machine's files (--enforce, --read-only --keep-writes; under
    # --read-only alone, a stdout or stderr redirected to a file): it makes no set-user-ID or
    # set-group-ID file there, nor one with capabilities (seccomp.privileged)
    host_files: bool = False
    grace: float = DEFAULT_GRACE  # seconds a signalled command has to stop (signals.py)
    container_init: bool = False  # rotrace is a container's PID 1: the run ends with the top process
    # rotrace's processes besides the tracer (the report process), whose resource limits a
    # confined command may not change (seccomp.py's guard; the tracer's own are added there)
    own_pids: tuple[int, ...] = ()


class TraceResult(NamedTuple):
    """How the traced command ended, and what the tracer saw beside its writes."""

    pid: int
    exit_code: int  # as a shell reports it: the exit status, or 128 + the signal
    signal: int | None
    seccomp: bool
    stops: int
    warnings: list[str]
    processes: list[ProcessInfo]  # every program the command ran
    directories: dict[bytes, DirState]  # before the first write in each
    landlock_abi: int | None = None  # the Landlock ABI the writes were enforced with
    let_go: bool = False  # run -p: the process was let go, still running (exit_code means nothing)
    stopped_by: int | None = None  # the signal rotrace received that stopped the run (signals.py)
    # the calls by which traced processes changed the mounts of rotrace's mount namespace (loop.py)
    remounted: tuple[str, ...] = ()
