"""`rotrace run` assembled: the report process forked (as early as the entry point can), the
tracer's side run in this process, the report side in the other (run/handoff.py carries the
messages between them)."""

from __future__ import annotations

import os
from collections.abc import Iterator

from rotrace.run.handoff import Handoff, InlineHandoff

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rotrace.run.request import RunRequest
    from rotrace.tracer.channel import Message


def _report(messages: Iterator[Message]) -> int:
    """The report process's work, imported there: beside the tracer's, not before it."""
    from rotrace.run.report_side import conclude

    return conclude(messages)


_early: Handoff | None = None


def fork_early() -> None:
    """Fork the report process now (the entry point, for `rotrace run`, before click loads)."""
    global _early
    if os.getpid() != 1:
        _early = Handoff(_report)


def _take() -> Handoff | InlineHandoff:
    """The report process forked early, else a new one (none for PID 1: it would adopt it)."""
    global _early
    handoff, _early = _early, None
    if handoff is not None:
        return handoff
    return Handoff(_report) if os.getpid() != 1 else InlineHandoff(_report)


def run(request: RunRequest) -> int:
    """Trace the command in this process, report in the other: rotrace's exit status."""
    from rotrace.run.tracer_side import trace_and_hand_over

    return trace_and_hand_over(request, _take())
