"""/proc/self/mountinfo's mount points: where the tracer's placements and the report's look at a
database ask which paths are mounted on (rotrace's view, its mount namespace)."""

from __future__ import annotations

import os


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


# Filesystems of the kernel's own, which a container has writable as the host does
_KERNELS = frozenset({
    b"proc", b"sysfs", b"devtmpfs", b"devpts", b"mqueue", b"cgroup", b"cgroup2", b"securityfs", b"debugfs",
    b"tracefs", b"bpf", b"pstore", b"configfs", b"fusectl", b"hugetlbfs", b"binfmt_misc",
})  # fmt: skip


_OWN = (b"/proc", b"/sys", b"/dev")  # the kernel's and the runtime's trees


def _in_own(point: bytes) -> bool:
    """In /proc, /sys or /dev (not /devel, /system)."""
    return any(point == top or point.startswith(top + b"/") for top in _OWN)


def writable_directories() -> list[bytes]:
    """The mount points of rotrace's namespace mounted read-write that are directories, not a
    filesystem of the kernel's own nor under /proc, /sys or /dev: a read-only container's
    volumes and tmpfs mounts."""
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split(b" ")
        if len(fields) < 10 or b"-" not in fields[6:]:
            continue
        point, options = unescape(fields[4]), fields[5].split(b",")
        fstype = fields[fields.index(b"-", 6) + 1]
        if b"rw" not in options or fstype in _KERNELS or _in_own(point):
            continue
        if os.path.isdir(point):
            found.append(point)
    return sorted(set(found))
