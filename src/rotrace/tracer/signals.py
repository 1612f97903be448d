"""What rotrace does with the signals it receives while it traces: what a container runtime's init
does for a container's processes.

- A terminal's ^C (or ^\\) reaches the terminal's foreground process group, the command in it,
  as the terminal sends it; rotrace does not send it again (that would interrupt the command's
  own handler).
- Any other SIGINT, SIGTERM, SIGHUP or SIGQUIT sent to rotrace (kill, a CI job cancelled, a
  runtime stopping rotrace as a container's PID 1) goes to the command's top process, which
  stops the rest itself (a server's master its workers). When the top process had already
  exited (rotrace was following what it left running), it goes to every traced process.
- Once signalled, the run ends like a container's: when the top process exits, whatever it left
  behind is killed at once (as the kernel does when a container's PID 1 exits); whatever is
  still running at the end of the grace period is killed; a second signal kills everything now.
  rotrace then returns with what it recorded, and the trace's warnings say how the run ended.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from types import FrameType
from typing import Any

from rotrace.errors import Stopped

RELAYED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)
_FROM_TERMINAL = (signal.SIGINT, signal.SIGQUIT)
# Seconds a signalled command has to stop before rotrace kills it: below Docker's and podman's
# 10 s stop timeout, so that the trace is written before the runtime's SIGKILL.
DEFAULT_GRACE = 8.0
# A longer grace period (`--grace inf`) has no end: setitimer cannot hold it (OverflowError).
_TIMER_MAX = 10.0**9

_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

# Signals rotrace answers for its whole run (SIGUSR1: a checkpoint) that it found ignored: the
# command inherits them ignored, as it would without rotrace.
_IGNORED_BEFORE: set[int] = set()
# Signals received before the command was there to get them (`hold`), for the relay to answer
_HELD: list[int] = []


def hold() -> None:
    """From now until a relay is entered, each signal it would relay is kept, and answered then:
    the read-only sandbox's tracer, its pid namespace's PID 1, which the kernel spares every
    signal it has no handler for, had a SIGTERM that rotrace passed on while it started lost,
    and the command ran on (`sleep 97`: a stopped run that ended 97 s later)."""
    for sig in RELAYED:
        if signal.getsignal(sig) != signal.SIG_IGN:
            signal.signal(sig, lambda signum, _frame: _HELD.append(signum))


def held() -> int | None:
    """The first signal that came since `hold` (the read-only sandbox's setup may end there)."""
    return _HELD[0] if _HELD else None


def answer(signum: int, handler: Callable[[int, FrameType | None], Any]) -> None:
    """Handle signum in rotrace, remembering whether it was ignored (ignored_at_start)."""
    if signal.signal(signum, handler) == signal.SIG_IGN:
        _IGNORED_BEFORE.add(signum)


def ignored_at_start() -> set[int]:
    """The signals the command must inherit ignored: those rotrace found ignored."""
    return {int(s) for s in RELAYED if signal.getsignal(s) == signal.SIG_IGN} | _IGNORED_BEFORE


_DEFERRED: list[int] = []  # stopping's signals that came after `defer_stops`, for `stop_if_asked`
_deferring = False


@contextlib.contextmanager
def stopping() -> Iterator[None]:
    """While a run is being set up (a sandbox's copies made, bwrap started), a SIGTERM or SIGHUP
    raises Stopped, as ^C raises KeyboardInterrupt: what was made is undone on the way out,
    where the signal's default action would end rotrace at once and leave it behind. A relay
    entered within takes the signals over while it traces."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        if _deferring:
            _DEFERRED.append(signum)
        else:
            raise Stopped(signum)

    try:
        with ending_with(stop):
            yield
    finally:
        global _deferring
        _deferring = False  # a clean-up's (`defer_stops`) end: the run is over, or stopped already
        _DEFERRED.clear()


@contextlib.contextmanager
def ending_with(handler: Callable[[int, FrameType | None], Any]) -> Iterator[None]:
    """`handler` answers SIGTERM and SIGHUP (the signals that end a process, but ^C's) while
    entered; what answered them before does again after."""
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)


def defer_stops() -> None:
    """Within `stopping`, until `stop_if_asked` or its end: a step that must not be cut in two (a
    process started, not yet known by its pid: Popen raising after the fork leaves it running,
    unknown), or the clean-up after the command ran (or after a first stop: a second one would
    leave the copies half removed)."""
    global _deferring
    _deferring = True


def stop_if_asked() -> None:
    """Stopped, if a signal came since `defer_stops`; stopping's signals raise again at once."""
    global _deferring
    _deferring = False
    if _DEFERRED:
        raise Stopped(_DEFERRED.pop(0))


def _foreground_group() -> int | None:
    try:
        return os.tcgetpgrp(0) if os.isatty(0) else None
    except OSError:
        return None


def _name(signum: int) -> str:
    return signal.Signals(signum).name


class SignalRelay:
    """The signal handling of one trace, while it is entered.

    `processes` gives the traced processes now (thread-group ids, not pids stored at the start,
    which may have exited and been reused); `root` the command's top process while it lives.
    With `escalate` False every signal is passed on to `processes`, nothing more: the tracer
    inside the read-only sandbox applies the rules itself.
    """

    def __init__(
        self,
        processes: Callable[[], Iterable[int]],
        keep_ignored: set[int],
        escalate: bool = True,
        root: Callable[[], int | None] = lambda: None,
        grace: float = DEFAULT_GRACE,
        end_with_root: bool = False,
    ) -> None:
        self._processes = processes
        self._root = root
        self._keep_ignored = keep_ignored
        self._escalate = escalate
        self._grace = grace
        self._end_with_root = end_with_root  # as a container's PID 1: the top process's end is the run's
        self._previous: dict[int, _Handler] = {}
        self.received = 0
        self.stopped_by: int | None = None  # the first signal that asked the run to stop
        self.ending: str | None = None  # how rotrace ended the run, once it killed processes
        self._unsent: list[int] = []  # passed on (escalate False) before there was a process to get them

    def __enter__(self) -> SignalRelay:
        for sig in RELAYED:
            if sig not in self._keep_ignored:
                self._previous[sig] = signal.signal(sig, self._handle)
        if self._escalate:
            self._previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._grace_over)
        while _HELD:  # received before the command was there (`hold`): answered now it is
            self._handle(_HELD.pop(0), None)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._escalate:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received += 1
        if not self._escalate:
            pids = list(self._processes())
            if pids:
                self._send(signum, pids)
            else:
                self._unsent.append(signum)
            return
        if self.received > 1:
            twice = f"rotrace was signalled twice ({_name(signum)}): it killed the traced processes"
            self._kill_all(twice, True)
            return
        self.stopped_by = signum
        root = self._root()
        self._send(signum, [root] if root is not None else list(self._processes()))
        if not self._grace > 0:  # nan too: no time given
            self._grace_over(signal.SIGALRM, None)
        elif self._grace < _TIMER_MAX:
            signal.setitimer(signal.ITIMER_REAL, self._grace)
        # else (inf): no end but the command's own, or a second signal

    def flush(self) -> None:
        """Pass on the signals received while there was no process to pass them on to."""
        while self._unsent:
            self._send(self._unsent.pop(0), list(self._processes()))

    def _send(self, signum: int, pids: list[int]) -> None:
        foreground = _foreground_group() if signum in _FROM_TERMINAL else None
        for pid in pids:
            with contextlib.suppress(OSError):
                if foreground is not None and os.getpgid(pid) == foreground:
                    continue  # the terminal sent it already
                os.kill(pid, signum)

    def _grace_over(self, _signum: int, _frame: FrameType | None) -> None:
        if self.stopped_by is not None and self.ending is None:
            self._kill_all(
                f"the command was still running {self._grace:g} s after {_name(self.stopped_by)} (the grace"
                " period, --grace): rotrace killed the traced processes",
                True,
            )

    def root_exited(self) -> None:
        """The top process is gone: after a signal, or when rotrace is a container's PID 1 (as the
        kernel ends a container whose PID 1 exits), what it left behind is killed at once."""
        if (self.stopped_by is None and not self._end_with_root) or self.ending is not None:
            return
        left = list(self._processes())
        if not left:
            return
        n = f"{len(left)} process{'es' if len(left) > 1 else ''}"
        if self.stopped_by is not None:
            why = f"the command's top process exited after {_name(self.stopped_by)}: rotrace killed the {n}"
            self._kill_all(f"{why} it left behind, as a container runtime does", False)
        else:
            why = f"the command's top process exited: rotrace, the container's PID 1, killed the {n}"
            self._kill_all(f"{why} it left behind, as the kernel does when a container's PID 1 exits", False)

    def _kill_all(self, why: str, partial: bool) -> None:
        if self.ending is None:
            self.ending = f"{why}, so this trace is partial" if partial else why
        for pid in list(self._processes()):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    @property
    def warnings(self) -> list[str]:
        """What the trace says of how the run ended, when a signal (or, as PID 1, the top
        process's exit) ended it."""
        if self.stopped_by is None:
            return [self.ending] if self.ending is not None else []
        said = [f"rotrace received {_name(self.stopped_by)}: the run was stopped"]
        if self.ending is not None:
            said.append(self.ending)
        return said
