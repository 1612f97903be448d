"""One audited run, end to end: tracer -> spool -> classify -> JSON trace + aggregate.

Events are spooled to a temporary file as the tracer emits them (memory stays flat however
many there are) and classified once the command is done, when every venv it created is known.
"""

from __future__ import annotations

import marshal
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import IO, Any

from rotrace.events import FileEvent
from rotrace.policy.allowlist import Allowlist
from rotrace.policy.verdict import Classifier, Verdict
from rotrace.report.aggregate import Aggregate
from rotrace.tracefile import TraceHeader, TraceWriter, signal_name
from rotrace.tracer import TraceOptions, TraceResult, trace_command


class Spool:
    """Events on disk, in marshal records (fast, and losslessly bytes-preserving)."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="rotrace-")  # noqa: SIM115 - closed by close()
        self.count = 0

    def add(self, e: FileEvent) -> None:
        marshal.dump(
            (
                e.pid,
                e.tid,
                e.exe,
                e.syscall,
                e.op,
                e.path,
                e.target,
                e.flags,
                e.mode,
                e.result,
                e.write,
            ),
            self._file,
        )
        self.count += 1

    def __iter__(self) -> Iterator[FileEvent]:
        self._file.flush()
        self._file.seek(0)
        for _ in range(self.count):
            yield FileEvent(*marshal.load(self._file))

    def close(self) -> None:
        self._file.close()


@dataclass
class RunOutcome:
    header: TraceHeader
    aggregate: Aggregate
    result: TraceResult


def classify_into(
    verdicts: Iterator[Verdict], aggregate: Aggregate, json_path: str | None, header: TraceHeader
) -> None:
    """Stream verdicts into the aggregate and, if asked, a JSON trace file (`-` is stdout)."""
    ctx: Any = nullcontext(None)
    if json_path == "-":
        ctx = nullcontext(sys.stdout)
    elif json_path is not None:
        ctx = open(json_path, "w", encoding="utf-8")  # noqa: SIM115 - closed by the with below
    with ctx as fp:
        writer = TraceWriter(fp, header) if fp is not None else None
        for verdict in verdicts:
            aggregate.add(verdict)
            if writer is not None:
                writer.add(verdict)
        if writer is not None:
            writer.close(aggregate.summary)


def audit(
    argv: list[str],
    allowlist: Allowlist,
    options: TraceOptions,
    json_path: str | None = None,
    keep_allowed: bool = False,
) -> RunOutcome:
    spool = Spool()
    try:
        result = trace_command(argv, spool.add, options)
        header = TraceHeader(
            command=argv,
            cwd=os.getcwd(),
            exit_code=result.exit_code,
            signal=signal_name(result.signal),
            allowlist=allowlist.entries,
            seccomp=result.seccomp,
            all_opens=options.all_opens,
            warnings=result.warnings,
        )
        classifier = Classifier(allowlist)
        for event in spool:
            classifier.learn(event)
        aggregate = Aggregate(keep_allowed=keep_allowed)
        classify_into((classifier.classify(e) for e in spool), aggregate, json_path, header)
    finally:
        spool.close()
    return RunOutcome(header, aggregate, result)
