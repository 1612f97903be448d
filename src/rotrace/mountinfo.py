"""/proc/self/mountinfo's mount points: where the tracer's placements and the report's look at a
database ask which paths are mounted on (rotrace's view, its mount namespace)."""

from __future__ import annotations


def unescape(field: bytes) -> bytes:
    """A mountinfo path: spaces, tabs, newlines and backslashes are written as octal."""
    if b"\\" not in field:
        return field
    out, i = bytearray(), 0
    while i < len(field):
        if field[i : i + 1] == b"\\" and field[i + 1 : i + 4].isdigit():
            out.append(int(field[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return bytes(out)


def mount_points(lines: list[bytes] | set[bytes]) -> set[bytes]:
    """The mount points (the fifth field) of mountinfo's `lines`."""
    return {unescape(line.split(b" ")[4]) for line in lines if line.count(b" ") >= 4}


def current_mount_points() -> set[bytes]:
    """The mount points of rotrace's mount namespace now (none where mountinfo cannot be read)."""
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            return mount_points(f.read().splitlines())
    except OSError:
        return set()
