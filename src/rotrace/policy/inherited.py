"""The file descriptors a confined command inherits, checked before it starts.

Landlock decides at open time, and a read-only root at the mount: neither sees a write
through a file the command was handed already open (`3>>/var/tmp/v`), nor does the tracer
(write(2) is not a file syscall it records). So a confined run refuses to start while a
descriptor it would pass on is open for writing on a file outside the allowlist, unless the
user passes it knowingly (--allow-fd N): the report then says that fd was not enforced.

The command's own standard streams (fds 0-2) pass even when they are files outside the
allowlist: the user chose where the command's output goes (`> log`), the command reopening them
(/dev/stdout) is not a write to a place, and the report says where they go. One open only for
reading (`< input.txt`) is another matter: reopened through /dev/stdin for writing it would
write the host's file; --enforce's Landlock refuses that open, and the --read-only sandbox gives
the command such a stream again on its read-only root (`readable_outside`).

An io_uring instance never passes (stdio included): a ring another process set up, with a kernel
thread polling it (IORING_SETUP_SQPOLL), carries out what the command writes into its memory
(an open, a mkdir, a write) with that process's rights, past Landlock, the sandbox's mounts and
the tracer, without a system call of the command's. A plain run warns of one.

What passes besides: pipes and sockets (a make jobserver, a CI log pipe), terminals, /dev/null, files
without a name (memfd, O_TMPFILE, unlinked), anything open read-only or O_PATH, and
directories: a dirfd lets the command open files relative to it, but Landlock checks each such
open by the file's own place in the tree, and the tracer records it there.
"""

from __future__ import annotations

import os
import stat
from typing import NamedTuple

from rotrace.errors import SandboxError
from rotrace.escape import safe_text
from rotrace.pathnames import is_under, names_file
from rotrace.policy.allowlist import Allowlist

_NULL = os.makedev(1, 3)
# What bubblewrap's --dev holds: null, zero, full, random, urandom, tty
_SANDBOX_DEVICES = frozenset(os.makedev(1, minor) for minor in (3, 5, 7, 8, 9)) | {os.makedev(5, 0)}
_STREAMS = {0: "stdin", 1: "stdout", 2: "stderr"}


class Inherited(NamedTuple):
    """An open fd the command would inherit, that writes outside the allowlist."""

    fd: int
    path: str
    placed: bool = True  # the name is where the file is (else not allowed by it, wherever it lies)

    def describe(self) -> str:
        return f"fd {self.fd} ({safe_text(self.path)})"


def writable_outside(allowlist: Allowlist, fds: list[int] | None = None) -> list[Inherited]:
    """The fds of this process without close-on-exec (of `fds`, default all), open for
    writing on a named file, block or character device that the allowlist does not allow."""
    found = []
    for fd in sorted(_open_fds()) if fds is None else fds:
        flags = _flags(fd)
        if flags is None or flags & os.O_CLOEXEC or flags & os.O_ACCMODE == os.O_RDONLY:
            continue  # closed on exec, or read-only (O_PATH included)
        try:
            st = os.fstat(fd)
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if not path.startswith("/") or _passes(fd, st):
            continue
        if not names_file(path, st):  # /proc's name is no place of the file's: not allowed by it
            found.append(Inherited(fd, f"{path}, {_unconfirmed(path)}", placed=False))
        elif not allowlist.allows(os.fsencode(path)):
            found.append(Inherited(fd, path))
    return found


def _unconfirmed(path: str) -> str:
    """Why /proc's name of an open file is not taken as its place: the name reaches another
    file (or none), or rotrace may not look it up (a directory on the way it cannot search)."""
    try:
        os.lstat(path)
    except PermissionError:
        return "a name rotrace may not look up to find the file there"
    except (OSError, ValueError):
        pass
    return "a name that is not where the file is"


# What acts on files for the command past the confinement, by its name in /proc: what it is, and
# what reaches the command through it without a system call of the command's
_ACTING = {
    "anon_inode:[io_uring]": (
        "an io_uring instance",
        "what another process's ring carries out for it (a kernel thread polling the ring, SQPOLL)",
    ),
    "anon_inode:[fanotify]": (
        "an fanotify group",
        "a file its events hand the command open (read-write, if the group asked so)",
    ),
}


def acting(fds: list[int] | None = None) -> list[Inherited]:
    """The fds of this process without close-on-exec (of `fds`, default all) that are io_uring
    instances or fanotify groups (_ACTING), which the command would inherit."""
    found = []
    for fd in sorted(_open_fds()) if fds is None else fds:
        flags = _flags(fd)
        if flags is None or flags & os.O_CLOEXEC:
            continue
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if path in _ACTING:
            found.append(Inherited(fd, path))
    return found


def acting_warnings() -> list[str]:
    """A plain run's word on the io_uring instances and fanotify groups the command inherits."""
    return [
        f"{f.describe()}, {_ACTING[f.path][0]}, was inherited by the command: {_ACTING[f.path][1]} makes"
        " no system call of the command's, and is not recorded"
        for f in acting()
    ]


