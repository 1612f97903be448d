"""Directories already placed: each is named once, and its name reused while nothing could
have changed it (docs/performance.md#the-placement-cache).

Placing a path costs an open through the tracee's magic link, a readlink of /proc/self/fd and
a close (resolve.py). A directory is remembered only when the kernel's answer is the path
itself, read lexically (absolute, or relative to a known cwd): no symlink, `.` or `..` on the
way, so the kernel's walk went through exactly the directories the name lists. The answer
then stays true until a name on that chain is unlinked, renamed or replaced, a mount changes,
or the tracee's root, cwd or mount namespace changes. Every one of those is seen:

- name changes, by any process, traced or not: an inotify watch on each directory of the
  chain reports a rename, deletion or move in it (creations cannot replace a name);
- mounts, by any process: the statx of each use names the mount the walk ended on, and
  /proc/self/mountinfo is polled before a write's first hit (a mount moved elsewhere keeps
  its id) and before a directory is learned; a write whose way crosses a mount point that
  changed since its entry is unresolved;
- a tracee's own chdir, fchdir, chroot, pivot_root, unshare and setns: the seccomp filter
  stops them; the cache is bypassed while one runs and its contexts forgotten after it;
- its renames and deletions: the cache is bypassed while one runs (and inotify reports it);
  their names are changes at the call's entry and exit and while it runs, so a write racing
  one is unresolved where no watch is, or before the event is queued;
- a tracee in another mount namespace or under another root (another mount or inode than
  rotrace's root, whatever /proc names it): never served from the cache;
- a process rotrace attached to (`run -p`): not cached at all, for it may share its cwd and
  root (CLONE_FS) with a process rotrace does not trace.

Each use of a cached directory is checked by one statx: its name must reach the same mount (a
unique id) and inode. The name is looked up from rotrace's root, which is the tracee's (only a
tracee that sees rotrace's mounts from rotrace's very root is served), and a cwd's name is one
checked to reach the tracee's cwd, the same mount and inode (not the inode alone: a cwd on a
covered or detached mount is named by the inode's name on another mount), and watched since:
the same walk as through the tracee's magic links, without the cost of /proc's (half of the
call's). News of name changes comes as SIGIO, raised at the tracer's thread inside the call
that queues it (a flag: no system call per write; poll() without the compiled module). A write
racing a change of a name on its way is unresolved (`raced`), and so is one whose name is
not, at its exit, as the call left it (resolve.py, `expect` and `held`). What is not cached: paths
through a dirfd (the fd may be reopened without a syscall rotrace stops), openat2
RESOLVE_IN_ROOT, /proc, directories on filesystems whose changes inotify may miss (network,
FUSE...), a directory rotrace may not read (no watch), beyond _MAX_WATCHES watches.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import errno
import os
import select
import signal
import stat
import struct
from collections.abc import Callable, Iterable

from rotrace.mountinfo import mount_points, unescape
from rotrace.tracer.linux.kernel import libc, own


def _close_aside(fd: int) -> None:
    """Close an inotify fd in a thread of its own: the kernel frees its watches only after a
    grace period (about 15 ms here), which the tracer, with tracees stopped or a report to
    finish, need not wait for. The thread blocks every signal (it is started with them blocked),
    so that each still reaches the thread that waits for the stops. A bare thread: `threading`'s
    start waits until the new thread runs (milliseconds on a busy machine, before the trace's
    result goes to the report process)."""
    import _thread

    def close() -> None:
        with contextlib.suppress(OSError):
            os.close(fd)

    every = signal.valid_signals()
    before = signal.pthread_sigmask(signal.SIG_BLOCK, every)
    try:
        _thread.start_new_thread(close, ())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


try:  # the SIGIO flag (_fastloop.c): news without a system call; without it, poll()
    from rotrace.tracer import _fastloop
    from rotrace.tracer._fastloop import arm as _arm
    from rotrace.tracer._fastloop import take as _take
except ImportError:  # built where a C compiler was found
    _fastloop = None  # type: ignore[assignment]
    _arm = _take = None  # type: ignore[assignment]

IN_MODIFY_NAMES = 0x40 | 0x80 | 0x200  # IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE
IN_UNMOUNT = 0x2000
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
_WATCH = IN_MODIFY_NAMES | IN_ONLYDIR | IN_DONT_FOLLOW
_EVENT = struct.Struct("=iIII")
_MAX_WATCHES = 8192
_POLL_MOUNTS = select.POLLPRI | select.POLLERR
_RACES_KEPT = 4096  # the latest name changes, for the writes in flight while they happened
# Name changes of one directory in one look at the queue past which another process is taken
# to change names there faster than rotrace reads them (`_let_go`): a traced call changes one
# name at a time, each stopped, so only a process outside the traced tree comes near it.
_CHURN = 256
# Name changes in one look past which every directory in it is let go of: a process renaming
# across many watched directories, none past _CHURN, floods the queue as well.
_FLOOD = 4 * _CHURN

# statx(2): a directory as (mount, device, inode); the mount's id is never reused (Linux 6.8)
_AT_SYMLINK_NOFOLLOW, _AT_EMPTY_PATH = 0x100, 0x1000
_STATX_TYPE, _STATX_INO, _STATX_MNT_ID, _STATX_MNT_ID_UNIQUE = 0x1, 0x100, 0x1000, 0x4000
Where = tuple[int, int, int, int]  # mount id, device major, minor, inode


_PLACE_MOUNTS = 1  # place() would use a cached directory: check the mounts first


class _Statx:
    """One statx buffer, reused: where a path (or an fd) reaches, with its mount. `call`, when
    given (the compiled loop's statx), makes the call and reads the fields in one step."""

    def __init__(
        self, call: Callable[[int, bytes, int, int], tuple[int, int, int, int, int, int] | None] | None = None
    ) -> None:
        self._buf = ctypes.create_string_buffer(256)
        self._call = own("statx")
        self._call.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_char_p)
        self._fields = call
        self.mask = _STATX_TYPE | _STATX_INO | _STATX_MNT_ID_UNIQUE
        self._got = 0
        probe = self.where(b"/")
        self.unique = probe is not None and self._got & _STATX_MNT_ID_UNIQUE != 0
        if not self.unique:
            self.mask = _STATX_TYPE | _STATX_INO | _STATX_MNT_ID
        self._got = 0

    def where(self, path: bytes, fd: int = -100, follow: bool = True) -> Where | None:
        """The directory `path` (relative to `fd`; b"": the fd itself) reaches; None for anything else."""
        flags = (0 if follow else _AT_SYMLINK_NOFOLLOW) | (0 if path else _AT_EMPTY_PATH)
        if self._fields is not None:
            found = self._fields(fd, path, flags, self.mask)
            if found is None:
                return None
            got, mode, ino, major, minor, mnt = found
            self._got = got
            if (
                not stat.S_ISDIR(mode)
                or not got & _STATX_INO
                or not got & (_STATX_MNT_ID | _STATX_MNT_ID_UNIQUE)
            ):
                return None
            return (mnt, major, minor, ino)
        if self._call(fd, path, flags, self.mask, self._buf) != 0:
            return None
        raw = self._buf.raw
        self._got = got = struct.unpack_from("=I", raw, 0)[0]
        if not stat.S_ISDIR(struct.unpack_from("=H", raw, 28)[0]):
            return None
        if not got & _STATX_INO or not got & (_STATX_MNT_ID | _STATX_MNT_ID_UNIQUE):
            return None
        ino = struct.unpack_from("=Q", raw, 32)[0]
        major, minor, mnt = struct.unpack_from("=IIQ", raw, 136)
        return (mnt, major, minor, ino)


