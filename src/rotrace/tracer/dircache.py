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
- mounts in rotrace's namespace, by any process: poll() on /proc/self/mountinfo;
- a tracee's own chdir, fchdir, chroot, pivot_root, unshare and setns: the seccomp filter
  stops them; the cache is bypassed while one runs and its contexts forgotten after it;
- its renames and deletions: the cache is bypassed while one runs (and inotify reports it);
- a tracee in another mount namespace or under another root: never served from the cache;
- a process rotrace attached to (`run -p`): not cached at all, for it may share its cwd and
  root (CLONE_FS) with a process rotrace does not trace.

One poll() per placement checks both queues (a read when inotify has news): a change that
completed before the write's exit stop is seen there. What is not cached: paths through a
dirfd (the fd may be reopened without a syscall rotrace stops), openat2 RESOLVE_IN_ROOT,
/proc, directories on filesystems whose changes inotify may miss (network, FUSE...), a
directory rotrace may not read (no watch), beyond _MAX_WATCHES watches.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import stat
import struct

from rotrace.tracer.linux.kernel import libc

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

# Filesystems whose every name change goes through this kernel's VFS, so inotify reports it.
_LOCAL_FS = frozenset(
    {b"ext2", b"ext3", b"ext4", b"xfs", b"btrfs", b"tmpfs", b"f2fs", b"zfs", b"bcachefs", b"overlay",
     b"jfs", b"reiserfs", b"nilfs2", b"vfat", b"exfat", b"ramfs", b"devtmpfs"}
)  # fmt: skip


