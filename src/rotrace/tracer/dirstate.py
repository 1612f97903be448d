"""What each directory a write lands in held before the command touched it.

Read at the entry stop of the first write into a directory, before the kernel runs the call:
a mount plan must never put an empty mount over a directory that held something, and must
know which directories the command made itself. One stat (and one readdir) per directory.
"""

from __future__ import annotations

import os

from rotrace.events import DirState
from rotrace.tracer.arch import O_TMPFILE_BIT
from rotrace.tracer.decode import Pending
from rotrace.tracer.paths import join


def dir_state(path: bytes) -> DirState:
    try:
        with os.scandir(path) as entries:
            return DirState.CONTENT if next(entries, None) is not None else DirState.EMPTY
    except OSError:
        return DirState.ABSENT


class DirectoryStates:
    def __init__(self) -> None:
        self.states: dict[bytes, DirState] = {}

    def see(self, directory: bytes) -> None:
        if directory not in self.states:
            self.states[directory] = dir_state(directory)

    def see_pending(self, pending: Pending) -> None:
        """The directories a decoded write is about to change (and, for mkdir, the new one)."""
        path = join(*pending.path)
        if pending.flags is not None and pending.op == "create" and pending.flags & O_TMPFILE_BIT:
            self.see(path)  # O_TMPFILE names the directory the file is made in
        else:
            self.see(os.path.dirname(path) or b"/")
        if pending.op == "mkdir":
            self.see(path)
        if pending.target is not None and not pending.verbatim_target:
            self.see(os.path.dirname(join(*pending.target)) or b"/")
