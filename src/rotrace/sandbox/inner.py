"""The tracer's side of a --read-only run: runs inside bubblewrap, sends events out.

Not a user command: `rotrace run --read-only` starts it as `python -m rotrace.sandbox.inner FD
OPTIONS REOPEN -- COMMAND...` (OPTIONS: the run's TraceOptions, those of INNER_OPTIONS, by name,
marshalled for the same Python, in hex; REOPEN: the standard streams to open again read-only, `0,2`, or `-`).
It is PID 1 of the sandbox's pid namespace: the command's orphans are its children (and traced).
"""

from __future__ import annotations

import contextlib
import fcntl
import marshal
import os
import signal
import stat
import sys

from rotrace.errors import RotraceError, SandboxError, Stopped
from rotrace.escape import safe_text
from rotrace.mountinfo import writable_directories
from rotrace.sandbox import seed
from rotrace.tracer import TraceOptions, signals, trace_command
from rotrace.tracer.channel import Batcher, Error, Message, Ready, Result, send
from rotrace.tracer.linux import hardening
from rotrace.tracer.signals import hold

STOPPED = 128  # an Error's status past it: stopped by the signal (status - STOPPED) before the command ran

# What of the run's TraceOptions the tracer inside is given (the rest: Landlock's rules, which
# the sandbox's mounts stand for, and `confined`, which it is)
INNER_OPTIONS = ("seccomp", "all_opens", "stdout_to_stderr", "grace", "container_init", "host_files")


def inner_options(
    options: TraceOptions, writable: list[str] | None = None, seeds: dict[str, int] | None = None
) -> str:
    """The options, the directories the sandbox mounts writable (`writable`: every other
    writable mount found inside stops the run before the command starts, `_strays`), and the
    persistent places whose tmpfs starts with what they hold (`seeds`: place -> an fd of it,
    passed through bwrap, `_seed`)."""
    given: dict[str, object] = {name: getattr(options, name) for name in INNER_OPTIONS}
    given["writable"] = list(writable or [])
    given["seeds"] = dict(seeds or {})
    return marshal.dumps(given).hex()


# The devices the sandbox's /dev holds (bwrap's `--dev` binds them from the host's /dev, or
# rotrace's own copies as root: bwrap.DEVICE_NODES): what each must be, by its numbers (major,
# minor), before the command may open it
DEVICES = {
    "null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0),
}  # fmt: skip


def _false_devices() -> list[str]:
    """The sandbox's /dev nodes that are not the devices of their names: a copy bound by its
    name, swapped meanwhile for a host file (or another device) by a process outside the run,
    would take the command's `> /dev/null` there."""
    wrong = []
    for name, numbers in DEVICES.items():
        try:
            found = os.lstat(f"/dev/{name}")
        except FileNotFoundError:  # (no tty in a container without one: bwrap binds none either)
            continue
        if not stat.S_ISCHR(found.st_mode) or (os.major(found.st_rdev), os.minor(found.st_rdev)) != numbers:
            wrong.append(f"/dev/{name}")
    return wrong


def _strays(writable: list[str]) -> list[str]:
    """The directories mounted writable in the sandbox that the plan did not mount there: bwrap
    mounts each at its name, which a process outside the run may have swapped for a symbolic
    link while the sandbox was set up (the mount then lands where the link leads)."""
    planned = {os.fsencode(path) for path in writable}
    return [os.fsdecode(point) for point in writable_directories() if point not in planned]


def _seed(seeds: dict[str, int]) -> None:
    """Each persistent place's tmpfs filled with what the place holds on the host, from the fd
    rotrace opened of it (sandbox/seed.py), before the command starts; every fd closed, so that
    the command never holds one of the host's directory. The copy is the sandbox's own: it goes
    with the sandbox."""
    try:
        for path, fd in seeds.items():
            os.set_inheritable(fd, False)
            target = seed.own_tmpfs(path)
            try:
                seed.copy_tree(fd, target, stop=signals.held)
            except OSError as exc:
                raise SandboxError(
                    f"--read-only: cannot copy {safe_text(path)} to start the sandbox's mount with it:"
                    f" {exc.strerror or exc}"
                ) from None
            finally:
                os.close(target)
    finally:
        for fd in seeds.values():
            with contextlib.suppress(OSError):
                os.close(fd)


