"""Where the JSON trace goes, opened before the command runs; and rotrace's stdout, named in
the errors of writing it."""

from __future__ import annotations

import atexit
import contextlib
import errno
import io
import os
import stat
import sys
from typing import IO

from rotrace.errors import EXIT_OUTPUT_CLOSED, BadInput

_SHARED = stat.S_ISVTX | stat.S_IWOTH  # a sticky, world-writable directory: /tmp


def stdout_open(what: str) -> None:
    try:
        if sys.stdout is None:
            raise OSError
        os.fstat(sys.stdout.fileno())
    except (OSError, ValueError):
        raise BadInput(f"{what}: standard output is closed") from None


class _Stdout(io.RawIOBase):
    """fd 1, whose write errors say it is stdout (a full disk is otherwise a bare strerror).
    After one, what is left is dropped (as Python's own stdout does), so that exiting does not
    fail on it again."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self._failed = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self._failed or not data:  # nothing to write (/dev/full refuses even that): no error yet
            return len(data)
        try:
            return os.write(self._fd, data)
        except OSError as exc:  # OSError picks the subclass (BrokenPipeError) from the errno
            self._failed = True
            raise OSError(exc.errno, exc.strerror, "stdout") from None


def name_stdout() -> None:
    """Make sys.stdout name itself in its write errors ("stdout: No space left on device"),
    buffered as it was; what is still buffered at exit is flushed before Python's own
    teardown would, so that a failure then is one line and exit 3 too (141 for a closed pipe)."""
    old = sys.stdout
    if not isinstance(old, io.TextIOWrapper):
        return
    try:
        fd = old.fileno()
    except (OSError, ValueError):
        return
    old.flush()
    raw = _Stdout(fd)
    buffered = isinstance(old.buffer, io.BufferedWriter)  # not under python -u (PYTHONUNBUFFERED)
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(raw) if buffered else raw, encoding=old.encoding, errors=old.errors,
        line_buffering=old.line_buffering, write_through=old.write_through,
    )  # fmt: skip
    atexit.register(_flush_at_exit)


def blocking_std() -> None:
    """stdout and stderr in blocking mode again, before the report: the command shares their
    open file descriptions, and one that set O_NONBLOCK on a pipe and filled it (a CI's
    capture, `2>&1 | tee`) had the report dropped on EAGAIN, without a word. The description
    is left blocking, as a shell gives it."""
    import fcntl

    for fd in (1, 2):
        with contextlib.suppress(OSError):
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            if flags & os.O_NONBLOCK:
                fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)


def _flush_at_exit() -> None:
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        os._exit(EXIT_OUTPUT_CLOSED)
    except OSError as exc:
        print(f"rotrace: error: stdout: {exc.strerror or exc}", file=sys.stderr)
        os._exit(3)


def _refuse(path: str, why: str) -> BadInput:
    return BadInput(f"cannot write the trace to {path}: {why}")


def open_output(
    path: str, create: bool = True, identity: tuple[int, int] | None = None, guarded: bool = False
) -> int:
    """An fd open for writing on `path` (created, or emptied), refusing what the kernel's
    fs.protected_symlinks and fs.protected_regular refuse, even where they are off: in a
    sticky world-writable directory (/tmp), a symlink or an existing file another user put
    there (rotrace run as root would otherwise write where they point), and a file with other
    names (a hard link to /etc/shadow). With `identity` (dev, ino), the file must be that one.
    `guarded`: where a confined command may write (an earlier run of it may have put a symlink
    or a hard link there, as any user), neither is followed nor emptied, whoever owns them.
    """
    directory, name = os.path.split(path)
    # never waited on: a FIFO with no reader (ENXIO), which a command could have left there
    flags = os.O_WRONLY | os.O_CLOEXEC | os.O_NONBLOCK | (os.O_CREAT if create else 0)
    try:
        dir_fd = os.open(directory or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise _refuse(path, exc.strerror or str(exc)) from None
    try:
        where = os.fstat(dir_fd)
        shared = where.st_mode & _SHARED == _SHARED
        trusted = {os.geteuid(), where.st_uid}
        try:
            if not name:
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
            try:
                fd = os.open(name, flags | os.O_NOFOLLOW, 0o666, dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                link = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if shared and link.st_uid not in trusted:
                    raise _refuse(path, _foreign("a symlink", link.st_uid)) from None
                if guarded:
                    raise _refuse(path, _GUARDED.format("a symbolic link: not followed")) from None
                fd = os.open(name, flags, 0o666, dir_fd=dir_fd)  # its owner is trusted: follow it
        except OSError as exc:
            why = "a FIFO no process reads (or a socket): not waited on" if exc.errno == errno.ENXIO else None
            raise _refuse(path, why or exc.strerror or str(exc)) from None
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        if identity is not None and (st.st_dev, st.st_ino) != identity:
            raise _refuse(path, "the traced command replaced it while it ran: the trace is lost")
        if shared and st.st_uid not in trusted:
            raise _refuse(path, _foreign("a file", st.st_uid))
        if shared and stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            raise _refuse(path, "it has other names (hard links) in a shared directory: not emptied")
        if guarded and stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            raise _refuse(path, _GUARDED.format("a file with other names (hard links): not emptied"))
        if stat.S_ISREG(st.st_mode):
            os.ftruncate(fd, 0)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


_GUARDED = "it is {}, where the confined command may write (a run of it may have put it there)"


def _foreign(what: str, uid: int) -> str:
    return (
        f"it is {what} that another user (uid {uid}) made in a shared directory (sticky and"
        " world-writable): refusing to follow or overwrite it"
    )


class TraceOutput:
    """Where the JSON trace goes: opened before the command runs (which may delete the
    directory, or fill the disk); a write that fails later is reported after the report.

    The report process opens the same file again by its path, and checks it is the same
    (`handover`): rotrace's processes are out of the command's reach (tracer/linux/hardening.py),
    so neither can open the other's descriptors through /proc either."""

    def __init__(self, path: str | None, guarded: bool = False) -> None:
        """`guarded`: the path is where a confined command may write (open_output)."""
        self.path = path
        self.error: str | None = None
        self.fp: IO[str] | None = None
        self._staged: _Staged | None = None  # replace mode (checkpoints): a new file is being written
        self._dir: int | None = None  # replace mode: the trace's directory, and the file it holds
        self._current: tuple[int, int] | None = None
        self._name = ""  # replace mode: the file's name in _dir
        # the file there now, held open: its inode cannot be freed and given to what the command
        # puts in its place (a symlink with the same (dev, ino) would pass for it)
        self._held = -1
        self._mode = (0o644, -1, -1)  # the first file's mode and owner, which its replacements keep
        if path == "-":
            stdout_open("--json -")
            self.fp = sys.stdout
        elif path is not None:
            self.fp = os.fdopen(open_output(path, guarded=guarded), "w", encoding="utf-8")

    @property
    def shown(self) -> str:
        return "stdout" if self.path == "-" else str(self.path)

    def handover(self) -> tuple[int, int] | None:
        """What the report process needs to open the same file: its (dev, ino)."""
        if self.fp is None or self.path == "-":
            return None
        st = os.fstat(self.fp.fileno())
        return st.st_dev, st.st_ino

    @classmethod
    def inherited(cls, path: str | None, _pid: int, handover: tuple[int, int] | None) -> TraceOutput:
        """In the report process: the output the tracer's process opened (`handover`)."""
        out = cls(None)
        out.path = path
        if path == "-":
            out.fp = sys.stdout
        elif path is not None and handover is not None:
            try:
                fd = open_output(path, create=False, identity=handover)
            except BadInput as exc:  # said after the report, as when it happens later
                out.error = str(exc)
                if not os.path.lexists(path):
                    out.error = f"the traced command removed {path} while it ran: the trace is lost"
            else:
                out.fp = os.fdopen(fd, "w", encoding="utf-8")
        return out

    @property
    def replaceable(self) -> bool:
        """Whether a whole trace can replace the one there (a checkpoint): a regular file."""
        if self._dir is not None:
            return self.error is None
        if self.fp is None or self.path in (None, "-"):
            return False
        try:
            return stat.S_ISREG(os.fstat(self.fp.fileno()).st_mode)
        except (OSError, ValueError):
            return False

    @property
    def replacing(self) -> bool:
        """Whether a checkpoint replaced the file opened before the run: the final trace must too."""
        return self._dir is not None

    def stage(self) -> IO[str] | None:
        """A new file beside the trace, to be renamed over it (`commit`): a reader, a SIGKILL or
        an OOM kill finds the last whole trace, never half of one (and, where the file has no name
        until then, nothing beside it). None once the trace is lost
        (the command moved, replaced or removed it: `error` says so)."""
        assert self._staged is None and self.path is not None
        first = self._dir is None  # the first checkpoint: from then on every trace replaces the last
        if first:
            assert self.fp is not None
            opened = os.fstat(self.fp.fileno())
            # where the file opened is: through one's own symlink (open_output follows those), its target
            directory, self._name = os.path.split(os.path.realpath(self.path))
            self._dir = os.open(directory or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            self._current = opened.st_dev, opened.st_ino
            self._mode = stat.S_IMODE(opened.st_mode), opened.st_uid, opened.st_gid
        assert self._dir is not None
        try:
            if not self._still_ours():
                raise _Lost
            fd, temp = _new_file(self._dir, self._name)
        except (OSError, _Lost) as exc:
            if first and self._dir is not None:  # no file can be made there: the first one stays
                os.close(self._dir)
                self._dir = None
            if isinstance(exc, OSError):
                raise
            return None
        if first:  # the file opened before the run, held open (see _held) but written no more
            assert self.fp is not None
            self._held = os.dup(self.fp.fileno())
            self.fp.close()
        self._staged = _Staged(temp, os.fdopen(fd, "w", encoding="utf-8"))
        mode, uid, gid = self._mode
        if (uid, gid) != (os.geteuid(), os.getegid()):
            with contextlib.suppress(OSError):
                os.fchown(fd, uid, gid)  # root replacing a user's file: it stays theirs
        os.fchmod(fd, mode)
        self.fp = self._staged.fp
        return self.fp

    def _still_ours(self) -> bool:
        try:
            now = os.stat(self._name, dir_fd=self._dir, follow_symlinks=False)
        except OSError:
            self.error = f"the traced command removed {self.path} while it ran: the trace is lost"
            return False
        if (now.st_dev, now.st_ino) != self._current:
            self.error = f"the traced command moved or replaced {self.path} while it ran: it is lost"
            return False
        return True

    def commit(self) -> None:
        """The staged file, written whole (fsync'd), renamed over the trace; OSError if it failed
        (the trace there is the last one)."""
        staged, self._staged, self.fp = self._staged, None, None
        assert staged is not None and self.path is not None
        held = -1
        try:
            staged.fp.flush()
            os.fsync(staged.fp.fileno())
            st = os.fstat(staged.fp.fileno())
            held = os.dup(staged.fp.fileno())
            staged.fp.close()
            if self._still_ours():
                if staged.name is None:  # unnamed until now: named for the rename
                    staged.name = _hidden_name(self._name)
                    os.link(f"/proc/self/fd/{held}", staged.name, dst_dir_fd=self._dir)
                os.rename(staged.name, self._name, src_dir_fd=self._dir, dst_dir_fd=self._dir)
                self._current = st.st_dev, st.st_ino
                self._held, held = held, self._held
                return
            staged.remove(self._dir)
        except BaseException:
            staged.remove(self._dir)
            raise
        finally:
            if held >= 0:
                os.close(held)

    def discard(self) -> None:
        """A staged file that failed: removed; the trace there is the last one."""
        staged, self._staged = self._staged, None
        if staged is not None:
            self.fp = None
            staged.remove(self._dir)

    def failed(self, exc: OSError) -> None:
        self.error = (
            f"cannot write the trace to {self.shown}: {exc.strerror or exc} (the report above is complete)"
        )

    def close(self) -> None:
        if self._staged is not None and self.error is not None:  # never a half-written trace over
            self.discard()  # the last checkpoint, which stays
        elif self._staged is not None:
            try:
                self.commit()
            except OSError as exc:
                self.failed(exc)
        if self._dir is not None:
            os.close(self._dir)
            self._dir = None
        if self._held >= 0:
            os.close(self._held)
            self._held = -1
        if self.fp is not None and self.fp is not sys.stdout:
            try:
                st = os.fstat(self.fp.fileno())
                if self.error is None and st.st_nlink == 0:
                    self.error = f"the traced command removed {self.path} while it ran: the trace is lost"
                elif self.error is None and self.path is not None and not _names(self.path, st):
                    self.error = f"the traced command moved or replaced {self.path} while it ran: it is lost"
            except OSError:
                pass
            try:
                self.fp.close()
            except OSError as exc:
                if self.error is None:
                    self.failed(exc)
        if self.error is not None:
            raise BadInput(self.error)


class _Lost(Exception):
    """The command moved, replaced or removed the trace (TraceOutput.error says which)."""


class _Staged:
    """A trace being written beside the one it will replace: unnamed (`name` None) until it is
    renamed over it, where the filesystem allows."""

    def __init__(self, name: str | None, fp: IO[str]) -> None:
        self.name = name
        self.fp = fp

    def remove(self, directory: int | None) -> None:
        with contextlib.suppress(OSError):
            self.fp.close()
        if self.name is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.name, dir_fd=directory)


def _new_file(directory: int, beside: str) -> tuple[int, str | None]:
    """A file in `directory` for the next trace, and its name. Unnamed (O_TMPFILE) where the
    filesystem allows it and /proc can name it later: a kill while it is written then leaves
    nothing behind. Else a hidden name beside the trace, which such a kill leaves."""
    if os.path.isdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # EOPNOTSUPP, EISDIR (an older kernel): the named way
            return os.open(".", os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600, dir_fd=directory), None
    name = _hidden_name(beside)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(name, flags, 0o600, dir_fd=directory), name


def _hidden_name(beside: str) -> str:
    return f".{beside}.{os.urandom(6).hex()}.tmp"


def _names(path: str, st: os.stat_result) -> bool:
    """Whether `path` still leads to the file `st` (a device or a pipe: whatever it is)."""
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        return True
    try:
        now = os.stat(path)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)
