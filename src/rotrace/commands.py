"""The use cases over saved traces: `report`, `check`, `allowlist`, `diff`. Each reads its
trace(s), runs the pipeline (pipeline.py) and returns rotrace's exit status; what it prints
goes through report/ (stderr) and export/ (stdout)."""

from __future__ import annotations

import sys

from rotrace.escape import safe_text
from rotrace.output import TraceOutput
from rotrace.pipeline import Pipeline, Reclassified, classifier, compare, export, load_changes
from rotrace.policy.allowlist import build_allowlist, load_policy
from rotrace.report.view import View
from rotrace.tracefile import read_trace


def report(trace: str, view: View) -> int:
    """`rotrace report`: a saved trace rendered again."""
    header, verdicts = read_trace(trace)
    pipeline = Pipeline(header.cwd, header.directories)
    for verdict in verdicts:
        pipeline.add(verdict)
    return pipeline.conclude(header, verdicts, view)


def check(trace: str, allow: list[str], policy: str | None, json_path: str | None, view: View) -> int:
    """`rotrace check`: a saved trace classified again under another allowlist. Relative
    entries (a policy file's, --allow's) mean the project directory the trace was taken in
    (its working directory), never this process's: the same policy gives the same verdicts on
    a CI runner, a laptop and in the image."""
    header, verdicts = read_trace(trace)
    project = header.cwd or None
    allowlist = build_allowlist(allow, policy, project=project)
    relative = any(not a.removeprefix("=").startswith(("/", "~")) for a in allow)
    if policy is not None:
        relative = relative or load_policy(policy).relative
    if relative:
        where = (
            f"the traced project directory {project}" if project else "this directory (the trace has none)"
        )
        print(safe_text(f"rotrace: relative entries are read against {where}"), file=sys.stderr)
    output = TraceOutput(json_path)
    header.allowlist = allowlist.entries
    enforced = header.enforced is not None
    reclassified = Reclassified(verdicts, classifier(allowlist, header.processes, enforced=enforced))
    pipeline = Pipeline(header.cwd, header.directories)
    pipeline.tally(reclassified, header, output)
    status = pipeline.conclude(header, reclassified, view)
    output.close()
    return status


def allowlist(trace: str, fmt: str, container: str, maps: list[tuple[str, str]] | None = None) -> int:
    """`rotrace allowlist`: the mount plan of a saved trace, in one consumer's format, its
    paths as the machine it is for names them (`maps`: HOST -> IMAGE prefixes)."""
    header, verdicts = read_trace(trace)
    pipeline = Pipeline(header.cwd, header.directories)
    for verdict in verdicts:
        pipeline.add(verdict)
    return export(header, pipeline.mount_plan(verdicts, header), fmt, container, verdicts, maps or ())


def diff(old: str, new: str, view: View) -> int:
    """`rotrace diff`: writes that appeared or disappeared between two saved traces."""
    return compare(load_changes(old), load_changes(new), view, err=False)