def main(argv: list[str]) -> int:
    hardening.die_with_parent()  # bwrap's --die-with-parent may not reach its pid namespace's PID 1
    hold()  # a signal rotrace passes on before the command runs is answered once it does
    fd = int(argv[0])
    try:
        send(fd, Ready())  # rotrace passes on what it held until now
    except OSError:  # rotrace is gone (killed as it started): nothing to trace for
        return 1
    given = marshal.loads(bytes.fromhex(argv[1]))
    reopen = [int(n) for n in argv[2].split(",")] if argv[2] != "-" else []
    command = argv[argv.index("--") + 1 :]
    # The pipe out of the sandbox, out of the command's reach: not handed on by exec (it came
    # inheritable, through bwrap), nor through /proc or ptrace of this process.
    os.set_inheritable(fd, False)
    hardening.undumpable()
    # As root bwrap kept Docker's capabilities and CAP_SYS_PTRACE, which the tracer needs for a
    # process that changes its uid (gosu, su): the command gets Docker's only, and no more by exec.
    bounded = hardening.confine_exec(1 << hardening.CAP_SYS_PTRACE)

    def out(message: Message) -> None:
        send(fd, message)

    batcher = Batcher(out)
    # SIGUSR1 from rotrace's tracer outside: every event so far, then a Checkpoint message
    signal.signal(signal.SIGUSR1, lambda _signum, _frame: batcher.checkpoint())
    try:
        for stream in reopen:
            try:
                _read_only_here(stream)
            except OSError as exc:  # the stream could not be read or given again: not handed on as it is
                raise SandboxError(
                    f"--read-only: the command's {_STREAMS[stream]} could not be given to it read-only"
                    f" ({exc.strerror or exc}); give it through a pipe (cat FILE | rotrace run ...)"
                ) from None
        false = _false_devices()
        if false:
            raise SandboxError(
                f"--read-only: {', '.join(false)} in the sandbox is not the device of its name (it changed"
                " while the sandbox was set up?): nothing ran"
            )
        strays = _strays(given.get("writable", []))
        if strays:
            raise SandboxError(
                f"--read-only: {', '.join(map(safe_text, strays))} is mounted writable in the sandbox, which"
                " the allowlist does not name (a directory on its way changed while the sandbox was set up?):"
                " nothing ran"
            )
        _seed(given.get("seeds", {}))
        options = TraceOptions(**{name: given[name] for name in INNER_OPTIONS}, confined=True)
        result = trace_command(command, batcher.add, options, on_process=batcher.add_process)
    except RotraceError as exc:
        with contextlib.suppress(BrokenPipeError):  # rotrace outside is gone: no one to tell
            batcher.flush()
            out(Error(exc.exit_status, str(exc)))
        return exc.exit_status
    except Stopped as stopped:  # a signal rotrace passed on while the sandbox was made: nothing ran
        with contextlib.suppress(BrokenPipeError):
            out(Error(STOPPED + stopped.signum, "stopped"))
        return STOPPED + stopped.signum
    if not bounded:
        result.warnings.append(
            "the sandbox could not limit the capabilities the command's programs may get (no CAP_SETPCAP):"
            " a setuid or file-capability program may hold more than Docker's default capabilities"
        )
    try:
        batcher.flush()
        out(Result(result))
    except BrokenPipeError:  # rotrace outside is gone (killed): no one to tell
        return 1
    return 0


_STREAMS = ("stdin", "stdout", "stderr")


# The most of a file given as a standard stream that the sandbox copies for the command (the
# copy is memory); a larger one the sandbox cannot show read-only is refused.
COPIED_STREAM_LIMIT = 256 * 1024 * 1024


def _read_only_here(fd: int) -> None:
    """Give standard stream `fd` (open for reading on a host file outside the sandbox's
    read-only root, or in a place the sandbox covers) to the command so that opening it again
    for writing (through /dev/stdin, a magic link to the open file on its mount) cannot reach the
    host: opened again by its name on the read-only root, where that is the same file (then
    EROFS); else a regular file is copied into a sealed memfd (then EPERM), as a container's
    stdin is a stream of the file, never the file. SandboxError for the rest (a directory or a
    device the sandbox does not show, a file past COPIED_STREAM_LIMIT)."""
    name = os.readlink(f"/proc/self/fd/{fd}")
    held = os.fstat(fd)
    how = os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC | (os.O_DIRECTORY if stat.S_ISDIR(held.st_mode) else 0)
    try:
        here = os.open(name, how | os.O_NONBLOCK)
    except OSError:
        here = -1
    try:
        same = here >= 0 and (os.fstat(here).st_dev, os.fstat(here).st_ino) == (held.st_dev, held.st_ino)
        if same and os.fstatvfs(here).f_flag & os.ST_RDONLY:
            os.set_blocking(here, True)
        else:
            copied = _sealed_copy(fd) if stat.S_ISREG(held.st_mode) else -1
            if here >= 0:
                os.close(here)
            here = copied
        if here < 0:
            raise SandboxError(
                f"--read-only: the command's {_STREAMS[fd]} is {safe_text(name)}, which the read-only root"
                " cannot hold read-only: the command could open it again for writing through"
                f" /dev/{_STREAMS[fd]}; give it through a pipe (cat FILE | rotrace run ...)"
            )
        if not stat.S_ISDIR(held.st_mode):
            with contextlib.suppress(OSError):  # a device may not seek
                os.lseek(here, os.lseek(fd, 0, os.SEEK_CUR), os.SEEK_SET)
        os.dup2(here, fd, inheritable=True)
    finally:
        if here >= 0:
            os.close(here)


def _sealed_copy(fd: int) -> int:
    """A read-only fd of a memfd holding what the file of `fd` holds (read to its end: a /proc
    file says it has none), sealed against any change (a write through any other fd of it fails
    with EPERM); -1 past COPIED_STREAM_LIMIT."""
    memfd = os.memfd_create("rotrace-stream", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        done = 0
        while chunk := os.pread(fd, 1 << 20, done):
            done += len(chunk)
            if done > COPIED_STREAM_LIMIT:
                return -1
            os.write(memfd, chunk)
        seals = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL
        fcntl.fcntl(memfd, fcntl.F_ADD_SEALS, seals)
        return os.open(f"/proc/self/fd/{memfd}", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(memfd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
