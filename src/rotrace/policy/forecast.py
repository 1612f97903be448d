"""The read-only forecast: would this write fail under a read-only root (EROFS), or not?

The kernel does part of the path lookup before it checks that the filesystem is writable, so
some writes fail with another errno first. Which part depends on the call:
- calls that create or remove a name (mkdir, unlink, rename, link, symlink, mknod, open with
  O_CREAT) look up the parent directory, then check writability, then the last component.
  A missing parent stays ENOENT; an existing name to create stays EEXIST; but unlinking a
  name that is not there is EROFS, not ENOENT. A call that makes a name (mkdir, symlink, mknod,
  link, O_CREAT) fails with ENOENT only on a missing parent, so it stays ENOENT whatever the
  filesystem holds when the trace is classified (a `mkdir(parents=True)` makes that parent
  right after).
- calls on an existing file (chmod, utime, truncate, open without O_CREAT...) look the whole
  path up first: a missing file stays ENOENT.
- opening an existing FIFO, device node or socket for writing needs no writable filesystem at
  all (O_CREAT and O_TRUNC included: only a regular file is created or truncated), nor does
  checking it may be written (access W_OK: a client's check of a socket before it connects).
- /dev and /proc are not the root filesystem: a container has its own (Docker: /dev and /dev/shm
  tmpfs, procfs), where writes go as they went here; but for the parts of /proc that Docker,
  and the read-only sandbox, mount read-only (/proc/sys...).
Whether a parent exists, and what an opened path is, is read from the filesystem when the trace
is classified.
"""

from __future__ import annotations

import os
import stat

from rotrace.events import NAME_OPS, FileEvent

OK = "ok"
_LOOKUP_ERRNOS = frozenset({"ENOENT", "ENOTDIR", "ELOOP", "ENAMETOOLONG", "EBADF", "EFAULT"})
_OWN_FILESYSTEMS = (b"/dev/", b"/proc/")
# Read-only in a Docker container's /proc (its readonlyPaths) and in the read-only sandbox.
PROC_READ_ONLY = (b"/proc/bus", b"/proc/fs", b"/proc/irq", b"/proc/sys", b"/proc/sysrq-trigger")
# opens, and checks of writability (access W_OK: EROFS only for a regular file, a directory or
# a symbolic link, fs/open.c)
_OPENS = frozenset({"open", "create", "truncate", "access"})
# Calls that make a name: a lookup error comes from the path to it (the parent), before the
# filesystem is checked for writing; only removing or renaming looks the last name up after.
_MAKERS = frozenset({"create", "mkdir", "symlink", "mknod", "link"})


def _under(path: bytes, roots: tuple[bytes, ...]) -> bool:
    return any(path == r.rstrip(b"/") or path.startswith(r.rstrip(b"/") + b"/") for r in roots)


def _off_the_root(path: bytes) -> bool:
    """On a filesystem of the container's own (/dev, /proc), writable there as here."""
    return _under(path, _OWN_FILESYSTEMS) and not _under(path, PROC_READ_ONLY)


def _special(path: bytes) -> bool:
    """A FIFO, device node or socket: opening it writes nothing to its filesystem."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _parents_exist(*paths: bytes | None) -> bool:
    return all(p is None or os.path.isdir(os.path.dirname(p) or b"/") for p in paths)


def forecast(event: FileEvent, writable: bool) -> str | None:
    """EROFS, another errno, or "ok" for a write attempt; None for a read.

    `writable`: the allowlist covers the path (and a rename's target), so a container built
    from it mounts it writable.
    """
    if not event.write:
        return None
    actual = event.errno
    if writable:
        return actual or OK
    if actual in ("EEXIST", "EADDRINUSE"):  # bind(2) to a name that is there: EADDRINUSE
        return actual
    if actual in _LOOKUP_ERRNOS:
        if event.op not in NAME_OPS or event.op in _MAKERS:
            return actual  # the full path (or, for a name to make, its parent) was looked up first
        second = event.target if event.op == "rename" else None
        return "EROFS" if _parents_exist(event.path, second) else actual
    # a rename's or link's target is a place too; a symlink's is the text it holds, no place
    moved_to = event.target if event.op in ("rename", "link") else None
    if _off_the_root(event.path) and (moved_to is None or _off_the_root(moved_to)):
        return actual or OK
    if event.op in _OPENS and _special(event.path):
        return actual or OK
    return "EROFS"
