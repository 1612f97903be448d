"""rotrace's own processes are out of the traced command's reach: the command runs as the same
user, and a same-user process may open another's descriptors through /proc/PID/fd, write its
memory and ptrace it unless it is non-dumpable. Through the tracer's pipe or the report
process's spool the command could rewrite the trace ("no violations")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.terminal import stderr_on_a_terminal
from tests.support.tracing import NON_ROOT_PYTHON, PY, portable_site

# The traced command: it looks for rotrace's processes (its parent, and every process whose
# command line runs rotrace), tries to open each one's descriptors for writing, its memory and
# its environment, and to ptrace its parent; then makes one violation and prints what it got.
# The probes' way to set the resource limits of a thread's process (to what they are: nothing
# changes): whether the kernel let them.
SAME_LIMITS = r"""
import resource
def same_limits(tid):
    try:
        resource.prlimit(tid, resource.RLIMIT_NOFILE, resource.prlimit(tid, resource.RLIMIT_NOFILE))
    except OSError:
        return False
    return True
"""
PROBE = (
    SAME_LIMITS
    + r"""
import ctypes, json, os, sys
me, parent = os.getpid(), os.getppid()
pids = {parent}
for name in os.listdir("/proc"):
    if name.isdigit() and int(name) != me:
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(b"rotrace" in arg for arg in argv[1:4]):
            pids.add(int(name))
opened, refused = [], []
for pid in sorted(pids):
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        fds = [str(n) for n in range(64)]  # not listable: try the numbers
    for fd in fds:
        for flags in (os.O_WRONLY | os.O_APPEND, os.O_RDONLY):
            try:
                got = os.open(f"/proc/{pid}/fd/{fd}", flags | os.O_NONBLOCK)
            except OSError as exc:
                refused.append(exc.errno)
            else:
                opened.append([pid, fd, os.readlink(f"/proc/self/fd/{got}")])
                os.close(got)
    for name, flags in (("mem", os.O_RDWR), ("environ", os.O_RDONLY)):
        try:
            os.close(os.open(f"/proc/{pid}/{name}", flags))
        except OSError as exc:
            refused.append(exc.errno)
        else:
            opened.append([pid, name, ""])
limited = []  # the threads whose process's resource limits it could set (to what they are)
for pid in sorted(pids):
    try:
        tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        tids = [pid]
    limited += [tid for tid in tids if same_limits(tid)]  # prlimit64 takes a thread's id as well
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p)
attached = libc.ptrace(16, parent, None, None) == 0  # PTRACE_ATTACH
dumpable = libc.prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE: the command's own, reset by execve
found = json.dumps({"pids": sorted(pids), "opened": opened, "refused": len(refused),
                    "attached": attached, "dumpable": dumpable, "limited": limited})
with open("probe.json", "w") as f:  # (its stdout may go nowhere: rotrace's stderr on a terminal)
    f.write(found)
print("PROBE " + found, flush=True)
try:
    open("/etc/rotrace-probe-violation", "w").close()
except OSError:
    pass
"""
)

MODES = {
    "plain": [],
    "enforce": ["--enforce"],
    "read-only": ["--read-only", "--keep-writes", "--allow", "{work}"],
}


@pytest.fixture(scope="module")
def nobody() -> Iterator[Path]:
    """A directory holding rotrace (importable by uid 65534) and a work directory of its own."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-own-"))  # pytest's tmp_path is private to root
    try:
        portable_site(base / "site")
        base.chmod(0o755)
        (base / "probe.py").write_text(PROBE)
        (base / "probe.py").chmod(0o644)
        yield base
    finally:
        shutil.rmtree(base)


