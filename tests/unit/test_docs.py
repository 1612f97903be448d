"""The README and docs/: a short front page, links that lead somewhere, no development history,
and the facts they share with the code (exit statuses, the trace's schema) kept equal."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

import rotrace.errors
from rotrace.explain import KNOWN
from tests.support.known_table import table
from tests.support.schema import schema_errors

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
_CODE = re.compile(r"`[^`\n]*`")
_INLINE_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.M)
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """The text outside code blocks and code spans: where links and references live."""
    return _CODE.sub("", _FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _HEADING.findall(_FENCE.sub("", page.read_text())):
        slug = _slug(heading)
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _links(page: Path) -> list[str]:
    prose = _prose(page.read_text())
    return _INLINE_LINK.findall(prose) + _REFERENCE.findall(prose)


def test_readme_is_a_short_front_page() -> None:
    assert len(README.read_text().splitlines()) <= 300


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_lead_to_a_file_and_a_heading(page: Path) -> None:
    broken = []
    for link in _links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):  # https:, mailto:
            continue
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{link}: no file {path.relative_to(ROOT)}")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{link}: no heading #{anchor} in {path.relative_to(ROOT)}")
    assert broken == []


def test_every_doc_is_reached_from_the_readme() -> None:
    linked = {(ROOT / link.partition("#")[0]).resolve() for link in _links(README)}
    assert [d.name for d in DOCS if d.resolve() not in linked] == []


# This repository's own history stays in git log: no issue numbers (an upstream one is spelled
# with its project, uv#14411), no commit hashes, no words of a development log.
_ISSUE = re.compile(r"(?<![\w/])#\d+\b|\bissues? \d+\b", re.I)
_HASH = re.compile(r"(?<![\w-])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}(?![\w-])")
_HISTORY = re.compile(r"\b(this|previous|earlier|last) stop\b|\bstops ago\b", re.I)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_development_history(page: Path) -> None:
    text = page.read_text()
    found = _ISSUE.findall(text) + _HASH.findall(text) + [m.group(0) for m in _HISTORY.finditer(text)]
    assert found == []


def test_the_history_checks_catch_what_they_look_for() -> None:
    assert _ISSUE.search("see #12") and _ISSUE.search("issue 13's targets")
    assert _HASH.search("before = b926f4e") and _HASH.search("(commit 23321f7)")
    assert _HISTORY.search("this stop took")
    assert not _ISSUE.search("[uv#14411] and tokio#7144, docs/usage.md#exit-status")
    assert not _HASH.search("srv-more-itertools-pytest-cache-e53115e9, 0x8000, 1000000, deadbeef")


def _errors_table() -> list[tuple[str, str]]:
    return [(str(status), meaning) for status, meaning in rotrace.errors.EXIT_STATUSES]


def test_exit_statuses_in_the_docs_are_errors_py_s() -> None:
    """docs/usage.md, "Exit status": src/rotrace/errors.py's table, row by row."""
    text = (ROOT / "docs" / "usage.md").read_text()
    section = text.split("\n## Exit status\n", 1)[1].split("\n## ", 1)[0]
    table = section[section.index("| Status | Meaning |") :].split("\n\n", 1)[0].splitlines()
    rows = [tuple(cell.strip() for cell in row.strip("|").split("|")) for row in table[2:]]
    expected = _errors_table()
    assert [s for s, _ in expected] == ["0", "1", "8", "9", "2", "3", "4", "5", "70", "126", "127", "141"]
    assert rows == expected


def test_the_trace_example_matches_the_schema() -> None:
    text = (ROOT / "docs" / "trace-format.md").read_text()
    example = re.search(r"## The JSON trace.*?```json\n(.*?)```", text, re.S)
    assert example is not None
    assert schema_errors(json.loads(example.group(1))) == []


def test_known_writers_table_renders_each_text_as_written() -> None:
    """The table's cells are Markdown: a name like __pycache__ stays a name, not bold text, and
    a `|` in a fix cannot split a cell."""
    html = MarkdownIt("commonmark").enable("table").render(table())
    rows = re.findall(r"<tr>\n(.*?)</tr>", html, re.S)[1:]
    text = lambda cell: unescape(re.sub(r"<[^>]+>", "", cell))  # noqa: E731
    cells = [[text(c) for c in re.findall(r"<td>(.*?)</td>", row, re.S)] for row in rows]
    plain = lambda prose: prose.replace("`", "")  # noqa: E731
    assert [row[1:] for row in cells] == [[plain(k.title), plain(k.who), plain(k.fix)] for k in KNOWN]
