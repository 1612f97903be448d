"""strace as the oracle: run a command under `strace -f`, parse what it saw into the same
(syscall, path, target, result) records rotrace produces, resolving paths independently: for
a successful open, the file behind the returned fd as strace -y prints it (the kernel's view)."""

from __future__ import annotations

import errno
import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from rotrace.events import FileEvent
from rotrace.tracer.linux.arch import current_machine
from rotrace.tracer.syscalls import EVENT_FAMILIES, SPECS

Key = tuple[str, bytes, bytes | None, int | None, str | None]  # syscall, path, target, result, open flags

_LINE = re.compile(rb"^(\d+) +(\w+)\((.*)\) += (-?\d+|\?)(?:<([^>]*)>)?(?: (E\w+) \(.*\))?\s*$")
_RESUMED = re.compile(rb"^(\d+) +<\.\.\. (\w+) resumed>(.*)$")
_UNFINISHED = b" <unfinished ...>"
_HEX = re.compile(rb"\\x([0-9a-f]{2})")
_WRITE_FLAGS = (b"O_WRONLY", b"O_RDWR", b"O_CREAT", b"O_TRUNC", b"O_APPEND", b"O_TMPFILE")


def strace_syscalls() -> list[str]:
    """rotrace's event syscalls in the native table that strace can name by path (the inode-flag
    ioctls, which strace would show among every other ioctl, bind, which strace shows for every
    socket family, open_by_handle_at, which has no path, and the message queues, named by no
    path of the filesystem, have tests of their own)."""
    table = current_machine().native
    named = EVENT_FAMILIES - {"ioctl", "bind", "handle", "mqueue"}
    return [n for n in table.numbers if n in SPECS and SPECS[n].family in named]


_FORKS = ("clone", "clone3", "fork", "vfork")


def keys_of(events: Iterable[FileEvent]) -> Counter[Key]:
    """rotrace's events as the oracle's keys (an open's fd number depends on thread timing:
    its success is compared, not the number)."""
    return Counter(
        (e.syscall, e.path, e.target, 0 if e.result is not None and e.result > 0 and
         e.syscall in ("open", "openat", "openat2", "creat") else e.result,
         e.flags if e.syscall in FLAGGED else None)
        for e in events
    )  # fmt: skip


def run_strace(argv: list[str], cwd: Path, out: Path, env: dict[str, str] | None = None) -> None:
    names = ",".join("?" + n for n in [*strace_syscalls(), "chdir", "fchdir", *_FORKS])
    subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "-xx",
            "-y",
            "-s",
            "4096",
            "-e",
            f"trace={names}",
            "-o",
            str(out),
            *argv,
        ],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )


def _unhex(token: bytes) -> bytes:
    return _HEX.sub(lambda m: bytes([int(m.group(1), 16)]), token)


def _split_args(text: bytes) -> list[bytes]:
    args, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        c = text[i : i + 1]
        if quoted:
            if c == b"\\":
                i += 1
            elif c == b'"':
                quoted = False
        elif c == b'"':
            quoted = True
        elif c in b"{[(<":
            depth += 1
        elif c in b"}])>":
            depth -= 1
        elif c == b"," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
        i += 1
    args.append(text[start:].strip())
    return args


def _fd_path(token: bytes) -> bytes:
    m = re.match(rb"^(?:AT_FDCWD|-?\d+)<(.*)>$", token)
    assert m, f"no path for fd token {token!r}; is strace run with -y?"
    return _unhex(m.group(1))


def _string(token: bytes) -> bytes | None:
    if token == b"NULL":
        return None
    assert token.startswith(b'"') and token.endswith(b'"'), token
    return _unhex(token[1:-1])


def _resolve(args: list[bytes], dirfd_idx: int | None, path_idx: int, cwd: bytes) -> bytes:
    raw = _string(args[path_idx])
    if raw is None or raw == b"":
        assert dirfd_idx is not None
        return os.path.normpath(_fd_path(args[dirfd_idx]))
    if raw.startswith(b"/"):
        return os.path.normpath(raw)
    base = _fd_path(args[dirfd_idx]) if dirfd_idx is not None else cwd
    return os.path.normpath(base + b"/" + raw)


