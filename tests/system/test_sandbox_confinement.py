"""--read-only confines as `docker run --read-only` does: no write reaches the host behind a
report that says "read-only", as root (Docker's capabilities: no remount) or as another user
(a user namespace); /proc/sys read-only; a pid and an IPC namespace; a session of its own (no
TIOCSTI).
And the report never says EROFS for a write that went through."""

from __future__ import annotations

import json
import os
import pty
import shlex
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rotrace.sandbox.inner import COPIED_STREAM_LIMIT
from tests.support.tracing import NON_ROOT_PYTHON, PY, portable_site

pytestmark = pytest.mark.needs("bwrap")
CAP_SYS_PTRACE, CAP_SYS_ADMIN = 19, 21

# Each attempt prints NAME=exit-status; the host file must never appear.
SCRIPT = r"""
attempt() {{ name=$1; shift; "$@" >/dev/null 2>&1; echo "$name=$?"; }}
attempt remount mount -o remount,rw /
attempt remount_var mount -o remount,rw {host_dir}
attempt host_write sh -c 'echo x > {host_file}'
attempt userns_remount unshare -Urm sh -c 'mount -o remount,rw / && echo x > {host_file}'
attempt proc_sys sh -c 'echo 300 > /proc/sys/kernel/ns_last_pid'
attempt sysrq sh -c 'echo h > /proc/sysrq-trigger'
attempt host_pid kill -0 {host_pid}
attempt dev_write sh -c 'echo x > /dev/rotrace-probe'
attempt comm sh -c 'echo probe > /proc/self/comm'
attempt raw_disk sh -c 'mknod /tmp/disk b {major} {minor} && head -c 1 /tmp/disk'
attempt ipc ipcmk -Q -p 0600
grep -E '^Cap(Eff|Bnd)' /proc/self/status
"""


def _host_queues() -> set[str]:
    """The System V message queues of this IPC namespace (the machine's), by id."""
    lines = Path("/proc/sysvipc/msg").read_text().splitlines()[1:]
    return {line.split()[1] for line in lines}


