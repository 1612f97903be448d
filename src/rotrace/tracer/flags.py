"""Symbolic names for the flag arguments rotrace records, formatted the way strace prints them."""

from __future__ import annotations

from functools import lru_cache

from rotrace.tracer.arch import SyscallTable

_AT_FLAGS = (
    ("AT_SYMLINK_NOFOLLOW", 0x100),
    ("AT_REMOVEDIR", 0x200),
    ("AT_SYMLINK_FOLLOW", 0x400),
    ("AT_NO_AUTOMOUNT", 0x800),
    ("AT_EMPTY_PATH", 0x1000),
)
_RENAME_FLAGS = (("RENAME_NOREPLACE", 1), ("RENAME_EXCHANGE", 2), ("RENAME_WHITEOUT", 4))

AT_REMOVEDIR = 0x200
AT_EMPTY_PATH = 0x1000


def _names(value: int, table: tuple[tuple[str, int], ...]) -> list[str]:
    names = []
    for name, bit in table:
        if value & bit:
            names.append(name)
            value &= ~bit
    if value:
        names.append(hex(value))
    return names


@lru_cache(maxsize=1024)
def open_flags(table: SyscallTable, value: int) -> str:
    """`O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC`, as strace prints it."""
    bits = table.open_flags
    names = [("O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE")[value & 3]]
    rest = value & ~3
    combined = (
        ("O_SYNC", bits["__O_SYNC"] | bits["O_DSYNC"]),
        ("O_TMPFILE", bits["__O_TMPFILE"] | bits["O_DIRECTORY"]),
    )
    tail = []
    for name, mask in combined:
        if rest & mask == mask:
            tail.append(name)
            rest &= ~mask
    for name, bit in sorted(bits.items(), key=lambda nb: nb[1]):
        if not name.startswith("__") and rest & bit:
            names.append(name)
            rest &= ~bit
    names.extend(tail)
    if rest:
        names.append(hex(rest))
    return "|".join(names)


@lru_cache(maxsize=256)
def at_flags(value: int) -> str | None:
    return "|".join(_names(value, _AT_FLAGS)) or None


@lru_cache(maxsize=16)
def rename_flags(value: int) -> str | None:
    return "|".join(_names(value, _RENAME_FLAGS)) or None
