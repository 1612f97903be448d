"""The event loop: one blocking waitpid(-1, __WALL) for every tracee.

Each stop is handled and the tracee resumed at once. With the seccomp filter, a tracee
stops only at the entry of a call rotrace decodes (PTRACE_EVENT_SECCOMP), is resumed with
PTRACE_SYSCALL to catch that call's exit, and with PTRACE_CONT otherwise. Without it
(--no-seccomp), every syscall stops twice and PTRACE_GET_SYSCALL_INFO tells entry from exit.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from rotrace.errors import CommandNotExecutable, CommandNotFound, TraceFailed
from rotrace.events import FileEvent
from rotrace.tracer import kernel, seccomp
from rotrace.tracer.arch import Machine, SyscallTable, UnsupportedMachine, current_machine
from rotrace.tracer.decode import Decoder, Pending
from rotrace.tracer.spawn import find_executable, spawn
from rotrace.tracer.syscalls import SPECS, Spec

_SYSCALL_TRAP = signal.SIGTRAP | 0x80
_STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)

EventSink = Callable[[FileEvent], None]


@dataclass(frozen=True)
class TraceOptions:
    seccomp: bool = True  # stop only on decoded syscalls (a BPF filter), see seccomp.py
    all_opens: bool = False  # record read-only opens as well as writes
    stdout_to_stderr: bool = False  # keep rotrace's stdout for its own output (--json -)


@dataclass
class TraceResult:
    pid: int
    exit_code: int  # as a shell reports it: the exit status, or 128 + the signal
    signal: int | None
    seccomp: bool
    stops: int
    warnings: list[str] = field(default_factory=list)


class _Thread:
    __slots__ = ("pending", "tgid")

    def __init__(self, tgid: int) -> None:
        self.tgid = tgid
        self.pending: Pending | None = None


def _read_tgid(tid: int) -> int:
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return tid


class Tracer:
    def __init__(self, machine: Machine, options: TraceOptions, sink: EventSink) -> None:
        self.machine = machine
        self.options = options
        self.sink = sink
        self.decoder = Decoder(options.all_opens)
        self.info = kernel.SyscallInfo()
        self.tables: dict[int, SyscallTable] = {t.audit_arch: t for t in machine.tables()}
        self.specs: dict[int, dict[int, Spec]] = {
            t.audit_arch: {nr: SPECS[n] for nr, n in t.by_number.items() if n in SPECS}
            for t in machine.tables()
        }
        self.threads: dict[int, _Thread] = {}
        self.exe: dict[int, bytes] = {}
        self.seccomp = False
        self.root = 0
        self.started = False
        self.stops = 0
        self.warnings: list[str] = []
        self._unknown_arch_warned = False

    # -- resuming ---------------------------------------------------------------------------

    def _resume(self, tid: int, thread: _Thread | None, sig: int = 0) -> None:
        try:
            if not self.seccomp or (thread is not None and thread.pending is not None):
                kernel.resume_syscall(tid, sig)
            else:
                kernel.resume_cont(tid, sig)
        except kernel.PtraceError as exc:
            if exc.errno != errno.ESRCH:  # it died meanwhile: its exit is still to come
                raise

    # -- bookkeeping --------------------------------------------------------------------------

    def _adopt(self, tid: int, tgid: int | None = None) -> _Thread:
        thread = _Thread(tgid if tgid is not None else _read_tgid(tid))
        self.threads[tid] = thread
        if thread.tgid not in self.exe:
            self.exe[thread.tgid] = _readlink_exe(thread.tgid)
        return thread

    def _emit(self, tid: int, thread: _Thread, pending: Pending, result: int | None) -> None:
        if not pending.op:  # chdir/fchdir/chroot
            if result is not None and result >= 0:
                self.decoder.paths.forget_cwds()
            return
        exe = self.exe.get(thread.tgid, b"")
        self.sink(pending.complete(thread.tgid, tid, exe, result))

    # -- stops ----------------------------------------------------------------------------------

    def _on_entry(self, tid: int, thread: _Thread, raw: bytes) -> None:
        arch, nr, args = kernel.parse_entry(raw)
        specs = self.specs.get(arch)
        if specs is None:
            if not self._unknown_arch_warned:
                self._unknown_arch_warned = True
                self.warnings.append(f"syscalls of an unsupported ABI (audit arch {arch:#x}) not decoded")
            self._resume(tid, thread)
            return
        if self.machine.x32_bit is not None and nr & self.machine.x32_bit:
            nr &= ~self.machine.x32_bit
        spec = specs.get(nr)
        if spec is not None and self.started:
            thread.pending = self.decoder.decode(tid, thread.tgid, self.tables[arch], spec, args)
        self._resume(tid, thread)

    def _on_syscall_stop(self, tid: int, thread: _Thread) -> None:
        raw = self.info.read(tid)
        if raw[0] == kernel.SYSCALL_INFO_EXIT:
            pending = thread.pending
            thread.pending = None
            self._resume(tid, thread)
            if pending is not None:
                self._emit(tid, thread, pending, kernel.parse_exit(raw))
        elif raw[0] == kernel.SYSCALL_INFO_ENTRY:
            self._on_entry(tid, thread, raw)
        else:
            self._resume(tid, thread)

    def _on_exec(self, tid: int) -> None:
        former = kernel.get_event_msg(tid)
        if former != tid:  # a non-leader thread exec'd and took over the leader's tid
            self.threads.pop(tid, None)
            thread = self.threads.pop(former, None) or _Thread(tid)
            self.threads[tid] = thread
            self.decoder.paths.forget_thread(former)
        thread = self.threads[tid]
        thread.pending = None
        thread.tgid = tid
        self.decoder.memory.forget(tid)  # a new address space
        self.exe[tid] = _readlink_exe(tid)
        if tid == self.root:
            self.started = True
        self._resume(tid, thread)

    def _on_new_child(self, tid: int, thread: _Thread, event: int) -> None:
        child = kernel.get_event_msg(tid)
        if child not in self.threads:  # else its first stop came first and adopted it
            self._adopt(child, None if event == kernel.PTRACE_EVENT_CLONE else child)
        self._resume(tid, thread)

    def _on_exiting(self, tid: int) -> None:
        """PTRACE_EVENT_EXIT: the thread makes no more syscalls; let it go.

        Detaching here, before the thread is a zombie, lets its real parent reap it the
        moment it can see it exited. Otherwise the parent's pidfd turns readable while
        waitid still finds nothing (the tracer holds the exit status), which crashes
        tokio 1.42-1.47.0 programs, uv among them ("pidfd is ready to read").
        """
        self._on_exit(tid)
        kernel.detach(tid, 0)

    def _on_exit(self, tid: int) -> None:
        thread = self.threads.pop(tid, None)
        self.decoder.paths.forget_thread(tid)
        if thread is not None and thread.pending is not None:
            self._emit(tid, thread, thread.pending, None)
        if thread is not None and thread.tgid == tid:  # the process is gone: keep memory flat
            self.exe.pop(tid, None)
            self.decoder.memory.forget(tid)

    def abort(self) -> None:
        """Kill every tracee and reap them: never leave a process stopped behind us."""
        for tid in list(self.threads):
            with contextlib.suppress(ProcessLookupError):
                os.kill(tid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            while True:
                os.waitpid(-1, kernel.WALL)

    def loop(self, root: int) -> int:
        """Run until no tracee is left; the root's raw wait status."""
        self.root = root
        self.threads[root] = _Thread(root)
        root_status = 0
        waitpid = os.waitpid
        while True:
            try:
                tid, status = waitpid(-1, kernel.WALL)
            except ChildProcessError:
                return root_status
            self.stops += 1
            if not os.WIFSTOPPED(status):
                self._on_exit(tid)
                if tid == root:
                    root_status = status
                continue
            thread = self.threads.get(tid)
            first_stop = thread is None
            if thread is None:
                thread = self._adopt(tid)
            try:
                self._on_stop(tid, thread, status, first_stop)
            except kernel.PtraceError as exc:
                if exc.errno != errno.ESRCH:
                    raise

    def _on_stop(self, tid: int, thread: _Thread, status: int, first_stop: bool) -> None:
        sig = os.WSTOPSIG(status)
        if sig == _SYSCALL_TRAP:
            self._on_syscall_stop(tid, thread)
            return
        event = status >> 16
        if event == kernel.PTRACE_EVENT_SECCOMP:
            self._on_entry(tid, thread, self.info.read(tid, seccomp_stop=True))
        elif event == 0:
            self._resume(tid, thread, 0 if first_stop else sig)  # signal-delivery-stop
        elif event == kernel.PTRACE_EVENT_STOP:
            starting = tid == self.root and not self.started
            if sig in _STOP_SIGNALS and not first_stop and not starting:
                kernel.listen(tid)  # group-stop: stay stopped, but traced
            else:
                self._resume(tid, thread)
        elif event == kernel.PTRACE_EVENT_EXEC:
            self._on_exec(tid)
        elif event == kernel.PTRACE_EVENT_EXIT:
            self._on_exiting(tid)
        elif event in (
            kernel.PTRACE_EVENT_FORK,
            kernel.PTRACE_EVENT_VFORK,
            kernel.PTRACE_EVENT_CLONE,
        ):
            self._on_new_child(tid, thread, event)
        else:
            self._resume(tid, thread)


