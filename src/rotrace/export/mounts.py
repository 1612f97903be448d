"""The smallest set of writable mounts that makes a trace clean.

Mounts are directories (tmpfs, emptyDir), never files. A write that fails the same way under a
read-only root (EEXIST, a missing parent) needs no mount, only a policy entry. Directories the
command created are folded into the first directory that existed before it ran; per-run names
(`.tmpAbC123`) are never mount points. Some writes must not be fixed by a mount at all: an
empty mount over a virtual environment, the application directory or a system directory hides
what is there. Those are `blocked`, with what to change instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from rotrace.escape import safe_text
from rotrace.events import NAME_OPS
from rotrace.explain import Known
from rotrace.pathnames import generalise, is_general, is_under
from rotrace.policy.forecast import forecast
from rotrace.policy.verdict import Verdict

SYSTEM_DIRS = frozenset(
    {
        "/",
        "/usr",
        "/etc",
        "/bin",
        "/sbin",
        "/lib",
        "/lib32",
        "/lib64",
        "/boot",
        "/var",
        "/opt",
        "/home",
        "/root",
        "/srv",
    }
)
_PROVIDED = ("/dev/", "/proc/")  # the runtime provides these; writes there need nothing
_SCRATCH = ("/tmp/", "/var/tmp/", "/dev/shm/", "/run/")  # nobody expects these to survive a restart


@dataclass
class Blocked:
    """Writes that only a mount at `point` would allow, which must not be mounted over."""

    point: str
    path: str  # an example of the writes (generalised)
    reason: str
    explanation: Known | None
    count: int = 1

    def describe(self) -> str:
        """One line for a person: where, what, why not, and the fix when one is known."""
        writes = f"{self.count} writes, e.g. {self.path}" if self.count > 1 else self.path
        fix = f"; fix: {self.explanation.fix}" if self.explanation else ""
        return safe_text(f"cannot be made writable by a mount: {self.point} ({writes}): {self.reason}{fix}")


@dataclass
class MountPlan:
    mounts: list[str] = field(default_factory=list)  # directories to make writable
    harmless: list[str] = field(default_factory=list)  # paths whose writes fail alike when read-only
    blocked: list[Blocked] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)  # mounts over files that existed (now hidden)


def _mount_point(directory: str, created: set[str]) -> str:
    while directory != "/" and (directory in created or is_general(os.path.basename(directory))):
        directory = os.path.dirname(directory)
    return directory


def _forbidden(directory: str, cwd: str, venvs: set[str]) -> str | None:
    """Why an empty mount at `directory` would break the app, or None if it would not."""
    if any(is_under(directory, v) for v in venvs):
        return "a mount over a virtual environment hides the environment"
    if directory in SYSTEM_DIRS:
        return f"{directory} is a system directory: an empty mount there hides what the image holds"
    if cwd and is_under(cwd, directory):
        return (
            f"a mount over {directory} hides the application directory ({cwd}); "
            "keep the application out of directories that must be writable"
        )
    for v in sorted(venvs):
        if is_under(v, directory):
            return f"a mount over {directory} hides the virtual environment {v}"
    return None


def plan_mounts(verdicts: Iterable[Verdict], cwd: str) -> MountPlan:
    writes = [v for v in verdicts if v.event.write and not v.event.path.startswith(b"/dev/")]
    writes = [v for v in writes if not os.fsdecode(v.event.path).startswith(_PROVIDED)]
    created = {os.fsdecode(v.event.path) for v in writes if v.event.op == "mkdir" and v.event.result == 0}
    venvs = {os.fsdecode(v.venv) for v in writes if v.venv is not None}
    plan = MountPlan()
    mounts: set[str] = set()
    harmless: set[str] = set()
    blocked: dict[tuple[str, str], Blocked] = {}
    for v in writes:
        e = v.event
        paths = [e.path] + ([e.target] if e.op == "rename" and e.target is not None else [])
        if forecast(e, writable=False) != "EROFS":
            harmless.update(os.fsdecode(p) for p in paths)
            continue
        for raw in paths:
            path = os.fsdecode(raw)
            point = _mount_point(os.path.dirname(path), created)
            where = os.fsdecode(v.venv) if v.venv is not None else point
            reason = _forbidden(where, cwd, venvs)
            if reason is not None:
                found = blocked.get((where, reason))
                if found is None:
                    # in a venv the write itself is the problem: the known writer's fix applies
                    known = v.explanation if v.venv is not None else None
                    blocked[where, reason] = Blocked(where, generalise(path), reason, known)
                else:
                    found.count += 1
            else:
                mounts.add(point)
                if (
                    e.op not in NAME_OPS
                    and e.result is not None
                    and e.result >= 0
                    and not path.startswith(_SCRATCH)
                ):
                    plan.hidden.append(path)
    plan.mounts = sorted(m for m in mounts if not any(m != o and is_under(m, o) for o in mounts))
    plan.harmless = sorted(h for h in harmless if not any(is_under(h, m) for m in plan.mounts))
    plan.blocked = sorted(blocked.values(), key=lambda b: b.point)
    return plan
