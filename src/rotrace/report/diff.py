"""Writes that appeared or disappeared between two traces (say, two uv versions), compared
after the same generalisation (temporary names, pids, each trace's working directory), and
their rendering: grouped by directory, each change with its explanation."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING

from rotrace.escape import safe_text
from rotrace.explain import Known
from rotrace.pathnames import NAME_END, generalise
from rotrace.policy.verdict import Verdict

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class Change:
    op: str
    path: str  # generalised; the trace's cwd is $CWD
    errnos: set[str] = field(default_factory=set)
    violation: bool = False
    explanation: Known | None = None

    @property
    def directory(self) -> str:
        return os.path.dirname(self.path) or "/"


@dataclass
class TraceDiff:
    appeared: list[Change]
    disappeared: list[Change]
    environment: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # name -> old, new
    # writes in both, a violation now and not before (another process wrote its parent's /proc file)
    became: list[Change] = field(default_factory=list)

    @property
    def new_violations(self) -> list[Change]:
        return [c for c in self.appeared if c.violation] + self.became


class Changes:
    """The writes of one trace, folded by (op, generalised path): fed verdict by verdict."""

    def __init__(self, cwd: str, environment: dict[str, str] | None = None) -> None:
        self.cwd = cwd
        self.environment = environment or {}
        self.by_key: dict[tuple[str, str], Change] = {}

    def add(self, v: Verdict) -> None:
        e = v.event
        if not e.write:
            return
        key = (e.op, generalise(e.path, self.cwd))
        change = self.by_key.get(key)
        if change is None:
            change = self.by_key[key] = Change(e.op, key[1])
        change.errnos.add(e.outcome)
        change.violation = change.violation or v.violation
        change.explanation = change.explanation or v.explanation


def changes_of(cwd: str, verdicts: Iterable[Verdict], environment: dict[str, str] | None = None) -> Changes:
    changes = Changes(cwd, environment)
    for v in verdicts:
        changes.add(v)
    return changes


# A name of Python's tempfile's 8 characters, whatever they are, after any prefix the caller
# chose (`NamedTemporaryFile(prefix="upl")`: `uplk3x_q9zb`) and before its suffix: `generalise`
# takes only those with a letter and a digit or `_` for one (`python39`, `packages` stay), at the
# start or after a `-` or `.`, so a run's name of 8 letters, or after another prefix, is no
# glob; a write that appeared and one that went, of one op in one directory, whose names differ
# only there are the same write.
_TEMP_SHAPE = re.compile(r"[a-z0-9_]{8}" + NAME_END)


def _shape(path: str) -> str:
    directory, _, name = path.rpartition("/")
    return f"{directory}/{_TEMP_SHAPE.sub('*', name)}"


def diff_traces(old: Changes, new: Changes) -> TraceDiff:
    before, after = old.by_key, new.by_key
    appeared = [after[k] for k in sorted(after.keys() - before.keys(), key=lambda k: (k[1], k[0]))]
    gone = [before[k] for k in sorted(before.keys() - after.keys(), key=lambda k: (k[1], k[0]))]
    unpaired: dict[tuple[str, str, bool], list[Change]] = {}
    for change in gone:
        unpaired.setdefault((change.op, _shape(change.path), change.violation), []).append(change)
    paired: set[int] = set()
    for change in list(appeared):
        twins = unpaired.get((change.op, _shape(change.path), change.violation))
        if twins:
            paired.add(id(twins.pop()))
            appeared.remove(change)
    gone = [c for c in gone if id(c) not in paired]
    both = sorted(after.keys() & before.keys(), key=lambda k: (k[1], k[0]))
    became = [after[k] for k in both if after[k].violation and not before[k].violation]
    old_env, new_env = old.environment, new.environment
    env = {
        name: (old_env.get(name), new_env.get(name))
        for name in sorted(old_env.keys() | new_env.keys())
        if old_env.get(name) != new_env.get(name) and name != "PATH"
    }
    return TraceDiff(appeared, gone, env, became)


def _section(console: Console, title: str, sign: str, changes: list[Change], style: str) -> None:
    """Grouped by directory; each known writer's fix once, under the first change it explains."""
    from rich.text import Text

    console.print(Text(f"{title} ({len(changes)})", style="bold"))
    explained: set[str] = set()
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
            if c.explanation is not None and c.explanation.id in explained:
                line.append(f"  ({c.explanation.title})", style="dim")
            console.print(line)
            if c.explanation is not None and c.explanation.id not in explained:
                explained.add(c.explanation.id)
                console.print(Text(f"        {c.explanation.title}: {c.explanation.fix}", style="dim"))


def render_diff(diff: TraceDiff, console: Console) -> None:
    from rich.text import Text

    if diff.environment:
        console.print(Text("The environment changed", style="bold"))
        for name, (old, new) in diff.environment.items():
            if old is not None:
                console.print(Text(f"  - {safe_text(name)}={safe_text(old)}", style="green"))
            if new is not None:
                console.print(Text(f"  + {safe_text(name)}={safe_text(new)}", style="yellow"))
    if not diff.appeared and not diff.disappeared and not diff.became:
        console.print(Text("no change in what is written", style="green"))
        return
    if diff.appeared:
        _section(console, "Writes that appeared", "+", diff.appeared, "yellow")
    if diff.became:
        _section(console, "Writes that are violations now, and were not", "!", diff.became, "yellow")
    if diff.disappeared:
        _section(console, "Writes that disappeared", "-", diff.disappeared, "green")
    if diff.new_violations:
        console.print(Text(f"✗ {len(diff.new_violations)} new violations", style="bold red"))
