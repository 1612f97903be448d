"""Signals end a run as a container runtime ends a container: a signal sent to rotrace goes to the
command's top process, what it leaves behind is killed when it exits, the grace period bounds
the rest, a terminal's ^C is the terminal's, and rotrace returns leaving no traced process and
no process of its own behind, with the report and the JSON trace written and saying so."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.places import fixed_name_dir
from tests.support.tracing import PY, process_state

ROTRACE = [PY, "-m", "rotrace"]
MODES = {"plain": [], "read-only": ["--read-only", "--keep-writes"]}

# A server's shape: a master with two workers; on SIGTERM the master stops its workers (one
# SIGTERM each), waits for them, and exits 0. Each signal a process receives is a file.
MASTER = textwrap.dedent("""
    import os, signal, sys, time
    out = sys.argv[1]
    def note(name):
        open(f"{out}/{name}-{os.getpid()}-{time.monotonic_ns()}", "w").close()
    workers = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, lambda *_: (note("worker-term"), os._exit(0)))
            note("ready")
            while True:
                time.sleep(0.05)
        workers.append(pid)
    def stop(*_):
        note("master-term")
        for w in workers:
            os.kill(w, signal.SIGTERM)
        for w in workers:
            os.waitpid(w, 0)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    note("ready")
    while True:
        time.sleep(0.05)
""")


def _start(tmp_path: Path, code: str, ready: int, *flags: str) -> subprocess.Popen[str]:
    extra = [*flags]
    if "--read-only" in extra:
        extra += ["--allow", str(tmp_path)]
    argv = [*ROTRACE, "run", *extra, "--json", str(tmp_path / "t.json"), "--", PY, "-c", code, str(tmp_path)]
    proc = subprocess.Popen(argv, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("ready-*"))) < ready:
        assert time.monotonic() < deadline, "the workload did not start"
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    return proc


def _pids(tmp_path: Path, name: str) -> list[int]:
    return sorted({int(p.name.split("-")[-2]) for p in tmp_path.glob(f"{name}-*")})


@pytest.mark.parametrize("mode", MODES)
def test_a_signal_goes_to_the_top_process_which_stops_its_workers(tmp_path: Path, mode: str) -> None:
    proc = _start(tmp_path, MASTER, 3, *MODES[mode])
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err  # the master exited 0, its writes were allowed
    assert len(list(tmp_path.glob("master-term-*"))) == 1
    # each worker heard SIGTERM once, from its master: rotrace sent it no second one
    assert len(list(tmp_path.glob("worker-term-*"))) == 2, err
    assert len(_pids(tmp_path, "worker-term")) == 2
    trace = json.loads((tmp_path / "t.json").read_text())
    assert any("received SIGTERM: the run was stopped" in w for w in trace["warnings"])
    assert not any("partial" in w for w in trace["warnings"])
    assert _processes_with(str(tmp_path)) == []


LEAVES_A_DAEMON = textwrap.dedent("""
    import os, signal, sys, time
    out = sys.argv[1]
    if os.fork() == 0:
        os.setsid()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a daemon that would outlive its parent
        open(f"{out}/ready-{os.getpid()}-0", "w").close()
        while True:
            time.sleep(0.05)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    open(f"{out}/ready-{os.getpid()}-0", "w").close()
    while True:
        time.sleep(0.05)
""")


@pytest.mark.parametrize("mode", MODES)
def test_what_the_top_process_leaves_behind_is_killed_when_it_exits(tmp_path: Path, mode: str) -> None:
    proc = _start(tmp_path, LEAVES_A_DAEMON, 2, "--grace", "120", *MODES[mode])
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)  # long before the grace period
    assert proc.returncode == 0, err
    assert _processes_with(str(tmp_path)) == [], err
    trace = json.loads((tmp_path / "t.json").read_text())
    assert any("killed the 1 process it left behind" in w for w in trace["warnings"]), trace["warnings"]


IGNORES_SIGTERM = textwrap.dedent("""
    import os, signal, sys, time
    out = sys.argv[1]
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.fork()
    open(f"{out}/ready-{os.getpid()}-0", "w").close()
    while True:
        time.sleep(0.05)
