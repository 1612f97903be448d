"""The tracer's side of a --read-only run: runs inside bubblewrap, sends events out.

Not a user command: `rotrace run --read-only` starts it as
`python -m rotrace.sandbox.inner FD SECCOMP ALL_OPENS STDOUT_TO_STDERR GRACE CONTAINER_INIT -- COMMAND...`.
It is PID 1 of the sandbox's pid namespace: the command's orphans are its children (and traced).
"""

from __future__ import annotations

import signal
import sys

from rotrace.errors import RotraceError
from rotrace.tracer import TraceOptions, trace_command
from rotrace.tracer.channel import Batcher, Error, Message, Result, send
from rotrace.tracer.linux import hardening


def main(argv: list[str]) -> int:
    fd = int(argv[0])
    seccomp, all_opens, to_stderr = (flag == "1" for flag in argv[1:4])
    grace = float(argv[4])
    container_init = argv[5] == "1"
    command = argv[argv.index("--") + 1 :]
    hardening.undumpable()  # the pipe out of the sandbox, out of the command's reach
    # As root bwrap kept Docker's capabilities and CAP_SYS_PTRACE, which the tracer needs for a
    # process that changes its uid (gosu, su): the command gets Docker's only, and no more by exec.
    bounded = hardening.confine_exec(1 << hardening.CAP_SYS_PTRACE)

    def out(message: Message) -> None:
        send(fd, message)

    batcher = Batcher(out)
    # SIGUSR1 from rotrace's tracer outside: every event so far, then a Checkpoint message
    signal.signal(signal.SIGUSR1, lambda _signum, _frame: batcher.checkpoint())
    try:
        options = TraceOptions(seccomp=seccomp, all_opens=all_opens, stdout_to_stderr=to_stderr, grace=grace,
                               confined=True, container_init=container_init)  # fmt: skip
        result = trace_command(command, batcher.add, options, on_process=batcher.add_process)
    except RotraceError as exc:
        batcher.flush()
        out(Error(exc.exit_status, str(exc)))
        return exc.exit_status
    if not bounded:
        result.warnings.append(
            "the sandbox could not limit the capabilities the command's programs may get (no CAP_SETPCAP):"
            " a setuid or file-capability program may hold more than Docker's default capabilities"
        )
    batcher.flush()
    out(Result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
