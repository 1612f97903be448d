"""Benchmark rotrace against strace on real workloads (docs/performance.md).

For each workload it times, alternating the variants in every round, the median wall time of:
untraced; strace -f on rotrace's syscall set; the same with --seccomp-bpf; rotrace run
(default: writes only); rotrace run --all-opens; and with `--before PYTHON`, the same two under
another rotrace (an older checkout's venv: before and after in one run). It prints one table
per workload: median seconds, ratio to untraced, ratio to strace --seccomp-bpf, rotrace's peak
RSS (the larger VmHWM of its two processes, the tracer and the report process) and the events
rotrace recorded. F (`true`) adds rotrace's start-up against its Python's; A what attaching
costs (`rotrace run -p` on a gunicorn serving requests, benchmarks/attach.py). `--memory`
adds the flat-memory check (10^4 vs 10^6 events); `--cpu` the CPU time of the tracer itself
while each workload's command runs, strace's against rotrace's;
`--phases` where each run's time goes (before the command starts, the command, after it ends);
`--report` the report's work per event (its two passes over a workload's saved trace);
`--syscalls` the tracer's system calls per recorded write, by kind (placement among them);
`--per-write` the CPU per recorded write of strace's process and rotrace's two. The targets
table comes last: each target, what was measured, its ratio and whether it was met.

    scripts/bench [--rounds N] [--only W1,W2,W3,W4,F,A] [--before PYTHON] [--loop] [--memory] [--cpu]
                     [--phases] [--report] [--syscalls] [--per-write]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.uvtools import installed_uv

from benchmarks import attach, checks, targets, workloads
from benchmarks.harness import bench, console_script, emit, rotraces, table_lines


def _rounds(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of rounds (1 or more)")
    return int(text)


def _only(text: str) -> set[str]:
    """The workloads to run; NONE (or nothing) for the checks alone."""
    names = {n for n in text.split(",") if n and n != "NONE"}
    unknown = sorted(names - set(workloads.NAMES))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"no workload {', '.join(map(repr, unknown))} (there are {','.join(workloads.NAMES)})"
        )
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=_rounds, default=5, help="repetitions of each variant (default 5)")
    parser.add_argument(
        "--only",
        type=_only,
        default=set(workloads.NAMES),
        help="comma-separated workloads (A: attaching to a server), or NONE for the checks alone "
        "(default all)",
    )
    parser.add_argument(
        "--before", metavar="PYTHON", help="also time the rotrace of this Python (an older checkout's venv)"
    )
    parser.add_argument("--memory", action="store_true", help="also run the 10^4 / 10^6 events memory check")
    parser.add_argument(
        "--loop", action="store_true", help="also time 10^5 events: rotrace's loop against strace"
    )
    parser.add_argument(
        "--cpu", action="store_true", help="also measure the tracer's own CPU time, strace's and rotrace's"
    )
    parser.add_argument(
        "--phases", action="store_true", help="also split each run: start-up, the command, the work after it"
    )
    parser.add_argument(
        "--syscalls",
        action="store_true",
        help="also count the tracer's system calls per recorded write (one run under strace -o)",
    )
    parser.add_argument(
        "--per-write",
        action="store_true",
        help="also measure the CPU per recorded write of the tracers' own processes (whole run)",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="also time the report's two passes per event, over each workload's trace",
    )
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if shutil.which("strace") is None:
        raise SystemExit("bench: strace is needed (apt-get install strace)")
    uv = installed_uv()
    if uv is None:
        raise SystemExit("bench: uv is needed (pip install -e '.[test]')")
    if args.before is not None and not Path(console_script(args.before)).is_file():
        raise SystemExit(f"bench: no rotrace beside {args.before!r} (--before takes a venv's python)")
    # A user's Python writes bytecode on first import (this machine's PYTHONDONTWRITEBYTECODE
    # would make every run compile rotrace, rich and click from source): warm each rotrace once.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    for python in (sys.executable, *([args.before] if args.before else [])):
        warm = [console_script(python), "run", "-q", "--", "true"]
        if subprocess.run(warm, capture_output=True).returncode != 0:
            raise SystemExit(f"bench: {' '.join(map(repr, warm))} failed")
    print(f"rotrace bench: {args.rounds} rounds, median wall time; {os.cpu_count()} CPUs, "
          f"Linux {os.uname().release}, {os.uname().machine}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="rotrace-bench-") as tmp_str:
        tmp = Path(tmp_str)
        m = targets.Measured(list(rotraces(args.before)))
        made = workloads.make(args.only, tmp, uv)
        for w in made:
            m.results[w.name] = bench(w, args.rounds, tmp, args.before)
            emit(table_lines(w.title, m.results[w.name]))
        if "F" in args.only:
            fixed = workloads.fixed_cost(tmp)
            m.results["F"] = bench(fixed, max(args.rounds, 10), tmp, args.before)
            emit(table_lines(fixed.title, m.results["F"]))
            m.startup = checks.startup_check(tmp, max(args.rounds, targets.STARTUP_ROUNDS), args.before)
        if "A" in args.only:
            server = attach.setup(tmp, uv)
            m.attach = attach.bench(server, args.rounds, tmp, args.before)
            emit(attach.table_lines(attach.REQUESTS, m.attach))
        if args.cpu and made:
            checks.cpu_check(made, args.rounds, tmp, args.before)
        if args.phases and made:
            m.phases = checks.phases_check(made, args.rounds, tmp, args.before)
        if args.syscalls and made:
            m.syscalls = checks.syscall_check(made, tmp, args.before)
        if args.per_write and made:
            m.cpu = checks.cpu_per_write_check(made, args.rounds, tmp, args.before)
        if args.report and made:
            checks.report_check(made, args.rounds, tmp, args.before)
        if args.loop:
            checks.loop_check(tmp, min(args.rounds, 3))
        if args.memory:
            m.memory = checks.memory_check(tmp, args.before)
        emit(targets.lines(m))


if __name__ == "__main__":
    main()
