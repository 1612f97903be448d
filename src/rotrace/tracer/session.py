"""Tracing a command: start it, run the loop (relaying the signals rotrace receives), and turn
the outcome into a result or a clear error."""

from __future__ import annotations

import errno
import os
import signal

from rotrace.errors import CommandNotExecutable, CommandNotFound, TraceFailed
from rotrace.tracer import kernel, seccomp
from rotrace.tracer.arch import UnsupportedMachine, current_machine
from rotrace.tracer.loop import EventSink, TraceOptions, Tracer, TraceResult
from rotrace.tracer.signals import RELAYED, SignalRelay
from rotrace.tracer.spawn import find_executable, spawn


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
    keep_ignored = {int(s) for s in RELAYED if signal.getsignal(s) == signal.SIG_IGN}
    tracer = Tracer(machine, options, sink)
    child = spawn(path, argv, env, program, keep_ignored, options.stdout_to_stderr)
    tracer.seccomp = child.seccomp
    if options.seccomp and not child.seccomp:
        tracer.warnings.append(
            f"seccomp filter refused ({errno.errorcode.get(child.seccomp_error, child.seccomp_error)}):"
            " stopping on every syscall, which is slower"
        )
    relay = SignalRelay(tracer.processes_alive, keep_ignored)
    try:
        with relay:
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
    if relay.warning:
        tracer.warnings.append(relay.warning)
    exec_errno = child.exec_error()
    if exec_errno is not None and not tracer.started:
        reason = os.strerror(exec_errno)
        if exec_errno == errno.ENOENT:
            raise CommandNotFound(f"command not found: {argv[0]} ({reason})")
        raise CommandNotExecutable(f"command is not executable: {argv[0]} ({reason})")
    killed_by = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    code = 128 + killed_by if killed_by is not None else os.WEXITSTATUS(status)
    return TraceResult(
        child.pid,
        code,
        killed_by,
        child.seccomp,
        tracer.stops,
        tracer.warnings,
        tracer.processes,
        tracer.directories.states,
    )
