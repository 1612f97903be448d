"""What `rotrace run` is asked (RunRequest, built by the CLI) and what its tracer tells the
report process before the first event (RunStart, the channel's Start message)."""

from __future__ import annotations

import pickle
from typing import NamedTuple

from rotrace.policy.allowlist import Allowlist
from rotrace.report.view import View
from rotrace.tracer.channel import Start
from rotrace.tracer.contract import TraceOptions

TYPE_CHECKING = False
if TYPE_CHECKING:  # the comparison's modules are the report process's, not the tracer's
    from rotrace.report.diff import Changes


class RunRequest(NamedTuple):
    """What `rotrace run` was asked to do."""

    argv: list[str]
    allowlist: Allowlist
    options: TraceOptions
    json_path: str | None = None  # "-": stdout
    read_only: bool = False
    keep_writes: bool = False
    emit: str | None = None  # an export format, printed to stdout after the run
    baseline: str | None = None  # an earlier trace to compare with
    view: View = View()  # (GitHub Actions or not: read as rotrace starts)
    command_status: bool = False  # exit with the command's own status when it failed
    attach: int | None = None  # a running process to trace instead of argv
    allow_fds: tuple[int, ...] = ()  # inherited fds a confined run may pass on, open for writing anywhere
    labels: tuple[tuple[str, str], ...] = ()  # --label KEY=VALUE, for the header
    checkpoint: float | None = None  # --checkpoint: seconds between the traces so far written
    persistent: tuple[
        str, ...
    ] = ()  # the policy's persistent places (the plan's; --read-only fills them first)

    @property
    def reaches_host(self) -> bool:
        """The confined command's allowed writes land on this machine's files (--enforce's
        rules, --read-only --keep-writes's binds): where rotrace's own code and outputs there
        are guarded from it (run/sealed.py, output.open_output)."""
        return self.options.writable is not None or (self.read_only and self.keep_writes)

    def frame(self) -> bytes:
        """The request as the report process, which parsed it, hands it to the tracer."""
        return pickle.dumps(self)

    @staticmethod
    def of(frame: bytes) -> RunRequest:
        request = pickle.loads(frame)
        assert isinstance(request, RunRequest)
        return request


class RunStart(NamedTuple):
    """The report process's start: the request, and what the tracer's process found before the
    command ran."""

    request: RunRequest
    cwd: str  # the command's working directory (the command may remove it)
    baseline: Changes | None  # the earlier trace's writes (--baseline), read before the run
    tracer_pid: int
    json_file: tuple[int, int] | None  # the JSON trace the tracer's process opened: (dev, ino)
    since: int  # before the command ran, by the clock files are stamped with (policy/databases.py)

    def message(self) -> Start:
        return Start(pickle.dumps(self), every=self.request.checkpoint)

    @staticmethod
    def of(message: Start) -> RunStart:
        start = pickle.loads(message.request)
        assert isinstance(start, RunStart)
        return start
