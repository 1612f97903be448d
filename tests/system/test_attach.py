"""`rotrace run -p PID`: attach to a running process and the children it makes from then on;
let it go, still running, on Ctrl-C; leave it running if rotrace is killed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.attaching import attached
from tests.support.tracing import NON_ROOT_PYTHON, portable_site

ROTRACE = [sys.executable, "-m", "rotrace"]
SERVICE = textwrap.dedent("""
    import os, sys, time
    out, stop_after = sys.argv[1], float(sys.argv[2])
    start, i = time.monotonic(), 0
    while time.monotonic() - start < stop_after:
        i += 1
        open(f"{out}/tick-{i % 3}", "w").close()
        if i % 10 == 0:
            pid = os.fork()
            if pid == 0:
                open(f"{out}/child-{os.getpid()}", "w").close()
                os._exit(0)
            os.waitpid(pid, 0)
        time.sleep(0.01)
    raise SystemExit(7)
""")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", SERVICE, str(tmp_path), "60"])
    while not (tmp_path / "tick-1").exists():
        time.sleep(0.01)
    yield proc
    proc.kill()
    proc.wait()


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)


def _attach(pid: int, tmp_path: Path) -> subprocess.Popen[str]:
    """rotrace run -p PID, once it traces PID (a signal before that ends rotrace as it loads)."""
    proc, _ = attached([*ROTRACE, "run", "-p", str(pid), "--json", str(tmp_path / "t.json")])
    return proc


def test_ctrl_c_lets_the_process_go_running(service: subprocess.Popen[bytes], tmp_path: Path) -> None:
    rotrace = _attach(service.pid, tmp_path)
    seen = set(tmp_path.glob("child-*"))
    while len(set(tmp_path.glob("child-*")) - seen) < 2:  # the second forked after the attach
        time.sleep(0.01)
    rotrace.send_signal(signal.SIGINT)
    _, err = rotrace.communicate(timeout=20)
    assert rotrace.returncode == 0, err  # its writes are under /tmp: allowed
    assert _status(service.pid)["TracerPid"].strip() == "0" and service.poll() is None
    before = len(list(tmp_path.glob("child-*")))
    time.sleep(0.5)
    assert len(list(tmp_path.glob("child-*"))) > before  # still working, untraced
    trace = json.loads((tmp_path / "t.json").read_text())
    paths = {os.path.basename(e["path"]).split("-")[0] for e in trace["events"]}
    assert paths == {"tick", "child"}  # the children it made while traced are in the trace
    assert len({e["pid"] for e in trace["events"]}) > 1
    assert any("goes on running" in w for w in trace["warnings"])


def test_the_trace_records_the_attached_processs_environment_not_rotraces(tmp_path: Path) -> None:
    """Attached from a shell with PYTHONDONTWRITEBYTECODE=1 to a server started without it, the
    trace recorded rotrace's environment: the report said the setting was on and bytecode was
    made all the same, and the plan mounted __pycache__ instead of setting it."""
    server_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"APP_MODE": "x"}
    server = subprocess.Popen([sys.executable, "-c", SERVICE, str(tmp_path), "60"], env=server_env)
    try:
        while not (tmp_path / "tick-1").exists():
            time.sleep(0.01)
        env = os.environ | {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONOPTIMIZE": "1"}
        argv = [*ROTRACE, "run", "-p", str(server.pid), "--json", str(tmp_path / "t.json")]
        rotrace, _ = attached(argv, env=env)
        rotrace.send_signal(signal.SIGINT)
        _, err = rotrace.communicate(timeout=20)
        assert rotrace.returncode == 0, err
    finally:
        server.kill()
        server.wait()
    recorded = json.loads((tmp_path / "t.json").read_text())["environment"]
    assert "PYTHONDONTWRITEBYTECODE" not in recorded and "PYTHONOPTIMIZE" not in recorded, recorded
    assert recorded["uid"] == str(os.getuid()) and recorded.get("HOME") == os.environ.get("HOME"), recorded


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGQUIT], ids=["SIGINT", "SIGQUIT"])
def test_a_process_let_go_has_no_exit_status_in_the_trace_the_report_or_a_merge(
    service: subprocess.Popen[bytes], tmp_path: Path, signum: int
) -> None:
    """It never exited: neither "exit status 0" in the report nor 0 in the trace (null, as a
    checkpoint's, with "let_go": true); a merge of it keeps that for its run. SIGQUIT (^\\)
    killed rotrace without a word, trace and report lost: it lets go as the others do."""
    rotrace = _attach(service.pid, tmp_path)
    rotrace.send_signal(signum)
    _, err = rotrace.communicate(timeout=20)
    assert "let go, still running" in err and "exit status" not in err, err
    trace = json.loads((tmp_path / "t.json").read_text())
    assert trace["let_go"] is True and trace["exit_code"] is None and trace["signal"] is None
    report = subprocess.run(
        [*ROTRACE, "report", "-q", str(tmp_path / "t.json")], capture_output=True, text=True
    )
    assert "let go, still running" in report.stderr and report.returncode == 0, report.stderr
    document = subprocess.run([*ROTRACE, "report", "--format", "json", str(tmp_path / "t.json")],
                              capture_output=True, text=True)  # fmt: skip
    assert json.loads(document.stdout)["exit_code"] is None
    merged = tmp_path / "merged" / "m.json"
    merged.parent.mkdir()
    subprocess.run(
        [*ROTRACE, "merge", str(tmp_path / "t.json"), "-o", str(merged)], check=True, capture_output=True
    )
    (source,) = json.loads(merged.read_text())["sources"]
    assert source["let_go"] is True and source["exit_code"] is None


BUSY = "import sys\nwhile True: open(sys.argv[1] + '/busy', 'w').close()\n"


def test_one_ctrl_c_lets_a_busy_process_go_whatever_the_tracer_is_doing(tmp_path: Path) -> None:
    """A process that writes without pause keeps the tracer in its syscall stops: the Ctrl-C
    that arrives while one is handled must still end the trace, at once."""
    busy = subprocess.Popen([sys.executable, "-c", BUSY, str(tmp_path)])
    try:
        while not (tmp_path / "busy").exists():
            time.sleep(0.01)
        for _ in range(5):
            rotrace = _attach(busy.pid, tmp_path)
            rotrace.send_signal(signal.SIGINT)
            try:
                _, err = rotrace.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                rotrace.kill()
                rotrace.communicate()
                raise AssertionError("one SIGINT did not end the attached trace") from None
            assert rotrace.returncode == 0, err
            assert _status(busy.pid)["TracerPid"].strip() == "0" and busy.poll() is None
    finally:
        busy.kill()
        busy.wait()


def test_a_killed_rotrace_leaves_the_process_running(
    service: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    rotrace = _attach(service.pid, tmp_path)
    rotrace.kill()
    rotrace.wait()
    time.sleep(0.2)
    status = _status(service.pid)
    assert status["TracerPid"].strip() == "0" and not status["State"].startswith("t"), status
    before = len(list(tmp_path.glob("child-*")))
    time.sleep(0.5)
    assert service.poll() is None and len(list(tmp_path.glob("child-*"))) > before


def test_attached_until_the_process_exits(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SERVICE, str(tmp_path), "2"])
    while not (tmp_path / "tick-1").exists():
        time.sleep(0.01)
    rotrace = subprocess.run([*ROTRACE, "run", "-p", str(proc.pid), "--json", str(tmp_path / "t.json")],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    proc.wait()
    trace = json.loads((tmp_path / "t.json").read_text())
    assert trace["exit_code"] == 7 and rotrace.returncode == 8, rotrace.stderr
    assert trace["command"][-2:] == [str(tmp_path), "2"]


THREADS = textwrap.dedent("""
    import os, sys, threading, time
    out = sys.argv[1]
    def work(name):
        while not os.path.exists(f"{out}/go"):
            time.sleep(0.005)
        open(f"{out}/{name}", "w").close()
    threads = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(3)]
    for t in threads:
        t.start()
    open(f"{out}/started", "w").close()
    work("main")
    for t in threads:
        t.join()
