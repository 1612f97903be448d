"""What /proc says of a process: the fields of its status file, its command line.

Read directly: two small reads at each exec, where psutil (which reads the same files) would
add its import to every run's start-up.
"""

from __future__ import annotations

import os


def status_fields(pid: int, *names: bytes) -> dict[bytes, bytes]:
    """The named fields of /proc/PID/status (b"Tgid", b"PPid", b"Uid"...), first value each;
    a field that is not there (or a process that is gone) is missing from the answer."""
    found: dict[bytes, bytes] = {}
    try:
        with open(b"/proc/%d/status" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return found
    for line in data.splitlines():
        key, _, value = line.partition(b":")
        if key in names:
            words = value.split()
            if words:
                found[key] = words[0]
    return found


def status_int(pid: int, name: bytes, default: int) -> int:
    try:
        return int(status_fields(pid, name)[name])
    except (KeyError, ValueError):
        return default


def cmdline(pid: int) -> tuple[str, ...] | None:
    """argv as the process holds it (None if it is gone); read at an exec stop it is pristine."""
    try:
        with open(b"/proc/%d/cmdline" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return tuple(os.fsdecode(arg) for arg in data.split(b"\0")[:-1]) if data else ()