def _unescape(field: bytes) -> bytes:
    """A mountinfo path: spaces, tabs, newlines and backslashes are written as octal."""
    if b"\\" not in field:
        return field
    out, i = bytearray(), 0
    while i < len(field):
        if field[i : i + 1] == b"\\" and field[i + 1 : i + 4].isdigit():
            out.append(int(field[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return bytes(out)


def _mount_types(text: bytes) -> dict[bytes, bytes]:
    """Each mount point (rotrace's view) and its filesystem type; the last mount at a point wins."""
    found: dict[bytes, bytes] = {}
    for line in text.splitlines():
        fields = line.split(b" ")
        try:
            sep = fields.index(b"-", 6)
        except ValueError:
            continue
        found[_unescape(fields[4])] = fields[sep + 1]
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
    return b"/." not in path or all(p not in (b".", b"..") for p in path.split(b"/"))


class DirCache:
    """Which directories are real (their name is the kernel's answer), and what each tracee's
    context is, with the queues that say when that may have changed (see the module doc)."""

    def __init__(self) -> None:
        self.enabled = True
        self.hits = 0
        self._real: set[bytes] = set()
        self._cwd: dict[int, bytes] = {}
        self._plain: dict[int, bool] = {}
        self._busy: set[int] = set()  # threads inside a call that may change what is cached
        self._wd_of: dict[bytes, int] = {}
        self._path_of: dict[int, bytes] = {}
        self._types: dict[bytes, bytes] = {}
        self._added = 0  # watches asked for (the kernel keeps a moved directory's)
        self._queue_limit = _queue_limit()
        self._poll = select.poll()
        self._inotify = -1
        self._mounts = -1
        try:
            self._own_ns = os.stat("/proc/self/ns/mnt").st_ino
            self._mounts = os.open("/proc/self/mountinfo", os.O_RDONLY | os.O_CLOEXEC)
            self._inotify = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            self._inotify = -1
        if self._inotify < 0 or self._mounts < 0:
            self.enabled = False
            return
        self._poll.register(self._mounts, select.POLLPRI)
        self._poll.register(self._inotify, select.POLLIN)
        self._reload_mounts()

    def close(self) -> None:
        for fd in (self._inotify, self._mounts):
            if fd >= 0:
                os.close(fd)
        self._inotify = self._mounts = -1
        self.enabled = False

    # -- what may have changed ----------------------------------------------------------------

    def _reload_mounts(self) -> None:
        chunks: list[bytes] = []
        while chunk := os.pread(self._mounts, 1 << 16, sum(len(c) for c in chunks)):
            chunks.append(chunk)
        self._types = _mount_types(b"".join(chunks))

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
        self._busy.discard(tid)
        self._cwd.pop(tid, None)
        self._plain.pop(tid, None)

    def fresh(self) -> bool:
        """Take in the changes queued since the last look (one poll); whether the cache may serve."""
        if not self.enabled or self._busy:
            return False
        ready = self._poll.poll(0)
        if not ready:
            return True
        for fd, events in ready:
            if fd == self._mounts and events & _POLL_MOUNTS:
                # a watch is on the directory its path reached then: a mount over that path
                # (or one removed) leaves it on a directory the path no longer names
                self._restart()
                self._reload_mounts()
            elif fd == self._inotify:
                self._drain()
        return True

    def _drain(self) -> None:
        """The events queued when poll() answered, all of them: one read takes what fits its
        buffer, and the queue holds at most `_queue_limit` events (then one overflow event), so
        reading that many takes them all. Reading on until the queue is empty would never end
        while another process renames faster than this reads."""
        left = self._queue_limit + 1
        while left > 0 and self._inotify >= 0:
            try:
                data = os.read(self._inotify, 1 << 16)
            except BlockingIOError:
                return
            taken = self._take(data)
            if taken < 0:
                return
            left -= taken

    def _take(self, data: bytes) -> int:
        """One read's events: how many, or -1 when the queue was started over (the rest is moot)."""
        at = taken = 0
        while at + _EVENT.size <= len(data):
            wd, mask, _cookie, size = _EVENT.unpack_from(data, at)
            name = data[at + _EVENT.size : at + _EVENT.size + size].rstrip(b"\0")
            at += _EVENT.size + size
            taken += 1
            if mask & IN_Q_OVERFLOW:
                self._restart()
                return -1
            where = self._path_of.get(wd)
            if where is None:
                continue
            if mask & (IN_IGNORED | IN_UNMOUNT):  # the directory is gone: nothing under it holds
                self._path_of.pop(wd, None)
                if self._wd_of.get(where) == wd:
                    del self._wd_of[where]
                self._drop(where)
            elif mask & IN_MODIFY_NAMES and name:
                self._drop(where.rstrip(b"/") + b"/" + name)
        return taken

    def _restart(self) -> None:
        """A lost event or a mount change: start over with a new queue (its watches go with the old one)."""
        self._poll.unregister(self._inotify)
        os.close(self._inotify)
        self._wd_of.clear()
        self._path_of.clear()
        self._added = 0
        self.forget_all()
        self._queue_limit = _queue_limit()
        self._inotify = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._inotify < 0:
            self.enabled = False
            return
        self._poll.register(self._inotify, select.POLLIN)

    def _drop(self, victim: bytes) -> None:
        """The name `victim` changed: nothing at it or under it is known any more."""
        if victim not in self._wd_of and victim not in self._real and victim not in self._cwd.values():
            return  # not a directory any chain goes through (the ancestors of each are watched)
        under = victim + b"/"
        if victim in self._real or any(p.startswith(under) for p in self._real):
            self._real = {p for p in self._real if p != victim and not p.startswith(under)}
        for tid in [t for t, c in self._cwd.items() if c == victim or c.startswith(under)]:
            del self._cwd[tid]
        for path in [p for p in self._wd_of if p == victim or p.startswith(under)]:
            wd = self._wd_of.pop(path)
            self._path_of.pop(wd, None)  # its events (IN_IGNORED when the inode goes) are moot

    # -- lookups --------------------------------------------------------------------------------

    def _is_plain(self, tid: int) -> bool:
        """The tracee sees rotrace's mounts from rotrace's root: its paths are rotrace's paths."""
        plain = self._plain.get(tid)
        if plain is None:
            try:
                plain = (
                    os.stat(b"/proc/%d/ns/mnt" % tid).st_ino == self._own_ns
                    and os.readlink(b"/proc/%d/root" % tid) == b"/"
                )
            except OSError:
                plain = False
            self._plain[tid] = plain
        return plain

    def _cwd_of(self, tid: int) -> bytes | None:
        cwd = self._cwd.get(tid)
        if cwd is not None:
            return cwd
        link = b"/proc/%d/cwd" % tid
        try:
            cwd = os.readlink(link)
        except OSError:
            return None
        if not _lexical_dir(cwd) or not self._watch(cwd):
            return None
        try:  # the watches are in place: is that name (no symlink) still the tracee's cwd?
            here, there = os.lstat(cwd), os.stat(link)
        except OSError:
            return None
        if (here.st_dev, here.st_ino) != (there.st_dev, there.st_ino):
            return None
        self._cwd[tid] = cwd
        return cwd

    def directory(self, tid: int, base: bytes, head: bytes) -> bytes | None:
        """The directory `head` names from the magic link `base`, read lexically, when the
        tracee's context allows it (None: not cacheable). Call after `fresh()`."""
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

    def known(self, path: bytes) -> bool:
        if path in self._real:
            self.hits += 1
            return True
        return False

    def learn(self, path: bytes, answer: bytes, fd: int) -> None:
        """The kernel named the directory `path` as `answer` through the open fd: remember it if
        they agree and its chain can be watched (the watches first, none through a symlink,
        then the check that the name still reaches that directory, so that no change falls
        between the two)."""
        if answer != path or not self._watch(path):
            return
        try:  # lstat: a symlink to the same directory put at the name meanwhile is no match
            here, there = os.lstat(path), os.fstat(fd)
        except OSError:
            return
        if (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino):
            self._real.add(path)

    def made(self, path: bytes) -> None:
        """A tracee made the directory `path` (mkdir succeeded) in a directory known real: it is
        real too while it is a directory (not a symlink put there since), which one lstat says
        once its chain is watched. Its first write is then placed from here."""
        parent = path.rpartition(b"/")[0] or b"/"
        if self._busy or parent not in self._real or not self._watch(path):
            return
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                self._real.add(path)
        except OSError:
            pass

    def _watch(self, path: bytes) -> bool:
        """Watch every directory whose entries name the chain of `path`, top down; False where
        one cannot be watched (permission, limits) or lies on a filesystem inotify may miss."""
        chain = [d for d in _ancestors(path) if d not in self._wd_of]
        if not all(self._local(d) for d in [*chain, path]):
            return False
        for directory in chain:
            if self._added >= _MAX_WATCHES:
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
        best = b""
        for point in self._types:
            if (path == point or path.startswith(point.rstrip(b"/") + b"/")) and len(point) > len(best):
                best = point
        return self._types.get(best or b"/") in _LOCAL_FS
