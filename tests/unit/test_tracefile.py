"""The JSON trace: what is written is read back the same; anything else is one BadInput line."""

from __future__ import annotations

import io
import json
import os
import re
import threading
from pathlib import Path

import pytest
from hypothesis import given

from rotrace.errors import BadInput
from rotrace.events import DirState, ProcessInfo
from rotrace.pathnames import glob_regex
from rotrace.policy.verdict import Summary, Verdict
from rotrace.record import Generalised, Source, TraceHeader
from rotrace.tracefile import RenderedEvents, TraceWriter, read_trace, trace_files
from tests.unit import strategies
from tests.unit.factories import classify, event, written_trace


def _write(path: Path, header: TraceHeader, verdicts: list) -> None:  # type: ignore[type-arg]
    path.write_text(written_trace(header, verdicts))


def test_round_trip_keeps_bytes_verdicts_and_explanations(tmp_path: Path) -> None:
    verdicts = classify(
        event(b"/app/.venv/.lock", exe=b"/usr/bin/uv", result="EROFS"),
        event(b"/srv/\xe9t\xe9/x\n", op="mkdir", result=0),
        event(b"/tmp/a", op="rename", target=b"/tmp/b", result=0),
    )
    header = TraceHeader(["uv", "run"], "/app", 2, processes=[ProcessInfo(1, 0, 0, b"/usr/bin/uv", ("uv",))])
    _write(tmp_path / "t.json", header, verdicts)
    got_header, got = read_trace(str(tmp_path / "t.json"))
    assert got_header == header
    assert list(got) == verdicts
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["summary"]["violations"] == 2
    assert "uv-venv-lock" in data["explanations"]


@given(trace=strategies.traces(max_events=5))
def test_any_verdict_is_read_back_as_written(
    tmp_path_factory: pytest.TempPathFactory, trace: tuple[TraceHeader, list[Verdict]]
) -> None:
    """Every byte of every path (surrogateescape), every field, one JSON object per line."""
    path = tmp_path_factory.getbasetemp() / "any.json"
    header, verdicts = trace
    _write(path, TraceHeader(["x"], "/", 0, sources=header.sources), verdicts)
    lines = path.read_text().splitlines()[1 : 1 + len(verdicts)]
    merged = {"count", "runs"}  # a merged trace's events only
    assert all(set(json.loads(line.rstrip(","))) - merged == EVENT_KEYS for line in lines)
    assert list(read_trace(str(path))[1]) == verdicts


EVENT_KEYS = {"pid", "tid", "exe", "syscall", "op", "path", "target", "flags", "mode", "result", "errno",
              "write", "unresolved", "allowed", "venv", "ro_forecast", "explanation", "harmless"}  # fmt: skip
