"""Long-running servers under `rotrace run`: checkpoints of the trace so far (`--checkpoint`,
SIGUSR1) that a SIGKILL of everything leaves behind whole, and rotrace as a container's PID 1
(an init: signals passed on, orphans reaped, the command's own exit status)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from rotrace.tracefile import read_trace
from tests.support.as_user import invocation
from tests.support.schema import assert_valid_trace
from tests.support.tracing import PY, process_state

ROTRACE = [PY, "-m", "rotrace"]

# A web server on the loopback only: each request appends to a log and writes a data file; it
# runs until it is killed (or, with a SIGTERM handler, stops with status 42).
SERVER = r"""
import http.server, os, signal, sys
here = sys.argv[1]

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(os.path.join(here, "access.log"), "a") as log:
            log.write(self.path + "\n")
        with open(os.path.join(here, "data" + self.path.replace("/", "-")), "w") as data:
            data.write("served")
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(os.path.join(here, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(here, "port.tmp"), os.path.join(here, "port"))
server.serve_forever()
"""


def _until(what: str, check: Any, timeout: float = 60) -> Any:
    """Poll check() until it gives something true (no assert on how long that took)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"never: {what}")


def _asked_for_checkpoint(proc: subprocess.Popen[Any], trace: Path, name: str) -> dict[str, Any]:
    """SIGUSR1 to rotrace until a checkpoint holds the write `name`: the file is there once the
    call returned, the write is in the trace once rotrace has handled that call's exit, and a
    checkpoint asked in between holds what came before it (each SIGUSR1 writes another)."""
    for _ in range(60):
        proc.send_signal(signal.SIGUSR1)
        with contextlib.suppress(AssertionError):
            found: dict[str, Any] = _until("a checkpoint", lambda: _checkpoint_with(trace, name), timeout=1)
            return found
    raise AssertionError(f"never: a checkpoint with {name}")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _checkpoint_with(path: Path, *names: str) -> dict[str, Any] | None:
    """The trace at `path` once it is a checkpoint that holds writes to all of `names`."""
    data = _read_json(path)
    if data is None or "checkpoint" not in data:
        return None
    written = {os.path.basename(e["path"]) for e in data["events"] if e["write"]}
    return data if set(names) <= written else None


def _get(where: Path, *paths: str) -> None:
    port_file = where / "port"
    port = int(_until("the server's port", lambda: port_file.exists() and port_file.read_text()))
    for p in paths:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{p}", timeout=30) as response:
            assert response.read() == b"ok"


def test_a_server_killed_with_sigkill_leaves_a_checkpoint_that_report_reads(tmp_path: Path) -> None:
    trace = tmp_path / "t.json"
    (tmp_path / "server.py").write_text(SERVER)
    argv = [*ROTRACE, "run", "--checkpoint", "1", "--json", str(trace), "--", PY, "server.py", str(tmp_path)]
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    try:
        _get(tmp_path, "/a", "/b")
        data = _until("a checkpoint with the requests' writes",
                      lambda: _checkpoint_with(trace, "access.log", "data-a", "data-b"))  # fmt: skip
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # rotrace, its report process and the server: all at once
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert data["exit_code"] is None and data["signal"] is None
    # what a SIGKILL left is a whole trace (the conftest checks it against the schema too)
    assert_valid_trace(trace)
    header, verdicts = read_trace(str(trace))
    assert header.checkpoint is not None
    names = {os.path.basename(os.fsdecode(v.event.path)) for v in verdicts}
    assert {"access.log", "data-a", "data-b"} <= names
    report = subprocess.run([*ROTRACE, "report", "-v", str(trace)], capture_output=True, text=True)
    assert report.returncode in (0, 1), report.stderr
    assert report.stderr.count("is a checkpoint written at") == 1, report.stderr
    assert "still running" in report.stderr and not re.search(r"exit status \d", report.stderr)
    assert "access.log" in report.stderr and "data-b" in report.stderr
    commands = (
        ["allowlist", str(trace)],
        ["check", str(trace)],
        ["diff", str(trace), str(trace)],
        ["merge", str(trace), "-o", str(tmp_path / "merged.json")],
    )
    for command in commands:
        said = subprocess.run([*ROTRACE, *command], capture_output=True, text=True, timeout=60)
        assert said.returncode in (0, 1), said.stderr  # 1: writes no mount fixes (in /tmp, the cwd)
        assert said.stderr.count("is a checkpoint written at") == (2 if command[0] == "diff" else 1), (
            said.stderr
        )
    merged, _ = read_trace(str(tmp_path / "merged.json"))
    assert merged.checkpoint == header.checkpoint
    assert merged.sources[0].checkpoint == header.checkpoint


