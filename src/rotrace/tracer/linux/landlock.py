"""Landlock (Linux >= 5.13): the traced command may write only where the allowlist says.

The ruleset is built in rotrace (each rule needs an open fd of an existing path) and applied by
the child just before exec (landlock_restrict_self, under no_new_privs). Reads and execution
are not handled, so they stay allowed everywhere; every write right the kernel's ABI knows is
handled, and granted beneath each writable path. A denied write fails with EACCES (EXDEV for a
rename or link across the boundary), and the tracer records it like any other.

A rule is on an inode and covers what is below it, so it is never wider than the path it was
asked for: a path reached through a symbolic link (in any component) gets no rule (the link's
target is another place, which the allowlist does not name), nor a file with other names (hard
links), and an exact path (`=PATH`) gets a rule only if it is not a directory. From ABI 6 the
command is also scoped: it cannot signal a process outside its domain, nor connect to an
abstract Unix socket one of them listens on.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
import struct

from rotrace.tracer.linux.kernel import own

# Syscall numbers are unified (>= 424) on every architecture.
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

WRITE_FILE, REMOVE_DIR, REMOVE_FILE = 1 << 1, 1 << 4, 1 << 5
MAKE = {"char": 1 << 6, "dir": 1 << 7, "reg": 1 << 8, "sock": 1 << 9, "fifo": 1 << 10, "block": 1 << 11,
        "sym": 1 << 12}  # fmt: skip
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15

_FILE_RIGHTS = WRITE_FILE | TRUNCATE | IOCTL_DEV  # the rights a rule on a file (not a directory) can hold
# Handled, never granted: a device node made in an allowed directory (as root) and opened would
# reach the whole disk (or memory) through it. A container's tmpfs (nodev) opens none either.
_DEVICES = MAKE["char"] | MAKE["block"]
NOT_COVERED = "chmod, chown, utime, extended attributes and inode flags"  # not Landlock rights
# ABI 6: what the domain may not reach outside itself.
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

_syscall = own("syscall")
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


class Ruleset:
    """An open ruleset fd (for the child to apply), and what it is made of."""

    __slots__ = ("abi", "fd", "granted", "scoped", "skipped", "writable")

    def __init__(self, fd: int, abi: int, scoped: int = 0) -> None:
        self.fd = fd
        self.abi = abi
        self.writable: list[str] = []
        self.skipped: list[str] = []  # why a path could not be a rule
        self.scoped = scoped
        # each path a rule grants -> the fd the rule was made of, kept to the run's end: the
        # rule is on that file, wherever a process outside the run renames it (`procfs.moved`)
        self.granted: dict[str, int] = {}

    def close(self) -> None:
        """The ruleset's fd closed (the command has its domain); `granted`'s are kept."""
        os.close(self.fd)

    def release(self) -> None:
        for fd in self.granted.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.granted.clear()

    def notes(self) -> list[str]:
        """What the report says of the enforcement: what it is, and what it leaves out."""
        notes = [f"enforced: no Landlock rule for {why}; writes there are denied" for why in self.skipped]
        scope = (
            "; the command could not signal, nor connect to an abstract Unix socket of, a process outside it"
            if self.scoped
            else f"; no signal or abstract socket scoping (Landlock ABI {self.abi} < 6)"
        )
        notes.append(
            f"enforced with Landlock (ABI {self.abi}): the kernel refuses writes outside the allowlist"
            f" (EACCES, EXDEV), and device nodes anywhere, but not {NOT_COVERED}, nor writes through a"
            f" file descriptor opened before the command started or sent to it by a process outside{scope}"
        )
        return notes


def _create(handled: int, scoped: int) -> int:
    # struct landlock_ruleset_attr grew with the ABI; an older kernel refuses a longer one
    attr = struct.pack("=QQQ", handled, 0, scoped) if scoped else struct.pack("=Q", handled)
    fd = _syscall(ctypes.c_long(_CREATE_RULESET), ctypes.c_char_p(attr), ctypes.c_size_t(len(attr)),
                  ctypes.c_uint32(0))  # fmt: skip
    if fd < 0:
        raise LandlockUnavailable(ctypes.get_errno(), "landlock_create_ruleset failed")
    return int(fd)


def scopes_only() -> Ruleset | None:
    """A ruleset that handles no file right, only the ABI 6 scopes: for the read-only sandbox,
    which shares the host's network namespace (the command keeps the network), and with it
    the abstract Unix sockets of the host's processes (an X server, a session bus), which a
    container's own namespace would not show. None when the kernel has no scopes."""
    try:
        abi = abi_version()
    except LandlockUnavailable:
        return None
    if abi < 6:
        return None
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    try:
        return Ruleset(_create(0, scoped), abi, scoped=scoped)
    except LandlockUnavailable:
        return None