@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A directory on the host outside the allowlist (/var/tmp), and a host process."""
    outside = Path(tempfile.mkdtemp(prefix="rotrace-host-", dir="/var/tmp"))
    outside.chmod(0o777)
    sleeper = subprocess.Popen(["sleep", "120"])
    try:
        yield outside, sleeper
    finally:
        sleeper.kill()
        sleeper.wait()
        shutil.rmtree(outside)


def _script(outside: Path, sleeper: subprocess.Popen[bytes]) -> str:
    root = os.stat("/").st_dev
    return SCRIPT.format(host_dir=outside, host_file=outside / f"written-{uuid.uuid4().hex}",
                         host_pid=sleeper.pid, major=os.major(root), minor=os.minor(root))  # fmt: skip


def _results(stdout: str) -> tuple[dict[str, int], dict[str, int]]:
    tried = dict(line.split("=") for line in stdout.splitlines() if "=" in line)
    lines = [line.split() for line in stdout.splitlines() if line.startswith("Cap")]
    caps = {k.rstrip(":"): int(v, 16) for k, v in lines}
    return {k: int(v) for k, v in tried.items()}, caps


def _check(outside: Path, stdout: str, trace: dict, queues: set[str]) -> None:  # type: ignore[type-arg]
    tried, caps = _results(stdout)
    assert list(outside.iterdir()) == []  # nothing reached the host
    assert tried["ipc"] == 0 and _host_queues() == queues  # the queue made was the sandbox's own
    for refused in ("remount", "remount_var", "host_write", "userns_remount", "proc_sys", "host_pid"):
        assert tried[refused] != 0, (refused, stdout)
    assert tried["raw_disk"] != 0  # a device node made in a tmpfs cannot be opened (nodev)
    assert tried["dev_write"] == 0 and tried["comm"] == 0  # the sandbox's own /dev and /proc, as in Docker
    for cap in ("CapEff", "CapBnd"):
        assert not caps[cap] >> CAP_SYS_ADMIN & 1 and not caps[cap] >> CAP_SYS_PTRACE & 1, stdout
    writes = [e for e in trace["events"] if e["write"]]
    went_through = [e for e in writes if e["errno"] is None]
    assert went_through and all(e["ro_forecast"] != "EROFS" for e in went_through), went_through
    assert {e["path"] for e in went_through} >= {"/dev/rotrace-probe"}
    proc_sys = [e for e in writes if e["path"] == "/proc/sys/kernel/ns_last_pid"]
    assert proc_sys and proc_sys[0]["errno"] in ("EROFS", "EACCES")
    # the pids are the sandbox's, and every event's process is in the trace
    known = {p["pid"] for p in trace["processes"]}
    assert {e["pid"] for e in trace["events"]} <= known
    assert next(p["ppid"] for p in trace["processes"] if p["cmdline"][:1] == ["sh"]) == 1  # the tracer's


def test_as_root_nothing_reaches_the_host(tmp_path: Path, host: tuple[Path, subprocess.Popen[bytes]]) -> None:
    if os.geteuid() != 0:
        pytest.skip("runs as root")
    outside, sleeper = host
    queues = _host_queues()
    proc = subprocess.run([PY, "-m", "rotrace", "run", "--read-only", "--json", "t.json", "--", "sh", "-c",
                           _script(outside, sleeper)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    trace = json.loads((tmp_path / "t.json").read_text())
    _check(outside, proc.stdout, trace, queues)
    _, caps = _results(proc.stdout)
    assert caps["CapEff"] == caps["CapBnd"] != 0  # Docker's set, and no more to get back by exec
    # a command that drops to another user (gosu, su) is still traced where it writes
    dropped = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "sh", "-c",
               f"cd {outside}; touch rel /var/tmp/rotrace-refused"]  # fmt: skip
    subprocess.run([PY, "-m", "rotrace", "run", "--read-only", "--json", "u.json", "--", *dropped],
                   cwd=tmp_path, capture_output=True, timeout=120)  # fmt: skip
    events = [e for e in json.loads((tmp_path / "u.json").read_text())["events"] if e["op"] == "create"]
    placed = [(e["path"], e["errno"], e["unresolved"], e["exe"]) for e in events]
    assert placed == [(f"{outside}/rel", "EROFS", False, "/usr/bin/touch"),
                      ("/var/tmp/rotrace-refused", "EROFS", False, "/usr/bin/touch")]  # fmt: skip


@pytest.mark.skipif(not os.path.exists(NON_ROOT_PYTHON), reason="needs a system python3 for uid 65534")
def test_as_another_user_nothing_reaches_the_host(host: tuple[Path, subprocess.Popen[bytes]]) -> None:
    outside, sleeper = host
    base = Path(tempfile.mkdtemp(prefix="rotrace-confine-"))
    try:
        site = portable_site(base / "site")
        base.chmod(0o755)
        work = base / "work"
        work.mkdir(mode=0o777)
        work.chmod(0o777)
        prefix = [] if os.geteuid() else ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
        queues = _host_queues()
        proc = subprocess.run(
            [*prefix, NON_ROOT_PYTHON, "-m", "rotrace", "run", "--read-only", "--json", "t.json", "--",
             "sh", "-c", _script(outside, sleeper)],
            cwd=work, env={"PYTHONPATH": str(site), "PATH": os.defpath, "HOME": str(work)},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        trace = json.loads((work / "t.json").read_text())
        _check(outside, proc.stdout, trace, queues)
    finally:
        shutil.rmtree(base)


def test_the_command_cannot_type_into_the_terminal(tmp_path: Path) -> None:
    """TIOCSTI pushes input into a terminal: into the shell rotrace was started from, had the
    command the same session. The sandbox's is its own."""
    code = "import fcntl, termios; fcntl.ioctl(0, termios.TIOCSTI, b'#'); print('INJECTED')"
    _, output = _in_a_terminal(tmp_path, ["--read-only", "-q", "--", PY, "-c", code])
    assert b"INJECTED" not in output and b"PermissionError" in output, output