def _run(base: Path, mode: str, as_nobody: bool, terminal: bool = False) -> tuple[dict, dict, int]:  # type: ignore[type-arg]
    """`terminal`: rotrace's stderr a terminal, where its live status line is drawn while the
    command runs (its exit status is then not known: -1)."""
    work = Path(tempfile.mkdtemp(prefix="work-", dir=base))
    work.chmod(0o777)
    args = [a.format(work=work) for a in MODES[mode]]
    if as_nobody:
        prefix = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
        python = NON_ROOT_PYTHON
        env = {"PYTHONPATH": str(base / "site"), "PATH": os.defpath, "HOME": str(work)}
    else:
        prefix, python, env = [], PY, dict(os.environ)
    command = [python, str(base / "probe.py")]
    argv = [*prefix, python, "-m", "rotrace", "run", *args, "--json", "t.json", "--", *command]
    if terminal:
        said = stderr_on_a_terminal(["sh", "-c", f'cd "{work}" && exec "$@"', "-", *argv], env)
        assert (work / "probe.json").exists(), said
        status = -1
    else:
        proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=120)
        assert "PROBE " in proc.stdout, proc.stderr
        status = proc.returncode
    probe = json.loads((work / "probe.json").read_text())
    trace = json.loads((work / "t.json").read_text())
    return probe, trace, status


def _truthful(trace: dict, status: int) -> None:  # type: ignore[type-arg]
    """The trace still says what happened: the violation, and exit status 1."""
    events = [e for e in trace["events"] if e["path"] == "/etc/rotrace-probe-violation"]
    assert events and events[0]["allowed"] is False and events[0]["errno"] in ("EACCES", "EROFS")
    assert trace["summary"]["violations"] >= 1 and status == 1


@pytest.mark.skipif(not os.path.exists(NON_ROOT_PYTHON), reason="needs a system python3 for uid 65534")
@pytest.mark.parametrize("mode", list(MODES))
def test_the_command_cannot_open_rotraces_descriptors(nobody: Path, mode: str) -> None:
    if mode == "read-only" and shutil.which("bwrap") is None:
        pytest.skip("needs bwrap")
    probe, trace, status = _run(nobody, mode, as_nobody=True)
    if mode != "read-only":
        assert len(probe["pids"]) >= 2, probe  # the tracer and the report process were found
    assert probe["opened"] == [], probe
    assert probe["attached"] is False
    assert probe["dumpable"] == 1  # the command's own processes stay dumpable (strace, core dumps)
    if mode != "plain":  # nor change their resource limits (an RLIMIT_CPU of 0 kills the tracer)
        assert probe["limited"] == [], probe
    _truthful(trace, status)


@pytest.mark.skipif(not os.path.exists(NON_ROOT_PYTHON), reason="needs a system python3 for uid 65534")
def test_no_thread_of_rotraces_is_a_way_to_its_resource_limits(nobody: Path) -> None:
    """On a terminal the report process draws its live status line while the command runs: from
    a thread of its own, whose id the confined command's prlimit64 took where the process's
    was refused (an RLIMIT_FSIZE of 200 cut the JSON trace short). Every thread is refused."""
    probe, trace, _ = _run(nobody, "enforce", as_nobody=True, terminal=True)
    assert len(probe["pids"]) >= 2, probe
    assert probe["limited"] == [], probe
    events = [e for e in trace["events"] if e["path"] == "/etc/rotrace-probe-violation"]
    assert events and events[0]["allowed"] is False


@pytest.mark.needs("bwrap")
def test_as_root_the_sandbox_keeps_its_tracer_out_of_reach(nobody: Path) -> None:
    """Root without CAP_SYS_PTRACE (Docker's capabilities) does not pass PR_SET_DUMPABLE 0; the
    processes outside the sandbox are in another pid namespace."""
    if os.geteuid() != 0:
        pytest.skip("runs as root")
    probe, trace, status = _run(nobody, "read-only", as_nobody=False)
    assert probe["pids"] == [1], probe  # only the sandbox's tracer, PID 1 of its namespace
    assert probe["opened"] == [] and probe["attached"] is False and probe["dumpable"] == 1
    _truthful(trace, status)


