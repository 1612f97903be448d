"""io_uring in a confined run. File operations submitted through a ring (IORING_OP_OPENAT,
MKDIRAT, RENAMEAT...) are no syscalls: Landlock and a read-only root refuse them in the kernel,
but no refusal reached the trace, which said "no writes". A confined command gets EPERM from
io_uring_setup, io_uring_enter and io_uring_register, as under Docker's default seccomp
profile, and does its file work through the calls rotrace records; a plain run still lets it
(and warns)."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.as_user import NOBODY, rotrace
from tests.support.tracing import NON_ROOT_PYTHON, PY

# io_uring_setup, then an IORING_OP_OPENAT(O_WRONLY|O_CREAT) of argv[1] through the ring;
# io_uring_enter and io_uring_register on a bad fd say whether they reach the kernel (EBADF).
RING = """
import ctypes, errno, mmap, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
for nr, name in ((426, "enter"), (427, "register")):
    libc.syscall(nr, -1, 0, 0, 0, 0, 0)
    print(name, errno.errorcode[ctypes.get_errno()], file=sys.stderr)
params = ctypes.create_string_buffer(120)
fd = libc.syscall(425, 4, params)
if fd < 0:
    print("setup", errno.errorcode[ctypes.get_errno()], file=sys.stderr)
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)  # what a program falls back to
    raise SystemExit(0)
sq_entries, cq_entries = struct.unpack_from("=II", params, 0)
sq_off = struct.unpack_from("=IIIIIII", params, 40)  # head tail mask entries flags dropped array
cq_off = struct.unpack_from("=IIIIII", params, 80)  # head tail mask entries overflow cqes
sq = mmap.mmap(fd, sq_off[6] + 4 * sq_entries, offset=0)
cq = mmap.mmap(fd, cq_off[5] + 16 * cq_entries, offset=0x8000000)
sqes = mmap.mmap(fd, 64 * sq_entries, offset=0x10000000)
path = ctypes.create_string_buffer(sys.argv[1].encode())
sqe = struct.pack("=BBHiQQIIQ", 18, 0, 0, -100, 0, ctypes.addressof(path), 0o644, os.O_WRONLY | os.O_CREAT, 0)
sqes[0:64] = sqe.ljust(64, b"\\0")
struct.pack_into("=I", sq, sq_off[6], 0)
struct.pack_into("=I", sq, sq_off[1], struct.unpack_from("=I", sq, sq_off[1])[0] + 1)
assert libc.syscall(426, fd, 1, 1, 1, 0, 0) == 1, ctypes.get_errno()  # IORING_ENTER_GETEVENTS
res = struct.unpack_from("=Qi", cq, cq_off[5])[1]
print("ring openat", errno.errorcode.get(-res, res), file=sys.stderr)
"""


def _userns_works() -> bool:
    """bubblewrap as an unprivileged user needs unprivileged user namespaces."""
    probe = subprocess.run([*NOBODY, "bwrap", "--ro-bind", "/", "/", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.needs("bwrap")
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_confined_command_gets_no_ring(user: str, site: Path, work: Path) -> None:
    target = work / "made"
    plain = rotrace(["run", "--json", "t.json", "--", NON_ROOT_PYTHON, "-c", RING, str(target)],
                    user=user, site=site, cwd=work)  # fmt: skip
    assert "ring openat" in plain.stderr and target.exists(), plain.stderr  # the ring works here
    assert json.loads((work / "t.json").read_text())["summary"]["writes"] == 0  # unseen: warned
    assert any("io_uring" in w for w in json.loads((work / "t.json").read_text())["warnings"])
    target.unlink()
    modes = [["--enforce"], ["--enforce", "--no-seccomp"]]
    if user == "root" or _userns_works():
        modes.append(["--read-only"])
    for mode in modes:
        proc = rotrace(["run", *mode, "--json", "t.json", "--", NON_ROOT_PYTHON, "-c", RING, str(target)],
                       user=user, site=site, cwd=work)  # fmt: skip
        assert "setup EPERM" in proc.stderr, (mode, proc.stderr)
        assert "enter EPERM" in proc.stderr and "register EPERM" in proc.stderr, (mode, proc.stderr)
        assert not target.exists()
        assert not any("io_uring" in w for w in json.loads((work / "t.json").read_text())["warnings"])
        refused = [e for e in json.loads((work / "t.json").read_text())["events"] if e["path"] == str(target)]
        assert [(e["op"], e["errno"]) for e in refused] == [
            ("create", "EROFS" if "--read-only" in mode else "EACCES")
        ]


def _ring() -> int:
    """An io_uring instance of this process's (a ring the caller set up), inheritable."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = int(libc.syscall(425, 4, ctypes.create_string_buffer(120)))
    assert fd >= 0, os.strerror(ctypes.get_errno())
    os.set_inheritable(fd, True)
    return fd


@pytest.mark.needs("bwrap")
def test_a_ring_the_command_would_inherit_is_refused_by_a_confined_run(tmp_path: Path) -> None:
    """A ring another process set up with a kernel thread polling it (SQPOLL) carries out what
    the command writes into its memory (a mkdir outside the allowlist) with that process's
    rights, past Landlock, the sandbox's mounts and the tracer: a run that made no system call
    was "no violations", exit 0. Refused before the command starts (as stdin too), passed only
    with --allow-fd, and a plain run warns of it."""
    ring = _ring()
    try:
        argv = [PY, "-m", "rotrace", "run", "--json", str(tmp_path / "t.json")]
        for mode, stdin in (("--enforce", subprocess.DEVNULL), ("--read-only", ring)):
            proc = subprocess.run([*argv, mode, "--", "true"], pass_fds=(ring,), stdin=stdin,
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
            at = ring if stdin == subprocess.DEVNULL else 0
            assert proc.returncode == 5, proc
            (line,) = proc.stderr.strip().splitlines()
            assert f"{mode}: fd {at} (anon_inode:[io_uring]), an io_uring instance" in line, line
            assert f"--allow-fd {at}" in line, line
        passed = subprocess.run([*argv, "--enforce", "--allow-fd", str(ring), "--", "true"], pass_fds=(ring,),
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert passed.returncode == 0, passed
        warnings = json.loads((tmp_path / "t.json").read_text())["warnings"]
        assert any(
            f"fd {ring} (anon_inode:[io_uring]) was passed as an io_uring instance" in w for w in warnings
        )
        plain = subprocess.run(
            [*argv, "--", "true"], pass_fds=(ring,), capture_output=True, text=True, timeout=120
        )
        assert plain.returncode == 0, plain
        warnings = json.loads((tmp_path / "t.json").read_text())["warnings"]
        assert any(f"fd {ring} (anon_inode:[io_uring]), an io_uring instance" in w for w in warnings), (
            warnings
        )
    finally:
        os.close(ring)
