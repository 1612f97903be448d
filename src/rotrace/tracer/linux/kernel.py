"""ptrace(2) as the tracer needs it, and the one handle on the C library.

The requests every run makes (seize, resume, event messages, detach, peeks) are called here
through the C library; the registers, by python-ptrace's layouts, are registers.py's.
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ctypes import _NamedFuncPointer

# The C library this Python is linked with (ptrace, prctl, process_vm_readv are in it).
libc = ctypes.CDLL(None, use_errno=True)


def own(name: str) -> _NamedFuncPointer:
    """A function of the C library that is this caller's alone to type: `libc.NAME` is one
    object shared by every user of `libc` (python-ptrace, handed it by registers.py, sets
    ptrace's result to an unsigned long, which made each failure read as 2**64-1: none raised,
    the command untraced), `libc[NAME]` a new one."""
    return libc[name]


_ptrace = own("ptrace")
_ptrace.restype = ctypes.c_long
_ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]


class PtraceError(Exception):
    """A ptrace request refused: `errno` and `pid`, as python-ptrace's error has them."""

    def __init__(self, message: str, errno: int | None = None, pid: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno
        self.pid = pid


def ptrace(request: int, pid: int, addr: int = 0, data: int = 0) -> int:
    """ptrace(2): its result; PtraceError when it fails."""
    result: int = _ptrace(request, pid, addr, data)
    if result == -1:
        code = ctypes.get_errno()
        raise PtraceError(f"ptrace({request:#x}, {pid}): {os.strerror(code)}", errno=code, pid=pid)
    return result


PTRACE_PEEKTEXT = 1
PTRACE_PEEKDATA = 2
PTRACE_CONT = 7
PTRACE_DETACH = 17
PTRACE_SYSCALL = 24
PTRACE_GETEVENTMSG = 0x4201
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_LISTEN = 0x4208
PTRACE_GET_SYSCALL_INFO = 0x420E

PTRACE_O_TRACESYSGOOD = 0x1
PTRACE_O_TRACEFORK = 0x2
PTRACE_O_TRACEVFORK = 0x4
PTRACE_O_TRACECLONE = 0x8
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_TRACEEXIT = 0x40
PTRACE_O_TRACESECCOMP = 0x80
PTRACE_O_EXITKILL = 0x100000

# What every tracee is seized with: syscall stops marked, and every fork, thread, exec and exit.
FOLLOW_OPTIONS = (
    PTRACE_O_TRACESYSGOOD
    | PTRACE_O_TRACEFORK
    | PTRACE_O_TRACEVFORK
    | PTRACE_O_TRACECLONE
    | PTRACE_O_TRACEEXEC
    | PTRACE_O_TRACEEXIT
)

PTRACE_EVENT_FORK = 1
PTRACE_EVENT_VFORK = 2
PTRACE_EVENT_CLONE = 3
PTRACE_EVENT_EXEC = 4
PTRACE_EVENT_EXIT = 6
PTRACE_EVENT_SECCOMP = 7
PTRACE_EVENT_STOP = 128

WALL = 0x40000000


def resume_syscall(pid: int, signal: int = 0) -> None:
    ptrace(PTRACE_SYSCALL, pid, 0, signal)


def resume_cont(pid: int, signal: int = 0) -> None:
    ptrace(PTRACE_CONT, pid, 0, signal)


def detach(pid: int, signal: int = 0) -> None:
    ptrace(PTRACE_DETACH, pid, 0, signal)


def get_event_msg(pid: int) -> int:
    message = ctypes.c_ulong()
    ptrace(PTRACE_GETEVENTMSG, pid, 0, ctypes.addressof(message))
    return message.value


def _peek(request: int, pid: int, addr: int) -> int:
    """A word of the tracee's memory (a signed C long: -1 is a word too, told by errno)."""
    ctypes.set_errno(0)
    word: int = _ptrace(request, pid, addr, 0)
    if word == -1 and (code := ctypes.get_errno()):
        raise PtraceError(f"ptrace({request}, {pid}, {addr:#x}): {os.strerror(code)}", errno=code, pid=pid)
    return word


def peekdata(pid: int, addr: int) -> int:
    return _peek(PTRACE_PEEKDATA, pid, addr)


def peektext(pid: int, addr: int) -> int:
    return _peek(PTRACE_PEEKTEXT, pid, addr)


def seize(pid: int, options: int) -> None:
    ptrace(PTRACE_SEIZE, pid, 0, options)


def interrupt(pid: int) -> None:
    ptrace(PTRACE_INTERRUPT, pid, 0, 0)


def listen(pid: int) -> None:
    ptrace(PTRACE_LISTEN, pid, 0, 0)


WORD = ctypes.sizeof(ctypes.c_long)
_WORD_MASK = (1 << (8 * WORD)) - 1


def word_bytes(word: int) -> bytes:
    """A word read with PTRACE_PEEK* (a signed C long) as the bytes it holds in memory."""
    return (word & _WORD_MASK).to_bytes(WORD, sys.byteorder)


# kcmp(2), by machine: the tracer's own ABI (it compares two of its tracees' kernel objects).
_KCMP = {"x86_64": 312, "aarch64": 272}.get(os.uname().machine)
_KCMP_FILES, _KCMP_FS = 2, 3


# open_by_handle_at(2), by machine: the tracer's own ABI (it opens a handle a tracee passed).
_OPEN_BY_HANDLE_AT = {"x86_64": 304, "aarch64": 265}.get(os.uname().machine)
_O_PATH = 0o10000000


def file_of_handle(mount: bytes, handle: bytes) -> tuple[bytes, tuple[int, int]] | None:
    """The path and (device, inode) of the file a file handle (a struct file_handle, whole)
    names on the mount that `mount` (a tracee's fd link) is on: open_by_handle_at with O_PATH,
    which needs CAP_DAC_READ_SEARCH, as the tracee's own call does. None where it cannot."""
    if _OPEN_BY_HANDLE_AT is None:
        return None
    try:  # the kernel wants an fd opened for real, not O_PATH: a directory's or a file's only
        where = os.open(mount, _O_PATH | os.O_CLOEXEC)
    except (OSError, ValueError):
        return None
    try:
        kind = os.fstat(where).st_mode
        if not stat.S_ISDIR(kind) and not stat.S_ISREG(kind):
            return None
        mount_fd = os.open(
            b"/proc/self/fd/%d" % where, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        )
    except OSError:
        return None
    finally:
        os.close(where)
    try:
        buffer = ctypes.create_string_buffer(handle, len(handle))
        fd = libc.syscall(_OPEN_BY_HANDLE_AT, mount_fd, buffer, _O_PATH | os.O_CLOEXEC)
    finally:
        os.close(mount_fd)
    if fd < 0:
        return None
    try:
        path = os.readlink(b"/proc/self/fd/%d" % fd)
        st = os.fstat(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    if not path.startswith(b"/") or path.endswith(b" (deleted)"):
        return None
    return path, (st.st_dev, st.st_ino)


def same_fs(pid: int, other: int) -> bool | None:
    """Whether two threads share one fs_struct (their cwd and root: clone(CLONE_FS), which every
    thread of a process has unless it unshared it), by kcmp(2); None where it cannot tell (no
    kcmp in this kernel, either thread gone)."""
    return _same(pid, other, _KCMP_FS)


def same_files(pid: int, other: int) -> bool | None:
    """Whether two threads share one fd table (clone(CLONE_FILES)), as `same_fs` tells."""
    return _same(pid, other, _KCMP_FILES)


def _same(pid: int, other: int, kind: int) -> bool | None:
    if _KCMP is None:
        return None
    found = libc.syscall(_KCMP, pid, other, kind, 0, 0)
    return None if found < 0 else found == 0
