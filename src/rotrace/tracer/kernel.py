"""The kernel interface the tracer needs, on top of python-ptrace's low-level bindings.

python-ptrace supplies the ptrace(2) call and the classic requests; the newer requests
(SEIZE, LISTEN, GET_SYSCALL_INFO) and process_vm_readv are declared here.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys
import types


def _preload_libc() -> None:
    """Hand python-ptrace the C library this process already has loaded.

    Its ptrace.ctypes_libc calls ctypes.util.find_library("c"), which imports subprocess and
    tempfile and runs ldconfig: about 10 ms of every rotrace start. CDLL(None) resolves the
    same symbols (ptrace among them) from the libc Python itself is linked with.
    """
    if "ptrace.ctypes_libc" not in sys.modules:
        module = types.ModuleType("ptrace.ctypes_libc")
        module.LIBC_FILENAME = None  # type: ignore[attr-defined]
        module.libc = ctypes.CDLL(None, use_errno=True)  # type: ignore[attr-defined]
        sys.modules["ptrace.ctypes_libc"] = module


_preload_libc()

from ptrace import PtraceError  # noqa: E402
from ptrace.binding import func as _pt  # noqa: E402

PTRACE_SEIZE = 0x4206
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

PTRACE_EVENT_FORK = 1
PTRACE_EVENT_VFORK = 2
PTRACE_EVENT_CLONE = 3
PTRACE_EVENT_EXEC = 4
PTRACE_EVENT_EXIT = 6
PTRACE_EVENT_SECCOMP = 7
PTRACE_EVENT_STOP = 128

SYSCALL_INFO_ENTRY = 1
SYSCALL_INFO_EXIT = 2
SYSCALL_INFO_SECCOMP = 3

WALL = 0x40000000

__all__ = ["PtraceError"]

ptrace = _pt.ptrace
resume_syscall = _pt.ptrace_syscall
resume_cont = _pt.ptrace_cont
get_event_msg = _pt.ptrace_geteventmsg
detach = _pt.ptrace_detach


def seize(pid: int, options: int) -> None:
    ptrace(PTRACE_SEIZE, pid, 0, options)


def listen(pid: int) -> None:
    ptrace(PTRACE_LISTEN, pid, 0, 0)


_INFO_SIZE = 88
_HEAD = struct.Struct("=B3xIQQ")
_ENTRY = struct.Struct("=Q6Q")
_EXIT = struct.Struct("=qB")


class SyscallInfo:
    """A reusable buffer for PTRACE_GET_SYSCALL_INFO (Linux >= 5.3): one ptrace call per stop.

    The first byte of what `read` returns is the stop's kind (entry, exit or seccomp). On an
    older x86_64 kernel (the request fails with EIO) the same answer is built from the
    registers instead: orig_rax and the argument registers of the ABI the code segment
    says is in use, rax at exit (-ENOSYS there marks a syscall-entry stop).
    """

    use_registers = False

    def __init__(self) -> None:
        self._buf = ctypes.create_string_buffer(_INFO_SIZE)
        self._addr = ctypes.addressof(self._buf)

    def read(self, tid: int, seccomp_stop: bool = False) -> bytes:
        if not self.use_registers:
            try:
                ptrace(PTRACE_GET_SYSCALL_INFO, tid, _INFO_SIZE, self._addr)
                return self._buf.raw
            except PtraceError as exc:
                if exc.errno != errno.EIO or os.uname().machine != "x86_64":
                    raise
                self.use_registers = True
        return _from_registers(tid, seccomp_stop)


_X86_32BIT_CS = 0x23
_AUDIT_ARCH_X86_64 = 0xC000003E
_AUDIT_ARCH_I386 = 0x40000003


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


_COMPAT_INSNS = (b"\xcd\x80", b"\x0f\x34")  # int $0x80, sysenter: the i386 entry points


def _entered_compat(tid: int, rip: int) -> bool:
    """Was the syscall made through a 32-bit entry point (the instruction just before rip)?

    A 64-bit process keeps its 64-bit code segment when it uses `int $0x80`, so the code
    segment alone cannot tell.
    """
    start = (rip - 2) & ~(_WORD - 1)
    try:
        words = b"".join(
            (_pt.ptrace_peektext(tid, a) & ((1 << (8 * _WORD)) - 1)).to_bytes(_WORD, sys.byteorder)
            for a in range(start, rip, _WORD)
        )
    except PtraceError:
        return False
    return words[rip - 2 - start : rip - start] in _COMPAT_INSNS


def _from_registers(tid: int, seccomp_stop: bool) -> bytes:
    """PTRACE_GET_SYSCALL_INFO's answer, from PTRACE_GETREGS (x86_64 kernels before 5.3)."""
    regs = _pt.ptrace_getregs(tid)
    rax = _signed(regs.rax, 64)
    if seccomp_stop:
        op = SYSCALL_INFO_SECCOMP
    else:
        op = SYSCALL_INFO_ENTRY if rax == -errno.ENOSYS else SYSCALL_INFO_EXIT
    compat = op != SYSCALL_INFO_EXIT and (regs.cs == _X86_32BIT_CS or _entered_compat(tid, regs.rip))
    arch = _AUDIT_ARCH_I386 if compat else _AUDIT_ARCH_X86_64
    head = _HEAD.pack(op, arch, regs.rip, regs.rsp)
    if op == SYSCALL_INFO_EXIT:
        body = _EXIT.pack(rax, rax < 0)
    elif compat:
        args = (regs.rbx, regs.rcx, regs.rdx, regs.rsi, regs.rdi, regs.rbp)
        body = _ENTRY.pack(regs.orig_rax & 0xFFFFFFFF, *(a & 0xFFFFFFFF for a in args))
    else:
        body = _ENTRY.pack(regs.orig_rax, regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9)
    return (head + body).ljust(_INFO_SIZE, b"\0")


