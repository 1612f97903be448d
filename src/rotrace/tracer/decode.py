"""Syscall decoders, one per family: read a stopped tracee's arguments into a Pending call.

At the entry stop the arguments and strings are read; at the exit stop (the tracee still
stopped) the paths are placed where the kernel put them (resolve.py); naming the flags waits
until `complete`, with the tracee running again.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import struct
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from rotrace.events import FileEvent
from rotrace.tracer import resolve, stdio
from rotrace.tracer.dircache import DirCache
from rotrace.tracer.flags import access_flags, at_flags, open_flags, rename_flags
from rotrace.tracer.linux import kernel, procfs
from rotrace.tracer.linux.arch import (
    CREAT_FLAGS,
    O_ACCMODE,
    O_CREAT,
    O_EXCL,
    O_RDONLY,
    O_TMPFILE_BIT,
    O_TRUNC,
    WRITE_OPEN_MASK,
    SyscallTable,
)
from rotrace.tracer.linux.memory import MemoryReader
from rotrace.tracer.resolve import AT_FDCWD
from rotrace.tracer.syscalls import (
    BTRFS_NAME_MAX,
    BTRFS_SUBVOL_SPEC_BY_ID,
    BTRFS_VOL2_FLAGS,
    BTRFS_VOL2_NAME,
    FS_IOCTLS,
    INODE_FLAG_IOCTLS,
    SYS_BIND,
    W_OK,
    Spec,
)

_OPEN_HOW = struct.Struct("=QQQ")
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_IN_ROOT = 0x10
_RESOLVE_REFUSING = 0x01 | 0x02 | RESOLVE_NO_SYMLINKS | 0x08  # NO_XDEV, NO_MAGICLINKS, NO_SYMLINKS, BENEATH
AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000
AT_SYMLINK_FOLLOW = 0x400
_RENAME_EXCHANGE = 2
# Calls that change an inode by a name and leave the names as they are: metadata and size.
_ON_AN_INODE = frozenset({"chmod", "chown", "utime", "xattr", "attr", "truncate"})
MQUEUE = b"/dev/mqueue/"  # where the mqueue filesystem is mounted, as Docker and systemd mount it
AF_UNIX = 1
_SUN_PATH = 2  # offsetof(struct sockaddr_un, sun_path)
_SOCKADDR_UN = 110  # sizeof(struct sockaddr_un): a longer address is EINVAL
# The op of a bind whose address named no file at its entry, checked at the exit (Pending.socket)
SOCKET_CHECK = "socket"
_SOCKETCALL_ARGS = struct.Struct("=III")  # socketcall(SYS_BIND, {fd, addr, addrlen}) on i386
_FILE_HANDLE = struct.Struct("=Ii")  # struct file_handle: handle_bytes, handle_type, then the bytes
_MAX_HANDLE_SZ = 128  # the kernel's MAX_HANDLE_SZ: a longer handle is EINVAL


def _may_make_nothing(flags: int) -> bool:
    """An open that writes only if O_CREAT makes its file: opened for reading alone, with
    neither O_TRUNC nor O_EXCL (lock files: flock(1), libmount's utab.lock). The kernel needs no
    writable filesystem to open an existing file so, read-only root included."""
    reading = flags & O_ACCMODE == O_RDONLY
    return reading and flags & O_CREAT != 0 and not flags & (O_EXCL | O_TRUNC | O_TMPFILE_BIT)


# How long a file must have been unchanged for its change time to tell it from one made in its
# place (which may get the inode number just freed): longer than a step of the filesystem's
# clock. Times in whole seconds (ext4 with 128-byte inodes, ext3; FAT's step by two): 3 s.
# Finer ones step by the kernel's tick (10 ms at the least common HZ=100) or by exFAT's 10 ms.
_SETTLED_NS = 3_000_000_000
_SETTLED_FINE_NS = 50_000_000


def _there(loc: Loc, follow: bool) -> tuple[int, int, int] | None:
    """The file an open's path names at its entry, as the tracee sees it (its magic link): its
    device, inode and change time; None where there is none, or it cannot be told: where it
    changed too lately (`_SETTLED_NS`) for a file made in its place to have a later time."""
    if not loc.base or loc.root:
        return None
    try:
        st = os.stat(loc.base + b"/" + loc.raw.lstrip(b"/"), follow_symlinks=follow)
    except (OSError, ValueError):
        return None
    settled = _SETTLED_FINE_NS if st.st_ctime_ns % 1_000_000_000 else _SETTLED_NS
    if st.st_ctime_ns > time.time_ns() - settled:  # (the filesystem's clock: the real time)
        return None
    return st.st_dev, st.st_ino, st.st_ctime_ns


def _opening(table: SyscallTable, flags: int, making: int) -> tuple[bool, str]:
    """Whether an open with `flags` writes, and its op ("create" with one of the `making` flags,
    "truncate", "open"). O_PATH keeps only O_DIRECTORY, O_NOFOLLOW and O_CLOEXEC: with it,
    O_CREAT, O_TRUNC and the access mode are ignored and nothing is written. Opened for
    reading, a file is written only by O_TRUNC or where it is made (`_may_make_nothing`)."""
    write = bool(flags & WRITE_OPEN_MASK) and not flags & table.open_flags["O_PATH"]
    if write and flags & O_ACCMODE == O_RDONLY and not flags & (making | O_TRUNC):
        write = False  # opened for reading: O_APPEND alone writes nothing (nor O_CREAT for a handle)
    if write and flags & making:
        return write, "create"
    return write, "truncate" if write and flags & O_TRUNC else "open"


class Moved(NamedTuple):
    """What may have changed while a call ran, of the calling thread's cwd, root and fds (as
    the threads sharing them changed them), and of any process's (loop.py, `_moved`)."""

    cwd: bool
    root: bool
    fds: bool
    others: bool


