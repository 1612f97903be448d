"""`rotrace run` assembled: the report process forked (as early as the entry point can), the
tracer's side run in this process, the report side in the other (run/handoff.py carries the
messages between them).

From the entry point the report process also parses the command line: click, the allowlist and
the policy load there, on the other core, while this process loads the tracer; the request
comes back through the handoff and the command starts once both are done. Called in-process
(`cli.main(["run", ...])`), the run parses here and forks its report process then."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

from rotrace.run.handoff import Handoff, Inbox

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rotrace.run.request import RunRequest


def _report(messages: Inbox) -> int:
    """The report process's work, imported there: beside the tracer's, not before it (with the
    collector off, as the entry point left it; on again for the run's events, over them alone:
    what was loaded is frozen, never looked at again)."""
    import gc

    from rotrace.run.report_side import conclude

    gc.freeze()
    gc.enable()
    return conclude(messages)


_early: Handoff | None = None
_parsing: Inbox | None = None  # in the report process forked early, until the request is made


def fork_early(parse: Callable[[], int]) -> None:
    """Fork the report process now (the entry point, for `rotrace run`, before click loads),
    to parse the command line (`parse`: the CLI, whose `run` calls `run` below, and its exit
    status) and then report; as PID 1, an init first (run/init.py), which stays PID 1 while
    rotrace runs in its child."""
    global _early
    if os.getpid() == 1:
        from rotrace.run.init import become_init

        become_init()
    # What both processes need (the messages, the request, its allowlist), loaded once before
    # the fork rather than once in each after it: on a busy machine the two share the cores.
    import rotrace.run.request  # noqa: F401

    def parse_then_report(inbox: Inbox) -> int:
        # The command line's errors and `--help` are said here, their exit status rotrace's;
        # a request goes to the tracer (`run` below) and this process reports.
        global _parsing
        _parsing = inbox
        return parse()

    _early = _answering(Handoff(parse_then_report, asks=True))


def trace_asked() -> int:
    """The tracer's side after fork_early: load the tracer while the report process parses,
    then run what it asked for: rotrace's exit status (the report process's, when it asked
    for no trace). A failure here is one line on stderr, as the CLI gives it."""
    from rotrace.errors import EXIT_INTERNAL, ReportProcessFailed, failure, say
    from rotrace.run.request import RunRequest

    handoff = _early
    assert handoff is not None
    asked = b""
    try:
        with _abandoning(handoff):  # a SIGTERM or SIGHUP now takes the report process along
            # the tracer's modules, loaded while the report process parses the command line
            import rotrace.run.tracer_side
            import rotrace.tracer.session  # noqa: F401

            asked = handoff.asked()
        if not asked:
            return handoff.status()
        try:
            request = RunRequest.of(asked)
        except Exception:  # cut short: the report process died while it handed the request over
            asked = b""
            raise ReportProcessFailed("the report process ended without a report (killed?)") from None
        return run(request)
    except (Exception, KeyboardInterrupt) as exc:
        if not asked:  # stopped before the request came: the report process is not left behind
            handoff.abandon()
        line, status = failure(exc)
        if line:
            say(line)
        if status == EXIT_INTERNAL and os.environ.get("ROTRACE_DEBUG"):
            raise
        return status


@contextlib.contextmanager
def _abandoning(handoff: Handoff) -> Iterator[None]:
    """Until the request comes: SIGTERM or SIGHUP end this process as they would, and the
    report process with it (a report process stopped while it parses would be left behind)."""
    import signal

    from rotrace.tracer.signals import ending_with

    def leave(signum: int, _frame: object) -> None:
        handoff.abandon()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    with ending_with(leave):
        yield


def _seal(request: RunRequest, *, tracer: bool, report: bool) -> None:
    """A confined run: what this process may import once the command runs (its side's, the
    report process's), imported now; then nothing more from where the command may write
    (sealed.py)."""
    from rotrace.report.github import hold_summary
    from rotrace.run import sealed

    if report and request.view.github:
        hold_summary()  # by its name now, before the command can change the way to it
    if tracer:
        sealed.preload(sealed.TRACER_MODULES)
    if report:
        sealed.preload(sealed.REPORT_MODULES, draw=True)
    sealed.seal(request.allowlist)


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
    """Trace the command in this process, report in the other: rotrace's exit status. In the
    report process forked early, the request goes to the tracer and this process reports."""
    global _parsing
    confined = request.reaches_host  # the command may write where rotrace loads code from
    if _parsing is not None:
        inbox, _parsing = _parsing, None
        if confined:  # nothing loaded once the command runs from where it may write
            _seal(request, tracer=False, report=True)
        inbox.ask(request.frame())
        return _report(inbox)
    from rotrace.run import init
    from rotrace.run.tracer_side import trace_and_hand_over

    if init.under_init:  # the container's PID 1: the run ends with the command's top process
        request = request._replace(options=request.options._replace(container_init=True))
    if confined:  # a report process forked from here (by _take) is sealed with this one
        _seal(request, tracer=True, report=_early is None)
    return trace_and_hand_over(request, _take())
