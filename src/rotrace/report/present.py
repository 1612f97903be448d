"""How a report reaches its reader: the terminal report, `-q` (the verdict line), `--format
json`, and on GitHub Actions the annotations and step summary; and the live status line a
terminal shows while the command runs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from rotrace.policy.mounts import MountPlan
from rotrace.record import TraceHeader
from rotrace.report.aggregate import Aggregate
from rotrace.report.quiet import plain_stream, verdict_parts, write_line
from rotrace.report.view import View

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rotrace.report.diff import TraceDiff


def prepare(view: View) -> None:
    """Import what presenting will need, early (`run`'s report process, during the trace)."""
    if view.json:
        import rotrace.report.document
    elif view.quiet and plain_stream(sys.stderr):
        pass  # the verdict line alone, written without rich (report/quiet.py)
    else:
        # rich.console imports attrs, when it is installed, to pretty-print attrs classes
        # (8 ms, a tenth of a run's start-up): this process prints none.
        sys.modules.setdefault("attr", None)  # type: ignore[arg-type]
        import rotrace.report.render
    if view.github:
        import rotrace.report.github  # noqa: F401


def present(header: TraceHeader, agg: Aggregate, plan: MountPlan, view: View, status: int) -> None:
    """`status`: the exit status rotrace gives (the JSON document says it)."""
    agg.name_scripts(header)
    if view.json:
        from rotrace.report.document import report_document, write

        write(report_document(header, agg, plan, status), sys.stdout)
    elif view.quiet and plain_stream(sys.stderr):
        write_line(verdict_parts(agg, header), sys.stderr)
    elif view.quiet:
        from rotrace.report.render import console_for, verdict_line

        console_for().print(verdict_line(agg, header))
    else:
        from rotrace.report.render import console_for, render

        render(agg, header, plan, console_for(), view.verbose)
    if view.github:
        from rotrace.report.github import publish

        publish(header, agg, plan, sys.stderr if view.stdout_taken else sys.stdout)


def present_diff(diff: TraceDiff, view: View, err: bool) -> None:
    """`err`: the diff of `run --baseline`, said on stderr after the run's report (whose GitHub
    annotations already name each violation: the diff adds its summary)."""
    if view.github:
        from rotrace.report.github import publish_diff

        publish_diff(diff, sys.stderr if view.stdout_taken or err else sys.stdout, annotate=not err)
    if view.json:
        from rotrace.report.document import diff_document, write

        write(diff_document(diff), sys.stdout)
        return
    from rich.text import Text

    from rotrace.report.diff import render_diff
    from rotrace.report.render import console_for

    console = console_for(err)
    if view.quiet:
        n = len(diff.new_violations)
        console.print(Text(f"✗ {n} new violation{'s' if n != 1 else ''}" if n else "✓ no new violations"))
        if diff.newly_failed:
            console.print(Text("✗ the command failed, where it succeeded before"))
        return
    render_diff(diff, console, view.verbose)


LIVE_EVERY = 0.25  # seconds between redraws of the live status line


class _Counting(Protocol):
    count: int


@contextmanager
def live_status(events: _Counting, view: View) -> Iterator[Callable[[], None] | None]:
    """While the command runs, on a terminal only: events so far and the time, on one line of
    stderr that disappears at the end (rich's live display). Gives the line's redraw, for the
    caller to call every `LIVE_EVERY` seconds (None: no live line), in its own thread: a thread
    of the report process's own would be a way to it that a confined command's refusals by
    pid do not cover."""
    if view.quiet or view.json or not sys.stderr.isatty():
        yield None
        return
    from rich.live import Live
    from rich.text import Text

    from rotrace.report.render import console_for

    start = time.monotonic()

    def line() -> Text:
        return Text(
            f"rotrace: tracing · {events.count:,} events · {time.monotonic() - start:.0f} s", style="dim"
        )

    with Live(line(), console=console_for(), transient=True, auto_refresh=False) as live:
        yield lambda: live.update(line(), refresh=True)
