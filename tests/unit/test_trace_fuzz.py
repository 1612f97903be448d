"""Any file given as a trace, to every command that reads one: a trace the writer wrote (any
header, any verdicts, docs/trace.schema.json's fields), then one of its values, at any depth,
replaced by any JSON value (null, numbers past every range, NaN and Infinity, strings with
surrogates, NUL and line breaks, lists and objects nested past the parser's recursion) or
removed, in the writer's layout or another; or a file that is no trace (not UTF-8, truncated,
a directory). Whatever it is, rotrace's answer is a documented exit status, and a fault of the
input is one line that says so: never a traceback, never an internal error (exit 70)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rotrace.cli import main
from rotrace.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_STATUSES
from tests.unit import strategies
from tests.unit.factories import written_trace

DOCUMENTED = {status for status, _ in EXIT_STATUSES} - {EXIT_INTERNAL}
MANIFEST = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: app, image: x}\n"

hostile_strings = st.sampled_from(
    [
        "",
        "\udc80",
        "\ud800",
        "a\x00b",
        "a\nb",
        "\u2028",
        "\x1b[2J",
        "*",
        "-x",
        "/",
        "..",
        "x" * 5000,
        "0o",
        "E",
    ]
) | st.text(max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 1.5])
    | hostile_strings
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_strings, inner, max_size=3),
    max_leaves=8,
)
deep = st.integers(1, 4).map(lambda n: json.loads("[" * (400 * n) + "]" * (400 * n)))


def _places(obj: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document: each key of each object, each item of each list."""
    found = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        found.append((*at, key))
        found += _places(value, (*at, key))
    return found


def _edited(data: dict[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    places = _places(data)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(places))
        target: Any = data
        try:
            for key in where[:-1]:
                target = target[key]
            if draw(st.booleans()) and isinstance(target, dict):
                target.pop(where[-1], None)
            else:
                target[where[-1]] = draw(values | deep)
        except (KeyError, IndexError, TypeError):  # a place an earlier edit removed
            pass
    return data


def _layouts(data: dict[str, Any]) -> list[str]:
    """The document in the writer's layout (header line, one event a line) and in another."""
    events = data.get("events")
    other = json.dumps(data, indent=1)
    if not isinstance(events, list):
        return [other]
    head = json.dumps({k: v for k, v in data.items() if k != "events"})
    lines = ",\n  ".join(json.dumps(e) for e in events)
    return [f'{head[:-1]}, "events": [\n  {lines}\n], "summary": {{}}}}\n', other]


@st.composite
def trace_files(draw: st.DrawFn) -> bytes | None:
    """A trace file's bytes (None: a directory given as one)."""
    kind = draw(st.sampled_from(["edited", "edited", "edited", "truncated", "not utf-8", "directory"]))
    if kind == "directory":
        return None
    header, verdicts = draw(strategies.traces(max_events=3))
    text = written_trace(header, verdicts)
    if kind == "truncated":
        return text.encode()[: draw(st.integers(0, len(text.encode()) - 1))]
    if kind == "not utf-8":
        raw = text.encode()
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + b"\xff\xfe" + raw[at:]
    layouts = _layouts(_edited(json.loads(text), draw))
    return draw(st.sampled_from(layouts)).encode("utf-8", "surrogatepass")


COMMANDS = [
    ["report", "T"],
    ["report", "--format", "json", "T"],
    ["check", "--allow", "/srv", "T"],
    ["check", "--json", "OUT", "T"],
    ["diff", "T", "T"],
    ["merge", "-o", "OUT", "T"],
    ["kube", "harden", "M", "--from", "T"],
    *(["allowlist", "--format", f, "T"] for f in ("policy", "k8s", "docker", "compose", "bwrap", "apparmor")),
]


def _run(argv: list[str]) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            main(argv)
        except SystemExit as exc:
            return int(exc.code or 0), err.getvalue()
    return 0, err.getvalue()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(content=trace_files(), command=st.sampled_from(COMMANDS))
def test_any_file_given_as_a_trace_is_a_documented_status_and_one_line(
    content: bytes | None, command: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as work:
        trace = Path(work, "t.json")
        if content is None:
            trace.mkdir()
        else:
            trace.write_bytes(content)
        Path(work, "pod.yaml").write_text(MANIFEST)
        names = {"T": str(trace), "OUT": f"{work}/out.json", "M": f"{work}/pod.yaml"}
        status, stderr = _run([names.get(a, a) for a in command])
    assert status in DOCUMENTED, stderr
    assert "Traceback" not in stderr, stderr
    if status == EXIT_BAD_INPUT:
        errors = [line for line in stderr.splitlines() if line.startswith("rotrace: error: ")]
        assert len(errors) == 1 and stderr.endswith(errors[0] + "\n"), stderr
    else:  # a verdict: the input was a trace, and no error was said
        assert "rotrace: error" not in stderr and "Usage:" not in stderr, stderr
