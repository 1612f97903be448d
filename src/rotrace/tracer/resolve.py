"""Where a syscall's path landed, as the kernel resolves it.

At the entry stop a path is kept as (base, raw): raw as the tracee passed it, base a magic
link of the tracee's that the kernel resolves for us later: `/proc/TID/cwd` for a relative
path, `/proc/TID/fd/N` for one relative to a dirfd, `/proc/TID/root` for an absolute one (so
a chroot is honoured). At the exit stop, with the tracee still stopped, the parent directory
is opened through that link (O_PATH: no permission needed, symlinks and `..` resolved by the
kernel) and named by reading /proc/self/fd back: no cache, nothing stale, and the result is
the path as rotrace's own root sees it. A path the kernel cannot resolve (its parent is
missing) is joined lexically to where the base points; one that cannot be placed at all is
`unresolved`. A directory placed before is named again from dircache.py while nothing could
have changed its name.
"""

from __future__ import annotations

import errno
import os
import re
import select
import stat
from collections.abc import Callable, Collection, Iterable
from typing import NamedTuple

from rotrace.tracer.linux import procfs
from rotrace.tracer.linux.lookup import (
    RESOLVE_IN_ROOT,
    RESOLVE_NO_SYMLINKS,
    file_identity,
    mount_id,
    on_procfs,
    open_no_magic,
    settle,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rotrace.tracer.dircache import DirCache

AT_FDCWD = -100
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_CHUNK = 2048  # bytes of path opened at once (PATH_MAX is 4096)
_MAX_SYMLINKS = 40  # the links one lookup follows before ELOOP (the kernel's MAXSYMLINKS)


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


def base_of(tid: int, dirfd: int, raw: bytes) -> bytes:
    """The magic link a path is resolved from (see the module's docstring)."""
    if raw.startswith(b"/"):
        return b"/proc/%d/root" % tid
    if dirfd == AT_FDCWD:
        return b"/proc/%d/cwd" % tid
    return b"/proc/%d/fd/%d" % (tid, dirfd)


# The links every Linux /dev holds into /proc/self (udev, devtmpfs, bubblewrap, Docker).
_DEV_STDIO = {b"/dev/stdin": b"/fd/0", b"/dev/stdout": b"/fd/1", b"/dev/stderr": b"/fd/2"}


def own_proc(raw: bytes, tgid: int, tid: int, follow: bool = True) -> bytes:
    """/proc/self and /proc/thread-self name the tracee, not rotrace; so do /dev/stdout,
    /dev/stderr, /dev/stdin and /dev/fd, links into /proc/self that rotrace would otherwise
    follow into its own /proc (each only where it is followed: `follow`, for the last name).
    Spelt with repeated slashes or `.` (`//proc/self`, `/proc/./self`) too, which name the
    same; any other way there (a symlink, `..`, a dirfd on /proc) the lookup refuses
    (`_open_dir`) and the call is not placed."""
    if raw.startswith(b"/") and (b"//" in raw or b"/./" in raw):
        squeezed = _squeezed(raw)
        if squeezed.startswith((b"/proc/", b"/dev/")):
            raw = squeezed
    if raw.startswith(b"/proc/self") and raw[10:11] in (b"", b"/"):
        return b"/proc/%d" % tgid + raw[10:]
    if raw.startswith(b"/proc/thread-self") and raw[17:18] in (b"", b"/"):
        return b"/proc/%d/task/%d" % (tgid, tid) + raw[17:]
    if raw.startswith(b"/dev/"):
        if follow and raw in _DEV_STDIO:
            return b"/proc/%d" % tgid + _DEV_STDIO[raw]
        if raw.startswith(b"/dev/fd/") or (follow and raw == b"/dev/fd"):
            return b"/proc/%d/fd" % tgid + raw[7:]
    return raw


def _squeezed(path: bytes) -> bytes:
    """An absolute path without its repeated slashes and `.` names (lexically the same path: no
    `..` is touched, which only a walk can tell), a trailing slash kept."""
    names = [name for name in path.split(b"/") if name not in (b"", b".")]
    tail = b"/" if path.endswith((b"/", b"/.")) and names else b""
    return b"/" + b"/".join(names) + tail


def _readlink(link: bytes) -> bytes | None:
    try:
        return os.readlink(link)
    except OSError:
        return None


def is_named(name: bytes, where: bytes | int) -> bool:
    """Whether `name` reaches, from rotrace's root, the file `where` is (a magic link or an
    fd: the same device and inode). A tracee in a mount namespace of its own, or under
    another root, has files that /proc names by its paths, not rotrace's: a bind mount of
    $HOME at /tmp/x there is /tmp/x to readlink, and some other file here."""
    try:
        there = os.fstat(where) if isinstance(where, int) else os.stat(where)
        here = os.stat(name, follow_symlinks=False)
    except (OSError, ValueError):
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


class _OurMounts:
    """The ids of the mounts of rotrace's namespace, read again on a miss and whenever the
    mount table changed since (mountinfo polled: a mount detached with MNT_DETACH keeps its id,
    and a cached id would vouch for /proc's name of a file on it, which is from the detached
    mount's root)."""

    def __init__(self) -> None:
        self._ids: set[int] = set()
        self._poll: select.poll | None = None
        self.changes = 0  # how many times the table was found changed (or could not be watched)

    def __contains__(self, mount: int) -> bool:
        if self._changed() or mount not in self._ids:
            self._ids = procfs.mount_ids()
        return mount in self._ids

    def looked(self) -> bool:
        """Look for a change of the table (counted in `changes`) where no mount is to be looked
        up in it: True, any mount being taken as rotrace's (the kernel cannot tell which)."""
        self._changed()
        return True

    def _changed(self) -> bool:
        changed = True
        if self._poll is None:
            try:
                fd = os.open("/proc/self/mountinfo", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                fd = -1  # cannot tell: read the table each time
            if fd >= 0:
                self._poll = select.poll()
                self._poll.register(fd, select.POLLPRI)
        else:
            changed = bool(self._poll.poll(0))
        self.changes += changed
        return changed


_our_mounts = _OurMounts()


def _mounted_here(path: bytes, fd: int = AT_FDCWD) -> bool:
    """Whether the file `path` (from `fd`; b"": the fd itself) is on a mount of rotrace's own
    namespace, where /proc's name for it is rotrace's. One of another namespace (a process's
    outside the trace, reached through its /proc/PID/{cwd,root} or an fd taken with
    pidfd_getfd) or a detached mount is named by /proc from that mount's root, which here is
    another place; such a name is kept only where it reaches the very file (`is_named`). True
    where the kernel cannot say (statx without the mount's id, before Linux 5.8)."""
    mount = mount_id(path, fd)
    return mount is None or mount in _our_mounts


def _place(link: bytes, file: bytes | int, foreign: bool) -> Placed:
    """/proc's name `link` for `file` (a magic link, or an fd of rotrace's), kept where it is
    that file's place, with the file's (device, inode) and change time: one statx tells its
    mount, its links and who it is. A name `... (deleted)` of a file with a name left elsewhere
    (a hard link) is no place of it. A file on a mount not of rotrace's namespace, or of a
    tracee whose mounts or root are not rotrace's (`foreign`), keeps the name only where it
    reaches that very file (a mount looked up in the table as it is now: `mount_changes`).
    Where statx cannot read the file, the name stands as /proc gives it, for a tracee of
    rotrace's mounts and root."""
    found = file_identity(b"", file) if isinstance(file, int) else file_identity(file)
    if found is None:
        return Placed(None if foreign or link.endswith(b" (deleted)") else link, None, None)
    identity = (found.device, found.inode)
    if link.endswith(b" (deleted)") and found.links > 0:
        return Placed(None, identity, None)  # its name removed, another left (a hard link): not its place
    here = found.mount in _our_mounts if found.mount is not None else _our_mounts.looked()
    if foreign or not here:
        try:
            named = os.stat(link, follow_symlinks=False)
        except (OSError, ValueError):
            return Placed(None, identity, None)
        if (named.st_dev, named.st_ino) != identity:
            return Placed(None, identity, None)
    return Placed(link, identity, found.changed)


def _name_of_fd(fd: int, foreign: bool = False) -> bytes | None:
    """The path of an open directory: /proc/self/fd, or for one deeper than PATH_MAX (which
    /proc cannot name) a walk up through `..`, matching inode numbers. `foreign`: the tracee's
    mounts or root are not rotrace's, so the name is kept only where it reaches that very
    directory (`_place`); so it is where the directory is on a mount not of rotrace's
    namespace."""
    link = _readlink(b"/proc/self/fd/%d" % fd)
    if link is not None:
        if _in_own_proc(link) or not link.startswith(b"/"):
            return None  # reached through /proc/self read as rotrace's: not the tracee's place
        return _place(link, fd, foreign).place
    if foreign or not _mounted_here(b"", fd):
        return None
    names: list[bytes] = []
    current = os.dup(fd)
    try:
        for _ in range(4096):
            here = os.fstat(current)
            parent = os.open(b"..", _DIR_FLAGS & ~os.O_PATH | os.O_RDONLY, dir_fd=current)
            os.close(current)
            current = parent
            up = os.fstat(parent)
            if (up.st_dev, up.st_ino) == (here.st_dev, here.st_ino):
                return b"/" + b"/".join(reversed(names))
            with os.scandir(parent) as entries:
                match = next((e.name for e in entries if e.inode() == here.st_ino), None)
            if match is None:  # a mount point: the name is not in the parent's listing
                return None
            names.append(os.fsencode(match))
    except OSError:
        return None
    finally:
        os.close(current)
    return None


def _in_proc(path: bytes, top: bytes = b"/proc") -> bool:
    """Whether `path` is `top` or below it (by default /proc, whose names mean what they do for
    whoever looks them up)."""
    return path == top or path.startswith(top + b"/")


def _in_own_proc(path: bytes) -> bool:
    """Whether `path` (as /proc/self/fd names a file) is in rotrace's own /proc directory."""
    return _in_proc(path, _own[0])


_own = [b"/proc/%d" % os.getpid()]  # this process's /proc directory (a forked child's its own)
os.register_at_fork(after_in_child=lambda: _own.__setitem__(0, b"/proc/%d" % os.getpid()))


def _magic_hop(rel: bytes) -> tuple[bytes, bytes, bytes] | None:
    """A path from a tracee's root that starts with a process's own link, as own_proc writes
    /proc/self's (`proc/PID/cwd/...`, `proc/PID/task/TID/fd/N/...`): (its directory in
    /proc, the link, the rest). A lookup that refuses magic links takes that one, named by
    its process's number, and refuses any other."""
    names = rel.split(b"/")
    if len(names) < 3 or names[0] != b"proc" or not names[1].isdigit():
        return None
    at = 2
    if names[2] == b"task" and len(names) > 4 and names[3].isdigit():
        at = 4
    if names[at] in (b"cwd", b"root"):
        link_end = at + 1
    elif names[at] == b"fd" and len(names) > at + 1 and names[at + 1].isdigit():
        link_end = at + 2
    else:
        return None
    return b"/".join(names[:at]), b"/".join(names[at:link_end]), b"/".join(names[link_end:])


class MagicRefused(OSError):
    """A lookup that would have gone through a magic link rotrace's own /proc/self leads to."""


def _no_magic(path: bytes, flags: int, dir_fd: int, resolve: int = 0) -> int:
    """open_no_magic, its refusal told from a symlink loop (which a plain open refuses too):
    MagicRefused where the lookup would have gone through a magic link (or, with
    RESOLVE_NO_SYMLINKS, a symlink), an OSError for what the tracee's own walk meets too."""
    try:
        return open_no_magic(path, flags, dir_fd, resolve)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        try:
            fd = os.open(path, flags, dir_fd=dir_fd)
        except OSError as plain:
            if plain.errno == errno.ELOOP:
                raise exc from None  # a loop, whoever follows it
        else:
            os.close(fd)
        raise MagicRefused(errno.ELOOP, "through a magic link", path) from None


def _open_dir(base: bytes, rel: bytes, plain: bool = False) -> int:
    """An O_PATH fd of base/rel: `base`, the tracee's own magic link, opened by the kernel,
    then `rel` from it by a lookup that takes no other magic link (linux/lookup.py), a chunk
    of components at a time (any depth). Where `rel` starts with a process's link in /proc
    (own_proc's /proc/PID/cwd...), that one is taken too. `plain`: the tracee's root is
    rotrace's (DirCache.plain). (Always from the tracee's own link: a lookup of an absolute
    path from rotrace's root in one call, the same place on paper, let a directory swapped
    without pause by another process be placed in the other one about once in 1,000 writes.)"""
    rooted = base.endswith(b"/root")
    hop = _magic_hop(rel.lstrip(b"/")) if rooted else None
    fd = os.open(base, _DIR_FLAGS)
    try:
        if hop is not None:
            directory, link, rest = hop
            inside = _no_magic(directory, _DIR_FLAGS, fd, 0 if plain else RESOLVE_IN_ROOT)
            if on_procfs(inside):  # a process's directory, its `cwd` a magic link: followed
                os.close(fd)
                fd = inside
                deeper = os.open(link, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = deeper
                rooted, rel = link == b"root", rest
            else:  # a directory made to look like one (in a chroot): walked as any other
                os.close(inside)
        if not rel.strip(b"/"):
            return fd
        # A tracee whose root is not rotrace's (a chroot, a mount namespace, or not known): from
        # its root, its absolute symlinks and `..` start from and stop at that root (IN_ROOT);
        # from anywhere else (its cwd, a dirfd, the rest of a path longer than a chunk) a
        # symlink (which may be absolute) or a `..` (which may climb past its root) is a way
        # rotrace cannot walk as the tracee did: not placed.
        chunks = _chunks(rel)
        strict = 0 if plain else RESOLVE_IN_ROOT if rooted and len(chunks) == 1 else RESOLVE_NO_SYMLINKS
        if strict == RESOLVE_NO_SYMLINKS and b".." in rel.split(b"/"):
            raise MagicRefused(errno.ELOOP, "a way out of a root rotrace does not share", rel)
        for chunk in chunks:
            deeper = _no_magic(chunk, _DIR_FLAGS, fd, strict)
            os.close(fd)
            fd = deeper
    except BaseException:
        os.close(fd)
        raise
    return fd


def _chunks(rel: bytes) -> list[bytes]:
    """`rel` as one path, or for one longer than the kernel takes in one name, in chunks of
    components (one name longer than a chunk: the kernel says ENAMETOOLONG)."""
    if len(rel) < _CHUNK:
        return [rel]
    parts = [p for p in rel.split(b"/") if p]
    chunks = []
    while parts:
        chunk = [parts.pop(0)]
        size = len(chunk[0])
        while parts and size + 1 + len(parts[0]) < _CHUNK:
            size += 1 + len(parts[0])
            chunk.append(parts.pop(0))
        chunks.append(b"/".join(chunk))
    return chunks


class Misplaced(Exception):
    """The name a call that succeeded made, changed or removed is not so where it was placed:
    the kernel walked another way (see `resolve`'s `expect`)."""


def look(name: bytes, dir_fd: int | None = None) -> os.stat_result | bool | None:
    """lstat of the name (in the directory `dir_fd`): False when nothing is there, None when
    rotrace cannot tell (no search right, a name too long)."""
    try:
        return os.lstat(name, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return None


def _may_be_link(found: os.stat_result | bool | None) -> bool:
    """Whether a name looked at may be a symlink: only one that is not there is surely none."""
    return found is None or (isinstance(found, os.stat_result) and stat.S_ISLNK(found.st_mode))


def check(found: os.stat_result | bool | None, expect: bool | None) -> None:
    """Raise Misplaced when a name looked at is (or is not) there against `expect`."""
    if expect is not None and found is not None and (found is not False) != expect:
        raise Misplaced


NOT_THERE = (-1, -1)  # `holder`: the name was in no directory the path reached


class Stamps(NamedTuple):
    """A way no watch covers, read before a write runs (`stamp`): the directory it reached
    (None: none), and each directory whose entries name the way, with its change time."""

    parent: tuple[bytes, tuple[int, int]] | None  # the directory's name, device and inode
    dirs: tuple[tuple[bytes, int, int, int], ...]  # (path, device, inode, change time in ns)
    told: bool = True  # False: the way changed while it was read; the write's place is unknown
    # the names a walk made again looked up, by rotrace's names: a change of one in a watched
    # directory is in the news (DirCache.raced), the way the path names it or not
    steps: tuple[bytes, ...] = ()
    # of those, the ones in watched directories, with what each was (device, inode; None:
    # nothing): read again at the exit, for the news of a rename still running comes after
    # it moved the name (see `unchanged`)
    seen: tuple[tuple[bytes, tuple[int, int] | None], ...] = ()
    plain: bool = False  # the tracee's root is rotrace's (`_open_dir`)


def _parent_of(base: bytes, raw: bytes, plain: bool = False) -> tuple[bytes, tuple[int, int]] | None:
    """The directory of `raw` (from `base`) now, its name and (device, inode); None when it
    cannot be opened or named."""
    head, _name = _split(base, raw)
    try:
        fd = _open_dir(base, head, plain)
    except OSError:
        return None
    try:
        parent = _name_of_fd(fd)
        st = os.fstat(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    return None if parent is None else (parent, (st.st_dev, st.st_ino))


_ABSENT = (-1, -1, -1)  # `_marks`: no directory at that name (a way to a name not there)


def _marks(dirs: Iterable[bytes]) -> tuple[tuple[bytes, int, int, int], ...] | None:
    """Each directory's identity and change time, or _ABSENT where there is none (its absence
    is what is compared: one made meanwhile changed the way); None when one cannot be read."""
    marks = []
    for path in dirs:
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            marks.append((path, *_ABSENT))
            continue
        except OSError:
            return None
        marks.append((path, st.st_dev, st.st_ino, st.st_ctime_ns))
    return tuple(marks)


def parent_name(base: bytes, raw: bytes, plain: bool = False) -> bytes | None:
    """The name of the directory of `raw` (from `base`) now; None when it cannot be named."""
    parent = _parent_of(base, raw, plain)
    return None if parent is None else parent[0]


def stamp(
    base: bytes,
    raw: bytes,
    cache: DirCache,
    tid: int,
    follow: bool = False,
    mine: Callable[[], Collection[bytes]] = frozenset,
) -> Stamps | None:
    """Before a call on the last name of `raw` (from `base`; `follow`: a symlink there is
    followed) runs: the directory it reaches and the change times of the directories whose
    entries name the way that no watch covers (DirCache.unwatched). Where the path does not
    list its way (a symlink on it, a `..`, a dirfd, a last name followed or a `.`), the walk
    is made again a name at a time (`walk`), the change times of every directory it reads
    that no watch covers are read, and the names it looks up noted for the news. None where
    there is nothing to check (a name made or removed in a cwd or a dirfd: its own check at
    the exit says it) or the times cannot tell (see `unchanged`). `mine`: the directories
    whose names the call itself changes (asked of a way walked again): their times are no news
    of anyone else's."""
    head, name = _split(base, raw)
    whole = not name  # a path that ends in `.`, `..` or `/`: the kernel walks all of it
    if (not head and not follow and not whole) or cache.unwatched(tid, base, raw, None) is None:
        return None  # the way as read lexically already crosses a filesystem times cannot tell
    plain = cache.plain(tid)
    parent = _parent_of(base, raw, plain)
    walked: list[bytes] = []
    steps: list[bytes] = []
    if parent is not None and (
        whole or follow or parent[0] != cache.lexical(tid, base, raw) or b".." in raw.split(b"/")
    ):
        found = walk(base, raw, follow or whole)
        if found is None:  # a link swapped while it was read, a name rotrace may not look at
            return Stamps(parent, (), told=False, plain=plain)
        walked, steps = found
        # times that cannot tell (overlay, devtmpfs): watched from now on instead, and walked
        # again, the same, once the watches are there; else the place is not known
        untimed = cache.untimed(walked)
        if untimed and (not cache.watch_dirs(untimed) or walk(base, raw, follow or whole) != found):
            return Stamps(parent, (), told=False, plain=plain)
    dirs = cache.unwatched(tid, base, raw, parent[0] if parent is not None else None, walked)
    if dirs is None:
        return None
    own = mine() if walked else ()
    marks = _marks(d for d in dirs if d not in own)
    seen = _identities(s for s in steps if cache.watches(os.path.dirname(s)))
    if marks is None or seen is None:
        # a directory on the way or a name the walk looked up cannot be looked at now: the way
        # changed (or is not for rotrace to see) before the call ran
        return Stamps(parent, (), told=False, plain=plain)
    if not (marks or steps):
        return None
    # a rename under way in one of them may have moved its time and not yet its names
    if not all(settle(path, (dev, ino)) for path, dev, ino, time in marks if (dev, ino, time) != _ABSENT):
        return Stamps(parent, (), told=False, plain=plain)
    return Stamps(parent, marks, steps=tuple(steps), seen=seen, plain=plain)


def _identities(names: Iterable[bytes]) -> tuple[tuple[bytes, tuple[int, int] | None], ...] | None:
    """What each name is now (device, inode; None: nothing there); None when one cannot be
    looked at."""
    out: list[tuple[bytes, tuple[int, int] | None]] = []
    for name in names:
        found = look(name)
        if found is None or found is True:
            return None
        out.append((name, None if found is False else (found.st_dev, found.st_ino)))
    return tuple(out)


def walk(base: bytes, raw: bytes, follow: bool) -> tuple[list[bytes], list[bytes]] | None:
    """The walk of `raw` from `base` made again now, a name at a time (the last name looked
    up and followed only with `follow`: a call that follows it changes a file, not the
    directory holding it): every directory whose entries it reads, and every name it looks
    up, by rotrace's names. None when it cannot be told (a name rotrace may not look at, a
    link changed while it is read, more symlinks than the kernel follows, a base with no
    name)."""
    cur = b"/" if base.endswith(b"/root") else _readlink(base)
    if cur is None or not cur.startswith(b"/") or cur.endswith(b" (deleted)"):
        return None
    names = [part for part in raw.split(b"/") if part]
    todo = [(part, i == len(names) - 1 and not raw.endswith(b"/")) for i, part in enumerate(names)]
    todo.reverse()
    visited: list[bytes] = []
    steps: list[bytes] = []
    links = 0
    while todo:
        part, last = todo.pop()
        if part == b".":
            continue
        if part == b"..":
            cur = os.path.dirname(cur) or b"/"  # cur is a real path (no symlink): its parent is
            continue
        if last and not follow:
            break  # the call makes, removes or changes this name: its directory changes with it
        if cur == b"/proc" or cur.startswith(b"/proc/"):
            break  # /proc's links name a process's files (rotrace's own here): placed by them, not by names
        there = cur.rstrip(b"/") + b"/" + part
        if cur not in visited:
            visited.append(cur)  # its entry `part` is read
        steps.append(there)
        seen = look(there)
        if seen is None or seen is True:
            return None
        if seen is False:
            break  # the walk ends here: a name to be made, or nothing
        if not stat.S_ISLNK(seen.st_mode):
            cur = there
            continue
        links += 1
        target = _readlink(there)
        if target is None or links > _MAX_SYMLINKS:
            return None
        if target.startswith(b"/"):
            cur = b"/"
        more = [p for p in target.split(b"/") if p]
        todo += [(p, last and i == len(more) - 1) for i, p in reversed(list(enumerate(more)))]
    return visited, steps


def unchanged(base: bytes, raw: bytes, stamps: Stamps) -> bool:
    """At the exit: whether the way is as `stamp` read it. A filesystem with multigrain
    timestamps gives a directory a new change time at the first change after its time was
    read, so equal times say no entry changed between the two reads: the kernel's walk,
    between them, went the way the directory placed now is reached. In a watched directory
    a change of another name than the way's is no news of the way (a busy /tmp): there the
    names the walk looked up are looked at again instead. Each is what it was, or a rename
    moved it and has not queued its news yet (a second rename that would move it back waits
    for the first's news, which `DirCache.raced`, asked after this, takes in)."""
    return (
        stamps.told
        and _parent_of(base, raw, stamps.plain) == stamps.parent
        and _marks(p for p, *_ in stamps.dirs) == stamps.dirs
        and _identities(name for name, _ in stamps.seen) == stamps.seen
    )


def _split(base: bytes, raw: bytes) -> tuple[bytes, bytes]:
    """The directory part of `raw` and its last name (b"" when it names a directory whole)."""
    if base.endswith(b"/root"):
        raw = raw.lstrip(b"/")
    head, _, name = raw.rstrip(b"/").rpartition(b"/") if raw.rstrip(b"/") else (b"", b"", b"")
    if name in (b"", b".", b".."):
        return raw, b""
    return head, name


def holder(base: bytes, raw: bytes, plain: bool = False) -> tuple[int, int] | None:
    """Before a call that removes the last name of `raw` (from `base`) runs: the directory that
    holds it (device, inode), NOT_THERE when the directory the path reaches has no such name;
    None when rotrace cannot tell. At the exit, the directory placed must be that one (see
    `resolve`'s `held`)."""
    head, name = _split(base, raw)
    if not name or not head:  # the directory is the base's own (a cwd, a dirfd): no name to swap
        return None
    try:
        fd = _open_dir(base, head, plain)
    except (FileNotFoundError, NotADirectoryError):
        return NOT_THERE
    except OSError:
        return None
    try:
        found = look(name, fd)
        if found is None:
            return None
        if found is False:
            return NOT_THERE
        st = os.fstat(fd)
        return st.st_dev, st.st_ino
    except OSError:
        return None
    finally:
        os.close(fd)


def resolve(
    base: bytes,
    raw: bytes,
    follow: bool,
    root: bytes = b"",
    cache: DirCache | None = None,
    tid: int = 0,
    expect: bool | None = None,
    held: tuple[int, int] | None = None,
    foreign: bool = False,
    plain: bool = False,
) -> bytes | None:
    """The path `raw` (seen from the magic link `base`) names, in rotrace's view; None if the
    kernel cannot place it. With `follow` (or a slash after the last name), a symlink as the
    last component is followed (an absolute one from `root`, else the process's root).
    `cache` (checked fresh by the caller) names a directory placed before without asking the
    kernel again (dircache.py).

    `expect`: the call succeeded and left its last name there (True: made or changed it) or
    not (False: deleted it). Where the name is otherwise, the walk now went another way than
    the kernel's did (a directory on it swapped since): Misplaced. It is looked up in the very
    directory placed (its fd) when one is opened; by name from a cached directory, where a
    change since is in the cache's news by the time `DirCache.raced` is asked (dircache.py).
    `held`: for a call that succeeded in removing the name, the directory that held it at the
    entry (`holder`): a removed name is nowhere, so only that directory, placed again now,
    says the kernel's walk went there (the name was in no other: the call removed it)."""
    if held == NOT_THERE:
        raise Misplaced
    head, name = _split(base, raw)
    if name and raw.endswith(b"/"):  # a slash after the last name: the kernel follows it,
        follow = True  # whatever the call (lchown, AT_SYMLINK_NOFOLLOW...) asked
    if held is not None:
        cache = None  # the directory itself is looked at
    known = cache.directory(tid, base, head) if cache is not None and not root else None
    if known is not None and cache is not None and cache.known(known, base, head):
        if not name:
            return known
        placed = known.rstrip(b"/") + b"/" + name
        found = look(placed) if follow or expect is not None else None
        if not follow or not _may_be_link(found):
            check(found, expect)
            return placed
        # a symlink to follow: placed the whole way, below
    try:
        fd = _open_dir(base, head, plain)
    except MagicRefused:
        raise Misplaced from None  # the kernel's walk, for the tracee, went elsewhere
    except OSError:
        return None
    try:
        parent = _name_of_fd(fd, foreign)
        if parent is None:
            return None
        if known is not None and cache is not None:
            cache.learn(known, parent, fd)
        if not name:
            return parent
        if held is not None:
            here = os.fstat(fd)
            if (here.st_dev, here.st_ino) != held:
                raise Misplaced
        if follow:
            followed = _follow(base, fd, parent, name, root, foreign, plain)
            if followed is not None:
                return followed
        if expect is not None:
            check(look(name, fd), expect)
        return parent.rstrip(b"/") + b"/" + name
    finally:
        os.close(fd)


def _root_of(base: bytes) -> bytes:
    """The root link of the thread a base link belongs to (/proc/TID/...)."""
    return b"/proc/" + base.split(b"/")[2] + b"/root"


def _follow(
    base: bytes,
    fd: int,
    parent: bytes,
    name: bytes,
    root: bytes = b"",
    foreign: bool = False,
    plain: bool = False,
) -> bytes | None:
    """Where a call that follows `name` (in the directory `fd`, named `parent`) lands; None when
    it is no symlink (or a loop). A dangling link is followed as the kernel follows it, for
    open(O_CREAT) creates its target: its text is taken from the link's directory (an absolute
    one from the process's root), link after link up to the kernel's 40; a target whose
    directory is missing is where the call would have landed, joined lexically. So is a link
    into /proc/self (/dev/stdout), which the kernel would follow into rotrace's own /proc."""
    owned: int | None = None  # a directory opened here (`fd` itself belongs to the caller)
    try:
        for hop in range(_MAX_SYMLINKS):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                st = None
            if st is None or not stat.S_ISLNK(st.st_mode):
                return parent.rstrip(b"/") + b"/" + name if hop else None
            try:
                text = os.readlink(name, dir_fd=fd)
            except OSError:
                return None
            tid = int(base.split(b"/")[2])
            links_to_proc = text[:1] == b"/" and (b"proc" in text or b"dev" in text)  # (own_proc's)
            own = (
                text
                if root or not links_to_proc
                else own_proc(text, procfs.status_int(tid, b"Tgid", tid), tid)
            )
            # the kernel follows it from here, but a link into /proc/self (which would be rotrace's)
            # and, under RESOLVE_IN_ROOT, an absolute one (which would start at rotrace's root)
            if own == text and not (root and text.startswith(b"/")):
                try:
                    target = _open_link(name, fd, parent)
                except MagicRefused:
                    raise Misplaced from None
                except OSError:
                    pass  # dangling (or a loop): follow its text
                else:
                    try:
                        return _name_of_fd(target, foreign)
                    finally:
                        os.close(target)
            text = own
            start, where = parent, b"/proc/self/fd/%d" % fd
            if text.startswith(b"/"):
                where, text = root or _root_of(base), text.lstrip(b"/")
                start = _readlink(where) or b"/"
            head, _, last = text.rstrip(b"/").rpartition(b"/")
            if last in (b"", b".", b".."):
                head, last = text, b""
            try:
                deeper = _open_dir(where, head, plain)
            except MagicRefused:
                raise Misplaced from None
            except OSError:  # the target's directory is missing: where the call would have landed
                landed = normalise(start.rstrip(b"/") + b"/" + text)
                return None if foreign or _in_proc(landed) else landed
            if owned is not None:
                os.close(owned)
            fd = owned = deeper
            named = _name_of_fd(fd, foreign)
            if named is None or not last:
                return named
            parent, name = named, last
        return None
    finally:
        if owned is not None:
            os.close(owned)


def _open_link(name: bytes, fd: int, parent: bytes) -> int:
    """The file the link `name` (in the directory `fd`, named `parent`) leads to, O_PATH: by a
    lookup that takes no magic link, but in a process's own directory in /proc (its fd/N,
    cwd...: that process's files, whichever process opens them)."""
    flags = os.O_PATH | os.O_CLOEXEC
    names = parent.split(b"/")
    if len(names) > 2 and names[1] == b"proc" and names[2].isdigit() and not _in_own_proc(parent):
        return os.open(name, flags, dir_fd=fd)
    return _no_magic(name, flags, fd)


def lexical(base: bytes, raw: bytes) -> bytes | None:
    """Where base points, joined with raw without looking anything up (the parent is gone).
    None in /proc, whose names mean what they do for whoever looks them up; None where base is
    on a mount not of rotrace's namespace (a detached one: /proc names it from that mount's
    root, `/` for a bind of any directory) and its name does not reach it (`_mounted_here`)."""
    where = _readlink(base)
    if where is None or not where.startswith(b"/"):
        return None
    if not _mounted_here(base) and not is_named(where, base):
        return None
    if base.endswith(b"/root"):
        joined = normalise(where.rstrip(b"/") + b"/" + raw.lstrip(b"/")) if where != b"/" else normalise(raw)
    else:
        joined = normalise(where + b"/" + raw) if raw else where
    return None if _in_proc(joined) else joined


def opened_there(
    tid: int, fd: int, base: bytes, raw: bytes, follow: bool, identity: tuple[int, int] | None = None
) -> bool:
    """Whether the tracee's `fd` is the file that `raw` (from the magic link `base`) names now:
    the same device and inode (`identity`, the fd's when read already: fd_place), the last name
    followed if the open followed it."""
    try:
        opened = os.stat(b"/proc/%d/fd/%d" % (tid, fd)) if identity is None else None
        there = _named_now(base, raw, follow)
    except OSError:
        return False
    it = identity if opened is None else (opened.st_dev, opened.st_ino)
    return it == (there.st_dev, there.st_ino)


def directory_there(tid: int, fd: int, base: bytes, raw: bytes) -> tuple[int, int] | None:
    """The (device, inode) of the directory `raw` (from the magic link `base`) names now, if
    the tracee's O_TMPFILE `fd` was made on its filesystem: where, from rotrace's root, that
    directory must be for the nameless file's place to be its name (None: not known)."""
    try:
        made = os.stat(b"/proc/%d/fd/%d" % (tid, fd))
        there = _named_now(base, raw, True)
    except (OSError, ValueError):
        return None
    return (there.st_dev, there.st_ino) if there.st_dev == made.st_dev else None


def _named_now(base: bytes, raw: bytes, follow: bool) -> os.stat_result:
    """What `raw` names now from the tracee's magic link `base` (its last name followed if
    `follow`); a name longer than the kernel takes in one is looked up from its directory.
    OSError where it names nothing."""
    if base.endswith(b"/root"):
        raw = raw.lstrip(b"/")
    if len(base) + len(raw) < _CHUNK:
        return os.stat(base + b"/" + raw if raw else base, follow_symlinks=follow)
    head, _, name = raw.rpartition(b"/")
    directory = _open_dir(base, head)
    try:
        return os.stat(name or b".", dir_fd=directory, follow_symlinks=follow)
    finally:
        os.close(directory)


_TMPFILE_NAME = re.compile(rb"/#[0-9]+ \(deleted\)\Z")


def tmpfile_directory(tid: int, fd: int) -> bytes | None:
    """The directory an O_TMPFILE file was made in, by the kernel's own word: /proc names the
    file `DIR/#INODE (deleted)` (from rotrace's root; a mount it does not reach gives its own
    namespace's name, which then matches no place of rotrace's). None where it names none."""
    link = _readlink(b"/proc/%d/fd/%d" % (tid, fd))
    if link is None or not link.startswith(b"/"):
        return None
    found = _TMPFILE_NAME.search(link)
    return None if found is None else link[: found.start()] or b"/"


def is_file(path: bytes, identity: tuple[int, int]) -> bool:
    """Whether `path`, from rotrace's root, is itself the file of that (device, inode): a name
    that leads to it through a symbolic link (a file mounted onto a link, in a namespace of
    the tracee's own) is not where the write landed."""
    try:
        st = os.lstat(path)
    except (OSError, ValueError):
        return False
    return (st.st_dev, st.st_ino) == identity


def same_file(seen: bytes, placed: bytes, follow: bool) -> bool:
    """Whether the name the tracee used (`seen`, through its magic links) and its place from
    rotrace's root (`placed`) are one file now, as names (no link followed): a link the call
    followed (`follow`) is read from rotrace's root here, where the kernel read it from the
    tracee's (an absolute link to /tmp/B/f, with a protected directory bound at /tmp/B in its
    namespace), so none is taken; and a name that leads to the file through a link is not
    where the write landed."""
    try:
        a = os.lstat(seen)
        b = os.lstat(placed)
    except (OSError, ValueError):
        return False
    if follow and stat.S_ISLNK(a.st_mode):
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def mount_changes() -> int:
    """How many changes of rotrace's mount table `fd_place` has seen so far: the same count at
    an open's entry and after its exit's `fd_place` says the table did not change between."""
    return _our_mounts.changes


def mount_table_now() -> int:
    """The count of changes of rotrace's mount table, looked at now (a poll of its mountinfo):
    another at a mount call's exit says whether that call changed it (a mount propagates to
    the namespaces it reaches within the call)."""
    _our_mounts.looked()
    return _our_mounts.changes


class Placed(NamedTuple):
    """What an fd names (`fd_place`)."""

    place: bytes | None  # its file's place; None where it has none rotrace can name
    identity: tuple[int, int] | None  # the file's (device, inode); None where it could not be read
    changed: int | None  # the file's change time (ns), read with its place; None where not placed


def fd_place(tid: int, fd: int, foreign: bool = False) -> Placed:
    """What an fd of the tracee names (AT_FDCWD: its cwd; None for pipes, sockets, anonymous
    inodes, gone fds; `foreign`, a tracee whose mounts or root are not rotrace's: a name that
    does not reach that file from rotrace's root), with that file's (device, inode), which
    `opened_there` compares an open's path with, and its change time."""
    magic = b"/proc/%d/cwd" % tid if fd == AT_FDCWD else b"/proc/%d/fd/%d" % (tid, fd)
    link = _readlink(magic)
    if link is None or not link.startswith(b"/"):
        return Placed(None, None, None)
    return _place(link, magic, foreign)


def fd_text(tid: int, fd: int) -> bytes | None:
    """What /proc says an fd of the tracee names, for a file `fd_place` cannot place (a name it
    lost, `... (deleted)` with another left; a name of another namespace): shown, never a
    place. b"" for no file (a pipe, a socket); None where /proc does not say (the fd gone, or
    a process rotrace may not look into: one not dumpable, to a tracer that is not root)."""
    magic = b"/proc/%d/cwd" % tid if fd == AT_FDCWD else b"/proc/%d/fd/%d" % (tid, fd)
    link = _readlink(magic)
    if link is None:
        return None
    return link if link.startswith(b"/") else b""


def fd_path(tid: int, fd: int, foreign: bool = False) -> bytes | None:
    """The place of what an fd of the tracee names (`fd_place`), without the file's identity."""
    return fd_place(tid, fd, foreign).place
