"""What each directory a write lands in held before the command touched it.

Read at the entry stop of a write, before the kernel runs the call, through the tracee's own
magic links (the path's final name is only known at the exit stop, when the states are filed
under it): a mount plan must never put an empty mount over a directory that held something,
and must know which directories the command made itself. One readdir per directory: the
magic names already looked at are remembered (a chdir makes the same name point elsewhere;
such a directory is then simply not recorded, and the planner looks at it after the run).
"""

from __future__ import annotations

import os

from rotrace.events import DirState
from rotrace.tracer.decode import Loc, Pending
from rotrace.tracer.dircache import DirCache
from rotrace.tracer.linux.arch import O_TMPFILE_BIT

_LIMIT = 1 << 16  # magic names remembered (a bound on memory; forgetting only costs a readdir)


def dir_state(path: bytes) -> DirState:
    try:
        with os.scandir(path) as entries:
            return DirState.CONTENT if next(entries, None) is not None else DirState.EMPTY
    except OSError:
        return DirState.ABSENT


def _names_a_directory(pending: Pending) -> bool:
    """O_TMPFILE names the directory the file is made in; mkdir the directory it makes."""
    tmpfile = pending.op == "create" and pending.flags is not None and bool(pending.flags & O_TMPFILE_BIT)
    return tmpfile or pending.op == "mkdir"


def _parent(raw: bytes) -> bytes:
    return os.path.dirname(raw.rstrip(b"/"))


class DirectoryStates:
    def __init__(self) -> None:
        self.states: dict[bytes, DirState] = {}
        self._looked: set[bytes] = set()

    def _look(self, loc: Loc, whole: bool, tid: int, cache: DirCache | None) -> DirState | None:
        if not loc.base:
            return None
        rel = loc.raw if whole else _parent(loc.raw)
        magic = loc.base + b"/" + rel
        # a tracee that sees rotrace's root and mounts: the same name is the same directory in
        # any of its threads (one readdir, not one a thread)
        name = cache.directory(tid, loc.base, rel) if cache is not None and not loc.root else None
        key = name or magic
        if key in self._looked:
            return None
        if len(self._looked) > _LIMIT:
            self._looked.clear()
        self._looked.add(key)
        return dir_state(magic)

    def before(
        self, pending: Pending, tid: int = 0, cache: DirCache | None = None
    ) -> list[tuple[Loc, bool, DirState]]:
        """At entry: the states of the directories the call is about to change."""
        wanted = [(pending.path, False)]
        if _names_a_directory(pending):
            wanted.append((pending.path, True))
        if pending.op == "rename" and pending.target is not None:  # a link's source is not written
            wanted.append((pending.target, False))
        found = []
        for loc, whole in wanted:
            state = self._look(loc, whole, tid, cache)
            if state is not None:
                found.append((loc, whole, state))
        return found

    def file(self, seen: list[tuple[Loc, bool, DirState]]) -> None:
        """At exit, once the paths are placed: file each state under its directory's name."""
        for loc, whole, state in seen:
            if loc.path is not None:
                directory = loc.path if whole else os.path.dirname(loc.path) or b"/"
                self.states.setdefault(directory, state)
