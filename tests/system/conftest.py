"""Fixtures of the system tier: real processes traced (tests/support/tracing.py), and every JSON
trace a test leaves in its tmp_path checked against docs/trace.schema.json."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.as_user import outside, site, work
from tests.support.schema import schema_errors
from tests.support.tracing import trace_py

__all__ = ["outside", "site", "trace_py", "traces_match_the_schema", "work"]


def _json_files(where: Path) -> Iterator[Path]:
    """JSON files below `where` (what cannot be listed, a path past PATH_MAX, is passed over)."""
    for root, _dirs, files in os.walk(where):
        yield from (Path(root, name) for name in files if name.endswith(".json"))


def _traces(where: Path) -> Iterator[tuple[Path, object]]:
    for path in _json_files(where):
        try:
            with path.open("rb") as f:
                if b'"schema"' not in f.read(200):  # a trace starts with its version and schema
                    continue
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue  # not a whole JSON document: a test of a truncated or hostile trace
        if isinstance(data, dict) and "events" in data and "rotrace_version" in data:
            yield path, data


@pytest.fixture(autouse=True)
def traces_match_the_schema(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test, the traces it wrote (read back from its tmp_path) validate; a test that
    makes malformed traces on purpose says so (`@pytest.mark.bad_traces`)."""
    uses_tmp = "tmp_path" in request.fixturenames and request.node.get_closest_marker("bad_traces") is None
    tmp_path: Path | None = request.getfixturevalue("tmp_path") if uses_tmp else None
    yield
    if tmp_path is None:
        return
    wrong = {str(p): errors[:5] for p, data in _traces(tmp_path) if (errors := schema_errors(data))}
    assert wrong == {}, "traces that break docs/trace.schema.json"