def test_the_command_runs_dumpable_when_rotrace_is_not() -> None:
    """A plain run as this user: the command may be straced and dump core as usual."""
    code = "import ctypes; print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"
    proc = subprocess.run([sys.executable, "-m", "rotrace", "run", "-q", "--", sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.stdout.strip() == "1", proc.stderr


# The traced command: writes into a directory (watched by the tracer's placement cache), waits
# while another process overflows that watch's queue, writes again (the tracer's cache starts
# over, its old queue closed), and meanwhile sets the resource limits of every thread of its
# parent, the tracer, that is not the tracer's own pid.
OVERFLOWED = (
    SAME_LIMITS
    + r"""
import json, os, sys, time
work, tracer = sys.argv[1], os.getppid()
open(os.path.join(work, "d", "first"), "w").close()
open(os.path.join(work, "ready"), "w").close()
while not os.path.exists(os.path.join(work, "go")):
    time.sleep(0.01)
open(os.path.join(work, "d", "second"), "w").close()
seen, limited, end = 1, [], time.monotonic() + 1
while time.monotonic() < end:
    tids = [int(t) for t in os.listdir(f"/proc/{tracer}/task")]
    seen = max(seen, len(tids))
    limited += [tid for tid in tids if tid != tracer and same_limits(tid)]
with open(os.path.join(work, "probe.json"), "w") as f:
    json.dump({"threads": seen, "limited": limited}, f)
"""
)


@pytest.mark.skipif(not os.path.exists(NON_ROOT_PYTHON), reason="needs a system python3 for uid 65534")
def test_a_confined_runs_tracer_starts_no_thread_when_its_cache_starts_over(nobody: Path) -> None:
    """Another process overflows the inotify queue of a directory the command writes in: the
    tracer's placement cache starts over, and closed its old queue in a thread of its own (the
    kernel's grace period), whose id the confined command's prlimit64 reached past the refusal
    of the tracer's pid. In a confined run the tracer stays one thread."""
    work = Path(tempfile.mkdtemp(prefix="work-", dir=nobody))
    work.chmod(0o777)
    (work / "d").mkdir()
    (work / "d").chmod(0o777)
    (work / "probe.py").write_text(OVERFLOWED)
    env = {"PYTHONPATH": str(nobody / "site"), "PATH": os.defpath, "HOME": str(work)}
    nobody_user = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
    argv = [*nobody_user, NON_ROOT_PYTHON, "-m", "rotrace", "run", "--enforce", "-q", "--",
            NON_ROOT_PYTHON, str(work / "probe.py"), str(work)]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=work, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (work / "ready").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the command never started"
            time.sleep(0.01)
        a, b = work / "d" / "a", work / "d" / "b"
        a.touch()
        for _ in range(12000):  # 24,000 renames: past the queue's 16,384 events
            os.rename(a, b)
            os.rename(b, a)
        (work / "go").touch()
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    probe = json.loads((work / "probe.json").read_text())
    assert probe == {"threads": 1, "limited": []}, err


@pytest.mark.needs("unshare")
def test_as_pid_1_rotraces_init_is_out_of_the_confined_commands_reach(tmp_path: Path) -> None:
    """rotrace as a container's PID 1 runs the trace under an init of its own (run/init.py): a
    third process of rotrace's, whose resource limits the confined command could set (an
    RLIMIT_CPU of 1 s, then orphans to reap: the init killed, the pid namespace with it, no
    report and an empty trace). Its limits are refused too; the tracer's and the report
    process's still are."""
    code = SAME_LIMITS + "print(same_limits(1), same_limits(os.getppid()))"
    trace = tmp_path / "t.json"
    unshare = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--mount-proc"]
    argv = [*unshare, sys.executable, "-m", "rotrace", "run", "--enforce", "--json", str(trace), "--",
            PY, "-c", "import os\n" + code]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.stdout == "False False\n", proc.stderr
    assert proc.returncode == 0 and json.loads(trace.read_text())["summary"]["violations"] == 0, proc.stderr
