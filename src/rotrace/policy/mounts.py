"""The smallest set of writable mounts that makes a trace clean, and hides nothing.

Mounts are directories (tmpfs, emptyDir), never files; a container runtime creates a mount
point that the image lacks. The rules, built on what each directory held before the command
first wrote into it (recorded by the tracer):
- a write into a scratch directory (/tmp, /var/tmp, /dev/shm, /run) mounts that directory,
  unless the application lives there;
- a write into a directory the command created mounts its topmost created ancestor (per-run
  names such as `.tmpAbC123` are never mount points: their parent is);
- a write into a directory that existed mounts that directory, unless it held entries: an
  empty mount would hide them;
- never the working directory or its ancestors, a virtual environment or a directory holding
  one, or a system directory.
A directory the command builds under a temporary name and then renames into place (pytest's
cache, many atomic writers) is planned under its final name: with the final directory already
there (a mount point), such tools skip the build-and-rename. Writes that fail the same way
under a read-only root (mkdir of an existing directory) need nothing. What no mount can fix is
`blocked`, with what to change instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from rotrace.escape import safe_text
from rotrace.events import FILE_OPS, DirState, FileEvent
from rotrace.explain import Known
from rotrace.pathnames import generalise, is_general, is_under, outermost, text_of
from rotrace.policy.forecast import forecast
from rotrace.policy.verdict import Verdict

SYSTEM_DIRS = frozenset(
    {"/", "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/boot", "/var", "/opt", "/home",
     "/root", "/srv", "/mnt", "/media"}
)  # fmt: skip
_PROVIDED = (b"/dev/", b"/proc/", b"/sys/")  # the runtime provides these; writes there need nothing
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm", "/run")  # nobody expects these to survive a restart


@dataclass
class Blocked:
    """Writes that only a mount at `point` would allow, which must not be mounted over."""

    point: str
    path: str  # an example of the writes (generalised)
    reason: str
    count: int = 0
    explanations: dict[Known, int] = field(default_factory=dict)  # known writer -> writes

    def describe(self) -> str:
        """One line for a person: where, what, why not, and the fixes that fit the writes."""
        writes = f"{self.count} writes, e.g. {self.path}" if self.count > 1 else self.path
        fixes = "; ".join(
            f"fix ({k.title}, {n}): {k.fix}" if len(self.explanations) > 1 else f"fix: {k.fix}"
            for k, n in sorted(self.explanations.items(), key=lambda kv: -kv[1])
        )
        return safe_text(
            f"cannot be made writable by a mount: {self.point} ({writes}): {self.reason}"
            + (f"; {fixes}" if fixes else "")
        )


@dataclass
class MountPlan:
    """What a read-only root needs for the traced writes: mounts, plus the settings (env) that
    move writes to a writable place or avoid them, plus steps for the image's build; every export
    emits all three."""

    mounts: list[str] = field(default_factory=list)  # directories to make writable
    blocked: list[Blocked] = field(default_factory=list)
    settings: dict[Known, int] = field(default_factory=dict)  # known writers behind mounted writes
    env: dict[str, str] = field(default_factory=dict)  # settings to apply (NAME -> value)
    build_steps: list[str] = field(default_factory=list)  # shell commands for the image's build
    persistent: list[str] = field(default_factory=list)  # mounts whose data must survive a restart


def written_directory(e: FileEvent, path: bytes) -> str:
    """The directory a mount must make writable for this write: the one the call changes, but
    the new directory itself for a mkdir (a runtime creates the mount point; Python's makedirs
    and friends accept that it exists)."""
    if e.op == "mkdir" and path == e.path:
        return text_of(path)
    if path == e.path:
        return text_of(e.directory)
    return text_of(os.path.dirname(path)) or "/"


class _Planner:
    def __init__(self, cwd: str, states: dict[bytes, DirState], created: set[str], venvs: set[str]) -> None:
        self.cwd = cwd
        self.states = {os.fsdecode(d): s for d, s in states.items()}
        self.created = created
        self.venvs = venvs
        self.moved: dict[str, str] = {}  # a created directory -> where the command renamed it
        self._origins: dict[str, str] = {}  # the other way: where a renamed directory was made
        self._why_not: dict[str, str | None] = {}  # forbidden(), once per place

    def learn_renames(self, renames: Iterable[tuple[str, str]]) -> None:
        for source, target in renames:
            # renaming a directory succeeds only onto a missing or empty one: nothing to hide
            if source in self.created:
                self.moved[source] = target
                self._origins[target] = source
                self.created.add(target)

    def final(self, path: str) -> str:
        """Where `path` ends up once the directories it lies in were renamed into place."""
        return _renamed(path, self.moved)

    def origin(self, path: str) -> str:
        """Where `path` was made, before the directories it lies in were renamed into place
        (the recorded states and the created directories carry the names of then)."""
        return _renamed(path, self._origins)

    def made_by_command(self, directory: str) -> bool:
        for name in (directory, self.origin(directory)):
            if name in self.created or self.states.get(name) == DirState.ABSENT:
                return True
        return False

    def point(self, directory: str) -> str:
        scratch = next((s for s in SCRATCH if is_under(directory, s)), None)
        if scratch is not None and not (self.cwd and is_under(self.cwd, scratch)):
            return scratch  # a tmpfs there is what everyone expects (not over the app, though)
        while directory != "/" and (
            is_general(os.path.basename(directory))
            or (self.made_by_command(directory) and self.made_by_command(os.path.dirname(directory)))
        ):
            directory = os.path.dirname(directory)
        return directory

    def held_content(self, directory: str) -> bool:
        if self.made_by_command(directory):
            return False
        state = self.states.get(directory)
        if state is None:  # not recorded (an older trace): what is there now, to be safe
            try:
                return any(os.scandir(directory))
            except OSError:
                return False
        return state == DirState.CONTENT

    def forbidden(self, point: str) -> str | None:
        """Why an empty mount at `point` would break the app, or None if it would not (asked
        for every write: answered once per place, which may read the filesystem)."""
        if point not in self._why_not:
            self._why_not[point] = self._forbidden(point)
        return self._why_not[point]

    def _forbidden(self, point: str) -> str | None:
        if any(is_under(point, v) for v in self.venvs):
            return "a mount over a virtual environment hides the environment"
        if point in SYSTEM_DIRS:
            return f"{point} is a system directory: an empty mount there hides what the image holds"
        if self.cwd and is_under(self.cwd, point):
            return (
                f"a mount over {point} hides the application directory ({self.cwd}); "
                "keep what must be writable out of the application directory"
            )
        for v in sorted(self.venvs):
            if is_under(v, point):
                return f"a mount over {point} hides the virtual environment {v}"
        if point not in SCRATCH and self.held_content(point):
            return f"{point} held files before the run: an empty mount over it would hide them"
        return None


def _renamed(path: str, renames: dict[str, str]) -> str:
    """`path` with its innermost renamed ancestor (or itself) replaced by the new name, again
    for renamed directories inside renamed directories (bounded: a rename back and forth)."""
    if not renames:
        return path
    for _ in range(8):
        top = path
        while top not in renames:
            cut = top.rfind("/")
            if cut <= 0:
                return path
            top = top[:cut]
        path = renames[top] + path[len(top) :]
    return path


def _needs_mount(v: Verdict) -> bool:
    """A write a read-only root would refuse (EROFS), outside what the runtime provides.

    A violation's forecast was made when it was classified (it is in the trace); an allowed
    write's is made here, as if it were not allowed."""
    e = v.event
    if not e.write or v.harmless or e.path.startswith(_PROVIDED):
        return False
    ro = v.ro_forecast if v.violation else forecast(e, writable=False)
    return ro == "EROFS"


