"""Run the tracer inside bubblewrap: a read-only root, /dev and /proc, a tmpfs on /tmp, and
every allowed directory writable (a tmpfs, or a bind mount that keeps what is written). A
policy's persistent place that holds files starts with a copy of them, as a volume filled from
the image does: copied into its tmpfs inside the sandbox, it goes with the sandbox.

What `docker run --read-only` confines, the sandbox confines too, so that no write reaches the
host behind a report that says "read-only": its own pid namespace (no other process to reach
through /proc), the parts of /proc Docker makes read-only (/proc/sys...), a new session (no
TIOCSTI into the terminal), and for root Docker's default capabilities (no CAP_SYS_ADMIN: no
`mount -o remount,rw /`). As another user bubblewrap runs in a user namespace with none.

rotrace's own runtime (its Python, its packages) and the working directory stay visible even
when they live under a directory the sandbox covers with a tmpfs (a CI clone under /tmp).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field

from rotrace.errors import (
    CommandNotExecutable,
    CommandNotFound,
    MovedAway,
    RotraceError,
    SandboxError,
    Stopped,
    TraceFailed,
)
from rotrace.events import FileEvent, ProcessInfo
from rotrace.pathnames import is_under, is_within
from rotrace.patterns import decimal
from rotrace.policy.allowlist import Allowlist
from rotrace.policy.inherited import readable_outside
from rotrace.policy.mountpoints import PROVIDED as _PROVIDED
from rotrace.policy.mountpoints import SCRATCH, SYSTEM_DIRS, layout
from rotrace.policy.runtime import DOCKER_CAPABILITIES
from rotrace.sandbox.inner import DEVICES, STOPPED, inner_options
from rotrace.tracer import ProcessSink, TraceOptions, TraceResult
from rotrace.tracer.channel import Checkpoint, Error, Events, Processes, Ready, Result, pipe, receive
from rotrace.tracer.linux import procfs
from rotrace.tracer.linux.hardening import capabilities, die_with_parent
from rotrace.tracer.signals import SignalRelay, defer_stops, stop_if_asked, stopping

INSTALL_HINT = (
    "bubblewrap (bwrap) is needed for --read-only: apt-get install bubblewrap (Debian, Ubuntu),"
    " dnf install bubblewrap (Fedora), apk add bubblewrap (Alpine)"
)
# Kept for the tracer inside, never for the command (sandbox/inner.py): to read the /proc files of a
# process that changed its uid.
_TRACER_ONLY = {"CAP_SYS_PTRACE": 19}
_NOT_ON_HOST_FILES = ("CAP_MKNOD", "CAP_SETFCAP")  # of Docker's, those left out under --keep-writes
# What Docker mounts read-only in the container's /proc (its readonlyPaths).
PROC_READ_ONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
_ERRORS: dict[int, type[RotraceError]] = {
    CommandNotFound.exit_status: CommandNotFound,
    CommandNotExecutable.exit_status: CommandNotExecutable,
}


@dataclass
class SandboxPlan:
    """The bwrap arguments, and what the user should know about them."""

    args: list[str]
    writable: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # the fds to pass to bwrap and close after its start: the directories bound by an fd
    # (`--bind-fd`), and those the tracer inside copies from into their tmpfs (`seeds`)
    fds: list[int] = field(default_factory=list)
    # a persistent place -> an fd of it, for the tracer inside to copy what it holds into the
    # place's tmpfs before the command starts (sandbox/inner.py)
    seeds: dict[str, int] = field(default_factory=dict)
    # a directory bound writable -> an fd of it kept to the run's end (`moved`)
    bound: dict[str, int] = field(default_factory=dict)

    def close(self) -> None:
        """The fds bwrap was given closed (it has them); those of `bound` are kept."""
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()

    def moved(self) -> list[tuple[str, str]]:
        """The directories bound writable that are no longer at their names, moved out of them
        all (procfs.moved: by a process outside the run, which the command's own mount point
        is out of reach of); every fd closed."""
        found = [(p, now) for p, now in procfs.moved(self.bound) if not is_within(now, self.bound)]
        for fd in self.bound.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.bound.clear()
        return found


def _held(path: str) -> int:
    """An O_PATH fd on the directory `path`, walked from / one name at a time, never through a
    symbolic link: bwrap binds it by the fd (`--bind-fd`), so that a name swapped for a link (or
    for another directory) after the plan was made is not where the mount goes. A process
    outside the sandbox could swap an allowed directory, or a seed's copy, between the check
    and bwrap's mount, and the command's writes went where the link led, reported as allowed."""
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in (part for part in path.split("/") if part):
            following = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = following
    except OSError as exc:
        os.close(fd)
        raise SandboxError(
            f"{path} changed while the sandbox was set up ({exc.strerror}): it is no directory reached"
            " without a symbolic link; run again"
        ) from None
    return fd


def runtime_paths(command_path: str | None) -> list[str]:
    """What the tracer inside needs to see: its Python, its packages, the command, the cwd.

    Shown again (read-only) when an allowed directory's tmpfs covers them, so that rotrace
    still runs; the working directory only when it is not itself an allowed directory.
    """
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.getcwd(), os.path.dirname(sys.executable)}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    if command_path:
        paths.add(os.path.dirname(os.path.realpath(command_path)))
    return sorted(p for p in paths if p.startswith("/"))


def code_paths() -> list[str]:
    """Where this Python loads rotrace's code and its packages from (the module path): read-only
    in the sandbox whatever the allowlist says, so that the command cannot change what the
    tracer inside, or the report process outside, loads after it starts (rotrace installed in
    an allowed project's .venv, kept writable by --keep-writes). Not the working directory nor
    one holding it: the project audited, on the module path only by PYTHONPATH (docs/limits.md)."""
    cwd = os.path.realpath(os.getcwd())
    paths = [*sys.path, sys.pycache_prefix or ""]  # the compiled copies too, where they are kept apart
    real = {os.path.realpath(p) for p in paths if p.startswith("/") and os.path.isdir(p)}
    return sorted(p for p in real if not is_under(cwd, p))  # by the names the command reaches them


def confinement(keep: bool = False) -> list[str]:
    """What makes the sandbox a container's equal (the module's docstring). As root, bubblewrap
    keeps every capability unless told: only Docker's are kept (those this process has), and
    CAP_SYS_PTRACE for the tracer alone; with the writes kept on the host's files (`keep`), not
    CAP_MKNOD nor CAP_SETFCAP: a device node or a file with capabilities left there is any
    user's way to the disk or to root (a container's devices cgroup and its own file system
    keep such files inside it). An IPC namespace of its own, as a container has: a System V
    segment or a POSIX message queue made inside (no file system call, no write in the trace)
    does not outlive the run on the machine."""
    args = ["--unshare-pid", "--unshare-ipc", "--as-pid-1", "--new-session", "--die-with-parent"]
    for path in PROC_READ_ONLY:
        args += ["--ro-bind-try", path, path]
    if os.geteuid() == 0:
        have = capabilities("CapBnd")
        args += ["--cap-drop", "ALL"]
        for name, number in {**DOCKER_CAPABILITIES, **_TRACER_ONLY}.items():
            if keep and name in _NOT_ON_HOST_FILES:
                continue
            if have is None or have >> number & 1:
                args += ["--cap-add", name]
    return args


def plan(
    allowlist: Allowlist,
    keep: bool,
    visible: list[str],
    seeds: Collection[str] = (),
    code: list[str] | None = None,
    devices: list[str] | None = None,
) -> SandboxPlan:
    """`seeds`: the persistent places whose tmpfs starts with what they hold (`seeded`);
    `code`: rotrace's own (code_paths), bound read-only where a directory kept writable holds it;
    `devices`: the binds of the sandbox's own device nodes over bwrap's (own_devices)."""
    filled = set(seeds)
    args = ["--ro-bind", "/", "/", "--dev", "/dev", *(devices or []), "--proc", "/proc", *confinement(keep)]
    result = SandboxPlan(args)
    mounts: list[str] = []
    missing: list[str] = []
    for rule in allowlist.rules:
        path = rule.path
        if rule.is_glob:
            result.notes.append(
                f"{rule.pattern}: a glob cannot be mounted; it stays read-only in the sandbox"
            )
        elif rule.is_exact or any(is_under(path, p) for p in _PROVIDED):
            continue
        elif (link := _through_symlink(path)) is not None:
            # bubblewrap follows it: the mount would be where it points, which the allowlist does
            # not name (the report places writes there by their real path): as --enforce's rules
            result.notes.append(
                f"{path} goes through the symbolic link {link}: a mount there would be where it points,"
                " which the allowlist does not name; it stays read-only in the sandbox"
            )
        elif os.path.isdir(path):
            mounts.append(path)
        elif os.path.lexists(path):
            result.notes.append(f"{path} is not a directory: it stays read-only in the sandbox")
        elif keep:
            result.notes.append(f"{path} does not exist: --keep-writes cannot bind it; it stays read-only")
        else:
            missing.append(path)

    def mount(path: str) -> list[str]:
        if keep or path in filled:
            fd = _held(path)
            result.fds.append(fd)
            if keep:
                result.bound[path] = os.dup(fd)
                return ["--bind-fd", str(fd), path]
            result.seeds[path] = fd  # read inside, never bound: nothing written reaches it
        return ["--tmpfs", path]

    cwd = os.getcwd()
    covered = [*mounts, *missing]  # (what the layout may make writable)
    # hidden by a writable mount: shown again, read-only (not the working directory made writable)
    shown = [] if keep else [p for p in visible if any(is_under(p, m) for m in covered)]
    shown = [p for p in shown if not (p == cwd and cwd in covered)]
    try:
        placed = layout(mounts, missing, mount, shown=[p for p in shown if p not in covered])
    except BaseException:
        result.close()
        result.moved()
        raise
    args += placed.args
    result.writable += placed.writable
    result.notes += placed.notes
    if keep:
        for path in code or []:
            if any(is_under(path, m) for m in result.writable):
                args += ["--ro-bind", path, path]
                result.notes.append(
                    f"{path} holds rotrace's own code: it stays read-only in the sandbox, so that the"
                    " command cannot change what rotrace runs"
                )
    if not keep:
        for path in mounts:
            if path in result.writable and path in filled:
                result.notes.append(
                    f"{path} (persistent) starts with a copy of what it holds, as a volume filled from the"
                    " image does; what the command writes there is left in the copy, the sandbox's own"
                    " (--keep-writes binds the directory itself)"
                )
            elif path in result.writable and _holds_files(path):
                later = (
                    "as a container's does"
                    if path in SCRATCH
                    else "a plan's persistent volume there starts with them"
                )
                result.notes.append(
                    f"{path} holds files, which its tmpfs in the sandbox hides ({later}); --keep-writes binds"
                    " the directory itself"
                )
        if cwd in result.writable and cwd in visible:
            result.notes.append(
                f"{cwd} (the working directory) is an empty tmpfs in the sandbox, as `--tmpfs` makes"
                " it; --keep-writes bind-mounts it instead"
            )
        for path in shown:
            if path in covered and path in result.writable:  # a runtime path allowed itself
                args += ["--ro-bind", path, path]
    return result


def _through_symlink(path: str) -> str | None:
    """The first name on `path` that is a symbolic link, as far as the path exists (None: none)."""
    walked = ""
    for name in (part for part in path.split("/") if part):
        walked += "/" + name
        try:
            if stat.S_ISLNK(os.lstat(walked).st_mode):
                return walked
        except FileNotFoundError:
            return None
        except OSError:
            return walked  # not to be looked at: not to be mounted either
    return None


def seeded(allowlist: Allowlist, persistent: tuple[str, ...], keep: bool) -> list[str]:
    """The persistent places that are allowed directories holding files: the sandbox starts
    each one's tmpfs with a copy of what it holds (sandbox/seed.py), as a volume filled from the
    image does; without it the app would miss its data. Copied inside the sandbox, from an fd
    of the place, never into a directory on the host: a process outside the run could swap
    such a directory for one of its own choosing between its making and its mount (the
    command's writes landed there), and the removal of the copy after the run removed what was
    swapped in."""
    wanted = [p for p in dict.fromkeys(persistent) if not keep and p in _directories(allowlist)]
    # never a system directory (a hand-written `persistent = ["/"]` would copy the machine)
    wanted = [p for p in wanted if p not in SYSTEM_DIRS and not any(is_under(p, d) for d in _PROVIDED)]
    return [p for p in wanted if os.path.isdir(p) and _holds_files(p)]


# The nodes bubblewrap's --dev binds from the host's /dev.
DEVICE_NODES = tuple(DEVICES)  # (the numbers each must have: inner.py checks them inside)


# Where the sandbox's own device nodes are made: the host's /dev, which the sandbox never sees
# (bwrap's `--dev` is a tmpfs of its own there) and which allows devices (a nodev temporary
# directory, systemd's /tmp, would make them unopenable), never a directory the command may
# reach (--keep-writes binds /tmp: it swapped the copies, and kept device nodes of its own).
DEVICES_HOME = "/dev"
_DEVICES_PREFIX = "rotrace-dev-"


@contextlib.contextmanager
def own_devices(left: list[str]) -> Iterator[list[str]]:
    """As root, nodes of the sandbox's own for those bubblewrap's `--dev` binds from the host: the
    same devices, made in a directory of rotrace's and bound over bwrap's, so that a chmod,
    chown, xattr or time set on /dev/null inside changes this copy, not the host's node (as a
    container's /dev holds nodes of its own). Removed at the end (`left`: said when it could
    not be), and those of a rotrace killed before it could (SIGKILL) at the next run's start.
    Without CAP_MKNOD, or where /dev takes no device, none: bwrap's binds stay (docs/limits.md);
    as another user the host's nodes are root's, which the command cannot change."""
    if os.geteuid() != 0 or _no_devices(DEVICES_HOME):
        yield []
        return
    _remove_stale(DEVICES_HOME, _DEVICES_PREFIX)
    defer_stops()  # made and named at once: a stop between the two would leave it behind
    try:
        top = tempfile.mkdtemp(prefix=f"{_DEVICES_PREFIX}{os.getpid()}-", dir=DEVICES_HOME)
    except OSError:
        stop_if_asked()
        yield []
        return
    try:
        stop_if_asked()
        args: list[str] = []
        for name in DEVICE_NODES:
            try:
                host = os.stat(f"/dev/{name}")
            except OSError:  # not on this machine (a container without a tty): bwrap binds none either
                continue
            if not stat.S_ISCHR(host.st_mode):
                continue
            node = os.path.join(top, name)
            try:
                os.mknod(node, stat.S_IFCHR | stat.S_IMODE(host.st_mode), host.st_rdev)
                os.chmod(node, stat.S_IMODE(host.st_mode))  # the umask's bits back
                os.chown(node, host.st_uid, host.st_gid)
            except OSError:
                args = []
                break
            args += ["--dev-bind", node, f"/dev/{name}"]
        yield args
    finally:
        defer_stops()  # removed whole, whatever signal comes now
        if not _remove_nodes(top):
            left.append(top)


def _remove_nodes(top: str) -> bool:
    """The device copies' directory removed, whether it is gone: it holds rotrace's nodes alone,
    out of the command's reach (a directory, or anything else, there is none of rotrace's: left)."""
    try:
        for name in os.listdir(top):
            os.unlink(os.path.join(top, name))
        os.rmdir(top)
    except OSError:
        return False
    return True


def _no_devices(directory: str) -> bool:
    """`directory` is on a file system mounted nodev (or cannot be asked): a node there opens
    nowhere, through a bind too (bwrap keeps a mount's flags)."""
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_NODEV)
    except OSError:
        return True


