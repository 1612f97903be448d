"""The tracer: runs a command under ptrace and yields FileEvents. Knows nothing of policies or output."""

from rotrace.tracer.loop import TraceOptions, TraceResult
from rotrace.tracer.session import attach_process, trace_command

__all__ = ["TraceOptions", "TraceResult", "attach_process", "trace_command"]
