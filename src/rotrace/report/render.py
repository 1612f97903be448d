"""The terminal report (rich, to stderr): the verdict first, then what to change, then the
violations grouped by where the fix applies, with the processes behind them.

Every name goes through safe_text and into Text objects, never into markup, so a file called
`[red]x` prints as itself. On a terminal the lines wrap at its width (or COLUMNS); piped, they
are neither wrapped nor padded.
"""

from __future__ import annotations

import os
import shlex
from collections import Counter
from collections.abc import Iterable

from rich.console import Console
from rich.text import Text

from rotrace.escape import safe_text
from rotrace.pathnames import generalise, is_under, program_name
from rotrace.patterns import decimal
from rotrace.policy.mounts import MountPlan
from rotrace.record import TraceHeader
from rotrace.report.aggregate import Aggregate, Group
from rotrace.report.quiet import counted, verdict_parts

_MORE_PLACES = 12  # violation groups shown without -v


_n = counted


def _counts(counter: Counter[str], limit: int = 4) -> str:
    items = counter.most_common()
    shown = ", ".join(f"{k} ×{v:,}" if v > 1 else k for k, v in items[:limit])
    return shown + (f", +{len(items) - limit} more" if len(items) > limit else "")


def _processes(group: Group, agg: Aggregate) -> str:
    items = group.processes.most_common()
    shown = ", ".join(f"{safe_text(agg.label(exe, pid))} {pid}" for (exe, pid), _ in items[:2])
    return shown + (f" +{len(items) - 2}" if len(items) > 2 else "")


def verdict_line(agg: Aggregate, header: TraceHeader) -> Text:
    """The one line `-q` prints."""
    line = Text()
    for text, style in verdict_parts(agg, header):
        line.append(text, style=style or None)
    return line


# A venv's writer no known writer's entry explains (gradio's hash seed in its package)
_UNKNOWN_VENV_FIX = (
    "fix: have the file made when the image is built (run the program once in the build, so that"
    " the venv holds it), or point the program's own option for it outside the venv"
)


def _what_to_change(plan: MountPlan, console: Console) -> None:
    if not (plan.blocked or plan.mounts or plan.settings or plan.changed):
        return
    console.print()
    console.print(Text("What to change", style="bold"))
    for b in plan.blocked:
        line = Text("✗ ", style="red")
        line.append(safe_text(b.point), style="bold")
        line.append(f": no mount can make it writable ({_n(b.count, 'write')}): {safe_text(b.reason)}")
        _print(console, line, 2)
        for known, count in sorted(b.explanations.items(), key=lambda kv: -kv[1]):
            if known.fix_unmounted is None:
                continue  # its fix is the mount that cannot go there
            fix = Text(f"fix ({known.title}, {count:,}): ", style="green")
            fix.append(known.fix_unmounted, style="")
            _print(console, fix, 6)
        if b.kind == "venv" and not b.explanations:  # a writer no entry of the table knows
            _print(console, Text(_UNKNOWN_VENV_FIX, style="green"), 6)
    scratch = [m for m in plan.mounts if m not in plan.persistent]
    kept = [m for m in plan.mounts if m in plan.persistent]
    if scratch:
        line = Text("→ writable mounts (tmpfs, emptyDir): ", style="green")
        line.append(safe_text(", ".join(scratch)))
        _print(console, line, 2)
    if kept:
        line = Text("→ persistent volumes (the data must survive a restart): ", style="green")
        line.append(safe_text(", ".join(m + (" (filled first with what it held)" if m in plan.seeded else "")
                                        for m in kept)))  # fmt: skip
        _print(console, line, 2)
    if plan.changed:  # the plan's own settings, which its mounts hold only with
        line = Text("→ settings: ", style="green")
        line.append(safe_text(" ".join(f"{name}={value}" for name, value in plan.changed.items())))
        _print(console, line, 2)
    if plan.mounts or plan.changed:
        console.print(
            Text("    `rotrace allowlist TRACE --format k8s|docker|compose|policy` writes them", style="dim")
        )
    for known, count in sorted(plan.settings.items(), key=lambda kv: -kv[1]):
        line = Text(f"• {known.title} ({count:,}): ", style="")
        if known.remedy:
            line.append(f"{known.remedy} avoids the mount: {known.fix}", style="dim")
        elif known.mounted:  # the mount is the fix (a cache in ~/.cache): nothing avoids it
            line.append(known.fix, style="dim")
        else:
            line.append(f"to avoid the mount: {known.fix}", style="dim")
        _print(console, line, 2)


def _print(console: Console, text: Text, indent: int) -> None:
    """Wrapped at the console's width, each wrapped line keeping the indent, none padded."""
    for line in text.wrap(console, max(20, console.width - indent)):
        line.rstrip()
        console.print(Text(" " * indent) + line, soft_wrap=True)


