"""The two processes of `rotrace run`: the tracer (this process) hands the request and every
event through a pipe to a report process, which does all that follows the trace: the
classification, the JSON trace, the report, the exports (runner.conclude_run).

The traced command waits only for the tracer. In two processes the report side's imports
(rich, the policy), its live status and its spooling run on the other core, beside the
command line's parsing and the trace instead of after them, and the tracer imports only what
tracing needs. The entry point forks the report process first thing (`fork_early`), before
click is imported, which is why this module imports nothing at the top but what Python has
loaded already; `take` gives audit.py that process, or forks one then. The report process's
exit status is rotrace's (written back through a pipe: it is no child of this process).
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from rotrace.channel import Frames
    from rotrace.events import FileEvent, ProcessInfo

BATCH = 1024  # events per frame
# Seconds: a frame at least this often. The report process classifies the events as they come,
# so that little is left to do once the command is over (and the live status moves).
_SEND_EVERY = 0.02


class Handoff:
    """The tracer's end: forks the report process, then sends it frames: ("start", ...)
    first, ("events", ...) batches (each after the ("processes", ...) started since the last
    batch, if any: the report process classifies as they come), and the result last."""

    def __init__(self) -> None:
        flush_std()  # nothing buffered may be written twice
        read_fd, self._fd = os.pipe()
        self._status, status_fd = os.pipe()
        middle = os.fork()
        if middle == 0:
            # Forked twice, so that the report process is no child of the tracer's, whose loop
            # waits for any child (the tracees) until none is left.
            try:
                if os.fork() == 0:
                    os.close(self._fd)
                    os.close(self._status)
                    status = _report_process(read_fd)
                    os.write(status_fd, bytes([status & 0xFF]))
            finally:
                os._exit(0)
        os.waitpid(middle, 0)
        os.close(read_fd)
        os.close(status_fd)
        self._batch: list[tuple[object, ...]] = []
        self._processes: list[tuple[object, ...]] = []
        self._sent = time.monotonic()
        self._lost = False
        self._open = True

    def start(self, payload: tuple[Any, ...]) -> None:
        """What the report process needs before the events (marshal-able values)."""
        self._send(("start", payload))

    def add(self, event: FileEvent) -> None:
        """The tracer's sink (called with the traced command running again)."""
        batch = self._batch
        batch.append(event.astuple())
        if len(batch) >= BATCH or time.monotonic() - self._sent > _SEND_EVERY:
            self._send_batch()

    def add_process(self, info: ProcessInfo) -> None:
        """The tracer's process sink: a program the command started (sent with the next batch)."""
        self._processes.append(info.astuple())

    def _send_batch(self) -> None:
        if self._processes:
            self._send(("processes", self._processes))
            self._processes = []
        if self._batch:
            self._send(("events", self._batch))
            self._batch = []

    def _send(self, frame: tuple[Any, ...]) -> None:
        from rotrace.channel import write_frame

        self._sent = time.monotonic()
        if self._lost:
            return
        try:
            write_frame(self._fd, frame)
        except BrokenPipeError:  # the report process is gone: the end of the run says so
            self._lost = True

    def finish(self, frame: tuple[Any, ...]) -> int:
        """The last frame (the trace's result); then wait for the report: rotrace's exit status."""
        self._send_batch()
        self._send(frame)
        self._close()
        return self._wait()

    def abort(self) -> None:
        """The run failed here: the report process ends without a word (this one says why)."""
        self._close()
        os.close(self._status)

    def _close(self) -> None:
        if self._open:
            self._open = False
            os.close(self._fd)

    def _wait(self) -> int:
        """The report process's exit status, which it writes once its output is flushed."""
        import signal

        from rotrace.errors import ReportProcessFailed

        # Ctrl-C now reaches the report process (the whole foreground group gets it), which
        # stops with "aborted": this one waits for that instead of dying first.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            with os.fdopen(self._status, "rb") as f:
                status = f.read()
        finally:
            signal.signal(signal.SIGINT, previous)
        if not status:
            raise ReportProcessFailed("the report process ended without a report (killed?)")
        return status[0]


class InlineHandoff:
    """The same hand-over without a second process, for rotrace running as PID 1 (a
    container's entry point): PID 1 adopts every orphan, the report process too, and the
    tracer's loop waits for every child until none is left. The events go to a spool here, and
    the report runs in this process once the trace is over."""

    def __init__(self) -> None:
        from rotrace.spool import Spool

        self._start: tuple[Any, ...] | None = None
        self._events = Spool()

    def start(self, payload: tuple[Any, ...]) -> None:
        self._start = payload

    def add(self, event: FileEvent) -> None:
        self._events.add(event)

    def add_process(self, info: ProcessInfo) -> None:
        """The processes come with the result (the report runs after the trace here)."""

    def finish(self, frame: tuple[Any, ...]) -> int:
        from rotrace.runner import conclude_run

        return conclude_run(self._frames(frame))

    def _frames(self, last: tuple[Any, ...]) -> Frames:
        yield ("start", self._start)
        batch: list[tuple[object, ...]] = []
        for record in self._events.records():
            batch.append(record)
            if len(batch) >= BATCH:
                yield ("events", batch)
                batch = []
        yield ("events", batch)
        self._events.close()
        yield last

    def abort(self) -> None:
        self._events.close()


def flush_std() -> None:
    """Flush stdout and stderr, whatever became of them."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


_early: Handoff | None = None


def fork_early() -> None:
    """Fork the report process now (the entry point, for `rotrace run`)."""
    global _early
    if os.getpid() != 1:
        _early = Handoff()


def take() -> Handoff | InlineHandoff:
    """The report process forked early, else a new one (none for PID 1)."""
    global _early
    handoff, _early = _early, None
    if handoff is not None:
        return handoff
    return Handoff() if os.getpid() != 1 else InlineHandoff()


def _report_process(fd: int) -> int:
    """The forked side: the report, its errors turned into one line and an exit status."""
    import signal

    from rotrace.tracer.linux_hardening import undumpable

    undumpable()  # the pipe and the spool out of the command's reach (linux_hardening)

    # The tracer answers these for the run (it relays them to the command, whose end ends the
    # trace with a partial report): this process ignores them until the trace is over.
    relayed = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
    for sig in relayed:
        signal.signal(sig, signal.SIG_IGN)

    from rotrace.channel import read_frames
    from rotrace.errors import EXIT_INTERNAL, failure

    def frames() -> Frames:
        yield from read_frames(fd)
        for sig in relayed:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    try:
        from rotrace.runner import conclude_run  # imported here: beside the tracer's work

        status = conclude_run(frames())
    except BaseException as exc:
        line, status = failure(exc)
        if line:
            print(line, file=sys.stderr)
        if status == EXIT_INTERNAL and os.environ.get("ROTRACE_DEBUG"):
            import traceback

            traceback.print_exc()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        status = status or 141
    except (OSError, ValueError):
        pass
    return status
