"""Folding a stream of verdicts into what the report shows, in memory bounded by places.

Violations are grouped by where the fix applies: the mount point the plan would make (a tree
of directories the command created collapses into its top), or the place no mount can fix (a
venv, the application directory). A 2,000-write install is then a few lines.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from rotrace.events import METADATA_OPS
from rotrace.explain import READ_ONLY_DATABASE, Known
from rotrace.pathnames import program_name, text_of
from rotrace.policy.mounts import Placement, setting_top, writer_top
from rotrace.policy.verdict import Summary, Verdict
from rotrace.record import TraceHeader

EXAMPLES = 4  # the venv writes listed without -v
_REFUSED = ("EACCES", "EPERM", "EROFS")  # the filesystem (or a policy) said no


@dataclass
class Group:
    """Writes that one fix covers (or the writes in one directory, for allowed ones)."""

    where: str
    blocked: str | None = None  # why no mount can fix them
    count: int = 0
    records: int = 0  # the events behind `count` (a merged trace's each stand for its runs' writes)
    ops: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    forecasts: Counter[str] = field(default_factory=Counter)
    processes: Counter[tuple[str, int]] = field(default_factory=Counter)  # (program, pid)
    explanations: Counter[Known] = field(default_factory=Counter)
    examples: list[Verdict] = field(default_factory=list)
    venv: bool = False
    failed_writes: int = 0  # refused here (EROFS, EACCES, EPERM), not only under a read-only root
    tolerated: int = 0  # of those, writes whose writer always carries on without them (Known.tolerated)
    denied: int = 0  # violations the kernel refused as a policy does (Verdict.denied)
    went_through: int = 0  # violations that succeeded
    unplaced: int = 0  # writes that succeeded where rotrace cannot say (Verdict.unplaced)
    runs: set[int] = field(default_factory=set)  # a merged trace: the runs that wrote here

    def add(self, v: Verdict, keep: int) -> None:
        e = v.event
        outcome = e.outcome
        n = v.count  # a merged trace's event stands for that many writes
        self.runs.update(v.runs)
        self.count += n
        self.records += 1
        self.ops[e.op] += n
        self.outcomes[outcome] += n
        # where an unplaced write went is not known: nor what a read-only root would have said
        self.forecasts["?" if e.unresolved else v.ro_forecast or "ok"] += n
        self.processes[(program_name(e.exe) or "?", e.pid)] += n
        refused = outcome in ("EROFS", "EACCES", "EPERM")  # the filesystem said no
        self.failed_writes += n * refused
        self.tolerated += n * (refused and v.explanation is not None and v.explanation.tolerated)
        self.denied += n * v.denied
        self.went_through += n * v.went_through
        self.unplaced += n * v.unplaced
        if v.explanation is not None:
            self.explanations[v.explanation] += n
        if len(self.examples) < keep:
            self.examples.append(v)


@dataclass
class Aggregate:
    keep_all: bool = False  # -v: every write, not only examples
    summary: Summary = field(default_factory=Summary)
    violations: dict[str, Group] = field(default_factory=dict)
    allowed: dict[str, Group] = field(default_factory=dict)
    explanations: Counter[Known] = field(default_factory=Counter)
    metadata_through: int = 0  # violations on metadata (chmod...) that succeeded
    unplaced: int = 0  # writes that succeeded where rotrace cannot say (Verdict.unplaced)
    last_failure: str | None = None  # the group of the last violation that failed here (what a crash follows)
    refused_allowed: int = 0  # allowed writes refused all the same (EACCES, EPERM): a rule not in force
    refused_at: Counter[str] = field(default_factory=Counter)  # those, by the directory they are grouped in
    refused_paths: Counter[str] = field(default_factory=Counter)  # and by their own path
    only_read: Counter[bytes] = field(
        default_factory=Counter
    )  # SQLite databases opened read-write, only read
    labels: dict[tuple[str, int], str] = field(default_factory=dict)  # `name_scripts`

    def name_scripts(self, header: TraceHeader) -> None:
        """Processes named by their scripts in what people read (TraceHeader.script_names)."""
        self.labels = header.script_names()

    def label(self, program: str, pid: int) -> str:
        """What `program` (an executable's name) running as `pid` is called (`name_scripts`)."""
        return self.labels.get((program, pid), program)

    def add(
        self,
        verdict: Verdict,
        placements: list[Placement],
        wrote: Callable[[Verdict], bool] | None = None,
        *,
        at_target: bool = False,
    ) -> None:
        """`wrote`: asks Verdict.wrote (which may read the filesystem) for whoever notes its answers;
        `at_target`: a rename's violation is its target's (the allowlist allows its source)."""
        self.summary.add(verdict)
        event = verdict.event
        if not event.write:
            return
        n = verdict.count  # a merged trace's event stands for that many writes
        if verdict.explanation is not None:
            self.explanations[verdict.explanation] += n
        keep = 1 << 62 if self.keep_all else EXAMPLES
        if verdict.harmless:  # failed here as under a read-only root (mkdir of an existing
            if verdict.explanation is READ_ONLY_DATABASE:  # directory), or a database only read
                self.only_read[event.path] += n
            return
        if verdict.violation:
            self.metadata_through += n * (verdict.went_through and event.op in METADATA_OPS)
            self.unplaced += n * verdict.unplaced
            if placements:  # a rename's: its source's, then its target's
                placed = placements[-1] if at_target else placements[0]
                where, reason = placed.point, placed.reason
            elif verdict.venv is not None:
                where, reason = text_of(verdict.venv), None
            else:  # no mount (a setting moves it): where the writer's own fix applies
                landed = os.path.dirname(event.target) if at_target and event.target else event.directory
                directory = text_of(landed or b"/")
                where, reason = writer_top(verdict, directory) or setting_top(verdict) or directory, None
            group = self.violations.get(where)
            if group is None:
                group = self.violations[where] = Group(where, reason, venv=verdict.venv_write)
            group.add(verdict, keep)
            if event.failed and not (verdict.explanation is not None and verdict.explanation.tolerated):
                self.last_failure = where  # a failure its writer carries on after stops nothing
        else:
            refused = event.errno in _REFUSED
            self.refused_allowed += n * refused
            if not (verdict.wrote if wrote is None else wrote(verdict)):
                return  # failed as it would anywhere (mkdir of an existing directory): no write
            # a check of a directory's writability (access W_OK) is of that directory: `/tmp`,
            # not the `/` above it, which no allowlist allows
            where = text_of(event.path if event.op == "access" else event.directory)
            if refused:
                self.refused_at[where] += n
                self.refused_paths[text_of(event.path)] += n
            group = self.allowed.get(where)
            if group is None:
                group = self.allowed[where] = Group(where)
            group.add(verdict, keep if self.keep_all else 0)