def coverage(g: Group, header: TraceHeader) -> str | None:
    """A merged trace's group: in how many of its runs it was written, and by which."""
    seen = header.seen_in(g.runs)
    return None if seen is None else safe_text(seen)


def _group_line(
    g: Group,
    agg: Aggregate,
    cwd: str,
    enforced: bool = False,
    confined: bool = False,
    seen: str | None = None,
) -> Text:
    line = Text()
    line.append(safe_text(g.where), style="bold")  # where the fix applies: the real place
    if g.venv:
        line.append(" (venv)", style="yellow")
    elif g.blocked is not None and cwd and g.where == cwd:
        line.append(" (the working directory)", style="yellow")
    line.append(f"  {_n(g.count, 'write')} · {_counts(g.ops)}")
    failed = {k: v for k, v in g.outcomes.items() if k != "ok"}
    if failed:
        line.append(f" · {_counts(Counter(failed))}", style="red")
    if enforced and g.denied:
        line.append(f" · denied by the policy{_times(g.denied)}", style="bold")
    if confined and g.went_through:
        line.append(f" · went through{_times(g.went_through)}", style="bold red")
    if confined and g.unplaced:
        line.append(f" · succeeded, place unknown{_times(g.unplaced)}", style="bold yellow")
    erofs = g.forecasts.get("EROFS", 0)
    if erofs:
        line.append(f" · read-only root: EROFS ×{erofs:,}" if erofs > 1 else " · read-only root: EROFS")
    line.append(f" · {_processes(g, agg)}", style="cyan")
    if g.examples:  # a write below the group, rather than one of the directory itself
        below = [v for v in g.examples if os.fsdecode(v.event.path) != g.where]
        shown = _example(below[0].event.path, g.where) if below else "the directory itself"
        line.append(f" · e.g. {shown}", style="dim")
    if seen is not None:
        line.append(f" · {seen}", style="magenta")
    return line


def _per_run_names(where: str, cwd: str) -> str:
    """An allowed directory with its per-run names as globs (`/tmp/.tmp*`, counted together),
    the working directory's own names kept as they are (a project in /srv/build20240101)."""
    if cwd and cwd != "/" and is_under(where, cwd):
        return cwd + generalise(where[len(cwd.rstrip("/")) :])
    return generalise(where)


def _times(count: int) -> str:
    return f" ×{count:,}" if count > 1 else ""


def _went_through(agg: Aggregate, enforced: bool) -> Text:
    """The writes outside the allowlist that the confinement let happen, said as such."""
    total, metadata = agg.summary.went_through, agg.metadata_through if enforced else 0
    text = f"{_n(total, 'write')} outside the allowlist went through"
    if metadata == total:
        text += ": chmod, chown, utime and xattrs are not Landlock rights"
    elif metadata:
        text += f" ({metadata:,} chmod, chown, utime or xattr: not Landlock rights)"
    return Text(text, style="bold yellow")


def _example(v_path: bytes, where: str) -> str:
    """The path as seen from its group: relative below it, `.` for the group itself (its name
    would read as a directory of that name below it)."""
    path = os.fsdecode(v_path)
    if path == where:
        return "."
    rel = os.path.relpath(path, where) if is_under(path, where) else path
    return safe_text(rel)


def _write_line(group: Group, agg: Aggregate) -> Iterable[Text]:
    for v in group.examples:
        e = v.event
        target = f" → {_example(e.target, group.where)}" if e.op == "rename" and e.target else ""
        line = Text(f"{e.op:<8} {_example(e.path, group.where)}{target}")
        line.append(f"  ({safe_text(e.syscall)} → {e.outcome}", style="dim")
        line.append(f", {safe_text(agg.label(program_name(e.exe), e.pid))} {e.pid})", style="dim")
        if e.unresolved:
            line.append("  unresolved", style="bold red")
        yield line


MERGED_COMMANDS = 3  # a merged trace's distinct commands in the report's first line, without -v


def title(header: TraceHeader, verbose: bool = False) -> Text:
    """The report's first line: the command, or for a merged trace how many runs of which
    commands (its header's own command is only its first run's)."""
    if not header.sources:
        return Text.assemble(("rotrace ", "bold"), command_line(header.command, verbose))
    commands = list(dict.fromkeys(tuple(s.command) for s in header.sources))
    shown = commands if verbose else commands[:MERGED_COMMANDS]
    text = "; ".join(command_line(list(c), verbose) for c in shown)
    if len(shown) < len(commands):
        text += f"; … {len(commands) - len(shown)} more"
    runs = len(header.sources)
    return Text.assemble(("rotrace ", "bold"), f"merge of {runs} run{'s' if runs != 1 else ''}: {text}")


