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
    allow_fds: tuple[int, ...] = ()  # inherited fds a confined run may pass on, open for writing anywhere


def audit(request: AuditRequest) -> int:
    """Trace the command; the report process classifies, reports and exports: its exit status."""
    handoff = take()
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
        passed = _inherited(request)
        output = TraceOutput(request.json_path)
        # The report process opens the trace through this process's fd (it was forked first).
        fd = output.fp.fileno() if output.fp is not None and request.json_path != "-" else None
        handoff.start((pickle.dumps((request, baseline)), cwd, request.json_path, os.getpid(), fd))
        result, writable = _trace(request, handoff.add, handoff.add_process)
        result.warnings[:0] = passed
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


def _inherited(request: AuditRequest) -> list[str]:
    """A confined run refuses fds it would hand the command open for writing outside the
    allowlist (policy/inherited.py); in the --read-only sandbox only 0-2 reach it (the rest are
    closed as bwrap starts)."""
    if request.options.writable is None and not request.read_only:
        return []
    from rotrace.policy.inherited import check

    mode = "--read-only" if request.read_only else "--enforce"
    stdio_only = request.read_only and not _root_is_read_only()
    return check(request.allowlist, mode, request.allow_fds, stdio_only, request.options.stdout_to_stderr)


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
