"""The pipe between the tracer inside the sandbox and rotrace outside it.

Length-prefixed marshal frames: ("pid", n) first, then ("events", [tuples...]) batches, and
last either ("result", {...}) or ("error", exit_status, message).
"""

from __future__ import annotations

import marshal
import os
import struct
from collections.abc import Iterator
from typing import Any

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
