"""The typed record the tracer produces: one FileEvent per completed file syscall.

Paths are bytes, as the kernel sees them; conversion to text happens only at the edges
(JSON uses surrogateescape, terminal output escapes).
"""

from __future__ import annotations

import errno as _errno
import os
from dataclasses import dataclass
from typing import Any

# The operations a syscall can perform on a path (design.md: "op").
OPS = (
    "open",
    "create",
    "truncate",
    "mkdir",
    "rename",
    "delete",
    "link",
    "symlink",
    "chmod",
    "chown",
    "utime",
    "mknod",
    "xattr",
)

# Kernel-internal restart codes never reach user space but are visible to a tracer.
_RESTART_NAMES = {
    512: "ERESTARTSYS",
    513: "ERESTARTNOINTR",
    514: "ERESTARTNOHAND",
    516: "ERESTART_RESTARTBLOCK",
}


def _known_op(op: object) -> str:
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}")
    return str(op)


def errno_name(result: int | None) -> str | None:
    """The symbolic errno of a raw syscall result, or None for success / unknown."""
    if result is None or result >= 0 or result < -4095:
        return None
    code = -result
    return _errno.errorcode.get(code) or _RESTART_NAMES.get(code) or f"E{code}"


@dataclass(frozen=True, slots=True)
class FileEvent:
    """One completed file syscall, entry joined with exit."""

    pid: int
    tid: int
    exe: bytes
    syscall: str
    op: str
    path: bytes
    target: bytes | None
    flags: str | None
    mode: int | None
    result: int | None  # raw return value; negative errno on failure; None if never returned
    write: bool

    @property
    def errno(self) -> str | None:
        return errno_name(self.result)

    @property
    def failed(self) -> bool:
        return self.result is None or self.result < 0

    def astuple(self) -> tuple[object, ...]:
        """The fields in order (FileEvent(*t) rebuilds it): a cheap, marshal-able form."""
        return (self.pid, self.tid, self.exe, self.syscall, self.op, self.path, self.target,
                self.flags, self.mode, self.result, self.write)  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "tid": self.tid,
            "exe": os.fsdecode(self.exe),
            "syscall": self.syscall,
            "op": self.op,
            "path": os.fsdecode(self.path),
            "target": None if self.target is None else os.fsdecode(self.target),
            "flags": self.flags,
            "mode": None if self.mode is None else oct(self.mode),
            "result": self.result,
            "errno": self.errno,
            "write": self.write,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> FileEvent:
        target = obj.get("target")
        mode = obj.get("mode")
        return cls(
            pid=int(obj["pid"]),
            tid=int(obj["tid"]),
            exe=os.fsencode(obj.get("exe") or ""),
            syscall=str(obj["syscall"]),
            op=_known_op(obj["op"]),
            path=os.fsencode(obj["path"]),
            target=None if target is None else os.fsencode(target),
            flags=obj.get("flags"),
            mode=None if mode is None else int(mode, 8),
            result=obj.get("result"),
            write=bool(obj["write"]),
        )
