"""`rotrace run`, the tracer's side: check what must hold before the command starts, tell the
report process how the run starts, trace (plainly, attached to a running process, or inside the
read-only sandbox), and hand over the result.

Imports stay light: the tracer loads when the trace starts; the report side's modules only in
the report process.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os

from rotrace.errors import BadInput
from rotrace.output import TraceOutput, stdout_open
from rotrace.policy import databases
from rotrace.run.handoff import Handoff
from rotrace.run.request import RunRequest, RunStart
from rotrace.tracer import TraceResult
from rotrace.tracer.channel import Result
from rotrace.tracer.linux.hardening import undumpable


def trace_and_hand_over(request: RunRequest, handoff: Handoff) -> int:
    """Trace the command; the report process classifies, reports and exports: its exit status."""
    undumpable()  # out of the command's reach: /proc/PID/fd, /proc/PID/mem, ptrace
    try:
        baseline = None
        if request.baseline is not None:
            from rotrace.pipeline import load_changes  # read now: a bad baseline stops the run first

            baseline = load_changes(request.baseline)
        if request.emit:
            stdout_open("--emit")
        cwd = os.getcwd()  # the command may remove it
        if request.attach is not None:
            cwd = _cwd_of(request.attach)
        passed = _inherited(request)
        guarded = _guarded(request, request.json_path)
        output = TraceOutput(request.json_path, guarded=guarded)
        if guarded:  # (the command may write there: while rotrace runs, it replaces the file whole)
            passed.append(
                f"the trace {request.json_path} is where the confined command may write: should rotrace be"
                " killed, what the command left in it stands (a checkpoint it rewrote, a file it filled);"
                " for a trace no command can touch, give --json a place outside the allowlist"
            )
        # The report process opens the trace again by its path: the same file (it was forked first).
        since = databases.now()
        handoff.start(RunStart(request, cwd, baseline, os.getpid(), output.handover(), since).message())
        result, writable = _trace(request, handoff)
        result.warnings[:0] = passed
    except BaseException:
        handoff.abort()
        raise
    return handoff.finish(Result(result, writable))


def _guarded(request: RunRequest, path: str | None) -> bool:
    """A file rotrace writes where the confined command may write (what --enforce's rules or
    --read-only --keep-writes's binds let it reach): a symlink or hard link there may be the
    command's, left by an earlier run, and is not followed (output.open_output)."""
    if not request.reaches_host or path is None or path == "-":
        return False
    named = os.path.abspath(path)  # and where the kernel takes it: through a symlinked directory
    real = os.path.join(os.path.realpath(os.path.dirname(named)), os.path.basename(named))
    return any(request.allowlist.allows(os.fsencode(p)) for p in (named, real))


def _trace(request: RunRequest, handoff: Handoff) -> tuple[TraceResult, list[str] | None]:
    from rotrace.tracer import attach_process, trace_command

    sink, on_process = handoff.add, handoff.add_process
    # out of a confined command's reach, as the tracer is: the report process, and rotrace's init
    # where rotrace is a container's PID 1 (its RLIMIT_CPU spent reaping orphans kills them all)
    own: tuple[int, ...] = (handoff.reporter_pid,) if handoff.reporter_pid else ()
    own += (1,) if request.options.container_init else ()
    if own:
        request = request._replace(options=request.options._replace(own_pids=own))
    gc.disable()  # tracing makes no reference cycles; collections would only add latency
    gc.freeze()  # what was loaded until now: never looked at by the collections after the trace
    try:
        if request.read_only and _root_is_read_only():
            result = trace_command(request.argv, sink, request.options, on_process=on_process)
            result.warnings.append(
                "the root filesystem is already read-only here (a read-only container): the command ran"
                " plainly, which is the read-only run; no sandbox was needed"
            )
            result.warnings.extend(_writable_here(request))
            return result, None
        if request.read_only:
            from rotrace.sandbox.bwrap import trace_in_sandbox

            result, sandbox = trace_in_sandbox(
                request.argv, sink, request.options, request.allowlist, request.keep_writes, on_process,
                handoff.checkpoint, request.persistent,
            )  # fmt: skip
            return result, sandbox.writable
        if request.attach is not None:
            told = None if request.view.quiet else functools.partial(_attached, request.attach)
            return attach_process(request.attach, sink, request.options, on_process, told), None
        return trace_command(request.argv, sink, request.options, on_process=on_process), None
    finally:
        gc.enable()


def _attached(pid: int, threads: int) -> None:
    """`run -p`: from this line on, every write of the process is in the trace (as strace's
    "Process N attached"); what it wrote while rotrace was attaching is not."""
    many = f"{threads} threads" if threads > 1 else "1 thread"
    with contextlib.suppress(OSError):  # a closed or full stderr does not end the trace
        line = f"rotrace: attached to pid {pid} ({many}): tracing; Ctrl-C lets it go on running\n"
        os.write(2, line.encode())


def _inherited(request: RunRequest) -> list[str]:
    """A confined run refuses fds it would hand the command open for writing outside the
    allowlist (policy/inherited.py); in the --read-only sandbox only 0-2 reach it (the rest are
    closed as bwrap starts)."""
    from rotrace.policy.inherited import acting_warnings, check

    if request.options.writable is None and not request.read_only:
        return acting_warnings() if request.attach is None else []
    mode = "--read-only" if request.read_only else "--enforce"
    stdio_only = request.read_only and not _root_is_read_only()
    return check(request.allowlist, mode, request.allow_fds, stdio_only, request.options.stdout_to_stderr)


def _cwd_of(pid: int) -> str:
    """The process's cwd: its leader's, or where the leader has exited (pthread_exit: a zombie
    while the other threads run), a thread's."""
    try:
        tids = [str(pid), *sorted(os.listdir(f"/proc/{pid}/task"))]
    except OSError:
        tids = [str(pid)]
    for tid in tids:
        try:
            return os.readlink(f"/proc/{pid}/task/{tid}/cwd")
        except OSError:
            continue
    raise BadInput(f"no process {pid} to attach to (or not yours to trace)")


def _writable_here(request: RunRequest) -> list[str]:
    """Under --read-only where the root is read-only already: the mounts outside the allowlist
    that are writable here all the same (a container's volumes), where writes went through as
    they go in that container."""
    from rotrace.mountinfo import writable_directories

    outside = [d for d in writable_directories() if d != b"/" and not request.allowlist.allows(d)]
    if not outside:
        return []
    names = ", ".join(os.fsdecode(d) for d in outside[:5]) + (
        f" and {len(outside) - 5} more" if len(outside) > 5 else ""
    )
    return [
        f"writable here outside the allowlist, and not made read-only (no sandbox ran): {names}; writes there"
        " went through, as they do in this container"
    ]


def _root_is_read_only() -> bool:
    try:
        return bool(os.statvfs("/").f_flag & os.ST_RDONLY)
    except OSError:
        return False
