"""SQLite databases a run opened read-write and only read.

SQLite opens a database O_RDWR|O_CREAT whenever it may write it. Where that open fails (EROFS
under a read-only root, EACCES where the user may not write) it opens the file again read-only,
and every read works (os_unix.c, `unixOpen`). It changes a database through a rollback journal
(`-journal`) or a write-ahead log (`-wal`, with its `-shm` index) made beside it; a reader of a
WAL database writes the `-shm` too. So an existing database whose run wrote none of those files,
and whose change time is older than the run, was only read: its read-write open, which
succeeded, is not a write that a read-only root breaks. A change time is the kernel's: no
program sets it back. An open that failed (`--read-only`'s EROFS, a user's EACCES) says nothing
of what the program meant to do next (SQLite, read-only, fails a write without a system call):
it stays a violation, with what SQLite does explained.

What is read of the file (its first 16 bytes, its change time) is read when the trace is
classified, as the forecast reads whether a parent exists.
"""

from __future__ import annotations

import os
import stat
import time

from rotrace.events import FileEvent

MAGIC = b"SQLite format 3\x00"  # the database file's header (fileformat2.html, section 1.3)
SIDECARS = (b"-journal", b"-wal", b"-shm")
# The clock the kernel stamps files with (CLOCK_REALTIME_COARSE, clock_gettime(2); Python's
# time module does not name it): a change made after a reading has a change time at or after it.
_CLOCK = 5
_OPENS = frozenset({"open", "create"})
REFUSED = frozenset({"EROFS", "EACCES", "EPERM"})  # where SQLite opens the database read-only instead
_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC


def now() -> int:
    """The time (ns) by the files' clock, to compare change times with (`untouched`)."""
    return time.clock_gettime_ns(_CLOCK)


def database_of(path: bytes) -> bytes | None:
    """The database a journal, WAL or WAL index belongs to; None for another name."""
    for suffix in SIDECARS:
        if path.endswith(suffix) and len(path) > len(suffix):
            return path[: -len(suffix)]
    return None


def candidate(event: FileEvent) -> bool:
    """A read-write open, without O_TRUNC, as SQLite opens a database; placed (never an
    unresolved one)."""
    flags = event.flags or ""
    return event.op in _OPENS and not event.unresolved and "O_RDWR" in flags and "O_TRUNC" not in flags


def untouched(path: bytes, since: int | None) -> bool:
    """`path` is a SQLite database (a regular file with its header) whose change time is
    before `since` (None: whenever)."""
    try:
        fd = os.open(path, _READ)
    except (OSError, ValueError):
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (since is not None and st.st_ctime_ns >= since):
            return False
        return os.pread(fd, len(MAGIC), 0) == MAGIC
    except OSError:
        return False
    finally:
        os.close(fd)
