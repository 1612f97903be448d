"""One stop's syscall facts: PTRACE_GET_SYSCALL_INFO (Linux >= 5.3), or on older x86_64
kernels the same answer built from the registers."""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import types

from rotrace.tracer.linux.arch import AUDIT_ARCH_I386, AUDIT_ARCH_X86_64
from rotrace.tracer.linux.kernel import (
    PTRACE_GET_SYSCALL_INFO,
    WORD,
    PtraceError,
    peektext,
    ptrace,
    word_bytes,
)

SYSCALL_INFO_ENTRY = 1
SYSCALL_INFO_EXIT = 2
SYSCALL_INFO_SECCOMP = 3

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


def _registers() -> types.ModuleType:
    """registers.py, imported when a register is first needed (python-ptrace's package with it)."""
    from rotrace.tracer.linux import registers

    return registers


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


_COMPAT_INSNS = (b"\xcd\x80", b"\x0f\x34")  # int $0x80, sysenter: the i386 entry points


def _entered_compat(tid: int, rip: int) -> bool:
    """Was the syscall made through a 32-bit entry point (the instruction just before rip)?

    A 64-bit process keeps its 64-bit code segment when it uses `int $0x80`, so the code
    segment alone cannot tell.
    """
    start = (rip - 2) & ~(WORD - 1)
    try:
        words = b"".join(word_bytes(peektext(tid, a)) for a in range(start, rip, WORD))
    except PtraceError:
        return False
    return words[rip - 2 - start : rip - start] in _COMPAT_INSNS


def _from_registers(tid: int, seccomp_stop: bool) -> bytes:
    """PTRACE_GET_SYSCALL_INFO's answer, from PTRACE_GETREGS (x86_64 kernels before 5.3)."""
    regs = _registers().getregs(tid)
    rax = _signed(regs.rax, 64)
    if seccomp_stop:
        op = SYSCALL_INFO_SECCOMP
    else:
        op = SYSCALL_INFO_ENTRY if rax == -errno.ENOSYS else SYSCALL_INFO_EXIT
    compat = op != SYSCALL_INFO_EXIT and (regs.cs == _X86_32BIT_CS or _entered_compat(tid, regs.rip))
    arch = AUDIT_ARCH_I386 if compat else AUDIT_ARCH_X86_64
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


# The audit arch's flag of a 64-bit ABI: a 32-bit one's (i386 on x86_64) arguments are the low
# halves of the registers, which the kernel reports whole (a pointer with high bits set names,
# to the kernel, the address below 4 GiB)
_AUDIT_ARCH_64BIT = 0x80000000
_LOW_HALF = 0xFFFFFFFF


def parse_entry(raw: bytes) -> tuple[int, int, tuple[int, ...]]:
    """(arch, nr, args) of an entry or seccomp stop, each argument as the ABI's kernel takes it."""
    arch, nr, *args = _ARCH_NR_ARGS.unpack_from(raw)
    if not arch & _AUDIT_ARCH_64BIT:
        return arch, nr, tuple(a & _LOW_HALF for a in args)
    return arch, nr, tuple(args)


def parse_exit(raw: bytes) -> int:
    """The raw return value of an exit stop (negative errno on failure)."""
    rval: int = _EXIT.unpack_from(raw, _HEAD.size)[0]
    return rval


def clear_first_arg_bits(tid: int, arch: int, bits: int) -> bool:
    """Clear `bits` in the first argument of the syscall `tid` is stopped in (x86_64 and its
    i386 compat ABI); False where rotrace cannot rewrite registers."""
    if os.uname().machine != "x86_64" or arch not in (AUDIT_ARCH_X86_64, AUDIT_ARCH_I386):
        return False
    regs = _registers().getregs(tid)
    if arch == AUDIT_ARCH_X86_64:
        regs.rdi &= ~bits
    else:
        regs.rbx &= ~bits
    _registers().setregs(tid, regs)
    return True


def can_refuse() -> bool:
    """Whether `refuse` can skip a syscall on this machine."""
    return os.uname().machine == "x86_64"


def refuse(tid: int, arch: int, code: int) -> bool:
    """Skip the syscall `tid` is stopped at the entry of, which then returns -`code` (x86_64
    and its i386 compat ABI: the number -1 runs nothing); False where rotrace cannot rewrite
    registers."""
    if not can_refuse() or arch not in (AUDIT_ARCH_X86_64, AUDIT_ARCH_I386):
        return False
    regs = _registers().getregs(tid)
    regs.orig_rax = (1 << 64) - 1
    regs.rax = (1 << 64) - code
    _registers().setregs(tid, regs)
    return True
