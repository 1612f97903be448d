"""One audited run, end to end: tracer -> spool -> classify -> JSON trace + aggregate.

Events are spooled to a temporary file as the tracer emits them (memory stays flat however
many there are) and classified once the command is done, when every venv it created is known.
(Classifying inside the loop instead was measured slower: the tracee waits for that work.)
"""

from __future__ import annotations

import gc
import marshal
import os
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import IO, Any

from rotrace.events import FileEvent
from rotrace.policy.allowlist import Allowlist
from rotrace.policy.verdict import Classifier, Verdict
from rotrace.report.aggregate import Aggregate, explanation_table
from rotrace.tracefile import TraceHeader, TraceWriter, signal_name
from rotrace.tracer import TraceOptions, TraceResult, trace_command


def _anonymous_file() -> IO[bytes]:
    """An unnamed temporary file in $TMPDIR (O_TMPFILE: nothing to clean up, no tempfile import).

    With no writable temporary directory at all (a read-only container without a tmpfs),
    the spool stays in memory.
    """
    directory = os.environ.get("TMPDIR") or "/tmp"
    try:
        fd = os.open(directory, os.O_TMPFILE | os.O_RDWR, 0o600)
    except OSError:  # a filesystem without O_TMPFILE, or nowhere writable
        import tempfile

        try:
            return tempfile.TemporaryFile(prefix="rotrace-")
        except OSError:
            import io

            return io.BytesIO()
    return os.fdopen(fd, "w+b")


class Spool:
    """Events on disk in batches of marshal records: fast, bytes-exact, and flat in memory."""

    BATCH = 4096

    def __init__(self) -> None:
        self._file: IO[bytes] = _anonymous_file()
        self._batch: list[tuple[object, ...]] = []
        self._batches = 0

    def add(self, e: FileEvent) -> None:
        self._batch.append(e.astuple())
        if len(self._batch) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            marshal.dump(self._batch, self._file)
            self._batches += 1
            self._batch = []

    def __iter__(self) -> Iterator[FileEvent]:
        self._flush()
        self._file.flush()
        self._file.seek(0)
        for _ in range(self._batches):
            for record in marshal.load(self._file):
                yield FileEvent(*record)

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
            writer.close(aggregate.summary, explanation_table(aggregate.explanations))


def audit(
    argv: list[str],
    allowlist: Allowlist,
    options: TraceOptions,
    json_path: str | None = None,
    keep_allowed: bool = False,
    read_only: bool = False,
    keep_writes: bool = False,
) -> RunOutcome:
    """Trace argv (inside a read-only bubblewrap sandbox if asked) and classify what it wrote."""
    spool = Spool()
    classifier = Classifier(allowlist)

    def sink(event: FileEvent) -> None:
        spool.add(event)
        classifier.learn(event)

    try:
        gc.disable()  # tracing makes no reference cycles; collections would only add latency
        try:
            if read_only:
                from rotrace.sandbox.bwrap import trace_in_sandbox

                result, sandbox = trace_in_sandbox(argv, sink, options, allowlist, keep_writes)
                writable: list[str] | None = sandbox.writable
            else:
                result, writable = trace_command(argv, sink, options), None
        finally:
            gc.enable()
        header = TraceHeader(
            command=argv,
            cwd=os.getcwd(),
            exit_code=result.exit_code,
            signal=signal_name(result.signal),
            allowlist=allowlist.entries,
            seccomp=result.seccomp,
            all_opens=options.all_opens,
            warnings=result.warnings,
            read_only=read_only,
            sandbox_writable=writable,
        )
        aggregate = Aggregate(keep_allowed=keep_allowed)
        classify_into((classifier.classify(e) for e in spool), aggregate, json_path, header)
    finally:
        spool.close()
    return RunOutcome(header, aggregate, result)
