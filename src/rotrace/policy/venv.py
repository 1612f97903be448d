"""Virtual-environment detection: a directory holding pyvenv.cfg (whatever its name), or `.venv`.

A venv created during the trace counts from its first write: the tracer saw pyvenv.cfg being
created, so that directory is a venv even if it is gone by the time the trace is classified.
"""

from __future__ import annotations

import os

from rotrace.events import CREATING_OPS, FileEvent

_CFG = b"pyvenv.cfg"


class VenvDetector:
    def __init__(self) -> None:
        self._is_venv: dict[bytes, bool] = {}
        self._dir_venv: dict[bytes, bytes | None] = {}
        self.created: set[bytes] = set()

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
        if may_be_dir and (
            path in self.created or os.path.basename(path) == b".venv" or os.path.isfile(path + b"/" + _CFG)
        ):
            return path
        return self._venv_of_dir(os.path.dirname(path))

    def _venv_of_dir(self, directory: bytes) -> bytes | None:
        """venv_of for a directory, memoised: events cluster in few directories."""
        try:
            return self._dir_venv[directory]
        except KeyError:
            pass
        if not directory or directory == b"/":
            found = None
        elif self._check(directory):
            found = directory
        else:
            found = self._venv_of_dir(os.path.dirname(directory))
        self._dir_venv[directory] = found
        return found
