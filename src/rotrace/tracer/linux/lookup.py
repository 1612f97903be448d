"""openat2(2) with RESOLVE_NO_MAGICLINKS: a lookup the kernel will not take through a magic link
of /proc (a process's cwd, root, fd/N, exe).

rotrace walks a tracee's paths from its own process; where such a walk meets /proc/self or
/proc/thread-self (spelt `//proc/self`, reached through a symlink, from a dirfd on /proc) the
kernel reads them as rotrace's own, and a magic link below would take the walk to rotrace's
cwd or files. Refused here, the path is placed another way or not at all (tracer/resolve.py).
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import sys
from typing import NamedTuple

from rotrace.tracer.linux.kernel import own

_OPENAT2 = 437  # the same number in every ABI rotrace runs on (the generic table: x86_64, aarch64)
_RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_IN_ROOT = 0x10

_syscall = own("syscall")
_syscall.restype = ctypes.c_long


class _OpenHow(ctypes.Structure):
    _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64))


_missing = False  # a kernel before 5.6: no openat2, and no such guard


def open_no_magic(path: bytes, flags: int, dir_fd: int, resolve: int = 0) -> int:
    """os.open(path, flags, dir_fd=dir_fd), refused with ELOOP where the lookup would go
    through a magic link; `resolve`, more RESOLVE_* flags (IN_ROOT: `dir_fd` is the root the
    path's absolute symlinks and `..` start from and stop at). On a kernel without openat2
    (before Linux 5.6), a plain open."""
    global _missing
    if not _missing:
        how = _OpenHow(flags, 0, _RESOLVE_NO_MAGICLINKS | resolve)
        fd = _syscall(ctypes.c_long(_OPENAT2), ctypes.c_int(dir_fd), ctypes.c_char_p(path),
                      ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))  # fmt: skip
        if fd >= 0:
            return int(fd)
        code = ctypes.get_errno()
        if code != errno.ENOSYS:
            raise OSError(code, os.strerror(code), path)
        _missing = True
    return os.open(path, flags, dir_fd=dir_fd)


_PROC_SUPER_MAGIC = 0x9FA0
_fstatfs = own("fstatfs")


TMPFS_MAGIC = 0x01021994


def fs_type(fd: int) -> int | None:
    """The file system type of the open file `fd` (fstatfs(2)'s f_type, the first field of
    struct statfs on every ABI); None where it cannot be asked."""
    buffer = ctypes.create_string_buffer(256)  # struct statfs: 120 bytes on x86_64 and aarch64
    if _fstatfs(ctypes.c_int(fd), buffer) != 0:
        return None
    return int.from_bytes(buffer.raw[: ctypes.sizeof(ctypes.c_long)], sys.byteorder)


def on_procfs(fd: int) -> bool:
    """Whether the open file `fd` is in a proc filesystem: a directory named /proc/N elsewhere is
    anyone's, its `cwd` any symlink."""
    return fs_type(fd) == _PROC_SUPER_MAGIC


_getdents64 = own("getdents64")
_getdents64.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)
_getdents64.restype = ctypes.c_ssize_t
_entries = ctypes.create_string_buffer(64)  # room for one entry: reading one is all it is for


def settle(path: bytes, identity: tuple[int, int]) -> bool:
    """Wait until no change of the entries of the directory `path` is under way; whether it
    is still the directory `identity` (device, inode). A rename moves a directory's change
    time before its names, both under the directory's lock: a change time read meanwhile is
    already the new one while a lookup still finds the old name. Reading the directory takes
    that lock (shared), so after it every rename that moved the time read has moved its names
    too. A directory rotrace may not read is not waited for (a lookup of a name no cache holds
    would take the lock too, but made the times of a directory swapped without pause tell
    less, not more: tests/system/test_dircache_race.py); nor is a symlink (a name read
    lexically), whose entry is its directory's and whose target, where the way reads it, is
    settled by its own name."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except PermissionError:
        fd = -1
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):  # a symlink, with O_DIRECTORY: ENOTDIR
            return False
        try:
            st = os.stat(path)
        except OSError:
            return False
        return stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) == identity
    try:
        if fd < 0:
            fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        elif _getdents64(fd, _entries, len(_entries)) < 0 and ctypes.get_errno() != errno.EINVAL:
            return False
        st = os.fstat(fd)
    except OSError:
        return False
    finally:
        if fd >= 0:
            os.close(fd)
    return (st.st_dev, st.st_ino) == identity


_statx = own("statx")
_statx.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_char_p)
_STATX_MNT_ID, _AT_EMPTY_PATH = 0x1000, 0x1000
_mount_buffer = ctypes.create_string_buffer(256)  # struct statx


def mount_id(path: bytes, dir_fd: int = -100) -> int | None:
    """The id of the mount `path` (from `dir_fd`; b"": the fd itself) reaches, as mountinfo
    numbers it (statx's STATX_MNT_ID, Linux 5.8); None when it cannot be told."""
    if _statx(dir_fd, path, 0 if path else _AT_EMPTY_PATH, _STATX_MNT_ID, _mount_buffer) != 0:
        return None
    raw = _mount_buffer.raw
    if not int.from_bytes(raw[0:4], sys.byteorder) & _STATX_MNT_ID:
        return None
    return int.from_bytes(raw[144:152], sys.byteorder)  # stx_mnt_id


_STATX_TYPE, _STATX_NLINK, _STATX_CTIME, _STATX_INO = 0x1, 0x4, 0x80, 0x100


class Identity(NamedTuple):
    """What one statx says of a file."""

    mount: int | None  # its mount's id as mountinfo numbers it; None where the kernel cannot say
    device: int
    inode: int
    links: int
    changed: int | None  # its change time (ctime), ns; None where the filesystem gives none


def file_identity(path: bytes, dir_fd: int = -100) -> Identity | None:
    """What one statx says of the file `path` leads to (from `dir_fd`; b"": the fd itself; a
    magic link: the tracee's fd). None when it cannot be read."""
    mask = _STATX_TYPE | _STATX_NLINK | _STATX_INO | _STATX_MNT_ID | _STATX_CTIME
    if _statx(dir_fd, path, 0 if path else _AT_EMPTY_PATH, mask, _mount_buffer) != 0:
        return None
    raw = _mount_buffer.raw
    got = int.from_bytes(raw[0:4], sys.byteorder)
    if got & (_STATX_NLINK | _STATX_INO) != _STATX_NLINK | _STATX_INO:
        return None
    nlink = int.from_bytes(raw[16:20], sys.byteorder)
    ino = int.from_bytes(raw[32:40], sys.byteorder)
    major, minor = int.from_bytes(raw[136:140], sys.byteorder), int.from_bytes(raw[140:144], sys.byteorder)
    mount = int.from_bytes(raw[144:152], sys.byteorder) if got & _STATX_MNT_ID else None
    changed = None
    if got & _STATX_CTIME:  # struct statx_timestamp stx_ctime: tv_sec (s64), tv_nsec (u32)
        seconds = int.from_bytes(raw[96:104], sys.byteorder, signed=True)
        changed = seconds * 1_000_000_000 + int.from_bytes(raw[104:108], sys.byteorder)
    return Identity(mount, os.makedev(major, minor), ino, nlink, changed)
