"""The `-q` verdict line as (text, style) parts, without rich: where the line goes to a pipe or
a file, rich would print it unstyled and unwrapped, so `run -q` writes the text itself and its
report process never loads rich (a fifth of a short run's start-up). On a terminal, and where
rich is told to style or wrap anyway (FORCE_COLOR, TTY_COMPATIBLE, COLUMNS), rich prints it."""

from __future__ import annotations

import os
from typing import TextIO

from rotrace.escape import safe_text
from rotrace.record import TraceHeader
from rotrace.report.aggregate import Aggregate

# Each part: its text and its rich style ("" for none).
Parts = list[tuple[str, str]]

# The variables that make rich style or wrap what goes to a pipe (see its Console).
_RICH_ENVIRONMENT = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "JUPYTER_COLUMNS")


def counted(count: int, word: str, plural: str | None = None) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {plural or word + 's'}"


def exit_parts(header: TraceHeader) -> tuple[str, str]:
    """How the run ended: the exit status, the signal, or a checkpoint."""
    if header.checkpoint is not None:  # the run had not ended: no exit status to show
        return f"checkpoint at {safe_text(header.checkpoint)}, still running", "bold yellow"
    if header.let_go:  # run -p, stopped by a signal to rotrace: the process never ended
        return "let go, still running", "bold yellow"
    if header.signal:
        return f"killed by {safe_text(header.signal)}", "bold red"
    return f"exit status {header.exit_code}", "green" if header.exit_code == 0 else "bold red"


def verdict_parts(agg: Aggregate, header: TraceHeader) -> Parts:
    """The one line `-q` prints, in parts."""
    s = agg.summary
    if s.violations:
        places = counted(len(agg.violations), "place")
        parts = [(f"✗ {counted(s.violations, 'violation')} in {places}", "bold red")]
    elif header.enforced is not None and agg.refused_allowed:  # a rule that could not be in force
        parts = [(f"✗ no violations, but {counted(agg.refused_allowed, 'allowed write')} denied", "bold red")]
    else:
        parts = [("✓ no violations", "bold green")]
    parts += [(" · ", ""), exit_parts(header), (f" · {counted(s.writes, 'write')}", "")]
    if s.venv_writes:
        parts.append((f" ({s.venv_writes:,} into a venv)", "yellow"))
    return parts


def plain_stream(stream: TextIO) -> bool:
    """Whether rich would print to `stream` unstyled and unwrapped (report/render.console_for)."""
    if any(name in os.environ for name in _RICH_ENVIRONMENT):
        return False
    try:
        return not stream.isatty()
    except (OSError, ValueError):
        return False


def write_line(parts: Parts, stream: TextIO) -> None:
    """The parts as one plain line. A closed pipe is a BrokenPipeError, as the report's console
    makes it (report/render.py): the CLI's exit status 141, whatever the verdict."""
    stream.write("".join(text for text, _style in parts) + "\n")
    stream.flush()
