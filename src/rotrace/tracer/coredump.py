"""Where the kernel wrote a core dump: a write with no system call of the command's.

A process killed by a signal whose default is to dump core writes the file named by
/proc/sys/kernel/core_pattern (core(5)) before it exits, so by its PTRACE_EVENT_EXIT stop the
file is there, and the exit status says it was written (WCOREDUMP). A pattern that starts with
`|` pipes the dump to a program instead: no file of the command's. A relative pattern is
relative to the process's cwd, read at that stop. Specifiers whose value rotrace cannot know
(the time of the dump, the dump mode, the core limit, the cgroup) leave the name unresolved, and
so does a name in a process whose mounts or root are not rotrace's, unless it reaches, from
rotrace's root, the very file the process reaches by it.
"""

from __future__ import annotations

import os
import re

from rotrace.tracer.linux import procfs
from rotrace.tracer.resolve import is_named

WCOREDUMP = 0x80
_SPECIFIER = re.compile(rb"%(.)")
_UNKNOWN = frozenset(b"tdcCF")  # time, dump mode, core limit, cgroup, pidfd: not known here


def dumped(status: int) -> bool:
    """Whether a wait status (as PTRACE_GETEVENTMSG gives it at the exit stop) says a core
    was written."""
    return bool(status & 0x7F) and status & 0x7F != 0x7F and bool(status & WCOREDUMP)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read().rstrip(b"\n")
    except OSError:
        return None


def core_file(tid: int, tgid: int, status: int, exe: bytes, foreign: bool) -> tuple[bytes, bool] | None:
    """(the dump's path, whether it is resolved) for a thread of `tgid` stopped at its exit
    with `status`; None when no file was written (a pipe, no pattern). `foreign`: the
    process's paths may not be rotrace's (`DirCache.plain`)."""
    pattern = _read("/proc/sys/kernel/core_pattern")
    if not pattern or pattern.startswith(b"|"):
        return None
    fields = procfs.status_fields(tid, b"Uid", b"Gid")
    comm = _read(f"/proc/{tid}/comm") or b""
    values = {
        b"%": b"%",
        b"p": b"%d" % tgid,
        b"P": b"%d" % tgid,
        b"i": b"%d" % tid,
        b"I": b"%d" % tid,
        b"u": fields.get(b"Uid", b"0"),
        b"g": fields.get(b"Gid", b"0"),
        b"s": b"%d" % (status & 0x7F),
        b"h": os.uname().nodename.encode(),
        b"e": comm,
        b"f": os.path.basename(exe),
        b"E": exe.replace(b"/", b"!"),
    }
    resolved = True

    def value(match: re.Match[bytes]) -> bytes:
        nonlocal resolved
        key = match.group(1)
        if key in values:
            return values[key]
        if key[0] in _UNKNOWN:
            resolved = False
            return b"*"
        return b""  # the kernel drops a specifier it does not know

    name = _SPECIFIER.sub(value, pattern)
    if b"%p" not in pattern and _read("/proc/sys/kernel/core_uses_pid") == b"1":
        name += b".%d" % tgid
    if not name.startswith(b"/"):
        try:
            cwd = os.readlink(b"/proc/%d/cwd" % tid)
        except OSError:
            return name, False
        if not cwd.startswith(b"/") or cwd.endswith(b" (deleted)"):
            return name, False
        name = cwd.rstrip(b"/") + b"/" + name
    if resolved and foreign:  # the process's own view of the name: through its root, in its mounts
        resolved = is_named(name, b"/proc/%d/root%s" % (tid, name))
    return name, resolved
