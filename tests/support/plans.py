"""The plan rotrace makes of a saved trace (mounts, settings, build steps), as its exports get it,
for the tests that replay a workload the way the plan says."""

from __future__ import annotations

from pathlib import Path

from rotrace.pipeline import Pipeline
from rotrace.policy.mounts import MountPlan
from rotrace.tracefile import read_trace


def plan_of(trace: Path | str) -> MountPlan:
    header, verdicts = read_trace(str(trace))
    pipeline = Pipeline.of(header)
    for verdict in verdicts:
        pipeline.add(verdict)
    return pipeline.mount_plan(verdicts, header)