def readable_outside(stdout_kept: bool, bound: list[str]) -> list[Inherited]:
    """The command's standard streams open only for reading (or O_PATH) on a named file,
    directory or device: in the --read-only sandbox such a stream is still the host's file, on
    the host's writable mount, and the command could open it again for writing through
    /dev/stdin (/proc/self/fd/0), which no read-only root refuses. In an allowed place too: the
    sandbox's is its own tmpfs, not the host's directory; only below a directory the sandbox
    binds writable from the host (`bound`: --keep-writes) is a file one the command may write
    anyway. The sandbox gives each to the command read-only (sandbox/inner.py)."""
    found = []
    for fd in (0, 1, 2):
        flags = _flags(fd)
        if flags is None or (stdout_kept and fd == 1):
            continue
        if flags & os.O_ACCMODE != os.O_RDONLY and not flags & getattr(os, "O_PATH", 0):
            continue  # open for writing: where the user sent its output (`check`)
        try:
            st = os.fstat(fd)
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if not path.startswith("/") or (_passes(fd, st) and not stat.S_ISDIR(st.st_mode)):
            continue
        if stat.S_ISCHR(st.st_mode) and st.st_rdev in _SANDBOX_DEVICES:
            continue  # the sandbox's own /dev has it, writable to anyone
        if not any(is_under(path, directory) for directory in bound):
            found.append(Inherited(fd, path))
    return found


# a pseudo-terminal's master (/dev/ptmx, devpts' ptmx), which isatty() calls a terminal
_PTMX = os.makedev(5, 2)


def _passes(fd: int, st: os.stat_result) -> bool:
    if stat.S_ISREG(st.st_mode):
        return st.st_nlink == 0  # no name: nothing outside is reached through it
    if stat.S_ISCHR(st.st_mode):
        # a terminal: not a master, whose writes another process's terminal reads as typed input
        return st.st_rdev == _NULL or (os.isatty(fd) and st.st_rdev != _PTMX)
    return not stat.S_ISBLK(st.st_mode)  # a pipe, a socket, a directory


def _open_fds() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: the fds a shell hands on
        return [fd for fd in range(10) if _flags(fd) is not None]


def _flags(fd: int) -> int | None:
    """The fd's open flags (octal in fdinfo, with O_CLOEXEC for close-on-exec)."""
    try:
        with open(f"/proc/self/fdinfo/{fd}", "rb") as f:
            for line in f:
                if line.startswith(b"flags:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import fcntl

        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        return flags | (os.O_CLOEXEC if fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC else 0)
    except OSError:
        return None


def check(
    allowlist: Allowlist, mode: str, allowed_fds: tuple[int, ...], stdio_only: bool, stdout_kept: bool
) -> list[str]:
    """Before a confined run (`mode`: --enforce, --read-only): SandboxError naming each fd that
    would let the command write outside the allowlist, unless passed in `allowed_fds`; the
    warnings for those that were. `stdout_kept`: rotrace keeps its stdout (--json -, --emit)
    and the command's fd 1 is its stderr, so fd 1 does not reach the command."""
    fds = [0, 1, 2] if stdio_only else sorted(_open_fds())
    fds = [fd for fd in fds if not (stdout_kept and fd == 1)]
    found = writable_outside(allowlist, fds)
    own = [f for f in found if f.fd in _STREAMS]
    found = [f for f in found if f.fd not in _STREAMS] + acting(fds)
    refused = [f for f in found if f.fd not in allowed_fds]
    refused_acting = [f for f in refused if f.path in _ACTING]
    if refused_acting:
        names = ", ".join(f"{f.describe()}, {_ACTING[f.path][0]}," for f in refused_acting)
        first = refused_acting[0]
        raise SandboxError(
            f"{mode}: {names} would be inherited by the command: {_ACTING[first.path][1]} is past the"
            f" confinement and the trace; close it before rotrace starts, or pass it knowingly with"
            f" --allow-fd {first.fd}"
        )
    if refused:
        names = ", ".join(f.describe() for f in refused)
        one = len(refused) == 1
        raise SandboxError(
            f"{mode}: {names} {'is' if one else 'are'} open for writing outside the allowlist, and the"
            f" command would inherit {'it' if one else 'them'}: point {'it' if one else 'them'} elsewhere"
            f" (a pipe: | tee FILE), allow the file, or pass {'it' if one else 'them'} knowingly with"
            f" --allow-fd {refused[0].fd}"
        )
    unguarded = "enforced" if mode == "--enforce" else "confined"
    return [
        f"the command's {_STREAMS[f.fd]} is {safe_text(f.path)}, "
        f"{'outside the allowlist' if f.placed else 'so not allowed by it'}: its own output goes there, as"
        " you redirected it"
        for f in own
    ] + [
        f"{f.describe()} was passed {'as ' + _ACTING[f.path][0] if f.path in _ACTING else _OUTSIDE}"
        f" (--allow-fd {f.fd}): writes through it were not {unguarded}, nor recorded"
        for f in found
    ]


_OUTSIDE = "open for writing outside the allowlist"
