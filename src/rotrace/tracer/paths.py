"""Turning a syscall's (dirfd, path) into an absolute, normalised path, as bytes.

Relative paths resolve against the calling thread's cwd (shared by CLONE_FS threads) or the
directory behind dirfd, read from /proc while the tracee is stopped. The cwd is cached per
thread and the whole cache dropped when any tracee's chdir/fchdir/chroot succeeds, which is
exact whichever threads share an fs struct, and costs one readlink per thread otherwise.
"""

from __future__ import annotations

import os

AT_FDCWD = -100


def normalise(path: bytes) -> bytes:
    """Lexical normalisation: collapse `.`, `..` and repeated slashes (no symlink lookup)."""
    if b"/." not in path and b"//" not in path and not (path.endswith(b"/") and len(path) > 1):
        return path  # already normal: the common case, skip normpath
    norm = os.path.normpath(path)
    if norm.startswith(b"//"):
        norm = b"/" + norm.lstrip(b"/")
    return norm


def as_fd(value: int) -> int:
    """An fd argument as the kernel reads it: the low 32 bits, signed."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


class PathResolver:
    def __init__(self) -> None:
        self._cwd: dict[int, bytes] = {}

    def forget_cwds(self) -> None:
        self._cwd.clear()

    def forget_thread(self, tid: int) -> None:
        self._cwd.pop(tid, None)

    def cwd(self, tid: int) -> bytes:
        cwd = self._cwd.get(tid)
        if cwd is None:
            cwd = _readlink(f"/proc/{tid}/cwd") or f"/proc/{tid}/cwd".encode()
            self._cwd[tid] = cwd
        return cwd

    @staticmethod
    def fd_path(tid: int, fd: int) -> bytes:
        """What fd names in `tid`; /proc/TID/fd/N when it names nothing (a bad fd)."""
        link = f"/proc/{tid}/fd/{fd}"
        return _readlink(link) or link.encode()

    def base(self, tid: int, dirfd: int, path: bytes) -> bytes:
        """What a relative `path` is relative to (read while the tracee is stopped); b"" if absolute."""
        if path.startswith(b"/"):
            return b""
        return self.cwd(tid) if dirfd == AT_FDCWD else self.fd_path(tid, dirfd)


def join(base: bytes, path: bytes) -> bytes:
    """The absolute path for `path` seen from `base` (from PathResolver.base), normalised."""
    if not base:
        return normalise(path)
    if not path:
        return normalise(base)
    return normalise(base + b"/" + path)


def _readlink(link: str) -> bytes | None:
    try:
        return os.readlink(link.encode())
    except OSError:
        return None
