"""The two processes of `rotrace run`, as a transport: the tracer (this process) hands the start,
every program and event, and the result through a pipe to a report process, which runs the
function it is given (run/report_side.py's, through run/launch.py) on those messages.

The traced command waits only for the tracer. In two processes the report side's imports
(rich, the policy), its live status and its spooling run on the other core, beside the command
line's parsing and the trace instead of after them, and the tracer imports only what tracing
needs. The entry point forks the report process first thing (run/launch.fork_early), before
click is imported, which is why this module imports nothing at the top but what Python has
loaded already. The report process's exit status is rotrace's (written back through a pipe: it
is no child of this process).

This module knows the messages (tracer/channel.py), never what the report does with them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rotrace.tracer.channel import Message, Result, Start

# The report side: the messages in order (its inbox) -> rotrace's exit status.
Report = Callable[["Inbox"], int]


class Handoff:
    """The tracer's end: forks the report process, then sends it the Start message first, the
    programs and events in batches (the report process classifies as they come), and the
    Result last."""

    def __init__(self, report: Report, asks: bool = False) -> None:
        """With `asks`, the report process parses the command line and sends the request back
        (`Inbox.ask`, `asked` here) before the messages begin."""
        from rotrace.tracer.channel import Batcher, pipe
        from rotrace.tracer.linux import hardening  # noqa: F401 - both processes' (ctypes): loaded once

        flush_std()  # nothing buffered may be written twice
        read_fd, self._fd = pipe()
        self._status, status_fd = os.pipe()
        self._asked, ask_fd = os.pipe() if asks else (-1, -1)
        tracer = os.pidfd_open(os.getpid())  # the report process's way to ask it for checkpoints
        middle = os.fork()
        if middle == 0:
            # Forked twice, so that the report process is no child of the tracer's, whose loop
            # waits for any child (the tracees) until none is left.
            try:
                reporter = os.fork()
                if reporter == 0:
                    for fd in (self._fd, self._status, self._asked):
                        if fd >= 0:
                            os.close(fd)
                    status = _report_process(report, Inbox(read_fd, tracer, ask_fd))
                    os.write(status_fd, bytes([status & 0xFF]))
                else:
                    os.write(status_fd, reporter.to_bytes(4, "little"))
            finally:
                os._exit(0)
        os.waitpid(middle, 0)
        os.close(tracer)
        os.close(read_fd)
        os.close(status_fd)
        if ask_fd >= 0:
            os.close(ask_fd)
        # The report process's pid comes first on the status pipe: rotrace returns only once
        # that process has exited (a pidfd, since it is no child of this one).
        pid = int.from_bytes(os.read(self._status, 4), "little")
        self.reporter_pid = pid  # 0: not known
        self._reporter = os.pidfd_open(pid) if pid else None
        self._batcher = Batcher(self._send)
        self.add = self._batcher.add
        self.add_process = self._batcher.add_process
        self._lost = False
        self._open = True
        self._started = False

    def asked(self) -> bytes:
        """What the report process parsed (Handoff(asks=True)): the request, or b"" when the
        command line asked for no trace (`--help`, a usage error: the report process said so,
        and its exit status is rotrace's, `status()`)."""
        chunks = []
        try:
            while chunk := os.read(self._asked, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(self._asked)
            self._asked = -1
        return b"".join(chunks)

    def status(self) -> int:
        """No trace was asked: the report process's exit status, once it has exited."""
        self._close()
        return self._wait()

    def start(self, message: Start) -> None:
        """What the report process needs before the events."""
        self._batcher.send(message)
        self._started = True

    def _send(self, message: Message) -> None:
        from rotrace.tracer.channel import send

        if self._lost or not self._open:
            return
        try:
            send(self._fd, message)
        except BrokenPipeError:  # the report process is gone: the end of the run says so
            self._lost = True

    def finish(self, result: Result) -> int:
        """The last message (the trace's result); then wait for the report: rotrace's exit status."""
        self._batcher.send(result)
        self._close()
        return self._wait()

    def checkpoint(self) -> None:
        """SIGUSR1 (from a person, or from the report process's clock, `run --checkpoint`): every
        event so far, then a Checkpoint message, on which the report process writes the trace.
        Before the run's start there is nothing to write: none is sent (the report process,
        which may still be parsing the command line, takes the Start message first)."""
        if self._started:
            self._batcher.checkpoint()

    def abandon(self) -> None:
        """This process stops before the report process handed the request over (^C, an error):
        the report process goes too, whatever it is doing (stopped by a SIGSTOP included),
        rather than be left behind."""
        import signal

        if self._reporter is not None:
            try:  # noqa: SIM105 - contextlib is not loaded here (see the module's docstring)
                signal.pidfd_send_signal(self._reporter, signal.SIGKILL)
            except OSError:
                pass

    def abort(self) -> None:
        """The run failed here: the report process ends without a word (this one says why)."""
        self._close()
        os.close(self._status)
        if self._reporter is not None:
            os.close(self._reporter)

    def _close(self) -> None:
        if self._open:
            self._open = False
            os.close(self._fd)

    def _wait(self) -> int:
        """The report process's exit status, which it writes once its output is flushed."""
        import signal

        from rotrace.errors import ReportProcessFailed

        # Ctrl-C now reaches the report process (the whole foreground group gets it), which
        # stops with "aborted": this one waits for that instead of dying first. SIGTERM or
        # SIGHUP ends this one as they would, the report process let go on first: stopped
        # (SIGSTOP, a debugger), it would be left so for ever, holding the output.
        reporter = self._reporter

        def let_go(signum: int, _frame: object) -> None:
            if reporter is not None:
                try:  # noqa: SIM105 - contextlib is not loaded here (see the module's docstring)
                    signal.pidfd_send_signal(reporter, signal.SIGCONT)
                except OSError:
                    pass
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

        previous = {sig: signal.signal(sig, let_go) for sig in (signal.SIGTERM, signal.SIGHUP)}
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            with os.fdopen(self._status, "rb") as f:
                status = f.read()
            if reporter is not None:
                import select

                select.select([reporter], [], [])  # readable once the process has exited
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if reporter is not None:
            os.close(reporter)
        if not status:
            raise ReportProcessFailed("the report process ended without a report (killed?)")
        return status[0]


def flush_std() -> None:
    """Flush stdout and stderr, whatever became of them."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


class Inbox:
    """The report process's messages, as the tracer sends them. With `run --checkpoint` (the
    Start message's `every`) it is the run's clock: every `every` seconds it asks the tracer
    for a checkpoint (SIGUSR1, as a person would), and the select on the pipe has a timeout,
    so that a server that writes nothing still gets its checkpoints."""

    def __init__(self, fd: int, tracer: int, ask: int = -1) -> None:
        self._fd = fd
        self._tracer = tracer  # a pidfd
        self._ask = ask  # the pipe the request goes back on, when this process parses it
        self._ticks: list[list[Any]] = []  # [seconds, when next, action]: `every`'s
        self._messages = self._read()

    def every(self, seconds: float, action: Callable[[], None]) -> None:
        """Run `action` every `seconds` while the messages are awaited (the live status line),
        in this thread: the report process has no other while the command runs, since a
        thread's id reaches the process where rotrace's own pids are refused to the confined
        command (prlimit64 takes either, and sets the whole process's limits)."""
        import time

        self._ticks.append([seconds, time.monotonic() + seconds, action])

    def ask(self, request: bytes) -> None:
        """Hand the tracer the request this process parsed (once). A tracer gone already (^C
        while the command line was parsed) gets none: the messages then end at once."""
        view = memoryview(request)
        try:
            while view:
                view = view[os.write(self._ask, view) :]
        except BrokenPipeError:
            pass
        finally:
            os.close(self._ask)
            self._ask = -1

    def __iter__(self) -> Iterator[Message]:
        return self

    def __next__(self) -> Message:
        return next(self._messages)

    def _read(self) -> Iterator[Message]:
        import select
        import signal
        import time

        from rotrace.tracer.channel import Start, split

        buffer = bytearray()
        every: float | None = None
        due = 0.0
        while True:
            for message in split(buffer):
                yield message
                if isinstance(message, Start) and message.every is not None:
                    every = message.every
                    due = time.monotonic() + every
            deadlines = [tick[1] for tick in self._ticks] + ([due] if every is not None else [])
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            if select.select([self._fd], [], [], timeout)[0]:
                chunk = os.read(self._fd, 1 << 18)
                if not chunk:  # the tracer closed its end: a truncated last frame is dropped
                    break
                buffer += chunk
            now = time.monotonic()
            for tick in self._ticks:
                if now >= tick[1]:
                    tick[1] = now + tick[0]
                    tick[2]()
            if every is not None and time.monotonic() >= due:
                due = time.monotonic() + every
                try:  # noqa: SIM105 - contextlib is not loaded here (see the module's docstring)
                    signal.pidfd_send_signal(self._tracer, signal.SIGUSR1)
                except OSError:
                    pass
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the trace is over: ^C aborts


def _report_process(report: Report, inbox: Inbox) -> int:
    """The forked side: the report, its errors turned into one line and an exit status."""
    import signal

    from rotrace.tracer.linux.hardening import undumpable

    undumpable()  # the pipe and the spool out of the command's reach (tracer/linux/hardening.py)

    # The tracer answers these for the run (it passes them to the command, whose end ends the
    # trace; SIGUSR1 asks it for a checkpoint): this process ignores them, so that a signal sent
    # to both of rotrace's processes never cuts the report or the JSON trace short. Only a ^C
    # once the trace is over aborts it.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_IGN)

    from rotrace.errors import EXIT_INTERNAL, failure, say

    try:
        status = report(inbox)
    except BaseException as exc:
        line, status = failure(exc)
        if line:
            say(line)
        if status == EXIT_INTERNAL and os.environ.get("ROTRACE_DEBUG"):
            import traceback

            traceback.print_exc()
    try:
        for stream in (sys.stdout, sys.stderr):  # None where the fd was closed when rotrace started
            if stream is not None:
                stream.flush()
    except BrokenPipeError:
        status = status or 141
    except (OSError, ValueError):
        pass
    return status
