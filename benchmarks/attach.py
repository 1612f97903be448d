"""A: what attaching costs (`rotrace run -p PID`), on a real server from the package index.

gunicorn (one sync worker, listening on 127.0.0.1 only) serves a fixed number of requests from
a bounded loopback client (one connection per request, each with a timeout), and the client's
wall time is what is measured: untraced, with `strace -f -p WORKER`, with `rotrace run -p
WORKER`, and, for reference, with the server started under `rotrace run` (the seccomp filter:
the cost attaching would reach if it could install one). The worker is the process that serves
the requests, so it is the one attached to (the arbiter only watches it). Each request writes a
file (one of 16, as a session or upload store does), so that every variant records writes."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from tests.support.uvtools import uv_env

from benchmarks.harness import Sample, console_script, rotrace_processes, rotraces, strace_argv
from benchmarks.workloads import ATTACH_WHEELS, wheelhouse

REQUESTS = 300
DEADLINE = 30.0  # seconds for the server to answer, to be traced, or to exit: then the bench fails
# SIGINTs sent to a tracer, DEADLINE / SIGINTS apart, for it to let the worker go: rotrace run -p
# may miss the first (see the note under the table).
SIGINTS = 3

_APP = '''\
"""A WSGI app that stores each request's body in one of 16 files, as a session store does."""
import os

DATA = os.environ["BENCH_DATA"]


def app(environ, start_response):
    name = environ.get("PATH_INFO", "/").rsplit("/", 1)[-1] or "0"
    with open(os.path.join(DATA, name), "w") as f:
        f.write(environ.get("QUERY_STRING", ""))
    body = b"ok\\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


@dataclass
class Server:
    """The installed server: its venv's gunicorn, the app's directory, and the environment."""

    gunicorn: Path
    app_dir: Path
    env: dict[str, str]
    pidfile: Path


def setup(tmp: Path, uv: str) -> Server:
    """A venv with gunicorn from the benchmark's wheel cache (no index at run time), and the app."""
    wheels = wheelhouse(ATTACH_WHEELS)
    venv = tmp / "a-venv"
    env = uv_env()
    env["UV_CACHE_DIR"] = str(tmp / "a-cache")
    subprocess.run([uv, "venv", "--quiet", str(venv)], env=env, check=True, capture_output=True)
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), "--offline",
         "--no-index", "--find-links", str(wheels), *ATTACH_WHEELS],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    app_dir = tmp / "a-app"
    (app_dir / "data").mkdir(parents=True)
    (app_dir / "app.py").write_text(_APP)
    server_env = dict(os.environ, BENCH_DATA=str(app_dir / "data"))
    return Server(venv / "bin" / "gunicorn", app_dir, server_env, tmp / "a-gunicorn.pid")


def variants(before: str | None) -> dict[str, tuple[str, str | None]]:
    """Each variant's name, how the server is traced ("untraced", "strace" -p, "attach": rotrace
    run -p, "under": started under rotrace run) and by which rotrace (its venv's Python)."""
    runs: dict[str, tuple[str, str | None]] = {"untraced": ("untraced", None)}
    runs["strace -f -p"] = ("strace", None)
    for key, python in rotraces(before).items():
        suffix = key.removeprefix("rotrace")  # "" or " (before)"
        runs[f"rotrace run -p{suffix}"] = ("attach", python)
        runs[f"rotrace run{suffix}"] = ("under", python)
    return runs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get(port: int, i: int) -> None:
    """One request, on its own connection, bounded by a timeout; anything but 200 fails."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)
    try:
        conn.request("GET", f"/{i % 16}?{i}")
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"bench: the server answered {response.status} to request {i}")
    finally:
        conn.close()


def client(port: int, n: int) -> float:
    """The wall time of n requests, one after the other."""
    start = time.perf_counter()
    for i in range(n):
        get(port, i)
    return time.perf_counter() - start


def _spawn(
    argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start argv in a session of its own (so that it can be killed whole), output thrown away."""
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip


