"""Tracing a command: start it, run the loop (relaying the signals rotrace receives), and turn
the outcome into a result or a clear error."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import signal
from collections.abc import Callable

from rotrace.errors import CommandNotExecutable, CommandNotFound, MovedAway, TraceFailed
from rotrace.pathnames import is_within
from rotrace.tracer import seccomp, stdio
from rotrace.tracer.contract import EventSink, ProcessSink, TraceOptions, TraceResult
from rotrace.tracer.linux import hardening, kernel, landlock, procfs
from rotrace.tracer.linux.arch import UnsupportedMachine, current_machine
from rotrace.tracer.linux.syscall_info import can_refuse
from rotrace.tracer.loop import Tracer, process_info, readlink_exe
from rotrace.tracer.signals import RELAYED, SignalRelay, ignored_at_start
from rotrace.tracer.spawn import find_executable, ptrace_refused, shown_command, spawn


def trace_command(
    argv: list[str],
    sink: EventSink,
    options: TraceOptions | None = None,
    env: dict[str, str] | None = None,
    on_process: ProcessSink | None = None,
) -> TraceResult:
    """Run argv under the tracer, calling sink for every completed file syscall (and
    on_process for every program started)."""
    options = options or TraceOptions()
    env = dict(os.environ if env is None else env)
    try:
        machine = current_machine()
    except UnsupportedMachine as exc:
        raise TraceFailed(str(exc)) from None
    path = find_executable(argv[0], env)
    enforced = options.writable is not None
    # Landlock mediates neither the making of a message queue nor its removal, only the open that
    # follows the making (which then fails, the queue made): both are refused, by the tracer
    # (which records them) or where it cannot rewrite a call by the filter. A policy's rule on
    # /dev/mqueue would cover a queue's open only in the IPC namespace mounted there.
    # A rename that leaves a whiteout (a device node Landlock does not mediate) is refused in a
    # confined run: by the tracer too, which records it, where it can rewrite a call.
    refusing = can_refuse()
    by_tracer = enforced and refusing
    whiteouts_by_tracer = options.confined and options.seccomp and refusing
    # Where the writes land on this machine's files, a file that runs with its owner's or group's
    # rights, or a device node, outlives the run for any user there to use (a root command's
    # set-user-ID shell in /tmp): refused, by the tracer (which records it) or by the filter.
    privileges_by_tracer = options.host_files and refusing
    program = seccomp.program(
        machine,
        options.all_opens,
        options.seccomp,
        options.confined,
        enforced,
        enforced and not by_tracer,
        refuse_whiteouts=not whiteouts_by_tracer,
        refuse_privileges=options.host_files and not privileges_by_tracer,
        host_files=options.host_files,
        refuse_userns=options.host_files,  # in one, the new mount API reaches past Landlock's rules
        own_pids=(os.getpid(), *options.own_pids) if options.confined else (),
    )
    keep_ignored = ignored_at_start()
    tracer = Tracer(machine, options, sink, on_process)
    tracer.refuses_queues = by_tracer
    tracer.refuses_whiteouts = whiteouts_by_tracer
    tracer.refuses_privileges = privileges_by_tracer
    tracer.refuses_devices = privileges_by_tracer and not enforced
    if options.host_files and hardening.withholding_fails(hardening.HOST_FILE_CAPABILITIES):
        tracer.warnings.append(
            "rotrace runs as root without CAP_SETPCAP: the command's programs may hold CAP_MKNOD and"
            " CAP_SETFCAP, and leave a device node or a file with capabilities where they may write"
        )
    ruleset = None
    if options.writable is not None:
        own = tuple(stdio.files(options.stdout_to_stderr))  # the command's own output, reopened
        ruleset = _landlock((*options.writable, *own), options.writable_notes, tracer.warnings)
    elif options.confined:  # the read-only sandbox: no write rules, the scopes alone
        ruleset = landlock.scopes_only()
        if ruleset is None:
            tracer.warnings.append(
                "the command could reach the abstract Unix sockets of processes outside the sandbox"
                " (an X server, a session bus): scoping them needs Landlock ABI 6 (Linux >= 6.12)"
            )
    try:
        child = spawn(path, argv, env, program, keep_ignored, options.stdout_to_stderr,
                      ruleset.fd if ruleset else None, options.host_files)  # fmt: skip
    except BaseException:
        if ruleset is not None:
            ruleset.release()
        raise
    finally:
        if ruleset is not None:
            ruleset.close()
    tracer.seccomp = child.seccomp and options.seccomp  # else the filter is the terminal guard alone
    tracer.warnings += seccomp.refused(child.seccomp, child.seccomp_error, options.seccomp, options.confined)
    relay = SignalRelay(tracer.processes_alive, keep_ignored, root=tracer.root_alive, grace=options.grace,
                        end_with_root=options.container_init)  # fmt: skip
    tracer.on_root_exit = relay.root_exited
    try:
        with relay:
            status = tracer.loop(child.pid)
    except kernel.PtraceError as exc:
        tracer.abort()
        if exc.errno in (errno.EIO, errno.EINVAL):
            raise TraceFailed(
                "this kernel lacks PTRACE_GET_SYSCALL_INFO (rotrace needs Linux >= 5.3 off x86_64)"
            ) from None
        raise TraceFailed(f"tracing failed: {exc}") from None
    except BaseException:
        tracer.abort()
        raise
    finally:
        tracer.decoder.memory.close()
        tracer.dircache.close()
        away = _moved_away(ruleset)
    if away:
        raise MovedAway(away)
    tracer.warnings.extend(relay.warnings)
    exec_errno = child.exec_error()
    if exec_errno is not None and not tracer.started:
        reason, shown = os.strerror(exec_errno), shown_command(argv[0])  # as a trace says it
        if exec_errno == errno.ENOENT:
            raise CommandNotFound(f"command not found: {shown} ({reason})")
        raise CommandNotExecutable(f"command is not executable: {shown} ({reason})")
    killed_by = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    code = 128 + killed_by if killed_by is not None else os.WEXITSTATUS(status)
    return TraceResult(
        child.pid,
        code,
        killed_by,
        tracer.seccomp,
        tracer.stops,
        tracer.warnings,
        tracer.processes,
        tracer.directories.states,
        ruleset.abi if ruleset and options.writable is not None else None,
        stopped_by=relay.stopped_by,
        remounted=tuple(sorted(tracer.remounted)),
    )


def _moved_away(ruleset: landlock.Ruleset | None) -> list[tuple[str, str]]:
    """The directories Landlock granted that are no longer at their names, now outside every one
    granted (procfs.moved; one the command renamed within them is traced as such); their fds
    closed."""
    if ruleset is None:
        return []
    granted = list(ruleset.granted)
    found = procfs.moved(ruleset.granted)
    ruleset.release()
    return [(place, now) for place, now in found if not is_within(now, granted)]


def _landlock(writable: tuple[str, ...], notes: tuple[str, ...], warnings: list[str]) -> landlock.Ruleset:
    try:
        ruleset = landlock.build(list(writable))
    except landlock.LandlockUnavailable as exc:
        raise TraceFailed(f"--enforce needs Landlock: {exc.strerror}") from None
    warnings += [*notes, *ruleset.notes()]
    return ruleset


_ATTACH_OPTIONS = kernel.FOLLOW_OPTIONS  # no EXITKILL: whatever happens to rotrace, the process goes on


def _seize_threads(pid: int) -> tuple[int, ...]:
    """Every thread of pid, seized and interrupted (threads it starts meanwhile included)."""
    seized: set[int] = set()
    for _ in range(10):
        try:
            tids = {int(t) for t in os.listdir(f"/proc/{pid}/task")}
        except OSError:
            if not seized:
                raise TraceFailed(f"no process {pid} to attach to") from None
            break
        new = tids - seized
        if not new:
            break
        for tid in sorted(new):
            try:
                kernel.seize(tid, _ATTACH_OPTIONS)
            except kernel.PtraceError as exc:
                if exc.errno == errno.ESRCH or (exc.errno == errno.EPERM and _ours_or_exited(tid)):
                    continue  # gone meanwhile, or made by a thread seized already (traced from its start)
                for done in seized:
                    with contextlib.suppress(kernel.PtraceError):
                        kernel.detach(done, 0)
                raise ptrace_refused(exc.errno, tid, attaching=True) from None
            kernel.interrupt(tid)
            seized.add(tid)
    if not seized:
        raise TraceFailed(f"no process {pid} to attach to (it exited)")
    return tuple(sorted(seized))


def _context_peers(pid: int, seized: int) -> tuple[list[int] | None, list[int] | None]:
    """The processes, other than pid, that share its cwd and root (one fs_struct: clone
    CLONE_FS), and those that share its fd table (CLONE_FILES), none of them traced: made
    before rotrace attached, they may chdir (and, with CAP_SYS_CHROOT, chroot), or dup2 over a
    directory's descriptor, while one of its calls walks a name from there, and no stop says
    so. One look at /proc for both; None where kcmp(2) cannot tell (not in this kernel);
    processes rotrace may not compare (another user's) are not among them. Compared with
    `seized`, a thread of pid's that rotrace seized (a leader that exited while its threads
    run has neither, as no zombie has)."""
    kinds = (kernel.same_fs, kernel.same_files)
    found: list[list[int] | None] = [None if same(seized, seized) is None else [] for same in kinds]
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == pid:
            continue
        try:
            tids = [int(tid) for tid in os.listdir(f"/proc/{name}/task") if tid.isdigit()]
        except OSError:  # gone meanwhile
            continue
        for same, peers in zip(kinds, found, strict=True):
            if peers is not None and any(same(seized, tid) for tid in tids):
                peers.append(int(name))
    return found[0], found[1]


_CAP_SYS_CHROOT = 18


def _may_chroot(pid: int) -> bool:
    """Whether the process holds CAP_SYS_CHROOT (it cannot gain it by an exec while it shares
    its fs_struct: the kernel gives a set-user-ID program no privilege then)."""
    try:
        return bool(int(procfs.status_fields(pid, b"CapEff")[b"CapEff"], 16) >> _CAP_SYS_CHROOT & 1)
    except (KeyError, ValueError):
        return True  # (gone, or not shown: it may)


def _pids(pids: list[int]) -> str:
    shown = ", ".join(str(p) for p in pids[:5]) + (f" and {len(pids) - 5} more" if len(pids) > 5 else "")
    return f"pid {shown}" if len(pids) == 1 else f"pids {shown}"


def _ours_or_exited(tid: int) -> bool:
    """Whether a thread ptrace refused to seize (EPERM) is one rotrace traces already or one
    that has exited: a thread a seized thread made since /proc listed it is traced from its
    start (PTRACE_O_TRACECLONE), and the loop adopts it at its first stop; a pool's retired
    thread is exiting for a moment. Any other refusal is one (another user's credentials, a
    thread's own included)."""
    found = procfs.status_fields(tid, b"State", b"TracerPid")
    if found.get(b"TracerPid") == str(os.getpid()).encode():
        return True
    return found.get(b"State", b"X")[:1] in (b"Z", b"X")


def attach_process(
    pid: int,
    sink: EventSink,
    options: TraceOptions | None = None,
    on_process: ProcessSink | None = None,
    on_attached: Callable[[int], None] | None = None,
) -> TraceResult:
    """Trace a running process (all its threads, and the children it makes from now on) until
    it exits, or until rotrace is signalled (SIGINT, SIGTERM, SIGHUP, SIGQUIT): then every tracee is
    let go and goes on running. There is no seccomp filter for a process already running, so
    every syscall stops. `on_attached(threads)`: called once every thread is traced (a seized
    thread runs untraced until its first stop is handled: what it writes meanwhile is not
    seen), so that a user knows from when on the trace holds."""
    options = options or TraceOptions()
    try:
        machine = current_machine()
    except UnsupportedMachine as exc:
        raise TraceFailed(str(exc)) from None
    tracer = Tracer(machine, options, sink, on_process)

    def detach(_signum: int, _frame: object) -> None:
        tracer.request_detach()

    # from before the seize: a signal while rotrace attaches lets the process go at once (its
    # threads' first stops), where it would be lost, or end rotrace with them half seized
    previous = {sig: signal.signal(sig, detach) for sig in RELAYED}
    try:
        # a process already running may share its cwd and root (clone CLONE_FS) with one rotrace
        # does not trace, whose chdir or chroot no stop reports: every path is placed by the kernel
        tracer.dircache.close(shared_contexts=True)
        threads = _seize_threads(pid)
        peers, holders = _context_peers(pid, threads[0])
        may_chroot = peers is None or any(_may_chroot(peer) for peer in peers)
        if peers is None or peers:
            tracer.context_shared(pid, cwd=True, root=may_chroot)
            who = "processes rotrace cannot compare it with" if peers is None else _pids(peers)
            tracer.warnings.append(
                f"pid {pid} shares its working directory{' and root' if may_chroot else ''} with {who},"
                " which rotrace does not trace (clone CLONE_FS, before it attached) and which may change it"
                " with no call rotrace sees: its writes by a name walked from there are unresolved"
            )
        if holders is None or holders:
            tracer.context_shared(pid, fds=True)
            who = "processes rotrace cannot compare it with" if holders is None else _pids(holders)
            tracer.warnings.append(
                f"pid {pid} shares its file descriptors with {who}, which rotrace does not trace (clone"
                " CLONE_FILES, before it attached) and which may replace one with no call rotrace sees: its"
                " writes by a name walked from a directory's descriptor are unresolved"
            )
        if on_attached is not None:
            tracer.on_attached = functools.partial(on_attached, len(threads))
        tracer.started = True
        tracer.exe[pid] = readlink_exe(pid)
        tracer.program_started(process_info(pid, tracer.exe[pid]))
        tracer.warnings.append(
            f"attached to pid {pid}: writes before rotrace attached, and those of children it had"
            " already started, are not in this trace; every syscall stops (no seccomp filter)"
        )
        try:
            tracer.loop(pid, threads)
        except BaseException:
            tracer.request_detach()
            raise
    finally:
        tracer.decoder.memory.close()
        tracer.dircache.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    status = tracer.root_exit
    let_go = status is None or tracer.detaching
    if status is not None and not let_go:
        killed_by = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        code = 128 + killed_by if killed_by is not None else os.WEXITSTATUS(status)
    else:
        killed_by, code = None, 0
        tracer.warnings.append(f"rotrace let pid {pid} go when it was signalled: the process goes on running")
    return TraceResult(pid, code, killed_by, False, tracer.stops, tracer.warnings, tracer.processes,
                       tracer.directories.states, let_go=let_go,
                       remounted=tuple(sorted(tracer.remounted)))  # fmt: skip
