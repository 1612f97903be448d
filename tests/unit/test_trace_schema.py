"""docs/trace.schema.json says what the writer writes: every trace it can write validates, and
what the reader refuses the schema refuses too."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from rotrace.errors import BadInput
from rotrace.policy.verdict import Verdict
from rotrace.tracefile import TraceHeader, read_trace
from tests.support.schema import assert_valid_trace, schema_errors
from tests.unit import strategies
from tests.unit.factories import written_trace

DATA = Path(__file__).resolve().parents[1] / "data"


def test_a_recorded_trace_is_valid() -> None:
    """A real `uv pip install`, as rotrace recorded it."""
    assert_valid_trace(DATA / "uv-pip-install.json")


# Written by hand, in the writer's layout: byte 0xE9 in a path (and in the command, the directory
# states, the cwd) is the surrogate escape \udce9, as Python's surrogateescape writes it.
NON_UTF8 = DATA / "non-utf8-path.json"


def test_a_non_utf8_path_is_valid_and_read_back_as_its_bytes() -> None:
    assert "\\udce9" in NON_UTF8.read_text()
    assert_valid_trace(NON_UTF8)
    header, verdicts = read_trace(str(NON_UTF8))
    (verdict,) = verdicts
    assert verdict.event.path == b"/srv/caf\xe9/caf\xe9" and list(header.directories) == [b"/srv/caf\xe9"]
    assert os.fsencode(header.cwd) == b"/srv/caf\xe9" and header.command == ["touch", os.fsdecode(b"caf\xe9")]


@given(trace=strategies.traces())
def test_any_trace_the_writer_writes_is_valid(trace: tuple[TraceHeader, list[Verdict]]) -> None:
    """Every field the writer can be given, every byte in every path: the schema accepts it
    (and, with additionalProperties false, the writer writes no field the schema lacks)."""
    assert_valid_trace(json.loads(written_trace(*trace)))


def _mutated(edit: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(NON_UTF8.read_text())
    where, key, value = edit.split(" ", 2)
    target = {"top": data, "event": data["events"][0], "process": data["processes"][0]}[where]
    if value == "DELETE":
        del target[key]
    else:
        target[key] = json.loads(value)
    return data


# What the reader refuses (one BadInput line, exit 3): the schema refuses it too.
REFUSED = [
    "top schema 4",
    'top labels {"app": 1}',
    "top sources [{}]",
    "event runs [-1]",
    "event count 0",
    "top schema true",
    'top command "ls"',
    "top exit_code true",
    "top exit_code null",  # null in a checkpoint only
    'top checkpoint "yesterday"',
    'top checkpoint "2026-12-03 12:00:00"',
    'top signal "KILL"',
    "top enforced 0",
    "top warnings [1]",
    'top directories {"/srv": "full"}',
    'top environment {"HOME": 1}',
    "top events DELETE",
    "process uid -2",
    'process pid "7"',
    'event op "explode"',
    "event pid 4294967296",
    "event result 1.5",
    'event syscall "Open!"',
    'event flags "o_wronly"',
    'event ro_forecast "maybe"',
    'event mode "0o9"',
    "event write DELETE",
    'event allowed "yes"',
    'event path "/srv/a\\u0000b"',  # no path holds a NUL
    'event target "/srv/\\u0000"',
    'event exe "/bin/\\u0000sh"',
    'process exe "\\u0000"',
    'top cwd "/srv\\u0000"',
    'top directories {"/srv\\u0000": "empty"}',
]


@pytest.mark.parametrize("edit", REFUSED)
def test_what_the_reader_refuses_the_schema_refuses(tmp_path: Path, edit: str) -> None:
    data = _mutated(edit)
    assert schema_errors(data) != []
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    with pytest.raises(BadInput):
        list(read_trace(str(path))[1])


@pytest.mark.parametrize("edit", ["top extra 1", "event extra 1", "process extra 1", "top summary {}"])
def test_the_schema_holds_only_what_the_writer_writes(edit: str) -> None:
    assert schema_errors(_mutated(edit)) != []