_ARCH_NR_ARGS = struct.Struct("=4xI16xQ6Q")  # struct ptrace_syscall_info: arch, entry.nr, entry.args


def parse_entry(raw: bytes) -> tuple[int, int, tuple[int, ...]]:
    """(arch, nr, args) of an entry or seccomp stop."""
    arch, nr, *args = _ARCH_NR_ARGS.unpack_from(raw)
    return arch, nr, tuple(args)


def parse_exit(raw: bytes) -> int:
    """The raw return value of an exit stop (negative errno on failure)."""
    rval: int = _EXIT.unpack_from(raw, _HEAD.size)[0]
    return rval


class _IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


_libc = ctypes.CDLL(None, use_errno=True)
_process_vm_readv = _libc.process_vm_readv
_process_vm_readv.argtypes = (
    ctypes.c_int,
    ctypes.POINTER(_IoVec),
    ctypes.c_ulong,
    ctypes.POINTER(_IoVec),
    ctypes.c_ulong,
    ctypes.c_ulong,
)
_process_vm_readv.restype = ctypes.c_ssize_t

PATH_MAX = 4096
_PAGE = os.sysconf("SC_PAGE_SIZE")
_WORD = ctypes.sizeof(ctypes.c_long)
_FIRST_READ = 256


class MemoryReader:
    """Reads NUL-terminated strings and small structs out of a stopped tracee.

    The fast path is pread(2) on /proc/PID/mem (one cached fd per process: two system calls
    fewer than ctypes' process_vm_readv per string, and no ctypes marshalling). A stale fd
    (the process exec'd or exited) reads nothing and is reopened once; where /proc/PID/mem is
    refused, process_vm_readv, and then PTRACE_PEEKDATA word by word.
    """

    MAX_FDS = 128

    def __init__(self) -> None:
        self._fds: dict[int, int] = {}
        self._buf = ctypes.create_string_buffer(PATH_MAX + _PAGE)
        self._local = _IoVec(ctypes.addressof(self._buf), 0)
        self._remote = _IoVec(0, 0)
        self._use_mem = True
        self._use_readv = True

    def _mem_fd(self, pid: int) -> int | None:
        fd = self._fds.get(pid)
        if fd is None:
            try:
                fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
            except PermissionError:  # a hardened kernel: stop trying, use the fallbacks
                self._use_mem = False
                return None
            except OSError:  # the process is gone
                return None
            if len(self._fds) >= self.MAX_FDS:
                oldest = next(iter(self._fds))
                os.close(self._fds.pop(oldest))
            self._fds[pid] = fd
        return fd

    def forget(self, pid: int) -> None:
        fd = self._fds.pop(pid, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def _pread(self, pid: int, addr: int, size: int) -> bytes | None:
        for _attempt in (1, 2):
            fd = self._mem_fd(pid)
            if fd is None:
                return None
            try:
                data = os.pread(fd, size, addr)
            except OSError:
                data = b""
            if data:
                return data
            self.forget(pid)  # stale (exec, exit) or unreadable: try a fresh fd once
        return None

    def _readv(self, pid: int, addr: int, size: int) -> int:
        self._local.len = size
        self._remote.base = addr
        self._remote.len = size
        n: int = _process_vm_readv(pid, self._local, 1, self._remote, 1, 0)
        if n < 0:
            err = ctypes.get_errno()
            if err in (errno.EPERM, errno.ENOSYS):
                self._use_readv = False
            return -err
        return n

    def _chunk(self, pid: int, addr: int, size: int) -> bytes | None:
        """Up to `size` bytes at addr (fewer at the end of a mapping), None if none readable."""
        if self._use_mem:
            data = self._pread(pid, addr, size)
            if data is not None:
                return data
        if self._use_readv:
            n = self._readv(pid, addr, size)
            if n > 0:
                return ctypes.string_at(self._buf, n)
            if n == 0 or self._use_readv:
                return None
        return self._peek(pid, addr, size)

    def read(self, pid: int, addr: int, size: int) -> bytes | None:
        """Exactly `size` bytes at `addr`, or None if they are not all readable."""
        data = self._chunk(pid, addr, size)
        return data if data is not None and len(data) == size else None

    def cstring(self, pid: int, addr: int) -> bytes | None:
        """The NUL-terminated string at `addr` (at most PATH_MAX bytes), None if unreadable."""
        if addr == 0:
            return None
        out = b""
        size = _FIRST_READ
        while len(out) < PATH_MAX:
            chunk = self._chunk(pid, addr, min(size, _PAGE - addr % _PAGE))
            if not chunk:
                return out or None
            end = chunk.find(b"\0")
            if end >= 0:
                return out + chunk[:end]
            out += chunk
            addr += len(chunk)
            size = _PAGE
        return out

    @staticmethod
    def _peek(pid: int, addr: int, size: int) -> bytes | None:
        start = addr - addr % _WORD
        data = bytearray()
        try:
            for word_addr in range(start, addr + size, _WORD):
                word = _pt.ptrace_peekdata(pid, word_addr)
                data += (word & ((1 << (8 * _WORD)) - 1)).to_bytes(_WORD, sys.byteorder)
                if b"\0" in data[addr - start :]:
                    break
        except PtraceError:
            if len(data) <= addr - start:
                return None
        return bytes(data[addr - start : addr - start + size])
