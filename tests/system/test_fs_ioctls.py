"""ioctls that make, copy or remove names, or change what a directory is, where Landlock does not
look (syscalls.FS_IOCTLS): a btrfs subvolume made, snapshotted and destroyed through a directory
fd, an fscrypt policy set on a directory of an ext4 made with `-O encrypt`. Each is recorded
with the name it made or removed, and `--enforce` refuses them (EPERM, in the seccomp filter,
before any stop: not in the trace, like io_uring): no path rule could confine them. The
kernel's truth is the filesystem afterwards."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.as_user import invocation, site  # noqa: F401 (fixtures)
from tests.support.loopfs import loop_fs
from tests.support.tracing import NON_ROOT_PYTHON, PY

# The traced program: a subvolume `sv` (vol_args), a snapshot `snap` of it, destroyed, and a
# subvolume `sv2` (vol_args_v2); each errno printed, the program goes on.
BTRFS = r"""
import fcntl, os, struct, sys
top = sys.argv[1]
fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
def vol(name, src=0):
    return struct.pack("q4088s", src, name)
def call(request, arg):
    try:
        fcntl.ioctl(fd, request, bytearray(arg))  # passed as it is (a 4 KiB struct)
        print(0)
    except OSError as exc:
        print(exc.errno)
call(0x5000940E, vol(b"sv"))
src = os.open(top + "/sv", os.O_RDONLY) if os.path.isdir(top + "/sv") else 0
call(0x50009401, vol(b"snap", src))
call(0x5000940F, vol(b"snap"))
call(0x50009418, struct.pack("qQQ4Q4040s", 0, 0, 0, 0, 0, 0, 0, b"sv2"))
"""

# struct fscrypt_policy_v1: version 0, AES-256-XTS contents, AES-256-CTS names, no flags, a key
# descriptor (the key need not be present to set a policy on an empty directory).
FSCRYPT = r"""
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
try:
    fcntl.ioctl(fd, 0x800C6613, struct.pack("BBBB8s", 0, 1, 4, 0, b"rotrace!"))
    print(0)
except OSError as exc:
    print(exc.errno)
"""
FS_IOC_GET_ENCRYPTION_POLICY = 0x400C6615


@pytest.fixture
def btrfs() -> Iterator[Path]:
    yield from loop_fs("btrfs", "mkfs.btrfs", "-q", "-f")


@pytest.fixture
def encrypting_ext4() -> Iterator[Path]:
    yield from loop_fs("ext4", "mkfs.ext4", "-q", "-F", "-O", "encrypt")


Events = list[dict[str, object]]


def _run(user: str, portable: Path, top: Path, code: str, *flags: str) -> tuple[list[str], Events]:
    """The program's printed errnos and rotrace's events, the program traced as `user`."""
    argv, env = invocation(user, portable, top)
    python = PY if user == "root" else NON_ROOT_PYTHON
    trace = Path(tempfile.mkdtemp(dir="/var/tmp")) / "t.json"
    trace.parent.chmod(0o777)
    command = [python, "-c", code, str(top)]
    run = subprocess.run([*argv, "run", "-q", *flags, "--json", str(trace), "--", *command],
                         cwd="/", env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode in (0, 1), run.stderr
    events: Events = json.loads(trace.read_text())["events"]
    trace.unlink()
    trace.parent.rmdir()
    return run.stdout.split(), events


def test_btrfs_subvolumes_made_and_destroyed_are_recorded(btrfs: Path, site: Path) -> None:  # noqa: F811
    """A subvolume is a directory made, a snapshot a whole tree copied under a new name, a
    destroy an `rm -rf`: each is a write at the name in the fd's directory, as strace shows
    the calls."""
    results, events = _run("root", site, btrfs, BTRFS)
    assert results == ["0", "0", "0", "0"]
    assert (btrfs / "sv").is_dir() and (btrfs / "sv2").is_dir() and not (btrfs / "snap").exists()
    seen = [(e["op"], e["path"], e["result"]) for e in events if e["syscall"] == "ioctl"]
    assert seen == [
        ("mkdir", f"{btrfs}/sv", 0),
        ("mkdir", f"{btrfs}/snap", 0),
        ("delete", f"{btrfs}/snap", 0),
        ("mkdir", f"{btrfs}/sv2", 0),
    ]
    assert all(not e["allowed"] and not e["unresolved"] for e in events if e["syscall"] == "ioctl")


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_btrfs_subvolumes_are_refused_under_enforce(btrfs: Path, site: Path, user: str) -> None:  # noqa: F811
    """Landlock does not mediate these ioctls: under --enforce they are refused (EPERM) and
    nothing is made, whatever the allowlist (the mount is in none)."""
    results, events = _run(user, site, btrfs, BTRFS, "--enforce")
    assert results == [str(errno.EPERM)] * 4
    assert sorted(os.listdir(btrfs)) == []
    assert not [e for e in events if e["result"] == 0 and str(e["path"]).startswith(str(btrfs))]


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_an_encryption_policy_is_recorded_and_refused_under_enforce(
    encrypting_ext4: Path,
    site: Path,  # noqa: F811
    user: str,
) -> None:
    """FS_IOC_SET_ENCRYPTION_POLICY on an empty directory makes every file put there need a
    key nobody may hold: a change of the directory, recorded; refused under --enforce."""
    target = encrypting_ext4 / "d"
    target.mkdir(mode=0o777)
    target.chmod(0o777)
    if user == "nobody":
        os.chown(target, 65534, 65534)  # only the owner may set a policy
    results, events = _run(user, site, target, FSCRYPT, "--enforce")
    assert results == [str(errno.EPERM)]
    fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(OSError) as no_policy:
            fcntl.ioctl(fd, FS_IOC_GET_ENCRYPTION_POLICY, struct.pack("12x"))
    finally:
        os.close(fd)
    assert no_policy.value.errno == errno.ENODATA  # the directory is not encrypted
    assert not [e for e in events if e["syscall"] == "ioctl"]
    results, events = _run(user, site, target, FSCRYPT)
    assert results == ["0"]
    assert [(e["op"], e["path"], e["result"]) for e in events if e["syscall"] == "ioctl"] == [
        ("attr", str(target), 0)
    ]


# EXT4_IOC_SWAP_BOOT on a file opened for writing: its blocks, size and times swapped with the
# filesystem's boot-loader inode (CAP_SYS_ADMIN): the file's content changes with no write(2).
SWAP_BOOT = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1] + "/f", os.O_RDWR)
try:
    fcntl.ioctl(fd, 0x6611)
    print(0)
except OSError as exc:
    print(exc.errno)
"""


