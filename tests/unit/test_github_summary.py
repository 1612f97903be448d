"""The GitHub step summary and annotations with names a traced program chose: rendered by a
CommonMark parser with GFM tables (markdown-it-py, as GitHub renders a summary), no name
becomes a link, an image, HTML, emphasis or another table cell: each shows, exactly, as code.
The annotations stay one workflow command each."""

from __future__ import annotations

import os
import re
import shlex
from html.parser import HTMLParser

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from rotrace.escape import safe_text
from rotrace.events import DirState
from rotrace.pathnames import generalise, is_general
from rotrace.policy.mounts import MountPlanner
from rotrace.report.aggregate import Aggregate
from rotrace.report.diff import Change, TraceDiff
from rotrace.report.github import annotation_lines, diff_annotations, diff_summary, step_summary
from rotrace.tracefile import TraceHeader
from tests.unit.factories import classify, event

HOSTILE = ["[x](http://e)", "<img src=x>", "![i](http://e/i.png)", "`", "``a`", "a`b", "` x `", "a|b",
           "a\\|b", "|", "a\nb", "a\r\nb", "**b**", "_i_", "&amp;", "<script>alert(1)</script>", "<http://e>",
           "www.e.com", "a@e.com", " x ", "#", "- x", "\\", "\u2028", "[^1]", "~~s~~", "%0A::error::x",
           "a,b:c"]  # fmt: skip
# text: lone surrogates are no name (bytes that are not UTF-8 are test_pathnames_escape's)
text = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
piece = st.sampled_from([*HOSTILE, "a", " ", "/"]) | text
names = st.one_of(st.sampled_from(HOSTILE), st.lists(piece, min_size=1, max_size=6).map("".join))
TAGS = {"h3", "p", "code", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "strong"}


