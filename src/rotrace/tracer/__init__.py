"""The tracer: runs a command under ptrace and yields FileEvents. Knows nothing of policies or output."""

from rotrace.tracer.loop import TraceOptions, TraceResult, trace_command

__all__ = ["TraceOptions", "TraceResult", "trace_command"]