FLAGGED = ("open", "openat")  # the calls whose flags argument strace prints as rotrace does


def _record(
    name: str, args: list[bytes], all_opens: bool, cwd: bytes
) -> tuple[bytes, bytes | None, str | None] | None:
    spec = SPECS[name]
    if spec.op == "access" and b"W_OK" not in args[spec.trap_arg or 0]:
        return None  # a check to read or run: rotrace records the checks to write alone
    if spec.family in ("open", "openat2"):
        flags = args[spec.flags] if spec.flags is not None else b"O_WRONLY|O_CREAT"
        if spec.family == "openat2":
            flags = args[2]
        if not all_opens and not any(f in flags for f in _WRITE_FLAGS):
            return None
        shown = flags.decode() if name in FLAGGED else None
        return _resolve(args, spec.dirfd, spec.path or 0, cwd), None, shown
    if spec.family == "link":
        old = _resolve(args, spec.dirfd, spec.path or 0, cwd)
        new = _resolve(args, spec.dirfd2, spec.path2 or 0, cwd)
        return (old, new, None) if spec.op == "rename" else (new, old, None)
    if spec.family == "symlink":
        return _resolve(args, spec.dirfd2, spec.path2 or 0, cwd), _string(args[spec.path or 0]), None
    if spec.fd is not None:
        return os.path.normpath(_fd_path(args[spec.fd])), None, None
    return _resolve(args, spec.dirfd, spec.path or 0, cwd), None, None


def parse(out: Path, cwd: Path, all_opens: bool = False) -> Counter[Key]:
    """The multiset of (syscall, path, target, result) that strace recorded.

    A relative path in a non-*at call resolves against the process's cwd: the run's cwd,
    updated by each successful chdir and by every AT_FDCWD<cwd> strace -y prints, and
    handed from a parent to the child it forks.
    """
    cwds: dict[bytes, bytes] = {}
    pending: dict[bytes, bytes] = {}
    seen: Counter[Key] = Counter()
    for raw_line in out.read_bytes().splitlines():
        line = raw_line
        if line.endswith(_UNFINISHED):
            pid = line.split(maxsplit=1)[0]
            pending[pid] = line[: -len(_UNFINISHED)]
            continue
        resumed = _RESUMED.match(line)
        if resumed:
            line = pending.pop(resumed.group(1)) + resumed.group(3)
        m = _LINE.match(line)
        if not m:
            continue
        pid, name, args = m.group(1), m.group(2).decode(), _split_args(m.group(3))
        here = cwds.get(pid, os.fsencode(cwd))
        for arg in args:
            if arg.startswith(b"AT_FDCWD<"):
                here = cwds[pid] = _fd_path(arg)
        if name in ("chdir", "fchdir"):
            if m.group(4) == b"0":
                cwds[pid] = _resolve(args, None, 0, here) if name == "chdir" else _fd_path(args[0])
            continue
        if name in _FORKS:  # a child starts in its parent's cwd
            if m.group(4).isdigit() and m.group(4) != b"0":
                cwds[m.group(4)] = here
            continue
        if name not in SPECS:
            continue
        rec = _record(name, args, all_opens, here)
        if rec is None:
            continue
        ret, opened, err = m.group(4), m.group(5), m.group(6)
        result = None if ret == b"?" else (-getattr(errno, err.decode()) if err else int(ret))
        path = rec[0]
        if result is not None and result >= 0 and SPECS[name].family in ("open", "openat2"):
            result = 0  # fd numbers depend on thread timing; compare success only
            if opened is not None and not opened.endswith(b" (deleted)"):
                path = _unhex(opened)  # where it landed: the file behind the fd (strace -y)
        seen[(name, path, rec[1], result, rec[2])] += 1
    return seen
