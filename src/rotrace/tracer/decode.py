"""Syscall decoders, one per family: read a stopped tracee's arguments into a Pending call.

Only what needs the tracee stopped happens at entry: reading its strings and what a relative
path is relative to (its cwd, or the directory behind dirfd). Joining, normalising and naming
flags wait until `complete`, after the exit stop, with the tracee already running again.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rotrace.events import FileEvent
from rotrace.tracer.arch import CREAT_FLAGS, O_CREAT, O_TMPFILE_BIT, O_TRUNC, WRITE_OPEN_MASK, SyscallTable
from rotrace.tracer.flags import at_flags, open_flags, rename_flags
from rotrace.tracer.memory import MemoryReader
from rotrace.tracer.paths import AT_FDCWD, PathResolver, as_fd, join
from rotrace.tracer.syscalls import Spec

_OPEN_HOW = struct.Struct("=QQ")

# A path as read at entry: (base, raw). base is b"" when raw is absolute or kept verbatim.
Loc = tuple[bytes, bytes]


@dataclass(slots=True)
class Pending:
    """A decoded syscall entry waiting for its result."""

    spec: Spec
    table: SyscallTable
    op: str
    path: Loc
    target: Loc | None
    flags: int | None
    mode: int | None
    write: bool
    verbatim_target: bool = False  # a symlink's content is kept as written

    def complete(self, pid: int, tid: int, exe: bytes, result: int | None) -> FileEvent:
        target = self.target
        if target is not None:
            target_path: bytes | None = target[1] if self.verbatim_target else join(*target)
        else:
            target_path = None
        return FileEvent(
            pid=pid,
            tid=tid,
            exe=exe,
            syscall=self.spec.name,
            op=self.op,
            path=join(*self.path),
            target=target_path,
            flags=self._flag_names(),
            mode=self.mode,
            result=result,
            write=self.write,
        )

    def _flag_names(self) -> str | None:
        if self.flags is None:
            return None
        kind = self.spec.flag_kind
        if kind == "open":
            return open_flags(self.table, self.flags)
        if kind == "at":
            return at_flags(self.flags)
        if kind == "rename":
            return rename_flags(self.flags)
        return None


class Decoder:
    def __init__(self, all_opens: bool) -> None:
        self.all_opens = all_opens
        self.memory = MemoryReader()
        self.paths = PathResolver()
        self._mm = 0  # whose memory the current decode reads

    def decode(
        self, tid: int, tgid: int, table: SyscallTable, spec: Spec, args: tuple[int, ...]
    ) -> Pending | None:
        """The Pending call, or None when it is not to be recorded (a read-only open).

        Memory and paths are read through the thread that stopped: the thread-group leader
        may have exited (pthread_exit) while its other threads go on.
        """
        self._mm = tid
        family = spec.family
        if family == "open":
            return self._open(tid, table, spec, args)
        if family == "openat2":
            return self._openat2(tid, table, spec, args)
        if family == "path":
            return self._path(tid, table, spec, args)
        if family == "link":
            return self._link(tid, table, spec, args)
        if family == "symlink":
            return self._symlink(tid, table, spec, args)
        return self._cwd(tid, table, spec, args)

    def _string_at(self, tid: int, args: tuple[int, ...], dirfd_idx: int | None, idx: int) -> Loc:
        dirfd = AT_FDCWD if dirfd_idx is None else as_fd(args[dirfd_idx])
        raw = self.memory.cstring(self._mm, args[idx])
        if raw is None:
            if args[idx] == 0 and dirfd != AT_FDCWD:
                return self.paths.fd_path(tid, dirfd), b""  # utimensat(fd, NULL, ...) is futimens
            return b"", b""
        return self.paths.base(tid, dirfd, raw), raw

    def _open_event(
        self, tid: int, table: SyscallTable, spec: Spec, args: tuple[int, ...], flags: int,
        mode: int,
    ) -> Pending | None:  # fmt: skip
        write = bool(flags & WRITE_OPEN_MASK)
        if not write and not self.all_opens:
            return None
        path = self._string_at(tid, args, spec.dirfd, spec.path or 0)
        creating = bool(flags & (O_CREAT | O_TMPFILE_BIT))
        op = "create" if creating else "truncate" if flags & O_TRUNC else "open"
        return Pending(spec, table, op, path, None, flags, mode & 0o7777 if creating else None, write)

    def _open(self, tid: int, table: SyscallTable, spec: Spec, args: tuple[int, ...]) -> Pending | None:
        flags = CREAT_FLAGS if spec.flags is None else args[spec.flags] & 0xFFFFFFFF
        mode = args[spec.mode] if spec.mode is not None else 0
        return self._open_event(tid, table, spec, args, flags, mode)

    def _openat2(self, tid: int, table: SyscallTable, spec: Spec, args: tuple[int, ...]) -> Pending | None:
        how = self.memory.read(self._mm, args[2], _OPEN_HOW.size)
        if how is None:  # the kernel will answer EFAULT; still an attempt to record
            return Pending(spec, table, "open", self._string_at(tid, args, 0, 1), None, None,
                           None, True)  # fmt: skip
        flags, mode = _OPEN_HOW.unpack(how)
        return self._open_event(tid, table, spec, args, flags, mode)

    def _path(self, tid: int, table: SyscallTable, spec: Spec, args: tuple[int, ...]) -> Pending:
        if spec.fd is not None:
            path: Loc = (b"", self.paths.fd_path(tid, as_fd(args[spec.fd])))
        else:
            path = self._string_at(tid, args, spec.dirfd, spec.path or 0)
        flags = None if spec.flags is None else args[spec.flags] & 0xFFFFFFFF
        mode = None if spec.mode is None else args[spec.mode] & 0o177777
        return Pending(spec, table, spec.op, path, None, flags, mode, True)

    def _link(self, tid: int, table: SyscallTable, spec: Spec, args: tuple[int, ...]) -> Pending:
        old = self._string_at(tid, args, spec.dirfd, spec.path or 0)
        new = self._string_at(tid, args, spec.dirfd2, spec.path2 or 0)
        flags = None if spec.flags is None else args[spec.flags] & 0xFFFFFFFF
        if spec.op == "rename":  # both ends change: path is the source, target the destination
            return Pending(spec, table, "rename", old, new, flags, None, True)
        return Pending(spec, table, "link", new, old, flags, None, True)

    def _symlink(self, tid: int, table: SyscallTable, spec: Spec, args: tuple[int, ...]) -> Pending:
        content = self.memory.cstring(self._mm, args[spec.path or 0]) or b""
        link = self._string_at(tid, args, spec.dirfd2, spec.path2 or 0)
        return Pending(spec, table, "symlink", link, (b"", content), None, None, True, verbatim_target=True)

    def _cwd(self, tid: int, table: SyscallTable, spec: Spec, args: tuple[int, ...]) -> Pending:
        """chdir/fchdir/chroot are not events; their success invalidates the cwd cache."""
        return Pending(spec, table, "", (b"", b""), None, None, None, False)
