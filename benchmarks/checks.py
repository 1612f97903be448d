"""The benchmark's optional checks, each a table after the workloads' own: rotrace's start-up
against Python's (with F); the tracer's CPU time (--cpu); where a run's time goes (--phases);
the report's work per event (--report); the per-event cost of the tracing loop (--loop); memory
against the number of events (--memory); the tracer's system calls per write (--syscalls) and
the CPU per write (--per-write). docs/performance.md says what each shows; the checks whose
figures a target bounds return them (benchmarks/targets.py)."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.harness import (
    ROOT,
    around_shell,
    console_script,
    emit,
    has_module,
    peak_rss,
    rotraces,
    strace_argv,
    timed,
)
from benchmarks.workloads import Workload, write_opens


def _header(title: str, columns: list[str], right: int) -> list[str]:
    """A table's title and head: the first columns left-aligned, the last `right` ones right."""
    rule = "|" + "---|" * (len(columns) - right) + "---:|" * right
    return ["", title, "| " + " | ".join(columns) + " |", rule]


# Run by the traced shell: its parent is the tracer (strace and rotrace both start the command
# as their child), whose CPU time (the first field of /proc/PID/schedstat, in ns) it reads
# before and after the command, with shell builtins only (no process of its own to trace).
_TRACER_CPU = (
    'read -r a _ < /proc/$PPID/schedstat; "$@"; s=$?; read -r b _ < /proc/$PPID/schedstat;'
    ' echo $((b - a)) > "$BENCH_CPU_FILE"; exit $s'
)


def cpu_check(workloads: list[Workload], rounds: int, tmp: Path, before: str | None) -> None:
    """The tracer's own CPU time while the command runs: what the traced command competes with
    for the machine's cores."""
    tracers = ["strace --seccomp-bpf", *rotraces(before)]
    title = "The tracer's own CPU time while the command runs (ms, medians)"
    emit(_header(title, ["workload", *tracers], len(tracers)))
    for w in workloads:
        emit([_cpu_row(w, rounds, tmp, before)])


def _cpu_row(w: Workload, rounds: int, tmp: Path, before: str | None) -> str:
    out = tmp / f"{w.name}.cpu"

    def cpu_ms(_seconds: float) -> float:
        return int(out.read_text()) / 1e6

    ms = around_shell(w, tmp, _TRACER_CPU, dict(w.env, BENCH_CPU_FILE=str(out)), rounds, before, cpu_ms)
    return f"| {w.name} | " + " | ".join(f"{statistics.median(xs):.0f}" for xs in ms.values()) + " |"


# Run by the traced shell: the wall clock (ns) as the command starts and as it ends, so that a
# run splits into the tracer's start-up, the command, and the work after it.
_PHASES = 'date +%s%N > "$BENCH_T0"; "$@"; s=$?; date +%s%N > "$BENCH_T1"; exit $s'


def split_phases(
    exited_ns: int, seconds: float, started_ns: int, ended_ns: int
) -> tuple[float, float, float]:
    """A run of `seconds` that ended at `exited_ns`, its command between `started_ns` and
    `ended_ns`: milliseconds until the command started, of the command, and after it ended."""
    launched = exited_ns - seconds * 1e9
    return (started_ns - launched) / 1e6, (ended_ns - started_ns) / 1e6, (exited_ns - ended_ns) / 1e6


Phases = tuple[float, float, float]  # ms: until the command starts, the command, after it


def phases_check(
    workloads: list[Workload], rounds: int, tmp: Path, before: str | None
) -> dict[str, dict[str, Phases]]:
    """Where a run's time goes: until the command starts, the command, and after it exits,
    under strace --seccomp-bpf and each rotrace; the medians, by workload and tracer."""
    title = "Where the time goes: until the command starts, the command, after it exits (ms, medians)"
    emit(_header(title, ["workload", "variant", "start-up", "command", "after"], 3))
    found = {}
    for w in workloads:
        found[w.name] = _phases(w, rounds, tmp, before)
        emit([f"| {w.name} | {key} | " + " | ".join(f"{ms:.0f}" for ms in medians) + " |"
              for key, medians in found[w.name].items()])  # fmt: skip
    return found


