"""What rotrace does with the signals it receives while it traces.

The first SIGINT, SIGTERM, SIGHUP or SIGQUIT goes to every traced process (not to a pid
stored at the start, which may have exited and been reused), so a daemon the command left
running hears it too. The second kills the traced tree: rotrace then returns with what it
recorded so far (a partial report, said so in the trace's warnings).

A terminal's ^C (or ^\\) already reached the processes in the terminal's foreground process
group; they are not sent it twice, which would interrupt their own handler.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

RELAYED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)
_FROM_TERMINAL = (signal.SIGINT, signal.SIGQUIT)

_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def _foreground_group() -> int | None:
    try:
        return os.tcgetpgrp(0) if os.isatty(0) else None
    except OSError:
        return None


class SignalRelay:
    def __init__(
        self, processes: Callable[[], Iterable[int]], keep_ignored: set[int], escalate: bool = True
    ) -> None:
        self._processes = processes  # the traced processes now (tgids)
        self._keep_ignored = keep_ignored
        self._escalate = escalate  # False: pass every signal on (to a tracer that escalates itself)
        self._previous: dict[int, _Handler] = {}
        self.received = 0
        self.killed = False

    def __enter__(self) -> SignalRelay:
        for sig in RELAYED:
            if sig not in self._keep_ignored:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received += 1
        if self.received > 1 and self._escalate:
            self.kill_all()
            return
        foreground = _foreground_group() if signum in _FROM_TERMINAL else None
        for pid in list(self._processes()):
            with contextlib.suppress(OSError):
                if foreground is not None and os.getpgid(pid) == foreground:
                    continue  # the terminal sent it already
                os.kill(pid, signum)

    def kill_all(self) -> None:
        self.killed = True
        for pid in list(self._processes()):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    @property
    def warning(self) -> str | None:
        if not self.killed:
            return None
        return "rotrace was signalled twice: it killed the traced processes, so this trace is partial"
