"""Contracts declared once: the messages between rotrace's processes (tracer/channel.py) and
the exit statuses (errors.py), which the CLI's help is made from."""

from __future__ import annotations

import ast
from pathlib import Path

from click.testing import CliRunner

from rotrace.cli import cli
from rotrace.errors import EXIT_STATUSES
from rotrace.tracer.channel import KINDS

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "rotrace"


def _kind_strings(tree: ast.AST) -> list[str]:
    """String constants that stand for a message kind: compared with (== or !=), or first in a
    tuple (a frame)."""
    found = []
    for node in ast.walk(tree):
        candidates: list[ast.expr] = []
        if isinstance(node, ast.Compare) and all(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            candidates = [node.left, *node.comparators]
        elif isinstance(node, ast.Tuple) and node.elts:
            candidates = [node.elts[0]]
        found += [c.value for c in candidates if isinstance(c, ast.Constant) and c.value in KINDS]
    return found


def test_message_kinds_are_spelt_in_the_channel_only() -> None:
    bare = {}
    for path in [*SRC.rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]:
        if path != SRC / "tracer" / "channel.py":
            kinds = _kind_strings(ast.parse(path.read_text()))
            if kinds:
                bare[str(path.relative_to(ROOT))] = kinds
    assert bare == {}


def test_the_kind_check_sees_a_bare_kind() -> None:
    tree = ast.parse('if frame[0] == "events": pass\nsend(("result", x))\nif "events" in data: pass')
    assert _kind_strings(tree) == ["events", "result"]


def test_every_kind_is_declared_once_with_fields() -> None:
    assert len(KINDS) == len(set(KINDS.values()))
    assert all(isinstance(m._fields, tuple) for m in KINDS.values())


def test_the_help_lists_the_exit_statuses_of_errors_py() -> None:
    for command in ([], ["run"], ["check"], ["report"], ["allowlist"], ["diff"]):
        out = CliRunner().invoke(cli, [*command, "--help"], terminal_width=200).output
        listed = [line.split(None, 1) for line in out.split("Exit status:")[1].strip().splitlines()]
        assert [(int(s), m) for s, m in listed] == list(EXIT_STATUSES), command
