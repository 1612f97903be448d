"""`rotrace run` assembled: the report process forked (as early as the entry point can), the
tracer's side run in this process, the report side in the other (run/handoff.py carries the
messages between them)."""

from __future__ import annotations

import os
from collections.abc import Iterator

from rotrace.run.handoff import Handoff

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rotrace.run.request import RunRequest
    from rotrace.tracer.channel import Message


def _report(messages: Iterator[Message]) -> int:
    """The report process's work, imported there: beside the tracer's, not before it (with the
    collector off, as the entry point left it; on again for the run's events, over them alone:
    what was loaded is frozen, never looked at again)."""
    import gc

    from rotrace.run.report_side import conclude

    gc.freeze()
    gc.enable()
    return conclude(messages)


_early: Handoff | None = None


def fork_early() -> None:
    """Fork the report process now (the entry point, for `rotrace run`, before click loads);
    as PID 1, an init first (run/init.py), which stays PID 1 while rotrace runs in its child."""
    global _early
    if os.getpid() == 1:
        from rotrace.run.init import become_init

        become_init()
    # What both processes need (the messages, the request, its allowlist), loaded once before
    # the fork rather than once in each after it: on a busy machine the two share the cores.
    import rotrace.run.request  # noqa: F401

    _early = _answering(Handoff(_report))


def _take() -> Handoff:
    """The report process forked early, else a new one."""
    global _early
    handoff, _early = _early, None
    return handoff if handoff is not None else _answering(Handoff(_report))


def _answering(handoff: Handoff) -> Handoff:
    """SIGUSR1 to rotrace asks the report process for a checkpoint, from now until rotrace
    exits (its default would kill the tracer, and the command with it)."""
    import signal

    from rotrace.tracer.signals import answer

    answer(signal.SIGUSR1, lambda _signum, _frame: handoff.checkpoint())
    return handoff


def run(request: RunRequest) -> int:
    """Trace the command in this process, report in the other: rotrace's exit status."""
    from rotrace.run import init
    from rotrace.run.tracer_side import trace_and_hand_over

    if init.under_init:  # the container's PID 1: the run ends with the command's top process
        from dataclasses import replace

        request = replace(request, options=replace(request.options, container_init=True))
    return trace_and_hand_over(request, _take())
