"""rotrace's entry point. For `rotrace run` the report process is forked first thing
(run/launch.py), before click is imported: it parses the command line and loads the report's
modules while this process loads the tracer's. Until the trace starts no collection of reference cycles
runs: the imports make none worth collecting, and the collector's passes over what they make
are part of what the command waits for."""

from __future__ import annotations

import contextlib
import gc
import os
import sys


def _writable(fd: int) -> bool:
    import fcntl

    try:
        return fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY
    except OSError:
        return False


def _parsed() -> int:
    """The command line parsed and run by the CLI (in `rotrace run`'s report process): its exit
    status."""
    from rotrace.cli import main as cli_main

    try:
        cli_main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    return 0


def main() -> None:
    try:
        _main()
    except KeyboardInterrupt:  # a ^C while rotrace loads, before the CLI or the run can say it
        with contextlib.suppress(OSError, ValueError, AttributeError):
            print("rotrace: aborted", file=sys.stderr, flush=True)
        os._exit(130)


def _main() -> None:
    if sys.stderr is None or not _writable(2):  # stderr closed, or open only for reading: the
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - report and messages go nowhere, the exit status says it all
    from rotrace.output import name_stdout

    name_stdout()  # "stdout: No space left on device", not a bare strerror
    if sys.argv[1:2] != ["run"]:
        from rotrace.cli import main as cli_main

        cli_main()
        return
    gc.disable()  # the tracer enables it again once the trace ends, the report process once loaded
    from rotrace.run.handoff import flush_std
    from rotrace.run.launch import fork_early, trace_asked

    fork_early(_parsed)  # the report process, which parses the command line
    code = trace_asked()
    # Everything rotrace writes is flushed or closed by now: skip the interpreter's teardown of
    # the modules the run loaded (about 10 ms of every run).
    flush_std()
    os._exit(code)
