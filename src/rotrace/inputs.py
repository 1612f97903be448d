"""Files rotrace is given to read (a trace, a policy, a manifest), opened as what they are.

A regular file is read as it is. A pipe (`<(zcat trace.json.gz)`, or /dev/stdin fed by one)
can be read only once: its reader takes it whole. Anything else named as a file (a directory, a
terminal, a device such as /dev/zero that never ends, a socket) is refused with one line, as is
a text larger than its reader can take whole, rather than read for ever or until memory runs out.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from rotrace.errors import BadInput

MiB = 1 << 20


def open_input(path: str, what: str) -> tuple[BinaryIO, bool]:
    """`path` open for reading (binary), and whether it is a pipe; BadInput, one line, for what
    cannot be read or is neither a regular file nor a pipe. Opened without waiting (a first
    look tells a FIFO from a device); a named FIFO is then read as `cat` reads it, once its
    writer has come, on that same open: opened again, what a quick writer wrote and closed
    was dropped with the first open's close, and the second waited for another writer."""
    fd = _open(path, what, os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISFIFO(mode):
            _await_writer(fd)
            os.set_blocking(fd, True)
        elif stat.S_ISDIR(mode):
            raise BadInput(f"cannot read {what} {path}: it is a directory")
        elif not stat.S_ISREG(mode):
            raise BadInput(f"cannot read {what} {path}: not a regular file or a pipe")
        else:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), stat.S_ISFIFO(mode)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise


def _await_writer(fd: int) -> None:
    """Until a FIFO's first writer has written, or come and gone (a reader opened without
    waiting sees no end of file before that: POLLHUP only once a writer has closed)."""
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while not poller.poll():
        pass


def _open(path: str, what: str, flags: int) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | flags)
    except OSError as exc:
        raise BadInput(f"cannot read {what} {path}: {exc.strerror}") from None


def read_whole(f: BinaryIO, path: str, what: str, limit: int) -> bytes:
    """All of an open input, at most `limit` bytes: BadInput past that (a text its reader
    holds whole, and in memory several times over once parsed)."""
    too_large = BadInput(f"{what} {path} is larger than {limit // MiB} MiB, more than rotrace reads whole")
    try:
        status = os.fstat(f.fileno())
        if stat.S_ISREG(status.st_mode) and status.st_size - f.tell() > limit:
            raise too_large  # (a sparse file of zeros: nothing read)
        data = f.read(limit + 1)
    except OSError as exc:
        raise BadInput(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise too_large
    return data


def read_input(path: str, what: str, limit: int) -> bytes:
    """A whole input file's bytes (open_input's checks, read_whole's limit)."""
    f, _ = open_input(path, what)
    with f:
        return read_whole(f, path, what, limit)
