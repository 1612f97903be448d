"""GitHub Actions (GITHUB_ACTIONS=true): an `::error` annotation per violation group and a
Markdown step summary ($GITHUB_STEP_SUMMARY). Workflow-command data is escaped as the runner
requires (% CR LF; and : , in properties), so no file name can start a command of its own;
in the summary every name is a code span, so none renders as Markdown or HTML."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shlex
import stat
from typing import IO

from rotrace.escape import is_plain, safe_text
from rotrace.pathnames import is_under, outermost
from rotrace.policy.mounts import MountPlan
from rotrace.policy.policyfile import Breach
from rotrace.record import TraceHeader
from rotrace.report.aggregate import Aggregate
from rotrace.report.quiet import counted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rotrace.report.diff import Change, TraceDiff


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _file_property(path: str) -> str:
    """A file's path as an annotation's `file=` names it: escaped the way the runner reads it back
    (a line break, `:`, `,`, `%`), so that it points at the file; a path with other characters no
    log should carry (a terminal's escapes, invalid UTF-8) is shown escaped, pointing nowhere."""
    plain = is_plain(path.replace("\n", "").replace("\r", ""), starts_line=False)
    return escape_property(path if plain else safe_text(path))


def annotation_lines(agg: Aggregate, plan: MountPlan) -> list[str]:
    lines = []
    fixes = {b.point: b for b in plan.blocked}
    for g in sorted(agg.violations.values(), key=lambda g: (-g.count, g.where)):
        procs = ", ".join(f"{agg.label(exe, pid)} {pid}" for (exe, pid), _ in g.processes.most_common(2))
        writes = counted(g.count, "write")
        message = f"{g.where}: {writes} outside the allowlist ({', '.join(g.ops)}) by {procs}"
        if g.blocked:
            message += f"; no mount can fix it: {g.blocked}"
        blocked = fixes.get(g.where)
        known = blocked.explanations if blocked else g.explanations
        fixed = [(k, n, fix) for k, n in known.items() if (fix := k.fix_unmounted if blocked else k.fix)]
        for k, _, fix in sorted(fixed, key=lambda kfn: -kfn[1])[:2]:
            message += f"; fix ({k.title}): {fix}"
        title = f"rotrace: writes outside the allowlist in {g.where}"
        lines.append(f"::error title={escape_property(safe_text(title))}::{escape_data(safe_text(message))}")
    return lines


_MD_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # ASCII punctuation: CommonMark escapes each


def md_text(text: str) -> str:
    """Text that Markdown shows as it is: every ASCII punctuation character backslash-escaped
    (no emphasis, link, image, HTML tag, table cell or code span can start), on one line."""
    return _MD_PUNCTUATION.sub(r"\\\1", safe_text(text))


def md_code(text: str, table: bool = False) -> str:
    """A code span showing `text` exactly (escaped by safe_text: one line, no control
    characters): fenced by one backtick more than the longest run inside it, padded with a
    space where CommonMark would otherwise take a backtick or a space as part of the fence.
    In a table cell each `|` is escaped: GFM splits cells before it reads code spans."""
    content = safe_text(text) or " "
    fence = "`" * (max((len(run) for run in re.findall(r"`+", content)), default=0) + 1)
    if content[0] == "`" or content[-1] == "`" or (content[0] == content[-1] == " " and content.strip()):
        content = f" {content} "
    if table:
        content = content.replace("|", "\\|")
    return f"{fence}{content}{fence}"


def _processes(procs: list[tuple[tuple[str, int], int]], table: bool, agg: Aggregate) -> str:
    return ", ".join(f"{md_code(agg.label(exe, pid), table)} {pid}" for (exe, pid), _ in procs)


def _ending(header: TraceHeader) -> str:
    if header.checkpoint is not None:
        return f"checkpoint at {md_code(header.checkpoint)} (still running)"
    if header.let_go:
        return "let go (still running)"
    return f"exit status {header.exit_code}"


def step_summary(header: TraceHeader, agg: Aggregate, plan: MountPlan) -> str:
    """Markdown in which every name (command, paths, programs, reasons that quote paths) is a
    code span, and rotrace's own prose is escaped: nothing a traced program chose renders as a
    link, an image, HTML, emphasis or a table cell."""
    s = agg.summary
    verdict = f"✗ {counted(s.violations, 'violation')}" if s.violations else "✓ no violations"
    lines = [
        f"### rotrace: {verdict}",
        "",
        f"{md_code(shlex.join(header.command))}: {_ending(header)}, {counted(s.writes, 'write')}"
        f" ({s.venv_writes} into a venv)",
        "",
    ]
    if agg.violations:
        lines += ["| where | writes | ops | processes |", "|---|---:|---|---|"]
        for g in sorted(agg.violations.values(), key=lambda g: (-g.count, g.where)):
            where, ops = md_code(g.where, True), md_code(", ".join(g.ops), True)
            lines.append(
                f"| {where} | {g.count} | {ops} | {_processes(g.processes.most_common(2), True, agg)} |"
            )
        lines.append("")
    if plan.blocked or plan.mounts:
        lines.append("**What to change**")
        lines.append("")
        for b in plan.blocked:
            lines.append(f"- {md_code(b.point)}: {md_code(b.reason)}")
            for k, n in b.explanations.items():
                if k.fix_unmounted is not None:  # (a writer whose fix is the mount: none there)
                    lines.append(f"  - {md_text(k.title)} ({n}): {md_text(k.fix_unmounted)}")
        if plan.mounts:
            lines.append(f"- writable mounts: {', '.join(md_code(m) for m in plan.mounts)}")
    return "\n".join(lines) + "\n"


def policy_annotations(policy: str, line: int, breaches: list[Breach]) -> list[str]:
    """An `::error` per breach, on the line of the policy file that would allow it (its `allow`
    list): where the fix goes, in the pull request's diff."""
    where = f"file={_file_property(policy)},line={line}"
    title = escape_property(safe_text(f"rotrace: a write outside the policy {policy}"))
    return [f"::error {where},title={title}::{escape_data(b.describe())}" for b in breaches]


def policy_summary(policy: str, breaches: list[Breach], unused: list[str]) -> str:
    """The step summary's table of the writes outside the policy, and the rules no run used."""
    places = counted(len(breaches), "place")
    verdict = f"✗ {places} outside the policy" if breaches else "✓ every write within the policy"
    lines = [f"### rotrace check: {md_code(policy)}: {verdict}", ""]
    if breaches:
        lines += ["| trace | command | program | where | writes |", "|---|---|---|---|---:|"]
        for b in breaches:
            cells = [md_code(c, True) for c in (b.trace, b.command, b.program, b.example)]
            lines.append(f"| {' | '.join(cells)} | {b.count} |")
        lines.append("")
    if unused:
        lines += [f"Rules no run used (the policy could narrow): {', '.join(md_code(u) for u in unused)}", ""]
    return "\n".join(lines) + "\n"


def publish_policy(policy: str, breaches: list[Breach], unused: list[str], out: IO[str]) -> None:
    """`rotrace check` with a policy file, on GitHub Actions: the annotations and the summary."""
    from rotrace.policy.policyfile import allow_line

    workspace = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
    shown = os.path.relpath(os.path.abspath(policy), workspace)
    if shown.startswith(".."):
        shown = policy
    for line in policy_annotations(shown, allow_line(policy), breaches):
        print(line, file=out)
    _append_summary(policy_summary(shown, breaches, unused), out)


def publish(header: TraceHeader, agg: Aggregate, plan: MountPlan, out: IO[str]) -> None:
    for line in annotation_lines(agg, plan):
        print(line, file=out)
    _append_summary(step_summary(header, agg, plan), out)


# The most annotations a diff makes (the runner shows ten errors a step), and the most
# changes its summary's table lists (the terminal's report, -v, lists them all)
_DIFF_ANNOTATED, _DIFF_ROWS = 10, 50


def _by_directory(changes: list[Change]) -> list[tuple[str, list[Change]]]:
    """The changes by directory, each below another directory of theirs with it (a new tree is
    one group, at its top): the largest first."""
    groups: dict[str, list[Change]] = {}
    tops = outermost({c.directory for c in changes})
    for c in sorted(changes, key=lambda c: (c.directory, c.path)):
        groups.setdefault(next(t for t in tops if is_under(c.directory, t)), []).append(c)
    return sorted(groups.items(), key=lambda dg: (-len(dg[1]), dg[0]))


def _change_text(c: Change) -> str:
    example = f" ({c.example})" if c.example is not None else ""
    return f"{c.op} {c.path}{example}" + (f" -> {c.target}" if c.target is not None else "")


def diff_annotations(diff: TraceDiff) -> list[str]:
    """An `::error` when the command failed where it succeeded before, then one per tree of new
    violations (a write outside the allowlist the baseline did not make, or one that is a
    violation now and was not), the largest first: ten in all at most, the runner's limit, the
    last one saying how many more there are."""
    lines = []
    if diff.newly_failed and diff.outcome is not None:
        was, now = diff.outcome
        message = f"the command failed ({now}), where it succeeded before ({was})"
        lines.append(f"::error title=rotrace diff%3A the command failed::{escape_data(safe_text(message))}")
    groups = _by_directory(diff.new_violations)
    room = _DIFF_ANNOTATED - len(lines)
    shown = groups if len(groups) <= room else groups[: room - 1]
    for directory, group in shown:
        examples = "; ".join(_change_text(c) for c in group[:3])
        more = f" and {len(group) - 3} more" if len(group) > 3 else ""
        message = f"{directory}: {counted(len(group), 'new write')} outside the allowlist: {examples}{more}"
        fixes = {c.explanation.title: c.explanation.fix for c in group if c.explanation is not None}
        for title, fix in list(fixes.items())[:2]:
            message += f"; fix ({title}): {fix}"
        title = f"rotrace diff: new writes outside the allowlist in {directory}"
        lines.append(f"::error title={escape_property(safe_text(title))}::{escape_data(safe_text(message))}")
    if len(shown) < len(groups):
        left = sum(len(g) for _, g in groups[len(shown) :])
        others = len(groups) - len(shown)
        message = (
            f"{counted(left, 'more new write')} outside the allowlist in {others} other directories"
            " (the step summary and `rotrace diff -v` list them)"
        )
        lines.append(f"::error title=rotrace diff::{escape_data(safe_text(message))}")
    return lines


def _change_rows(changes: list[Change]) -> list[str]:
    rows = ["| op | path | other name | result | violation |", "|---|---|---|---|---|"]
    for c in changes[:_DIFF_ROWS]:
        target = md_code(c.target, True) if c.target is not None else ""
        errnos = md_code(", ".join(sorted(c.errnos)), True) if c.errnos else ""
        path = md_code(c.path, True) + (f" ({md_code(c.example, True)})" if c.example is not None else "")
        cells = [md_code(c.op, True), path, target, errnos, "yes" if c.violation else ""]
        rows.append(f"| {' | '.join(cells)} |")
    if len(changes) > _DIFF_ROWS:
        rows += ["", f"… and {len(changes) - _DIFF_ROWS:,} more (`rotrace diff -v` lists them)"]  # (no name)
    return [*rows, ""]


def diff_summary(diff: TraceDiff) -> str:
    """The step summary of a diff against a baseline: the verdict, how the command ended, the
    new violations (then the other changes, in tables), and what changed in the environment.
    Every name is a code span, as in the run's summary."""
    new = diff.new_violations
    verdict = f"✗ {counted(len(new), 'new violation')}" if new else "✓ no new violations"
    lines = ["", f"### rotrace diff: {verdict}", ""]  # (after a run's summary: a block apart)
    if diff.newly_failed and diff.outcome is not None:
        was, now = diff.outcome
        lines += [f"✗ the command failed ({md_code(now)}), where it succeeded before ({md_code(was)})", ""]
    elif diff.outcome is not None:
        was, now = diff.outcome
        lines += [f"The command ended otherwise: {md_code(was)} before, {md_code(now)} now", ""]
    if diff.command is not None:
        was, now = (shlex.join(argv) for argv in diff.command)
        lines += [f"The command changed: {md_code(was)} before, {md_code(now)} now", ""]
    sections = (
        ("New violations", new),
        ("Other writes that appeared", [c for c in diff.appeared if not c.violation]),
        ("Writes that were violations, and are not now", diff.ceased),
        ("Writes that disappeared", diff.disappeared),
    )
    for title, changes in sections:
        if changes:
            lines += [f"**{md_text(title)}** ({len(changes):,})", "", *_change_rows(changes)]
    if not any(changes for _, changes in sections):
        lines += ["No change in what is written.", ""]
    if diff.environment:
        lines += ["**The environment changed**", "", "| name | before | now |", "|---|---|---|"]
        for name, (before, after) in diff.environment.items():
            values = [md_code(v, True) if v is not None else "(unset)" for v in (before, after)]
            cells = [md_code(name, True), *values]
            lines.append(f"| {' | '.join(cells)} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def publish_diff(diff: TraceDiff, out: IO[str], annotate: bool = True) -> None:
    """`rotrace diff` (and `run --baseline`), on GitHub Actions: the annotations (`annotate`:
    not where the run's own annotations already name each violation) and the summary."""
    if annotate:
        for line in diff_annotations(diff):
            print(line, file=out)
    _append_summary(diff_summary(diff), out)


class _Held:
    """The step summary and its directory, opened before a confined command started."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.directory = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.name = os.path.basename(path)
        try:
            self.fd = _open_summary(self.name, self.directory)
        except OSError:
            os.close(self.directory)
            raise

    def append(self, text: str, out: IO[str]) -> None:
        """Into the summary, if its name in its directory still names the file opened before;
        else (the command put another file there, its own summary) into what that name holds
        now, in the same directory, after saying so."""
        try:
            with contextlib.ExitStack() as closing:
                closing.callback(os.close, self.directory)
                held = closing.enter_context(os.fdopen(self.fd, "a", encoding="utf-8"))
                try:
                    now = os.stat(self.name, dir_fd=self.directory, follow_symlinks=False)
                except FileNotFoundError:
                    now = None
                here = os.fstat(held.fileno())
                if now is not None and (now.st_dev, now.st_ino) == (here.st_dev, here.st_ino):
                    held.write(text)
                    return
                said = f"rotrace: the traced command replaced the step summary {self.path} while it ran"
                print(safe_text(f"{said}: what it holds before rotrace's summary is the command's"), file=out)
                fd = _open_summary(self.name, self.directory)
                with os.fdopen(fd, "a", encoding="utf-8") as f:
                    f.write(text)
        except OSError as exc:
            why = _REFUSED.get(exc.errno or 0, exc.strerror)
            print(safe_text(f"rotrace: cannot write the step summary {self.path}: {why}"), file=out)


_held: _Held | None = None  # the summary opened before the command started


def hold_summary() -> None:
    """Open the step summary and its directory now, before a confined command starts: it may
    replace a directory on the way to the summary with a symlink (a place the allowlist
    refuses it), where an open by name after it ran would append. A failure is said when the
    summary is written."""
    global _held
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path and _held is None:
        with contextlib.suppress(OSError):
            _held = _Held(path)


def _append_summary(text: str, out: IO[str]) -> None:
    global _held
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    held, _held = _held, None
    if held is not None and held.path == path:
        held.append(text, out)
        return
    if path:
        try:
            fd = _open_summary(path)
        except OSError as exc:
            why = _REFUSED.get(exc.errno or 0, exc.strerror)
            print(safe_text(f"rotrace: cannot write the step summary {path}: {why}"), file=out)
            return
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(text)


# ENXIO: a FIFO without a reader (or a socket), which O_NONBLOCK does not wait on
_REFUSED = {errno.ELOOP: "a symbolic link", errno.ENXIO: "not a regular file"}


def _open_summary(path: str, directory: int | None = None) -> int:
    """The step summary, open for appending: the runner makes it a regular file, and the
    command (which may write beside it) could have put a FIFO there (no reader: rotrace would
    wait for ever) or a symbolic link (rotrace would append where it points). Neither is
    followed nor waited on. `directory`: an fd the path is relative to."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                 0o666, dir_fd=directory)  # fmt: skip
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    os.set_blocking(fd, True)
    return fd
