"""How the benchmark runs and times a command: its strace command lines, the wall clock of a
run and the peak RSS of rotrace's processes, retries after uv's known panic under a tracer,
the rounds that alternate every variant (so that load from elsewhere on the machine falls on
all of them alike), and which rotraces run (this checkout's, and an older one's with --before)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import psutil

from benchmarks.workloads import Workload
from rotrace.tracer.linux import procfs
from rotrace.tracer.linux.arch import current_machine
from rotrace.tracer.syscalls import SPECS

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent

TOKIO_PANIC = 101  # a Rust panic: uv 0.7 (tokio 1.45) under a tracer, see docs/architecture.md


def strace_set() -> str:
    table = current_machine().native
    return ",".join(sorted("?" + n for n in table.numbers if n in SPECS))  # ?: unknown to this strace


def strace_argv() -> list[str]:
    """strace -f on rotrace's syscall set, its output thrown away (add --seccomp-bpf to filter)."""
    return ["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"trace={strace_set()}"]


def console_script(python: str) -> str:
    """The `rotrace` command beside a venv's Python: what users run (no runpy, no -m)."""
    return str(Path(python).parent / "rotrace")


def rotraces(before: str | None) -> dict[str, str]:
    """The Python of each rotrace to run: this checkout's, and with --before the other one."""
    return {"rotrace": sys.executable, **({"rotrace (before)": before} if before else {})}


_HAS_MODULE = """
import importlib.util, sys
try:
    found = importlib.util.find_spec(sys.argv[1]) is not None
except ModuleNotFoundError:  # its package is missing too
    found = False
sys.exit(0 if found else 3)
"""


def has_module(python: str, module: str) -> bool:
    """Whether that Python can import `module` (an older rotrace may predate it), found from the
    repository's root as `python -m benchmarks...` is."""
    code = subprocess.run([python, "-c", _HAS_MODULE, module], cwd=ROOT, capture_output=True).returncode
    if code not in (0, 3):
        raise SystemExit(f"bench: {python} could not look for {module} (exit {code})")
    return code == 0


@dataclass
class Sample:
    seconds: list[float] = field(default_factory=list)
    panics: list[str] = field(default_factory=list)  # runs retried after a tokio panic
    rss_kb: int = 0
    events: int | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


class Failed(RuntimeError):
    """A run exited with an unexpected status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def rotrace_processes(session: int) -> list[psutil.Process]:
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


def peak_rss(proc: subprocess.Popen[bytes], out: list[int]) -> None:
    """Poll the VmHWM (peak RSS so far) of rotrace's processes until the tracer exits."""
    known: list[psutil.Process] = []
    while proc.poll() is None:
        if len(known) < 2:  # the report process is forked first thing: found within a poll or two
            known = rotrace_processes(proc.pid)
        for p in known:  # a process gone reads as 0
            out[0] = max(out[0], procfs.status_int(p.pid, b"VmHWM", 0))
        time.sleep(0.01)


def timed(
    argv: list[str], cwd: Path, env: dict[str, str], measure_rss: bool, ok: tuple[int, ...] = (0,)
) -> tuple[float, int]:
    """One run's wall time and, when asked, rotrace's peak RSS (KiB) during it."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    rss = [0]
    poller = threading.Thread(target=peak_rss, args=(proc, rss)) if measure_rss else None
    if poller:
        poller.start()
    code = proc.wait()
    elapsed = time.perf_counter() - start
    if poller:
        poller.join()
    if code not in ok:
        raise Failed(code, f"bench: {' '.join(argv)} exited {code}")
    return elapsed, rss[0]


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


def variants(w: Workload, json_path: Path, before: str | None) -> dict[str, list[str]]:
    """The command lines a workload is timed under: untraced, the two straces, and each rotrace
    (writes only, and --all-opens)."""
    runs = {
        "untraced": w.argv,
        "strace": [*strace_argv(), *w.argv],
        "strace --seccomp-bpf": [*strace_argv(), "--seccomp-bpf", *w.argv],
    }
    for key, python in rotraces(before).items():
        rotrace = [console_script(python), "run", "-q", "--json", str(json_path)]
        suffix = key.removeprefix("rotrace")  # "" or " (before)"
        runs[key] = [*rotrace, "--", *w.argv]
        runs[f"rotrace --all-opens{suffix}"] = [*rotrace, "--all-opens", "--", *w.argv]
    return runs


def bench(w: Workload, rounds: int, tmp: Path, before: str | None) -> dict[str, Sample]:
    """Every variant of the workload, `rounds` times in alternation, then each rotrace once more
    for its peak RSS: the sampling would take CPU from rotrace's two processes on a two-core
    machine."""
    json_path = tmp / f"{w.name}.json"
    runs = variants(w, json_path, before)
    if w.name == "F":  # the floor under any Python tool: the interpreter's own start-up
        runs["python -c pass"] = [sys.executable, "-c", "pass"]
    samples = {k: Sample() for k in runs}
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


def around_shell(w: Workload, tmp: Path, script: str, env: dict[str, str], rounds: int, before: str | None,
                 measure: Callable[[float], T]) -> dict[str, list[T]]:  # fmt: skip
    """Each tracer (strace --seccomp-bpf, rotrace, the --before rotrace) around `sh -c script
    COMMAND...`, alternating round by round: `measure(seconds)` of each run, by tracer."""
    runs = {"strace --seccomp-bpf": [*strace_argv(), "--seccomp-bpf"]}
    for key, python in rotraces(before).items():
        runs[key] = [console_script(python), "run", "-q", "--json", str(tmp / f"{w.name}.json"), "--"]
    shell = ["sh", "-c", script, "sh", *w.argv]
    panics: list[str] = []
    measured: dict[str, list[T]] = {k: [] for k in runs}
    for _ in range(rounds):
        for key, tracer in runs.items():
            ok = (0,) if key.startswith("strace") else (0, 1)  # rotrace exits 1 for violations
            elapsed, _ = timed_retrying([*tracer, *shell], w.cwd, env, False, ok, w.before_each, panics)
            measured[key].append(measure(elapsed))
    return measured


def table_lines(title: str, samples: dict[str, Sample]) -> list[str]:
    """A workload's table: each variant's median, its ratios to untraced and to strace
    --seccomp-bpf, rotrace's peak RSS and the events it recorded; then the retried runs."""
    base = samples["untraced"].median
    bpf = samples["strace --seccomp-bpf"].median
    lines = [
        "",
        title,
        "| variant | median s | × untraced | × strace --seccomp-bpf | rotrace peak RSS | events |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, s in samples.items():
        rss = f"{s.rss_kb / 1024:.0f} MiB" if s.rss_kb else ""
        events = "" if s.events is None else str(s.events)
        lines.append(
            f"| {key} | {s.median:.3f} | {s.median / base:.2f} | {s.median / bpf:.2f} | {rss} | {events} |"
        )
    for key, s in samples.items():
        if s.panics:
            lines += [
                "",
                f"Under {key}, uv panicked in tokio's pidfd reaper {len(s.panics)} times (runs repeated).",
            ]
    return lines


def emit(lines: list[str]) -> None:
    """Print now: a long benchmark shows each table as soon as it is measured."""
    print("\n".join(lines), flush=True)
