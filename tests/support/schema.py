"""docs/trace.schema.json, the JSON trace's published schema: every trace rotrace writes must
validate against it (the unit tier checks the writer; traces from real runs can be checked too)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "trace.schema.json"


@functools.cache
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(trace: Any) -> list[str]:
    """Each way the parsed trace breaks the schema, as `where: what` (empty: valid)."""
    found = validator().iter_errors(trace)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in found)


def assert_valid_trace(trace: Path | Any) -> None:
    """A trace file (or its parsed JSON) that the schema accepts."""
    data = json.loads(trace.read_text()) if isinstance(trace, Path) else trace
    errors = schema_errors(data)
    assert errors == [], "\n".join(errors[:20])