""")


def test_rotrace_says_when_every_thread_is_traced_and_each_write_after_that_is_in_the_trace(
    tmp_path: Path,
) -> None:
    """A seized thread runs untraced until rotrace handles its first stop: a write made after
    the process was seized but before then is not seen. "attached" is said once it holds for
    every thread (strace's "Process N attached"), so that a user knows from when on; -q keeps
    it quiet."""
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", THREADS, str(out)])
    try:
        while not (out / "started").exists():
            time.sleep(0.01)
        rotrace, said = attached([*ROTRACE, "run", "-p", str(proc.pid), "--json", str(tmp_path / "t.json")])
        line = f"rotrace: attached to pid {proc.pid} (4 threads): tracing; Ctrl-C lets it go on running\n"
        assert said.endswith(line), said
        (out / "go").touch()
        assert proc.wait(timeout=30) == 0
        _, err = rotrace.communicate(timeout=30)
        assert rotrace.returncode == 0, err
    finally:
        proc.kill()
        proc.wait()
    made = {Path(e["path"]).name for e in json.loads((tmp_path / "t.json").read_text())["events"]}
    assert {"t0", "t1", "t2", "main"} <= made, made
    quiet = subprocess.Popen([sys.executable, "-c", SERVICE, str(tmp_path), "1"])
    try:
        argv = [*ROTRACE, "run", "-q", "-p", str(quiet.pid)]
        rotrace_q = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    finally:
        quiet.kill()
        quiet.wait()
    assert "attached" not in rotrace_q.stderr and rotrace_q.returncode == 8, rotrace_q.stderr


CHURN = r"""
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
static void *chain(void *unused) {  /* each thread starts the next and exits: a pool retiring threads */
    pthread_t next;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_create(&next, &attr, chain, NULL);
    return unused;
}
int main(int argc, char **argv) {
    for (int i = 0; i < atoi(argv[1]); i++) chain(NULL);
    for (;;) pause();
}
"""


@pytest.mark.needs("gcc")
def test_attaching_to_a_process_whose_threads_come_and_go_is_never_refused(tmp_path: Path) -> None:
    """Threads made and retired while rotrace seizes them in turn: the kernel refuses (EPERM) a
    thread that a seized one made since /proc listed it (traced already, from its start) and
    one that is exiting. Neither is a refusal of the attach, which said "another user's"."""
    (tmp_path / "churn.c").write_text(CHURN)
    exe = tmp_path / "churn"
    subprocess.run(["gcc", "-O2", "-pthread", "-o", str(exe), str(tmp_path / "churn.c")], check=True)
    churn = subprocess.Popen([str(exe), "48"])
    try:
        for _ in range(30):
            rotrace, said = attached([*ROTRACE, "run", "-p", str(churn.pid)])
            rotrace.send_signal(signal.SIGINT)
            _, err = rotrace.communicate(timeout=30)
            assert rotrace.returncode == 0 and "refused" not in said + err, said + err
            assert churn.poll() is None
    finally:
        churn.kill()
        churn.wait()


LEADER_GONE = r"""
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
static void *work(void *unused) {
    for (;;) {
        int fd = open("out", O_WRONLY | O_CREAT, 0644);
        if (fd >= 0) close(fd);
        usleep(20000);
    }
    return unused;
}
int main(void) {  /* the main thread exits, the other goes on: the leader a zombie meanwhile */
    pthread_t t;
    pthread_create(&t, NULL, work, NULL);
    pthread_exit(NULL);
}
"""


@pytest.mark.needs("gcc")
def test_a_process_whose_main_thread_exited_is_attached_by_its_other_threads(tmp_path: Path) -> None:
    """pthread_exit in main: the leader is a zombie while the process runs (no cwd in /proc, and
    ptrace refuses it): rotrace said there was no process to attach to."""
    (tmp_path / "gone.c").write_text(LEADER_GONE)
    exe = tmp_path / "gone"
    subprocess.run(["gcc", "-O2", "-pthread", "-o", str(exe), str(tmp_path / "gone.c")], check=True)
    proc = subprocess.Popen([str(exe)], cwd=tmp_path)
    try:
        while not (tmp_path / "out").exists():
            time.sleep(0.01)
        rotrace, said = attached([*ROTRACE, "run", "-p", str(proc.pid), "--json", str(tmp_path / "t.json")])
        (tmp_path / "out").unlink()
        while not (tmp_path / "out").exists():  # written again, after the attach
            time.sleep(0.01)
        rotrace.send_signal(signal.SIGINT)
        _, err = rotrace.communicate(timeout=30)
        assert rotrace.returncode == 0, said + err
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
    trace = json.loads((tmp_path / "t.json").read_text())
    assert any(e["path"] == str(tmp_path / "out") and e["op"] == "create" for e in trace["events"]), trace
    assert not any("shares its" in w for w in trace["warnings"]), trace["warnings"]


def test_attach_usage(tmp_path: Path) -> None:
    both = subprocess.run([*ROTRACE, "run", "-p", "1", "--", "true"], capture_output=True, text=True)
    assert both.returncode == 2 and "give no COMMAND" in both.stderr
    gone = subprocess.run([*ROTRACE, "run", "-p", "4194303"], capture_output=True, text=True)
    assert gone.returncode == 3 and "no process 4194303" in gone.stderr


def test_attaching_to_another_users_process_is_one_line(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run rotrace as another user than the process")
    site = portable_site(Path(tempfile.mkdtemp(prefix="rotrace-site-")))
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        argv = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", NON_ROOT_PYTHON, "-m",
                "rotrace", "run", "-p", str(sleeper.pid)]  # fmt: skip
        env = {"PYTHONPATH": str(site), "PATH": os.defpath}
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode in (3, 4), proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert sleeper.poll() is None and _status(sleeper.pid)["TracerPid"].strip() == "0"
    finally:
        sleeper.kill()
        sleeper.wait()
        shutil.rmtree(site, ignore_errors=True)


TAKES_USR1 = textwrap.dedent("""
    import os, signal, sys, time
    out = sys.argv[1]
    signal.signal(signal.SIGUSR1, lambda *_: open(f"{out}/usr1", "w").close())
    open(f"{out}/tick-1", "w").close()
    while True:
        time.sleep(0.01)
""")


def test_letting_go_passes_on_a_signal_in_delivery(tmp_path: Path) -> None:
    """The process was stopped to receive a signal when rotrace let it go: it still gets it."""
    target = subprocess.Popen([sys.executable, "-c", TAKES_USR1, str(tmp_path)])
    try:
        while not (tmp_path / "tick-1").exists():
            time.sleep(0.01)
        rotrace = _attach(target.pid, tmp_path)
        os.kill(rotrace.pid, signal.SIGSTOP)  # the tracer cannot answer the signal-delivery-stop...
        os.kill(target.pid, signal.SIGUSR1)
        time.sleep(0.3)
        assert _status(target.pid)["State"].startswith("t")  # ...so the target waits in it
        os.kill(rotrace.pid, signal.SIGINT)  # let it go, while that signal is in delivery
        os.kill(rotrace.pid, signal.SIGCONT)
        _, err = rotrace.communicate(timeout=20)
        assert rotrace.returncode == 0, err
        deadline = time.monotonic() + 10
        while not (tmp_path / "usr1").exists():
            assert time.monotonic() < deadline, "the signal was dropped when rotrace let the process go"
            time.sleep(0.05)
        assert _status(target.pid)["TracerPid"].strip() == "0"
    finally:
        target.kill()
        target.wait()


@pytest.mark.needs("strace")
def test_a_process_another_tracer_holds_is_refused_with_the_right_hint(tmp_path: Path) -> None:
    """-p on a process strace already traces: one line naming strace, and no claim that strace
    traces rotrace (it does not: rotrace only tried to attach)."""
    held = subprocess.Popen(["strace", "-o", "/dev/null", "sleep", "60"])
    try:
        deadline = time.monotonic() + 20
        target = None
        while target is None:  # strace's command: not the short-lived children it probes ptrace with
            assert time.monotonic() < deadline, "strace did not start its command"
            for child in Path(f"/proc/{held.pid}/task/{held.pid}/children").read_text().split():
                try:
                    status = _status(int(child))
                except FileNotFoundError:  # a probe, gone
                    continue
                traced = status.get("TracerPid", "").strip() == str(held.pid)
                if traced and status.get("Name", "").strip() == "sleep":
                    target = int(child)
            time.sleep(0.05)
        proc = subprocess.run(
            [*ROTRACE, "run", "-p", str(target)], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 4, proc.stderr
        assert proc.stderr.strip().count("\n") == 0 and "already traced by strace" in proc.stderr
        assert "traces rotrace too" not in proc.stderr
    finally:
        held.kill()
        held.wait()


def _attached_until(
    go: Path, python: list[str], tmp_path: Path, *options: str
) -> tuple[int, str, list[dict]]:  # type: ignore[type-arg]
    """`python` (a script waiting for `go`, and its arguments) run, attached to with `run -p`
    (`options` too), then told to go: rotrace's status and stderr, and the trace's events."""
    proc = subprocess.Popen([sys.executable, "-c", *python])
    try:
        argv = [*ROTRACE, "run", "-p", str(proc.pid), *options, "--json", str(tmp_path / "t.json")]
        rotrace, said = attached(argv)
        go.touch()
        _, err = rotrace.communicate(timeout=30)
        err = said + err
    finally:
        proc.kill()
        proc.wait()
    return rotrace.returncode, err, json.loads((tmp_path / "t.json").read_text())["events"]


def test_an_unnamed_file_made_after_attaching_is_placed_in_its_directory(tmp_path: Path) -> None:
    """O_TMPFILE (tempfile.TemporaryFile, a spooled upload rolled over to disk) names the
    directory the file is made in: attached (the process's cwd and root may be shared with one
    rotrace does not trace), the write is placed there, as in a run rotrace started; its fd,
    a file with no name, is no evidence against it."""
    made, go = tmp_path / "spool", tmp_path / "go"
    made.mkdir()
    script = textwrap.dedent("""
        import os, sys, time
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.02)
        fd = os.open(sys.argv[1], os.O_TMPFILE | os.O_RDWR)
        os.write(fd, b"x")
    """)
    returncode, err, events = _attached_until(
        go, [script, str(made), str(go)], tmp_path, "--allow", str(made)
    )
    made_there = [e for e in events if "O_TMPFILE" in (e["flags"] or "")]
    assert [(e["path"], e["unresolved"], e["allowed"]) for e in made_there] == [(str(made), False, True)], err
    assert returncode == 0, err


def test_an_open_for_reading_with_o_creat_after_attaching_stays_a_write(tmp_path: Path) -> None:
    """A process rotrace attached to may share its fd table with one it never saw made
    (clone(CLONE_FILES) before the attach), which can put another file at the fd the open
    returned: nothing proves an open(O_RDONLY|O_CREAT) of a file that was there made nothing
    (with the name swapped back meanwhile, a creation went unreported). It stays a create."""
    lock, go = tmp_path / "lock", tmp_path / "go"
    lock.write_text("")
    script = textwrap.dedent("""
        import os, sys, time
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.02)
        os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_CREAT, 0o644))
    """)
    _, err, events = _attached_until(go, [script, str(lock), str(go)], tmp_path)
    assert [(e["op"], e["write"]) for e in events if e["path"] == str(lock)] == [("create", True)], err