def _name(proc: subprocess.Popen[bytes]) -> str:
    """The program's name, for a message."""
    args = proc.args
    return os.path.basename(str(args[0] if isinstance(args, list) else args))


def _until(what: str, done: Callable[[], bool], alive: subprocess.Popen[bytes]) -> None:
    """Poll `done` until it holds; fail if `alive` exits first or the deadline passes."""
    deadline = time.monotonic() + DEADLINE
    while not done():
        if alive.poll() is not None:
            raise SystemExit(f"bench: {_name(alive)} exited {alive.returncode} before {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: no {what} after {DEADLINE:.0f} s")
        time.sleep(0.02)


def _answers(port: int) -> bool:
    try:
        get(port, 0)
    except OSError:
        return False
    return True


def traced(pid: int) -> bool:
    """Whether every thread of pid has a tracer (/proc/PID/task/TID/status TracerPid)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
        statuses = [Path(f"/proc/{pid}/task/{tid}/status").read_text() for tid in tids]
    except OSError:
        return False
    tracers = [
        line.split()[1]
        for status in statuses
        for line in status.splitlines()
        if line.startswith("TracerPid:")
    ]
    return bool(tracers) and "0" not in tracers


def own_cpu(pid: int) -> float:
    """The CPU seconds pid's threads have run so far (/proc/PID/task/TID/schedstat: the
    scheduler's nanoseconds, where /proc/PID/stat's ticks are too coarse for a few hundred
    requests), its children's left out."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
    return total / 1e9


def _stop(proc: subprocess.Popen[bytes], sig: int, pid: int | None = None, tries: int = 1) -> tuple[int, int]:
    """Signal pid (proc's own by default) and wait for proc, up to `tries` times (the wait
    divided between them); kill its session if it never exits. Its exit status, and how many
    signals it took."""
    for n in range(1, tries + 1):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid or proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            return proc.wait(DEADLINE / tries), n
    os.killpg(proc.pid, signal.SIGKILL)  # its own session (start_new_session)
    proc.wait()
    raise SystemExit(f"bench: {_name(proc)} did not exit {DEADLINE:.0f} s after {tries} signal(s) {sig}")


@dataclass
class Served(Sample):
    """A variant's runs, and how many of them needed more than one SIGINT to let the worker go."""

    resignalled: int = 0
    worker_cpu: list[float] = field(default_factory=list)  # the worker's CPU seconds over the requests
    tracer_cpu: list[float] = field(default_factory=list)  # the tracer's processes', meanwhile

    def cpu(self) -> float:
        """The median CPU seconds of worker and tracer together over the requests."""
        return statistics.median(w + t for w, t in zip(self.worker_cpu, self.tracer_cpu, strict=True))


@dataclass
class Run:
    """One run of the server: the client's seconds, the CPU seconds of the worker and of the
    tracer's processes over the requests, the events rotrace recorded, and the SIGINTs the
    tracer took to let go."""

    seconds: float
    worker_cpu: float
    tracer_cpu: float
    events: int | None
    sigints: int


