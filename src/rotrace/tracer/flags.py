"""Symbolic names for the flag arguments rotrace records, formatted the way strace prints them."""

from __future__ import annotations

from functools import lru_cache

from rotrace.tracer.linux.arch import SyscallTable

_AT_FLAGS = (
    ("AT_SYMLINK_NOFOLLOW", 0x100),
    ("AT_REMOVEDIR", 0x200),
    ("AT_SYMLINK_FOLLOW", 0x400),
    ("AT_NO_AUTOMOUNT", 0x800),
    ("AT_EMPTY_PATH", 0x1000),
)
# faccessat2's: its 0x200 is AT_EACCESS (unlinkat's AT_REMOVEDIR elsewhere)
_ACCESS_FLAGS = (("AT_SYMLINK_NOFOLLOW", 0x100), ("AT_EACCESS", 0x200), ("AT_EMPTY_PATH", 0x1000))
_RENAME_FLAGS = (("RENAME_NOREPLACE", 1), ("RENAME_EXCHANGE", 2), ("RENAME_WHITEOUT", 4))


def _names(value: int, table: tuple[tuple[str, int], ...]) -> list[str]:
    names = []
    for name, bit in table:
        if value & bit:
            names.append(name)
            value &= ~bit
    if value:
        names.append(hex(value))
    return names


# strace's order (xlat/open_mode_flags.in): combined flags come before their parts, so
# O_SYNC wins over __O_SYNC|O_DSYNC and O_TMPFILE over __O_TMPFILE|O_DIRECTORY.
_OPEN_ORDER = (
    ("O_CREAT", ("O_CREAT",)),
    ("O_EXCL", ("O_EXCL",)),
    ("O_NOCTTY", ("O_NOCTTY",)),
    ("O_TRUNC", ("O_TRUNC",)),
    ("O_APPEND", ("O_APPEND",)),
    ("O_NONBLOCK", ("O_NONBLOCK",)),
    ("O_SYNC", ("__O_SYNC", "O_DSYNC")),
    ("__O_SYNC", ("__O_SYNC",)),
    ("O_DSYNC", ("O_DSYNC",)),
    ("O_DIRECT", ("O_DIRECT",)),
    ("O_LARGEFILE", ("O_LARGEFILE",)),
    ("O_NOFOLLOW", ("O_NOFOLLOW",)),
    ("O_NOATIME", ("O_NOATIME",)),
    ("O_CLOEXEC", ("O_CLOEXEC",)),
    ("O_PATH", ("O_PATH",)),
    ("O_TMPFILE", ("__O_TMPFILE", "O_DIRECTORY")),
    ("__O_TMPFILE", ("__O_TMPFILE",)),
    ("O_DIRECTORY", ("O_DIRECTORY",)),
    ("FASYNC", ("O_ASYNC",)),
)


@lru_cache(maxsize=1024)
def open_flags(table: SyscallTable, value: int) -> str:
    """`O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC`, exactly as strace prints it."""
    bits = table.open_flags
    names = [("O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE")[value & 3]]
    rest = value & ~3
    for name, parts in _OPEN_ORDER:
        mask = 0
        for part in parts:
            mask |= bits[part]
        if mask and rest & mask == mask:
            names.append(name)
            rest &= ~mask
    if rest:
        names.append(hex(rest))
    return "|".join(names)


@lru_cache(maxsize=256)
def at_flags(value: int) -> str | None:
    return "|".join(_names(value, _AT_FLAGS)) or None


@lru_cache(maxsize=16)
def access_flags(value: int) -> str | None:
    return "|".join(_names(value, _ACCESS_FLAGS)) or None


@lru_cache(maxsize=16)
def rename_flags(value: int) -> str | None:
    return "|".join(_names(value, _RENAME_FLAGS)) or None