class _Html(HTMLParser):
    """The tags, their attributes, the text of each <code>, and the cells of each table row."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.code: list[str] = []
        self.rows: list[int] = []
        self._in_code = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        if tag == "code":
            self._in_code = True
            self.code.append("")
        elif tag == "tr":
            self.rows.append(0)
        elif tag in ("td", "th"):
            self.rows[-1] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self._in_code = False

    def handle_data(self, data: str) -> None:
        if self._in_code:
            self.code[-1] += data


def _summary(name: str) -> tuple[str, list[str], list[str]]:
    """A run whose command, program and directories carry `name`; the summary, the strings it
    must show as code, and the annotations."""
    component = name.replace("/", "_") or "_"
    assume(not is_general(component) and component not in (".", ".."))  # per-run names: planned at the parent
    try:  # a name a file can have: bytes, or str as os.fsdecode gives them (no lone surrogate)
        exe = os.fsencode(f"/usr/bin/{component}")
    except UnicodeEncodeError:
        assume(False)
    data, new = f"/srv/data/{component}", f"/srv/{component}"
    events = [
        event(f"{data}/f", "create", exe=exe),
        event(new, "mkdir", 0, exe=exe),
        event(f"{new}/f", "create", exe=exe),
    ]
    states = {b"/srv/data": DirState.CONTENT, os.fsencode(data): DirState.CONTENT, b"/srv": DirState.CONTENT,
              os.fsencode(new): DirState.ABSENT}  # fmt: skip
    verdicts = classify(*events)
    planner = MountPlanner("/srv/app", states)
    for v in verdicts:
        planner.learn(v)
    agg = Aggregate()
    for v in verdicts:
        agg.add(v, planner.place(v))
    plan = planner.plan()
    (blocked,) = plan.blocked
    assert plan.mounts == [new] and blocked.point == data
    header = TraceHeader(command=["sh", "-c", name], cwd="/srv/app", exit_code=0)
    shown = [shlex.join(header.command), generalise(data), generalise(new), component, blocked.reason, new]
    return step_summary(header, agg, plan), [safe_text(s) for s in shown], annotation_lines(agg, plan)


@settings(max_examples=200, deadline=None)
@given(names)
def test_every_name_in_the_summary_is_code_and_nothing_else(name: str) -> None:
    markdown, shown, _ = _summary(name)
    html = _Html()
    html.feed(MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown))
    assert {tag for tag, _ in html.tags} <= TAGS, html.tags  # no <a>, <img>, <script>, <em>...
    assert [attrs for _, attrs in html.tags if attrs and attrs != [("style", "text-align:right")]] == []
    assert sum(tag == "strong" for tag, _ in html.tags) == 1  # "What to change", nothing from a name
    assert html.rows == [4, 4, 4]  # the header row and one row per place, four cells each
    for text in shown:
        assert text in html.code, (text, html.code)


@settings(max_examples=200, deadline=None)
@given(names)
def test_annotations_stay_one_workflow_command_each(name: str) -> None:
    _, _, lines = _summary(name)
    assert len(lines) == 2
    for line in lines:
        assert re.fullmatch(r"::error title=[^:,\r\n\x85\u2028\u2029]+::[^\r\n\x85\u2028\u2029]+", line), line


def _diff(name: str) -> TraceDiff:
    """A drift whose paths, other names, environment and command carry `name`."""
    new = Change("create", f"/srv/{name}/f", {"ok"}, violation=True, target=f"/srv/x/{name}")
    return TraceDiff(
        appeared=[new, Change("mkdir", f"$CWD/{name}", {"EEXIST"})],
        disappeared=[Change("create", f"/var/{name}", {"ok"})],
        environment={name or "N": ("1", name), "UV_CACHE_DIR": (name, None)},
        outcome=("exit status 0", f"exit status 1 {name}"),
        newly_failed=True,
        command=(["app", name], ["app"]),
    )


@settings(max_examples=200, deadline=None)
@given(names)
def test_every_name_in_the_diff_summary_is_code_and_nothing_else(name: str) -> None:
    html = _Html()
    html.feed(MarkdownIt("commonmark", {"html": True}).enable("table").render(diff_summary(_diff(name))))
    assert {tag for tag, _ in html.tags} <= TAGS, html.tags
    assert [attrs for _, attrs in html.tags if attrs] == []
    # three tables (new violations, other writes, gone), one row each, and the environment's
    assert html.rows == [5, 5, 5, 5, 5, 5, 3, 3, 3], html.rows
    # headings of the four sections rotrace writes, none from a name
    assert sum(tag == "strong" for tag, _ in html.tags) == 4
    for text in (f"/srv/{name}/f", f"/srv/x/{name}", f"$CWD/{name}", f"/var/{name}", f"exit status 1 {name}"):
        assert safe_text(text) in html.code, (text, html.code)


@settings(max_examples=200, deadline=None)
@given(names)
def test_diff_annotations_stay_one_workflow_command_each(name: str) -> None:
    lines = diff_annotations(_diff(name))
    assert len(lines) == 2  # the new violation's directory, the command that failed
    for line in lines:
        assert re.fullmatch(r"::error title=[^:,\r\n\x85\u2028\u2029]+::[^\r\n\x85\u2028\u2029]+", line), line


def test_diff_annotations_fit_what_the_runner_shows() -> None:
    """The runner shows ten error annotations a step: a new tree of eleven directories is one
    annotation at its top, and past ten places the last says how many more; the command that
    failed where it succeeded before comes first, never dropped."""
    tree = [Change("mkdir", "$CWD/data", {"ok"}, violation=True)]
    tree += [Change("create", f"$CWD/data/d{i:02}/f", {"ok"}, violation=True) for i in range(11)]
    ended = ("exit status 0", "exit status 3")
    failed, place = diff_annotations(TraceDiff(tree, [], outcome=ended, newly_failed=True))
    assert "the command failed (exit status 3)" in failed
    assert place.startswith("::error title=rotrace diff%3A new writes outside the allowlist in $CWD::$CWD: ")
    assert ": 12 new writes outside the allowlist: mkdir $CWD/data;" in place, place
    apart = [Change("create", f"/srv/p{i:02}/f", {"ok"}, violation=True) for i in range(15)]
    lines = diff_annotations(TraceDiff(appeared=apart, disappeared=[], outcome=ended, newly_failed=True))
    assert len(lines) == 10 and "the command failed" in lines[0], lines
    said = "7 more new writes outside the allowlist in 7 other directories (the step summary and `rotrace"
    assert said in lines[-1], lines[-1]
    markdown = diff_summary(TraceDiff(appeared=apart * 4, disappeared=[]))
    assert "\n… and 10 more (`rotrace diff -v` lists them)\n" in markdown, markdown


def test_one_write_and_one_place_are_said_in_the_singular() -> None:
    """`1 writes outside the allowlist`, `✗ 1 places outside the policy`, where the report says
    "1 violation in 1 place · 1 write"."""
    from rotrace.policy.policyfile import Breach
    from rotrace.report.github import policy_summary

    verdicts = classify(event("/srv/app/one", "mkdir", 0, syscall="mkdir"))
    planner = MountPlanner("/srv/app", {b"/srv/app": DirState.CONTENT})
    for v in verdicts:
        planner.learn(v)
    agg = Aggregate()
    for v in verdicts:
        agg.add(v, planner.place(v))
    (line,) = annotation_lines(agg, planner.plan())
    assert ": 1 write outside the allowlist (mkdir)" in line, line
    header = TraceHeader(command=["mkdir", "one"], cwd="/srv/app", exit_code=0)
    summary = step_summary(header, agg, planner.plan())
    assert summary.startswith("### rotrace: ✗ 1 violation\n")
    assert ": exit status 0, 1 write (0 into" in summary
    breach = Breach("t.json", "mkdir one", "mkdir", "/srv/app/one", "/srv/app/one", 1)
    assert "✗ 1 place outside the policy" in policy_summary("rotrace.toml", [breach], [])


def test_a_policy_annotation_points_at_the_policy_file_whatever_its_name() -> None:
    """`file=` carried the report's display escapes (`conf\\x0aig/rotrace.toml`), which name no
    file: escaped as the runner reads it back (%0A, %3A, %2C, %25), it points at the policy; a
    name no log should carry (a terminal escape) is still shown escaped."""
    from rotrace.report.github import policy_annotations

    for name, expected in (
        ("conf\nig/rotrace.toml", "conf%0Aig/rotrace.toml"),
        ("ci::warning::x/rotrace.toml", "ci%3A%3Awarning%3A%3Ax/rotrace.toml"),
        ("plain:dir,1%/rotrace.toml", "plain%3Adir%2C1%25/rotrace.toml"),
    ):
        (line,) = policy_annotations(name, 3, [_Breach()])
        assert line.startswith(f"::error file={expected},line=3,"), line
    (line,) = policy_annotations("e\x1b[31mvil/rotrace.toml", 3, [_Breach()])
    assert "\x1b" not in line and "file=e\\x1b[31mvil/rotrace.toml" in line


class _Breach:
    def describe(self) -> str:
        return "a write outside the policy"
