"""The spools and the channels between processes: bytes-exact round trips."""

from __future__ import annotations

import io
import os
import pickle
import signal

from rotrace.events import DirState, FileEvent, ProcessInfo
from rotrace.explain import KNOWN
from rotrace.policy.allowlist import Allowlist
from rotrace.policy.verdict import Verdict
from rotrace.report.view import View
from rotrace.run.request import RunRequest, RunStart
from rotrace.spool import Spool
from rotrace.tracer import TraceOptions, TraceResult
from rotrace.tracer.channel import (
    Batcher,
    Checkpoint,
    Events,
    Message,
    Processes,
    Result,
    Start,
    encode,
    receive,
    send,
    split,
)
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


def test_channel_messages_cross_typed() -> None:
    read_fd, write_fd = os.pipe()
    result = TraceResult(
        7, 2, None, True, 40, ["w"], [ProcessInfo(7, 1, 1000, b"/bin/\xff", ("a", "b"))],
        {b"/d/\xfe": DirState.EMPTY}, landlock_abi=6,
    )  # fmt: skip
    sent = [
        Processes([ProcessInfo(7, 1, 0, b"/bin/sh", ("sh",)).astuple()]),
        Events([event("/y").astuple()]),
        Result(result, ["/tmp"]),
    ]
    for message in sent:
        send(write_fd, message)
    os.write(write_fd, b"\x10\x00")  # a truncated last message is dropped
    os.close(write_fd)
    received = list(receive(read_fd))
    os.close(read_fd)
    assert received == sent
    assert isinstance(received[2], Result) and received[2].result.directories == {b"/d/\xfe": DirState.EMPTY}


def test_batcher_sends_programs_before_their_events_and_everything_on_flush() -> None:
    sent: list[object] = []
    batcher = Batcher(sent.append)
    batcher.EVERY = 3600.0  # only size and flush send here
    info = ProcessInfo(9, 1, 0, b"/bin/sh", ("sh",))
    batcher.add(event("/a"))
    batcher.add_process(info)
    assert sent == []
    for i in range(Batcher.SIZE - 1):
        batcher.add(event(f"/b{i}"))
    assert [type(m) for m in sent] == [Processes, Events]
    assert sent[0] == Processes([info.astuple()]) and len(sent[1].records) == Batcher.SIZE  # type: ignore[attr-defined]
    batcher.add(event("/c"))
    batcher.flush()
    assert sent[2] == Events([event("/c").astuple()])


def test_a_checkpoint_comes_after_every_event_and_never_inside_another_message() -> None:
    """SIGUSR1's handler (Batcher.checkpoint) may run at any point of the tracer's code, the
    middle of a frame's writes included: what it sends comes whole, after what was being sent."""
    read_fd, write_fd = os.pipe()
    sent: list[object] = []
    calls = 0

    def out(message: Message) -> None:  # the handler runs between the two writes of a frame
        nonlocal calls
        calls += 1
        frame = encode(message)
        os.write(write_fd, frame[:3])
        if calls == 1:
            batcher.checkpoint()
        os.write(write_fd, frame[3:])
        sent.append(message)

    batcher = Batcher(out)
    batcher.EVERY = 3600.0
    batcher.add(event("/a"))
    batcher.flush()  # the checkpoint asked in the middle of it follows it
    batcher.add(event("/b"))
    batcher.checkpoint()  # idle: the pending event, then the checkpoint
    batcher.checkpoint()  # nothing new: a checkpoint all the same (the interval says so)
    os.close(write_fd)
    received = list(receive(read_fd))
    os.close(read_fd)
    expected = [Events([event("/a").astuple()]), Checkpoint(), Events([event("/b").astuple()]), Checkpoint(),
                Checkpoint()]  # fmt: skip
    assert received == sent == expected


class _Interrupting(ProcessInfo):
    """A program whose record is made while SIGUSR1 arrives (the tracer's handler runs then)."""

    def astuple(self) -> tuple[object, ...]:
        os.kill(os.getpid(), signal.SIGUSR1)
        return super().astuple()


class _InterruptingEvent(FileEvent):
    """The same for a write."""

    def astuple(self) -> tuple[object, ...]:
        os.kill(os.getpid(), signal.SIGUSR1)
        return super().astuple()


def test_a_checkpoint_signal_while_a_write_or_program_is_added_loses_neither() -> None:
    """A real SIGUSR1 delivered while the tracer builds the record it adds to the batch: the
    handler sends the batch, and the record goes into the next one, not into the one sent."""
    sent: list[Message] = []
    batcher = Batcher(lambda message: sent.extend(split(bytearray(encode(message)))))  # as the pipe takes it
    batcher.EVERY = 3600.0
    writes = [event("/a")]
    late = event("/late")
    previous = signal.signal(signal.SIGUSR1, lambda _signum, _frame: batcher.checkpoint())
    try:
        batcher.add(writes[0])
        batcher.add(_InterruptingEvent(*late.astuple()))
        batcher.add_process(_Interrupting(9, 1, 0, b"/bin/sh", ("sh",)))
        batcher.flush()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    records = [r for m in sent if isinstance(m, Events) for r in m.records]
    programs = [r for m in sent if isinstance(m, Processes) for r in m.records]
    assert records == [writes[0].astuple(), late.astuple()]
    assert programs == [(9, 1, 0, b"/bin/sh", ("sh",), None, None, ())]
    assert sum(isinstance(m, Checkpoint) for m in sent) == 2


def test_split_reads_whole_frames_and_keeps_the_rest() -> None:
    frames = encode(Events([event("/a").astuple()])) + encode(Checkpoint())
    buffer = bytearray(frames[:-1])
    assert list(split(buffer)) == [Events([event("/a").astuple()])]
    buffer += frames[-1:]
    assert list(split(buffer)) == [Checkpoint()] and buffer == b""


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
    """The start message the report process reads: the allowlist's matchers are rebuilt."""
    allowlist = Allowlist(["/tmp", "/srv/*/cache", "=/etc/hosts"])
    request = RunRequest(["true"], allowlist, TraceOptions(all_opens=True), "-", view=View(quiet=True))
    message = RunStart(request, "/work", None, 42, (5, 6), 1_700_000_000_000_000_000).message()
    assert isinstance(message, Start)
    start = RunStart.of(message)
    assert (start.cwd, start.tracer_pid, start.json_file, start.baseline) == ("/work", 42, (5, 6), None)
    assert start.since == 1_700_000_000_000_000_000
    back = start.request
    assert back.options == request.options and back.view == request.view and back.argv == ["true"]
    for path in (b"/tmp/a", b"/srv/app/cache/x", b"/etc/hosts", b"/etc/passwd", b"/srv/app/data"):
        assert back.allowlist.allows(path) == allowlist.allows(path)
    assert pickle.loads(pickle.dumps(KNOWN[2])) is KNOWN[2]