@pytest.fixture
def ext4() -> Iterator[Path]:
    yield from loop_fs("ext4", "mkfs.ext4", "-q", "-F")


def test_a_boot_inode_swap_is_a_change_of_the_files_content(ext4: Path, site: Path) -> None:  # noqa: F811
    """Recorded as what it is, the file's content replaced (a `truncate` of it), so that an
    open of it that wrote nothing else is never what tells the run; refused under --enforce
    even where the allowlist lets the file be written (Landlock does not mediate it)."""
    (ext4 / "f").write_text("before\n")
    results, events = _run("root", site, ext4, SWAP_BOOT)
    assert results == ["0"] and (ext4 / "f").read_bytes() != b"before\n"
    swaps = [(e["op"], e["path"], e["allowed"]) for e in events if e["syscall"] == "ioctl"]
    assert swaps == [("truncate", f"{ext4}/f", False)]
    (ext4 / "f").write_text("before\n")
    results, events = _run(
        "root", site, ext4, SWAP_BOOT, "--enforce", "--allow", str(ext4)
    )  # the file allowed
    assert results == [str(errno.EPERM)] and (ext4 / "f").read_text() == "before\n"


# A file's generation set through each request number the kernel takes for it: the generic
# FS_IOC_SETVERSION and its 32-bit spelling, and ext4's own EXT4_IOC_SETVERSION (and its
# 32-bit spelling, which the native handler refuses with ENOTTY: refused all the same). The
# file is opened read-only: only its owner's right is asked.
SETVERSION = r"""
import fcntl, os, struct, sys
fd = os.open(sys.argv[1] + "/f", os.O_RDONLY)
for request in (0x40087602, 0x40047602, 0x40086604, 0x40046604):
    try:
        fcntl.ioctl(fd, request, struct.pack("q", 4242))
        print(0)
    except OSError as exc:
        print(exc.errno)
"""
FS_IOC_GETVERSION = 0x80087601


@pytest.fixture
def plain_ext4() -> Iterator[Path]:
    """An ext4 whose inodes' generation may be set (metadata_csum seeds its checksums with it)."""
    yield from loop_fs("ext4", "mkfs.ext4", "-q", "-F", "-O", "^metadata_csum")


