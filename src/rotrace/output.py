"""Where the JSON trace goes, opened before the command runs."""

from __future__ import annotations

import os
import sys
from typing import IO

from rotrace.errors import BadInput


def stdout_open(what: str) -> None:
    try:
        if sys.stdout is None:
            raise OSError
        os.fstat(sys.stdout.fileno())
    except (OSError, ValueError):
        raise BadInput(f"{what}: standard output is closed") from None


class TraceOutput:
    """Where the JSON trace goes: opened before the command runs (which may delete the
    directory, or fill the disk); a write that fails later is reported after the report."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.error: str | None = None
        self.fp: IO[str] | None = None
        if path == "-":
            stdout_open("--json -")
            self.fp = sys.stdout
        elif path is not None:
            try:
                self.fp = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
            except OSError as exc:
                raise BadInput(f"cannot write the trace to {path}: {exc.strerror}") from None

    @classmethod
    def inherited(cls, path: str | None, pid: int, fd: int | None) -> TraceOutput:
        """In the report process: the output the tracer's process `pid` opened, as its `fd`."""
        out = cls(None)
        out.path = path
        if path == "-":
            out.fp = sys.stdout
        elif path is not None and fd is not None:
            try:
                out.fp = open(f"/proc/{pid}/fd/{fd}", "w", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                raise BadInput(f"cannot write the trace to {path}: {exc.strerror}") from None
        return out

    def failed(self, exc: OSError) -> None:
        self.error = (
            f"cannot write the trace to {self.path}: {exc.strerror or exc} (the report above is complete)"
        )

    def close(self) -> None:
        if self.fp is not None and self.fp is not sys.stdout:
            try:
                if self.error is None and os.fstat(self.fp.fileno()).st_nlink == 0:
                    self.error = f"the traced command removed {self.path} while it ran: the trace is lost"
            except OSError:
                pass
            try:
                self.fp.close()
            except OSError as exc:
                if self.error is None:
                    self.failed(exc)
        if self.error is not None:
            raise BadInput(self.error)