def serve_once(server: Server, mode: str, python: str | None, json_path: Path, requests: int) -> Run:
    """Start the server (under rotrace run for "under"), attach a tracer to its worker for
    "strace -p" and "attach", time `requests` requests, and stop everything. The worker's CPU
    counts its share of every stop; the tracer's is strace's process, or rotrace's two (the
    tracer and the report process)."""
    port = free_port()
    server.pidfile.unlink(missing_ok=True)
    argv = [str(server.gunicorn), "-b", f"127.0.0.1:{port}", "-w", "1", "--pid", str(server.pidfile),
            "app:app"]  # fmt: skip
    rotrace = [] if python is None else [console_script(python), "run", "-q", "--json", str(json_path)]
    if mode == "under":
        argv = [*rotrace, "--", *argv]
    proc = _spawn(argv, server.app_dir, server.env)
    tracer: subprocess.Popen[bytes] | None = None
    sigints = 0
    try:
        _until(f"gunicorn answered on 127.0.0.1:{port}", lambda: _answers(port), proc)
        master = int(server.pidfile.read_text())
        (worker,) = psutil.Process(master).children()
        if mode in ("strace", "attach"):
            tool = [*strace_argv(), "-p"] if mode == "strace" else [*rotrace, "-p"]
            tracer = _spawn([*tool, str(worker.pid)])
            _until(f"tracer on pid {worker.pid}", lambda: traced(worker.pid), tracer)
        get(port, 0)  # the worker answers under its tracer before the clock starts
        tracers = [tracer.pid] if mode == "strace" and tracer else []
        if mode in ("attach", "under"):
            tracers = [p.pid for p in rotrace_processes((tracer or proc).pid)]
        before = [own_cpu(pid) for pid in (worker.pid, *tracers)]
        seconds = client(port, requests)
        used = [own_cpu(pid) - was for pid, was in zip((worker.pid, *tracers), before, strict=True)]
        if tracer is not None:
            code, sigints = _stop(tracer, signal.SIGINT, tries=SIGINTS)  # let the worker go, still serving
            # rotrace exits 1 when it found violations; strace detaches, then dies of the signal
            if code not in ((0, 1) if mode == "attach" else (0, -signal.SIGINT)):
                raise SystemExit(f"bench: {_name(tracer)} exited {code} when it let pid {worker.pid} go")
            tracer = None
        _stop(proc, signal.SIGTERM, master)
    finally:
        for p in (tracer, proc):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    events = None if python is None else json.loads(json_path.read_text())["summary"]["events"]
    return Run(seconds, used[0], sum(used[1:]), events, sigints)


def bench(
    server: Server, rounds: int, tmp: Path, before: str | None, requests: int = REQUESTS
) -> dict[str, Served]:
    """Every variant, `rounds` times in alternation."""
    runs = variants(before)
    samples = {k: Served() for k in runs}
    json_path = tmp / "A.json"
    for _ in range(rounds):
        for key, (mode, python) in runs.items():
            run = serve_once(server, mode, python, json_path, requests)
            s = samples[key]
            s.seconds.append(run.seconds)
            s.worker_cpu.append(run.worker_cpu)
            s.tracer_cpu.append(run.tracer_cpu)
            s.events = run.events
            s.resignalled += run.sigints > 1
    return samples


def table_lines(requests: int, samples: dict[str, Served]) -> list[str]:
    """A's table: each variant's median wall time of the client, against untraced, strace -f -p
    and the server started under rotrace run (this checkout's: the cost attaching would have
    with a filter); the CPU of the worker and of the tracer over the requests, and theirs
    together against the filtered run's; then the runs whose tracer needed more than one
    SIGINT to let go (after the clock stopped)."""
    base = samples["untraced"].median
    strace = samples["strace -f -p"].median
    filtered = samples["rotrace run"]
    lines = [
        "",
        f"A `rotrace run -p` on gunicorn ({ATTACH_WHEELS[0].split('==')[1]}, one sync worker) serving "
        f"{requests} requests to a loopback client (the client's wall time; CPU over the requests; medians)",
        "| variant | median s | × untraced | × strace -f -p | × filtered | worker CPU s | tracer CPU s "
        "| CPU × filtered | events |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, s in samples.items():
        events = "" if s.events is None else str(s.events)
        m = s.median
        ratios = " | ".join(f"{m / of:.2f}" for of in (base, strace, filtered.median))
        worker, tracer = statistics.median(s.worker_cpu), statistics.median(s.tracer_cpu)
        cpu = f"{worker:.2f} | {tracer:.2f} | {s.cpu() / filtered.cpu():.2f}"
        lines.append(f"| {key} | {m:.3f} | {ratios} | {cpu} | {events} |")
    for key, s in samples.items():
        if s.resignalled:
            lines += ["", f"{key} did not let the worker go on the first SIGINT in {s.resignalled} of "
                          f"{len(s.seconds)} runs (a later SIGINT did)."]  # fmt: skip
    return lines
