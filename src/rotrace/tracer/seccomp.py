"""The seccomp filter that makes the tracee stop only for the syscalls rotrace decodes.

A tiny classic-BPF assembler (labels, forward jumps) builds the program; `install` loads it
in the child just before exec. Calls from an ABI the filter does not know are trapped, never
silently allowed, so a 32-bit `int 0x80` call from a 64-bit process cannot slip past.
"""

from __future__ import annotations

import ctypes
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from rotrace.tracer.linux.arch import Machine, SyscallTable
from rotrace.tracer.linux.kernel import libc
from rotrace.tracer.syscalls import SPECS

# Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_JSET_K = 0x45
BPF_RET_K = 0x06

SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_TRACE = 0x7FF00000

# struct seccomp_data offsets.
OFF_NR = 0
OFF_ARCH = 4
OFF_ARGS = 16

_INSN = struct.Struct("=HBBI")


@dataclass(frozen=True, slots=True)
class Insn:
    code: int
    jt: int
    jf: int
    k: int


class Assembler:
    """Classic BPF with symbolic forward jump targets, resolved by `assemble`."""

    def __init__(self) -> None:
        self._code: list[tuple[int, str | None, str | None, int]] = []
        self._labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        self._labels[name] = len(self._code)

    def load(self, offset: int) -> None:
        self._code.append((BPF_LD_W_ABS, None, None, offset))

    def jump(self, code: int, k: int, jt: str | None, jf: str | None) -> None:
        """Conditional jump; a None target means the next instruction."""
        self._code.append((code, jt, jf, k))

    def ret(self, value: int) -> None:
        self._code.append((BPF_RET_K, None, None, value))

    def assemble(self) -> list[Insn]:
        out = []
        for pc, (code, jt, jf, k) in enumerate(self._code):
            out.append(Insn(code, self._offset(pc, jt), self._offset(pc, jf), k))
        return out

    def _offset(self, pc: int, target: str | None) -> int:
        if target is None:
            return 0
        off = self._labels[target] - pc - 1
        if not 0 <= off <= 255:
            raise ValueError(f"BPF jump from {pc} to {target!r} is out of range ({off})")
        return off


def _arg_low_word(index: int) -> int:
    """Offset of the low 32 bits of syscall argument `index` (flags are ints)."""
    return OFF_ARGS + 8 * index + (4 if sys.byteorder == "big" else 0)


def _table_block(asm: Assembler, table: SyscallTable, all_opens: bool, x32_bit: int | None) -> None:
    tag = table.name
    asm.label(tag)
    asm.load(OFF_NR)
    if x32_bit is not None:
        asm.jump(BPF_JGE_K, x32_bit, "trace", None)
    checked: dict[tuple[int, int, tuple[int, ...]], list[int]] = {}
    for name, nr in sorted(table.numbers.items(), key=lambda item: item[1]):
        spec = SPECS.get(name)
        if spec is None:
            continue
        if spec.trap_arg is None or (all_opens and spec.family == "open"):
            asm.jump(BPF_JEQ_K, nr, "trace", None)
        else:
            checked.setdefault((spec.trap_arg, spec.trap_mask, spec.trap_values), []).append(nr)
    groups = sorted(checked.items())
    for i, (_, nrs) in enumerate(groups):
        for nr in nrs:
            asm.jump(BPF_JEQ_K, nr, f"{tag}_check{i}", None)
    asm.ret(SECCOMP_RET_ALLOW)
    for i, ((argidx, mask, values), _) in enumerate(groups):
        asm.label(f"{tag}_check{i}")
        asm.load(_arg_low_word(argidx))
        if mask:
            asm.jump(BPF_JSET_K, mask, "trace", None)
        for value in values:
            asm.jump(BPF_JEQ_K, value, "trace", None)
        asm.ret(SECCOMP_RET_ALLOW)


def build_filter(machine: Machine, all_opens: bool) -> list[Insn]:
    """The program: dispatch on arch, then trap rotrace's syscalls, allow the rest.

    In the default (writes-only) mode, open/openat trap only when their flags ask for a
    write; openat2 keeps its flags in memory, so it always traps.
    """
    asm = Assembler()
    tables = machine.tables()
    asm.load(OFF_ARCH)
    for table in tables:
        asm.jump(BPF_JEQ_K, table.audit_arch, table.name, None)
    asm.ret(SECCOMP_RET_TRACE)  # an ABI we cannot decode: trap it, never allow it silently
    for table in tables:
        x32 = machine.x32_bit if table is machine.native else None
        _table_block(asm, table, all_opens, x32)
    asm.label("trace")
    asm.ret(SECCOMP_RET_TRACE)
    return asm.assemble()


def encode(program: Iterable[Insn]) -> bytes:
    return b"".join(_INSN.pack(i.code, i.jt, i.jf, i.k) for i in program)


PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def no_new_privs() -> int:
    """Set no_new_privs (needed by an unprivileged seccomp filter or Landlock): 0, or the errno."""
    return 0 if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 else ctypes.get_errno()


def install(program_bytes: bytes) -> int:
    """Load the filter into the calling process; 0 on success, else the errno.

    NO_NEW_PRIVS is required for an unprivileged process to install a filter (and strace
    sets it too): setuid programs in the trace then run without their privilege.
    """
    libc.prctl.argtypes = (
        ctypes.c_int,
        ctypes.c_ulong,
        ctypes.c_ulong,
        ctypes.c_ulong,
        ctypes.c_ulong,
    )
    buf = ctypes.create_string_buffer(program_bytes, len(program_bytes))
    prog = _SockFprog(len(program_bytes) // _INSN.size, ctypes.addressof(buf))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return ctypes.get_errno()
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
        return ctypes.get_errno()
    return 0
