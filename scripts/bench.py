#!/usr/bin/env python3
"""Benchmark rotrace against strace on real workloads (docs/performance.md).

For each workload it times, alternating the variants in every round, the median wall time of:
untraced; strace -f on rotrace's syscall set; the same with --seccomp-bpf; rotrace run
(default: writes only); rotrace run --all-opens; and with `--before PYTHON`, the same two under
another rotrace (an older checkout's venv: before and after in one run). It prints one table
per workload: median seconds, ratio to untraced, ratio to strace --seccomp-bpf, rotrace's peak
RSS (the larger VmHWM of its two processes, the tracer and the report process) and the events
rotrace recorded. `--memory` adds the flat-memory check (10^4 vs 10^6 events); `--cpu` the
CPU time of the tracer itself while each workload's command runs, strace's against rotrace's;
`--phases` where each run's time goes (before the command starts, the command, after it ends);
`--report` the report's work per event (its two passes over a workload's saved trace).

    scripts/bench.py [--rounds N] [--only W1,W2,W3,W4,F] [--before PYTHON] [--loop] [--memory] [--cpu]
                     [--phases] [--report]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.uvtools import installed_uv, uv_env  # noqa: E402

from rotrace.tracer import procfs  # noqa: E402
from rotrace.tracer.arch import current_machine  # noqa: E402
from rotrace.tracer.syscalls import SPECS  # noqa: E402

# ~30 pure-Python wheels with many files between them (tzdata alone has ~600): W2's install.
W2_WHEELS = [
    "attrs==24.2.0", "babel==2.16.0", "certifi==2024.8.30", "click==8.1.7", "colorama==0.4.6",
    "decorator==5.1.1", "docutils==0.21.2", "idna==3.10", "iniconfig==2.0.0", "jinja2==3.1.4",
    "markdown-it-py==3.0.0", "mdurl==0.1.2", "more-itertools==10.5.0", "packaging==24.1",
    "pluggy==1.5.0", "pygments==2.18.0", "pyparsing==3.1.4", "pytest==8.3.3",
    "python-dateutil==2.9.0.post0", "pytz==2024.2", "requests==2.32.3", "rich==13.9.2",
    "six==1.16.0", "sortedcontainers==2.4.0", "toml==0.10.2", "tomli==2.0.2",
    "typing-extensions==4.12.2", "tzdata==2024.2", "urllib3==2.2.3", "wcwidth==0.2.13",
    "zipp==3.20.2", "soupsieve==2.6", "beautifulsoup4==4.12.3",
]  # fmt: skip
W2_NAMES = [w.split("==")[0] for w in W2_WHEELS]

# Modules whose import has side effects (a GUI, a browser, printing) or is not for importing.
_NO_IMPORT = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "__main__", "pydoc_data"}


def strace_set() -> str:
    table = current_machine().native
    return ",".join(sorted("?" + n for n in table.numbers if n in SPECS))  # ?: unknown to this strace


def strace_argv() -> list[str]:
    """strace -f on rotrace's syscall set, its output thrown away (add --seccomp-bpf to filter)."""
    return ["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"trace={strace_set()}"]


@dataclass
class Sample:
    seconds: list[float] = field(default_factory=list)
    panics: list[str] = field(default_factory=list)  # runs retried after a tokio panic
    rss_kb: int = 0
    events: int | None = None


def _rotrace_processes(session: int) -> list[psutil.Process]:
    """rotrace's processes in its session: the tracer and its report process (which is no child
    of the tracer), not the traced command's."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            argv = p.info["cmdline"] or []  # python -m rotrace, or python .../bin/rotrace
            if os.getsid(p.pid) == session and "rotrace" in {os.path.basename(a) for a in argv[1:3]}:
                found.append(p)
        except (OSError, psutil.Error):
            continue
    return found


def _peak_rss(proc: subprocess.Popen[bytes], out: list[int]) -> None:
    """Poll the VmHWM (peak RSS so far) of rotrace's processes until the tracer exits."""
    known: list[psutil.Process] = []
    while proc.poll() is None:
        if len(known) < 2:  # the report process is forked first thing: found within a poll or two
            known = _rotrace_processes(proc.pid)
        for p in known:  # a process gone reads as 0
            out[0] = max(out[0], procfs.status_int(p.pid, b"VmHWM", 0))
        time.sleep(0.01)


def timed(
    argv: list[str], cwd: Path, env: dict[str, str], measure_rss: bool, ok: tuple[int, ...] = (0,)
) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    rss = [0]
    poller = threading.Thread(target=_peak_rss, args=(proc, rss)) if measure_rss else None
    if poller:
        poller.start()
    code = proc.wait()
    elapsed = time.perf_counter() - start
    if poller:
        poller.join()
    if code not in ok:
        raise Failed(code, f"bench: {' '.join(argv)} exited {code}")
    return elapsed, rss[0]


class Failed(RuntimeError):
    """A run exited with an unexpected status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


TOKIO_PANIC = 101  # a Rust panic: uv 0.7 (tokio 1.45) under a tracer, see docs/architecture.md


def timed_retrying(argv: list[str], cwd: Path, env: dict[str, str], measure_rss: bool, ok: tuple[int, ...],
                   before: Callable[[], None], failures: list[str]) -> tuple[float, int]:  # fmt: skip
    """Run again when a traced uv panicked in tokio's pidfd reaper (strace makes it happen)."""
    for attempt in range(5):
        before()
        try:
            return timed(argv, cwd, env, measure_rss, ok + ((TOKIO_PANIC,) if attempt == 4 else ()))
        except Failed as exc:
            if exc.code != TOKIO_PANIC:
                raise SystemExit(str(exc)) from None
            failures.append(argv[0])
    raise SystemExit("bench: unreachable")


@dataclass
class Workload:
    name: str
    title: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    before_each: Callable[[], None] = lambda: None


def console_script(python: str) -> str:
    """The `rotrace` command beside a venv's Python: what users run (no runpy, no -m)."""
    return str(Path(python).parent / "rotrace")


def variants(w: Workload, json_path: Path, before: str | None) -> dict[str, list[str]]:
    rotrace = [console_script(sys.executable), "run", "--json", str(json_path)]
    strace = strace_argv()
    runs = {
        "untraced": w.argv,
        "strace": [*strace, *w.argv],
        "strace --seccomp-bpf": [*strace, "--seccomp-bpf", *w.argv],
        "rotrace": [*rotrace, "--", *w.argv],
        "rotrace --all-opens": [*rotrace, "--all-opens", "--", *w.argv],
    }
    if before is not None:
        old = [console_script(before), "run", "--json", str(json_path)]
        runs["rotrace (before)"] = [*old, "--", *w.argv]
        runs["rotrace --all-opens (before)"] = [*old, "--all-opens", "--", *w.argv]
    return runs


def bench(w: Workload, rounds: int, tmp: Path, before: str | None) -> dict[str, Sample]:
    json_path = tmp / f"{w.name}.json"
    runs = variants(w, json_path, before)
    if w.name == "F":  # the floor under any Python tool: the interpreter's own start-up
        runs["python -c pass"] = [sys.executable, "-c", "pass"]
    samples = {k: Sample() for k in runs}
    # The timed rounds, then one run of each rotrace variant for its peak RSS: the sampling
    # would take CPU from rotrace's two processes on a two-core machine.
    for measure_rss in [False] * rounds + [True]:
        for key, argv in runs.items():
            is_rotrace = key.startswith("rotrace")  # exits 1 when it found violations: a fine run
            if measure_rss and not is_rotrace:
                continue
            elapsed, rss = timed_retrying(
                argv, w.cwd, w.env, measure_rss, (0, 1) if is_rotrace else (0,), w.before_each,
                samples[key].panics,
            )  # fmt: skip
            s = samples[key]
            if measure_rss:
                s.rss_kb = rss
            else:
                s.seconds.append(elapsed)
            if is_rotrace:
                s.events = json.loads(json_path.read_text())["summary"]["events"]
    return samples


# Issue 13's targets: (workload, variant, the most it may cost against strace --seccomp-bpf).
TARGETS = (
    ("W1", "rotrace", 2.0),
    ("W2", "rotrace", 1.0),
    ("W4", "rotrace", 1.0),
    ("W3", "rotrace --all-opens", 1.2),
)
FIXED_COST_TARGET = 0.080  # seconds for `rotrace run -- true`


def print_targets(results: dict[str, dict[str, Sample]]) -> None:
    print("\nTargets (issue 13)")
    print("| target | measured | met |")
    print("|---|---:|:---:|")
    for name, variant, most in TARGETS:
        if name in results:
            samples = results[name]
            ratio = statistics.median(samples[variant].seconds) / statistics.median(
                samples["strace --seccomp-bpf"].seconds
            )
            met = "yes" if ratio <= most else "no"
            print(f"| {name} {variant} ≤ {most:.1f}× strace --seccomp-bpf | {ratio:.2f}× | {met} |")
    if "F" in results:
        fixed = statistics.median(results["F"]["rotrace"].seconds)
        floor = statistics.median(results["F"]["python -c pass"].seconds)
        met = "yes" if fixed <= FIXED_COST_TARGET else "no"
        print(f"| `rotrace run -- true` ≤ {FIXED_COST_TARGET * 1000:.0f} ms | {fixed * 1000:.0f} ms "
              f"({(fixed - floor) * 1000:.0f} ms over `python -c pass`) | {met} |")  # fmt: skip
    sys.stdout.flush()


def print_table(title: str, samples: dict[str, Sample]) -> None:
    base = statistics.median(samples["untraced"].seconds)
    bpf = statistics.median(samples["strace --seccomp-bpf"].seconds)
    print(f"\n{title}")
    print("| variant | median s | × untraced | × strace --seccomp-bpf | rotrace peak RSS | events |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, s in samples.items():
        med = statistics.median(s.seconds)
        rss = f"{s.rss_kb / 1024:.0f} MiB" if s.rss_kb else ""
        events = "" if s.events is None else str(s.events)
        print(f"| {key} | {med:.3f} | {med / base:.2f} | {med / bpf:.2f} | {rss} | {events} |")
    for key, s in samples.items():
        if s.panics:
            print(
                f"\nUnder {key}, uv panicked in tokio's pidfd reaper {len(s.panics)} times (runs repeated)."
            )
    sys.stdout.flush()


# -- workloads ------------------------------------------------------------------------------------


def w1(tmp: Path, uv: str) -> Workload:
    project = tmp / "w1"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "w1"\nversion = "0"\nrequires-python = ">=3.8"\ndependencies = []\n'
    )
    env = uv_env()
    subprocess.run([uv, "sync", "--offline"], cwd=project, env=env, check=True, capture_output=True)
    env.update(UV_FROZEN="true")
    argv = [uv, "run", "python", "--version"]
    subprocess.run(argv, cwd=project, env=env, check=True, capture_output=True)  # warm
    return Workload("W1", "W1 `uv run python --version` (synced project, frozen, warm)", argv, project, env)


def wheelhouse() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rotrace" / "bench-wheels"
    if len(list(cache.glob("*.whl"))) < len(W2_WHEELS):
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:",
             "--dest", str(cache), *W2_WHEELS],
            check=True,
        )  # fmt: skip
    return cache


