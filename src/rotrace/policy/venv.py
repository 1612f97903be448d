"""Virtual-environment detection: a directory holding pyvenv.cfg (whatever its name), or `.venv`.

A venv created during the trace counts from its first write: the tracer saw pyvenv.cfg being
created, so that directory is a venv even if it is gone by the time the trace is classified.
"""

from __future__ import annotations

import os

from rotrace.events import FileEvent

_CFG = b"pyvenv.cfg"
_CREATING_OPS = frozenset({"create", "rename", "link", "symlink"})


class VenvDetector:
    def __init__(self) -> None:
        self._is_venv: dict[bytes, bool] = {}
        self.created: set[bytes] = set()

    def note(self, event: FileEvent) -> None:
        """Learn of venvs the traced command created (call for every event before `venv_of`)."""
        if event.op not in _CREATING_OPS or event.failed:
            return
        written = event.target if event.op == "rename" else event.path
        if written is not None and os.path.basename(written) == _CFG:
            root = os.path.dirname(written)
            self.created.add(root)
            self._is_venv[root] = True

    def _check(self, directory: bytes) -> bool:
        cached = self._is_venv.get(directory)
        if cached is None:
            cached = os.path.basename(directory) == b".venv" or os.path.isfile(os.path.join(directory, _CFG))
            self._is_venv[directory] = cached
        return cached

    def venv_of(self, path: bytes) -> bytes | None:
        """The innermost venv root containing path (or being path), else None."""
        current = path
        while current and current != b"/":
            if self._check(current):
                return current
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        return None