# A path through a process's own links in /proc (own_proc has made /proc/self that process's):
# walked from its cwd, root or fd N, which that process may change while the call runs.
_PROC_LINK = re.compile(rb"/*proc/+([0-9]+)/+(?:task/+[0-9]+/+)?(cwd|root|fd)(?:/|$)")


def _empty_path(spec: Spec, flags: int | None) -> bool:
    """Whether the call has AT_EMPTY_PATH: an empty path names its dirfd's own file."""
    return spec.flag_kind in ("at", "access") and bool((flags or 0) & AT_EMPTY_PATH)


class Loc:
    """A path as read at the entry stop, and where the kernel put it (set at the exit stop).
    (A class of slots, not a dataclass: the tracer's process loads no dataclass, which would
    cost it milliseconds before the command starts.)"""

    __slots__ = ("addr", "base", "held", "path", "raw", "root", "seen", "stamps", "unknown")

    def __init__(
        self,
        base: bytes,  # the magic link it is resolved from (resolve.base_of); b"" when fixed
        raw: bytes,  # what is resolved from base
        addr: int = 0,  # where the tracee keeps the string (re-read at exit: did it change?)
        seen: bytes = b"",  # the string as read at entry
        path: bytes | None = None,  # the answer; None: unresolved
        root: bytes = b"",  # where an absolute symlink starts, if not the process's root (RESOLVE_IN_ROOT)
        held: tuple[int, int] | None = None,  # a name to remove: the directory holding it at entry
        stamps: resolve.Stamps | None = None,  # a way no watch covers, as read at entry (resolve.stamp)
    ) -> None:
        self.base = base
        self.raw = raw
        self.addr = addr
        self.seen = seen
        self.path = path
        self.root = root
        self.held = held
        self.stamps = stamps
        self.unknown = False  # an argument the kernel read and rotrace could not: no place

    def __repr__(self) -> str:
        return f"Loc(base={self.base!r}, raw={self.raw!r}, path={self.path!r})"

    @classmethod
    def fixed(cls, path: bytes | None) -> Loc:
        return cls(b"", b"", path=path)

    @classmethod
    def unread(cls) -> Loc:
        """A path or an address rotrace could not read (EFAULT to the kernel too, or memory it
        reads where rotrace cannot: memfd_secret): a write there has no place."""
        loc = cls(b"", b"")
        loc.unknown = True
        return loc


