"""The use cases over saved traces: `report`, `check`, `allowlist`, `diff`. Each reads its
trace(s), runs the pipeline (pipeline.py) and returns rotrace's exit status; what it prints
goes through report/ (stderr) and export/ (stdout)."""

from __future__ import annotations

from rotrace.output import TraceOutput
from rotrace.pipeline import Pipeline, Reclassified, classifier, compare, export, load_changes
from rotrace.policy.allowlist import Allowlist
from rotrace.report.view import View
from rotrace.tracefile import read_trace


def report(trace: str, view: View) -> int:
    """`rotrace report`: a saved trace rendered again."""
    header, verdicts = read_trace(trace)
    pipeline = Pipeline(header.cwd, header.directories)
    for verdict in verdicts:
        pipeline.add(verdict)
    return pipeline.conclude(header, verdicts, view)


def check(trace: str, allowlist: Allowlist, json_path: str | None, view: View) -> int:
    """`rotrace check`: a saved trace classified again under another allowlist."""
    header, verdicts = read_trace(trace)
    output = TraceOutput(json_path)
    header.allowlist = allowlist.entries
    enforced = header.enforced is not None
    reclassified = Reclassified(verdicts, classifier(allowlist, header.processes, enforced=enforced))
    pipeline = Pipeline(header.cwd, header.directories)
    pipeline.tally(reclassified, header, output)
    status = pipeline.conclude(header, reclassified, view)
    output.close()
    return status


def allowlist(trace: str, fmt: str, container: str) -> int:
    """`rotrace allowlist`: the mount plan of a saved trace, in one consumer's format."""
    header, verdicts = read_trace(trace)
    pipeline = Pipeline(header.cwd, header.directories)
    for verdict in verdicts:
        pipeline.add(verdict)
    return export(header, pipeline.mount_plan(verdicts, header), fmt, container, verdicts)


def diff(old: str, new: str, view: View) -> int:
    """`rotrace diff`: writes that appeared or disappeared between two saved traces."""
    return compare(load_changes(old), load_changes(new), view, err=False)
