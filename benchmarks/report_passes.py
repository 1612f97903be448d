"""The report's work per event, in-process, over a saved trace (read first, untimed): the first
pass (classify, tally, learn the mounts, write the event's JSON line) and the second (place
each write, group it for the report), built through the pipeline as `run`'s report process
builds them. Run under a rotrace's Python by the benchmark's `--report`:

    python -m benchmarks.report_passes TRACE ROUNDS     ->  "FIRST SECOND" (µs per event)
"""

from __future__ import annotations

import io
import statistics
import sys
import time

from rotrace.output import TraceOutput
from rotrace.pipeline import Pipeline, classifier
from rotrace.policy.allowlist import build_allowlist
from rotrace.tracefile import read_trace


def main(trace: str, rounds: int) -> str:
    header, stored = read_trace(trace)
    events = [v.event for v in stored]
    allowlist = build_allowlist([], None)
    first, second = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        classify = classifier(allowlist, header.processes)
        pipeline = Pipeline(header.cwd)
        output = TraceOutput(None)
        output.fp = io.StringIO()
        verdicts = []
        for e in events:
            classify.learn(e)
            verdicts.append(classify.classify(e))
        pipeline.tally(verdicts, header, output)
        middle = time.perf_counter()
        pipeline.planner.know_directories(header.directories)
        pipeline.group(verdicts, keep_all=False)
        first.append(middle - start)
        second.append(time.perf_counter() - middle)
    n = len(events)
    return f"{statistics.median(first) * 1e6 / n:.1f} {statistics.median(second) * 1e6 / n:.1f}"


if __name__ == "__main__":
    print(main(sys.argv[1], int(sys.argv[2])))