# Filesystems whose every name change goes through this kernel's VFS, so inotify reports it.
_LOCAL_FS = frozenset(
    {b"ext2", b"ext3", b"ext4", b"xfs", b"btrfs", b"tmpfs", b"f2fs", b"zfs", b"bcachefs", b"overlay",
     b"jfs", b"reiserfs", b"nilfs2", b"vfat", b"exfat", b"ramfs", b"devtmpfs"}
)  # fmt: skip


# Filesystems that give a directory a new change time at the first change after its change
# time was read (multigrain timestamps, Linux 6.13): two equal reads say nothing changed
# between them, where coarse times would miss changes within one clock tick.
_MGTIME_FS = frozenset({b"ext4", b"xfs", b"btrfs", b"tmpfs"})


def _mgtime_kernel() -> bool:
    try:
        major, minor = (int(part) for part in os.uname().release.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (6, 13)


_MGTIME = _mgtime_kernel()


def _mount_types(text: bytes) -> dict[bytes, bytes]:
    """Each mount point (rotrace's view) and its filesystem type; the last mount at a point wins."""
    found: dict[bytes, bytes] = {}
    for line in text.splitlines():
        fields = line.split(b" ")
        try:
            sep = fields.index(b"-", 6)
        except ValueError:
            continue
        found[unescape(fields[4])] = fields[sep + 1]
    return found


def _queue_limit() -> int:
    """How many events an inotify queue holds before the kernel drops them (read when one is
    made; twice the value read, for a change of the setting meanwhile)."""
    try:
        with open("/proc/sys/fs/inotify/max_queued_events", "rb") as f:
            return 2 * max(int(f.read()), 16384)
    except (OSError, ValueError):
        return 1 << 20


def _ancestors(path: bytes) -> list[bytes]:
    """/, /a, /a/b for /a/b/c: the directories whose entries name the chain of /a/b/c."""
    out = [b"/"]
    parts = path.split(b"/")[1:-1]
    for i in range(len(parts)):
        out.append(b"/" + b"/".join(parts[: i + 1]))
    return out


def _lexical_dir(path: bytes) -> bool:
    """An absolute path already in normal form, with no `.` or `..` component."""
    if not path.startswith(b"/") or b"//" in path or (path.endswith(b"/") and path != b"/"):
        return False
    if b"/." not in path:
        return True
    return b"/./" not in path and b"/../" not in path and not path.endswith((b"/.", b"/.."))


class DirCache:
    """Which directories are real (their name is the kernel's answer), and what each tracee's
    context is, with the queues that say when that may have changed (see the module doc)."""

    def __init__(self, compiled: bool = False, aside: bool = True) -> None:
        """`aside`: the inotify fd closed in a thread of its own (`_close_aside`); not in a
        confined run, where a thread's id would reach the tracer's resource limits past the
        seccomp filter's refusal of its pid (prlimit64 takes either)."""
        self._aside = aside
        # the compiled loop's helpers (_fastloop.c): each does what the Python beside it does
        # (which the pure loop runs, the reference), or answers 0 for the Python to do it
        self._fast = _fastloop if compiled else None
        self.enabled = True
        self._shared_contexts = False  # attached: a tracee's root may change with no stop (`close`)
        self.hits = 0
        self._real: dict[bytes, Where] = {}  # a directory's name and what it reached then
        self._cwd: dict[int, bytes] = {}
        self._plain: dict[int, bool] = {}
        # a tracee's mounts not rotrace's, a mount made or a namespace asked for: a name /proc
        # gives any tracee's file (an fd passed on, a /proc/PID/root way) may be one in another
        # tree of mounts, kept only where it reaches that file (resolve.is_named)
        self.apart = False
        self._busy: set[int] = set()  # threads inside a call that may change what is cached
        self._renaming: dict[int, tuple[bytes, ...]] = {}  # the traced tree's renames running: their names
        self._wd_of: dict[bytes, int] = {}
        self._path_of: dict[int, bytes] = {}
        self._types: dict[bytes, bytes] = {}
        self._table: set[bytes] = set()  # mountinfo's lines: which mounts changed, when one does
        self._added = 0  # watches asked for (the kernel keeps a moved directory's)
        self._queue_limit = _queue_limit()
        self._poll = select.poll()
        self._mount_poll = select.poll()
        self._inotify = -1
        self._mounts = -1
        self.changes = 0  # name changes taken in so far (a write's entry notes the count)
        self._changed: collections.deque[tuple[int, bytes]] = collections.deque(maxlen=_RACES_KEPT)
        self._news: Callable[[], bool] | None = None  # the SIGIO flag, once armed
        self._unwatchable: set[bytes] = set()  # directories whose way cannot be watched
        self._churning: set[bytes] = set()  # directories let go of for the run (`_let_go`)
        self._mounts_unchecked = True  # mountinfo not polled since the write's placement began
        try:
            self._own_ns = os.stat("/proc/self/ns/mnt").st_ino
            self._mounts = os.open("/proc/self/mountinfo", os.O_RDONLY | os.O_CLOEXEC)
            self._inotify = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            self._statx = _Statx(self._fast.statx if self._fast is not None else None)
        except (OSError, AttributeError):  # no statx in an old libc
            self._inotify = -1
        if self._inotify < 0 or self._mounts < 0:
            self.enabled = False
            return
        self._poll.register(self._mounts, select.POLLPRI)
        self._poll.register(self._inotify, select.POLLIN)
        self._mount_poll.register(self._mounts, select.POLLPRI)
        self._reload_mounts()

    def arm(self) -> None:
        """From the thread that runs the loop: have the kernel raise a flag when inotify queues
        an event (the SIGIO flag of _fastloop.c), so a write's check costs no system call."""
        if self.enabled and _arm is not None and _take is not None:
            try:
                _arm(self._inotify)
            except OSError:
                return
            self._news = _take

    def _close_inotify(self) -> None:
        if self._aside:
            _close_aside(self._inotify)
        else:
            with contextlib.suppress(OSError):
                os.close(self._inotify)

    def close(self, shared_contexts: bool = False) -> None:
        """The cache off. `shared_contexts`: the tracees may share their cwd and root with a
        process rotrace does not trace (`run -p`), whose chroot no stop reports: whether a
        tracee's root is rotrace's is then asked afresh each time (`plain`)."""
        self._shared_contexts = self._shared_contexts or shared_contexts
        self.apart = self.apart or shared_contexts  # attached: its fds may come from anywhere
        if self._inotify >= 0:
            self._close_inotify()
        if self._mounts >= 0:
            os.close(self._mounts)
        self._inotify = self._mounts = -1
        self.enabled = False

    # -- what may have changed ----------------------------------------------------------------

    def _reload_mounts(self) -> set[bytes]:
        """Read mountinfo again: the mount points of the mounts made, removed, moved or changed
        since it was read last."""
        chunks: list[bytes] = []
        while chunk := os.pread(self._mounts, 1 << 16, sum(len(c) for c in chunks)):
            chunks.append(chunk)
        text = b"".join(chunks)
        self._types = _mount_types(text)
        table = set(text.splitlines())
        changed = table ^ self._table
        self._table = table
        return mount_points(changed)

    def forget_all(self) -> None:
        """Nothing cached is known any more (a mount changed, the inotify queue overflowed)."""
        self._real.clear()
        self._cwd.clear()
        self._plain.clear()

    def contexts_changed(self) -> None:
        """A tracee's chdir, chroot, unshare... ended: every tracee's root and cwd are read again."""
        self._cwd.clear()
        self._plain.clear()

    def hold(self, tid: int) -> None:
        """tid entered a call that may change a cached answer: the cache is bypassed until it ends."""
        self._busy.add(tid)

    def release(self, tid: int) -> None:
        self._busy.discard(tid)

    def forget(self, tid: int) -> None:
        """A thread gone: its tid may come back as another process's. Gone inside a held call
        (killed between its chdir or chroot and the call's exit stop), the call may have taken
        effect for the threads sharing its cwd and root: every context is read again."""
        if tid in self._busy:
            self.contexts_changed()
        self.renamed(tid)
        self._busy.discard(tid)
        self._cwd.pop(tid, None)
        self._plain.pop(tid, None)

    def fresh(self) -> bool:
        """Take in the changes queued since the last look; whether the cache may serve."""
        if not self.enabled:
            return False
        self.take_in()
        self._mounts_unchecked = True  # looked at by the first hit (`known`)
        return not self._busy

    def take_in(self) -> None:
        """The name changes queued by now: with the SIGIO flag, a read only when it is up (the
        kernel raised it inside the call that queued the event, so it is up by the time the
        wait for the next stop returns); else one poll(). Mounts: mountinfo is polled before a
        write's first hit (`known`) and on the way to learning a directory; here only without
        unique mount ids. A statx cannot tell a mount moved elsewhere (`mount --move`,
        `pivot_root`: it keeps its id) that the cached name reaches again through a symlink
        where it was; a write whose way goes through a mount point changed since its entry
        is unresolved (`raced`)."""
        if not self.enabled:
            return
        if self._news is not None:
            if self._news():
                self._drain()
            if not self._statx.unique:
                self._mounts_changed()
            return
        for fd, events in self._poll.poll(0):
            if fd == self._mounts and events & _POLL_MOUNTS:
                self._restart(self._reload_mounts() or {b"/"})
            elif fd == self._inotify:
                self._drain()

    def _mounts_changed(self) -> None:
        """A mount or unmount in rotrace's namespace since the last look: start over. A watch
        is on the directory its path reached then: a mount over that path (or one removed)
        leaves it on a directory the path no longer names. A change undone by the time
        mountinfo is read (a mount come and gone) was at no point known: anywhere."""
        if self.enabled and self._mount_poll.poll(0):
            self._restart(self._reload_mounts() or {b"/"})

    def raced(
        self,
        since: int,
        tid: int,
        base: bytes,
        raw: bytes,
        placed: bytes | None,
        stamped: bool = False,
        steps: tuple[bytes, ...] = (),
    ) -> bool:
        """Whether a name on the way to the directory of `raw` (from `base`) or of `placed`
        changed while the write ran: after its entry noted `since`, up to now (after its
        placement), or may be changing now (a rename of the traced tree still running). The
        kernel does not order such a change against the write: the write may have gone
        either way, so its place is not known. `stamped`: the change times of the way were
        read at the entry (resolve.stamp), and are checked apart; a way let go of
        (`_let_go`), which no news covers any more, is known only by them. `steps`: the names
        a walk made again at the entry looked up (resolve.walk), ways of the write's too."""
        if not self.enabled:
            return False
        self.take_in()
        if steps:  # a way walked again (a dirfd's, a symlink's): a mount on it shows as its change
            self._mounts_changed()
        walks = base.endswith(b"/root") or b"/" in raw.strip(b"/")  # a name in a cwd or a dirfd: none
        if (
            self._churning
            and walks
            and not stamped
            and self._through_churning(self._ways(tid, base, raw, placed))
        ):
            return True  # a way let go of, with no change times read: no news of it comes
        if self.changes == since and not self._renaming.keys() - {tid}:
            return False
        victims = self._changed_since(since, tid)
        if victims is None:
            return True  # more changes than are kept
        ways = [*self._ways(tid, base, raw, placed), *steps]
        for victim in victims:
            if victim == b"/":
                return True
            under = victim + b"/"
            if any(way == victim or way.startswith(under) for way in ways):
                return True
        return False

    def _ways(self, tid: int, base: bytes, raw: bytes, placed: bytes | None) -> list[bytes]:
        """The directories a write went through: the one it was placed in, and the one its
        path names read lexically."""
        ways = []
        if placed is not None:
            ways.append(placed.rpartition(b"/")[0] or b"/")
        lexical = self._lexical(tid, base, raw)
        if lexical is not None:
            ways.append(lexical)
        return ways

    def unwatched(
        self, tid: int, base: bytes, raw: bytes, parent: bytes | None, links: Iterable[bytes] = ()
    ) -> list[bytes] | None:
        """The directories whose entries name the way to `parent` (the directory of `raw` from
        `base`, as the kernel names it now; None: there is none now) or to that directory read
        lexically, which no watch covers, and of those a walk made again reads (`links`:
        resolve.walk) but a watched one whose times cannot tell (its news is checked against
        the names the walk looked up, `raced`): their change times, read
        before a write and after it, say whether one changed meanwhile (resolve.stamp). None
        when one is on a filesystem whose change times may not show every change (or its
        filesystem is not known)."""
        dirs = set(_ancestors(parent)) if parent is not None and parent != b"/" else set()
        lexical = self._lexical(tid, base, raw)
        if lexical is not None and lexical != b"/":
            dirs.update(_ancestors(lexical))
        # A walked directory no watch covers is read by its times; in a watched one the names
        # the walk looked up are looked at again (resolve.unchanged).
        out = sorted({d for d in [*dirs, *links] if not self.watches(d)})
        if not all(self._timed(d) for d in out):
            return None
        return out

    def watched(self, tid: int, base: bytes, raw: bytes) -> bool:
        """Whether the names on the way to the directory of `raw` (from `base`) are watched, so
        that a change of one while a write runs is in the news (`raced`). After `entering`.
        Only for a directory known real (its name is the kernel's answer): a way through a
        symlink goes through directories its name does not list, which the news of its own
        chain does not cover."""
        if not self.enabled:
            return False
        lexical = self._lexical(tid, base, raw)
        return (
            lexical is not None
            and lexical in self._real
            and (lexical.rpartition(b"/")[0] or b"/") in self._wd_of
        )

    def watches(self, directory: bytes) -> bool:
        """Whether a change of a name in `directory` is in the news."""
        return self.enabled and directory in self._wd_of

    def untimed(self, dirs: Iterable[bytes]) -> list[bytes]:
        """Of `dirs`, those no watch covers on a filesystem whose change times cannot show every
        change (resolve.stamp watches them instead)."""
        if not self.enabled:
            return []
        return [d for d in dirs if d not in self._wd_of and not self._timed(d)]

    def watch_dirs(self, dirs: Iterable[bytes]) -> bool:
        """Watch each of `dirs` itself (and the directories naming it): whether all are."""
        return self.enabled and all(self._watch(d.rstrip(b"/") + b"/_") for d in dirs)

    def lexical(self, tid: int, base: bytes, raw: bytes) -> bytes | None:
        """The directory of `raw` (from `base`) read lexically, when it can be (`_lexical`)."""
        return self._lexical(tid, base, raw) if self.enabled else None

    def renaming(self, tid: int, locs: list[tuple[bytes, bytes]]) -> None:
        """At the entry of a traced thread's rename or deletion: the names it may change are
        running changes until its exit, and changes at its exit (`renamed`), so that a write it
        overlaps whose way goes through one is unresolved (`raced`), whether inotify watches
        that way or not, and whether or not the event is queued yet. Never the call's own:
        it does not race itself."""
        self._renaming[tid] = tuple(self._name_of(tid, base, raw) for base, raw in locs)

    def renamed(self, tid: int) -> None:
        """The rename or deletion of tid ended (after its own placement at its exit stop, or
        the thread is gone)."""
        for name in self._renaming.pop(tid, ()):
            self._note(name)

    def _name_of(self, tid: int, base: bytes, raw: bytes) -> bytes:
        """The name `raw` (from the magic link `base`) as rotrace's path, read lexically; b"/"
        (every way) when that cannot be told: a tracee whose root or mounts are not rotrace's,
        a directory with no name."""
        head, _, name = raw.rstrip(b"/").rpartition(b"/")
        if not name or name in (b".", b"..") or not self._is_plain(tid):
            return b"/"
        if base.endswith(b"/root"):
            top = b"/"
        else:  # the cwd or a dirfd: as the kernel names it now
            try:
                top = os.readlink(base)
            except OSError:
                return b"/"
            if not top.startswith(b"/") or top.endswith(b" (deleted)"):
                return b"/"
        where = resolve_lexically(top.rstrip(b"/") + b"/" + head.lstrip(b"/") if head else top)
        return where.rstrip(b"/") + b"/" + name

    def entering(self, tid: int, locs: list[tuple[bytes, bytes]]) -> int:
        """At a write's entry, before it runs: take in the changes queued so far, and watch the
        names on the way to each directory it names (first time only), so that a change racing
        it is seen (`raced`). The count of changes, to note."""
        self.take_in()
        for base, raw in locs:
            lexical = self._lexical(tid, base, raw)
            if lexical is None or lexical in self._unwatchable:
                continue
            if (lexical.rpartition(b"/")[0] or b"/") not in self._wd_of:
                self._watch_once(lexical, lexical)
        return self.changes

    def _watch_once(self, path: bytes, directory: bytes) -> bool:
        """Watch the chain of `path` (`_watch`), the mounts looked at first; where it cannot
        be (/proc, a network filesystem...), `directory` is not asked again."""
        self._mounts_changed()
        if self._watch(path):
            return True
        if len(self._unwatchable) > _MAX_WATCHES:
            self._unwatchable.clear()
        self._unwatchable.add(directory)
        return False

    def open_way(self, tid: int, base: bytes, raw: bytes) -> tuple[bytes, int, int] | None:
        """At the entry of an open that may write: the path `raw` (from the magic link `base`)
        names, read lexically, with its directory watched (its chain and its own entries, the
        first time), that watch, and the count of changes once it is on; None where that cannot
        be (a tracee whose paths are not rotrace's, a cwd not known, `..`, /proc, a filesystem
        whose changes inotify may miss). At the exit, `still_named` tells from it, with no
        system call, that the file the open returned is the one that name names."""
        name = raw.rstrip(b"/").rpartition(b"/")[2]
        if not self.enabled or not name or name in (b".", b"..") or raw.endswith(b"/"):
            return None
        self.take_in()  # first: a cwd renamed meanwhile is forgotten before it is read
        if not self.plain(tid) or (base.endswith(b"/cwd") and self._cwd_of(tid) is None):
            return None
        directory = self._lexical(tid, base, raw)
        if directory is None or directory in self._unwatchable or directory == b"/proc":
            return None
        if directory.startswith(b"/proc/"):
            return None
        # (its chain, itself among them)
        if directory not in self._wd_of and not self._watch_once(directory.rstrip(b"/") + b"/_", directory):
            return None
        wd = self._wd_of.get(directory)
        if wd is None:
            return None
        return directory.rstrip(b"/") + b"/" + name, wd, self.changes

    def still_named(self, way: tuple[bytes, int, int], tid: int, opened: bytes) -> bool:
        """Whether the file an open returned, which the kernel names `opened`, is the one the
        path of its `open_way` names: the same name, and no change since the entry to it or to
        a directory on its way (a rename, a deletion: the news, or a rename of another traced
        thread still running), under the same watch. Two files never hold one name at once, so
        no other file (an fd put at that number meanwhile, by dup2 from a thread sharing the
        table) can be named so. The mounts are for the caller to check."""
        path, wd, since = way
        if not self.enabled or opened != path:
            return False
        self.take_in()
        if self._wd_of.get(path.rpartition(b"/")[0] or b"/") != wd:
            return False  # let go of, or started over: no news of it since
        victims = self._changed_since(since, tid)
        return victims is not None and not any(
            v in (b"/", path) or path.startswith(v + b"/") for v in victims
        )

    def _changed_since(self, since: int, tid: int) -> list[bytes] | None:
        """The names changed since the count `since` (taken in by now), and those a rename or
        deletion of another traced thread is changing now; None: more changed than are kept."""
        if self.changes != since and (not self._changed or self._changed[0][0] > since + 1):
            return None
        victims = [name for who, names in self._renaming.items() if who != tid for name in names]
        for seq, victim in reversed(self._changed):
            if seq <= since:
                break
            victims.append(victim)
        return victims

    def _lexical(self, tid: int, base: bytes, raw: bytes) -> bytes | None:
        """The directory of `raw` read lexically (no system call): from the root, or from the
        tracee's cwd when its name is known."""
        if self._fast is not None:
            found = self._fast.lexical(base, raw, tid, self._cwd)
            if found != 0:
                return found if isinstance(found, bytes) else None
        head = raw.rstrip(b"/").rpartition(b"/")[0]
        if base.endswith(b"/root"):
            return resolve_lexically(b"/" + head.lstrip(b"/"))
        cwd = self._cwd.get(tid)
        if base.endswith(b"/cwd") and cwd is not None:
            return resolve_lexically(cwd.rstrip(b"/") + b"/" + head if head else cwd)
        return None

    def _through_churning(self, ways: list[bytes]) -> bool:
        """Whether one of `ways` goes through a directory let go of (`_let_go`)."""
        return any(
            way == directory or way.startswith(directory.rstrip(b"/") + b"/")
            for way in ways
            for directory in self._churning
        )

    def _note(self, victim: bytes) -> None:
        self.changes += 1
        self._changed.append((self.changes, victim))

    def _drain(self) -> None:
        """The events queued when poll() answered, all of them: one read takes what fits its
        buffer, and the queue holds at most `_queue_limit` events (then one overflow event), so
        reading that many takes them all. Reading on until the queue is empty would never end
        while another process renames faster than this reads; and a directory whose names
        change past _CHURN times in one look is let go of (`_let_go`), so that such a process
        costs one look, not one per write; past _FLOOD changes in one look, every directory
        changed in it."""
        left = self._queue_limit + 1
        counts: collections.Counter[int] = collections.Counter()
        while left > 0 and self._inotify >= 0:
            try:
                data = os.read(self._inotify, 1 << 16)
            except BlockingIOError:
                break
            taken = self._take(data, counts)
            if taken < 0:
                return
            left -= taken
        self._flooded(counts)

    def _flooded(self, counts: collections.Counter[int]) -> None:
        """Past _FLOOD name changes in one look: every directory changed in it is let go of."""
        if counts.total() >= _FLOOD:
            self._let_go(*(path for wd in counts if (path := self._path_of.get(wd)) is not None))
            counts.clear()

    def _take(self, data: bytes, counts: collections.Counter[int]) -> int:
        """One read's events: how many, or -1 when the queue was started over (the rest is
        moot). `counts`: the name changes of each watch in this look so far."""
        at = taken = 0
        while at + _EVENT.size <= len(data):
            wd, mask, _cookie, size = _EVENT.unpack_from(data, at)
            name = data[at + _EVENT.size : at + _EVENT.size + size].rstrip(b"\0")
            at += _EVENT.size + size
            taken += 1
            if mask & IN_Q_OVERFLOW:
                self._flooded(counts)  # before the restart forgets which directories they were
                self._restart()
                return -1
            where = self._path_of.get(wd)
            if where is None:
                continue
            if mask & (IN_IGNORED | IN_UNMOUNT):  # the directory is gone: nothing under it holds
                self._note(where)
                self._path_of.pop(wd, None)
                if self._wd_of.get(where) == wd:
                    del self._wd_of[where]
                self._drop(where)
            elif mask & IN_MODIFY_NAMES and name:
                victim = where.rstrip(b"/") + b"/" + name
                self._note(victim)
                self._drop(victim)
                counts[wd] += 1
                if counts[wd] >= _CHURN:
                    self._let_go(where)
        return taken

    def _let_go(self, *directories: bytes) -> None:
        """Names in `directories` change faster than rotrace takes them in (another process
        renaming there without pause): stop watching them, and every directory under them, for
        the rest of the run. Their queue would otherwise fill faster than it is read, and every
        write wait for a look at thousands of events. A way through one is then one no watch
        covers: a write's change times say whether it changed meanwhile (`unwatched`), or,
        where they were not read, the write is unresolved (`raced`); nothing under them is
        served from the cache (`_watch` refuses them). One pass over what is cached, however
        many they are."""
        chosen = set(directories)
        if not chosen:
            return

        def under(path: bytes) -> bool:
            return path in chosen or any(a in chosen for a in _ancestors(path))

        for directory in chosen:
            self._note(directory)
        self._churning |= chosen
        self._real = {p: w for p, w in self._real.items() if not under(p)}
        for tid in [t for t, c in self._cwd.items() if under(c)]:
            del self._cwd[tid]
        for path in [p for p in self._wd_of if under(p)]:
            wd = self._wd_of.pop(path)
            self._path_of.pop(wd, None)  # what is still queued for it is moot
            libc.inotify_rm_watch(self._inotify, wd)

    def _restart(self, changed: set[bytes] | None = None) -> None:
        """A lost event (any name may have changed) or a change of the mounts at the points
        `changed` (a write whose way goes through one raced it): start over. After a lost
        event, with a new queue (its watches go with the old one). After a change of mounts,
        only the watches at or under a changed point go (a mount there leaves them on
        directories the names no longer reach): the queue and the other watches stay, for a
        new queue would lose the events queued in the old one and any change made before its
        watches are back, on the way of a write in flight, which is then placed wrong."""
        for point in changed if changed is not None else {b"/"}:
            self._note(point)
        if changed is not None and b"/" not in changed:
            under = tuple(point.rstrip(b"/") + b"/" for point in changed)
            for path in [p for p in self._wd_of if p in changed or p.startswith(under)]:
                wd = self._wd_of.pop(path)
                self._path_of.pop(wd, None)  # its IN_IGNORED, and what was queued, are moot
                libc.inotify_rm_watch(self._inotify, wd)
            self._unwatchable.clear()
            self.forget_all()
            return
        self._poll.unregister(self._inotify)
        self._close_inotify()
        self._wd_of.clear()
        self._path_of.clear()
        self._unwatchable.clear()
        self._added = 0
        self.forget_all()
        self._queue_limit = _queue_limit()
        self._inotify = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._inotify < 0:
            self.enabled = False
            return
        self._poll.register(self._inotify, select.POLLIN)
        if self._news is not None:
            self._news = None
            self.arm()

    def _drop(self, victim: bytes) -> None:
        """The name `victim` changed: nothing at it or under it is known any more."""
        if victim not in self._wd_of and victim not in self._real and victim not in self._cwd.values():
            return  # not a directory any chain goes through (the ancestors of each are watched)
        under = victim + b"/"
        if victim in self._real or any(p.startswith(under) for p in self._real):
            self._real = {p: w for p, w in self._real.items() if p != victim and not p.startswith(under)}
        for tid in [t for t, c in self._cwd.items() if c == victim or c.startswith(under)]:
            del self._cwd[tid]
        for path in [p for p in self._wd_of if p == victim or p.startswith(under)]:
            wd = self._wd_of.pop(path)
            self._path_of.pop(wd, None)  # its events (IN_IGNORED when the inode goes) are moot

    # -- lookups --------------------------------------------------------------------------------

    def plain(self, tid: int) -> bool:
        """Whether the tracee's paths are rotrace's (`_is_plain`); False when rotrace cannot tell."""
        if self._shared_contexts:  # (no stop says when its root changes: asked each time)
            self._plain.pop(tid, None)
        try:
            return self._is_plain(tid)
        except AttributeError:  # no statx or no namespace to compare with: not known
            return False

    def mounts_apart(self) -> None:
        """A tracee made a mount (a detached one too: open_tree, fsmount) or asked for a mount
        namespace (unshare, setns, clone): see `apart`."""
        self.apart = True

    def _is_plain(self, tid: int) -> bool:
        """The tracee sees rotrace's mounts from rotrace's root: its paths are rotrace's paths.
        The root is compared by mount and inode: its name is no proof, for /proc names a root
        stacked on rotrace's (`mount --bind / /`, then `chroot` into it) or in a detached mount
        `/` too, and a walk from either is not rotrace's."""
        plain = self._plain.get(tid)
        if plain is None:
            try:
                plain = os.stat(b"/proc/%d/ns/mnt" % tid).st_ino == self._own_ns
            except OSError:
                plain = False
            if plain:
                root = self._statx.where(b"/proc/%d/root" % tid)
                plain = root is not None and root == self._statx.where(b"/")
            self._plain[tid] = plain
            self.apart = self.apart or not plain
        return plain

    def _cwd_of(self, tid: int) -> bytes | None:
        cwd = self._cwd.get(tid)
        if cwd is not None:
            return cwd
        self._mounts_changed()
        link = b"/proc/%d/cwd" % tid
        try:
            cwd = os.readlink(link)
        except OSError:
            return None
        if not _lexical_dir(cwd) or not self._watch(cwd):
            return None
        # The watches are in place: is that name (no symlink) still the tracee's cwd, the same
        # mount and inode? The same inode is not enough: a cwd on a mount covered since (a bind
        # of an ancestor over itself) or detached (`umount -l`) is named by /proc as the name
        # that reaches its inode on another mount, and the mounts below it differ.
        here = self._statx.where(cwd, follow=False)
        if here is None or here != self._statx.where(link):
            return None
        self._cwd[tid] = cwd
        return cwd

    def directory(self, tid: int, base: bytes, head: bytes) -> bytes | None:
        """The directory `head` names from the magic link `base`, read lexically, when the
        tracee's context allows it (None: not cacheable). Call after `fresh()`."""
        if self._fast is not None:
            found = self._fast.directory(base, head, tid, self._plain, self._cwd)
            if found != 0:
                return found if isinstance(found, bytes) else None
        if not self._is_plain(tid):
            return None
        if base.endswith(b"/root"):
            path = b"/" + head.lstrip(b"/")
        elif base.endswith(b"/cwd"):
            cwd = self._cwd_of(tid)
            if cwd is None:
                return None
            path = cwd.rstrip(b"/") + b"/" + head if head else cwd
        else:
            return None
        if not _lexical_dir(path) or path == b"/proc" or path.startswith(b"/proc/"):
            return None
        return path

    def known(self, path: bytes, base: bytes, head: bytes) -> bool:
        """Whether the directory `path` is known real and `head`, from the magic link `base`,
        reaches it now, as the tracee's walk did (one statx of the name, which is what `head`
        names from `base` while the cache holds: the same mount and inode). It is what placing
        it again would find, named as the last change taken in left it."""
        where = self._real.get(path)
        if where is None:
            return False
        if self._mounts_unchecked:  # a mount moved since the write's entry: placed again
            self._mounts_unchecked = False
            self._mounts_changed()
            where = self._real.get(path)
            if where is None:
                return False
        if self._statx.where(path) != where:
            del self._real[path]  # changed with no event taken in yet, or a mount: placed again
            return False
        self.hits += 1
        return True

    def placed(self, tid: int, base: bytes, raw: bytes, follow: bool) -> bytes | None:
        """Where `raw` (from the magic link `base`, followed as resolve.resolve says) lands, when
        the compiled helper serves it from the cache as `directory`, `known` and resolve.resolve
        would; None: place it with resolve.resolve. Call after `fresh()`."""
        if self._fast is None:
            return None
        found = self._fast.place(
            base,
            raw,
            follow,
            tid,
            self._plain,
            self._cwd,
            self._real,
            self._mounts_unchecked,
            self._statx.mask,
        )
        if found == _PLACE_MOUNTS:  # as `known` does before a write's first hit (which may start over)
            self._mounts_unchecked = False
            self._mounts_changed()
            found = self._fast.place(
                base, raw, follow, tid, self._plain, self._cwd, self._real, False, self._statx.mask
            )
        if isinstance(found, bytes):
            self.hits += 1
            return found
        return None

    def learn(self, path: bytes, answer: bytes, fd: int) -> None:
        """The kernel named the directory `path` as `answer` through the open fd: remember it if
        they agree and its chain can be watched (the watches first, none through a symlink,
        then the check that the name still reaches that directory, so that no change falls
        between the two). A chain that disagrees is watched too: a change to it while a later
        write runs is then seen (`raced`)."""
        if answer != path:
            self._watch(path)
            return
        self._mounts_changed()
        if not self._watch(path):
            return
        # no follow: a symlink to the same directory put at the name meanwhile is no match
        here, there = self._statx.where(path, follow=False), self._statx.where(b"", fd)
        if here is not None and here == there:
            self._real[path] = here

    def made(self, path: bytes) -> None:
        """A tracee made the directory `path` (mkdir succeeded) in a directory known real: it is
        real too while it is a directory (not a symlink put there since), which one statx says
        once its chain is watched. Its first write is then placed from here."""
        parent = path.rpartition(b"/")[0] or b"/"
        if self._busy or parent not in self._real:
            return
        self._mounts_changed()
        if parent not in self._real or not self._watch(path):
            return
        here = self._statx.where(path, follow=False)
        if here is not None:
            self._real[path] = here

    def _watch(self, path: bytes) -> bool:
        """Watch every directory whose entries name the chain of `path`, top down; False where
        one cannot be watched (permission, limits) or lies on a filesystem inotify may miss."""
        chain = [d for d in _ancestors(path) if d not in self._wd_of]
        if not all(self._local(d) for d in [*chain, path]):
            return False
        for directory in chain:
            if self._added >= _MAX_WATCHES or directory in self._churning:
                return False
            # not through a symlink put there before the watch on its parent: that watch would
            # be on the target, and the name's change in the parent was never reported
            wd = libc.inotify_add_watch(self._inotify, directory, _WATCH)
            if wd < 0:
                if ctypes.get_errno() == errno.ENOSPC:
                    self.enabled = False  # the user's watch limit: stop asking for more
                return False
            if self._path_of.get(wd, directory) != directory:
                return False  # one directory at two paths (a bind mount): its events name one
            self._added += 1
            self._wd_of[directory] = wd
            self._path_of[wd] = directory
        return True

    def _local(self, path: bytes) -> bool:
        """Whether the mount `path` is on is of a filesystem that reports every change."""
        return self._type_of(path) in _LOCAL_FS

    def _timed(self, path: bytes) -> bool:
        """Whether the change times of the directory `path` show every change (multigrain)."""
        return _MGTIME and self._type_of(path) in _MGTIME_FS

    def _type_of(self, path: bytes) -> bytes | None:
        """The filesystem type of the mount `path` is on (read lexically), as mountinfo said."""
        best = b""
        for point in self._types:
            if (path == point or path.startswith(point.rstrip(b"/") + b"/")) and len(point) > len(best):
                best = point
        return self._types.get(best or b"/")


def resolve_lexically(path: bytes) -> bytes:
    """`.`, `..` and repeated slashes collapsed (no lookup): where a path's names point."""
    return path if _lexical_dir(path) else os.path.normpath(path)
