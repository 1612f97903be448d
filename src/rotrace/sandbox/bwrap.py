"""Run the tracer inside bubblewrap: a read-only root, /dev and /proc, a tmpfs on /tmp, and
every allowed directory writable (a tmpfs, or a bind mount that keeps what is written).

rotrace's own runtime (its Python, its packages) and the working directory stay visible even
when they live under a directory the sandbox covers with a tmpfs (a CI clone under /tmp).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from rotrace.errors import (
    CommandNotExecutable,
    CommandNotFound,
    RotraceError,
    SandboxError,
    TraceFailed,
)
from rotrace.events import FileEvent, ProcessInfo
from rotrace.pathnames import is_under
from rotrace.policy.allowlist import Allowlist
from rotrace.tracer import ProcessSink, TraceOptions, TraceResult
from rotrace.tracer.channel import Error, Events, Processes, Result, SandboxPid, receive
from rotrace.tracer.signals import SignalRelay

INSTALL_HINT = (
    "bubblewrap (bwrap) is needed for --read-only: apt-get install bubblewrap (Debian, Ubuntu),"
    " dnf install bubblewrap (Fedora), apk add bubblewrap (Alpine)"
)
# Provided by bwrap's own /dev and /proc: never mounted over.
_PROVIDED = ("/dev", "/proc")
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


def _nearest_existing(path: str) -> str:
    while not os.path.isdir(path):
        path = os.path.dirname(path)
    return path


def _shadow(parent: str) -> list[str]:
    """A tmpfs over `parent` holding what it held, read-only: room for new mount points.

    A container runtime creates a missing mount point in the image; bwrap cannot create one in
    a read-only bind of the host. So `parent` becomes a tmpfs in which each entry it has on
    the host is bound again (read-only), and is made read-only itself once the new mount
    points exist (`--remount-ro`, queued by the caller). Nothing is created on the host.
    """
    args = ["--tmpfs", parent]
    for entry in sorted(os.scandir(parent), key=lambda e: e.name):
        path = os.path.join(parent, entry.name)
        if entry.is_symlink():
            args += ["--symlink", os.readlink(path), path]
        else:
            args += ["--ro-bind", path, path]
    return args


def plan(allowlist: Allowlist, keep: bool, visible: list[str]) -> SandboxPlan:
    args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--die-with-parent"]
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
        elif os.path.isdir(path):
            mounts.append(path)
        elif os.path.lexists(path):
            result.notes.append(f"{path} is not a directory: it stays read-only in the sandbox")
        elif keep:
            result.notes.append(f"{path} does not exist: --keep-writes cannot bind it; it stays read-only")
        else:
            missing.append(path)
    shadows: dict[str, list[str]] = {}  # an existing parent -> the missing mount points below it
    for path in sorted(set(missing)):
        if any(is_under(path, m) for m in mounts):
            continue  # inside a writable mount: the command creates it itself
        parent = _nearest_existing(os.path.dirname(path))
        if parent == "/" or any(is_under(parent, p) for p in _PROVIDED):
            result.notes.append(f"{path} does not exist and cannot be created in the sandbox's root")
            continue
        shadows.setdefault(parent, []).append(path)
    remount = []
    for path in sorted({*mounts, *shadows}, key=len):
        if path in shadows:
            args += _shadow(path)
            remount.append(path)
            for point in shadows[path]:
                args += ["--dir", point, "--tmpfs", point]
                result.writable.append(point)
        if path in mounts:
            args += ["--bind", path, path] if keep else ["--tmpfs", path]
            result.writable.append(path)
    for path in remount:
        args += ["--remount-ro", path]
    if not keep:
        cwd = os.getcwd()
        for path in visible:
            if path == cwd and cwd in result.writable:
                result.notes.append(
                    f"{cwd} (the working directory) is an empty tmpfs in the sandbox, as `--tmpfs` makes"
                    " it; --keep-writes bind-mounts it instead"
                )
            elif any(is_under(path, m) for m in result.writable):
                args += ["--ro-bind", path, path]  # hidden by a tmpfs: show it again, read-only
    return result


def find_bwrap() -> str:
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxError(INSTALL_HINT)
    return found


def trace_in_sandbox(
    argv: list[str],
    sink: Callable[[FileEvent], None],
    options: TraceOptions,
    allowlist: Allowlist,
    keep: bool,
    on_process: ProcessSink | None = None,
) -> tuple[TraceResult, SandboxPlan]:
    """Like trace_command, with the tracer (and so the command) inside bubblewrap."""
    bwrap = find_bwrap()
    command_path = shutil.which(argv[0]) if "/" not in argv[0] else argv[0]
    sandbox = plan(allowlist, keep, runtime_paths(command_path))
    read_fd, write_fd = os.pipe()
    flags = [str(int(f)) for f in (options.seccomp, options.all_opens, options.stdout_to_stderr)]
    flags.append(repr(options.grace))
    inner = [sys.executable, "-m", "rotrace.sandbox.inner", str(write_fd), *flags, "--", *argv]
    cmd = [bwrap, *sandbox.args, "--chdir", os.getcwd(), "--", *inner]
    try:
        proc = subprocess.Popen(cmd, pass_fds=(write_fd,))
    except OSError as exc:
        os.close(read_fd)
        os.close(write_fd)
        raise SandboxError(f"cannot run {bwrap}: {exc.strerror}") from None
    os.close(write_fd)
    inner_pid = 0
    outcome: Result | Error | None = None

    # Every signal goes to the tracer inside, which relays it on and escalates on the second.
    relay = SignalRelay(lambda: [inner_pid] if inner_pid else [], set(), escalate=False)
    try:
        with relay:
            for message in receive(read_fd):
                if isinstance(message, Events):
                    for record in message.records:
                        sink(FileEvent(*record))
                elif isinstance(message, Processes):
                    for info in message.records:
                        if on_process is not None:
                            on_process(ProcessInfo(*info))
                elif isinstance(message, SandboxPid):
                    inner_pid = message.pid
                elif isinstance(message, Result | Error):
                    outcome = message
    finally:
        os.close(read_fd)
    code = proc.wait()
    if outcome is None:
        raise SandboxError(
            f"the read-only sandbox could not start (bwrap exited {code}; see its message above)"
        )
    if isinstance(outcome, Error):
        raise _ERRORS.get(outcome.status, TraceFailed)(outcome.message)
    result = outcome.result
    result.warnings.extend(sandbox.notes)
    return result, sandbox
