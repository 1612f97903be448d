"""The typed record the tracer produces: one FileEvent per completed file syscall, and the
vocabulary of operations it can name.

Paths are bytes, as the kernel sees them; conversion to text happens only at the edges
(the JSON trace uses surrogateescape, terminal output escapes).
"""

from __future__ import annotations

import errno as _errno
import os
from enum import StrEnum
from typing import NamedTuple

# The operations a syscall can perform on a path.
OPS = (
    "open",
    "create",
    "truncate",
    "mkdir",
    "rename",
    "delete",
    "link",
    "symlink",
    "chmod",
    "chown",
    "utime",
    "mknod",
    "xattr",
    "attr",  # inode attributes: chattr's flags (FS_IOC_SETFLAGS...), file_setattr
    "access",  # a check that the caller may write the path (access W_OK): nothing written
)
# Operations that add or remove a name in a directory (the kernel checks the parent first).
NAME_OPS = frozenset({"create", "mkdir", "delete", "rename", "link", "symlink", "mknod"})
# Operations whose path is a file (O_TMPFILE aside), never a directory to look inside (a hard
# link or a device node is never a directory).
FILE_OPS = frozenset({"open", "create", "truncate", "link", "mknod"})
# Operations on an inode's metadata, not its data or its names (not Landlock rights).
METADATA_OPS = frozenset({"chmod", "chown", "utime", "xattr", "attr"})
# Operations that can bring a new name into existence.
CREATING_OPS = frozenset({"create", "rename", "link", "symlink"})

# Kernel-internal restart codes never reach user space but are visible to a tracer.
_RESTART_NAMES = {
    512: "ERESTARTSYS",
    513: "ERESTARTNOINTR",
    514: "ERESTARTNOHAND",
    516: "ERESTART_RESTARTBLOCK",
}


def errno_name(result: int | None) -> str | None:
    """The symbolic errno of a raw syscall result, or None for success / unknown."""
    if result is None or result >= 0 or result < -4095:
        return None
    code = -result
    return _errno.errorcode.get(code) or _RESTART_NAMES.get(code) or f"E{code}"


class FileEvent(NamedTuple):
    """One completed file syscall, entry joined with exit. A named tuple, like the other
    records made per event or sent between rotrace's processes: its class is made in a quarter
    of a frozen dataclass's time (both processes make them as rotrace starts), a record in a
    fifth (the tracer makes one per write, the report process one per record received)."""

    pid: int
    tid: int
    exe: bytes
    syscall: str
    op: str
    path: bytes
    target: bytes | None
    flags: str | None
    mode: int | None
    result: int | None  # raw return value; negative errno on failure; None if never returned
    write: bool
    unresolved: bool = False  # where the call landed could not be known: never allowed

    @property
    def errno(self) -> str | None:
        return errno_name(self.result)

    @property
    def outcome(self) -> str:
        """For a person: "ok", the errno's name, or "no result" (killed inside the call)."""
        if self.result is None:
            return "no result"
        return self.errno or "ok"

    @property
    def failed(self) -> bool:
        return self.result is None or self.result < 0

    @property
    def directory(self) -> bytes:
        """The directory the call changes: the parent of the path, but for O_TMPFILE (which
        names the directory the unnamed file is made in) the path itself."""
        if self.op == "create" and self.flags is not None and "O_TMPFILE" in self.flags:
            return self.path
        return os.path.dirname(self.path) or b"/"

    def astuple(self) -> tuple[object, ...]:
        """The fields in order (FileEvent(*t) rebuilds it): a cheap, marshal-able form."""
        return tuple(self)


class ProcessInfo(NamedTuple):
    """Who a traced process was, read from /proc when it started or exec'd."""

    pid: int
    ppid: int
    uid: int
    exe: bytes
    cmdline: tuple[str, ...]
    script: bytes | None = None  # the #! script the kernel ran exe for (execve's file, when not exe)
    cwd: bytes | None = None  # its working directory at its exec (a script named relatively is there)
    # what its environment held at its exec that rotrace's did not (NAME=value), for the secrets
    # a script handed its children (`export API_TOKEN=...; client "$API_TOKEN"`): read by the
    # report process for them alone (redact.secrets_in), never kept in a trace
    environment: tuple[str, ...] = ()

    def astuple(self) -> tuple[object, ...]:
        return tuple(self)


class DirState(StrEnum):
    """What a directory held when the command first wrote into it."""

    ABSENT = "absent"  # not there (or not a directory)
    EMPTY = "empty"
    CONTENT = "content"  # held entries: an empty mount over it would hide them
    # a merged trace's: empty before one run, holding files before another: what the runs before
    # it left there (the tree the runs started from had it empty)
    FILLED = "filled"
