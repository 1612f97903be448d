"""Classifying events: the typed verdict rotrace reports and writes to JSON."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

from rotrace.events import FileEvent
from rotrace.explain import explain
from rotrace.policy.allowlist import Allowlist
from rotrace.policy.forecast import forecast
from rotrace.policy.venv import VenvDetector


@dataclass(frozen=True, slots=True)
class Verdict:
    event: FileEvent
    allowed: bool | None  # None for a read (not classified)
    venv: bytes | None
    ro_forecast: str | None = None  # under a read-only root: "ok", "EROFS" or another errno
    explanation: str | None = (
        None  # id of the known writer (explain/known.py), for violations and venv writes
    )

    @property
    def violation(self) -> bool:
        return self.allowed is False

    def to_json(self) -> dict[str, Any]:
        out = self.event.to_json()
        out["allowed"] = self.allowed
        out["venv"] = None if self.venv is None else os.fsdecode(self.venv)
        out["ro_forecast"] = self.ro_forecast
        out["explanation"] = self.explanation
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Verdict:
        venv = obj.get("venv")
        return cls(
            FileEvent.from_json(obj),
            obj.get("allowed"),
            None if venv is None else os.fsencode(venv),
            obj.get("ro_forecast"),
            obj.get("explanation"),
        )


_EROFS = errno.EROFS
_FILE_OPS = frozenset({"open", "create", "truncate"})  # their path is a file (O_TMPFILE aside)


class Classifier:
    """Allowlist + venv detection for a stream of events (call `learn` on all of them first)."""

    def __init__(self, allowlist: Allowlist, venvs: VenvDetector | None = None) -> None:
        self.allowlist = allowlist
        self.venvs = venvs or VenvDetector()

    def learn(self, event: FileEvent) -> None:
        self.venvs.note(event)

    def classify(self, event: FileEvent, venv: bytes | None = None, known_venv: bool = False) -> Verdict:
        if not event.write:
            return Verdict(event, None, None)
        allowed = self.allowlist.allows(event.path)
        if event.op == "rename" and event.target is not None:
            allowed = allowed and self.allowlist.allows(event.target)
        if event.result == -_EROFS:  # the filesystem said no, whatever the allowlist says
            allowed = False
        if not known_venv:
            venv = self.venvs.venv_of(event.path, may_be_dir=event.op not in _FILE_OPS)
            if venv is None and event.op == "rename" and event.target is not None:
                venv = self.venvs.venv_of(event.target)
        known = explain(event, venv) if venv is not None or not allowed else None
        return Verdict(event, allowed, venv, forecast(event, allowed), known.id if known else None)
