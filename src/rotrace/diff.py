"""Writes that appeared or disappeared between two traces (say, two uv versions), compared
after the same generalisation: temporary names, pids and each trace's working directory."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from rotrace.explain import Known, explain
from rotrace.export.generalise import generalise
from rotrace.policy.verdict import Verdict
from rotrace.tracefile import TraceHeader


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

    @property
    def new_violations(self) -> list[Change]:
        return [c for c in self.appeared if c.violation]


def _changes(header: TraceHeader, verdicts: Iterable[Verdict]) -> dict[tuple[str, str], Change]:
    out: dict[tuple[str, str], Change] = {}
    for v in verdicts:
        e = v.event
        if not e.write:
            continue
        key = (e.op, generalise(e.path, header.cwd))
        change = out.get(key)
        if change is None:
            change = out[key] = Change(e.op, key[1], explanation=explain(e, v.venv))
        change.errnos.add(e.errno or "ok")
        change.violation = change.violation or bool(v.violation)
    return out


def diff_traces(
    old: tuple[TraceHeader, Iterable[Verdict]], new: tuple[TraceHeader, Iterable[Verdict]]
) -> TraceDiff:
    before, after = _changes(*old), _changes(*new)
    appeared = [after[k] for k in sorted(after.keys() - before.keys(), key=lambda k: (k[1], k[0]))]
    gone = [before[k] for k in sorted(before.keys() - after.keys(), key=lambda k: (k[1], k[0]))]
    return TraceDiff(appeared, gone)
