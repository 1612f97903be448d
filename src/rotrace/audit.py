"""`rotrace run`, the tracer's side: check what must hold before the command starts, send the
request to the report process (handoff.py: forked at start-up, or now), trace, and hand over
the result.

Imports stay light: the tracer loads when the trace starts, the report side (runner.py)
only in the report process.
"""

from __future__ import annotations

import gc
import os
import pickle
from dataclasses import dataclass, field

from rotrace.channel import result_frame
from rotrace.errors import BadInput
from rotrace.handoff import take
from rotrace.output import TraceOutput, stdout_open
from rotrace.policy.allowlist import Allowlist
from rotrace.report.view import View
from rotrace.tracer import EventSink, ProcessSink, TraceOptions, TraceResult
from rotrace.tracer.linux_hardening import undumpable


@dataclass(frozen=True)
class AuditRequest:
    """What `rotrace run` was asked to do."""

    argv: list[str]
    allowlist: Allowlist
    options: TraceOptions
    json_path: str | None = None  # "-": stdout
    read_only: bool = False
    keep_writes: bool = False
    emit: str | None = None  # an export format, printed to stdout after the run
    baseline: str | None = None  # an earlier trace to compare with
    view: View = field(default_factory=View)
    command_status: bool = False  # exit with the command's own status when it failed
    attach: int | None = None  # a running process to trace instead of argv


def audit(request: AuditRequest) -> int:
    """Trace the command; the report process classifies, reports and exports: its exit status."""
    handoff = take()
    undumpable()  # out of the command's reach: /proc/PID/fd, /proc/PID/mem, ptrace (linux_hardening)
    try:
        baseline = None
        if request.baseline is not None:
            from rotrace.runner import load_changes

            baseline = load_changes(request.baseline)
        if request.emit:
            stdout_open("--emit")
        cwd = os.getcwd()  # the command may remove it
        if request.attach is not None:
            cwd = _cwd_of(request.attach)
        output = TraceOutput(request.json_path)
        # The report process opens the trace again by its path: the same file (it was forked first).
        fd = output.handover()
        handoff.start((pickle.dumps((request, baseline)), cwd, request.json_path, os.getpid(), fd))
        result, writable = _trace(request, handoff.add, handoff.add_process)
    except BaseException:
        handoff.abort()
        raise
    return handoff.finish(("result", result_frame(result), writable))


def _trace(
    request: AuditRequest, sink: EventSink, on_process: ProcessSink
) -> tuple[TraceResult, list[str] | None]:
    from rotrace.tracer import attach_process, trace_command

    gc.disable()  # tracing makes no reference cycles; collections would only add latency
    try:
        if request.read_only and _root_is_read_only():
            result = trace_command(request.argv, sink, request.options, on_process=on_process)
            result.warnings.append(
                "the root filesystem is already read-only here (a read-only container): the command ran"
                " plainly, which is the read-only run; no sandbox was needed"
            )
            return result, None
        if request.read_only:
            from rotrace.sandbox.bwrap import trace_in_sandbox

            result, sandbox = trace_in_sandbox(
                request.argv, sink, request.options, request.allowlist, request.keep_writes, on_process
            )
            return result, sandbox.writable
        if request.attach is not None:
            return attach_process(request.attach, sink, request.options, on_process), None
        return trace_command(request.argv, sink, request.options, on_process=on_process), None
    finally:
        gc.enable()


def _cwd_of(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        raise BadInput(f"no process {pid} to attach to (or not yours to trace)") from None


def _root_is_read_only() -> bool:
    try:
        return bool(os.statvfs("/").f_flag & os.ST_RDONLY)
    except OSError:
        return False
