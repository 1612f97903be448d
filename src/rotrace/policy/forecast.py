"""The read-only forecast: would this write fail under a read-only root (EROFS), or not?

The kernel does part of the path lookup before it checks that the filesystem is writable, so
some writes fail with another errno first. Which part depends on the call:
- calls that create or remove a name (mkdir, unlink, rename, link, symlink, mknod, open with
  O_CREAT) look up the parent directory, then check writability, then the last component.
  A missing parent stays ENOENT; an existing name to create stays EEXIST; but unlinking a
  name that is not there is EROFS, not ENOENT.
- calls on an existing file (chmod, utime, truncate, open without O_CREAT...) look the whole
  path up first: a missing file stays ENOENT.
- opening a device node for writing needs no writable filesystem at all.
Whether a parent exists is read from the filesystem when the trace is classified.
"""

from __future__ import annotations

import os

from rotrace.events import NAME_OPS, FileEvent

OK = "ok"
_LOOKUP_ERRNOS = frozenset({"ENOENT", "ENOTDIR", "ELOOP", "ENAMETOOLONG", "EBADF", "EFAULT"})
_DEVICE_DIRS = (b"/dev/",)
_NOT_DEVICES = (b"/dev/shm/", b"/dev/mqueue/")


def _is_device(path: bytes) -> bool:
    return path.startswith(_DEVICE_DIRS) and not path.startswith(_NOT_DEVICES)


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
    if actual == "EEXIST":
        return actual
    if actual in _LOOKUP_ERRNOS:
        if event.op not in NAME_OPS or event.op == "create":
            return actual  # the full path (or, for O_CREAT, the parent) was looked up first
        if event.op == "link" and event.target is not None and not os.path.lexists(event.target):
            return actual  # link() looks up the existing file first
        second = event.target if event.op == "rename" else None
        return "EROFS" if _parents_exist(event.path, second) else actual
    if event.op == "open" and _is_device(event.path):
        return actual or OK
    return "EROFS"
