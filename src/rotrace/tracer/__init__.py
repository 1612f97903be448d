"""The tracer: runs a command under ptrace and yields FileEvents. Knows nothing of policies or output.

Importing the package imports no more than its contract: the tracing machinery (python-ptrace,
the loop) loads when first used, after `rotrace run` has forked its report process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rotrace.tracer.contract import EventSink, ProcessSink, TraceOptions, TraceResult

if TYPE_CHECKING:
    from rotrace.tracer.session import attach_process, trace_command

__all__ = ["EventSink", "ProcessSink", "TraceOptions", "TraceResult", "attach_process", "trace_command"]


def __getattr__(name: str) -> Any:
    if name in ("attach_process", "trace_command"):
        from rotrace.tracer import session

        return getattr(session, name)
    raise AttributeError(f"module 'rotrace.tracer' has no attribute {name!r}")
