"""The tracer's side of a --read-only run: runs inside bubblewrap, sends events out.

Not a user command: `rotrace run --read-only` starts it as
`python -m rotrace.sandbox.inner FD SECCOMP ALL_OPENS STDOUT_TO_STDERR GRACE -- COMMAND...`.
"""

from __future__ import annotations

import os
import sys

from rotrace.errors import RotraceError
from rotrace.tracer import TraceOptions, trace_command
from rotrace.tracer.channel import Batcher, Error, Message, Result, SandboxPid, send


def main(argv: list[str]) -> int:
    fd = int(argv[0])
    seccomp, all_opens, to_stderr = (flag == "1" for flag in argv[1:4])
    grace = float(argv[4])
    command = argv[argv.index("--") + 1 :]

    def out(message: Message) -> None:
        send(fd, message)

    out(SandboxPid(os.getpid()))
    batcher = Batcher(out)
    try:
        options = TraceOptions(seccomp=seccomp, all_opens=all_opens, stdout_to_stderr=to_stderr, grace=grace)
        result = trace_command(command, batcher.add, options, on_process=batcher.add_process)
    except RotraceError as exc:
        batcher.flush()
        out(Error(exc.exit_status, str(exc)))
        return exc.exit_status
    batcher.flush()
    out(Result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
