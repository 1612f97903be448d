"""The JSON trace (schema 1): written as a stream, read back for `report`, `check` and friends.

Layout (README, "JSON trace"): a header, the events array, then the summary. Paths that are
not valid UTF-8 are written with Python's surrogateescape: byte 0xNN becomes the escape
\\udcNN, which `os.fsencode` turns back into the original byte.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from rotrace import __version__
from rotrace.errors import BadInput
from rotrace.policy.verdict import Verdict

SCHEMA = 1


@dataclass
class Summary:
    events: int = 0
    writes: int = 0
    violations: int = 0
    venv_writes: int = 0
    ro_failures: int = 0  # writes that fail (or would) under a read-only root with EROFS

    def add(self, verdict: Verdict) -> None:
        self.events += 1
        if verdict.event.write:
            self.writes += 1
            self.violations += verdict.violation
            self.venv_writes += verdict.venv is not None
            self.ro_failures += verdict.ro_forecast == "EROFS"


@dataclass
class TraceHeader:
    command: list[str]
    cwd: str
    exit_code: int
    signal: str | None = None
    allowlist: list[str] = field(default_factory=list)
    seccomp: bool = True
    all_opens: bool = False
    warnings: list[str] = field(default_factory=list)
    read_only: bool = False  # traced inside the read-only sandbox (--read-only)
    sandbox_writable: list[str] | None = None  # what the sandbox mounted writable

    @property
    def command_failed(self) -> bool:
        return self.exit_code != 0


def signal_name(sig: int | None) -> str | None:
    if sig is None:
        return None
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"SIG{sig}"


class TraceWriter:
    """Writes one trace to fp, event by event, so memory does not grow with the trace."""

    def __init__(self, fp: IO[str], header: TraceHeader) -> None:
        self._fp = fp
        self._first = True
        head = {"rotrace_version": __version__, "schema": SCHEMA, **asdict(header)}
        text = json.dumps(head)
        fp.write(text[:-1] + ', "events": [')

    def add(self, verdict: Verdict) -> None:
        self._fp.write(("\n  " if self._first else ",\n  ") + json.dumps(verdict.to_json()))
        self._first = False

    def close(self, summary: Summary, explanations: dict[str, dict[str, str]] | None = None) -> None:
        """The summary, and what each explanation id used by the events means."""
        tail = {"summary": asdict(summary), "explanations": explanations or {}}
        self._fp.write("\n], " + json.dumps(tail)[1:] + "\n")
        self._fp.flush()


_REQUIRED = ("schema", "command", "exit_code", "events")


def read_trace(path: str) -> tuple[TraceHeader, Iterator[Verdict]]:
    """Load a trace file; BadInput with a one-line reason if it is not one."""
    try:
        with open(path, encoding="utf-8") as f:
            data: Any = json.load(f)
    except OSError as exc:
        raise BadInput(f"cannot read trace {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path} is not a rotrace JSON trace: {exc}") from None
    if not isinstance(data, dict) or any(k not in data for k in _REQUIRED):
        raise BadInput(f"{path} is not a rotrace JSON trace (missing {', '.join(_REQUIRED)})")
    if data["schema"] != SCHEMA:
        raise BadInput(
            f"{path}: trace schema {data['schema']!r} is not supported (this rotrace reads {SCHEMA})"
        )
    header = TraceHeader(
        command=list(data["command"]),
        cwd=str(data.get("cwd", "")),
        exit_code=int(data["exit_code"]),
        signal=data.get("signal"),
        allowlist=list(data.get("allowlist", [])),
        seccomp=bool(data.get("seccomp", True)),
        all_opens=bool(data.get("all_opens", False)),
        warnings=list(data.get("warnings", [])),
        read_only=bool(data.get("read_only", False)),
        sandbox_writable=data.get("sandbox_writable"),
    )
    events = data["events"]
    if not isinstance(events, list):
        raise BadInput(f"{path}: 'events' must be a list")

    def verdicts() -> Iterator[Verdict]:
        for i, obj in enumerate(events):
            try:
                yield Verdict.from_json(obj)
            except (KeyError, TypeError, ValueError) as exc:
                raise BadInput(f"{path}: event {i} is malformed ({exc!r})") from None

    return header, verdicts()
