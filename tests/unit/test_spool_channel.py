"""The spools and the channels between processes: bytes-exact round trips."""

from __future__ import annotations

import io
import os
import pickle

from rotrace.audit import AuditRequest
from rotrace.channel import parse_result, read_frames, result_frame, write_frame
from rotrace.events import ProcessInfo
from rotrace.explain import KNOWN
from rotrace.policy.allowlist import Allowlist
from rotrace.policy.verdict import Verdict
from rotrace.report.view import View
from rotrace.spool import Spool
from rotrace.tracer import TraceOptions, TraceResult
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


def test_verdicts_spooled_for_the_second_pass_come_back_equal() -> None:
    """The report classifies once and reads the verdicts back (known writers by identity)."""
    verdicts = [
        Verdict(event(b"/v/.venv/\xfe", result=-30), False, b"/v/.venv", "EROFS", KNOWN[0]),
        Verdict(event("/tmp/x"), True, None, "ok"),
        Verdict(event("/etc", op="mkdir", result=-17), True, None, "EEXIST", None, harmless=True),
    ]
    with Spool(io.BytesIO()) as spool:
        for v in verdicts:
            spool.add_record(v.astuple())
        back = [Verdict.from_tuple(r) for r in spool.records()]
    assert back == verdicts
    assert back[0].explanation is KNOWN[0]


def test_the_request_crosses_to_the_report_process() -> None:
    """What audit.py pickles for the report process: the allowlist's matchers are rebuilt."""
    allowlist = Allowlist(["/tmp", "/srv/*/cache", "=/etc/hosts"])
    request = AuditRequest(["true"], allowlist, TraceOptions(all_opens=True), "-", view=View(quiet=True))
    back = pickle.loads(pickle.dumps(request))
    assert back.options == request.options and back.view == request.view and back.argv == ["true"]
    for path in (b"/tmp/a", b"/srv/app/cache/x", b"/etc/hosts", b"/etc/passwd", b"/srv/app/data"):
        assert back.allowlist.allows(path) == allowlist.allows(path)
    assert pickle.loads(pickle.dumps(KNOWN[2])) is KNOWN[2]
