"""The tracer's side of a --read-only run: runs inside bubblewrap, sends events out.

Not a user command: `rotrace run --read-only` starts it as
`python -m rotrace.sandbox.inner FD SECCOMP ALL_OPENS STDOUT_TO_STDERR -- COMMAND...`.
It is PID 1 of the sandbox's pid namespace: the command's orphans are its children (and traced).
"""

from __future__ import annotations

import sys

from rotrace.channel import result_frame, write_frame
from rotrace.errors import RotraceError
from rotrace.events import FileEvent, ProcessInfo
from rotrace.tracer import TraceOptions, linux_hardening, trace_command

BATCH = 256


def main(argv: list[str]) -> int:
    fd = int(argv[0])
    seccomp, all_opens, to_stderr = (flag == "1" for flag in argv[1:4])
    command = argv[argv.index("--") + 1 :]
    linux_hardening.undumpable()  # the pipe out of the sandbox, out of the command's reach
    # As root bwrap kept Docker's capabilities and CAP_SYS_PTRACE, which the tracer needs for a
    # process that changes its uid (gosu, su): the command gets Docker's only, and no more by exec.
    bounded = linux_hardening.confine_exec(1 << linux_hardening.CAP_SYS_PTRACE)
    batch: list[tuple[object, ...]] = []

    def sink(event: FileEvent) -> None:
        batch.append(event.astuple())
        if len(batch) >= BATCH:
            write_frame(fd, ("events", batch))
            batch.clear()

    def on_process(info: ProcessInfo) -> None:  # before the events that may need it
        if batch:
            write_frame(fd, ("events", batch))
            batch.clear()
        write_frame(fd, ("processes", [info.astuple()]))

    try:
        options = TraceOptions(seccomp=seccomp, all_opens=all_opens, stdout_to_stderr=to_stderr)
        result = trace_command(command, sink, options, on_process=on_process)
    except RotraceError as exc:
        write_frame(fd, ("error", exc.exit_status, str(exc)))
        return exc.exit_status
    if not bounded:
        result.warnings.append(
            "the sandbox could not limit the capabilities the command's programs may get (no CAP_SETPCAP):"
            " a setuid or file-capability program may hold more than Docker's default capabilities"
        )
    if batch:
        write_frame(fd, ("events", batch))
    write_frame(fd, ("result", result_frame(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