def render(
    agg: Aggregate, header: TraceHeader, plan: MountPlan, console: Console, verbose: bool = False
) -> None:
    s = agg.summary
    _print(console, title(header, verbose), 0)
    _print(console, verdict_line(agg, header), 0)
    if header.read_only and header.sandbox_writable is None:
        _print(console, Text("traced in a root that was already read-only", style="dim"), 2)
    elif header.read_only:
        writable = safe_text(", ".join(header.sandbox_writable or [])) or "nothing"
        _print(
            console, Text(f"traced in a read-only root (bubblewrap); writable: {writable}", style="dim"), 2
        )
    elif s.ro_failures:
        console.print(Text(f"  under a read-only root {s.ro_failures:,} of these writes would fail (EROFS)",
                           style="yellow"))  # fmt: skip
    confined = header.enforced is not None or header.read_only
    if confined and s.went_through:
        _print(console, _went_through(agg, header.enforced is not None), 2)
    if confined and agg.unplaced:
        unknown = (
            f"{_n(agg.unplaced, 'write')} rotrace could not place succeeded: inside the allowlist or out"
        )
        _print(console, Text(unknown + " of it, unknown", style="bold yellow"), 2)
    for warning in header.warnings:
        _print(console, Text(f"warning: {safe_text(warning)}", style="yellow"), 2)
    for note in plan.notes:
        _print(console, Text(f"plan: {safe_text(note)}", style="yellow"), 2)

    if s.violations:
        _what_to_change(plan, console)

    if agg.violations:
        console.print()
        last = agg.last_failure if header.failed_on_its_own else None  # what the exit most likely followed
        groups = sorted(agg.violations.values(), key=lambda g: (g.where != last, -g.count, g.where))
        shown = groups if verbose else groups[:_MORE_PLACES]
        console.print(Text(f"Violations, by where the fix applies ({len(groups)})", style="bold red"))
        for g in shown:
            seen = coverage(g, header)
            _print(console, _group_line(g, agg, header.cwd, header.enforced is not None, confined, seen), 2)
            if verbose or g.venv:
                yield_lines = list(_write_line(g, agg))
                for line in yield_lines:
                    _print(console, line, 6)
                if g.records > len(yield_lines):  # (a merged trace's line stands for its runs' writes)
                    console.print(Text(f"      … and {g.records - len(yield_lines):,} more (-v lists them)",
                                       style="dim"))  # fmt: skip
            if g.venv:
                console.print(_venv_outcome(g, header, agg.last_failure))
        if len(groups) > len(shown):
            console.print(
                Text(f"  … and {len(groups) - len(shown)} more places (-v lists them)", style="dim")
            )

    # Under --enforce an allowed write the kernel refused all the same (a rule not in force: a
    # directory that did not exist) is listed as denied, by its own path, never under the tick.
    denied = agg.refused_at if header.enforced is not None else Counter[str]()
    allowed = sum(g.count for g in agg.allowed.values()) - sum(denied.values())
    if denied:
        console.print()
        paths = agg.refused_paths.most_common()
        listed = ", ".join(f"{safe_text(p)} ({n:,})" for p, n in paths[:4])
        more = f", … {len(paths) - 4} more" if len(paths) > 4 else ""
        said = f"✗ {_n(sum(denied.values()), 'allowed write')} denied: {listed}{more}"
        _print(console, Text(said, style="bold red"), 0)
    if allowed:
        console.print()
        by_dir: Counter[str] = Counter()
        for g in agg.allowed.values():
            if g.count > denied[g.where]:
                by_dir[_per_run_names(g.where, header.cwd)] += g.count - denied[g.where]
        dirs = by_dir.most_common()
        listed = ", ".join(f"{safe_text(d)} ({n:,})" for d, n in dirs[:4])
        more = f", … {len(dirs) - 4} more" if len(dirs) > 4 else ""
        _print(console, Text(f"✓ {_n(allowed, 'allowed write')}: {listed}{more}", style="green"), 0)
        if verbose or header.sources:
            for g in sorted(agg.allowed.values(), key=lambda g: g.where):
                seen = coverage(g, header)
                console.print(Text(f"  {safe_text(g.where)}" + (f" · {seen}" if seen else ""), style="dim"))
                if not verbose:
                    continue
                for line in _write_line(g, agg):
                    _print(console, line, 6)
    if agg.only_read:
        names = [safe_text(p) for p in sorted(agg.only_read)]
        listed = ", ".join(names[:4]) + (f", … {len(names) - 4} more" if len(names) > 4 else "")
        line = Text(
            f"✓ {_n(len(names), 'SQLite database')} opened read-write, only read: {listed}", style="green"
        )
        _print(console, line, 0)
        them = "it" if len(names) == 1 else "them"
        _print(console, Text(f"under a read-only root SQLite opens {them} read-only", style="dim"), 2)
    if not s.writes:
        console.print(Text("✓ no writes", style="green"))


