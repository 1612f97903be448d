"""Peak memory of `rotrace merge` on N synthetic traces of E events each (not a timed test):
python benchmarks/merge_memory.py N E."""

from __future__ import annotations

import os
import resource
import sys
import tempfile
from collections.abc import Iterator

from rotrace.events import FileEvent
from rotrace.merge.combine import merge
from rotrace.output import TraceOutput
from rotrace.pipeline import Pipeline
from rotrace.policy.verdict import Verdict
from rotrace.record import TraceHeader


def _verdicts(run: int, events: int) -> Iterator[Verdict]:
    """A run's writes: 1,000 names again and again, and one new temporary name in 100."""
    for i in range(events):
        name = b"tmp%08x" % (run * events + i) if i % 100 == 0 else b"f%d" % (i % 1000)
        e = FileEvent(100 + run, 100 + run, b"/usr/bin/python3", "openat", "create",
                      b"/srv/app/cache/" + name, None, "O_WRONLY|O_CREAT", 0o644, 3, True)  # fmt: skip
        yield Verdict(e, False, None, "EROFS")


def main() -> None:
    n, events = int(sys.argv[1]), int(sys.argv[2])
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for run in range(n):
            path = os.path.join(d, f"r{run}.json")
            output = TraceOutput(path)
            Pipeline("/srv/app").tally(_verdicts(run, events), TraceHeader(["app"], "/srv/app", 0), output)
            output.close()
            paths.append(path)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        merge(paths, os.path.join(d, "merged.json"), [], [])
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak, start = after / 1024, before / 1024
        print(f"{n} traces x {events} events: peak RSS {peak:.0f} MiB (before merging {start:.0f} MiB)")


if __name__ == "__main__":
    main()
