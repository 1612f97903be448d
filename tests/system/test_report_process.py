"""`rotrace run` in two processes (handoff.py): the tracer, and a report process forked first
thing. Whatever happens to either, no process is left behind, nothing is reported twice, and
a dead report process is one line with the internal-error status, never a clean verdict."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rotrace.tracer.linux import procfs
from tests.support.as_user import invocation
from tests.support.tracing import PY, process_state

ROTRACE = [PY, "-m", "rotrace"]


def _session(sid: int) -> list[int]:
    """The processes of a session (rotrace's, started with start_new_session)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.getsid(int(name)) == sid:
                    found.append(int(name))
            except OSError:
                continue
    return found


def _report_process(tracer: int, deadline: float) -> int:
    """rotrace's report process: in the tracer's session, a rotrace, and no child of the tracer."""
    while time.monotonic() < deadline:
        for pid in _session(tracer):
            argv = procfs.cmdline(pid) or ()
            if pid != tracer and "rotrace" in argv[1:3] and procfs.status_int(pid, b"PPid", 0) != tracer:
                return pid
        time.sleep(0.02)
    raise AssertionError("no report process found")


def _wait_for(path: Path, deadline: float) -> None:
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _gone(pids: list[int], deadline: float) -> list[int]:
    while time.monotonic() < deadline:
        left = [p for p in pids if process_state(p) not in (None, "Z")]
        if not left:
            return []
        time.sleep(0.02)
    return left


def test_a_run_leaves_no_process_behind(tmp_path: Path) -> None:
    proc = subprocess.Popen([*ROTRACE, "run", "--json", str(tmp_path / "t.json"), "--", "true"],
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert err.count("no violations") == 1  # one report, from one process
    assert _gone(_session(proc.pid), time.monotonic() + 5) == []
    assert json.loads((tmp_path / "t.json").read_text())["summary"]["events"] == 0


def test_a_killed_report_process_is_one_line_and_status_70(tmp_path: Path) -> None:
    go, done = tmp_path / "go", tmp_path / "done"
    code = (
        "import os, time\n"
        f"open({str(tmp_path / 'w')!r}, 'w').close()\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
        f"open({str(done)!r}, 'w').close()\n"
    )
    proc = subprocess.Popen([*ROTRACE, "run", "--allow", str(tmp_path), "--", PY, "-c", code],
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 30
    report = _report_process(proc.pid, deadline)
    _wait_for(tmp_path / "w", deadline)  # the command runs (the report process parsed its line)
    os.kill(report, signal.SIGKILL)
    go.touch()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 70, err
    assert done.exists()  # the command ran to its end, traced
    lines = [line for line in err.splitlines() if line.startswith("rotrace")]
    assert lines == ["rotrace: error: the report process ended without a report (killed?)"], err
    assert "Traceback" not in err


def test_killing_the_tracer_ends_the_report_process_quietly(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    code = f"import time\nopen({str(ready)!r}, 'w').close()\ntime.sleep(60)\n"
    proc = subprocess.Popen([*ROTRACE, "run", "--", PY, "-c", code],
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 30
    report = _report_process(proc.pid, deadline)
    _wait_for(ready, deadline)
    proc.kill()
    _, err = proc.communicate(timeout=30)
    assert _gone([report], time.monotonic() + 10) == []  # no orphan left waiting
    assert err == ""  # the report process said nothing about a run it never saw end
    assert _gone(_session(proc.pid), time.monotonic() + 10) == []  # EXITKILL took the command


def _answers_usr1(pid: int) -> bool:
    caught = int(procfs.status_fields(pid, b"SigCgt").get(b"SigCgt", b"0"), 16)
    return bool(caught & 1 << (signal.SIGUSR1 - 1))


@contextlib.contextmanager
def _parsing(tmp_path: Path, command: list[str]) -> Iterator[tuple[subprocess.Popen[str], int, int]]:
    """rotrace run with `--policy` a FIFO: the report process, which parses the command line,
    waits in the middle of it until the FIFO is written. Gives rotrace, its report process and
    the FIFO's end to write, once the report process opened it and rotrace answers SIGUSR1;
    whatever is left of rotrace's processes at the end is killed."""
    fifo = tmp_path / "policy.toml"
    os.mkfifo(fifo)
    argv = [*ROTRACE, "run", "--policy", str(fifo), "--", *command]
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    writer = -1
    try:
        deadline = time.monotonic() + 30
        report = _report_process(proc.pid, deadline)
        while writer < 0 or not _answers_usr1(proc.pid):
            assert time.monotonic() < deadline and proc.poll() is None, "the policy was never read"
            if writer < 0:
                with contextlib.suppress(OSError):  # opens once a reader has it: the report process
                    writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            time.sleep(0.01)
        yield proc, report, writer
    finally:
        for pid in [*_session(proc.pid), proc.pid]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        with contextlib.suppress(OSError):
            os.close(writer)


def test_a_checkpoint_asked_while_the_command_line_is_parsed_is_no_report_lost(tmp_path: Path) -> None:
    """SIGUSR1 before the run has started: no checkpoint (there is nothing to write), and the
    run goes on and reports as ever."""
    made = tmp_path / "made"
    with _parsing(tmp_path, ["sh", "-c", f"echo x > {made}"]) as (proc, _, fifo):
        os.kill(proc.pid, signal.SIGUSR1)
        os.write(fifo, f"allow = [{str(tmp_path)!r}]\n".encode())
        os.close(fifo)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert made.exists() and "✓ no violations" in err and "rotrace: error" not in err


def test_a_report_process_stopped_while_it_parses_goes_with_a_terminated_rotrace(tmp_path: Path) -> None:
    """SIGSTOP of the report process in the middle of the command line, then SIGTERM to rotrace
    (a CI job cancelled): rotrace ends as SIGTERM ends it, the command never started, and the
    stopped report process is not left behind."""
    made = tmp_path / "made"
    with _parsing(tmp_path, ["sh", "-c", f"echo x > {made}"]) as (proc, report, _):
        os.kill(report, signal.SIGSTOP)
        os.kill(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGTERM
        assert _gone([report], time.monotonic() + 10) == []
    assert not made.exists()


def test_a_report_process_killed_while_it_hands_the_request_over_is_one_line(tmp_path: Path) -> None:
    """A request wider than the pipe (a policy of 20,000 entries), the tracer stopped so that it
    reads none of it, the report process killed while it waits to write the rest: one line, the
    report process's status (70), and the command never started."""
    made = tmp_path / "made"
    with _parsing(tmp_path, ["sh", "-c", f"echo x > {made}"]) as (proc, report, fifo):
        os.kill(proc.pid, signal.SIGSTOP)
        entries = "".join(f'  "{tmp_path}/allowed/dir{i:06d}",\n' for i in range(20000))
        os.set_blocking(fifo, True)
        os.write(fifo, f"allow = [\n{entries}]\n".encode())
        os.close(fifo)
        deadline = time.monotonic() + 60
        while "pipe_write" not in Path(f"/proc/{report}/wchan").read_text():
            assert time.monotonic() < deadline, "the report process never filled the pipe"
            time.sleep(0.02)
        os.kill(report, signal.SIGKILL)
        os.kill(proc.pid, signal.SIGCONT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 70, err
    lines = [line for line in err.splitlines() if line.startswith("rotrace")]
    assert lines == ["rotrace: error: the report process ended without a report (killed?)"], err
    assert not made.exists()


def test_processes_are_read_from_proc_as_the_kernel_holds_them(tmp_path: Path) -> None:
    """The command line, bytes that are not UTF-8 included, the parent and the user."""
    arg = b"caf\xe9"
    trace = tmp_path / "t.json"
    argv = [*map(os.fsencode, ROTRACE), b"run", b"--json", os.fsencode(trace), b"--", os.fsencode(PY), b"-c",
            b"pass", arg]  # fmt: skip
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    (info,) = json.loads(trace.read_text())["processes"]
    assert info["cmdline"] == [PY, "-c", "pass", os.fsdecode(arg)]
    assert os.fsencode(info["cmdline"][-1]) == arg
    assert info["ppid"] == proc.pid  # the tracer started it
    assert info["uid"] == os.getuid()


PID_1 = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--mount-proc"]


@pytest.mark.needs("unshare")
def test_as_pid_1_rotrace_runs_under_its_own_init(tmp_path: Path) -> None:
    """A container's entry point is PID 1, which adopts every orphan (the report process would
    be the tracer's child, and its loop waits for every child): PID 1 forks, stays an init
    (run/init.py), and the same two processes run in its child; one report, one status."""
    trace, policy = tmp_path / "t.json", tmp_path / "policy.toml"
    (tmp_path / "ok").mkdir()
    policy.write_text(f'version = 1\ndefaults = false\nallow = ["{tmp_path / "ok"}"]\n')
    code = f"open({str(tmp_path / 'ok' / 'a')!r}, 'w').close(); open({str(tmp_path / 'b')!r}, 'w').close()"
    run = [*ROTRACE, "run", "--policy", str(policy), "--json", str(trace), "--", PY, "-c", code]
    proc = subprocess.run([*PID_1, *run], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("✗ 1 violation in 1 place") == 1, proc.stderr
    assert json.loads(trace.read_text())["summary"]["writes"] == 2
    missing = [*PID_1, *ROTRACE, "run", "--", "no-such-command"]
    proc = subprocess.run(missing, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 127 and proc.stderr.count("rotrace: error: command not found") == 1


def test_a_run_past_what_the_report_process_keeps_in_memory(tmp_path: Path) -> None:
    """Past Kept.IN_MEMORY verdicts the first pass spools them: the same trace and report."""
    from rotrace.pipeline import Kept

    n = Kept.IN_MEMORY + 1000
    code = f"for i in range({n}): open(f'f{{i % 50}}', 'w').close()"
    argv = [*ROTRACE, "run", "--allow", str(tmp_path), "--json", "t.json", "--", PY, "-c", code]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    trace = json.loads((tmp_path / "t.json").read_text())
    mine = [e for e in trace["events"] if e["path"].startswith(str(tmp_path) + "/f")]
    assert len(mine) == n and trace["summary"]["violations"] == 0
    assert f"{trace['summary']['writes']:,} writes" in proc.stderr  # the first pass's count
    assert f"{tmp_path} ({n:,})" in proc.stderr  # the second pass's, over the spooled verdicts


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_burst_of_writes_goes_on_while_the_report_process_reads_nothing(
    user: str, site: Path, work: Path
) -> None:
    """The tracer hands a burst of events over without waiting for the report process to read
    them (a pipe as wide as a user may make one): with the report process stopped, a command
    writing 2,500 files finishes; the trace, once it runs again, has every write."""
    n = 2500
    code = (
        "import os, time\n"
        "open('started', 'w').close()\n"
        "while not os.path.exists('go'): time.sleep(0.01)\n"
        f"for i in range({n}): open(f'file-number-{{i:05}}', 'w').close()\n"
        "open('done', 'w').close()\n"
    )
    argv, env = invocation(user, site, work)
    python = PY if user == "root" else "python3"
    cmd = [*argv, "run", "-q", "--allow", str(work), "--json", "t.json", "--", python, "-c", code]
    proc = subprocess.Popen(cmd, cwd=work, env=env, start_new_session=True, stderr=subprocess.PIPE, text=True)
    reporter = 0
    try:
        reporter = _report_process(proc.pid, time.monotonic() + 60)
        _wait_for(work / "started", time.monotonic() + 60)  # the report process parsed the command line
        os.kill(reporter, signal.SIGSTOP)
        (work / "go").touch()
        deadline = time.monotonic() + 60
        while not (work / "done").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        finished_alone = (work / "done").exists()
    finally:
        if reporter:
            os.kill(reporter, signal.SIGCONT)
        _, err = proc.communicate(timeout=300)
    assert finished_alone, "the command waited for the report process to read"
    assert proc.returncode == 0, err
    trace = json.loads((work / "t.json").read_text())
    mine = [e for e in trace["events"] if os.path.basename(e["path"]).startswith("file-number-")]
    assert len(mine) == n


def test_a_piped_quiet_run_loads_no_rich() -> None:
    """`run -q` to a pipe: the verdict line, and neither process loads rich (a fifth of a short
    run's start-up) to print it."""
    dropped = ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    proc = subprocess.run(
        [PY, "-X", "importtime", *ROTRACE[1:], "run", "-q", "--", "true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert "✓ no violations · exit status 0 · 0 writes" in lines
    loaded = [line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")]
    assert "rotrace.tracer.session" in loaded and "rotrace.pipeline" in loaded  # both processes'
    assert [name for name in loaded if name == "rich" or name.startswith("rich.")] == []


@pytest.mark.parametrize("quiet", [["-q"], []])
def test_a_closed_stderr_pipe_ends_the_run_with_status_141(tmp_path: Path, quiet: list[str]) -> None:
    """A reader that closed the pipe (`| head`): 141, as a shell reports SIGPIPE, with the
    verdict line and with rich's report; 1 would say "violations" of a clean run."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    trace = tmp_path / "t.json"
    try:
        proc = subprocess.run(
            [*ROTRACE, "run", *quiet, "--json", str(trace), "--", "true"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=write_end,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 141
    assert json.loads(trace.read_text())["exit_code"] == 0  # the trace was written first
    # the commands that read it: the report on stderr, an export on stdout, buffered or not
    for argv, closed in (
        (["report", str(trace)], "stderr"),
        (["allowlist", str(trace), "--format", "bwrap"], "stdout"),
    ):
        for buffered in (True, False):
            read_end, write_end = os.pipe()
            os.close(read_end)
            env = {k: v for k, v in env.items() if k != "PYTHONUNBUFFERED"} | (
                {} if buffered else {"PYTHONUNBUFFERED": "1"}
            )
            streams = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, closed: write_end}
            try:
                done = subprocess.run([*ROTRACE, *argv], env=env, timeout=120, **streams)  # type: ignore[call-overload]
            finally:
                os.close(write_end)
            assert done.returncode == 141, (argv, buffered)


def test_a_report_process_stopped_at_the_end_is_let_go_on_by_a_terminated_rotrace(tmp_path: Path) -> None:
    """The report process stopped (SIGSTOP) while the command runs: rotrace waits for its report
    once the command is done. SIGTERM to rotrace then (a CI job cancelled) ends rotrace as SIGTERM
    does, and the report process is let go on (SIGCONT): it writes its report and exits, never
    left stopped for ever holding rotrace's output."""
    running, go = tmp_path / "running", tmp_path / "go"
    code = (
        f"import os, time\nopen({str(running)!r}, 'w').close()\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
    )
    argv = [*ROTRACE, "run", "--json", str(tmp_path / "t.json"), "--", PY, "-c", code]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        report = _report_process(proc.pid, deadline)
        while not running.exists():
            assert time.monotonic() < deadline, "the command never ran"
            time.sleep(0.02)
        os.kill(report, signal.SIGSTOP)
        go.touch()
        wchan = Path(f"/proc/{proc.pid}/wchan")
        while "pipe_read" not in wchan.read_text():  # the trace over, reading the report's status
            assert time.monotonic() < deadline, "rotrace never waited for its report"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGTERM, err
        assert _gone([report], time.monotonic() + 20) == []  # let go on, it ended
        assert "1 write" in err or "writes" in err  # its report, written after rotrace had gone
    finally:
        for pid in [*_session(proc.pid), proc.pid]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)