def build(paths: list[str]) -> Ruleset:
    """A ruleset that handles every write right and grants them beneath each of `paths` (a
    path written `=PATH`: that file alone, never a directory's tree)."""
    abi = abi_version()
    handled = write_rights(abi)
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    ruleset = Ruleset(_create(handled, scoped), abi, scoped=scoped)
    for entry in paths:
        exact = entry.startswith("=")
        path = entry.removeprefix("=")
        try:
            target = open_no_symlinks(path)
        except FileNotFoundError:
            # a plan's mount point the command itself creates: a runtime would make it, Landlock cannot
            ruleset.skipped.append(
                f"{entry}: it does not exist yet, and a rule needs an existing path "
                "(create it before the run)"
            )
            continue
        except OSError as exc:
            ruleset.skipped.append(f"{entry}: {exc.strerror}")
            continue
        try:
            st = os.fstat(target)
            is_dir = stat.S_ISDIR(st.st_mode)
            if exact and is_dir:
                ruleset.skipped.append(
                    f"{entry}: a directory, and a Landlock rule on it would grant everything below it"
                )
                continue
            if not is_dir and st.st_nlink > 1:
                ruleset.skipped.append(
                    f"{entry}: the file has {st.st_nlink} names (hard links), and a Landlock rule on it"
                    " would grant it under each of them"
                )
                continue
            allowed = handled & ~_DEVICES if is_dir else handled & _FILE_RIGHTS
            rule = struct.pack("=Qi", allowed, target)
            if _syscall(ctypes.c_long(_ADD_RULE), ctypes.c_int(ruleset.fd), ctypes.c_int(_RULE_PATH_BENEATH),
                        ctypes.c_char_p(rule), ctypes.c_uint32(0)) < 0:  # fmt: skip
                ruleset.skipped.append(f"{entry}: {os.strerror(ctypes.get_errno())}")
            else:
                ruleset.writable.append(entry)
                if is_dir:  # (a file's name may go with the file: a log rotated, a temporary removed)
                    ruleset.granted.setdefault(path, target)
                    target = -1
        finally:
            if target >= 0:
                os.close(target)
    return ruleset


class ThroughSymlink(OSError):
    """A path that reaches its place through a symbolic link."""


def open_no_symlinks(path: str) -> int:
    """An O_PATH fd of the absolute `path`, opened one component at a time with O_NOFOLLOW, so
    that no symbolic link in it is followed (ThroughSymlink says which one there is)."""
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    walked = ""
    try:
        for name in (part for part in path.split("/") if part):
            child = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = child
            walked += "/" + name
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                try:
                    to = os.readlink(walked)
                except OSError:
                    to = "?"
                raise ThroughSymlink(
                    errno.ELOOP,
                    f"{walked} is a symbolic link (to {to}): a rule would grant where it points, which"
                    " the allowlist does not name",
                )
    except BaseException:
        os.close(fd)
        raise
    return fd


def restrict_self(ruleset_fd: int) -> int:
    """In the child, under no_new_privs: 0, or the errno."""
    if _syscall(ctypes.c_long(_RESTRICT_SELF), ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)) < 0:
        return ctypes.get_errno() or errno.EPERM
    return 0
