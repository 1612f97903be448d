"""Any file given as a policy (rotrace.toml, or a pyproject.toml's [tool.rotrace]), to `check`:
valid TOML with any key and any value (NUL, surrogates, globs a file name might hold, wrong
types), nested past the parser's recursion, or text that is not TOML or not UTF-8. Whatever it
is, rotrace's answer is a documented exit status, and a fault of the policy one line naming
it: never a traceback, never an internal error (exit 70)."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rotrace.cli import main
from rotrace.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_STATUSES
from tests.unit.factories import written_trace
from tests.unit.strategies import headers

DOCUMENTED = {status for status, _ in EXIT_STATUSES} - {EXIT_INTERNAL}
KEYS = ["version", "defaults", "allow", "allow_bytes", "persistent", "env", "other"]

entries = st.sampled_from(
    ["", "=", "==x", "/srv/x", "x/y", "~", "~nobody/x", "/srv/[z-a]", "/srv/[a-", "/srv/*", "/srv/**/x",
     "/srv/\\*", "/srv/x\x00y", "%00", "%ZZ", "/srv/caf%E9", "\udc80", "/srv/{a,b}", "/\u2028", "/x\n"]
) | st.text(max_size=10)  # fmt: skip
toml_values = st.recursive(
    st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | entries,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(entries | st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=6,
)
tables = st.dictionaries(st.sampled_from(KEYS), toml_values | st.lists(entries, max_size=3), max_size=4)


@st.composite
def policy_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """(its name, its bytes)."""
    name = draw(st.sampled_from(["rotrace.toml", "pyproject.toml"]))
    kind = draw(st.sampled_from(["table", "table", "nested", "text"]))
    if kind == "nested":
        depth = draw(st.integers(2000, 20000))  # past the recursion limit, at any stack depth
        opening, closing = draw(st.sampled_from([("[", "]"), ("{a = ", "}")]))
        text = f"allow = {opening * depth}1{closing * depth}\n"
    elif kind == "text":
        return name, draw(st.binary(max_size=60) | st.text(max_size=60).map(str.encode))
    else:
        table: dict[str, Any] = draw(tables)
        try:
            text = tomli_w.dumps({"tool": {"rotrace": table}} if name == "pyproject.toml" else table)
        except (TypeError, ValueError):  # what TOML cannot hold (NaN is fine, None is not)
            text = "version = 1\n"
    return name, text.encode("utf-8", "surrogatepass")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=policy_files(), header=headers)
def test_any_file_given_as_a_policy_is_a_documented_status_and_one_line(
    policy: tuple[str, bytes], header: Any
) -> None:
    name, content = policy
    with tempfile.TemporaryDirectory() as work:
        Path(work, name).write_bytes(content)
        Path(work, "t.json").write_text(written_trace(header, []))
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                main(["check", "--policy", f"{work}/{name}", f"{work}/t.json"])
                status = 0
            except SystemExit as exc:
                status = int(exc.code or 0)
    stderr = err.getvalue()
    assert status in DOCUMENTED and "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("rotrace: error: ")]
    if status == EXIT_BAD_INPUT:
        assert len(errors) == 1 and errors[0].startswith(f"rotrace: error: policy {work}/{name}"), stderr
    else:
        assert not errors, stderr
