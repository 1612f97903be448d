"""The command line: thin, imports what each command needs only when it runs."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from rotrace import __version__
from rotrace.errors import (
    EXIT_BAD_INPUT,
    EXIT_COMMAND_FAILED,
    EXIT_OK,
    EXIT_VIOLATIONS,
    BadInput,
    RotraceError,
)
from rotrace.export import FORMATS

if TYPE_CHECKING:
    from rotrace.policy.verdict import Verdict
    from rotrace.report.aggregate import Aggregate
    from rotrace.tracefile import TraceHeader

    Trace = tuple[TraceHeader, list[Verdict]]

EXIT_HELP = """\b
Exit status:
  0    the command succeeded and no write broke the allowlist
  1    violations: writes outside the allowlist
  8    the command failed (non-zero exit, or killed by a signal)
  9    both (1 + 8)
  2    usage error         3  bad policy/trace file or output
  4    tracing impossible  5  sandbox could not be set up
  126  command not executable   127  command not found
"""

_ALLOW_HELP = "Also allow writes to PATH (a directory: it and everything below it) or a glob. Repeatable."


def verdict_status(header: TraceHeader, aggregate: Aggregate) -> int:
    status = EXIT_OK
    if aggregate.summary.violations:
        status |= EXIT_VIOLATIONS
    if header.command_failed:
        status |= EXIT_COMMAND_FAILED
    return status


def _render(header: TraceHeader, aggregate: Aggregate, verbose: bool) -> None:
    from rich.console import Console

    from rotrace.report.render import render

    # Not a terminal (CI logs, files): wide enough that paths are not folded.
    width = None if sys.stderr.isatty() else 160
    render(aggregate, header, Console(stderr=True, highlight=False, width=width), verbose)


@click.group(epilog=EXIT_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rotrace")
def cli() -> None:
    """Which paths does this command write, and may it?

    rotrace runs a command under ptrace, records every file it writes or tries to write
    (following every fork, thread and exec) and checks each write against an allowlist.
    """


@cli.command(
    epilog=EXIT_HELP,
    context_settings={"allow_interspersed_args": False},
)
@click.option("--allow", "allow", multiple=True, metavar="PATH", help=_ALLOW_HELP)
@click.option("--policy", type=click.Path(dir_okay=False), help="A policy TOML file (see README).")
@click.option(
    "--json",
    "json_path",
    metavar="FILE",
    help="Write the JSON trace to FILE ('-': stdout, and the command's stdout goes to stderr).",
)
@click.option("--all-opens", is_flag=True, help="Also record read-only opens.")
@click.option(
    "--no-seccomp",
    is_flag=True,
    help="Stop on every syscall instead of filtering with seccomp (slower; no no_new_privs, so setuid "
    "programs keep their privilege when rotrace runs as root).",
)
@click.option(
    "--read-only",
    is_flag=True,
    help="Run inside a bubblewrap sandbox like `docker run --read-only --tmpfs /tmp`: the root "
    "read-only, each allowed directory a writable tmpfs.",
)
@click.option(
    "--keep-writes",
    is_flag=True,
    help="With --read-only: bind-mount the allowed directories instead of a tmpfs, keeping what is written.",
)
@click.option(
    "--emit",
    type=click.Choice(FORMATS),
    help="After the run, print the allowlist this command needs to stdout, in this format "
    "(the command's stdout goes to stderr).",
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False),
    metavar="TRACE",
    help="Compare with an earlier JSON trace: show writes that appeared or disappeared; new violations fail.",
)
@click.option("-v", "--verbose", is_flag=True, help="List every allowed write too.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(
    allow: tuple[str, ...],
    policy: str | None,
    json_path: str | None,
    all_opens: bool,
    no_seccomp: bool,
    read_only: bool,
    keep_writes: bool,
    emit: str | None,
    baseline: str | None,
    verbose: bool,
    command: tuple[str, ...],
) -> int:
    """Trace COMMAND and report the paths it writes.

    \b
    Example:  rotrace run --json trace.json -- uv run python --version
    """
    from rotrace.policy.allowlist import build_allowlist
    from rotrace.runner import audit
    from rotrace.tracer import TraceOptions

    allowlist = build_allowlist(list(allow), policy)
    if json_path not in (None, "-"):
        _check_writable(json_path)
    options = TraceOptions(
        seccomp=not no_seccomp, all_opens=all_opens, stdout_to_stderr=json_path == "-" or bool(emit)
    )
    if keep_writes and not read_only:
        raise click.UsageError("--keep-writes only applies with --read-only")
    if emit and json_path == "-":
        raise click.UsageError("--emit and --json - both write to stdout: give --json a file")
    baseline_trace = None
    if baseline is not None:
        from rotrace.tracefile import read_trace

        header, verdicts = read_trace(baseline)
        baseline_trace = (header, list(verdicts))
    scratch = None
    if (emit or baseline) and json_path is None:  # both read the trace back
        import tempfile

        fd, scratch = tempfile.mkstemp(prefix="rotrace-", suffix=".json")
        os.close(fd)
        json_path = scratch
    try:
        outcome = audit(
            list(command), allowlist, options, json_path, keep_allowed=verbose, read_only=read_only,
            keep_writes=keep_writes,
        )  # fmt: skip
        _render(outcome.header, outcome.aggregate, verbose)
        status = verdict_status(outcome.header, outcome.aggregate)
        if json_path is not None and (emit or baseline_trace):
            status |= _after_run(json_path, emit, baseline_trace)
    finally:
        if scratch is not None:
            os.unlink(scratch)
    return status


def _check_writable(path: str) -> None:
    """Fail before running the command, not after, when the trace cannot be written."""
    try:
        with open(path, "a"):
            pass
    except OSError as exc:
        raise BadInput(f"cannot write the trace to {path}: {exc.strerror}") from None


def _after_run(json_path: str, emit: str | None, baseline: Trace | None) -> int:
    """--emit and --baseline read back the trace the run just wrote."""
    from rotrace.tracefile import read_trace

    status = EXIT_OK
    if emit:
        header, verdicts = read_trace(json_path)
        status |= _emit(header, list(verdicts), emit)
    if baseline is not None:
        header, verdicts = read_trace(json_path)
        status |= _diff(baseline, (header, list(verdicts)), err=True)
    return status


def _emit(header: TraceHeader, verdicts: list[Verdict], fmt: str) -> int:
    from rotrace.export.formats import RENDERERS
    from rotrace.export.mounts import plan_mounts

    plan = plan_mounts(verdicts, header.cwd)
    click.echo(RENDERERS[fmt](plan, header.command), nl=False)
    for b in plan.blocked:
        fix = f"; fix: {b.explanation.fix}" if b.explanation else ""
        writes = f"{b.count} writes, e.g. {b.path}" if b.count > 1 else b.path
        click.echo(
            f"rotrace: cannot be made writable by a mount: {b.point} ({writes}): {b.reason}{fix}", err=True
        )
    return EXIT_VIOLATIONS if plan.blocked else EXIT_OK


def _diff(old: Trace, new: Trace, err: bool) -> int:
    from rich.console import Console

    from rotrace.diff import diff_traces
    from rotrace.report.diff import render_diff

    result = diff_traces(old, new)
    width = None if (sys.stderr if err else sys.stdout).isatty() else 160
    render_diff(result, Console(stderr=err, highlight=False, width=width))
    return EXIT_VIOLATIONS if result.new_violations else EXIT_OK


@cli.command(epilog=EXIT_HELP)
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="policy",
    show_default=True,
    help="What to generate.",
)
def allowlist(trace: str, fmt: str) -> int:
    """Print the smallest allowlist that makes TRACE clean: mounts, never over a venv.

    \b
    policy   rotrace's own TOML (for --policy)
    k8s      a pod spec fragment: readOnlyRootFilesystem, emptyDir volumes
    docker   docker run flags: --read-only --tmpfs ...
    compose  a service fragment: read_only, tmpfs
    bwrap    bubblewrap arguments
    Exit status 1 when some writes cannot be fixed by a mount (it says what to change instead).
    """
    from rotrace.tracefile import read_trace

    header, verdicts = read_trace(trace)
    return _emit(header, list(verdicts), fmt)


@cli.command(epilog=EXIT_HELP)
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
def diff(old: str, new: str) -> int:
    """Writes that appeared or disappeared between two JSON traces (exit 1 on new violations)."""
    from rotrace.tracefile import read_trace

    traces = []
    for path in (old, new):
        header, verdicts = read_trace(path)
        traces.append((header, list(verdicts)))
    return _diff(traces[0], traces[1], err=False)


@cli.command(epilog=EXIT_HELP)
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("-v", "--verbose", is_flag=True, help="List every allowed write too.")
def report(trace: str, verbose: bool) -> int:
    """Render a saved JSON trace again (the same report as `run`)."""
    from rotrace.report.aggregate import Aggregate
    from rotrace.tracefile import read_trace

    header, verdicts = read_trace(trace)
    aggregate = Aggregate(keep_allowed=verbose)
    for verdict in verdicts:
        aggregate.add(verdict)
    _render(header, aggregate, verbose)
    return verdict_status(header, aggregate)


@cli.command(epilog=EXIT_HELP)
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--allow", "allow", multiple=True, metavar="PATH", help=_ALLOW_HELP)
@click.option("--policy", type=click.Path(dir_okay=False), help="A policy TOML file (see README).")
@click.option("--json", "json_path", metavar="FILE", help="Write the re-classified trace to FILE.")
@click.option("-v", "--verbose", is_flag=True, help="List every allowed write too.")
def check(
    trace: str, allow: tuple[str, ...], policy: str | None, json_path: str | None, verbose: bool
) -> int:
    """Re-classify a saved JSON trace under another allowlist."""
    from rotrace.policy.allowlist import build_allowlist
    from rotrace.policy.verdict import Classifier
    from rotrace.report.aggregate import Aggregate
    from rotrace.runner import classify_into
    from rotrace.tracefile import read_trace

    header, verdicts = read_trace(trace)
    allowlist = build_allowlist(list(allow), policy)
    header.allowlist = allowlist.entries
    classifier = Classifier(allowlist)
    reclassified = (classifier.classify(v.event, v.venv, known_venv=True) for v in verdicts)
    aggregate = Aggregate(keep_allowed=verbose)
    classify_into(reclassified, aggregate, json_path, header)
    _render(header, aggregate, verbose)
    return verdict_status(header, aggregate)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors with distinct exit statuses, never a traceback."""
    try:
        status: Any = cli.main(args=argv, prog_name="rotrace", standalone_mode=False)
    except click.exceptions.Exit as exc:
        status = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        status = exc.exit_code
    except click.exceptions.Abort:
        click.echo("rotrace: aborted", err=True)
        status = 130
    except RotraceError as exc:
        click.echo(f"rotrace: error: {exc}", err=True)
        status = exc.exit_status
    except BrokenPipeError:
        status = 141
    except OSError as exc:  # an output that could not be written, say: still one line, no traceback
        where = f" {exc.filename}" if exc.filename else ""
        click.echo(f"rotrace: error:{where}: {exc.strerror or exc}", err=True)
        status = EXIT_BAD_INPUT
    sys.exit(status if isinstance(status, int) else 0)