GOOD_EVENT = {"pid": 1, "tid": 1, "syscall": "open", "op": "open", "path": "/x", "write": True}
BAD_DOCS = [
    "[]",
    '{"schema": 1}',
    '{"schema": true, "command": [], "exit_code": 0, "events": []}',
    '{"schema": 4, "command": [], "exit_code": 0, "events": []}',
    '{"schema": 1, "command": "ls", "exit_code": 0, "events": []}',
    '{"schema": 1, "command": [], "exit_code": 1e400, "events": []}',
    '{"schema": 1, "command": [], "exit_code": ' + "9" * 5000 + ', "events": []}',
    '{"schema": 1, "command": [], "exit_code": true, "events": []}',
    '{"schema": 1, "command": [], "exit_code": 0, "events": {}}',
    '{"schema": 1, "command": [], "exit_code": 0, "warnings": [1], "events": []}',
    '{"schema": 1, "command": [], "exit_code": 0, "events": [], "processes": [3]}',
    "[" * 100000 + "]" * 100000,
    "\xff\xfe",
    # a lone surrogate no run's bytes give (surrogateescape's are \\udc80-\\udcff): HOME's was an
    # internal error where the plan encoded it
    '{"schema": 1, "command": [], "exit_code": 0, "environment": {"HOME": "/h\\ud800"}, "events": []}',
    '{"schema": 1, "command": ["\\udfff"], "exit_code": 0, "events": []}',
    '{"schema": 1, "command": [], "cwd": "/\\ud83d", "exit_code": 0, "events": []}',
]
BAD_EVENTS = [
    5,
    [],
    {**GOOD_EVENT, "pid": "1"},
    {**GOOD_EVENT, "pid": 2**70},
    {**GOOD_EVENT, "op": "explode"},
    {**GOOD_EVENT, "mode": "9z"},
    {**GOOD_EVENT, "path": 3},
    {**GOOD_EVENT, "path": "\ud800"},
    {**GOOD_EVENT, "result": 1.5},
    {k: v for k, v in GOOD_EVENT.items() if k != "write"},
    # `write: false` is an open without write access, as the tracer records one, and nothing else:
    # a hand-edited trace's delete, or an unlink called an open, passed `check` as no write
    {**GOOD_EVENT, "syscall": "unlink", "op": "delete", "write": False},
    {**GOOD_EVENT, "syscall": "unlink", "op": "open", "flags": "O_RDONLY", "write": False},
    {**GOOD_EVENT, "flags": "O_WRONLY|O_CREAT", "write": False},
    {**GOOD_EVENT, "syscall": "openat", "flags": "O_RDWR", "write": False},
    {**GOOD_EVENT, "syscall": "openat", "flags": "0x241", "write": False},  # O_WRONLY|O_CREAT|O_TRUNC in hex
]


@pytest.mark.parametrize("text", BAD_DOCS)
def test_malformed_documents_are_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(text, errors="surrogateescape")
    with pytest.raises(BadInput) as info:
        _, verdicts = read_trace(str(path))
        list(verdicts)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_an_open_without_write_access_is_read_back_as_no_write(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    opens = (("openat", "O_RDONLY|O_CLOEXEC"), ("openat2", None), ("open", "O_PATH|O_CREAT"))
    reads = [{**GOOD_EVENT, "syscall": s, "flags": f, "write": False} for s, f in opens]
    path.write_text(json.dumps({"schema": 1, "command": [], "exit_code": 0, "events": reads}))
    _, verdicts = read_trace(str(path))
    assert [v.event.write for v in verdicts] == [False] * 3


@pytest.mark.parametrize("obj", BAD_EVENTS)
def test_malformed_events_are_one_line(tmp_path: Path, obj: object) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"schema": 1, "command": [], "exit_code": 0, "events": [GOOD_EVENT, obj]}))
    _, verdicts = read_trace(str(path))
    with pytest.raises(BadInput, match="event 1 is malformed"):
        list(verdicts)


_SOURCE = {"command": ["x"], "cwd": "/", "exit_code": 0}


@pytest.mark.parametrize(
    ("sources", "runs", "said"),
    [
        (2, [0, 5], "'runs' names run 5, and the trace has its 2 sources"),
        (0, [0], "'runs' names run 0, and the trace has no sources (not a merged trace)"),
    ],
)
@pytest.mark.parametrize("where", ["event", "generalised"])
def test_run_indices_past_a_merged_traces_sources_are_malformed(
    tmp_path: Path, sources: int, runs: list[int], said: str, where: str
) -> None:
    """A run index names one of the trace's sources: one past them would count a run the trace
    does not hold ("seen in 3 of 2 runs")."""
    doc: dict[str, object] = {"schema": 3, "command": [], "exit_code": 0, "sources": [_SOURCE] * sources}
    if where == "event":
        doc["events"] = [{**GOOD_EVENT, "count": 2, "runs": runs}]
    else:
        doc["events"], doc["generalised"] = [], [{"glob": "/tmp/*", "names": 2, "runs": runs}]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BadInput, match=re.escape(said)):
        list(read_trace(str(path))[1])