def _generation(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        got = fcntl.ioctl(fd, FS_IOC_GETVERSION, struct.pack("q", 0))
    finally:
        os.close(fd)
    return int(struct.unpack("q", got)[0])


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_every_spelling_of_a_generation_change_is_recorded_and_refused(
    plain_ext4: Path,
    site: Path,  # noqa: F811
    user: str,
) -> None:
    """ext4 takes its own request number for FS_IOC_SETVERSION: each spelling is the same
    change of the file, recorded by a plain run, refused under --enforce."""
    (plain_ext4 / "f").write_text("data\n")
    if user == "nobody":
        os.chown(plain_ext4 / "f", 65534, 65534)
    before = _generation(plain_ext4 / "f")
    results, events = _run(user, site, plain_ext4, SETVERSION, "--enforce")
    assert results == [str(errno.EPERM)] * 4 and _generation(plain_ext4 / "f") == before
    assert not [e for e in events if e["syscall"] == "ioctl"]
    results, events = _run(user, site, plain_ext4, SETVERSION)
    assert results[0] == results[2] == "0" and _generation(plain_ext4 / "f") == 4242, results
    changes = [(e["op"], e["path"], e["result"]) for e in events if e["syscall"] == "ioctl"]
    assert [c for c in changes if c[2] == 0] == [("attr", f"{plain_ext4}/f", 0)] * 2, changes


# struct btrfs_ioctl_received_subvol_args (200 bytes; 192 in its 32-bit spelling, which a
# 64-bit kernel takes natively too): a received UUID and the stransid/rtransid it came with.
RECEIVED = r"""
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
for request, size in ((0xC0C89425, 200), (0xC0C09425, 192)):
    try:
        fcntl.ioctl(fd, request, bytearray(b"A" * 16 + bytes(size - 16)))
        print(0)
    except OSError as exc:
        print(exc.errno)
"""


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_every_spelling_of_a_subvolumes_received_state_is_refused(
    btrfs: Path,
    site: Path,  # noqa: F811
    user: str,
) -> None:
    """BTRFS_IOC_SET_RECEIVED_SUBVOL and its 32-bit spelling: refused under --enforce, the
    subvolume's received UUID left unset (the kernel's answer: a plain run sets it)."""
    if user == "nobody":
        os.chown(btrfs, 65534, 65534)  # the subvolume's owner may set it
    results, _events = _run(user, site, btrfs, RECEIVED, "--enforce")
    assert results == [str(errno.EPERM)] * 2
    results, events = _run(user, site, btrfs, RECEIVED)
    assert results == ["0", "0"], results
    changes = [(e["op"], e["path"], e["result"]) for e in events if e["syscall"] == "ioctl"]
    assert changes == [("attr", str(btrfs), 0)] * 2, changes


# Requests of the filesystems' ioctl families: two that read (FS_IOC_GETFLAGS, FSGETXATTR),
# then three that change a file or the filesystem, of which rotrace lists none but SHUTDOWN's:
# FITRIM (its free blocks discarded), EXT4_IOC_GROUP_EXTEND (it grows), FS_IOC_SHUTDOWN (none
# that would hang the test where it went through: FIFREEZE).
FAMILIES = r"""
import fcntl, os, struct, sys
fd = os.open(sys.argv[1] + "/f", os.O_RDONLY)
top = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
for target, request, arg in ((fd, 0x80086601, 8), (fd, 0x801C581F, 28), (top, 0xC0185879, 24),
                             (top, 0x40086607, 8), (top, 0x8004587D, 4)):
    try:
        fcntl.ioctl(target, request, bytearray(struct.pack("q", 2) + bytes(arg)))
        print(0)
    except OSError as exc:
        print(exc.errno)
"""


def test_under_enforce_a_filesystem_ioctl_rotrace_does_not_list_is_refused(ext4: Path, site: Path) -> None:  # noqa: F811
    """The kernel has more filesystem ioctls than any list (resizes, trims, quotas, keys):
    under --enforce, a request of a filesystem's families that is not known to change nothing is
    refused (EPERM), the filesystem allowed or not; those that read still answer."""
    (ext4 / "f").write_text("data\n")
    results, _events = _run("root", site, ext4, FAMILIES, "--enforce", "--allow", str(ext4))
    assert results == ["0", "0", str(errno.EPERM), str(errno.EPERM), str(errno.EPERM)], results
    (ext4 / "g").write_text("still writable\n")  # neither frozen nor shut down
    assert (ext4 / "g").read_text() == "still writable\n"
