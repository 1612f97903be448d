"""A tracer's output across a pipe: to the report process (handoff.py), and out of the
read-only sandbox (sandbox/).

Length-prefixed marshal frames: ("events", [tuples...]) batches, then either ("result",
result_frame(...), ...) or ("error", exit_status, message); the sandbox's tracer sends
("pid", n) first.
"""

from __future__ import annotations

import marshal
import os
import struct
from collections.abc import Iterator
from typing import Any

from rotrace.events import DirState, ProcessInfo
from rotrace.tracer.contract import TraceResult

Frames = Iterator[tuple[Any, ...]]

_LEN = struct.Struct("=I")


def write_frame(fd: int, frame: tuple[Any, ...]) -> None:
    data = marshal.dumps(frame)
    view = memoryview(_LEN.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def read_frames(fd: int) -> Iterator[tuple[Any, ...]]:
    """Frames until the writer closes its end (a truncated last frame is dropped)."""
    with os.fdopen(fd, "rb", closefd=False) as f:
        while True:
            head = f.read(_LEN.size)
            if len(head) < _LEN.size:
                return
            (size,) = _LEN.unpack(head)
            body = f.read(size)
            if len(body) < size:
                return
            yield marshal.loads(body)


def result_frame(result: TraceResult) -> tuple[Any, ...]:
    """The TraceResult as marshal-able values (field order; processes as tuples)."""
    return (result.pid, result.exit_code, result.signal, result.seccomp, result.stops,
            list(result.warnings), [p.astuple() for p in result.processes],
            {d: s.value for d, s in result.directories.items()}, result.landlock_abi)  # fmt: skip


def parse_result(frame: tuple[Any, ...]) -> TraceResult:
    pid, exit_code, sig, seccomp, stops, warnings, processes, directories, abi = frame
    return TraceResult(
        pid, exit_code, sig, seccomp, stops, warnings, [ProcessInfo(*p) for p in processes],
        {d: DirState(s) for d, s in directories.items()}, abi,
    )  # fmt: skip
