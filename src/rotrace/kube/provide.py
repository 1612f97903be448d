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
        for entry in os.scandir(source):
            target = os.path.join(destination, entry.name)
            if entry.is_dir(follow_symlinks=False):
                shutil.copytree(entry.path, target, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(entry.path, target, follow_symlinks=False)
    except (OSError, shutil.Error) as exc:
        raise BadInput(f"kube provide: {safe_text(str(exc))}") from None
