"""Per-architecture facts: syscall numbers, audit arch ids, open(2) flag bits.

Nothing outside this module hard-codes a syscall number. Each machine names its native ABI
and, where the kernel runs them, its compat ABI (i386 on x86_64, arm on aarch64), because a
64-bit process can still enter the 32-bit table (`int 0x80`).
"""

from __future__ import annotations

import os
from typing import NamedTuple

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7

# Syscalls numbered >= 424 share one number on every architecture.
IO_URING = ("io_uring_setup", "io_uring_enter", "io_uring_register")
_UNIFIED = {
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "clone3": 435,
    "openat2": 437,
    "mount_setattr": 442,
    "faccessat2": 439,
    "fchmodat2": 452,
    "setxattrat": 463,
    "removexattrat": 466,
    "open_tree_attr": 467,
    "file_setattr": 469,
}

_X86_64 = {
    "open": 2, "creat": 85, "openat": 257,
    "mkdir": 83, "mkdirat": 258,
    "rename": 82, "renameat": 264, "renameat2": 316,
    "unlink": 87, "unlinkat": 263, "rmdir": 84,
    "link": 86, "linkat": 265, "symlink": 88, "symlinkat": 266,
    "truncate": 76,
    "chmod": 90, "fchmod": 91, "fchmodat": 268,
    "chown": 92, "lchown": 94, "fchown": 93, "fchownat": 260,
    "utime": 132, "utimes": 235, "utimensat": 280, "futimesat": 261,
    "mknod": 133, "mknodat": 259,
    "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190,
    "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199,
    "ioctl": 16, "clone": 56, "bind": 49, "open_by_handle_at": 304, "seccomp": 317,
    "acct": 163, "swapon": 167,
    "chdir": 80, "fchdir": 81, "chroot": 161, "pivot_root": 155, "umount2": 166, "unshare": 272, "setns": 308,
    "mount": 165,
    "dup2": 33, "dup3": 292,
    "mq_open": 240, "mq_unlink": 241,
    "access": 21, "faccessat": 269,
    "prlimit64": 302,
}  # fmt: skip

_I386 = {
    "open": 5, "creat": 8, "openat": 295,
    "mkdir": 39, "mkdirat": 296,
    "rename": 38, "renameat": 302, "renameat2": 353,
    "unlink": 10, "unlinkat": 301, "rmdir": 40,
    "link": 9, "linkat": 303, "symlink": 83, "symlinkat": 304,
    "truncate": 92, "truncate64": 193,
    "chmod": 15, "fchmod": 94, "fchmodat": 306,
    "chown": 182, "lchown": 16, "fchown": 95,
    "chown32": 212, "lchown32": 198, "fchown32": 207, "fchownat": 298,
    "utime": 30, "utimes": 271, "utimensat": 320, "utimensat_time64": 412, "futimesat": 299,
    "mknod": 14, "mknodat": 297,
    "setxattr": 226, "lsetxattr": 227, "fsetxattr": 228,
    "removexattr": 235, "lremovexattr": 236, "fremovexattr": 237,
    "ioctl": 54, "clone": 120, "bind": 361, "socketcall": 102, "open_by_handle_at": 342, "seccomp": 354,
    "acct": 51, "swapon": 87,
    "chdir": 12, "fchdir": 133, "chroot": 61, "pivot_root": 217, "umount2": 52, "unshare": 310, "setns": 346,
    "mount": 21, "umount": 22,  # umount(2) of i386 alone: umount2 without flags
    "dup2": 63, "dup3": 330,
    "mq_open": 277, "mq_unlink": 278,
    "access": 33, "faccessat": 307,
    "prlimit64": 340,
}  # fmt: skip

# asm-generic numbering (aarch64, riscv64): only the *at variants exist.
_GENERIC = {
    "openat": 56, "mkdirat": 34, "renameat": 38, "renameat2": 276,
    "unlinkat": 35, "linkat": 37, "symlinkat": 36, "truncate": 45,
    "fchmod": 52, "fchmodat": 53, "fchown": 55, "fchownat": 54,
    "utimensat": 88, "mknodat": 33,
    "setxattr": 5, "lsetxattr": 6, "fsetxattr": 7,
    "removexattr": 14, "lremovexattr": 15, "fremovexattr": 16,
    "ioctl": 29, "clone": 220, "bind": 200, "open_by_handle_at": 265, "seccomp": 277,
    "acct": 89, "swapon": 224,
    "chdir": 49, "fchdir": 50, "chroot": 51, "pivot_root": 41, "umount2": 39, "unshare": 97, "setns": 268,
    "mount": 40,
    "dup3": 24,
    "mq_open": 180, "mq_unlink": 181,
    "faccessat": 48,
    "prlimit64": 261,
}  # fmt: skip