def _in_a_terminal(
    tmp_path: Path, argv: list[str], keys: bytes = b"", after: bytes = b""
) -> tuple[int, bytes]:
    """rotrace run in a terminal of its own (its controlling one), `keys` typed once `after`
    has been printed: (exit status, what the terminal showed)."""
    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(tmp_path)
        os.execv(PY, [PY, "-m", "rotrace", "run", *argv])
    output = b""
    try:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's last process is gone
                break
            if not chunk:
                break
            output += chunk
            if keys and after in output:
                os.write(master, keys)
                keys = b""
    finally:
        os.close(master)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output


def test_ctrl_c_in_the_terminal_reaches_the_command(tmp_path: Path) -> None:
    """^C goes to rotrace's process group: relayed to the command in the sandbox's session, it
    never kills bubblewrap (and the trace with it)."""
    code = (
        "import time\ntry:\n print('READY', flush=True); time.sleep(30)\n"
        "except KeyboardInterrupt:\n print('GOT IT')"
    )
    status, output = _in_a_terminal(tmp_path, ["--read-only", "--", PY, "-c", code], b"\x03", b"READY")
    assert b"GOT IT" in output and b"could not start" not in output, output
    assert status == 0


_REOPEN = "echo pwned > /dev/stdin; echo stdin=$?; echo pwned > /proc/self/fd/0; echo fd=$?; cat"


def _as(user: str, argv: list[str], base: Path) -> tuple[list[str], dict[str, str] | None]:
    """`argv` (rotrace by PY) and its environment, run as `user`: root as it is; nobody with
    the system's Python and a copy of rotrace's packages under `base` it can read."""
    if user != "nobody":
        return argv, None
    site = portable_site(base / "site")
    nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", NON_ROOT_PYTHON]
    return [*nobody, *argv[1:]], {"PYTHONPATH": str(site), "PATH": os.defpath, "HOME": "/tmp"}


@pytest.mark.parametrize(
    ("user", "where", "keep"),
    [
        ("root", "/var/tmp", False),
        ("nobody", "/var/tmp", False),
        ("root", "/tmp", False),
        ("root", "/dev/shm", True),
    ],
)
def test_a_file_given_as_stdin_cannot_be_written_through_dev_stdin(user: str, where: str, keep: bool) -> None:
    """`< FILE` opens the host's file read-only, on the host's writable mount: opened again
    through /dev/stdin (a magic link to that open file) it was written, whatever the read-only
    root. The sandbox gives the command the file by its name on the read-only bind, or (in a
    place the sandbox covers with a tmpfs: /tmp, allowed; /dev/shm, allowed and the sandbox's own
    even with --keep-writes) a sealed copy of it."""
    if user == "nobody" and not os.path.exists(NON_ROOT_PYTHON):
        pytest.fail(f"needs {NON_ROOT_PYTHON} for uid 65534")
    base = Path(tempfile.mkdtemp(prefix="rotrace-stdin-", dir="/var/tmp"))
    given = Path(tempfile.mkdtemp(prefix="rotrace-stdin-", dir=where)) / "input.txt"
    try:
        base.chmod(0o755)
        given.parent.chmod(0o755)
        given.write_text("skip\noriginal\n")
        given.chmod(0o666)  # anyone may write it: only the read-only root stands in the way
        kept = ["--keep-writes"] if keep else []
        argv = [PY, "-m", "rotrace", "run", "-q", "--read-only", *kept, "--", "sh", "-c", _REOPEN]
        argv, env = _as(user, argv, base)
        with given.open("rb", buffering=0) as stdin:
            stdin.readline()  # the command gets the stream where it is: past the first line
            proc = subprocess.run(
                argv, stdin=stdin, cwd=base, env=env, capture_output=True, text=True, timeout=120
            )
        assert given.read_text() == "skip\noriginal\n", proc.stderr
        assert "stdin=2" in proc.stdout and "fd=2" in proc.stdout, proc
        assert proc.stdout.endswith("original\n") and "skip" not in proc.stdout, proc
    finally:
        shutil.rmtree(base)
        shutil.rmtree(given.parent)