def test_a_generalised_name_is_a_glob_of_literal_characters_and_classes(tmp_path: Path) -> None:
    """A merged trace's glob `[` (a name's own bracket, no class) was compiled as a regular
    expression: `rotrace diff` of it ended in an internal error (70). A lone bracket is the
    character; a class no regular expression takes (`[z-a]`) is a malformed trace (3)."""
    doc: dict[str, object] = {"schema": 3, "command": [], "exit_code": 0, "sources": [_SOURCE] * 2}
    doc["events"] = []
    path = tmp_path / "t.json"
    for glob in ("/srv/[", "/srv/a[b", "/srv/x-[0-9][0-9]"):
        doc["generalised"] = [{"glob": glob, "names": 2, "runs": [0, 1]}]
        path.write_text(json.dumps(doc))
        header, events = read_trace(str(path))
        list(events)
        assert [g.glob for g in header.generalised] == [glob]
    assert glob_regex("/srv/a[b").fullmatch("/srv/a[b") and glob_regex("x-[0-9]").fullmatch("x-7")
    doc["generalised"] = [{"glob": "/srv/[z-a]", "names": 2, "runs": [0, 1]}]
    path.write_text(json.dumps(doc))
    with pytest.raises(BadInput, match=re.escape("no glob `merge` makes: '/srv/[z-a]'")):
        list(read_trace(str(path))[1])


def test_a_trace_named_twice_is_one_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`merge traces ./traces`, `a.json ./a.json`, a symlink to it: one run each, not "seen in 2
    of 2 runs" of one run. Two files of the same text are two runs."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "traces").mkdir()
    for name in ("a.json", "b.json"):
        (tmp_path / "traces" / name).write_text("{}")
    (tmp_path / "traces" / "c.json").symlink_to("a.json")
    (tmp_path / "copy.json").write_text("{}")
    found = trace_files(["traces", "./traces", "traces/a.json", str(tmp_path / "traces/*.json"), "copy.json"])
    assert found == ["traces/a.json", "traces/b.json", "copy.json"], found


def test_a_reformatted_trace_reads_the_same(tmp_path: Path) -> None:
    """The writer's line layout is streamed; any other layout (jq) is read whole, the same."""
    verdicts = classify(event(b"/srv/a"), event(b"/tmp/b", "mkdir", 0))
    _write(tmp_path / "t.json", TraceHeader(["x"], "/", 0), verdicts)
    (tmp_path / "pretty.json").write_text(json.dumps(json.loads((tmp_path / "t.json").read_text()), indent=2))
    streamed, pretty = read_trace(str(tmp_path / "t.json")), read_trace(str(tmp_path / "pretty.json"))
    assert streamed[0] == pretty[0]
    assert list(streamed[1]) == list(pretty[1]) == verdicts
    assert list(streamed[1]) == verdicts  # iterable again: the mount plan reads twice


def test_a_truncated_streamed_trace_is_one_line(tmp_path: Path) -> None:
    _write(tmp_path / "t.json", TraceHeader(["x"], "/", 0), classify(event(b"/srv/a"), event(b"/srv/b")))
    text = (tmp_path / "t.json").read_text()
    (tmp_path / "t.json").write_text(text[: text.index("/srv/b")])
    _, verdicts = read_trace(str(tmp_path / "t.json"))
    with pytest.raises(BadInput, match="not a rotrace JSON trace"):
        list(verdicts)


def test_a_checkpoint_has_no_exit_status_and_is_read_back_as_one(tmp_path: Path) -> None:
    """`run --checkpoint`: exit_code null (an older reader refuses it rather than show a run still
    going as finished), the time it was written; a finished run's trace has no checkpoint key."""
    verdicts = classify(event(b"/srv/data/db", result=0))
    header = TraceHeader(["server"], "/srv", 0, checkpoint="2026-12-03T12:00:00Z")
    _write(tmp_path / "t.json", header, verdicts)
    data = json.loads((tmp_path / "t.json").read_text())
    assert (
        data["checkpoint"] == "2026-12-03T12:00:00Z" and data["exit_code"] is None and data["signal"] is None
    )
    got, events = read_trace(str(tmp_path / "t.json"))
    assert got.checkpoint == "2026-12-03T12:00:00Z" and not got.command_failed
    assert list(events) == verdicts
    _write(tmp_path / "done.json", TraceHeader(["server"], "/srv", 0), verdicts)
    assert "checkpoint" not in json.loads((tmp_path / "done.json").read_text())
    assert read_trace(str(tmp_path / "done.json"))[0].checkpoint is None