def _phases(w: Workload, rounds: int, tmp: Path, before: str | None) -> dict[str, Phases]:
    t0, t1 = tmp / "t0", tmp / "t1"

    def phases(seconds: float) -> Phases:
        return split_phases(time.time_ns(), seconds, int(t0.read_text()), int(t1.read_text()))

    env = dict(w.env, BENCH_T0=str(t0), BENCH_T1=str(t1))
    found = {}
    for key, runs in around_shell(w, tmp, _PHASES, env, rounds, before, phases).items():
        start, command, after = (statistics.median(x) for x in zip(*runs, strict=True))
        found[key] = (start, command, after)
    return found


def report_passes(python: str, trace: Path, rounds: int) -> str:
    """`FIRST + SECOND`, the report's two passes in µs per event under that Python's rotrace, or
    n/a for a rotrace older than the pipeline module the passes are built through."""
    if not has_module(python, "rotrace.pipeline"):
        return "n/a"
    passes = [python, "-m", "benchmarks.report_passes", str(trace), str(rounds)]
    first, second = subprocess.run(
        passes, cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    return f"{first} + {second}"


def report_check(workloads: list[Workload], rounds: int, tmp: Path, before: str | None) -> None:
    """The report's work per event: both passes over the events of one `rotrace run` of each
    workload, timed in-process, no start-up, no reading."""
    pythons = rotraces(before)
    title = "The report's CPU per event: first pass + second pass (µs, medians)"
    emit(_header(title, ["workload", "events", *pythons], 1 + len(pythons)))
    for w in workloads:
        trace = tmp / f"{w.name}.report.json"
        w.before_each()
        argv = [console_script(sys.executable), "run", "-q", "--json", str(trace), "--", *w.argv]
        timed(argv, w.cwd, w.env, False, (0, 1))
        events = json.loads(trace.read_text())["summary"]["events"]
        if not events:
            emit([f"| {w.name} | 0 | (no events) |"])
            continue
        cells = [report_passes(python, trace, max(rounds, 5)) for python in pythons.values()]
        emit([f"| {w.name} | {events} | {' | '.join(cells)} |"])


LOOP_ONLY = """
import sys
from rotrace.tracer import TraceOptions, trace_command
trace_command(sys.argv[1:], lambda event: None, TraceOptions())
"""


def loop_check(tmp: Path, rounds: int) -> None:
    """Per-event cost: 10^5 write opens, untraced, under strace --seccomp-bpf, and under
    rotrace's tracing loop alone (no classification, JSON or report) and whole."""
    argv = [sys.executable, "-c", write_opens(tmp / "l.txt", 100_000)]
    runs = {
        "untraced": argv,
        "strace --seccomp-bpf": [
            "strace",
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "--seccomp-bpf",
            "-e",
            "trace=openat",
            *argv,
        ],
        "rotrace loop only": [sys.executable, "-c", LOOP_ONLY, *argv],
        "rotrace run": [console_script(sys.executable), "run", "--json", "/dev/null", "--", *argv],
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for key, cmd in runs.items():
            times[key].append(timed(cmd, tmp, dict(os.environ), measure_rss=False)[0])
    lines = _header(
        "Per event: 10^5 open(O_WRONLY|O_CREAT) calls", ["variant", "median s", "µs per event"], 2
    )
    for key, xs in times.items():
        med = statistics.median(xs)
        lines.append(f"| {key} | {med:.2f} | {med * 10:.0f} |")
    emit(lines)


def memory_check(tmp: Path, before: str | None) -> dict[str, tuple[int, int]]:
    """Each rotrace's peak RSS for 10^4 and 10^6 recorded events: it must not grow with them.
    Returns the two peaks (KiB), by rotrace."""
    columns = ["rotrace", "events", "wall s", "rotrace peak RSS"]
    emit(_header("Memory: rotrace's peak RSS against the number of events", columns, 3))
    target = tmp / "m.txt"
    found: dict[str, tuple[int, int]] = {}
    for key, python in rotraces(before).items():
        peaks = []
        for n in (10_000, 1_000_000):
            traced = [sys.executable, "-c", write_opens(target, n)]
            argv = [console_script(python), "run", "--json", "/dev/null", "--", *traced]
            elapsed, rss, events = _peak_of(argv, tmp)
            peaks.append(rss)
            emit([f"| {key} | {events} | {elapsed:.1f} | {rss / 1024:.0f} MiB |"])
        found[key] = (peaks[0], peaks[1])
    return found


def _peak_of(argv: list[str], tmp: Path) -> tuple[float, int, str]:
    """One rotrace run: its wall time, its peak RSS (KiB) and the writes its verdict line counts."""
    with tempfile.TemporaryFile("w+", dir=tmp) as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=tmp, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        rss = [0]
        poller = threading.Thread(target=peak_rss, args=(proc, rss))
        poller.start()
        proc.wait()
        poller.join()
        elapsed = time.perf_counter() - start
        err.seek(0)
        match = re.search(r"([\d,]+) writes?\b", err.read())  # the verdict line
    return elapsed, rss[0], match.group(1).replace(",", "") if match else "?"


# Where the tracer's system calls go while it traces (strace -o on the tracer alone, between
# its first and last wait4): the ptrace core every tracer makes, reading the tracee's memory,
# the pipe to the report process, the Python runtime's own (memory, signals, threads), and
# placement: every other call, in practice readlink of /proc/PID/fd/N and /proc/PID/cwd,
# openat and close of directories, newfstatat, getdents64 and the mountinfo reads (lseek, read,
# poll) by which the tracer places each path and records its directory's state.
_SYSCALL_GROUPS = (
    ("ptrace core", {"wait4", "ptrace", "waitid"}),
    ("memory", {"pread64", "process_vm_readv"}),
    ("to the report", {"write"}),
    ("runtime", {"mmap", "munmap", "mremap", "mprotect", "madvise", "brk", "rt_sigaction", "rt_sigprocmask",
                 "rt_sigreturn", "sigaltstack", "futex", "getpid", "gettid", "clock_gettime", "sched_yield"}),
)  # fmt: skip
PLACEMENT = "placement"


def count_syscalls(strace_output: str) -> dict[str, int]:
    """The tracer's syscalls by group, from `strace -o` output (no -f): only those between its
    first and last wait4, the tracing loop (not Python's start-up or the report)."""
    lines = strace_output.splitlines()
    loop = [i for i, line in enumerate(lines) if line.startswith("wait4(")]
    counts = {name: 0 for name, _ in _SYSCALL_GROUPS} | {PLACEMENT: 0}
    if not loop:
        return counts
    for line in lines[loop[0] : loop[-1] + 1]:
        match = re.match(r"([a-z_0-9]+)\(", line)
        if match is None:
            continue
        group = next((n for n, names in _SYSCALL_GROUPS if match.group(1) in names), PLACEMENT)
        counts[group] += 1
    return counts


def syscall_check(
    workloads: list[Workload], tmp: Path, before: str | None
) -> dict[str, dict[str, dict[str, float]]]:
    """The tracer's system calls per recorded write, by group, one run of each rotrace under
    `strace -o` (the tracer process alone: strace without -f)."""
    groups = [name for name, _ in _SYSCALL_GROUPS] + [PLACEMENT]
    title = "The tracer's system calls per recorded write, while it traces (one run each)"
    emit(_header(title, ["workload", "rotrace", "writes", "all", *groups], 2 + len(groups)))
    found: dict[str, dict[str, dict[str, float]]] = {}
    for w in workloads:
        for key, python in rotraces(before).items():
            trace, out = tmp / f"{w.name}.sys.json", tmp / f"{w.name}.strace"
            w.before_each()
            rotrace = [console_script(python), "run", "-q", "--json", str(trace)]
            argv = ["strace", "-qq", "-o", str(out), *rotrace, "--", *w.argv]
            timed(argv, w.cwd, w.env, False, (0, 1))
            events = json.loads(trace.read_text())["summary"]["events"] or 1
            counts = count_syscalls(out.read_text(errors="replace"))
            per = {"all": sum(counts.values()) / events} | {g: counts[g] / events for g in groups}
            found.setdefault(w.name, {})[key] = per
            emit([f"| {w.name} | {key} | {events} | {' | '.join(f'{v:.2f}' for v in per.values())} |"])
    return found


PR_SET_CHILD_SUBREAPER = 36


def own_cpu(argv: list[str], cwd: Path, env: dict[str, str], tools: frozenset[str]) -> float:
    """Run argv; the CPU seconds the tool's own processes used (each process named in `tools`,
    its children's time left out), read from /proc/PID/stat while each is a zombie. This process
    is made a subreaper, so that rotrace's report process (double-forked) is reparented here."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    tick = os.sysconf("SC_CLK_TCK")
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    total = 0.0
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            break
        if info is None:
            continue
        try:
            stat = Path(f"/proc/{info.si_pid}/stat").read_text()
        except OSError:
            stat = ""
        name, _, rest = stat.partition("(")[2].rpartition(")")
        if name in tools:
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime: its own, not its children's
        os.waitpid(info.si_pid, 0)
    proc.returncode = 0
    return total


def cpu_per_write_check(
    workloads: list[Workload], rounds: int, tmp: Path, before: str | None
) -> dict[str, dict[str, float]]:
    """CPU per recorded write of the whole run: strace's process against rotrace's two (the
    tracer and the report process), the traced command's own CPU left out."""
    tracers = ["strace --seccomp-bpf", *rotraces(before)]
    title = "CPU per recorded write, the tracer's processes over the whole run (µs, medians)"
    emit(_header(title, ["workload", "writes", *tracers], 1 + len(tracers)))
    found: dict[str, dict[str, float]] = {}
    for w in workloads:
        trace = tmp / f"{w.name}.cpu.json"
        runs = {"strace --seccomp-bpf": [*strace_argv(), "--seccomp-bpf", *w.argv]}
        for key, python in rotraces(before).items():
            runs[key] = [console_script(python), "run", "-q", "--json", str(trace), "--", *w.argv]
        cpu: dict[str, list[float]] = {k: [] for k in runs}
        events = 0
        for _ in range(rounds):
            for key, argv in runs.items():
                w.before_each()
                cpu[key].append(own_cpu(argv, w.cwd, w.env, frozenset({"strace", "rotrace"})))
                if key.startswith("rotrace"):
                    events = json.loads(trace.read_text())["summary"]["events"]
        found[w.name] = {k: statistics.median(xs) / max(events, 1) * 1e6 for k, xs in cpu.items()}
        emit([f"| {w.name} | {events} | " + " | ".join(f"{p:.0f}" for p in found[w.name].values()) + " |"])
    return found


def startup_check(tmp: Path, rounds: int, before: str | None) -> dict[str, tuple[float, float]]:
    """rotrace's start-up as a script meets it: `rotrace run -q -- /bin/true` against `python -c
    pass` of the same venv, both with stdout and stderr piped, alternating run by run. Returns
    each rotrace's median seconds and its Python's."""
    runs: dict[tuple[str, str], list[str]] = {}
    for key, python in rotraces(before).items():
        runs[key, "python"] = [python, "-c", "pass"]
        runs[key, "rotrace"] = [console_script(python), "run", "-q", "--", "/bin/true"]
    times: dict[tuple[str, str], list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for k, argv in runs.items():
            start = time.perf_counter()
            done = subprocess.run(argv, cwd=tmp, capture_output=True)  # piped, as a script reads it
            times[k].append(time.perf_counter() - start)
            if done.returncode != 0:
                raise SystemExit(f"bench: {' '.join(argv)} exited {done.returncode}")
    title = (
        "Start-up: `rotrace run -q -- /bin/true` against its venv's `python -c pass`, output piped "
        f"(ms, medians of {rounds} interleaved runs)"
    )
    columns = ["rotrace", "python -c pass", "rotrace run -q -- /bin/true", "over"]
    emit(_header(title, columns, 3))
    found = {}
    for key in rotraces(before):
        mine, floor = statistics.median(times[key, "rotrace"]), statistics.median(times[key, "python"])
        found[key] = (mine, floor)
        emit([f"| {key} | {floor * 1000:.0f} | {mine * 1000:.0f} | {(mine - floor) * 1000:.0f} |"])
    return found
