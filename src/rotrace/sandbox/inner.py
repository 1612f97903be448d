"""The tracer's side of a --read-only run: runs inside bubblewrap, sends events out.

Not a user command: `rotrace run --read-only` starts it as
`python -m rotrace.sandbox.inner FD SECCOMP ALL_OPENS STDOUT_TO_STDERR -- COMMAND...`.
"""

from __future__ import annotations

import os
import sys

from rotrace.channel import result_frame, write_frame
from rotrace.errors import RotraceError
from rotrace.events import FileEvent, ProcessInfo
from rotrace.tracer import TraceOptions, trace_command

BATCH = 256


def main(argv: list[str]) -> int:
    fd = int(argv[0])
    seccomp, all_opens, to_stderr = (flag == "1" for flag in argv[1:4])
    command = argv[argv.index("--") + 1 :]
    write_frame(fd, ("pid", os.getpid()))
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
        options = TraceOptions(seccomp, all_opens, to_stderr, confined=True)
        result = trace_command(command, sink, options, on_process=on_process)
    except RotraceError as exc:
        write_frame(fd, ("error", exc.exit_status, str(exc)))
        return exc.exit_status
    if batch:
        write_frame(fd, ("events", batch))
    write_frame(fd, ("result", result_frame(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