# open(2) flag bits that differ between architectures; the rest are shared.
_OPEN_FLAGS_COMMON = {
    "O_CREAT": 0o100,
    "O_EXCL": 0o200,
    "O_NOCTTY": 0o400,
    "O_TRUNC": 0o1000,
    "O_APPEND": 0o2000,
    "O_NONBLOCK": 0o4000,
    "O_DSYNC": 0o10000,
    "O_ASYNC": 0o20000,
    "O_NOATIME": 0o1000000,
    "O_CLOEXEC": 0o2000000,
    "O_PATH": 0o10000000,
    "__O_TMPFILE": 0o20000000,
    "__O_SYNC": 0o4000000,
}
_OPEN_FLAGS_X86 = {
    **_OPEN_FLAGS_COMMON,
    "O_DIRECT": 0o40000,
    "O_LARGEFILE": 0o100000,
    "O_DIRECTORY": 0o200000,
    "O_NOFOLLOW": 0o400000,
}
_OPEN_FLAGS_ARM64 = {
    **_OPEN_FLAGS_COMMON,
    "O_DIRECTORY": 0o40000,
    "O_NOFOLLOW": 0o100000,
    "O_DIRECT": 0o200000,
    "O_LARGEFILE": 0o400000,
}

# The shared bits the decoder and the seccomp filter test. An open is a write attempt when it
# may change the file or the directory: write access, creation, truncation, appending (the
# decoder then tells which of these opened for reading write nothing).
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2
O_ACCMODE = 0o3
O_CREAT = _OPEN_FLAGS_COMMON["O_CREAT"]
O_TRUNC = _OPEN_FLAGS_COMMON["O_TRUNC"]
O_EXCL = _OPEN_FLAGS_COMMON["O_EXCL"]
O_APPEND = _OPEN_FLAGS_COMMON["O_APPEND"]
O_TMPFILE_BIT = _OPEN_FLAGS_COMMON["__O_TMPFILE"]
WRITE_OPEN_MASK = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE_BIT
CREAT_FLAGS = O_WRONLY | O_CREAT | O_TRUNC  # creat(2) is open(O_WRONLY|O_CREAT|O_TRUNC)


class SyscallTable:
    """One ABI: its audit arch id and the numbers of the syscalls rotrace decodes (each table is
    one of a kind: equal means the same one)."""

    __slots__ = ("audit_arch", "by_number", "name", "numbers", "open_flags")

    def __init__(
        self, name: str, audit_arch: int, numbers: dict[str, int], open_flags: dict[str, int]
    ) -> None:
        self.name = name
        self.audit_arch = audit_arch
        self.numbers = numbers
        self.open_flags = open_flags
        self.by_number = {nr: n for n, nr in numbers.items()}

    def __repr__(self) -> str:
        return f"SyscallTable({self.name})"


X86_64 = SyscallTable("x86_64", AUDIT_ARCH_X86_64, {**_X86_64, **_UNIFIED}, _OPEN_FLAGS_X86)
I386 = SyscallTable("i386", AUDIT_ARCH_I386, {**_I386, **_UNIFIED}, _OPEN_FLAGS_X86)
AARCH64 = SyscallTable("aarch64", AUDIT_ARCH_AARCH64, {**_GENERIC, **_UNIFIED}, _OPEN_FLAGS_ARM64)

# x32 syscalls arrive with AUDIT_ARCH_X86_64 and this bit set in the number.
X32_SYSCALL_BIT = 0x40000000


class Machine(NamedTuple):
    """The ABIs a tracer on this machine can meet: the native one first."""

    native: SyscallTable
    compat: tuple[SyscallTable, ...]
    x32_bit: int | None

    def tables(self) -> tuple[SyscallTable, ...]:
        return (self.native, *self.compat)


MACHINES = {
    "x86_64": Machine(X86_64, (I386,), X32_SYSCALL_BIT),
    # The arm (AArch32) compat table is not decoded yet; its calls still trap (see seccomp.py).
    "aarch64": Machine(AARCH64, (), None),
}


class UnsupportedMachine(RuntimeError):
    pass


def current_machine() -> Machine:
    arch = os.uname().machine
    try:
        return MACHINES[arch]
    except KeyError:
        raise UnsupportedMachine(f"rotrace does not support the {arch} architecture yet") from None
