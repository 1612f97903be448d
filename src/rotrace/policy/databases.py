"""SQLite databases a run opened read-write and only read.

SQLite opens a database O_RDWR|O_CREAT whenever it may write it. Where that open fails (EROFS
under a read-only root, EACCES where the user may not write) it opens the file again read-only,
and every read works (os_unix.c, `unixOpen`). It changes a database through a rollback journal
(`-journal`) or a write-ahead log (`-wal`, with its `-shm` index) made beside it; a reader of a
WAL database writes the `-shm` too. So an existing database whose run wrote none of those files,
and whose modification time is older than the run, was only read: its read-write open, which
succeeded, is not a write that a read-only root breaks. Every write to the file's data moves
its modification time (write, mmap, truncate, fallocate, copy_file_range); only the utime calls
set it back, and rotrace records each as a write of its own. The change time would say more,
but an overlay filesystem (a container's root) copies the file up at the read-write open
itself, with a new change time and the same modification time. `before` allows for
filesystems that keep whole seconds. The file must be the one first looked at (device and
inode), each time. An open
that failed (`--read-only`'s EROFS, a user's EACCES) says nothing of what the program meant to
do next (SQLite, read-only, fails a write without a system call): it stays a violation, with
what SQLite does explained.

What is read of the file (its first 16 bytes, its modification time) is read when the trace is
classified, as the forecast reads whether a parent exists.
"""

from __future__ import annotations

import os
import stat
import time

from rotrace.events import FileEvent
from rotrace.mountinfo import current_mount_points

MAGIC = b"SQLite format 3\x00"  # the database file's header (fileformat2.html, section 1.3)
SIDECARS = (b"-journal", b"-wal", b"-shm")
# The clock the kernel stamps files with (CLOCK_REALTIME_COARSE, clock_gettime(2); Python's
# time module does not name it): a write made after a reading is stamped at or after it.
_CLOCK = 5
OPENS = frozenset({"open", "create"})
_KERNELS = (b"/dev/", b"/proc/", b"/sys/")
REFUSED = frozenset({"EROFS", "EACCES", "EPERM"})  # where SQLite opens the database read-only instead
_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC


def now() -> int:
    """The time (ns) by the files' clock, to compare their times with (`database`)."""
    return time.clock_gettime_ns(_CLOCK)


def database_of(path: bytes) -> bytes | None:
    """The database a journal, WAL or WAL index belongs to; None for another name."""
    for suffix in SIDECARS:
        if path.endswith(suffix) and len(path) > len(suffix):
            return path[: -len(suffix)]
    return None


def candidate(event: FileEvent) -> bool:
    """A read-write open, without O_TRUNC, as SQLite opens a database; placed (never an
    unresolved one), not one that made the file (O_EXCL, succeeded), nowhere a kernel's own
    filesystem (/dev, /proc, /sys) serves."""
    flags = event.flags or ""
    return (
        event.op in OPENS
        and not event.path.startswith(_KERNELS)
        and not event.unresolved
        and "O_RDWR" in flags
        and "O_TRUNC" not in flags
        and not ("O_EXCL" in flags and not event.failed)
    )


def before(time_ns: int, since: int) -> bool:
    """A file time before `since`, whatever the filesystem's timestamp granularity: one that
    keeps whole seconds (ext4 with 128-byte inodes) or two (FAT) stamps a change made after
    `since` with a time rounded down, maybe below it. The granularity is read off the time
    itself: the largest power of ten dividing it, two seconds for whole ones (a time on a
    fine-grained filesystem that happens to be round only asks for more margin)."""
    step = 1
    while step < 1_000_000_000 and time_ns % (step * 10) == 0:
        step *= 10
    if step == 1_000_000_000:
        step = 2_000_000_000
    return time_ns + step <= since


def database(path: bytes, since: int | None) -> tuple[int, int] | None:
    """The (device, inode) of the file at `path` if it is a SQLite database (a regular file
    with its header) whose modification time is before `since` (None: whenever); else None.
    Only a regular file is opened: opening a device (/dev/watchdog, a tape) may act. A file
    mounted at `path` (a bind mount) is no answer: it hides the one the command opened, which
    the first look may have come too late to see (the report reads the events as they come)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode) or path in current_mount_points():
            return None
        fd = os.open(path, _READ)
    except (OSError, ValueError):
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (since is not None and not before(st.st_mtime_ns, since)):
            return None
        return (st.st_dev, st.st_ino) if os.pread(fd, len(MAGIC), 0) == MAGIC else None
    except OSError:
        return None
    finally:
        os.close(fd)