""")


@pytest.mark.parametrize("mode", MODES)
def test_a_command_that_does_not_stop_is_killed_after_the_grace_period(tmp_path: Path, mode: str) -> None:
    proc = _start(tmp_path, IGNORES_SIGTERM, 2, "--grace", "1", *MODES[mode])
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 8, err  # the command was killed
    assert _processes_with(str(tmp_path)) == []
    trace = json.loads((tmp_path / "t.json").read_text())
    assert trace["signal"] == "SIGKILL"
    assert any("still running 1 s after SIGTERM" in w and "partial" in w for w in trace["warnings"])
    assert "the run was stopped" in err  # the report says it too


FOLLOWED_DAEMON = textwrap.dedent("""
    import os, signal, sys, time
    out = sys.argv[1]
    open(f"{out}/top-{os.getpid()}-0", "w").close()
    if os.fork() == 0:
        os.setsid()
        got = f"{out}/got-{os.getpid()}-0"
        signal.signal(signal.SIGTERM, lambda *_: (open(got, "w").close(), os._exit(0)))
        open(f"{out}/ready-{os.getpid()}-0", "w").close()
        while True:
            time.sleep(0.05)
""")


def test_after_the_top_process_exited_the_signal_goes_to_what_rotrace_follows(tmp_path: Path) -> None:
    proc = _start(tmp_path, FOLLOWED_DAEMON, 1)
    (top,) = _pids(tmp_path, "top")
    while process_state(top) not in (None, "Z"):  # rotrace follows the daemon its command left
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert len(list(tmp_path.glob("got-*"))) == 1  # the daemon stopped itself, on the signal


def test_a_signal_to_both_of_rotraces_processes_leaves_a_whole_trace(tmp_path: Path) -> None:
    proc = _start(tmp_path, MASTER, 3)
    mine = [p for p in _processes_with(str(tmp_path / "t.json")) if p != proc.pid]
    assert len(mine) == 1  # the report process
    os.kill(proc.pid, signal.SIGTERM)
    os.kill(mine[0], signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    trace = json.loads((tmp_path / "t.json").read_text())  # complete: it parses
    assert trace["summary"]["events"] == len(trace["events"]) > 0
    assert _processes_with(str(tmp_path / "t.json")) == []  # rotrace's own process exited before it returned


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
                if marker.encode() in argv and process_state(int(entry)) not in (None, "Z"):
                    found.append(int(entry))
            except OSError:
                pass
    return found


def test_rotrace_returns_after_its_report_process_has_exited(tmp_path: Path) -> None:
    for i in range(20):
        marker = str(tmp_path / f"t{i}.json")
        subprocess.run([*ROTRACE, "run", "-q", "--json", marker, "--", "true"], check=True, timeout=60)
        assert _processes_with(marker) == []


def test_ctrl_c_at_a_terminal_ends_the_run_and_what_it_left_in_the_background(tmp_path: Path) -> None:
    """A non-interactive shell's background job ignores SIGINT: untraced, it would outlive the
    ^C; traced, it is killed when the shell exits, and rotrace gives the terminal back.

    The ^C is typed once both sleeps run: a child dash has vforked but not yet exec'd still has
    dash's SIGINT handler, which takes the signal for it (untraced too, in a window that tracing
    widens), and the foreground sleep would then run on."""
    ready = tmp_path / "ready"
    script = f"sleep 1234.5 & touch {ready}; sleep 1234.6"
    pid, master = pty.fork()
    if pid == 0:  # the session leader on the terminal, in its foreground group
        os.execv(PY, [*ROTRACE, "run", "--json", str(tmp_path / "t.json"), "--", "sh", "-c", script])
    output = b""
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() or not _processes_with("1234.6"):
            assert time.monotonic() < deadline, "the workload did not start"
            time.sleep(0.05)
        os.write(master, b"\x03")
        deadline = time.monotonic() + 60
        while True:
            if not select.select([master], [], [], max(0.0, deadline - time.monotonic()))[0]:
                os.kill(pid, signal.SIGKILL)
                pytest.fail("rotrace kept the terminal after ^C (a background job outlived the shell)")
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's last process closed it
                break
            if not chunk:
                break
            output += chunk
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(master)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 8, output  # sh died of SIGINT
    assert _processes_with("1234.5") == []  # the background job too
    trace = json.loads((tmp_path / "t.json").read_text())
    assert any("received SIGINT" in w for w in trace["warnings"])
    assert any("left behind" in w for w in trace["warnings"]), trace["warnings"]


# A server in a venv that writes a file into it at start and carries on when it cannot (gradio's
# hash seed in its package), then serves until it is stopped
TOLERATES_A_VENV_WRITE = textwrap.dedent("""
    import os, sys, time
    try:
        open(os.path.join(sys.prefix, "seed.txt"), "w").close()
    except OSError:
        pass
    open(f"{sys.argv[1]}/ready-{os.getpid()}-0", "w").close()
    while True:
        time.sleep(0.05)