def _readlink_exe(pid: int) -> bytes:
    try:
        return os.readlink(f"/proc/{pid}/exe".encode())
    except OSError:
        return b""


def trace_command(
    argv: list[str],
    sink: EventSink,
    options: TraceOptions | None = None,
    env: dict[str, str] | None = None,
) -> TraceResult:
    """Run argv under the tracer, calling sink for every completed file syscall."""
    options = options or TraceOptions()
    env = dict(os.environ if env is None else env)
    try:
        machine = current_machine()
    except UnsupportedMachine as exc:
        raise TraceFailed(str(exc)) from None
    path = find_executable(argv[0], env)
    program = seccomp.encode(seccomp.build_filter(machine, options.all_opens)) if options.seccomp else None
    keep_ignored = {int(s) for s in _FORWARDED if signal.getsignal(s) == signal.SIG_IGN}
    tracer = Tracer(machine, options, sink)
    child = spawn(path, argv, env, program, keep_ignored, options.stdout_to_stderr)
    tracer.seccomp = child.seccomp
    if options.seccomp and not child.seccomp:
        tracer.warnings.append(
            f"seccomp filter refused ({errno.errorcode.get(child.seccomp_error, child.seccomp_error)}):"
            " stopping on every syscall, which is slower"
        )
    previous = _forward_signals(child.pid, keep_ignored)
    try:
        status = tracer.loop(child.pid)
    except kernel.PtraceError as exc:
        tracer.abort()
        if exc.errno in (errno.EIO, errno.EINVAL):
            raise TraceFailed(
                "this kernel lacks PTRACE_GET_SYSCALL_INFO (rotrace needs Linux >= 5.3 off x86_64)"
            ) from None
        raise TraceFailed(f"tracing failed: {exc}") from None
    except BaseException:
        tracer.abort()
        raise
    finally:
        tracer.decoder.memory.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    exec_errno = child.exec_error()
    if exec_errno is not None and not tracer.started:
        reason = os.strerror(exec_errno)
        if exec_errno == errno.ENOENT:
            raise CommandNotFound(f"command not found: {argv[0]} ({reason})")
        raise CommandNotExecutable(f"command is not executable: {argv[0]} ({reason})")
    killed_by = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    code = 128 + killed_by if killed_by is not None else os.WEXITSTATUS(status)
    return TraceResult(child.pid, code, killed_by, child.seccomp, tracer.stops, tracer.warnings)


_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def _forward_signals(pid: int, keep_ignored: set[int]) -> dict[int, _Handler]:
    """Pass SIGTERM/SIGHUP (and SIGINT/SIGQUIT when not from our terminal) on to the command.

    A terminal's ^C already reaches the command, in the same foreground process group; sent
    twice it would interrupt the command's own handler.
    """
    tty_group = os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    previous: dict[int, _Handler] = {}

    def forward(signum: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    for sig in _FORWARDED:
        if sig in keep_ignored:
            continue
        if tty_group and sig in (signal.SIGINT, signal.SIGQUIT):
            previous[sig] = signal.signal(sig, signal.SIG_IGN)
        else:
            previous[sig] = signal.signal(sig, forward)
    return previous
