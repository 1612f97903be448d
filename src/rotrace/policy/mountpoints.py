"""Writable directories over a read-only bind of the host, as bubblewrap arguments, for mount
points that exist and for those that do not yet (a `__pycache__`, `staticfiles/`, `instance/`
the command creates). Shared by `run --read-only` (sandbox/bwrap.py) and the bwrap export.

A container runtime creates a missing mount point in the image; bwrap cannot create one in a
read-only bind of the host (`Can't mkdir ...: Read-only file system`). So the nearest existing
parent becomes a tmpfs in which each entry it has on the host is bound again (read-only), the
new mount points are made in it, and it is made read-only again (`--remount-ro`). Nothing is
created on the host. What exists is decided when the arguments are made; the caller names the
mount points to make (the bwrap export: those the traced command made, even if they are there).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from rotrace.pathnames import is_under

# Provided by bwrap's own /dev and /proc: never mounted over.
PROVIDED = ("/dev", "/proc")
# Directories an empty mount must never cover: it would hide what the image holds there.
SYSTEM_DIRS = frozenset(
    {"/", "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/boot", "/var", "/opt", "/home",
     "/root", "/srv", "/mnt", "/media"}
)  # fmt: skip
# Scratch places: a container makes them tmpfs, and nobody expects them to survive a restart.
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm", "/run")


def scratch_of(path: str) -> str | None:
    """The scratch place `path` is in (or is), if any."""
    return next((s for s in SCRATCH if is_under(path, s)), None)


@dataclass
class Layout:
    """The arguments (after `--ro-bind / /`), the directories they make writable, and notes."""

    args: list[str] = field(default_factory=list)
    writable: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def nearest_existing(path: str) -> str:
    """The path, or the nearest of its parents that is a directory (/ at the last: a relative
    path, which a plan never holds, would otherwise be climbed for ever)."""
    while not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent == path or not parent:
            return "/"
        path = parent
    return path


def shadow(parent: str, points: Iterable[str] = ()) -> list[str]:
    """A tmpfs over `parent` holding what it held, each entry bound again read-only (a symbolic
    link made again), but for the new mount points `points` (made by the caller, whether or not
    they are there now): room for them. The caller queues `--remount-ro parent`. An entry is
    bound with `--ro-bind-try`: gone when the arguments run (the bwrap export on a fresh checkout
    has no trace file, a pid file was removed), it is simply not shown, as it is not there."""
    args = ["--tmpfs", parent]
    made = set(points)
    for entry in sorted(os.scandir(parent), key=lambda e: e.name):
        path = os.path.join(parent, entry.name)
        if path in made:
            continue
        if entry.is_symlink():
            args += ["--symlink", os.readlink(path), path]
        else:
            args += ["--ro-bind-try", path, path]
    return args


def _any_arg(_arg: str) -> bool:
    return True


def layout(
    existing: list[str],
    missing: list[str],
    mount: Callable[[str], list[str]],
    fits: Callable[[str], bool] = _any_arg,
    shown: Collection[str] = (),
) -> Layout:
    """`mount(path)` (a `--tmpfs`, a `--bind`) for each directory: at once for those that
    exist, in a shadow of their nearest existing parent for those that do not (one inside
    another writable directory needs nothing: the command creates it). A shadow holds an
    argument per entry of the parent, whatever its name: where an argument must `fits` (one
    per line: plain text), a parent with an entry that does not is not shadowed (a note).
    `shown`: directories a mount above them hides, bound again read-only from the host, each
    after the mounts above it and before those below it (a writable directory inside the
    working directory, both in /tmp, stays writable)."""
    result = Layout()
    shadows: dict[str, list[str]] = {}  # an existing parent -> the missing mount points below it
    for path in sorted(set(missing)):
        above = [m for m in existing if is_under(path, m)]
        hidden = [s for s in shown if is_under(path, s)]  # shown again read-only, deeper: no room
        if above and not (hidden and max(map(len, hidden)) > max(map(len, above))):
            continue
        parent = nearest_existing(os.path.dirname(path))
        if parent == "/" or any(is_under(parent, p) for p in PROVIDED):
            result.notes.append(f"{path} does not exist and cannot be created in the sandbox's root")
            continue
        shadows.setdefault(parent, []).append(path)
    shadowed = {parent: shadow(parent, points) for parent, points in shadows.items()}
    for parent, args in list(shadowed.items()):
        unfit = [a for a in args if not fits(a)]
        if unfit:
            del shadowed[parent]
            result.notes += [
                f"{point} does not exist, and {parent}, where it would be made, holds {unfit[0]}, which no"
                " line of arguments can hold (a tmpfs making room would hide it): left out; rename it"
                for point in shadows.pop(parent)
            ]
    remount = []
    for path in sorted({*existing, *shadows, *shown}, key=len):
        if path in shadows:
            result.args += shadowed[path]
            remount.append(path)
            for point in shadows[path]:
                result.args += ["--dir", point, *mount(point)]
                result.writable.append(point)
        if path in existing:
            result.args += mount(path)
            result.writable.append(path)
        if path in shown and path not in shadows:  # (a shadow shows what it held, read-only)
            result.args += ["--ro-bind", path, path]
    for path in remount:
        result.args += ["--remount-ro", path]
    return result