def _staged_beside(trace: Path, group: int) -> str | None:
    """A file some process of `group` holds open beside `trace`: a checkpoint being written."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if os.getpgid(int(pid)) != group:
                continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                # not the trace, nor the one it replaced (held open: "t.json (deleted)")
                if os.path.dirname(target) == str(trace.parent) and not target.startswith(str(trace)):
                    return target
    return None


def test_a_kill_while_a_checkpoint_is_written_leaves_nothing_beside_the_trace(tmp_path: Path) -> None:
    """The checkpoint being written has no name until it replaces the last one, so a SIGKILL of
    everything in the middle of it leaves the last whole trace and no file beside it."""
    trace = tmp_path / "t.json"
    code = (
        "import os, time\n"
        "os.mkdir('w')\n"
        "for i in range(20000): open(f'w/{i}', 'w').close()\n"
        "open('ready', 'w').close()\n"
        "time.sleep(600)\n"
    )
    argv = [*ROTRACE, "run", "--json", str(trace), "--", PY, "-c", code]
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    try:
        _until("the writes", (tmp_path / "ready").exists, timeout=300)
        proc.send_signal(signal.SIGUSR1)
        _until("the first checkpoint", lambda: _checkpoint_with(trace, "19999"))
        proc.send_signal(signal.SIGUSR1)  # the second one replaces the first: killed in the middle
        staged = _until("a checkpoint being written", lambda: _staged_beside(trace, proc.pid))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert staged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ready", "t.json", "w"]
    assert _checkpoint_with(trace, "19999")  # the last whole trace


def test_sigusr1_writes_a_checkpoint_on_demand_and_the_run_ends_with_the_whole_trace(tmp_path: Path) -> None:
    trace = tmp_path / "t.json"
    code = (
        "import os, signal, time\n"
        "open('first', 'w').close()\n"
        "while not os.path.exists('go'): time.sleep(0.05)\n"
        "open('second', 'w').write(str(int(signal.getsignal(signal.SIGUSR1))))\n"
    )
    argv = [*ROTRACE, "run", "--json", str(trace), "--", PY, "-c", code]
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _until("the first write", (tmp_path / "first").exists)
        assert trace.read_bytes() == b""  # no checkpoint yet: none was asked for
        data = _asked_for_checkpoint(proc, trace, "first")
        assert "second" not in {os.path.basename(e["path"]) for e in data["events"]}
        (tmp_path / "go").touch()
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode in (0, 1), err
    final = json.loads(trace.read_text())
    assert "checkpoint" not in final and final["exit_code"] == 0
    assert {"first", "second"} <= {os.path.basename(e["path"]) for e in final["events"]}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # nothing left beside it
    assert (tmp_path / "second").read_text() == str(int(signal.SIG_DFL))  # not rotrace's handler
    # started with SIGUSR1 ignored, rotrace still answers it, and the command inherits it ignored
    ignoring = f"import os, signal; signal.signal(signal.SIGUSR1, signal.SIG_IGN); os.execv({PY!r}, {argv!r})"
    for name in ("go", "first"):
        (tmp_path / name).unlink()
    proc = subprocess.Popen(
        [PY, "-c", ignoring], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _until("the first write", (tmp_path / "first").exists)
        _asked_for_checkpoint(proc, trace, "first")
        (tmp_path / "go").touch()
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert (tmp_path / "second").read_text() == str(int(signal.SIG_IGN))


@pytest.mark.parametrize("value", ["0", "0s", "-5", "abc", "5x", "inf", "nan", "1e3", ""])
def test_a_bad_checkpoint_interval_is_one_line_and_a_usage_error(tmp_path: Path, value: str) -> None:
    argv = [*ROTRACE, "run", "--checkpoint", value, "--json", "t.json", "--", "true"]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Error: Invalid value for --checkpoint" in proc.stderr and "60s, 5m" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "t.json").exists()


@pytest.mark.parametrize("json_arg", [[], ["--json", "-"]])
def test_a_checkpoint_needs_a_trace_file(tmp_path: Path, json_arg: list[str]) -> None:
    argv = [*ROTRACE, "run", "--checkpoint", "5m", *json_arg, "--", "true"]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "--checkpoint writes the trace so far to a file" in proc.stderr


@pytest.mark.parametrize("value", ["60", "60s", "5m", "1h", "0.5"])
def test_the_checkpoint_intervals_the_docs_give(work: Path, value: str) -> None:
    code = "open('x', 'w').close()"
    argv = [*ROTRACE, "run", "--checkpoint", value, "--json", "t.json", "--", PY, "-c", code]
    proc = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr  # the write to x (out of /tmp) is a violation
    assert_valid_trace(work / "t.json")
    final = json.loads((work / "t.json").read_text())
    assert "checkpoint" not in final and final["exit_code"] == 0 and final["summary"]["violations"] == 1


def test_command_status_is_the_commands_own_whatever_the_verdict(work: Path) -> None:
    """A container's status is its app's: violations never fail a Job or crash-loop a Pod."""
    for code, status in (("open('x', 'w').close()", 0), ("open('x', 'w').close(); raise SystemExit(3)", 3)):
        argv = [*ROTRACE, "run", "--command-status", "--", PY, "-c", code]
        proc = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=60)
        assert proc.returncode == status, proc.stderr
        assert "✗ 1 violation in 1 place" in proc.stderr


def _zombies_of(parent: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                status = Path(f"/proc/{name}/status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{parent}\n" in status and process_state(int(name)) == "Z":
                found.append(int(name))
    return found


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


# The app as a container's entry point: a grandchild orphaned at once (reparented to PID 1) that
# writes and exits; on SIGTERM the app writes down that it got it and exits with status 42.
APP = r"""
import os, signal, sys, time
def stop(signum, frame):
    open("stopped", "w").write(str(signum))
    sys.exit(42)
