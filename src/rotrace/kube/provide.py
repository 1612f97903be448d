"""`rotrace kube provide DIR`: the init container's one job, copying the standalone rotrace (the
directory its executable is in) into the Pod's volume. No shell and no `cp` needed: the provider
image holds nothing else."""

from __future__ import annotations

import os
import shutil
import sys

from rotrace.errors import BadInput
from rotrace.escape import safe_text


def provide(destination: str) -> None:
    if not getattr(sys, "frozen", False):
        raise BadInput("kube provide copies the standalone rotrace (scripts/build-standalone), not this one")
    source = os.path.dirname(os.path.realpath(sys.executable))
    try:  # into the volume, whose own owner and mode are the runtime's: entry by entry
        _copy(source, destination)
    except OSError as exc:
        raise BadInput(f"kube provide: {safe_text(str(exc))}") from None


def _copy(source: str, destination: str) -> None:
    """`source`'s tree into `destination`, leaving what is there already the same (its size and
    modification time, which the copy keeps; a symlink's text): a volume that another Pod's
    provider filled (a runtime that shares an emptyDir between Pods, as podman 4.3's `kube play`
    does with Pods played at once) holds a copy this user may not write over, and needs none."""
    for entry in os.scandir(source):
        target = os.path.join(destination, entry.name)
        if entry.is_dir(follow_symlinks=False):
            os.makedirs(target, exist_ok=True)
            _copy(entry.path, target)
        elif entry.is_symlink():
            link = os.readlink(entry.path)
            if not (os.path.islink(target) and os.readlink(target) == link):
                os.symlink(link, target)
        elif not _same(entry.stat(follow_symlinks=False), target):
            shutil.copy2(entry.path, target, follow_symlinks=False)


def _same(st: os.stat_result, target: str) -> bool:
    try:
        there = os.lstat(target)
    except FileNotFoundError:
        return False
    return there.st_size == st.st_size and there.st_mtime_ns == st.st_mtime_ns
