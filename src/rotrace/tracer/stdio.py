"""The command's own standard streams: the files rotrace's fds 0, 1 and 2 point to when the
trace starts (the command inherits them), whatever they are (a terminal, a pipe, a log file
the user redirected rotrace's output to).

A command that opens /dev/stdout, /dev/stderr, /dev/fd/N or /proc/self/fd/N and lands on one of
them writes its output, not to a place: such an open is recorded as /dev/stdout, /dev/stderr (which
the default allowlist allows) or /dev/stdin, not as the log file's path (a violation, and EACCES
under --enforce). Reaching the same file by its name is a write to a place.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat

from rotrace.pathnames import names_file

NAMES = (b"/dev/stdin", b"/dev/stdout", b"/dev/stderr")
# The paths that reach a descriptor's file rather than a name: /dev/stdout is a link to
# /proc/self/fd/1, /dev/fd one to /proc/self/fd. Read after /proc/self became /proc/PID.
_FD_ROUTE = re.compile(rb"/proc/\d+(?:/task/\d+)?/fd/(\d+)")

Identity = tuple[int, int]  # st_dev, st_ino
Streams = tuple[Identity | None, Identity | None, Identity | None]  # what fds 0, 1, 2 are


def streams() -> Streams:
    """What fds 0, 1 and 2 of this process are now. A device (a terminal, /dev/null) is left
    out: its own path names it already (/dev/pts/N, allowed by default)."""
    found: list[Identity | None] = []
    for fd in range(3):
        try:
            st = os.fstat(fd)
        except OSError:
            found.append(None)
            continue
        device = stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
        found.append(None if device else (st.st_dev, st.st_ino))
    return found[0], found[1], found[2]


def name_of(identity: Identity, streams: Streams, via: int) -> bytes | None:
    """The stream a file reached through descriptor `via` is: that descriptor's own if it is
    one of the three, else the first that is this file; None if none is."""
    if via < 3 and streams[via] == identity:
        return NAMES[via]
    for fd in (1, 2, 0):
        if streams[fd] == identity:
            return NAMES[fd]
    return None


def files(stdout_to_stderr: bool = False) -> list[str]:
    """The paths of the files the command's stdout and stderr will be (this process's fds 1
    and 2; stderr twice with `stdout_to_stderr`, rotrace's stdout being its own output), for a
    Landlock rule on each: --enforce grants the command its own standard streams. Pipes and
    sockets have no path (Landlock does not restrict them), nor has a deleted file. A stream
    open only for reading (`1<FILE`) is no output: its file is not granted, or the command
    could write a file the user only let it read."""
    paths: list[str] = []
    for fd in (2, 2) if stdout_to_stderr else (1, 2):
        try:
            if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
                continue
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if path.startswith("/") and path not in paths and names_file(path, os.fstat(fd)):
            paths.append(path)  # (a deleted file's name, `... (deleted)`, names none)
    return paths


def fd_route(raw: bytes) -> int | None:
    """The descriptor a path reaches through a /proc/PID/fd/N link (after paths.own_proc), or
    None when it names a place."""
    match = _FD_ROUTE.fullmatch(raw)
    return int(match.group(1)) if match else None
