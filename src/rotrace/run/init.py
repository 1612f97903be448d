"""rotrace as PID 1 (a container's entry point, `unshare --fork --pid`): what an init does.

PID 1 adopts every orphan of its pid namespace, and the kernel delivers it only the signals it
handles. The tracer cannot be that process: its loop waits for every child until none is left,
and the report process would be one. So PID 1 forks first thing: the child runs `rotrace run` as
anywhere else (the tracer, the report process, the checkpoints), and PID 1 stays a small init,
as tini or catatonit are: it reaps every orphan as it exits (nothing left a zombie), passes
SIGTERM, SIGINT, SIGHUP, SIGQUIT and SIGUSR1 sent to it on to rotrace (which passes them on to
the command: tracer/signals.py), and exits with rotrace's status once rotrace has exited. A
terminal's ^C reached the foreground group already, rotrace and the command in it: PID 1 does
not send it again. Other signals are dropped, as the kernel drops them for a PID 1 that does
not handle them.
"""

from __future__ import annotations

import contextlib
import os
import signal

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1)
_SI_KERNEL = 0x80  # si_code of a signal the kernel sent: a terminal's ^C, not a kill()


# Set in rotrace's process under this init: the run ends with the command's top process, as the
# container would end with it (TraceOptions.container_init).
under_init = False


def become_init() -> None:
    """In PID 1: fork; return in the child (which runs rotrace), never in PID 1 (the init)."""
    global under_init
    waited = {signal.SIGCHLD, *FORWARDED}
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)  # none lost between the fork and the wait
    child = os.fork()
    if child == 0:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, waited)
        under_init = True
        return
    os._exit(_serve(child, waited))


def _serve(child: int, waited: set[signal.Signals]) -> int:
    """Reap and pass signals on until rotrace (child) exits: its exit status."""
    while True:
        info = signal.sigwaitinfo(waited)
        if info.si_signo == signal.SIGCHLD:
            status = _reap(child)
            if status is not None:
                return status
        elif info.si_code != _SI_KERNEL:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, info.si_signo)


def _reap(child: int) -> int | None:
    """Every child that has exited (orphans adopted, rotrace's report process), reaped; rotrace's
    exit status once it is one of them."""
    status = None
    while True:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == child:
            status = os.waitstatus_to_exitcode(wait_status)
            status = 128 - status if status < 0 else status  # killed by signal N: 128 + N