@pytest.mark.parametrize(
    "edit",
    [
        ('"exit_code": 0', '"exit_code": null'),  # a null status needs the checkpoint mark
        ('"checkpoint": "2026-12-03T12:00:00Z"', '"checkpoint": "soon"'),
        ('"checkpoint": "2026-12-03T12:00:00Z"', '"checkpoint": true'),
    ],
)
def test_a_checkpoint_mark_or_a_null_status_that_means_nothing_is_refused(
    tmp_path: Path, edit: tuple[str, str]
) -> None:
    checkpoint = "checkpoint" in edit[0]
    header = TraceHeader(["server"], "/srv", 0, checkpoint="2026-12-03T12:00:00Z" if checkpoint else None)
    text = written_trace(header, [])
    assert edit[0] in text
    (tmp_path / "t.json").write_text(text.replace(edit[0], edit[1]))
    with pytest.raises(BadInput, match="malformed trace header"):
        read_trace(str(tmp_path / "t.json"))


@pytest.mark.parametrize("into", ["regular file", "appended file", "pipe", "text"])
def test_events_rendered_while_the_command_ran_are_written_as_the_writer_writes_them(
    tmp_path: Path, into: str
) -> None:
    """`run` renders the events into a scratch file before the header is known; the trace
    made of them (copied in the kernel into a regular file, else through this process) is,
    byte for byte, the one the writer makes event by event."""
    verdicts = classify(
        *(event(f"/app/.venv/lib/m{i}.py".encode(), op="create", result=3) for i in range(3000)),
        event(b"/srv/\xe9t\xe9/x\n", op="mkdir", result=0),
        event(b"/tmp/a", op="rename", target=b"/tmp/b", result=0),
    )
    sources = [Source(["uv", "sync"], "/app", 0, programs=["uv"], checkpoint="2026-01-01T00:00:00Z")]
    header = TraceHeader(
        ["uv", "run"], "/app", 2, processes=[ProcessInfo(1, 0, 0, b"/usr/bin/uv", ("uv",))],
        directories={b"/app": DirState.CONTENT}, environment={"A": "b"}, labels={"k": "v"},
        sources=sources, generalised=[Generalised("/tmp/*", 3, (0,))],
    )  # fmt: skip
    expected = written_trace(header, verdicts)
    with (tmp_path / "scratch").open("w+b") as scratch:
        rendered = RenderedEvents(scratch)
        for v in verdicts:
            rendered.add(v)
        rendered.flush()
        summary = Summary()
        for v in verdicts:
            summary.add(v)
        explanations = {v.explanation for v in verdicts if v.explanation}
        if into == "text":
            fp: io.TextIOBase = io.StringIO()
        elif into == "pipe":
            read, write = os.pipe()
            fp = os.fdopen(write, "w")
        else:  # O_APPEND: no sendfile (EINVAL), written through this process
            fp = (tmp_path / "t.json").open("a" if into == "appended file" else "w")
        got: list[bytes] = []
        reader = threading.Thread(target=_drain, args=(read, got)) if into == "pipe" else None
        if reader is not None:
            reader.start()
        writer = TraceWriter(fp, header)  # type: ignore[arg-type]
        writer.extend(rendered)
        writer.close(summary, explanations)
        if into == "text":
            assert fp.getvalue() == expected  # type: ignore[attr-defined]
            return
        fp.close()
        if reader is not None:
            reader.join()
            assert b"".join(got).decode() == expected
        else:
            assert (tmp_path / "t.json").read_text() == expected


def _drain(fd: int, into: list[bytes]) -> None:
    """What a pipe's reader gets, to its end."""
    while chunk := os.read(fd, 1 << 16):
        into.append(chunk)
    os.close(fd)