COMMAND_CHARS = 150  # of the command line in the report's first line, without -v


def command_line(argv: list[str], whole: bool = False, limit: int = COMMAND_CHARS) -> str:
    """The command as a shell would take it (escaped), cut after `limit` characters unless
    `whole`: whole arguments while they fit, then the start of the next, and what was cut (a
    27-wheel `pip install` would otherwise fill the screen before the verdict)."""
    words = [safe_text(shlex.quote(arg)) for arg in argv]
    text = " ".join(words)
    if whole or len(text) <= limit:
        return text
    shown, used = [], 0
    for word in words:
        if used + len(word) > limit:
            break
        shown.append(word)
        used += len(word) + 1
    cut = len(words) - len(shown)
    room = limit - used
    if room >= 12 or not shown:  # the start of the next argument, when it says something
        shown.append(words[len(shown)][: max(room, 1)])
    return f"{' '.join(shown)}… ({cut:,} of {_n(len(words), 'argument')} cut; -v shows them all)"


def _venv_outcome(group: Group, header: TraceHeader, last_failure: str | None = None) -> Text:
    """Did a failed venv write kill the command, or was it tolerated?"""
    if not group.failed_writes:
        return Text(
            "      these writes succeeded here; under a read-only root they would fail", style="yellow"
        )
    if group.tolerated >= group.failed_writes:  # bytecode: Python goes on without it
        some = group.failed_writes < group.count  # the others went through here
        failed = "these writes failed"
        if some:
            failed = f"{group.failed_writes:,} of these {group.count:,} writes failed"
        return Text(
            f"      {failed} and their writer carried on without them (Python runs without the"
            " bytecode it cannot write): still a violation, "
            + ("not what stopped the command" if header.failed_on_its_own else "not what the command needed")
            + ("; the others succeeded here, and under a read-only root they would fail" if some else ""),
            style="yellow",
        )
    if header.failed_on_its_own and last_failure not in (None, group.where):
        return Text(
            "      a venv write failed, but the last write that failed before the exit was in "
            + safe_text(last_failure or ""),
            style="yellow",
        )
    if header.failed_on_its_own:
        return Text(
            "      a venv write failed and the command failed: this is what stops it", style="bold red"
        )
    return Text(
        "      a venv write failed but the command carried on (tolerated): still a violation,"
        " the command did not get what it asked for",
        style="yellow",
    )


# CI logs whose runner reads a command from any line (after its leading spaces): `::` on GitHub
# Actions, `##vso[` on Azure Pipelines. A report wrapped there could start a line with a piece of
# a file name the command made, and the runner would run it (`::stop-commands::` hides every
# annotation after it): piped into one, the report is never wrapped, whatever COLUMNS says.
_COMMAND_LOGS = (("GITHUB_ACTIONS", "true"), ("TF_BUILD", "True"))


class _Console(Console):
    """rich's console, but a reader that closed the pipe (`| head`) is a BrokenPipeError for the
    CLI to answer (exit 141), not rich's SystemExit(1), which says "violations"; and the sizes it
    reads from the environment are numbers (rich takes COLUMNS="²" or of 5,000 digits to int())."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options, _environ=_sized_environ())  # type: ignore[arg-type]

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


_SIZES = ("COLUMNS", "LINES", "JUPYTER_COLUMNS", "JUPYTER_LINES")


def _sized_environ() -> dict[str, str]:
    """The environment, without a size that is no number of at most 5 digits."""
    environ = dict(os.environ)
    for name in _SIZES:
        size = decimal(environ.get(name, ""))
        if name in environ and (size is None or size >= 100_000):
            del environ[name]
    return environ


def console_for(err: bool = True) -> Console:
    """A console that follows the terminal's width (and COLUMNS); piped, or in a CI log that runs
    workflow commands (on a terminal too): no wrapping, no padding."""
    import sys

    stream = sys.stderr if err else sys.stdout
    logged = any(os.environ.get(name) == value for name, value in _COMMAND_LOGS)
    if stream.isatty() and not logged:  # a CI step on a terminal (`script`, `docker run -t`) is logged
        return _Console(stderr=err, highlight=False)
    columns = None if logged else decimal(os.environ.get("COLUMNS", ""))
    width = columns if columns is not None and 20 < columns < 100_000 else 10_000
    return _Console(stderr=err, highlight=False, width=width, soft_wrap=columns is None,
                    no_color=True)  # fmt: skip
