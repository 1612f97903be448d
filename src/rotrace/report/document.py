"""`--format json`: the report (and the diff) as a stable document for machines
(docs/trace-format.md, "The report as JSON"). Built from the same aggregate and plan as the
terminal report."""

from __future__ import annotations

import json
import os
from typing import IO, Any

from rotrace import __version__
from rotrace.escape import ci_safe_json
from rotrace.explain import Known
from rotrace.policy.mounts import MountPlan
from rotrace.record import TraceHeader
from rotrace.report.aggregate import Aggregate, Group
from rotrace.report.diff import Change, TraceDiff

DOCUMENT_SCHEMA = 1


def _known(counter: dict[Known, int]) -> list[dict[str, Any]]:
    return [
        {"id": k.id, "title": k.title, "fix": k.fix, "writes": n}
        for k, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0].id))
    ]


def _group(g: Group, runs: int) -> dict[str, Any]:
    """`runs`: the merged trace's runs (0: one run's trace, no coverage)."""
    seen = {"runs": {"seen": len(g.runs), "of": runs, "which": sorted(g.runs)}} if runs else {}
    return {
        "where": g.where,
        **seen,
        "not_mountable": g.blocked,
        "venv": g.venv,
        "writes": g.count,
        "ops": dict(g.ops.most_common()),
        "results": dict(g.outcomes.most_common()),
        "denied": g.denied,
        "went_through": g.went_through,
        "unplaced": g.unplaced,
        "read_only_root": dict(g.forecasts.most_common()),
        "processes": [{"exe": exe, "pid": pid, "writes": n} for (exe, pid), n in g.processes.most_common()],
        "explanations": _known(g.explanations),
        "examples": [os.fsdecode(v.event.path) for v in g.examples],
    }


def report_document(header: TraceHeader, agg: Aggregate, plan: MountPlan, status: int) -> dict[str, Any]:
    allowed: dict[str, int] = {}
    runs = len(header.sources)
    for g in agg.allowed.values():
        allowed[g.where] = allowed.get(g.where, 0) + g.count
    return {
        "rotrace_version": __version__,
        "document": "report",
        "schema": DOCUMENT_SCHEMA,
        "command": header.command,
        "cwd": header.cwd,
        "exit_code": None if header.checkpoint is not None or header.let_go else header.exit_code,
        "signal": header.signal,
        "checkpoint": header.checkpoint,
        "status": status,
        "summary": {
            "events": agg.summary.events,
            "writes": agg.summary.writes,
            "violations": agg.summary.violations,
            "venv_writes": agg.summary.venv_writes,
            "ro_failures": agg.summary.ro_failures,
            "went_through": agg.summary.went_through,
            "unplaced": agg.unplaced,
        },
        "violations": [
            _group(g, runs) for g in sorted(agg.violations.values(), key=lambda g: (-g.count, g.where))
        ],
        "plan": {
            "mounts": plan.mounts,
            "not_mountable": [
                {"where": b.point, "reason": b.reason, "writes": b.count, "fixes": _known(b.explanations)}
                for b in plan.blocked
            ],
            "settings": _known(plan.settings),
        },
        "allowed": {
            "writes": sum(allowed.values()),
            "directories": dict(sorted(allowed.items())),
            **({"runs": {g.where: sorted(g.runs) for g in agg.allowed.values()}} if runs else {}),
        },
        "warnings": header.warnings,
        "environment": header.environment,
    }


def _change(c: Change) -> dict[str, Any]:
    return {
        "op": c.op,
        "path": c.path,
        "target": c.target,
        "results": sorted(c.errnos),
        "violation": c.violation,
        "explanation": None if c.explanation is None else c.explanation.id,
        "example": c.example,
    }


def diff_document(diff: TraceDiff) -> dict[str, Any]:
    return {
        "rotrace_version": __version__,
        "document": "diff",
        "schema": DOCUMENT_SCHEMA,
        "appeared": [_change(c) for c in diff.appeared],
        "disappeared": [_change(c) for c in diff.disappeared],
        "became_violations": [_change(c) for c in diff.became],
        "ceased_violations": [_change(c) for c in diff.ceased],
        "intermittent": [_change(c) for c in diff.intermittent],
        "new_violations": len(diff.new_violations),
        "environment": {k: {"old": old, "new": new} for k, (old, new) in diff.environment.items()},
        "outcome": None if diff.outcome is None else {"old": diff.outcome[0], "new": diff.outcome[1]},
        "newly_failed": diff.newly_failed,
        "command": None if diff.command is None else {"old": diff.command[0], "new": diff.command[1]},
    }


def write(document: dict[str, Any], fp: IO[str]) -> None:
    fp.write(ci_safe_json(json.dumps(document, indent=2)))
    fp.write("\n")