signal.signal(signal.SIGTERM, stop)
if os.fork() == 0:
    if os.fork() == 0:
        while not os.path.exists("orphan-go"):
            time.sleep(0.05)
        open("orphan", "w").close()
        os._exit(0)
    os._exit(0)
os.wait()
open("ready", "w").close()
while True:
    time.sleep(0.1)
"""

PID_1 = {
    "root": ["unshare", "--fork", "--kill-child", "--pid", "--mount-proc"],
    "nobody": ["unshare", "--user", "--map-root-user", "--fork", "--kill-child", "--pid", "--mount-proc"],
}


@pytest.mark.needs("unshare")
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_as_pid_1_rotrace_is_an_init(site: Path, work: Path, user: str) -> None:
    """SIGTERM to PID 1 reaches the app, whose status rotrace exits with; an orphan is reaped
    (no zombie left); checkpoints are written meanwhile; the trace at the end is whole."""
    (work / "app.py").write_text(APP)
    argv, env = invocation(user, site, work)
    nobody = argv[: argv.index("--clear-groups") + 1] if user == "nobody" else []
    rotrace = argv[len(nobody) :]
    trace = work / "t.json"
    run = [*rotrace, "run", "--command-status", "--checkpoint", "1", "--json", str(trace), "--", PY, "app.py"]
    if user == "nobody":
        run[run.index(PY)] = "/usr/bin/python3"  # the app too runs as that user
    probe = subprocess.run([*nobody, *PID_1[user], "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no pid namespace here for {user}: {probe.stderr.strip()}")
    proc = subprocess.Popen([*nobody, *PID_1[user], *run], cwd=work, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        init = _until("PID 1", lambda: _children(proc.pid) and _children(proc.pid)[0])
        _until("the app", (work / "ready").exists)
        (work / "orphan-go").touch()
        _until("the orphan's write", (work / "orphan").exists)
        # rotrace and its report process are PID 1's children, the orphan was too: it is reaped
        _until("no zombie under PID 1", lambda: _children(init) and not _zombies_of(init))
        _until("a checkpoint with the orphan's write", lambda: _checkpoint_with(trace, "orphan", "ready"))
        os.kill(init, signal.SIGTERM)  # `docker stop`, `podman stop`, a Pod deleted
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 42, err  # the app's own status
    assert (work / "stopped").read_text() == str(int(signal.SIGTERM))
    assert_valid_trace(trace)
    final = json.loads(trace.read_text())
    assert "checkpoint" not in final and final["exit_code"] == 42
    assert "rotrace received SIGTERM: the run was stopped" in final["warnings"]
    assert {"ready", "orphan", "stopped"} <= {os.path.basename(e["path"]) for e in final["events"]}


@pytest.mark.needs("bwrap")
def test_in_the_read_only_sandbox_sigusr1_reaches_the_tracer_inside(work: Path) -> None:
    """The tracer inside bubblewrap holds the last events: it sends them, then the checkpoint."""
    trace = work / "t.json"
    code = "import os, time\nopen('first', 'w').close()\nwhile not os.path.exists('go'): time.sleep(0.05)\n"
    argv = [*ROTRACE, "run", "--read-only", "--keep-writes", "--allow", str(work), "--json", str(trace), "--",
            PY, "-c", code]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _until("the first write", (work / "first").exists)
        proc.send_signal(signal.SIGUSR1)
        _until("a checkpoint with the first write", lambda: _checkpoint_with(trace, "first"))
        assert_valid_trace(trace)
        (work / "go").touch()
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    final = json.loads(trace.read_text())
    assert "checkpoint" not in final and final["read_only"] and final["exit_code"] == 0


@pytest.mark.parametrize("how", ["removed", "symlink"])
def test_a_trace_the_command_replaces_between_checkpoints_is_said_lost(tmp_path: Path, how: str) -> None:
    """Checkpoints never write through what the command put in the trace's place (a symlink to
    a file of the user's): the trace is said to be lost, as without checkpoints."""
    trace, victim = tmp_path / "t.json", tmp_path / "victim"
    victim.write_text("mine")
    swap = "os.remove(t)" if how == "removed" else f"os.remove(t); os.symlink({str(victim)!r}, t)"
    code = (
        "import os, time\n"
        f"t = {str(trace)!r}\n"
        "while not os.path.getsize(t): time.sleep(0.05)\n"  # the first checkpoint
        f"{swap}\n"
        "time.sleep(2.5)\n"  # two more checkpoints come and go
    )
    argv = [*ROTRACE, "run", "--checkpoint", "1", "--json", str(trace), "--", PY, "-c", code]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("while it ran") == 1, proc.stderr
    assert victim.read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.needs("prlimit")
