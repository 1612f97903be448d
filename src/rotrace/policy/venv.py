"""Virtual-environment detection: a directory holding pyvenv.cfg (whatever its name), or `.venv`.

A venv created during the trace counts from its first write: the tracer saw pyvenv.cfg being
created, so that directory is a venv even if it is gone by the time the trace is classified.

A run's events are classified while the command runs, before every venv it makes is known:
with `journal`, each answer given is noted (per directory, not per event), for `holds` to
check against the answers of the end of the run.
"""

from __future__ import annotations

import os

from rotrace.events import CREATING_OPS, FileEvent

_CFG = b"pyvenv.cfg"


_JOURNAL_LIMIT = 1 << 15  # answers noted at most (memory); past it they are not trusted


class VenvDetector:
    def __init__(self, journal: bool = False) -> None:
        self._is_venv: dict[bytes, bool] = {}
        self._dir_venv: dict[bytes, bytes | None] = {}
        self.created: set[bytes] = set()
        # (path, may_be_dir) -> the answer given; None: no journal, or no longer trusted
        self._journal: dict[tuple[bytes, bool], bytes | None] | None = {} if journal else None

    def settled(self) -> VenvDetector:
        """A detector that knows the venvs this one learnt, and no answer it gave."""
        fresh = VenvDetector()
        for root in self.created:
            fresh.created.add(root)
            fresh._is_venv[root] = True
        return fresh

    def holds(self) -> bool:
        """Every answer this detector gave is still the answer, with all it has learnt now
        and the filesystem as it is now (only with `journal`)."""
        if self._journal is None:
            return False
        fresh = self.settled()
        for (path, may_be_dir), answer in self._journal.items():
            now = fresh.venv_of(path) if may_be_dir else fresh._venv_of_dir(path)
            if now != answer:
                return False
        return True

    def note(self, event: FileEvent) -> None:
        """Learn of venvs the traced command created (call for every event before `venv_of`)."""
        if event.op not in CREATING_OPS or event.failed:
            return
        written = event.target if event.op == "rename" else event.path
        if written is not None and written.endswith(_CFG) and os.path.basename(written) == _CFG:
            root = os.path.dirname(written)
            self.created.add(root)
            self._is_venv[root] = True
            self._dir_venv.clear()

    def _check(self, directory: bytes) -> bool:
        cached = self._is_venv.get(directory)
        if cached is None:
            cached = os.path.basename(directory) == b".venv" or os.path.isfile(os.path.join(directory, _CFG))
            self._is_venv[directory] = cached
        return cached

    def venv_of(self, path: bytes, may_be_dir: bool = True) -> bytes | None:
        """The innermost venv root containing path (or being path), else None.

        Only directories are cached (files are many; directories few), so memory stays flat.
        `may_be_dir=False` (a file opened or created) skips looking for pyvenv.cfg inside it.
        """
        if not may_be_dir:
            asked = os.path.dirname(path)  # a file's answer is its directory's: noted once for all
            found = self._venv_of_dir(asked)
        elif path in self.created or os.path.basename(path) == b".venv" or os.path.isfile(path + b"/" + _CFG):
            asked, found = path, path
        else:
            asked, found = path, self._venv_of_dir(os.path.dirname(path))
        if self._journal is not None:
            self._note(asked, may_be_dir, found)
        return found

    def _note(self, path: bytes, may_be_dir: bool, found: bytes | None) -> None:
        assert self._journal is not None
        key = (path, may_be_dir)
        if key not in self._journal:
            if len(self._journal) >= _JOURNAL_LIMIT:
                self._journal = None
            else:
                self._journal[key] = found
        elif self._journal[key] != found:  # two answers: the earlier events got the other
            self._journal = None

    def _venv_of_dir(self, directory: bytes) -> bytes | None:
        """venv_of for a directory, memoised: events cluster in few directories. Climbed in a
        loop, to the top of any path a trace holds (`//x`, whose parent is itself; a relative
        one thousands of names deep)."""
        climbed: list[bytes] = []
        found: bytes | None = None
        while True:
            if directory in self._dir_venv:
                found = self._dir_venv[directory]
                break
            parent = os.path.dirname(directory)
            if not directory or parent == directory:  # b"", b"/", b"//"
                self._dir_venv[directory] = None
                break
            climbed.append(directory)
            if self._check(directory):
                found = directory
                break
            directory = parent
        for below in climbed:
            self._dir_venv[below] = found
        return found
