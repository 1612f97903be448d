"""Landlock (Linux >= 5.13): the traced command may write only where the allowlist says.

The ruleset is built in rotrace (each rule needs an open fd of an existing path) and applied by
the child just before exec (landlock_restrict_self, under no_new_privs). Reads and execution
are not handled, so they stay allowed everywhere; every write right the kernel's ABI knows is
handled, and granted beneath each writable path. A denied write fails with EACCES (EXDEV for a
rename or link across the boundary), and the tracer records it like any other.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import struct
from dataclasses import dataclass, field

from rotrace.tracer.linux.kernel import libc

# Syscall numbers are unified (>= 424) on every architecture.
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

WRITE_FILE, REMOVE_DIR, REMOVE_FILE = 1 << 1, 1 << 4, 1 << 5
MAKE = {"char": 1 << 6, "dir": 1 << 7, "reg": 1 << 8, "sock": 1 << 9, "fifo": 1 << 10, "block": 1 << 11,
        "sym": 1 << 12}  # fmt: skip
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15

_FILE_RIGHTS = WRITE_FILE | TRUNCATE | IOCTL_DEV  # the rights a rule on a file (not a directory) can hold
NOT_COVERED = "chmod, chown, utime, extended attributes and inode flags"  # not Landlock rights

_syscall = libc.syscall
_syscall.restype = ctypes.c_long


class LandlockUnavailable(OSError):
    pass


def abi_version() -> int:
    """The kernel's Landlock ABI; LandlockUnavailable when there is none."""
    version = _syscall(ctypes.c_long(_CREATE_RULESET), None, ctypes.c_size_t(0),
                       ctypes.c_uint32(_CREATE_RULESET_VERSION))  # fmt: skip
    if version < 0:
        err = ctypes.get_errno()
        why = "disabled at boot (not in the lsm= list)" if err == errno.EOPNOTSUPP else "not in this kernel"
        raise LandlockUnavailable(err, f"Landlock is {why} (Linux >= 5.13 with CONFIG_SECURITY_LANDLOCK)")
    return int(version)


def write_rights(abi: int) -> int:
    rights = WRITE_FILE | REMOVE_DIR | REMOVE_FILE
    for bit in MAKE.values():
        rights |= bit
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


@dataclass
class Ruleset:
    """An open ruleset fd (for the child to apply), and what it is made of."""

    fd: int
    abi: int
    writable: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why a path could not be a rule

    def close(self) -> None:
        os.close(self.fd)


def build(paths: list[str]) -> Ruleset:
    """A ruleset that handles every write right and grants them beneath each of `paths`."""
    abi = abi_version()
    handled = write_rights(abi)
    attr = struct.pack("=Q", handled)
    fd = _syscall(ctypes.c_long(_CREATE_RULESET), ctypes.c_char_p(attr), ctypes.c_size_t(len(attr)),
                  ctypes.c_uint32(0))  # fmt: skip
    if fd < 0:
        raise LandlockUnavailable(ctypes.get_errno(), "landlock_create_ruleset failed")
    ruleset = Ruleset(int(fd), abi)
    for path in paths:
        try:
            target = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError as exc:
            ruleset.skipped.append(f"{path}: {exc.strerror}")
            continue
        try:
            is_dir = stat.S_ISDIR(os.fstat(target).st_mode)
            allowed = handled if is_dir else handled & _FILE_RIGHTS
            rule = struct.pack("=Qi", allowed, target)
            if _syscall(ctypes.c_long(_ADD_RULE), ctypes.c_int(fd), ctypes.c_int(_RULE_PATH_BENEATH),
                        ctypes.c_char_p(rule), ctypes.c_uint32(0)) < 0:  # fmt: skip
                ruleset.skipped.append(f"{path}: {os.strerror(ctypes.get_errno())}")
            else:
                ruleset.writable.append(path)
        finally:
            os.close(target)
    return ruleset


def restrict_self(ruleset_fd: int) -> int:
    """In the child, under no_new_privs: 0, or the errno."""
    if _syscall(ctypes.c_long(_RESTRICT_SELF), ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)) < 0:
        return ctypes.get_errno() or errno.EPERM
    return 0
