"""Folding a stream of verdicts into what the report shows, in memory bounded by directories."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from rotrace.explain import Known
from rotrace.pathnames import generalise
from rotrace.policy.verdict import Summary, Verdict

VENV_EXAMPLES = 8


@dataclass
class DirGroup:
    directory: bytes
    count: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    errnos: dict[str, int] = field(default_factory=dict)
    forecasts: dict[str, int] = field(default_factory=dict)
    example: bytes = b""

    def add(self, verdict: Verdict, err: str) -> None:
        self.count += 1
        op = verdict.event.op
        self.ops[op] = self.ops.get(op, 0) + 1
        self.errnos[err] = self.errnos.get(err, 0) + 1
        ro = verdict.ro_forecast or "ok"
        self.forecasts[ro] = self.forecasts.get(ro, 0) + 1
        if not self.example:
            self.example = verdict.event.path


@dataclass
class Aggregate:
    keep_allowed: bool = False
    summary: Summary = field(default_factory=Summary)
    violations: dict[bytes, DirGroup] = field(default_factory=dict)
    venvs: dict[bytes, DirGroup] = field(default_factory=dict)
    venv_examples: dict[bytes, list[Verdict]] = field(default_factory=dict)
    allowed: dict[bytes, DirGroup] = field(default_factory=dict)
    allowed_list: list[Verdict] = field(default_factory=list)
    explanations: dict[Known, int] = field(default_factory=dict)  # -> violations or venv writes it explains
    _dirs: dict[bytes, bytes] = field(default_factory=dict, repr=False)  # directory -> generalised

    def add(self, verdict: Verdict) -> None:
        self.summary.add(verdict)
        event = verdict.event
        if not event.write:
            return
        raw_dir = event.directory
        directory = self._dirs.get(raw_dir)
        if directory is None:
            directory = self._dirs[raw_dir] = os.fsencode(generalise(raw_dir))
        if verdict.explanation is not None:
            self.explanations[verdict.explanation] = self.explanations.get(verdict.explanation, 0) + 1
        if verdict.violation:
            self.violations.setdefault(directory, DirGroup(directory)).add(verdict, event.outcome)
        else:
            group = self.allowed.get(directory)
            if group is None:
                group = self.allowed[directory] = DirGroup(directory)
            group.add(verdict, event.outcome)
            if self.keep_allowed:
                self.allowed_list.append(verdict)
        if verdict.venv is not None and verdict.venv_write:
            self.venvs.setdefault(verdict.venv, DirGroup(verdict.venv)).add(verdict, event.outcome)
            examples = self.venv_examples.setdefault(verdict.venv, [])
            if len(examples) < VENV_EXAMPLES:
                examples.append(verdict)