def _remove_stale(directory: str, prefix: str) -> None:
    """The copies (`prefix` then its maker's pid) of a rotrace that is gone, killed before it
    could remove them (SIGKILL): directories of this user's only; one of that name another user
    made is theirs, never touched."""
    me = os.geteuid()
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            pid = decimal(entry.name.removeprefix(prefix).split("-", 1)[0])
            if not entry.name.startswith(prefix) or pid is None or _alive(pid):
                continue
            with contextlib.suppress(OSError):
                found = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(found.st_mode) and found.st_uid == me:
                    _remove_nodes(entry.path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # (no pid is past a pid_t)
        return False
    except OSError:
        return True
    return True


def _directories(allowlist: Allowlist) -> set[str]:
    return {r.path for r in allowlist.rules if not r.is_glob and not r.is_exact}


def _holds_files(path: str) -> bool:
    try:
        with os.scandir(path) as entries:
            return any(True for _ in entries)
    except OSError:
        return False


def find_bwrap() -> str:
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxError(INSTALL_HINT)
    return found


def _dies_with(parent: int) -> Callable[[], None]:
    """In bwrap's child, before its exec: SIGKILL when rotrace goes (bwrap's --die-with-parent
    takes effect only once bwrap has started: rotrace killed before left bwrap running for good),
    and gone at once if rotrace is gone already."""

    def arrange() -> None:
        die_with_parent()
        if os.getppid() != parent:
            os._exit(1)

    return arrange


def _child_pid(fd: int) -> int:
    """bwrap's --info-fd: {"child-pid": N, ...}, written once the sandbox's process exists
    (nothing, if bwrap failed before: it says why on stderr). 0 when unknown."""
    data = b""
    try:
        while chunk := os.read(fd, 4096):
            data += chunk
    finally:
        os.close(fd)
    try:
        pid = json.loads(data).get("child-pid", 0)
    except (ValueError, AttributeError):
        return 0
    return pid if isinstance(pid, int) else 0


def _tell(pid: int, signum: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signum)


def trace_in_sandbox(
    argv: list[str],
    sink: Callable[[FileEvent], None],
    options: TraceOptions,
    allowlist: Allowlist,
    keep: bool,
    on_process: ProcessSink | None = None,
    on_checkpoint: Callable[[], None] | None = None,
    persistent: tuple[str, ...] = (),
) -> tuple[TraceResult, SandboxPlan]:
    """Like trace_command, with the tracer (and so the command) inside bubblewrap. SIGUSR1 goes
    to the tracer inside, which sends what it has, then a Checkpoint: `on_checkpoint` then.
    `persistent`: the policy's persistent places (`seeded`)."""
    bwrap = find_bwrap()
    left: list[str] = []
    seeds = seeded(allowlist, persistent, keep)
    with stopping(), own_devices(left) as devices:
        result, sandbox = _trace_in(
            bwrap, argv, sink, options, allowlist, keep, on_process, on_checkpoint, seeds, devices
        )
    result.warnings.extend(
        f"the sandbox's device nodes, {top}, could not all be removed: remove them" for top in left
    )
    return result, sandbox


def _trace_in(
    bwrap: str,
    argv: list[str],
    sink: Callable[[FileEvent], None],
    options: TraceOptions,
    allowlist: Allowlist,
    keep: bool,
    on_process: ProcessSink | None,
    on_checkpoint: Callable[[], None] | None,
    seeds: list[str],
    devices: list[str],
) -> tuple[TraceResult, SandboxPlan]:
    command_path = shutil.which(argv[0]) if "/" not in argv[0] else argv[0]
    sandbox = plan(allowlist, keep, runtime_paths(command_path), seeds, code_paths(), devices)
    read_fd, write_fd = pipe()  # the events, from the tracer inside
    info_r, info_w = os.pipe()
    # the streams the command could open again for writing on the host (/dev/stdin): opened
    # again inside, read-only, by their names there
    readable = readable_outside(options.stdout_to_stderr, sandbox.writable if keep else [])
    reopened = ",".join(str(s.fd) for s in readable) or "-"
    # -P: the working directory (the project audited) is not put first on the module path, where
    # a `rotrace/sandbox/inner.py` of its own would run in the tracer's place, untraced
    given = inner_options(options, sandbox.writable, sandbox.seeds)
    inner = [sys.executable, "-P", "-m", "rotrace.sandbox.inner", str(write_fd), given, reopened]
    inner += ["--", *argv]
    cmd = [bwrap, *sandbox.args, "--info-fd", str(info_w), "--chdir", os.getcwd(), "--", *inner]
    defer_stops()  # a SIGTERM from here until the try below would leave bwrap running, unknown
    try:
        # Its own session, as the sandbox's process has (--new-session): a terminal's ^C reaches
        # rotrace, which relays it to the tracer inside, not bwrap, which it would kill (and
        # with it, --die-with-parent, the trace)
        dies = _dies_with(os.getpid())  # this process has one thread: a preexec_fn is safe here
        passed = (write_fd, info_w, *sandbox.fds)
        proc = subprocess.Popen(cmd, pass_fds=passed, start_new_session=True, preexec_fn=dies)  # noqa: PLW1509
    except OSError as exc:
        for fd in (read_fd, write_fd, info_r, info_w):
            os.close(fd)
        sandbox.close()
        sandbox.moved()
        stop_if_asked()
        raise SandboxError(f"cannot run {bwrap}: {exc.strerror}") from None
    os.close(write_fd)
    os.close(info_w)
    sandbox.close()  # bwrap has them
    inner_pid = 0
    outcome: Result | Error | None = None
    previous = signal.getsignal(signal.SIGUSR1)
    try:
        stop_if_asked()
        # The tracer inside, as this process's pid namespace numbers it (it is 1 in its own).
        inner_pid = _child_pid(info_r)
        ready: list[int] = []  # the tracer inside answers signals (a Ready message came)
        # Every signal goes to the tracer inside, which relays it on and escalates on the second.
        relay = SignalRelay(lambda: ready, set(), escalate=False)
        if inner_pid:
            signal.signal(signal.SIGUSR1, lambda _signum, _frame: _tell(inner_pid, signal.SIGUSR1))
        with relay:
            for message in receive(read_fd):
                if isinstance(message, Events):
                    for record in message.records:
                        sink(FileEvent(*record))
                elif isinstance(message, Processes):
                    for info in message.records:
                        if on_process is not None:
                            on_process(ProcessInfo(*info))
                elif isinstance(message, Result | Error):
                    outcome = message
                elif isinstance(message, Checkpoint) and on_checkpoint is not None:
                    on_checkpoint()
                elif isinstance(message, Ready) and inner_pid:
                    ready.append(inner_pid)
                    relay.flush()
        defer_stops()  # the command ran: what follows is the clean-up, and the report
        code = proc.wait()
    except BaseException:  # stopped (signals.stopping) while bwrap started, or a fault: nothing left
        defer_stops()
        if inner_pid:
            _tell(inner_pid, signal.SIGKILL)  # its namespace's PID 1: every process in it goes with it
        proc.kill()  # and --die-with-parent, the tracer inside dies with bwrap (inner.py)
        proc.wait()
        raise
    finally:
        signal.signal(signal.SIGUSR1, previous)
        os.close(read_fd)
        away = sandbox.moved()
    if outcome is None and ready:
        raise TraceFailed(
            f"the read-only sandbox's tracer ended before the command's result (bwrap exited {code}:"
            " killed?); the trace of what ran is incomplete and not written"
        )
    if outcome is None:
        raise SandboxError(
            f"the read-only sandbox could not start (bwrap exited {code}; see its message above)"
        )
    if isinstance(outcome, Error) and outcome.status > STOPPED:
        raise Stopped(outcome.status - STOPPED)
    if isinstance(outcome, Error):
        raise _ERRORS.get(outcome.status, TraceFailed)(outcome.message)
    result = outcome.result
    result.warnings.extend(sandbox.notes)
    if away:
        raise MovedAway(away)
    return result, sandbox
