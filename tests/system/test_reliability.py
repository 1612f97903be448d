"""Faults and signals: rotrace never hangs, never leaves a process stopped, and keeps what it
saw (each test here failed on the code before it)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from rotrace.tracer import TraceOptions, trace_command
from tests.support.tracing import PY, process_state

ROTRACE = [PY, "-m", "rotrace"]


def test_a_spool_that_cannot_be_written_does_not_hang(tmp_path: Path) -> None:
    """RLIMIT_FSIZE (or a full tmpfs as $TMPDIR): the events go on in memory, with a warning."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    code = "import os\nfor i in range(20000): os.close(os.open('f%d' % (i % 10), os.O_WRONLY | os.O_CREAT))"
    proc = subprocess.run([*ROTRACE, "run", "--allow", str(tmp_path), "--", PY, "-c", code], cwd=tmp_path,
                          preexec_fn=limit, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "20,000 writes" in proc.stderr and "kept the events in memory" in proc.stderr


def test_with_no_temporary_directory_the_whole_trace_is_written(tmp_path: Path) -> None:
    """$TMPDIR nowhere (a read-only container without a tmpfs): spools in memory, the events'
    JSON rendered at the end rather than kept in memory during the run; the same trace."""
    code = "for i in range(3000): open('f%d' % (i % 10), 'w').close()"
    env = dict(os.environ, TMPDIR=str(tmp_path / "missing"))
    argv = [*ROTRACE, "run", "--allow", str(tmp_path), "--json", "t.json", "--", PY, "-c", code]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    trace = json.loads((tmp_path / "t.json").read_text())
    mine = [e for e in trace["events"] if e["path"].startswith(str(tmp_path / "f"))]
    assert len(mine) == 3000 and trace["summary"]["writes"] == len(trace["events"])


def test_a_failure_in_the_loop_leaves_no_process_stopped(tmp_path: Path) -> None:
    """The sink fails mid-run: every tracee is killed and reaped, none left in a traced stop."""
    pids = tmp_path / "pids"
    code = textwrap.dedent(f"""
        import os, time
        for _ in range(3):
            if os.fork() == 0:
                break
        open("{pids}", "a").write(f"{{os.getpid()}}\\n")
        while True:
            open("{tmp_path}/f%d" % os.getpid(), "w").close()
    """)
    driver = textwrap.dedent(f"""
        import sys
        from rotrace.tracer import TraceOptions, trace_command
        seen = 0
        def sink(_event):
            global seen
            seen += 1
            if seen == 500:
                raise RuntimeError("the sink failed")
        try:
            trace_command([sys.executable, "-c", {code!r}], sink, TraceOptions())
        except RuntimeError as exc:
            print(exc)
    """)
    # in a process of its own, so that a hang fails this test instead of holding the suite
    proc = subprocess.run([PY, "-c", driver], capture_output=True, text=True, timeout=30)
    assert proc.stdout.strip() == "the sink failed", proc.stderr
    time.sleep(0.2)
    for pid in map(int, pids.read_text().split()):
        assert process_state(pid) in (None, "Z"), pid  # gone (or a zombie of init), never 't' (traced)


def test_threads_outliving_their_leader_keep_paths_and_exe(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import ctypes, os, threading, time
        def worker():
            time.sleep(0.2)
            for i in range(3):
                os.close(os.open("{tmp_path}/after-%d" % i, os.O_WRONLY | os.O_CREAT, 0o644))
            os._exit(0)
        threading.Thread(target=worker).start()
        ctypes.CDLL(None).pthread_exit(None)
    """)
    events: list = []  # type: ignore[type-arg]
    trace_command([PY, "-c", code], events.append, TraceOptions())
    mine = [e for e in events if e.path.startswith(os.fsencode(tmp_path))]
    assert [os.path.basename(e.path) for e in mine] == [b"after-0", b"after-1", b"after-2"]
    assert all(e.exe == os.fsencode(os.path.realpath(PY)) for e in mine)


DAEMON = """
import os, signal, sys, time
out = sys.argv[1]
def on_term(sig, frame):
    open(f"{out}/got-{os.getpid()}", "w").close()
    if not IGNORE:
        os._exit(0)
signal.signal(signal.SIGTERM, on_term)
if os.fork() == 0:
    os.setsid()  # a daemon in its own session: no terminal's signal reaches it
    signal.signal(signal.SIGTERM, on_term)
open(f"{out}/ready-{os.getpid()}", "w").close()
while True:
    time.sleep(0.05)
"""


def _start(tmp_path: Path, ignore: bool, *extra: str) -> subprocess.Popen[str]:
    code = DAEMON.replace("IGNORE", str(ignore))
    argv = [*ROTRACE, "run", *extra, "--json", str(tmp_path / "t.json"), "--", PY, "-c", code, str(tmp_path)]
    proc = subprocess.Popen(argv, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while len(list(tmp_path.glob("ready-*"))) < 2:
        assert time.monotonic() < deadline, "the workload did not start"
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize("read_only", [False, True], ids=["plain", "read-only"])
def test_a_second_signal_kills_the_tree_and_reports(tmp_path: Path, read_only: bool) -> None:
    proc = _start(tmp_path, True, *(["--read-only", "--allow", str(tmp_path), "--keep-writes"]
                                    if read_only else []))  # fmt: skip
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while len(list(tmp_path.glob("got-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 8, err  # the command was killed (its writes were all allowed)
    trace = json.loads((tmp_path / "t.json").read_text())
    assert trace["signal"] == "SIGKILL" and any("partial" in w for w in trace["warnings"])
    # every process of the workload is gone (the read-only sandbox numbers them in a pid
    # namespace of its own: they are found by their command line here)
    left = [pid for pid in _running_with(str(tmp_path)) if process_state(pid) not in (None, "Z")]
    assert left == []


def _running_with(argument: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if os.fsencode(argument) in f.read().split(b"\0"):
                    found.append(int(name))
        except (OSError, ValueError):
            continue
    return found
