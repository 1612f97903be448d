"""rotrace's own failures, each with the exit status the CLI turns it into.

Exit statuses (also in `rotrace --help` and the README):
  0   the command succeeded and made no violation
  1   violations (bit 0), the command succeeded
  8   the command failed: non-zero exit or killed by a signal (bit 3)
  9   both: violations and a failed command
  2   usage error (bad option)
  3   bad input: a malformed policy or trace file, an unwritable output
  4   tracing impossible: ptrace refused, unsupported kernel or architecture
  5   the sandbox could not be set up (bubblewrap missing or refused), or a confined run
      (--enforce, --read-only) would hand the command an fd open for writing outside it
  70  internal error: a bug in rotrace (sysexits' EX_SOFTWARE)
  126 the command is not executable
  127 the command was not found
"""

from __future__ import annotations

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
    never a traceback; EXIT_INTERNAL means a bug."""
    if isinstance(exc, KeyboardInterrupt):
        return "rotrace: aborted", 130
    if isinstance(exc, RotraceError):
        return f"rotrace: error: {exc}", exc.exit_status
    if isinstance(exc, BrokenPipeError):
        return "", 141
    if isinstance(exc, OSError):  # an output that could not be written, say
        where = f" {exc.filename}:" if exc.filename else ""
        return f"rotrace: error:{where} {exc.strerror or exc}", EXIT_BAD_INPUT
    return (
        f"rotrace: internal error: {type(exc).__name__}: {exc} (please report it with the command"
        " that caused it; ROTRACE_DEBUG=1 shows the traceback)",
        EXIT_INTERNAL,
    )
