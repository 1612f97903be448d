"""Ways out of the trace: each is closed, or said (each test here failed on the code before)."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest

from tests.support.tracing import PY

ROTRACE = [PY, "-m", "rotrace"]
pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="raw syscall numbers are x86_64's")


def _run(code: str, cwd: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict]:  # type: ignore[type-arg]
    trace = cwd / "t.json"
    argv = [*ROTRACE, "run", *extra, "--json", str(trace), "--", PY, "-c", textwrap.dedent(code)]
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert trace.exists(), proc.stderr
    return proc, json.loads(trace.read_text())


UNTRACED_CLONE = """
    import ctypes, os, signal, struct
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_UNTRACED = 0x00800000
    if {clone3}:  # refused (its flags are in memory): a C library falls back to clone
        args = struct.pack("=11Q", CLONE_UNTRACED, 0, 0, 0, signal.SIGCHLD, 0, 0, 0, 0, 0, 0)
        buf = ctypes.create_string_buffer(args, len(args))
        assert libc.syscall(435, buf, len(args)) == -1 and ctypes.get_errno() == 38, ctypes.get_errno()
    pid = libc.syscall(56, CLONE_UNTRACED | signal.SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        fd = os.open("from-the-child", os.O_WRONLY | os.O_CREAT, 0o644)  # ENOSYS if untraced
        os._exit(0 if fd >= 0 else 3)
    assert pid > 0, ctypes.get_errno()
    _, status = os.waitpid(pid, 0)
    raise SystemExit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.parametrize("clone3", [False, True], ids=["clone", "clone3"])
@pytest.mark.parametrize(
    "mode", [(), ("--no-seccomp",), ("--enforce",)], ids=["seccomp", "no-seccomp", "enforce"]
)
def test_a_clone_untraced_child_is_traced_anyway(tmp_path: Path, clone3: bool, mode: tuple[str, ...]) -> None:
    """clone's flags are in a register, cleared at its entry; clone3's in the caller's memory,
    where another thread may set CLONE_UNTRACED after rotrace read them: it is answered ENOSYS
    with the filter and without."""
    proc, trace = _run(UNTRACED_CLONE.format(clone3=clone3), tmp_path, *mode)
    assert trace["exit_code"] == 0, proc.stderr  # the child behaves as it does untraced
    assert [e["path"] for e in trace["events"] if e["op"] == "create"] == [str(tmp_path / "from-the-child")]
    assert any("CLONE_UNTRACED" in w for w in trace["warnings"])


@pytest.mark.parametrize("mode", ["--enforce", "--read-only"])
def test_a_confined_run_makes_no_whiteout(tmp_path: Path, mode: str) -> None:
    """renameat2(RENAME_WHITEOUT) leaves a character device (0:0) at the old name, which
    Landlock does not mediate: refused (EPERM) in a confined run, even in an allowed place."""
    if os.geteuid() != 0:
        pytest.skip("a whiteout needs CAP_MKNOD, which only root has here")
    code = """
        import ctypes, os, shutil, stat, tempfile
        os.chdir(tempfile.mkdtemp(dir="/tmp"))  # allowed, and writable under --read-only too
        open("old", "w").close()
        libc = ctypes.CDLL(None, use_errno=True)
        done = libc.syscall(316, -100, b"old", -100, b"new", 4)  # renameat2(..., RENAME_WHITEOUT)
        code = ctypes.get_errno()
        print(done, code, os.path.exists("new"), stat.S_ISCHR(os.lstat("old").st_mode), flush=True)
        shutil.rmtree(os.getcwd())
    """
    proc, trace = _run(code, tmp_path, mode)
    assert proc.stdout.split() == ["-1", "1", "False", "False"], (proc.stdout, proc.stderr)
    # refused by the tracer where it can rewrite a call (x86_64): the attempt is in the trace
    (tried,) = [e for e in trace["events"] if e["op"] == "rename"]
    assert (tried["syscall"], tried["errno"]) == ("renameat2", "EPERM"), tried
    assert tried["flags"] == "RENAME_WHITEOUT", tried


MESSAGE_QUEUE = """
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    made = libc.syscall(240, {name!r}.encode(), os.O_CREAT | os.O_RDWR, 0o600, None)  # mq_open
    print(made, ctypes.get_errno() if made < 0 else 0, flush=True)
"""


def _queue_there(name: str) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(240, name.encode(), os.O_RDONLY, 0, None)
    if fd >= 0:
        os.close(fd)
    return fd >= 0


@pytest.mark.parametrize(
    "mode",
    [
        (),
        ("--enforce",),
        ("--enforce", "--no-seccomp"),
        ("--enforce", "pure"),
        ("--enforce", "--allow", "/dev/mqueue"),
    ],
    ids=["audit", "enforce", "enforce-no-seccomp", "enforce-pure-loop", "enforce-allowed"],
)
def test_a_message_queue_made_is_a_write_and_enforce_refuses_it(
    tmp_path: Path, mode: tuple[str, ...]
) -> None:
    """mq_open(O_CREAT) makes a file of the mqueue filesystem, /dev/mqueue/NAME, in the IPC
    namespace rotrace shares: a write, recorded; under --enforce (Landlock checks only the
    open that follows the making, which then failed with the queue made) refused first, and
    reported denied, by the filter's trap, without it, and in the pure loop; so where the policy
    allows /dev/mqueue (its rule reaches a queue's open only in the IPC namespace mounted there)."""
    name = f"rotrace-test-{os.getpid()}-{len(mode)}-{'pure' in mode}"
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall(241, name.encode())  # mq_unlink: none left from before
    env = {**os.environ, "ROTRACE_PURE_LOOP": "1"} if "pure" in mode else None
    extra = [m for m in mode if m != "pure"]
    try:
        trace_path = tmp_path / "t.json"
        argv = [*ROTRACE, "run", *extra, "--json", str(trace_path), "--", PY, "-c",
                textwrap.dedent(MESSAGE_QUEUE.format(name=name))]  # fmt: skip
        proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
        trace = json.loads(trace_path.read_text())
        events = [e for e in trace["events"] if e["syscall"] == "mq_open"]
        assert [(e["op"], e["path"]) for e in events] == [("create", f"/dev/mqueue/{name}")], proc.stderr
        (event,) = events
        if extra:
            assert proc.stdout.split() == ["-1", str(errno.EACCES)], proc.stderr
            allowed = "--allow" in extra  # refused all the same: said to be an allowed write denied
            assert not _queue_there(name) and event["errno"] == "EACCES" and event["allowed"] == allowed
            assert ("allowed write denied" if allowed else "denied by the policy") in proc.stderr, proc.stderr
        else:
            assert proc.stdout.split()[1] == "0" and _queue_there(name), proc.stderr
            assert event["result"] >= 0 and not event["allowed"]
    finally:
        libc.syscall(241, name.encode())


@pytest.mark.needs("bwrap")
def test_a_message_queue_made_in_the_read_only_sandbox_is_the_sandboxs(tmp_path: Path) -> None:
    """Under --read-only the tracer runs in the sandbox's IPC namespace (a container's own): a
    queue made there is made, recorded as such (it went through, as it would in a container),
    and none is made on the host."""
    name = f"rotrace-test-sandbox-{os.getpid()}"
    argv = [*ROTRACE, "run", "--read-only", "--json", str(tmp_path / "t.json"), "--", PY, "-c",
            textwrap.dedent(MESSAGE_QUEUE.format(name=name))]  # fmt: skip
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    trace = json.loads((tmp_path / "t.json").read_text())
    (event,) = [e for e in trace["events"] if e["syscall"] == "mq_open"]
    assert proc.stdout.split()[1] == "0" and not _queue_there(name), proc.stderr
    assert (event["path"], event["result"] >= 0, event["allowed"]) == (f"/dev/mqueue/{name}", True, False)
    assert "went through" in proc.stderr, proc.stderr


def test_a_message_queue_of_another_ipc_namespace_is_not_placed_in_rotraces(tmp_path: Path) -> None:
    """A queue made by a tracee in an IPC namespace of its own is no file of /dev/mqueue as
    rotrace sees it: unresolved (never allowed), and none is made in rotrace's namespace."""
    name = f"rotrace-test-own-ipc-{os.getpid()}"
    code = f"""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        uid, gid = os.getuid(), os.getgid()
        if uid:  # a user namespace of its own first, with this user as its root
            assert libc.unshare(0x10000000 | 0x08000000) == 0, ctypes.get_errno()
            open("/proc/self/setgroups", "w").write("deny")
            open("/proc/self/uid_map", "w").write(f"0 {{uid}} 1")
            open("/proc/self/gid_map", "w").write(f"0 {{gid}} 1")
        else:
            assert libc.unshare(0x08000000) == 0, ctypes.get_errno()  # CLONE_NEWIPC
        made = libc.syscall(240, {name!r}.encode(), os.O_CREAT | os.O_RDWR, 0o600, None)
        print(made, flush=True)
    """
    proc, trace = _run(code, tmp_path)
    (event,) = [e for e in trace["events"] if e["syscall"] == "mq_open"]
    assert int(proc.stdout.split()[0]) >= 0, proc.stderr
    assert event["unresolved"] and not event["allowed"] and not _queue_there(name), event


def test_io_uring_is_warned_about(tmp_path: Path) -> None:
    code = """
        import ctypes, os
        params = ctypes.create_string_buffer(120)
        fd = ctypes.CDLL(None, use_errno=True).syscall(425, 4, params)
        if fd >= 0: os.close(fd)
    """
    proc, trace = _run(code, tmp_path)
    assert any("io_uring" in w for w in trace["warnings"]), proc.stderr
    assert "io_uring" in proc.stderr


def test_inode_attributes_are_writes(tmp_path: Path) -> None:
    """chattr's ioctls and file_setattr(2) change the inode: recorded, whatever the result."""
    outside = Path(tempfile.mkdtemp(dir="/var/tmp"))
    try:
        (outside / "f").write_text("x")
        code = f"""
            import ctypes, fcntl, os, struct
            fd = os.open({str(outside / "f")!r}, os.O_RDONLY)
            for cmd in (0x40086602, 0x401C5820):  # FS_IOC_SETFLAGS, FS_IOC_FSSETXATTR
                try: fcntl.ioctl(fd, cmd, bytes(28))
                except OSError: pass
            try: fcntl.ioctl(fd, 0x80086601, bytes(8))  # FS_IOC_GETFLAGS: a read, not recorded
            except OSError: pass
            attr = ctypes.create_string_buffer(24)
            ctypes.CDLL(None).syscall(469, -100, {str(outside / "f").encode()!r}, attr, 24, 0)
        """
        proc, trace = _run(code, tmp_path)
        attrs = [(e["syscall"], e["path"]) for e in trace["events"] if e["op"] == "attr"]
        assert attrs == [("ioctl", str(outside / "f"))] * 2 + [("file_setattr", str(outside / "f"))]
        assert proc.returncode == 1  # outside the allowlist
    finally:
        shutil.rmtree(outside)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a setuid program of another user needs root")
def test_a_setuid_program_that_lost_its_privilege_is_noted(tmp_path: Path) -> None:
    where = Path(tempfile.mkdtemp(dir="/var/tmp"))
    try:
        program = where / "id-as-nobody"
        shutil.copy("/usr/bin/id", program)
        os.chown(program, 65534, 65534)
        os.chmod(program, 0o4755)
        if os.statvfs(where).f_flag & os.ST_NOSUID:
            pytest.skip(f"{where} is mounted nosuid")
        untraced = subprocess.run([str(program), "-u"], capture_output=True, text=True).stdout.strip()
        assert untraced == "65534"  # setuid works here
        proc, trace = _run(f"import subprocess; subprocess.run([{str(program)!r}, '-u'])", tmp_path)
        assert any("setuid" in w and str(program) in w for w in trace["warnings"]), proc.stderr
    finally:
        shutil.rmtree(where)


# An i386 call (int $0x80) whose path register holds 0x1_2000_0000: the kernel takes its low
# half, 0x2000_0000, where argv[1] is; a reader of the whole register finds argv[2] (a decoy).
HIGH_BITS = r"""
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
int main(int argc, char **argv) {
    int how = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    char *low = mmap((void *)0x20000000, 4096, PROT_READ | PROT_WRITE, how, -1, 0);
    char *high = mmap((void *)0x120000000, 4096, PROT_READ | PROT_WRITE, how, -1, 0);
    if (low == MAP_FAILED || high == MAP_FAILED) return 2;
    strcpy(low, argv[1]);
    strcpy(high, argv[2]);
    long ret, nr = atol(argv[3]), second = strtol(argv[4], 0, 0);
    __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(nr), "b"(0x120000000UL), "c"(second), "d"(0) : "memory");
    return ret < 0;
}
"""


@pytest.mark.needs("gcc")
@pytest.mark.parametrize("loop", ["compiled", "pure"])
@pytest.mark.parametrize("mode", [(), ("--no-seccomp",), ("--enforce",)], ids=["run", "bare", "enforce"])
def test_an_i386_call_is_placed_by_the_low_half_of_its_registers(
    tmp_path: Path, mode: tuple[str, ...], loop: str
) -> None:
    """The kernel reports an i386 call's registers whole and takes their low halves: a path
    pointer with high bits set named, to rotrace, a decoy in /tmp, while the kernel changed
    the file below 4 GiB: a chmod of a protected file (which Landlock does not refuse) and a
    mkdir beside it were allowed writes in /tmp."""
    if os.uname().machine != "x86_64":
        pytest.skip("x86_64's i386 ABI")
    program, source = tmp_path / "high", tmp_path / "high.c"
    source.write_text(HIGH_BITS)
    subprocess.run(["gcc", "-static", "-no-pie", "-o", str(program), str(source)], check=True)
    protected = Path(tempfile.mkdtemp(prefix="rotrace-i386-", dir="/var/tmp"))
    env = os.environ | {"ROTRACE_PURE_LOOP": "1" if loop == "pure" else "0"}
    try:
        (protected / "f").write_text("kept\n")
        (protected / "f").chmod(0o644)
        (tmp_path / "f").write_text("decoy\n")
        for nr, second, name in ((15, "0606", "f"), (39, "0755", "made")):
            trace = tmp_path / "t.json"
            argv = [*ROTRACE, "run", *mode, "-q", "--json", str(trace), "--",
                    str(program), str(protected / name), str(tmp_path / name), str(nr), second]  # fmt: skip
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
            events = json.loads(trace.read_text())["events"]
            events = [e for e in events if e["syscall"] in ("chmod", "mkdir")]
            assert [e["path"] for e in events] == [str(protected / name)], (events, proc.stderr)
            assert not events[0]["allowed"] and proc.returncode in (1, 9), proc.stderr
    finally:
        shutil.rmtree(protected)
