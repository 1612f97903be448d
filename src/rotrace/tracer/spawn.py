"""Starting the command as a tracee: fork, load the seccomp filter, stop, be seized, exec.

The child loads the filter *before* stopping so that its only syscalls between the filter and
exec (kill, execve) are not trapped; a trapped call with no tracer attached would fail with
ENOSYS. The parent then seizes the stopped child (PTRACE_SEIZE gives proper group-stops) with
PTRACE_O_EXITKILL, so killing rotrace kills the whole traced tree, never leaving it stopped.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat

from rotrace.errors import CommandNotExecutable, CommandNotFound, TraceFailed
from rotrace.tracer import seccomp
from rotrace.tracer.linux import hardening, kernel, landlock, procfs

# Signals whose disposition rotrace changes for itself and must give back to the command.
_RESET_SIGNALS = (
    signal.SIGPIPE,
    signal.SIGXFSZ,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGUSR1,  # a checkpoint (run/launch.py): never the tracer's handler in the command
)
_STATUS_LEN = 8
_SHELL = "/bin/sh"  # glibc's _PATH_BSHELL, for an executable without a #! line


def shown_command(command: str) -> str:
    """The command as a trace records it, a secret masked (the masking's module loaded only for
    this: the tracer starts the command without it)."""
    from rotrace.redact import redact_argv

    return redact_argv([command])[0]


def find_executable(command: str, env: dict[str, str]) -> str:
    """The path execve will run, with the exit statuses a shell gives: 127 for a command that is
    not there (ENOENT), 126 for one that is but cannot run (EACCES, ELOOP, ENOTDIR, a directory).
    The command is said as a trace records it, a secret masked: `DB_PASSWORD=x python app.py`
    given as the command (a variable's setting, which a shell reads before the command) is no
    program, and its value is no one's to see."""
    if "/" in command:
        path = command
    else:
        found = shutil.which(command, path=env.get("PATH", os.defpath))
        if found is None:
            if shutil.which(command, mode=os.F_OK, path=env.get("PATH", os.defpath)):
                raise CommandNotExecutable(f"command is not executable: {shown_command(command)}")
            setting = "=" in command and command.split("=", 1)[0].isidentifier()
            hint = " (a variable's setting: rotrace run -- env NAME=VALUE COMMAND)" if setting else ""
            raise CommandNotFound(f"command not found: {shown_command(command)}{hint}")
        path = found
    try:
        st = os.stat(path)
    except OSError as exc:
        reason = f"{shown_command(command)} ({exc.strerror})"
        if exc.errno == errno.ENOENT:
            raise CommandNotFound(f"command not found: {reason}") from None
        raise CommandNotExecutable(f"command is not executable: {reason}") from None
    if stat.S_ISDIR(st.st_mode):
        raise CommandNotExecutable(f"command is not executable: {shown_command(command)} (Is a directory)")
    if not os.access(path, os.X_OK):
        raise CommandNotExecutable(f"command is not executable: {shown_command(command)} (Permission denied)")
    return path


class Child:
    """The command's process as forked, and what its set-up reported."""

    __slots__ = ("pid", "seccomp", "seccomp_error", "status_fd")

    def __init__(self, pid: int, seccomp: bool, seccomp_error: int, status_fd: int) -> None:
        self.pid = pid
        self.seccomp = seccomp
        self.seccomp_error = seccomp_error
        self.status_fd = status_fd

    def exec_error(self) -> int | None:
        """The errno of a failed execve, read once the child is gone (None if it exec'd)."""
        data = b""
        while chunk := os.read(self.status_fd, 64):
            data += chunk
        os.close(self.status_fd)
        if data.startswith(b"E"):
            return int(data[1:] or b"0")
        return None


def _child(path: str, argv: list[str], env: dict[str, str], program: bytes | None,
           keep_ignored: set[int], stdout_to_stderr: bool, status_w: int,
           landlock_fd: int | None, host_files: bool) -> None:  # fmt: skip
    if stdout_to_stderr:
        os.dup2(2, 1)
    if host_files:
        hardening.withhold(hardening.HOST_FILE_CAPABILITIES)
    for sig in _RESET_SIGNALS:
        signal.signal(sig, signal.SIG_IGN if sig in keep_ignored else signal.SIG_DFL)
    # rotrace's tracer is not dumpable (tracer/linux/hardening.py): this child is, to be seized, with
    # nothing of the tracer's left open in it
    hardening.close_on_exec_fds((status_w, -1 if landlock_fd is None else landlock_fd))
    hardening.dumpable()
    status = b"N"
    if program is not None:
        err = seccomp.install(program)
        status = b"S" if err == 0 else b"F%d" % err
    if landlock_fd is not None:
        seccomp.no_new_privs()  # Landlock needs it too (seccomp set it already, if it loaded)
        err = landlock.restrict_self(landlock_fd)
        if err:
            os.write(status_w, (b"L%d" % err).ljust(_STATUS_LEN))
            os._exit(126)
        os.close(landlock_fd)
    os.write(status_w, status.ljust(_STATUS_LEN))
    os.kill(os.getpid(), signal.SIGSTOP)
    hardening.die_with_parent(False)  # seized: the command runs as it would, EXITKILL holds it
    try:
        try:
            os.execve(path, argv, env)
        except OSError as exc:
            if exc.errno != errno.ENOEXEC or _looks_binary(path):
                raise
            # no #! line, not a binary: run it with the shell, as execvp and a shell do
            os.execve(_SHELL, [_SHELL, path, *argv[1:]], env)
    except OSError as exc:
        os.write(status_w, b"E%d" % (exc.errno or errno.ENOEXEC))


def _looks_binary(path: str) -> bool:
    """bash's test before it runs a file execve refused as a script: an ELF header, or a NUL
    byte in its first line (its first two after a #! line), within the first 80 bytes."""
    try:
        with open(path, "rb") as f:
            sample = f.read(80)
    except OSError:
        return False  # the shell will say why it cannot read it
    if sample.startswith(b"\x7fELF"):
        return True
    lines = 2 if sample.startswith(b"#!") else 1
    return b"\0" in b"\n".join(sample.split(b"\n")[:lines])


def spawn(path: str, argv: list[str], env: dict[str, str], program: bytes | None,
          keep_ignored: set[int], stdout_to_stderr: bool = False,
          landlock_fd: int | None = None, host_files: bool = False) -> Child:  # fmt: skip
    # Until the child is seized (then PTRACE_O_EXITKILL takes it along with rotrace) a signal
    # that ends rotrace would leave it stopped, for ever: they wait, blocked, until then.
    before = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        return _spawn(
            path, argv, env, program, keep_ignored, stdout_to_stderr, landlock_fd, host_files, before
        )
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


_HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def _spawn(path: str, argv: list[str], env: dict[str, str], program: bytes | None,
           keep_ignored: set[int], stdout_to_stderr: bool, landlock_fd: int | None,
           host_files: bool, mask: set[int | signal.Signals]) -> Child:  # fmt: skip
    status_r, status_w = os.pipe()
    tracer = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which never returns
        try:
            # until it is seized (then PTRACE_O_EXITKILL takes it along), the child dies with
            # the tracer, whatever ends it (SIGKILL, which no mask holds): never left stopped
            # for ever, nor let run untraced by the SIGCONT an orphaned process group gets
            hardening.die_with_parent()
            if os.getppid() != tracer:
                os._exit(127)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(status_r)
            _child(
                path, argv, env, program, keep_ignored, stdout_to_stderr, status_w, landlock_fd, host_files
            )
        finally:
            os._exit(127)
    os.close(status_w)
    status = b""
    while len(status) < _STATUS_LEN:
        chunk = os.read(status_r, _STATUS_LEN - len(status))
        if not chunk:
            break
        status += chunk
    _, wstatus = os.waitpid(pid, os.WUNTRACED)
    if status.startswith(b"L"):
        os.close(status_r)
        err = int(status[1:].strip() or b"0")
        raise TraceFailed(f"Landlock refused to restrict the command: {os.strerror(err)}")
    if not os.WIFSTOPPED(wstatus):
        os.close(status_r)
        raise TraceFailed("the command's process ended before it could be traced")
    use_seccomp = status.startswith(b"S")
    seccomp_error = int(status[1:].strip() or b"0") if status.startswith(b"F") else 0
    options = (
        kernel.FOLLOW_OPTIONS
        | kernel.PTRACE_O_EXITKILL
        | (kernel.PTRACE_O_TRACESECCOMP if use_seccomp else 0)
    )
    try:
        kernel.seize(pid, options)
    except kernel.PtraceError as exc:
        refused = ptrace_refused(exc.errno, pid)  # while the child is there to ask who holds it
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(status_r)
        raise refused from None
    os.kill(pid, signal.SIGCONT)
    return Child(pid, use_seccomp, seccomp_error, status_r)


def _tracer_of(pid: int) -> int:
    return procfs.status_int(pid, b"TracerPid", 0)


def _name_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def ptrace_refused(err: int | None, child: int | None = None, attaching: bool = False) -> TraceFailed:
    """Why ptrace was refused, told apart: another tracer already holds the process (rotrace
    runs under strace or gdb), or a policy forbids it (container seccomp, Yama)."""
    name = errno.errorcode.get(err or 0, str(err))
    holder = _tracer_of(child) if child is not None else 0
    if holder and holder != os.getpid() and attaching:
        return TraceFailed(
            f"ptrace refused ({name}): pid {child} is already traced by {_name_of(holder)} (pid {holder}):"
            " a process has one tracer; detach that one first"
        )
    if holder and holder != os.getpid():
        return TraceFailed(
            f"ptrace refused ({name}): the command is already traced by {_name_of(holder)} (pid {holder}),"
            " which traces rotrace too: a process has one tracer; run rotrace outside strace or gdb"
        )
    scope = _yama_scope()
    if attaching and err == errno.EPERM and scope == 1:
        return TraceFailed(
            f"ptrace refused ({name}): kernel.yama.ptrace_scope is 1, so a process may trace only its own"
            " descendants: run rotrace as root (or with CAP_SYS_PTRACE), or start the service under"
            " `rotrace run -- ...`"
        )
    if attaching and err == errno.EPERM:
        return TraceFailed(
            f"ptrace refused ({name}): pid {child} is another user's, or ptrace is not allowed here"
        )
    hint = (
        "in Docker run with --cap-add SYS_PTRACE (or a seccomp profile that allows ptrace);"
        " in Kubernetes add SYS_PTRACE to securityContext.capabilities.add"
    )
    if scope is not None and scope >= 3:
        hint = "kernel.yama.ptrace_scope is 3, which forbids ptrace until reboot; " + hint
    elif scope is not None and scope >= 2:
        hint = "kernel.yama.ptrace_scope is 2 (admin-only): set it to 1 or run with CAP_SYS_PTRACE; " + hint
    return TraceFailed(f"ptrace refused ({name}): {hint}")


def _yama_scope() -> int | None:
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None
