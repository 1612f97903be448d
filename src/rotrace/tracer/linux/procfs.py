"""What /proc says of a process: the fields of its status file, its command line, the file it
was exec'd with.

Read directly: two small reads at each exec, where psutil (which reads the same files) would
add its import to every run's start-up.
"""

from __future__ import annotations

import os
import struct

_AT_NULL = 0
_AT_EXECFN = 31
_AT_LAST = 64  # auxiliary vector types are small numbers (51 is the highest Linux defines)


def status_fields(pid: int, *names: bytes) -> dict[bytes, bytes]:
    """The named fields of /proc/PID/status (b"Tgid", b"PPid", b"Uid"...), first value each;
    a field that is not there (or a process that is gone) is missing from the answer."""
    found: dict[bytes, bytes] = {}
    try:
        with open(b"/proc/%d/status" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return found
    for line in data.splitlines():
        key, _, value = line.partition(b":")
        if key in names:
            words = value.split()
            if words:
                found[key] = words[0]
    return found


def _environ_entries(pid: int) -> list[bytes] | None:
    """A process's environment as it started (/proc/PID/environ), NAME=value each; None if it
    cannot be read."""
    try:
        with open(b"/proc/%d/environ" % pid, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return [item for item in raw.split(b"\0") if b"=" in item]


def environ(pid: int) -> dict[str, str] | None:
    """A process's environment as it started; None if it cannot be read."""
    entries = _environ_entries(pid)
    if entries is None:
        return None
    pairs = (item.partition(b"=") for item in entries)
    return {os.fsdecode(name): os.fsdecode(value) for name, _, value in pairs}


def environ_beyond(pid: int, known: frozenset[bytes], most: int = 256) -> tuple[str, ...]:
    """The entries (NAME=value) of a process's environment as it started that `known` does not
    hold, at most `most` of them: what a program set for its child (empty if /proc does not
    show it)."""
    new = [item for item in _environ_entries(pid) or () if item not in known]
    return tuple(os.fsdecode(item) for item in new[:most])


def status_int(pid: int, name: bytes, default: int) -> int:
    try:
        return int(status_fields(pid, name)[name])
    except (KeyError, ValueError):
        return default


def cmdline(pid: int) -> tuple[str, ...] | None:
    """argv as the process holds it (None if it is gone); read at an exec stop it is pristine."""
    try:
        with open(b"/proc/%d/cmdline" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return tuple(os.fsdecode(arg) for arg in data.split(b"\0")[:-1]) if data else ()


def execfn(pid: int) -> int | None:
    """Where the process holds the file name execve was given (AT_EXECFN, in its auxiliary
    vector): a #! script's name, where /proc/PID/exe names its interpreter. None if /proc
    does not say (the process is gone, or its vector is not one this reads)."""
    try:
        with open(b"/proc/%d/auxv" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    for word in (struct.Struct("=Q"), struct.Struct("=I")):  # a 64-bit program's, a 32-bit one's
        words = [w for (w,) in word.iter_unpack(data[: len(data) // word.size * word.size])]
        found = None
        for key, value in zip(words[::2], words[1::2], strict=False):
            if key == _AT_NULL:
                return found
            if key >= _AT_LAST:
                break  # not a vector of this word's size
            if key == _AT_EXECFN:
                found = value
    return None


def mount_ids() -> set[int]:
    """The ids of the mounts of rotrace's own mount namespace whose files rotrace's names reach
    (mountinfo's first field): not one another covers, nor one below it. A mount at the very
    place of its parent's (stacked on it) covers that parent, and is reached through it; one at
    a place above a sibling's (their parent's) was mounted after it, or the sibling would be its
    child, and covers it. A file on a covered mount is named by /proc as the place, where
    another file is."""
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return set()
    mounts: dict[int, tuple[int, bytes]] = {}  # id -> (parent, mount point), in mountinfo's order
    for line in lines:
        fields = line.split(b" ")
        if len(fields) > 4 and fields[0].isdigit() and fields[1].isdigit():
            mounts[int(fields[0])] = (int(fields[1]), fields[4])
    order = {mount: i for i, mount in enumerate(mounts)}
    children: dict[int, list[int]] = {}
    for mount, (parent, _) in mounts.items():
        children.setdefault(parent, []).append(mount)
    covered = set()
    for parent, ids in children.items():
        for mount in ids:
            point = mounts[mount][1]
            if parent in mounts and point == mounts[parent][1]:
                covered.add(parent)  # stacked on its parent's very place
            above = point.rstrip(b"/") + b"/"
            for other in ids:  # its siblings below its place: mounted before it (at its very place:
                there = mounts[other][1]  # the one listed first)
                if other != mount and (
                    there.startswith(above) or (there == point and order[other] < order[mount])
                ):
                    covered.add(other)
    visible: set[int] = set()
    for mount in mounts:
        # up to the top: a covered mount stops the way, but for the one stacked on its very place
        # (a tmpfs mounted twice on /dev/shm: the second is the one names reach)
        seen, at, below = [], mount, None
        while at in mounts and at not in visible and at not in seen:
            if at in covered and (below is None or mounts[below][1] != mounts[at][1]):
                break
            seen.append(at)
            below, at = at, mounts[at][0]
        if at not in mounts or at in visible:  # reached the top (its parent outside) or a visible one
            visible.update(m for m in seen if m not in covered)
    return visible


def ipc_namespace(pid: int) -> int | None:
    """The IPC namespace of a process (its inode), whose message queues it makes; None if gone."""
    try:
        return os.stat(b"/proc/%d/ns/ipc" % pid).st_ino
    except OSError:
        return None


def unix_socket_name(pid: int, fd: int) -> tuple[bool, bytes | None]:
    """What the kernel says a socket of a process is bound to, as /proc/PID/net/unix lists it
    (the socket's inode, from its fd): (known, the file it is bound to, or None for an
    abstract name, no name or no Unix socket). Not known where the fd or the process is gone."""
    try:
        link = os.readlink(b"/proc/%d/fd/%d" % (pid, fd))
    except OSError:
        return False, None
    if not (link.startswith(b"socket:[") and link.endswith(b"]")):
        return True, None  # another file: the bind failed (ENOTSOCK)
    inode = link[8:-1]
    try:
        with open(b"/proc/%d/net/unix" % pid, "rb") as listing:
            for line in listing:
                fields = line.split(None, 7)  # Num RefCount Protocol Flags Type St Inode Path
                if len(fields) > 6 and fields[6] == inode:
                    name = fields[7].rstrip(b"\n") if len(fields) > 7 else b""
                    return True, name if name and not name.startswith(b"@") else None
    except OSError:
        return False, None
    return True, None  # not a Unix socket


def moved(held: dict[str, int]) -> list[tuple[str, str]]:
    """Of the directories rotrace holds an fd of (a place -> its fd), those no longer at their
    names: (the place, where the directory is now, as the kernel names the fd). Renamed, or
    another directory renamed into its place: what was granted or bound by the fd is elsewhere,
    and so are the writes made there. Not one removed: what was written there is gone with it."""
    found = []
    for place, fd in held.items():
        try:
            now = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            now = "(unknown)"
        if now != place and not _removed(fd):  # (by the directory's links, not by its name:
            found.append((place, now))  # one renamed to `x (deleted)` reads as a removed one)
    return found


def _removed(fd: int) -> bool:
    """Whether the directory of `fd` was removed: rmdir leaves it no link (its name in /proc
    then ends in " (deleted)", which a name of a directory still there can end in too)."""
    try:
        return os.fstat(fd).st_nlink == 0
    except OSError:
        return False