def test_a_stdin_the_sandbox_cannot_hold_read_only_is_refused_in_one_line() -> None:
    """A file the sandbox does not show read-only (in /tmp, which it covers with a tmpfs) and
    too large to copy: refused before the command starts, with what to do instead."""
    with tempfile.NamedTemporaryFile(dir="/tmp") as large:
        large.truncate(COPIED_STREAM_LIMIT + 1)  # sparse: no disk used
        with open(large.name, "rb") as stdin:
            proc = subprocess.run([PY, "-m", "rotrace", "run", "--read-only", "--", "true"], stdin=stdin,
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 4 and proc.stdout == "", proc
    (line,) = proc.stderr.strip().splitlines()
    assert f"stdin is {large.name}" in line and "give it through a pipe" in line, line


def test_a_proc_file_given_as_stdin_reaches_the_command_whole() -> None:
    """/proc/version says it holds nothing (st_size 0): its copy is read to its end."""
    want = Path("/proc/version").read_text()
    with open("/proc/version", "rb") as stdin:
        proc = subprocess.run([PY, "-m", "rotrace", "run", "-q", "--read-only", "--", "cat"], stdin=stdin,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout == want, proc


FORGE = """
import marshal, os, stat, struct, sys
open_fds = []
for n in range(3, 1024):
    try:
        mode = os.fstat(n).st_mode
    except OSError:
        continue
    open_fds.append(n)
    if stat.S_ISFIFO(mode):  # a pipe it was not given: try to speak for the tracer inside
        result = {"pid": 2, "exit_code": 0, "signal": None, "seccomp": True, "stops": 1, "warnings": [],
                  "processes": [], "directories": {}, "landlock_abi": None, "let_go": False}
        body = marshal.dumps(("result", {"result": result, "writable": ["/tmp"]}))
        try:
            os.write(n, struct.pack("=I", len(body)) + body + struct.pack("=I", 0x7FFFFFFF))
        except OSError:
            pass
print(open_fds)
try:
    os.mkdir(sys.argv[1])
except OSError as exc:
    print(exc.strerror)
sys.exit(3)
"""


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_the_command_holds_no_descriptor_of_rotrace(user: str) -> None:
    """The pipe that carries the events out of the sandbox came to the tracer inside
    inheritable, and reached the command: a result written there (exit 0, no warnings), then a
    frame header that swallowed the real ones, and a command that wrote outside the allowlist
    and exited 3 was reported clean, exit 0. The command holds its 0-2 only."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-forge-", dir="/var/tmp"))
    try:
        base.chmod(0o777)
        argv = [PY, "-m", "rotrace", "run", "--read-only", "--", "python3", "-c", FORGE, str(base / "x")]
        argv, env = _as(user, argv, base)
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, cwd=base, env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert proc.stdout == "[]\nRead-only file system\n", proc
        assert proc.returncode == 9 and "exit status 3" in proc.stderr and not (base / "x").exists(), proc
    finally:
        shutil.rmtree(base)


def test_a_rotrace_package_in_the_working_directory_does_not_replace_the_tracer_inside(
    tmp_path: Path,
) -> None:
    """The tracer inside the sandbox was started with `python -m rotrace.sandbox.inner`, which
    puts the working directory first on the module path: the project audited, holding a
    `rotrace/sandbox/inner.py`, ran its own in the tracer's place, untraced (it could drop every
    event). The tracer inside is rotrace's own."""
    project = tmp_path / "project"
    (project / "rotrace" / "sandbox").mkdir(parents=True)
    (project / "rotrace" / "__init__.py").write_text("")
    (project / "rotrace" / "sandbox" / "__init__.py").write_text("")
    (project / "rotrace" / "sandbox" / "inner.py").write_text(
        "import sys\nprint('stand-in ran')\nsys.exit(0)\n"
    )
    # rotrace started as its console script starts it: its own directory on the path, not the cwd
    argv = [PY, "-P", "-m", "rotrace", "run", "--read-only", "--json", str(tmp_path / "t.json"), "--"]
    proc = subprocess.run([*argv, "sh", "-c", "echo real; mkdir /srv/rotrace-shadowed || true"],
                          cwd=project, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "stand-in ran" not in proc.stdout and proc.stdout.startswith("real\n"), proc
    events = json.loads((tmp_path / "t.json").read_text())["events"]
    assert [(e["path"], e["errno"]) for e in events if e["op"] == "mkdir"] == [
        ("/srv/rotrace-shadowed", "EROFS")
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="remounting / read-only in a mount namespace needs root")
def test_a_root_already_read_only_says_what_is_writable_all_the_same() -> None:
    """Where / is read-only already (a read-only container), --read-only runs the command
    plainly: that is the container's read-only run. Its volumes stay writable there, as in
    production; the report said only that no sandbox was needed. It names them, and a write
    there is one that went through."""
    data = Path(tempfile.mkdtemp(prefix="rotrace-volume-", dir="/var/tmp"))
    try:
        inner = 'mount --bind "$1" "$1" && mount -o remount,bind,ro / && exec "$0" -m rotrace run --read-only'
        inner += ' -- sh -c "echo hi > $1/f"'
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", inner, PY, str(data)]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd="/")
        assert proc.returncode == 1 and (data / "f").read_text() == "hi\n", proc
        said = f"{data}; writes there went through"
        assert "the command ran plainly" in proc.stderr and said in proc.stderr, proc
    finally:
        shutil.rmtree(data)


def test_a_writable_mount_the_plan_did_not_make_stops_the_run_inside(tmp_path: Path) -> None:
    """bwrap mounts each writable directory at its name; a process outside the run that swaps
    a directory on the way for a symbolic link while the sandbox is set up has the mount land
    where the link leads (an allowed `a/` bound over `victim/`). Inside, before the command runs,
    every writable mount must be one the plan made: checked here in a mount namespace of its own
    (`unshare -rm`) where a tmpfs is mounted writable at a place the plan names, and one it does
    not."""
    import sys

    planned, stray = tmp_path / "a", tmp_path / "victim dir"
    planned.mkdir()
    stray.mkdir()
    script = (
        f"mount -t tmpfs none {shlex.quote(str(planned))} && mount -t tmpfs none {shlex.quote(str(stray))}"
        f" && {shlex.quote(sys.executable)} -c 'import json, sys; from rotrace.sandbox.inner import _strays;"
        " print(json.dumps(_strays(sys.argv[1:])))' " + shlex.quote(str(planned))
    )
    found = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert found.returncode == 0, found.stderr
    strays = json.loads(found.stdout)
    assert str(stray) in strays and str(planned) not in strays, found.stdout


def test_a_device_node_that_is_not_its_device_stops_the_run_inside(tmp_path: Path) -> None:
    """As root the sandbox's /dev/null is a copy rotrace makes and binds by its name: another root
    process that swapped it for a host file had the command's `> /dev/null` write there. Inside,
    before the command starts, each node must be the device of its name: checked here in a mount
    namespace of its own (`unshare -rm`) where a file is bound over /dev/null."""
    import sys

    fake = tmp_path / "null"
    fake.write_text("")
    check = "import json; from rotrace.sandbox import inner; print(json.dumps(inner._false_devices()))"
    python = shlex.quote(sys.executable)
    script = f"{python} -c {shlex.quote(check)} && mount --bind {shlex.quote(str(fake))} /dev/null"
    script += f" && {python} -c {shlex.quote(check)}"
    found = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert found.returncode == 0, found.stderr
    before, after = (json.loads(line) for line in found.stdout.splitlines())
    assert (before, after) == ([], ["/dev/null"]), found.stdout
