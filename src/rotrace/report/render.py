"""The terminal report (rich, to stderr). Every name goes through safe_text and into Text
objects, never into markup, so a file called `[red]x` prints as itself."""

from __future__ import annotations

import os
import shlex

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from rotrace.escape import safe_text
from rotrace.report.aggregate import Aggregate, DirGroup
from rotrace.tracefile import TraceHeader


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} ×{v}" if v > 1 else k for k, v in sorted(counter.items(), key=lambda kv: -kv[1]))


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {plural or word + 's'}"


def _exit_text(header: TraceHeader) -> Text:
    if header.signal:
        return Text(f"killed by {safe_text(header.signal)}", style="bold red")
    style = "green" if header.exit_code == 0 else "bold red"
    return Text(f"exit status {header.exit_code}", style=style)


def _group_table(groups: list[DirGroup], title: str) -> Table:
    table = Table(title=None, box=None, pad_edge=False, show_header=True, header_style="bold")
    table.add_column(title, overflow="fold")
    table.add_column("ops")
    table.add_column("count", justify="right")
    table.add_column("result")
    table.add_column("read-only root")
    table.add_column("example", overflow="fold")
    for g in sorted(groups, key=lambda g: (-g.count, g.directory)):
        table.add_row(
            Text(safe_text(g.directory)),
            Text(safe_text(_counts(g.ops))),
            Text(str(g.count)),
            Text(_counts(g.errnos), style="red" if "ok" not in g.errnos else ""),
            Text(safe_text(_counts(g.forecasts)), style="red" if "EROFS" in g.forecasts else ""),
            Text(safe_text(os.path.basename(g.example) or g.example)),
        )
    return table


def render(agg: Aggregate, header: TraceHeader, console: Console, verbose: bool = False) -> None:
    s = agg.summary
    console.print(Text.assemble(("rotrace ", "bold"), safe_text(shlex.join(header.command))))
    line = Text("  ")
    line.append_text(_exit_text(header))
    line.append(f" · {_n(s.events, 'event')} · {_n(s.writes, 'write')} · ")
    line.append(_n(s.violations, "violation"), style="bold red" if s.violations else "green")
    line.append(f" · {_n(s.venv_writes, 'venv write')}", style="bold yellow" if s.venv_writes else "")
    console.print(line)
    if header.read_only:
        writable = safe_text(", ".join(header.sandbox_writable or [])) or "nothing"
        console.print(Text(f"  traced in a read-only root (bubblewrap); writable: {writable}", style="dim"))
    elif s.ro_failures:
        console.print(
            Text(
                f"  under a read-only root {s.ro_failures} of these writes would fail with EROFS",
                style="yellow",
            )
        )
    for warning in header.warnings:
        console.print(Text(f"  warning: {safe_text(warning)}", style="yellow"))

    if agg.violations:
        console.print()
        console.print(Text(f"✗ Violations: writes outside the allowlist ({s.violations})", style="bold red"))
        console.print(_group_table(list(agg.violations.values()), "directory"))

    if agg.venvs:
        console.print()
        console.print(Text("! Writes into virtual environments", style="bold yellow"))
        for root, group in agg.venvs.items():
            console.print(Text(f"  {safe_text(root)} ({group.count})", style="yellow"))
            for v in agg.venv_examples[root]:
                rel = os.path.relpath(v.event.path, root) if v.event.path != root else b"."
                example = (
                    f"    {v.event.op} {safe_text(rel)} ({safe_text(v.event.syscall)} → {v.event.outcome})"
                )
                console.print(Text(example))
            if group.count > len(agg.venv_examples[root]):
                console.print(Text(f"    … and {group.count - len(agg.venv_examples[root])} more"))
        console.print(_venv_outcome(agg, header))

    if agg.explanations:
        console.print()
        console.print(Text("Why, and what to change", style="bold"))
        for known, count in sorted(agg.explanations.items(), key=lambda kv: -kv[1]):
            why = Text.assemble(
                ("• ", ""), (known.title, "bold"), f" ({count}): {known.who}. {known.why.rstrip('.')}."
            )
            console.print(Padding(why, (0, 0, 0, 2)))
            console.print(Padding(Text.assemble(("fix: ", "green"), known.fix), (0, 0, 0, 4)))

    allowed = sum(g.count for g in agg.allowed.values())
    if allowed:
        console.print()
        dirs = sorted(agg.allowed.values(), key=lambda g: -g.count)
        shown = ", ".join(f"{safe_text(g.directory)} ({g.count})" for g in dirs[:4])
        more = f", … {len(dirs) - 4} more" if len(dirs) > 4 else ""
        where = _n(len(dirs), "directory", "directories")
        console.print(Text(f"✓ {_n(allowed, 'allowed write')} in {where}: {shown}{more}", style="green"))
        if verbose:
            for v in agg.allowed_list:
                e = v.event
                console.print(
                    Text(f"    {e.op:<8} {safe_text(e.path)} ({safe_text(e.syscall)} → {e.outcome})")
                )
        else:
            console.print(Text("  (-v lists them)", style="dim"))
    if not s.writes:
        console.print(Text("✓ no writes", style="green"))


def _venv_outcome(agg: Aggregate, header: TraceHeader) -> Text:
    """Did a failed venv write kill the command, or was it tolerated?"""
    failed = [v for examples in agg.venv_examples.values() for v in examples if v.event.failed]
    if not failed:
        return Text("  these writes succeeded here; under a read-only root they would fail", style="yellow")
    if header.command_failed:
        return Text("  a venv write failed and the command failed: this is what stops it", style="bold red")
    return Text(
        "  a venv write failed but the command carried on (tolerated): still a violation,"
        " the command did not get what it asked for",
        style="yellow",
    )
