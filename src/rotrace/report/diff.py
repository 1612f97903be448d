"""Rendering a TraceDiff: grouped by directory, each change with its explanation."""

from __future__ import annotations

from itertools import groupby

from rich.console import Console
from rich.text import Text

from rotrace.diff import Change, TraceDiff
from rotrace.report.escape import safe_text


def _section(console: Console, title: str, sign: str, changes: list[Change], style: str) -> None:
    console.print(Text(f"{title} ({len(changes)})", style="bold"))
    for directory, group in groupby(
        sorted(changes, key=lambda c: (c.directory, c.path)), key=lambda c: c.directory
    ):
        console.print(Text(f"  {safe_text(directory)}/", style="dim"))
        for c in group:
            name = c.path[len(directory) :].lstrip("/") or c.path
            line = Text(
                f"    {sign} {c.op:<8} {safe_text(name)}  ({', '.join(sorted(c.errnos))})", style=style
            )
            if c.violation:
                line.append("  violation", style="bold red")
            console.print(line)
            if c.explanation is not None:
                console.print(Text(f"        {c.explanation.title}: {c.explanation.fix}", style="dim"))


def render_diff(diff: TraceDiff, console: Console) -> None:
    if not diff.appeared and not diff.disappeared:
        console.print(Text("no change in what is written", style="green"))
        return
    if diff.appeared:
        _section(console, "Writes that appeared", "+", diff.appeared, "yellow")
    if diff.disappeared:
        _section(console, "Writes that disappeared", "-", diff.disappeared, "green")
    if diff.new_violations:
        console.print(Text(f"✗ {len(diff.new_violations)} new violations", style="bold red"))