def test_a_final_trace_that_cannot_be_written_leaves_the_last_checkpoint(tmp_path: Path) -> None:
    """The end of the run replaces the last checkpoint only with a whole trace: past the file
    size limit (RLIMIT_FSIZE: EFBIG) the run says the trace could not be written, and the
    checkpoint stays, valid."""
    trace = tmp_path / "t.json"
    code = (
        "import os, time\n"
        "open('first', 'w').close()\n"
        "while not os.path.exists('go'): time.sleep(0.05)\n"
        "for i in range(300): open(f'f{i}', 'w').close()\n"
    )
    argv = ["prlimit", "--fsize=16384", "--", *ROTRACE, "run", "--json", str(trace), "--", PY, "-c", code]
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _until("the first write", (tmp_path / "first").exists)
        proc.send_signal(signal.SIGUSR1)
        checkpoint = _until("a checkpoint", lambda: _checkpoint_with(trace, "first"))
        (tmp_path / "go").touch()
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 3, err
    assert err.count(f"rotrace: error: cannot write the trace to {trace}: File too large") == 1, err
    assert json.loads(trace.read_text()) == checkpoint
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_where_no_checkpoint_can_be_made_the_trace_is_still_written_at_the_end(
    site: Path, work: Path
) -> None:
    """A trace file the user may write in a directory where they may not create one (no
    temporary file beside it): each checkpoint fails, said once, and the run's trace is
    written into the file at the end as without --checkpoint."""
    locked = work / "locked"
    locked.mkdir(mode=0o755)
    trace = locked / "t.json"
    trace.touch()
    os.chown(trace, 65534, 65534)
    argv, env = invocation("nobody", site, work)
    code = "import time; open('x', 'w').close(); time.sleep(1.5)"
    run = [*argv, "run", "--checkpoint", "0.5", "--json", str(trace), "--", "/usr/bin/python3", "-c", code]
    proc = subprocess.run(run, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr  # the write to x is a violation
    assert proc.stderr.count("rotrace: warning: a checkpoint could not be written to") == 1, proc.stderr
    assert_valid_trace(trace)
    final = json.loads(trace.read_text())
    assert "checkpoint" not in final and final["exit_code"] == 0 and final["summary"]["violations"] == 1


def test_a_trace_given_through_ones_own_symlink_is_replaced_where_it_points(tmp_path: Path) -> None:
    """`--json` follows one's own symlink: the checkpoints and the final trace replace the file
    it points to, and the link stays."""
    (tmp_path / "traces").mkdir()
    real, link = tmp_path / "traces" / "real.json", tmp_path / "t.json"
    link.symlink_to(real)
    code = "import os, time\nopen('first', 'w').close()\nwhile not os.path.exists('go'): time.sleep(0.05)\n"
    argv = [*ROTRACE, "run", "--checkpoint", "1", "--json", str(link), "--", PY, "-c", code]
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _until("a checkpoint through the link", lambda: _checkpoint_with(real, "first"))
        assert link.is_symlink()
        (tmp_path / "go").touch()
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert link.is_symlink() and os.readlink(link) == str(real)
    final = json.loads(real.read_text())
    assert "checkpoint" not in final and final["exit_code"] == 0


# A command that leaves a daemon behind (double fork) and exits 3.
DAEMONIZES = r"""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open("daemon-up", "w").close()
        time.sleep(600)
        os._exit(0)
    os._exit(0)
os.wait()
while not os.path.exists("daemon-up"):
    time.sleep(0.05)
open("app-pid", "w").write(str(os.getpid()))
raise SystemExit(3)
"""


@pytest.mark.needs("unshare")
def test_as_pid_1_the_run_ends_with_the_app_as_the_container_would(tmp_path: Path) -> None:
    """Without rotrace the container would end when its app exits (the kernel kills what is
    left when PID 1 exits): as PID 1 rotrace ends the run there too, instead of following the
    daemon the app left behind, and says so."""
    (tmp_path / "app.py").write_text(DAEMONIZES)
    trace = tmp_path / "t.json"
    run = [*ROTRACE, "run", "--command-status", "--json", str(trace), "--", PY, "app.py"]
    proc = subprocess.run([*PID_1["root"], *run], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    final = json.loads(trace.read_text())
    assert final["exit_code"] == 3
    said = "the command's top process exited: rotrace, the container's PID 1, killed the 1 process it left"
    assert [w for w in final["warnings"] if w.startswith(said)] != [], final["warnings"]
    # not PID 1: rotrace follows the daemon, until a SIGTERM stops the run
    for name in ("daemon-up", "app-pid"):
        (tmp_path / name).unlink()
    plain = subprocess.Popen(run, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        app = int(_until("the app's pid", lambda: _read_text(tmp_path / "app-pid")))
        _until("the app's exit", lambda: process_state(app) in (None, "Z"))
        plain.send_signal(signal.SIGTERM)
        plain.communicate(timeout=60)
    finally:
        plain.kill()
    assert plain.returncode == 3
    assert "rotrace received SIGTERM: the run was stopped" in json.loads(trace.read_text())["warnings"]
