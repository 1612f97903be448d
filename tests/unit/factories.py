"""Events and verdicts built by hand, for the pure logic tested in this tier."""

from __future__ import annotations

import errno
import io

from rotrace.events import FileEvent
from rotrace.policy.allowlist import build_allowlist
from rotrace.policy.verdict import Classifier, Summary, Verdict
from rotrace.record import TraceHeader
from rotrace.tracefile import TraceWriter


def event(
    path: bytes | str,
    op: str = "create",
    result: int | str = 3,
    *,
    target: bytes | str | None = None,
    exe: bytes = b"/usr/bin/python3",
    syscall: str = "openat",
    write: bool = True,
    pid: int = 100,
) -> FileEvent:
    """A FileEvent; result may be an errno name ("EEXIST") for a failure."""
    raw = -getattr(errno, result) if isinstance(result, str) else result
    encode = lambda p: p if isinstance(p, bytes) else p.encode()  # noqa: E731
    return FileEvent(pid, pid, exe, syscall, op, encode(path), None if target is None else encode(target),
                     None, None, raw, write)  # fmt: skip


def classify(*events: FileEvent, allow: list[str] | None = None, home: str | None = None) -> list[Verdict]:
    """The verdicts on `events`, classified in order after learning them all; `home`: the run's HOME."""
    classifier = Classifier(build_allowlist(allow or [], None), home=home)
    for e in events:
        classifier.learn(e)
    return [classifier.classify(e) for e in events]


def written_trace(header: TraceHeader, verdicts: list[Verdict]) -> str:
    """The JSON trace the writer makes of these verdicts."""
    buf = io.StringIO()
    writer = TraceWriter(buf, header)
    summary = Summary()
    for v in verdicts:
        writer.add(v)
        summary.add(v)
    writer.close(summary, {v.explanation for v in verdicts if v.explanation})
    return buf.getvalue()