class Pending:
    """A decoded syscall entry waiting for its result."""

    __slots__ = ("context", "dir_states", "flags", "follow", "follow_target", "handle", "mode", "mounts",
                 "op", "path", "since", "socket", "spec", "streams", "table", "target", "there",
                 "verbatim_target", "via_fd", "walk_refused", "way", "write")  # fmt: skip

    def __init__(
        self,
        spec: Spec,
        table: SyscallTable,
        op: str,
        path: Loc,
        target: Loc | None,
        flags: int | None,
        mode: int | None,
        write: bool,
        verbatim_target: bool = False,  # a symlink's content is kept as written
        follow_target: bool = False,  # linkat(AT_SYMLINK_FOLLOW): the file linked is the symlink's target
        follow: bool = False,  # a symlink as the last component is followed
        via_fd: int | None = None,  # opened through the link /proc/PID/fd/N: N (stdio.py)
        streams: stdio.Streams | None = None,  # then what the command's stdin, stdout and stderr were
    ) -> None:
        self.spec = spec
        self.table = table
        self.op = op
        self.path = path
        self.target = target
        self.flags = flags
        self.mode = mode
        self.write = write
        self.verbatim_target = verbatim_target
        self.follow_target = follow_target
        self.follow = follow
        self.dir_states: list[Any] | None = None  # what the directories it changes held (dirstate.py)
        self.via_fd = via_fd
        self.streams = streams
        self.since = 0  # the placement cache's count of name changes at the entry (DirCache.raced)
        self.socket = -1  # a bind to check at the exit (SOCKET_CHECK): its socket's fd
        # an open that may write: its path read lexically, watched from the entry (DirCache.open_way),
        # and the count of mount table changes then (resolve.mount_changes)
        self.way: tuple[bytes, int, int] | None = None
        self.mounts = -1
        self.context: tuple[int, Moved] | None = None  # changes of cwd, root and fds at the entry (loop.py)
        # open_by_handle_at: where the tracee keeps the handle, its bytes, and the file it names
        self.handle: tuple[int, bytes, tuple[int, int]] | None = None
        # an open that writes only if O_CREAT makes its file (`_may_make_nothing`): the file its
        # path named at the entry (device, inode, change time). The same file opened, unchanged,
        # was there before the call, which made and wrote nothing.
        self.there: tuple[int, int, int] | None = None
        # openat2 with RESOLVE_BENEATH, NO_XDEV, NO_SYMLINKS or NO_MAGICLINKS: a walk the kernel
        # stops (EXDEV, ELOOP) ends at a name a walk without them goes through
        self.walk_refused = False

    def __repr__(self) -> str:
        return f"Pending({self.spec.name}, {self.op}, {self.path!r}, {self.target!r})"

    def resolve(
        self, memory: MemoryReader, tid: int, result: int | None, cache: DirCache | None = None
    ) -> None:
        """At the exit stop (the tracee still stopped): where the call's paths landed.

        A successful open names its file by the fd it returned: the kernel's own answer,
        whatever the path said (or became while the call ran). Otherwise the path is resolved
        through the tracee's magic links, if the string it passed is still what was read at
        entry (another thread may rewrite the buffer while the call runs). A tracee whose mounts
        or root are not rotrace's, or any once the run has such a tracee or made a mount
        (`foreign`: DirCache.apart, for an fd passed on or a way through another's
        /proc/PID/root reaches those mounts), has a name kept only where it reaches, from
        rotrace's root, the file the kernel used (resolve.is_named).
        """
        plain = cache is not None and cache.plain(tid)  # (asked with the cache off too)
        foreign = cache is not None and (not plain or cache.apart)
        if self.spec.family == "handle":
            self._place_handle(memory, tid, result, foreign)
            return
        if self.spec.family == "mqueue":  # the name the kernel took, if it is still what was read,
            loc = self.path  # in the IPC namespace whose queues /dev/mqueue shows (rotrace's)
            if loc.seen and (memory.cstring(tid, loc.addr) != loc.seen or not _ipc_shared(tid)):
                loc.path = None
            return
        reached: tuple[int, int] | None = None  # the file an open's place below must be
        # O_TMPFILE's fd is a file with no name: the path names its directory, placed below
        tmpfile = self.flags is not None and bool(self.flags & O_TMPFILE_BIT)
        if self.spec.family in ("open", "openat2") and result is not None and result >= 0 and not tmpfile:
            named = resolve.fd_place(tid, result, foreign)
            opened, identity = named.place, named.identity
            if opened is not None and not opened.endswith(b" (deleted)"):
                # Another thread sharing the fd table may have put another file at that number
                # (dup2, or close and open) since the call returned: the fd is the file opened
                # only if it is the one the path, unchanged since the entry, names now (the
                # placement cache's news says so where it watched that name from the entry, no
                # mount changed meanwhile); else the write's place is unknown.
                loc = self.path
                if (
                    self.write
                    and loc.base
                    and (
                        (loc.addr and memory.cstring(tid, loc.addr) != loc.seen)
                        or not (
                            (
                                self.way is not None
                                and cache is not None
                                and not foreign
                                and resolve.mount_changes() == self.mounts
                                and cache.still_named(self.way, tid, opened)
                            )
                            or resolve.opened_there(tid, result, loc.base, loc.raw, self.follow, identity)
                        )
                    )
                ):
                    loc.path = None
                    return
                loc.path = opened
                there = self.there
                if there is not None and named.identity == there[:2] and named.changed == there[2]:
                    self.write, self.op = False, "open"  # it made nothing, and opened it for reading
                if self.via_fd is not None:
                    self._own_stream(tid, result)
                return
            loc = self.path
            if opened is None and identity is not None and self.write and loc.base:
                if not resolve.opened_there(tid, result, loc.base, loc.raw, self.follow, identity):
                    # a file /proc names where another is (on a mount covered by another): the
                    # path now names some other file, so where what the fd writes lands is not known
                    loc.path = None
                    return
                # the path names the file in the tracee's mounts, and no name reaches it from
                # rotrace's root (a file bound onto /tmp/x in a namespace of the tracee's own):
                # its place below is the file's only where, from rotrace's root, it is that file
                reached = identity
        if self.walk_refused and result in (-errno.EXDEV, -errno.ELOOP):
            if b"/" in self.path.raw.strip(b"/"):  # stopped on the way, where no call tells:
                self.path.path = None  # placed nowhere
                return
            self.follow = False  # stopped at the name itself: the link, not where it leads
        if tmpfile and foreign and result is not None and result >= 0 and self.path.base:
            # in mounts not rotrace's, its directory's name is its place only where it is, from
            # rotrace's root, the directory the tracee's name reaches, on the file's filesystem
            reached = resolve.directory_there(tid, result, self.path.base, self.path.raw)
            if reached is None:
                self.path.path = None
                return
        target = None if self.verbatim_target else self.target
        path_left, target_left = self._left(result)
        places = [(loc, follow, left) for loc, follow, left in
                  ((self.path, self.follow, path_left), (target, self.follow_target, target_left))
                  if loc is not None and loc.base]  # fmt: skip
        if cache is not None and not cache.enabled:
            cache = None
        served = cache if places and cache is not None and cache.fresh() else None  # what changed meanwhile
        now = _read_again(memory, tid, [loc for loc, _follow, _left in places])
        for (loc, follow, left), again in zip(places, now, strict=True):
            if loc.addr and again != loc.seen:
                loc.path = None
                continue
            held = loc.held if result == 0 else None
            try:
                placed = None
                if served is not None and not loc.root and held is None:
                    placed = served.placed(tid, loc.base, loc.raw, follow)
                if placed is not None and left is not None:
                    resolve.check(resolve.look(placed), left)
                loc.path = (
                    placed
                    or resolve.resolve(
                        loc.base,
                        loc.raw,
                        follow,
                        loc.root,
                        served,
                        tid,
                        left,
                        held,
                        foreign,
                        plain=plain,
                    )
                    # the parent gone (or not nameable): a name made or removed there is unknown
                    or (
                        resolve.lexical(loc.base, loc.raw)
                        if left is not True and held is None and not foreign
                        else None
                    )
                )
            except resolve.Misplaced:
                loc.path = None
            if (
                loc.path is not None
                and loc.stamps is not None
                and not resolve.unchanged(loc.base, loc.raw, loc.stamps)
            ):
                loc.path = None  # a directory on its way changed while the call ran
        if places and cache is not None:
            for loc, _follow, _left in places:  # a name on its way changed while the call ran: unknown
                stamps = loc.stamps
                steps = stamps.steps if stamps is not None else ()
                if loc.path is not None and cache.raced(
                    self.since, tid, loc.base, loc.raw, loc.path, stamps is not None, steps
                ):
                    loc.path = None
        if (
            reached is not None
            and self.path.path is not None
            and not resolve.is_file(self.path.path, reached)
        ):
            self.path.path = None
        if (
            tmpfile
            and result is not None
            and result >= 0
            and self.path.path is not None
            and resolve.tmpfile_directory(tid, result) != self.path.path
        ):  # the directory the path names now is not the one the file was made in (a symlink on
            self.path.path = None  # the way swapped by another process since the call)
        loc = self.path
        if foreign and result == 0 and self.op in _ON_AN_INODE and loc.path is not None and loc.base:
            # a file's mode, owner, times or size changed by its name, in mounts not rotrace's
            # (a file bound onto /tmp/x): its place is the name only where, from rotrace's root,
            # it is the file the tracee's name reaches
            seen = loc.base + b"/" + (loc.raw.lstrip(b"/") if loc.base.endswith(b"/root") else loc.raw)
            if not resolve.same_file(seen, loc.path, self.follow):
                loc.path = None
        if self.via_fd is not None:
            self._own_stream(tid, result)

    def note_holder(self, plain: bool = False) -> None:
        """At the entry of a call that removes a name (a delete, a rename's old name): the
        directory holding it now, to be the one placed at the exit (resolve.holder). `plain`:
        the tracee's root is rotrace's."""
        if self.op in ("delete", "rename") and self.path.base:
            self.path.held = resolve.holder(self.path.base, self.path.raw, plain)

    def note_ways(self, tid: int, cache: DirCache) -> None:
        """At the entry of a write that is no open (an open that succeeds is named by its
        fd): for each path whose way no inotify watch covers, where no news would say a
        directory on it was swapped while the call ran, the way as it is now
        (resolve.stamp; its system calls on such ways only). A last name the call follows is
        looked up in a directory no watch covers (the watches are on the directories that
        name its chain), and may be a symlink that leads where none looks: always read."""
        if self.spec.family in ("open", "openat2", "handle"):
            return
        target = None if self.verbatim_target else self.target
        ways = [
            (loc, follow)
            for loc, follow in ((self.path, self.follow), (target, self.follow_target))
            if loc is not None and loc.base and (follow or not cache.watched(tid, loc.base, loc.raw))
        ]
        # the directories whose names the call itself changes (a link's new name beside the
        # file it links, a rename's two): their times change with it, whichever way reads them
        # (asked only of a way walked again, which may read them)
        changes = (
            [self.path, *([target] if self.op == "rename" else [])] if self.op in ("link", "rename") else []
        )
        known: list[set[bytes]] = []

        def mine() -> set[bytes]:
            if not known:
                names = (
                    resolve.parent_name(loc.base, loc.raw, cache.plain(tid))
                    for loc in changes
                    if loc is not None and loc.base
                )
                known.append({name for name in names if name is not None})
            return known[0]

        for loc, follow in ways:
            loc.stamps = resolve.stamp(loc.base, loc.raw, cache, tid, follow, mine)

    def _left(self, result: int | None) -> tuple[bool | None, bool | None]:
        """Whether a call that succeeded left the last name of its path, and of its target,
        there (True), not there (False), or either (None: no check). A rename's old name is
        not checked: a rename of one file's two names succeeds and does nothing."""
        if result != 0 or self.spec.family in ("open", "openat2", "handle"):  # an open: by its fd
            return None, None
        if self.op == "delete":
            return False, None
        if self.op == "rename":
            return (True if (self.flags or 0) & _RENAME_EXCHANGE else None), True
        return True, None  # a link's old name is read, not written

    def _place_handle(self, memory: MemoryReader, tid: int, result: int | None, foreign: bool) -> None:
        """open_by_handle_at: the file the handle named at the entry, if the handle is still
        what was read then; an open that succeeded by its fd's name, if the fd (another thread
        may have put another file at its number) is that file. Else unplaced."""
        loc, held = self.path, self.handle
        if held is None:
            return
        addr, handle, identity = held
        if memory.read(tid, addr, len(handle)) != handle:
            loc.path = None
            return
        if result is None or result < 0:
            return
        try:
            st = os.stat(b"/proc/%d/fd/%d" % (tid, result))
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != identity:
            loc.path = None
            return
        opened = resolve.fd_path(tid, result, foreign)
        if opened is not None and not opened.endswith(b" (deleted)"):
            loc.path = opened

    def unplace_moved(
        self, moved: Moved, result: int | None, tgid: int, traced: Callable[[int], bool] = lambda _: True
    ) -> None:
        """After `resolve`: a thread sharing the tracee's cwd, root or fds changed the one a
        path is walked from while the call ran (chdir, fchdir, chroot..., dup2 or dup3 over a
        dirfd), so it may have been walked from the one before or the one after, and is
        unresolved; so is a path through /proc/PID/{cwd,root,fd/N} of a process whose cwd, root
        or fds changed meanwhile (any process's, for another's), and of one rotrace does not
        trace (`traced`: its chdir and dup2 make no stop, so they may be running at any time).
        An open that succeeded is named by its fd, whatever."""
        if self.spec.family in ("open", "openat2") and result is not None and result >= 0:
            return
        if self.spec.family == "mqueue":  # a queue's name is walked from no cwd, root or fd
            return
        for loc in (self.path, None if self.verbatim_target else self.target):
            if loc is None or loc.path is None:
                continue
            if loc.base.endswith(b"/cwd"):
                changed = moved.cwd
            elif loc.base.endswith(b"/root"):
                changed = moved.root
                link = _PROC_LINK.match(loc.raw)
                if link is not None:
                    kind, pid = link.group(2).decode(), int(link.group(1))
                    theirs = getattr(moved, "fds" if kind == "fd" else kind)
                    changed = changed or (theirs if pid == tgid else moved.others) or not traced(pid)
            else:  # a dirfd, or the fd the call acts on (named at the entry)
                changed = moved.fds
            if changed:
                loc.path = None

    def _own_stream(self, tid: int, result: int | None) -> None:
        """An open through a descriptor link that landed on the command's own stdin, stdout or
        stderr (stdio.py) is named as that stream: the file opened, or for a failed open the
        one the link names (if the path was still what was passed: it was placed)."""
        assert self.via_fd is not None and self.streams is not None
        loc = self.path
        if result is not None and result >= 0:
            link = b"/proc/%d/fd/%d" % (tid, result)
        elif loc.path is not None and loc.base:
            link = loc.base + b"/" + loc.raw.lstrip(b"/")
        else:
            return
        try:
            st = os.stat(link)
        except (OSError, ValueError):
            return
        name = stdio.name_of((st.st_dev, st.st_ino), self.streams, self.via_fd)
        if name is not None:
            loc.path = name

    def complete(self, pid: int, tid: int, exe: bytes, result: int | None) -> FileEvent:
        target = self.target
        if target is None:
            target_path: bytes | None = None
        elif self.verbatim_target:
            target_path = target.raw
        else:
            target_path = _final(target)
        return FileEvent(
            pid=pid,
            tid=tid,
            exe=exe,
            syscall=self.spec.name,
            op=self.op,
            path=_final(self.path),
            target=target_path,
            flags=self._flag_names(),
            mode=self.mode,
            result=result,
            write=self.write,
            unresolved=_unplaced(self.path)
            or (not self.verbatim_target and _unplaced(target))
            or (self.spec.family == "handle" and self.path.path is None)
            or (self.spec.family == "mqueue" and bool(self.path.seen) and self.path.path is None),
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
        if kind == "access":
            return access_flags(self.flags)
        return None


@functools.cache
def _own_ipc() -> int | None:
    return procfs.ipc_namespace(os.getpid())


def _read_again(memory: MemoryReader, tid: int, locs: list[Loc]) -> list[bytes | None]:
    """At the exit, the strings of the paths read at the entry, as they are now (a rename's or
    a link's two in one read where they are close): another thread may have rewritten one."""
    if len(locs) == 2 and locs[0].addr and locs[1].addr:
        return list(memory.cstrings(tid, locs[0].addr, locs[1].addr))
    return [memory.cstring(tid, loc.addr) if loc.addr else None for loc in locs]


def _ipc_shared(tid: int) -> bool:
    """A tracee's queues are rotrace's: in the IPC namespace it shares (not its own, nor a
    sandbox's), where /dev/mqueue names them."""
    theirs = procfs.ipc_namespace(tid)
    return theirs is not None and theirs == _own_ipc()


def _unplaced(loc: Loc | None) -> bool:
    """A path (or an fd's file, shown by what /proc says: `seen`) that was not placed."""
    return loc is not None and loc.path is None and (bool(loc.base) or bool(loc.seen) or loc.unknown)


def _final(loc: Loc) -> bytes:
    """The resolved path; for one that could not be placed, the string the tracee passed."""
    return loc.path if loc.path is not None else loc.seen or loc.raw


class Decoder:
    def __init__(
        self,
        all_opens: bool,
        cstring_at: Callable[[int, int], bytes | None] | None = None,
        plain: Callable[[int], bool] | None = None,
    ) -> None:
        self.all_opens = all_opens
        # whether a tracee's paths are rotrace's (DirCache.plain): else a name /proc gives is
        # kept only where it reaches that file from rotrace's root (resolve.is_named)
        self.plain = plain or (lambda _tid: True)
        self.streams = stdio.streams()  # the command inherits rotrace's: it starts now
        self.memory = MemoryReader(cstring_at)
        self._tid = 0
        self._tgid = 0

    def _fd_path(self, fd: int) -> bytes | None:
        """The file an fd of the tracee that stopped names (resolve.fd_path)."""
        return resolve.fd_path(self._tid, fd, not self.plain(self._tid))

    def _fd_loc(self, fd: int) -> Loc:
        """The file a call on an fd acts on: placed, or unplaced (shown by what /proc says)
        where /proc names a file that is not there (a name it lost, another left)."""
        path = self._fd_path(fd)
        if path is not None:
            return Loc.fixed(path)
        shown = resolve.fd_text(self._tid, fd)
        return Loc(b"", b"", seen=shown) if shown is not None else Loc.unread()

    def decode(
        self, tid: int, tgid: int, table: SyscallTable, spec: Spec, args: tuple[int, ...]
    ) -> Pending | None:
        """The Pending call, or None when it is not to be recorded (a read-only open).

        Memory and paths are read through the thread that stopped: the thread-group leader
        may have exited (pthread_exit) while its other threads go on.
        """
        self._tid, self._tgid = tid, tgid
        family = spec.family
        if family == "open":
            return self._open(table, spec, args)
        if family == "openat2":
            return self._openat2(table, spec, args)
        if family == "path":
            return self._path(table, spec, args)
        if family == "link":
            return self._link(table, spec, args)
        if family == "ioctl":
            return self._ioctl(table, spec, args)
        if family == "bind":
            return self._bind(table, spec, args)
        if family == "handle":
            return self._handle(table, spec, args)
        if family == "mqueue":
            return self._mqueue(table, spec, args)
        return self._symlink(table, spec, args)

    def _loc(self, args: tuple[int, ...], dirfd_idx: int | None, idx: int, in_root: bool = False,
             follow: bool = False, empty: bool = False) -> Loc:  # fmt: skip
        """`empty`: the call has AT_EMPTY_PATH, so an empty path is the file of dirfd itself."""
        seen = self.memory.cstring(self._tid, args[idx])
        return self._loc_read(args, dirfd_idx, idx, seen, in_root, follow, empty)

    def _loc_read(self, args: tuple[int, ...], dirfd_idx: int | None, idx: int, seen: bytes | None,
                  in_root: bool = False, follow: bool = False, empty: bool = False) -> Loc:  # fmt: skip
        """The Loc of the path argument `idx`, whose string read at its address is `seen`."""
        dirfd = AT_FDCWD if dirfd_idx is None else resolve.as_fd(args[dirfd_idx])
        addr = args[idx]
        if seen is None:
            if addr == 0 and dirfd != AT_FDCWD:  # utimensat(fd, NULL, ...) is futimens
                return self._fd_loc(dirfd)
            return Loc.unread()
        if not seen and empty:  # fchownat(fd, "", ..., AT_EMPTY_PATH): fd's file (the cwd's, AT_FDCWD)
            return self._fd_loc(dirfd)
        if in_root:  # openat2 RESOLVE_IN_ROOT: an absolute path (or symlink) starts at dirfd
            raw = seen.lstrip(b"/")
            base = resolve.base_of(self._tid, dirfd, raw)
            return Loc(base, raw, addr, seen, root=base)
        raw = resolve.own_proc(seen, self._tgid, self._tid, follow)
        return Loc(resolve.base_of(self._tid, dirfd, raw), raw, addr, seen)

    def _open_event(
        self, table: SyscallTable, spec: Spec, args: tuple[int, ...], flags: int, mode: int,
        in_root: bool = False, no_symlinks: bool = False,
    ) -> Pending | None:  # fmt: skip
        write, op = _opening(table, flags, O_CREAT | O_TMPFILE_BIT)
        if not write and not self.all_opens:
            return None
        creating = op == "create"
        exclusive = write and flags & O_CREAT and flags & O_EXCL  # a link there is EEXIST, not followed
        follow = not flags & table.open_flags["O_NOFOLLOW"] and not exclusive and not no_symlinks
        loc = self._loc(args, spec.dirfd, spec.path or 0, in_root, follow)
        via = stdio.fd_route(loc.raw) if loc.raw.startswith(b"/proc/") and any(self.streams) else None
        pending = Pending(spec, table, op, loc, None, flags, mode & 0o7777 if creating else None, write,
                          follow=follow, via_fd=via, streams=self.streams)  # fmt: skip
        if write and _may_make_nothing(flags):
            pending.there = _there(loc, follow)
        return pending

    def _open(self, table: SyscallTable, spec: Spec, args: tuple[int, ...]) -> Pending | None:
        flags = CREAT_FLAGS if spec.flags is None else args[spec.flags] & 0xFFFFFFFF
        mode = args[spec.mode] if spec.mode is not None else 0
        return self._open_event(table, spec, args, flags, mode)

    def _openat2(self, table: SyscallTable, spec: Spec, args: tuple[int, ...]) -> Pending | None:
        how = self.memory.read(self._tid, args[2], _OPEN_HOW.size)
        if how is None:  # the kernel will answer EFAULT; still an attempt to record
            return Pending(spec, table, "open", self._loc(args, 0, 1), None, None, None, True)
        flags, mode, resolve = _OPEN_HOW.unpack(how)
        pending = self._open_event(table, spec, args, flags, mode, in_root=bool(resolve & RESOLVE_IN_ROOT),
                                   no_symlinks=bool(resolve & RESOLVE_NO_SYMLINKS))  # fmt: skip
        if pending is not None:
            pending.walk_refused = bool(resolve & _RESOLVE_REFUSING)
        return pending

    def _handle(self, table: SyscallTable, spec: Spec, args: tuple[int, ...]) -> Pending | None:
        """open_by_handle_at(2): a file with no path, placed now by opening the handle (O_PATH)
        from the same mount, as the kernel will; shown, when it cannot be, by the mount's fd."""
        flags = args[2] & 0xFFFFFFFF
        # a handle names a file that is there: O_CREAT makes none
        write, op = _opening(table, flags, O_TMPFILE_BIT)
        if not write and not self.all_opens:
            return None
        mount_fd = resolve.as_fd(args[0])
        loc = Loc(b"", b"", seen=resolve.fd_path(self._tid, mount_fd) or b"/")
        pending = Pending(spec, table, op, loc, None, flags, None, write)
        header = self.memory.read(self._tid, args[1], _FILE_HANDLE.size)
        size = _FILE_HANDLE.unpack(header)[0] if header is not None else _MAX_HANDLE_SZ + 1
        handle = (
            self.memory.read(self._tid, args[1], _FILE_HANDLE.size + size) if size <= _MAX_HANDLE_SZ else None
        )
        found = kernel.file_of_handle(b"/proc/%d/fd/%d" % (self._tid, mount_fd), handle) if handle else None
        if handle is not None and found is not None:
            loc.path = found[0]
            pending.handle = (args[1], handle, found[1])
        return pending

    def _path(self, table: SyscallTable, spec: Spec, args: tuple[int, ...]) -> Pending | None:
        if spec.op == "open" and args[spec.path or 0] == 0:  # acct(NULL): accounting off
            return None
        if spec.op == "access" and not args[spec.trap_arg or 0] & W_OK:  # a check to read or run: no write
            return None
        flags = None if spec.flags is None else args[spec.flags] & 0xFFFFFFFF
        mode = None if spec.mode is None else args[spec.mode] & 0o177777
        follow = spec.follows and not (flags or 0) & AT_SYMLINK_NOFOLLOW
        if spec.fd is not None:
            loc = self._fd_loc(resolve.as_fd(args[spec.fd]))
        else:
            loc = self._loc(args, spec.dirfd, spec.path or 0, follow=follow, empty=_empty_path(spec, flags))
        return Pending(spec, table, spec.op, loc, None, flags, mode, True, follow=follow)

    def _ioctl(self, table: SyscallTable, spec: Spec, args: tuple[int, ...]) -> Pending | None:
        """The inode-flag ioctls (chattr), and those that make, copy or remove a btrfs subvolume
        or change what a file or filesystem is (syscalls.FS_IOCTLS): on the fd's file, or on a
        name in its directory; without the seccomp filter every ioctl stops here."""
        request = args[1] & 0xFFFFFFFF
        if request in INODE_FLAG_IOCTLS:
            op, at = spec.op, None
        elif request in FS_IOCTLS:
            op, at = FS_IOCTLS[request]
        else:
            return None
        fd = resolve.as_fd(args[0])
        if at is None:
            return Pending(spec, table, op, self._fd_loc(fd), None, None, None, True)
        where = self._subvolume(self._fd_path(fd), args[2], at)
        return Pending(spec, table, op, Loc.fixed(where), None, None, None, True)

    def _subvolume(self, directory: bytes | None, addr: int, at: int) -> bytes | None:
        """The subvolume a btrfs ioctl makes or removes in `directory` (its fd), by the name in
        its argument; None (unplaced) when the name cannot be read or is none a directory can
        hold, or a _V2 destroy names it by id."""
        if directory is None:
            return None
        if at == BTRFS_VOL2_NAME:
            flags = self.memory.read(self._tid, addr + BTRFS_VOL2_FLAGS, 8)
            if flags is None or int.from_bytes(flags, sys.byteorder) & BTRFS_SUBVOL_SPEC_BY_ID:
                return None
        field = self.memory.read(self._tid, addr + at, BTRFS_NAME_MAX)  # the kernel copies it whole
        name = field.split(b"\0", 1)[0] if field is not None and b"\0" in field else None
        if not name or b"/" in name or name in (b".", b".."):
            return None
        return directory.rstrip(b"/") + b"/" + name

    def _bind(self, table: SyscallTable, spec: Spec, args: tuple[int, ...]) -> Pending | None:
        """bind(2) of a Unix socket to a path: the socket file it creates (relative to the
        cwd), a write as mknod's. An address that cannot be read is an attempt with no place
        (the kernel may read what rotrace cannot: memfd_secret). Any other (another family, an
        abstract name, autobind) is asked of the kernel at the exit (SOCKET_CHECK): another
        thread may have rewritten it into a path while the call ran."""
        if spec.name == "socketcall":
            if args[0] & 0xFFFFFFFF != SYS_BIND:
                return None
            packed = self.memory.read(self._tid, args[1], _SOCKETCALL_ARGS.size)
            if packed is None:
                return Pending(spec, table, spec.op, Loc.unread(), None, None, None, True)
            fd, addr, length = _SOCKETCALL_ARGS.unpack(packed)
        else:
            fd, addr, length = args[0], args[1], args[2] & 0xFFFFFFFF
        checked = Pending(spec, table, SOCKET_CHECK, Loc(b"", b""), None, None, None, True)
        checked.socket = resolve.as_fd(fd)
        if not _SUN_PATH < length <= _SOCKADDR_UN:
            return checked
        sockaddr = self.memory.read(self._tid, addr, length)
        if sockaddr is None:
            return Pending(spec, table, spec.op, Loc.unread(), None, None, None, True)
        name = sockaddr[_SUN_PATH:].split(b"\0", 1)[0]  # the kernel ends it at the length too
        if int.from_bytes(sockaddr[:_SUN_PATH], sys.byteorder) != AF_UNIX or not name:
            return checked
        # re-read at the exit as a C string (what follows an unterminated one included)
        seen = self.memory.cstring(self._tid, addr + _SUN_PATH) or name
        raw = resolve.own_proc(name, self._tgid, self._tid, follow=False)
        loc = Loc(resolve.base_of(self._tid, AT_FDCWD, raw), raw, addr + _SUN_PATH, seen)
        return Pending(spec, table, spec.op, loc, None, None, None, True)

    def _mqueue(self, table: SyscallTable, spec: Spec, args: tuple[int, ...]) -> Pending | None:
        """mq_open(O_CREAT) and mq_unlink: a queue made or removed, named as the file it is in
        the mqueue filesystem, /dev/mqueue/NAME (re-read at the exit: did it change?). An
        mq_open without O_CREAT (which stops only without the seccomp filter) makes nothing."""
        flags = None if spec.flags is None else args[spec.flags] & 0xFFFFFFFF
        if flags is not None and not flags & O_CREAT:
            return None
        mode = None if spec.mode is None else args[spec.mode] & 0o7777
        addr = args[spec.path or 0]
        seen = self.memory.cstring(self._tid, addr)
        loc = Loc.unread() if seen is None else Loc(b"", b"", addr, seen, path=MQUEUE + seen)
        return Pending(spec, table, spec.op, loc, None, flags, mode, True)

    def _link(self, table: SyscallTable, spec: Spec, args: tuple[int, ...]) -> Pending:
        flags = None if spec.flags is None else args[spec.flags] & 0xFFFFFFFF
        source, dest = spec.path or 0, spec.path2 or 0
        seen = self.memory.cstrings(self._tid, args[source], args[dest])
        old = self._loc_read(
            args, spec.dirfd, source, seen[0], empty=_empty_path(spec, flags)
        )  # linkat: the fd's file
        new = self._loc_read(args, spec.dirfd2, dest, seen[1])
        if spec.op == "rename":  # both ends change: path is the source, target the destination
            return Pending(spec, table, "rename", old, new, flags, None, True)
        return Pending(spec, table, "link", new, old, flags, None, True,
                       follow_target=bool((flags or 0) & AT_SYMLINK_FOLLOW))  # fmt: skip

    def _symlink(self, table: SyscallTable, spec: Spec, args: tuple[int, ...]) -> Pending:
        text, name = spec.path or 0, spec.path2 or 0
        seen = self.memory.cstrings(self._tid, args[text], args[name])
        content = seen[0] or b""
        link = self._loc_read(args, spec.dirfd2, name, seen[1])
        return Pending(spec, table, "symlink", link, Loc(b"", content), None, None, True,
                       verbatim_target=True)  # fmt: skip
