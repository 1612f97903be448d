"""What a tracer sends across a pipe: to `rotrace run`'s report process (run/handoff.py), and out
of the read-only sandbox (sandbox/). Every message kind is declared here, once, with its fields;
a message crosses as its kind and its fields by name, in a length-prefixed marshal frame.

The order on the wire: Start (the report process's request, from the tracer of `rotrace run`;
the tracer inside the sandbox sends none), then Processes and Events batches (each program
before the events that may need it), then Result, or Error when the trace failed.
"""

from __future__ import annotations

import fcntl
import marshal
import os
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from rotrace.events import DirState, FileEvent, ProcessInfo
from rotrace.tracer.contract import TraceResult

_LEN = struct.Struct("=I")
_WIDE = 1 << 20  # bytes: fs.pipe-max-size's default, some 5,000 events


class Start(NamedTuple):
    """What the report process needs before the events (built and read by run/request.py)."""

    request: bytes
    every: float | None = None  # `run --checkpoint`: seconds between the report process's checkpoints


class Processes(NamedTuple):
    """Programs the command started, as ProcessInfo.astuple() records."""

    records: list[tuple[Any, ...]]


class Events(NamedTuple):
    """A batch of file events, as FileEvent.astuple() records."""

    records: list[tuple[Any, ...]]


class Result(NamedTuple):
    """The trace is over: its result, and what the sandbox mounted writable (--read-only)."""

    result: TraceResult
    writable: list[str] | None = None


class Error(NamedTuple):
    """The trace failed: rotrace's exit status and the one line that says why."""

    status: int
    message: str


class Checkpoint(NamedTuple):
    """Write the trace so far (`run --checkpoint`, SIGUSR1): sent by the tracer after every
    event it has (Batcher.checkpoint), so the trace written holds all of them."""


class Ready(NamedTuple):
    """The read-only sandbox's tracer answers signals now (signals.hold): those rotrace received
    before are passed on (its pid namespace's PID 1, it had none of them until then)."""


Message = Start | Processes | Events | Result | Error | Checkpoint | Ready
KINDS: dict[str, type[Message]] = {
    "start": Start,
    "processes": Processes,
    "events": Events,
    "result": Result,
    "error": Error,
    "checkpoint": Checkpoint,
    "ready": Ready,
}
_KIND_OF: dict[type[Message], str] = {m: kind for kind, m in KINDS.items()}

_RESULT_FIELDS = TraceResult._fields


def _result_fields(result: TraceResult) -> dict[str, Any]:
    """A TraceResult by field name, in marshal-able values."""
    out = {name: getattr(result, name) for name in _RESULT_FIELDS}
    out["warnings"] = list(result.warnings)
    out["processes"] = [p.astuple() for p in result.processes]
    out["directories"] = {d: s.value for d, s in result.directories.items()}
    return out


def _result_of(values: dict[str, Any]) -> TraceResult:
    values = dict(values)
    values["processes"] = [ProcessInfo(*p) for p in values["processes"]]
    values["directories"] = {d: DirState(s) for d, s in values["directories"].items()}
    return TraceResult(**values)


def encode(message: Message) -> bytes:
    """The message's frame: its kind, then its fields by name."""
    values = message._asdict()
    if isinstance(message, Result):
        values["result"] = _result_fields(message.result)
    data = marshal.dumps((_KIND_OF[type(message)], values))
    return _LEN.pack(len(data)) + data


def decode(data: bytes) -> Message:
    kind, values = marshal.loads(data)
    if kind == "result":
        values["result"] = _result_of(values["result"])
    return KINDS[kind](**values)


def send(fd: int, message: Message) -> None:
    view = memoryview(encode(message))
    while view:
        view = view[os.write(fd, view) :]


def pipe() -> tuple[int, int]:
    """A pipe for messages (read end, write end), as wide as a user may make one: the tracer
    writes a batch while the command waits at a stop, and in a pipe full of what the reader has
    not read yet (64 KiB, a few hundred events) it would wait until the reader, busy with the
    batch before, reads again."""
    read_fd, write_fd = os.pipe()
    try:
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, _WIDE)
    except OSError:  # more than fs.pipe-max-size, or than the user's pipe pages: as wide as allowed
        try:
            with open("/proc/sys/fs/pipe-max-size", "rb") as f:
                fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, min(int(f.read()), _WIDE))
        except (OSError, ValueError):
            pass
    return read_fd, write_fd


def receive(fd: int) -> Iterator[Message]:
    """Messages until the writer closes its end (a truncated last frame is dropped)."""
    with os.fdopen(fd, "rb", closefd=False) as f:
        while True:
            head = f.read(_LEN.size)
            if len(head) < _LEN.size:
                return
            (size,) = _LEN.unpack(head)
            body = f.read(size)
            if len(body) < size:
                return
            yield decode(body)


def split(buffer: bytearray) -> Iterator[Message]:
    """The whole frames at the start of buffer, each removed as it is read (the rest stays)."""
    start = 0
    try:
        while len(buffer) - start >= _LEN.size:
            (size,) = _LEN.unpack_from(buffer, start)
            end = start + _LEN.size + size
            if len(buffer) < end:
                break
            body = bytes(buffer[start + _LEN.size : end])
            start = end
            yield decode(body)
    finally:
        del buffer[:start]


class Batcher:
    """The tracer's sinks for events and programs, batched into messages: a batch of events at
    most every `every` seconds or `size` events (the reader classifies as they come, so that
    little is left once the command is over), each preceded by the programs that started since
    the last batch."""

    SIZE = 1024
    EVERY = 0.02  # seconds

    def __init__(self, send: Callable[[Message], None]) -> None:
        self._send = send
        self._events: list[tuple[object, ...]] = []
        self._processes: list[tuple[object, ...]] = []
        self._sent = time.monotonic()
        self._busy = False  # a message is being sent: a signal handler must not send another
        self._asked = False  # a checkpoint, sent once what is being sent is

    def add(self, event: FileEvent) -> None:
        """The tracer's event sink (called with the traced command running again)."""
        item = event.astuple()
        self._busy = True  # a checkpoint asked from here waits for the append: sent, the list is done with
        self._events.append(item)
        self._busy = False
        if self._asked or len(self._events) >= self.SIZE or time.monotonic() - self._sent > self.EVERY:
            self.flush()

    def add_process(self, info: ProcessInfo) -> None:
        """The tracer's process sink: sent with the next batch, before its events."""
        item = info.astuple()
        self._busy = True
        self._processes.append(item)
        self._busy = False
        if self._asked:
            self.flush()

    def flush(self) -> None:
        self.send()

    def send(self, last: Message | None = None) -> None:
        """The batch, then `last` if given (Start, Result), then a checkpoint asked meanwhile."""
        self._busy = True
        try:
            self._sent = time.monotonic()
            if self._processes:
                self._send(Processes(self._processes))
                self._processes = []
            if self._events:
                self._send(Events(self._events))
                self._events = []
            if last is not None:
                self._send(last)
        finally:
            self._busy = False
        while self._asked:  # asked while busy (a handler that runs now sends it itself)
            self._busy = True
            try:
                self._asked = False
                self._send(Checkpoint())
            finally:
                self._busy = False

    def checkpoint(self) -> None:
        """From a signal handler (SIGUSR1), which may run in the middle of any of this: every
        event so far, then a Checkpoint message; or, when a message is being sent, right after
        it (never a frame inside another)."""
        self._asked = True
        if not self._busy:
            self.send()