class Placement(NamedTuple):
    """Where one write needs a writable mount, and why there can be none (None: there can)."""

    point: str
    reason: str | None


class MountPlanner:
    """Two passes over a run's verdicts: `learn` each (what the command created, where its
    venvs are, which directories it renamed into place), then `place` each; `plan()` is the
    result. Memory stays with directories, not events."""

    def __init__(self, cwd: str, states: dict[bytes, DirState] | None = None) -> None:
        self._planner = _Planner(cwd, states or {}, set(), set())
        self._mounts: set[str] = set()
        self._blocked: dict[Placement, Blocked] = {}
        self._settings: dict[Known, int] = {}
        self._renames: list[tuple[str, str]] = []
        self._learnt = False
        # (directory written, venv) -> (mount point, placement): asked for every write, answered
        # once per directory
        self._placements: dict[tuple[str, bytes | None], tuple[str, Placement]] = {}

    def know_directories(self, states: dict[bytes, DirState]) -> None:
        """What each directory held before the run, once known (after `learn` began)."""
        self._planner.states = {os.fsdecode(d): s for d, s in states.items()}

    def learn(self, v: Verdict) -> None:
        e = v.event
        if not e.write or v.harmless:
            return
        if e.op == "mkdir" and e.result == 0:
            self._planner.created.add(os.fsdecode(e.path))
        if v.venv is not None:
            self._planner.venvs.add(os.fsdecode(v.venv))
        if e.op == "rename" and e.result == 0 and e.target is not None:
            self._renames.append((os.fsdecode(e.path), os.fsdecode(e.target)))

    def _settle(self) -> None:
        if not self._learnt:
            self._learnt = True
            self._planner.learn_renames(self._renames)

    def place(self, v: Verdict) -> list[Placement]:
        """Where this write needs a mount (empty: it needs none)."""
        self._settle()
        if not _needs_mount(v):
            return []
        e = v.event
        if e.op in FILE_OPS:  # most writes: one path, which is never a directory renamed into place
            return [self._count(v, e.path, *self._placement(written_directory(e, e.path), v.venv))]
        planner = self._planner
        moving = e.op == "rename" and os.fsdecode(e.path) in planner.moved
        paths = [e.path] + ([e.target] if e.op == "rename" and e.target is not None and not moving else [])
        placed: list[Placement] = []
        for raw in paths:
            name = os.fsdecode(raw)  # a directory renamed into place is itself where it is written
            directory = name if name in planner.moved else written_directory(e, raw)
            point, placement = self._placement(directory, v.venv)
            if placement.reason is not None and placement in placed:
                placed.append(placement)  # a rename within one blocked place is one write
            else:
                placed.append(self._count(v, raw, point, placement))
        return placed

    def _placement(self, directory: str, venv: bytes | None) -> tuple[str, Placement]:
        """The mount point for writes into `directory`, and where the write needs a mount (the
        venv's top for a venv write) with why there can be none there."""
        key = (directory, venv)
        found = self._placements.get(key)
        if found is None:
            planner = self._planner
            point = planner.point(planner.final(directory))
            where = text_of(venv) if venv is not None else point
            found = self._placements[key] = (point, Placement(where, planner.forbidden(where)))
        return found

    def _count(self, v: Verdict, raw: bytes, point: str, placement: Placement) -> Placement:
        """The write counted in the plan: its mount, or the place it is blocked at."""
        known = v.explanation
        if placement.reason is None:
            self._mounts.add(point)
            if known is not None:
                self._settings[known] = self._settings.get(known, 0) + 1
            return placement
        b = self._blocked.get(placement)
        if b is None:
            b = self._blocked[placement] = Blocked(placement.point, generalise(raw), placement.reason)
        b.count += 1
        if known is not None:
            b.explanations[known] = b.explanations.get(known, 0) + 1
        return placement

    def plan(self) -> MountPlan:
        mounts = self._mounts
        return MountPlan(
            mounts=outermost(mounts),
            blocked=sorted(self._blocked.values(), key=lambda b: b.point),
            settings=dict(self._settings),
        )


def plan_mounts(
    verdicts: Iterable[Verdict], cwd: str, states: dict[bytes, DirState] | None = None
) -> MountPlan:
    """The plan of verdicts that can be iterated twice (a trace file's, a list)."""
    planner = MountPlanner(cwd, states)
    for v in verdicts:
        planner.learn(v)
    for v in verdicts:
        planner.place(v)
    return planner.plan()