def w2(tmp: Path, uv: str) -> Workload:
    wheels = wheelhouse()
    project = tmp / "w2"
    project.mkdir()
    deps = ", ".join(f'"{n}"' for n in W2_NAMES)
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "w2"\nversion = "0"\nrequires-python = ">=3.11"\ndependencies = [{deps}]\n'
        f'[tool.uv]\nno-index = true\nfind-links = ["{wheels}"]\n'
    )
    env = uv_env()
    env["UV_CACHE_DIR"] = str(tmp / "w2-cache")
    subprocess.run([uv, "lock", "--offline"], cwd=project, env=env, check=True, capture_output=True)
    argv = [uv, "sync", "--offline", "--frozen"]
    subprocess.run(argv, cwd=project, env=env, check=True, capture_output=True)  # warm the cache

    def fresh_venv() -> None:
        shutil.rmtree(project / ".venv", ignore_errors=True)

    title = f"W2 `uv sync --offline` of {len(W2_WHEELS)} local wheels into a fresh .venv (warm cache)"
    return Workload("W2", title, argv, project, env, fresh_venv)


def w4(tmp: Path, uv: str) -> Workload:
    """`uv pip install` of the wheels into a fresh venv with an empty cache: uv unpacks every
    wheel into its cache, then links the files into the venv (the heaviest writer here)."""
    wheels = wheelhouse()
    venv = tmp / "w4-venv"
    cache = tmp / "w4-cache"
    env = uv_env()
    env["UV_CACHE_DIR"] = str(cache)
    argv = [uv, "pip", "install", "--python", str(venv / "bin" / "python"), "--offline", "--no-index",
            "--find-links", str(wheels), *W2_WHEELS]  # fmt: skip

    def fresh() -> None:
        shutil.rmtree(venv, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
        subprocess.run([uv, "venv", "--quiet", str(venv)], env=env, check=True, capture_output=True)

    fresh()
    subprocess.run(argv, cwd=tmp, env=env, check=True, capture_output=True)  # it works at all
    title = f"W4 `uv pip install` of {len(W2_WHEELS)} local wheels into a fresh venv (empty cache)"
    return Workload("W4", title, argv, tmp, env, fresh)


def w3(tmp: Path) -> Workload:
    names = sorted(n for n in sys.stdlib_module_names if not n.startswith("_") and n not in _NO_IMPORT)
    code = (
        "import importlib, warnings\nwarnings.simplefilter('ignore')\nn = 0\n"
        f"for m in {names!r}:\n"
        "    try:\n        importlib.import_module(m); n += 1\n    except Exception:\n        pass\n"
    )
    script = tmp / "w3.py"
    script.write_text(code)
    argv = [sys.executable, "-B", str(script)]
    return Workload(
        "W3", f"W3 read-heavy start-up: import {len(names)} stdlib modules", argv, tmp, dict(os.environ)
    )


def write_opens(target: Path, n: int) -> str:
    """A Python program making n write opens (n recorded events, two stops each)."""
    flags = "os.O_WRONLY | os.O_CREAT"
    return f"import os\nfor _ in range({n}):\n    os.close(os.open({str(target)!r}, {flags}))\n"


def memory_check(tmp: Path) -> None:
    """rotrace's peak RSS for 10^4 and 10^6 recorded events: it must not grow with them."""
    print("\nMemory: rotrace's peak RSS against the number of events")
    print("| events | wall s | rotrace peak RSS |")
    print("|---:|---:|---:|")
    target = tmp / "m.txt"
    for n in (10_000, 1_000_000):
        program = write_opens(target, n)
        traced = [sys.executable, "-c", program]
        argv = [console_script(sys.executable), "run", "--json", "/dev/null", "--", *traced]
        report = tmp / "m.txt.report"
        with report.open("w") as err:
            start = time.perf_counter()
            proc = subprocess.Popen(
                argv, cwd=tmp, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
            )
            rss = [0]
            poller = threading.Thread(target=_peak_rss, args=(proc, rss))
            poller.start()
            proc.wait()
            poller.join()
            elapsed = time.perf_counter() - start
        match = re.search(r"([\d,]+) writes?\b", report.read_text())  # the verdict line
        events = match.group(1).replace(",", "") if match else "?"
        print(f"| {events} | {elapsed:.1f} | {rss[0] / 1024:.0f} MiB |")
        sys.stdout.flush()


LOOP_ONLY = """
import sys, time
from rotrace.tracer import TraceOptions, trace_command
trace_command(sys.argv[1:], lambda event: None, TraceOptions())
"""


def loop_check(tmp: Path, rounds: int) -> None:
    """Per-event cost: 10^5 write opens, untraced, under strace --seccomp-bpf, and under
    rotrace's tracing loop alone (no classification, JSON or report) and whole."""
    target = tmp / "l.txt"
    argv = [sys.executable, "-c", write_opens(target, 100_000)]
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
    print("\nPer event: 10^5 open(O_WRONLY|O_CREAT) calls")
    print("| variant | median s | µs per event |")
    print("|---|---:|---:|")
    for key, xs in times.items():
        med = statistics.median(xs)
        print(f"| {key} | {med:.2f} | {med * 10:.0f} |")
    sys.stdout.flush()


# Run by the traced shell: its parent is the tracer (strace and rotrace both start the command
# as their child), whose CPU time (the first field of /proc/PID/schedstat, in ns) it reads
# before and after the command, with shell builtins only (no process of its own to trace).
_TRACER_CPU = (
    'read -r a _ < /proc/$PPID/schedstat; "$@"; s=$?; read -r b _ < /proc/$PPID/schedstat;'
    ' echo $((b - a)) > "$BENCH_CPU_FILE"; exit $s'
)


def rotraces(before: str | None) -> dict[str, str]:
    """The Python of each rotrace to run: this checkout's, and with --before the other one."""
    return {"rotrace": sys.executable, **({"rotrace (before)": before} if before else {})}


def around_shell(w: Workload, tmp: Path, script: str, env: dict[str, str], rounds: int, before: str | None,
                 read: Callable[[str, float], None]) -> None:  # fmt: skip
    """Each tracer (strace --seccomp-bpf, rotrace, the --before rotrace) around `sh -c script
    COMMAND...`, alternating round by round; `read(variant, seconds)` after each run."""
    runs = {"strace --seccomp-bpf": [*strace_argv(), "--seccomp-bpf"]}
    for key, python in rotraces(before).items():
        runs[key] = [console_script(python), "run", "-q", "--json", str(tmp / f"{w.name}.json"), "--"]
    shell = ["sh", "-c", script, "sh", *w.argv]
    panics: list[str] = []
    for _ in range(rounds):
        for key, tracer in runs.items():
            ok = (0,) if key.startswith("strace") else (0, 1)  # rotrace exits 1 for violations
            elapsed, _ = timed_retrying([*tracer, *shell], w.cwd, env, False, ok, w.before_each, panics)
            read(key, elapsed)


def cpu_check(w: Workload, rounds: int, tmp: Path) -> None:
    """The tracer's own CPU time while the command runs: what the traced command competes with
    for the machine's cores (docs/performance.md, "Where the time goes")."""
    out = tmp / f"{w.name}.cpu"
    ms: dict[str, list[float]] = {}

    def read(key: str, _seconds: float) -> None:
        ms.setdefault(key, []).append(int(out.read_text()) / 1e6)

    around_shell(w, tmp, _TRACER_CPU, dict(w.env, BENCH_CPU_FILE=str(out)), rounds, None, read)
    cells = " | ".join(f"{statistics.median(xs):.0f}" for xs in ms.values())
    print(f"| {w.name} | {cells} |")
    sys.stdout.flush()


# Run by the traced shell: the wall clock (ns) as the command starts and as it ends, so that a
# run splits into the tracer's start-up, the command, and the work after it.
_PHASES = 'date +%s%N > "$BENCH_T0"; "$@"; s=$?; date +%s%N > "$BENCH_T1"; exit $s'


def phases_check(w: Workload, rounds: int, tmp: Path, before: str | None) -> None:
    """Where a run's time goes: until the command starts, the command, and after it exits,
    under strace --seccomp-bpf and rotrace (docs/performance.md, "Where the time goes")."""
    t0, t1 = tmp / "t0", tmp / "t1"
    phases: dict[str, list[tuple[float, float, float]]] = {}

    def read(key: str, seconds: float) -> None:
        exited = time.time_ns()
        launched, started, ended = exited - seconds * 1e9, int(t0.read_text()), int(t1.read_text())
        phases.setdefault(key, []).append(
            ((started - launched) / 1e6, (ended - started) / 1e6, (exited - ended) / 1e6)
        )

    around_shell(w, tmp, _PHASES, dict(w.env, BENCH_T0=str(t0), BENCH_T1=str(t1)), rounds, before, read)
    for key, rows in phases.items():
        cells = " | ".join(f"{statistics.median(x):.0f}" for x in zip(*rows, strict=True))
        print(f"| {w.name} | {key} | {cells} |")
    sys.stdout.flush()


# Run under each rotrace's Python: the report's work per event over a saved trace, read first
# (untimed): the first pass (classify, count, learn the mounts, write the event's JSON line) and
# the second (place each write, group it for the report), as `run`'s report process does them.
REPORT_PASSES = """
import io, statistics, sys, time
from rotrace.policy.allowlist import build_allowlist
from rotrace.policy.mounts import MountPlanner
from rotrace.policy.verdict import Classifier, Summary
from rotrace.report.aggregate import Aggregate
from rotrace.tracefile import TraceWriter, read_trace
header, stored = read_trace(sys.argv[1])
events = [v.event for v in stored]
allowlist = build_allowlist([], None)
first, second = [], []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    classifier, summary = Classifier(allowlist, header.processes), Summary()
    planner, writer = MountPlanner(header.cwd), TraceWriter(io.StringIO(), header)
    verdicts = []
    for e in events:
        classifier.learn(e)
        v = classifier.classify(e)
        summary.add(v)
        planner.learn(v)
        writer.add(v)
        verdicts.append(v)
    middle = time.perf_counter()
    planner.know_directories(header.directories)
    aggregate = Aggregate()
    for v in verdicts:
        aggregate.add(v, planner.place(v))
    planner.plan()
    first.append(middle - start)
    second.append(time.perf_counter() - middle)
n = len(events)
print(f"{statistics.median(first) * 1e6 / n:.1f} {statistics.median(second) * 1e6 / n:.1f}")
"""


def report_check(w: Workload, rounds: int, tmp: Path, before: str | None) -> None:
    """The report's work per event: both passes over the events of one `rotrace run` of the
    workload, timed in-process, no start-up, no reading (docs/performance.md, "Where the time goes")."""
    trace = tmp / f"{w.name}.report.json"
    w.before_each()
    argv = [console_script(sys.executable), "run", "-q", "--json", str(trace), "--", *w.argv]
    timed(argv, w.cwd, w.env, False, (0, 1))
    events = json.loads(trace.read_text())["summary"]["events"]
    if not events:
        print(f"| {w.name} | 0 | (no events) |")
        return
    cells = []
    for python in rotraces(before).values():
        passes = [python, "-c", REPORT_PASSES, str(trace), str(max(rounds, 5))]
        first, second = subprocess.run(
            passes, cwd=w.cwd, check=True, capture_output=True, text=True
        ).stdout.split()
        cells.append(f"{first} + {second}")
    print(f"| {w.name} | {events} | {' | '.join(cells)} |")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="repetitions of each variant (default 5)")
    parser.add_argument("--only", default="W1,W2,W3,W4,F", help="comma-separated workloads (default all)")
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
        "--report",
        action="store_true",
        help="also time the report's two passes per event, over each workload's trace",
    )
    args = parser.parse_args()
    if shutil.which("strace") is None:
        raise SystemExit("bench: strace is needed (apt-get install strace)")
    uv = installed_uv()
    if uv is None:
        raise SystemExit("bench: uv is needed (pip install -e '.[test]')")
    only = set(args.only.split(","))
    # A user's Python writes bytecode on first import (this machine's PYTHONDONTWRITEBYTECODE
    # would make every run compile rotrace, rich and click from source): warm each rotrace once.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    for python in (sys.executable, *([args.before] if args.before else [])):
        subprocess.run([console_script(python), "run", "-q", "--", "true"], check=True, capture_output=True)
    print(f"rotrace bench: {args.rounds} rounds, median wall time; {os.cpu_count()} CPUs, "
          f"Linux {os.uname().release}, {os.uname().machine}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="rotrace-bench-") as tmp_str:
        tmp = Path(tmp_str)
        makers: dict[str, Callable[[], Workload]] = {
            "W1": lambda: w1(tmp, uv),
            "W2": lambda: w2(tmp, uv),
            "W3": lambda: w3(tmp),
            "W4": lambda: w4(tmp, uv),
        }
        results: dict[str, dict[str, Sample]] = {}
        workloads = [make() for name, make in makers.items() if name in only]
        for w in workloads:
            results[w.name] = bench(w, args.rounds, tmp, args.before)
            print_table(w.title, results[w.name])
        fixed = Workload("F", "rotrace's fixed cost: `true`", ["true"], tmp, dict(os.environ))
        if "F" in only:
            results["F"] = bench(fixed, max(args.rounds, 10), tmp, args.before)
            print_table(fixed.title, results["F"])
        if results:
            print_targets(results)
        if args.cpu and workloads:
            print("\nThe tracer's own CPU time while the command runs (ms, medians)")
            print("| workload | strace --seccomp-bpf | rotrace |")
            print("|---|---:|---:|")
            for w in workloads:
                cpu_check(w, args.rounds, tmp)
        if args.phases and workloads:
            print(
                "\nWhere the time goes: until the command starts, the command, after it exits (ms, medians)"
            )
            print("| workload | variant | start-up | command | after |")
            print("|---|---|---:|---:|---:|")
            for w in workloads:
                phases_check(w, args.rounds, tmp, args.before)
        if args.report and workloads:
            print("\nThe report's CPU per event: first pass + second pass (µs, medians)")
            print("| workload | events | rotrace |" + (" rotrace (before) |" if args.before else ""))
            print("|---|---:|---:|" + ("---:|" if args.before else ""))
            for w in workloads:
                report_check(w, args.rounds, tmp, args.before)
        if args.loop:
            loop_check(tmp, min(args.rounds, 3))
        if args.memory:
            memory_check(tmp)


if __name__ == "__main__":
    main()
