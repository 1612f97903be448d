"""The tracer: runs a command under ptrace and yields FileEvents. Knows nothing of policies or output."""

from rotrace.tracer.loop import TraceOptions, TraceResult
from rotrace.tracer.session import trace_command

__all__ = ["TraceOptions", "TraceResult", "trace_command"]
