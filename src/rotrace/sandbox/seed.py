"""The copy a persistent place starts with, made inside the read-only sandbox before the command
starts: what the place holds on the host, read from an fd of it rotrace opened, written into the
place's own tmpfs, found by an fd too. Done here, not by `cp`: `cp` was looked up on PATH (a
project's ./cp ran untraced, holding the host's directory), looked its destination up by name (a
process outside the run renamed a symbolic link there, and the copy landed on the host through
the fd's own path), and blocked for ever opening a file swapped for a FIFO.

What is kept: the tree (directories, regular files, symbolic links, FIFOs, hard links as links),
modes, owners where the sandbox may set them, and times; not extended attributes, nor device
nodes and sockets (a tmpfs in the sandbox is nodev). The source is read one name at a time
without following a symbolic link, never off the place's file system; a name swapped meanwhile
only changes what is read.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator

from rotrace.errors import SandboxError, Stopped
from rotrace.escape import safe_text
from rotrace.tracer.linux.lookup import TMPFS_MAGIC, fs_type

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


def own_tmpfs(path: str) -> int:
    """An fd of the sandbox's tmpfs at `path`: walked from / one name at a time without a
    symbolic link, the root of a file system of its own (not its parent's: no directory of the
    host renamed into the way, which cannot be a mount's root), a tmpfs. A name another process
    changed is refused."""
    fd = os.open("/", _DIRECTORY)
    parent = -1
    try:
        for name in (part for part in path.split("/") if part):
            following = os.open(name, _DIRECTORY, dir_fd=fd)
            if parent >= 0:
                os.close(parent)
            parent, fd = fd, following
        found, above = os.fstat(fd), os.fstat(parent) if parent >= 0 else None
        if above is None or found.st_dev == above.st_dev or fs_type(fd) != TMPFS_MAGIC:
            raise OSError(0, "no tmpfs of its own")
    except OSError as exc:
        os.close(fd)
        raise SandboxError(
            f"--read-only: {safe_text(path)} in the sandbox is not the tmpfs the sandbox made there"
            f" ({exc.strerror}: it changed while the sandbox was set up?): nothing ran"
        ) from None
    finally:
        if parent >= 0:
            os.close(parent)
    return fd


def copy_tree(source: int, target: int, stop: Callable[[], int | None] = lambda: None) -> None:
    """Copy what the directory `source` (an fd, O_PATH will do) holds into `target` (an fd of
    an empty directory), then `source`'s mode, owner and times onto `target`. `stop`: asked at
    each name and each chunk of a file; a signal number ends the copy (Stopped)."""
    top = os.open(".", _DIRECTORY, dir_fd=source)
    device = os.fstat(top).st_dev
    links: dict[tuple[int, int], bytes] = {}
    directories: list[tuple[bytes, os.stat_result]] = [(b"", os.fstat(top))]
    pending = [b""]
    try:
        while pending:
            rel = pending.pop()
            here, there = _open_pair(top, target, rel, device)
            if here < 0:
                continue
            try:
                with os.scandir(here) as entries:
                    names = [os.fsencode(e.name) for e in entries]
                for name in names:
                    _stopping(stop)
                    made = _copy_entry(here, there, target, name, rel, device, links, stop)
                    if made is not None:
                        directories.append(made)
                        pending.append(made[0])
            finally:
                os.close(here)
                if there != target:
                    os.close(there)
    finally:
        os.close(top)
    for rel, info in reversed(directories):  # times last, deepest first: filling a directory changes them
        _attributes(target, rel or b".", info)


def _stopping(stop: Callable[[], int | None]) -> None:
    """Stopped, where `stop` gives a signal's number: the copy ends there."""
    signum = stop()
    if signum is not None:
        raise Stopped(signum)


def _open_pair(top: int, target: int, rel: bytes, device: int) -> tuple[int, int]:
    if not rel:
        return os.open(".", _DIRECTORY, dir_fd=top), target
    try:
        here = _walk(top, rel)
    except OSError:
        return -1, -1  # gone, or swapped for something else than a directory meanwhile
    if os.fstat(here).st_dev != device:
        os.close(here)
        return -1, -1
    return here, _walk(target, rel)


def _walk(fd: int, rel: bytes) -> int:
    """The directory `rel` below `fd`, one name at a time, never through a symbolic link."""
    current = os.open(".", _DIRECTORY, dir_fd=fd)
    try:
        for name in rel.split(b"/"):
            following = os.open(name, _DIRECTORY, dir_fd=current)
            os.close(current)
            current = following
    except BaseException:
        os.close(current)
        raise
    return current


def _copy_entry(
    here: int,
    there: int,
    top: int,
    name: bytes,
    rel: bytes,
    device: int,
    links: dict[tuple[int, int], bytes],
    stop: Callable[[], int | None],
) -> tuple[bytes, os.stat_result] | None:
    """One name of the directory `here` made in `there`; a directory made is given back (its
    path below the top, its source's attributes) to be filled."""
    path = rel + b"/" + name if rel else name
    try:
        info = os.stat(name, dir_fd=here, follow_symlinks=False)
    except OSError:
        return None
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        if info.st_dev != device:
            return None  # a mount inside the place: not its own
        try:
            os.mkdir(name, 0o700, dir_fd=there)
        except FileExistsError:  # one the sandbox made (the working directory): filled; a mount: left
            try:
                made = os.stat(name, dir_fd=there, follow_symlinks=False)
            except OSError:
                return None
            if not stat.S_ISDIR(made.st_mode) or made.st_dev != os.fstat(there).st_dev:
                return None
        return path, info
    if stat.S_ISREG(mode) and info.st_nlink > 1 and (info.st_dev, info.st_ino) in links:
        with contextlib.suppress(OSError):  # (paths below the top, made here: no link on their way)
            known = links[info.st_dev, info.st_ino]
            os.link(known, path, src_dir_fd=top, dst_dir_fd=top, follow_symlinks=False)
        return None
    if stat.S_ISLNK(mode):
        with contextlib.suppress(OSError):
            os.symlink(os.readlink(name, dir_fd=here), name, dir_fd=there)
            _attributes(there, name, info, link=True)
        return None
    if stat.S_ISFIFO(mode):
        try:
            os.mkfifo(name, 0o600, dir_fd=there)
        except FileExistsError:
            return None
    elif stat.S_ISREG(mode):
        if not _copy_file(here, there, name, stop):
            return None
        if info.st_nlink > 1:
            links[info.st_dev, info.st_ino] = path
    else:
        return None  # a device node, a socket: not in a nodev tmpfs
    _attributes(there, name, info)
    return None


def _copy_file(here: int, there: int, name: bytes, stop: Callable[[], int | None]) -> bool:
    """A regular file's bytes, opened without blocking (a name swapped for a FIFO meanwhile is
    no regular file, and is left out); whether it was copied. Its holes stay holes (a sparse
    file of a terabyte that holds nothing fills no memory of the tmpfs); `stop` is asked at each
    chunk, as at each name."""
    try:
        src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=here)
    except OSError:
        return False
    try:
        found = os.fstat(src)
        if not stat.S_ISREG(found.st_mode):
            return False
        os.set_blocking(src, True)
        try:
            dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                          dir_fd=there)  # fmt: skip
        except FileExistsError:
            return False
        try:
            for data, end in _extents(src, found.st_size):
                at = data
                while at < end:
                    _stopping(stop)
                    chunk = os.pread(src, min(_CHUNK, end - at), at)
                    if not chunk:  # shortened meanwhile
                        break
                    os.pwrite(dst, chunk, at)
                    at += len(chunk)
            os.ftruncate(dst, found.st_size)  # a hole at the end is a hole too
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return True


def _extents(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """The ranges of the file that hold data (SEEK_DATA, SEEK_HOLE), up to `size`; the whole
    file on a file system that cannot tell (EINVAL)."""
    offset = 0
    while offset < size:
        try:
            data = os.lseek(fd, offset, os.SEEK_DATA)
            hole = os.lseek(fd, data, os.SEEK_HOLE)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data past the offset: the rest is a hole
                return
            yield offset, size
            return
        if data >= size:
            return
        yield data, min(hole, size)
        offset = hole


def _attributes(there: int, name: bytes, info: os.stat_result, link: bool = False) -> None:
    """Owner (where the sandbox may set it), mode and times, as the source's."""
    with contextlib.suppress(OSError):
        os.chown(name, info.st_uid, info.st_gid, dir_fd=there, follow_symlinks=False)
    if not link:
        with contextlib.suppress(OSError):
            os.chmod(name, stat.S_IMODE(info.st_mode), dir_fd=there, follow_symlinks=False)
    with contextlib.suppress(OSError, NotImplementedError):
        os.utime(name, ns=(info.st_atime_ns, info.st_mtime_ns), dir_fd=there, follow_symlinks=False)
