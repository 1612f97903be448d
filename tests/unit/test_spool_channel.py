"""The event spool and the sandbox channel: bytes-exact round trips."""

from __future__ import annotations

import io
import os

from rotrace.channel import parse_result, read_frames, result_frame, write_frame
from rotrace.events import ProcessInfo
from rotrace.spool import Spool
from rotrace.tracer import TraceResult
from tests.unit.factories import event


def test_spool_keeps_every_event_in_order_across_batches() -> None:
    events = [event(b"/d/\xff%d" % i, result=i) for i in range(Spool.BATCH * 2 + 5)]
    with Spool(io.BytesIO()) as spool:
        for e in events:
            spool.add(e)
        assert list(spool) == events
        assert list(spool) == events  # read twice: the mount plan reads it after the report
        assert spool.count == len(events)


def test_spool_on_disk() -> None:
    with Spool() as spool:
        spool.add(event("/x"))
        assert [e.path for e in spool] == [b"/x"]


def test_channel_frames_and_typed_result() -> None:
    read_fd, write_fd = os.pipe()
    result = TraceResult(7, 2, None, True, 40, ["w"], [ProcessInfo(7, 1, 1000, b"/bin/\xff", ("a", "b"))])
    write_frame(write_fd, ("pid", 7))
    write_frame(write_fd, ("events", [event("/y").astuple()]))
    write_frame(write_fd, ("result", result_frame(result)))
    os.write(write_fd, b"\x10\x00")  # a truncated last frame is dropped
    os.close(write_fd)
    frames = list(read_frames(read_fd))
    os.close(read_fd)
    assert [f[0] for f in frames] == ["pid", "events", "result"]
    assert parse_result(frames[2][1]) == result
