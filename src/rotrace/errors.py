"""rotrace's exit statuses, the one table of them (the CLI's help and docs/usage.md are checked
against it), and rotrace's own failures, each with the status the CLI turns it into."""

from __future__ import annotations

from rotrace.escape import safe_text

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_TRACE_FAILED = 4
EXIT_SANDBOX = 5
EXIT_COMMAND_FAILED = 8
EXIT_INTERNAL = 70
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127
EXIT_OUTPUT_CLOSED = 141  # 128 + SIGPIPE, as a shell reports a reader that stopped

# What each status means, in the order the help and the docs list them.
EXIT_STATUSES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "the command succeeded and made no violation"),
    (EXIT_VIOLATIONS, "violations (bit 0), the command succeeded"),
    (EXIT_COMMAND_FAILED, "the command failed: non-zero exit or killed by a signal (bit 3)"),
    (EXIT_VIOLATIONS | EXIT_COMMAND_FAILED, "both: violations and a failed command"),
    (EXIT_USAGE, "usage error (bad option)"),
    (EXIT_BAD_INPUT, "bad input: a malformed policy or trace file, an unwritable output"),
    (EXIT_TRACE_FAILED, "tracing impossible: ptrace refused, unsupported kernel or architecture"),
    (
        EXIT_SANDBOX,
        "the sandbox could not be set up (bubblewrap missing or refused), or a confined run would hand"
        " the command an fd open for writing outside the allowlist, or load rotrace's code from where"
        " the command may write",
    ),
    (EXIT_INTERNAL, "internal error: a bug in rotrace (please report it)"),
    (EXIT_NOT_EXECUTABLE, "the command is not executable"),
    (EXIT_NOT_FOUND, "the command was not found"),
    (
        EXIT_OUTPUT_CLOSED,
        "rotrace's output was closed by its reader (a pipe to head): the verdict was not all said",
    ),
)


class RotraceError(Exception):
    """An error reported as one line, with a distinct exit status."""

    exit_status = EXIT_TRACE_FAILED


class BadInput(RotraceError):
    exit_status = EXIT_BAD_INPUT


class BadOption(RotraceError):
    """An option's value that cannot mean anything (`--allow ''`): a usage error, one line."""

    exit_status = EXIT_USAGE


class TraceFailed(RotraceError):
    exit_status = EXIT_TRACE_FAILED


class MovedAway(TraceFailed):
    """A directory granted or bound writable by its fd moved out of the allowlist while the
    command ran: the writes the report would place at its name landed where it went, which
    rotrace cannot say of each one."""

    def __init__(self, away: list[tuple[str, str]]) -> None:
        moves = ", ".join(f"{place} (now {now})" for place, now in away)
        super().__init__(
            f"{moves} moved while the command ran (a process outside the run renamed it, or another"
            " directory into its place): the writes there landed where it went, not at the name the"
            " trace would give; the trace is not written"
        )


class SandboxError(RotraceError):
    exit_status = EXIT_SANDBOX


class ReportProcessFailed(RotraceError):
    """`rotrace run`'s report process died (a bug, or it was killed)."""

    exit_status = EXIT_INTERNAL


class CommandNotFound(RotraceError):
    exit_status = EXIT_NOT_FOUND


class CommandNotExecutable(RotraceError):
    exit_status = EXIT_NOT_EXECUTABLE


def failure(exc: BaseException) -> tuple[str, int]:
    """The one line (maybe empty) and the exit status for an exception that ends a command,
    never a traceback; EXIT_INTERNAL means a bug. Escaped here, where every such line is made:
    a message may quote a name from a file or a traced program (a line break would start a line
    of its own: a workflow command in a CI log)."""
    line, status = _failure(exc)
    return safe_text(line), status


class Stopped(KeyboardInterrupt):
    """A SIGTERM or SIGHUP before the command ran (signals.stopping): what rotrace made on the
    way (a sandbox's copies, its processes) is undone, as after a ^C, and it ends as the signal
    would have ended it (128 + the signal)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _failure(exc: BaseException) -> tuple[str, int]:
    if isinstance(exc, Stopped):
        import signal

        return (
            f"rotrace: stopped by {signal.Signals(exc.signum).name} before the command ran",
            128 + exc.signum,
        )
    if isinstance(exc, KeyboardInterrupt):
        return "rotrace: aborted", 130
    if isinstance(exc, RotraceError):
        return f"rotrace: error: {exc}", exc.exit_status
    if isinstance(exc, BrokenPipeError):
        return "", EXIT_OUTPUT_CLOSED
    if isinstance(exc, OSError):  # an output that could not be written, say
        where = f" {exc.filename}:" if exc.filename else ""
        return f"rotrace: error:{where} {exc.strerror or exc}", EXIT_BAD_INPUT
    return (
        f"rotrace: internal error: {type(exc).__name__}: {exc} (please report it with the command"
        " that caused it; ROTRACE_DEBUG=1 shows the traceback)",
        EXIT_INTERNAL,
    )


def say(line: str) -> None:
    """The one line on stderr, where stderr takes it: a full or closed stderr leaves the exit
    status to say it (an error about the error would end rotrace with Python's status 1)."""
    import contextlib
    import sys

    with contextlib.suppress(OSError, ValueError, AttributeError):
        print(line, file=sys.stderr, flush=True)