""")


@pytest.mark.needs("bwrap")
def test_a_run_stopped_by_rotrace_blames_no_write_for_its_end(tmp_path: Path) -> None:
    """A server stopped by a SIGTERM to rotrace exits 143 (as it would under `docker stop`): the
    report said "a venv write failed and the command failed: this is what stops it" of the venv
    write it had carried on without. The trace says the run was stopped; the command's end is
    still its status (bit 3), but no write is blamed for it."""
    if not os.access("/srv", os.W_OK):
        pytest.skip("needs a writable /srv")
    venv, out = fixed_name_dir("rotrace-venv-", "/srv"), tmp_path / "out"  # a venv outside the allowlist
    try:
        out.mkdir()
        subprocess.run([PY, "-m", "venv", "--without-pip", str(venv)], check=True)
        argv = [*ROTRACE, "run", "--read-only", "--keep-writes", "--allow", str(out), "--json",
                str(tmp_path / "t.json"), "--", str(venv / "bin" / "python"), "-c", TOLERATES_A_VENV_WRITE,
                str(out)]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
        proc = subprocess.Popen(argv, cwd=tmp_path, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 30
        while not list(out.glob("ready-*")):
            assert time.monotonic() < deadline and proc.poll() is None, "the server did not start"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        trace = json.loads((tmp_path / "t.json").read_text())
        assert trace["stopped"] == "SIGTERM" and trace["exit_code"] == 128 + signal.SIGTERM, trace["warnings"]
    finally:
        shutil.rmtree(venv)
    assert proc.returncode == 9, err  # a violation (the venv write), and the command's end
    assert "this is what stops it" not in err and "carried on" in err, err


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _status(pid: int, field: str) -> str | None:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    return next((line.split()[1] for line in lines if line.startswith(field + ":")), None)


def test_the_tracer_killed_before_it_seized_the_command_takes_the_command_along() -> None:
    """The command's process stops itself to be seized; until it is, PTRACE_O_EXITKILL does not
    hold it. The tracer stopped in that window (a debugger, a job-control stop) and then killed
    with SIGKILL, which nothing holds, left it stopped for ever, untraced, its parent init (a
    SIGCONT to its orphaned group would have run the command untraced). It dies with the tracer."""
    caught = 0
    for _attempt in range(20):
        rotrace = subprocess.Popen([*ROTRACE, "run", "-q", "--", "/bin/echo", "hello"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        command = first = None
        deadline = time.monotonic() + 10
        while command is None and time.monotonic() < deadline and rotrace.poll() is None:
            for child in _children(rotrace.pid):  # the report process's first fork, then the command
                first = first or child
                command = child if child != first else None
        if command is None:
            rotrace.wait(timeout=30)
            continue
        os.kill(rotrace.pid, signal.SIGSTOP)
        for _ in range(2000):  # the command stops itself, to be seized by a tracer that is stopped
            if _status(command, "State") in ("T", None):
                break
            time.sleep(0.001)
        window = _status(command, "State") == "T" and _status(command, "TracerPid") == "0"
        os.kill(rotrace.pid, signal.SIGKILL)
        rotrace.wait(timeout=30)
        if not window:
            continue
        caught += 1
        for _ in range(300):
            if _status(command, "State") in (None, "Z"):
                break
            time.sleep(0.01)
        state = _status(command, "State")
        if state not in (None, "Z"):
            os.kill(command, signal.SIGKILL)
        assert state in (None, "Z"), f"pid {command} left {state}, traced by {_status(command, 'TracerPid')}"
        if caught == 3:
            break
    assert caught, "the tracer was never stopped between its fork and its seize"
