"""Classifying events: the typed verdict rotrace reports, and the tally of a run's verdicts."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rotrace.events import FILE_OPS, FileEvent, ProcessInfo
from rotrace.explain import BY_ID, READ_ONLY_DATABASE, Known, explain
from rotrace.pathnames import is_placed, normal
from rotrace.patterns import Lazy
from rotrace.policy import databases
from rotrace.policy.allowlist import Allowlist
from rotrace.policy.forecast import forecast
from rotrace.policy.globcover import Name, merged_name
from rotrace.policy.venv import VenvDetector


@dataclass(frozen=True, slots=True)
class Verdict:
    event: FileEvent
    allowed: bool | None  # None for a read (not classified)
    venv: bytes | None
    ro_forecast: str | None = None  # under a read-only root: "ok", "EROFS" or another errno
    explanation: Known | None = None  # the known writer, for violations and venv writes
    # not a write at all: it failed here as it would under a read-only root (mkdir of an existing
    # directory), or it is a read-write open of a SQLite database only read (READ_ONLY_DATABASE)
    harmless: bool = False
    # A merged trace's event (rotrace merge): how many times the write was made, and in which of
    # the merged runs (indices into the header's sources); () for one run's event.
    count: int = 1
    runs: tuple[int, ...] = ()

    def astuple(self) -> tuple[object, ...]:
        """For a spool: marshal-able values (the explanation by its id)."""
        known = None if self.explanation is None else self.explanation.id
        return (self.event.astuple(), self.allowed, self.venv, self.ro_forecast, known, self.harmless,
                self.count, self.runs)  # fmt: skip

    @classmethod
    def from_tuple(cls, record: tuple[Any, ...]) -> Verdict:
        event, allowed, venv, ro, known, harmless, count, runs = record
        known_writer = None if known is None else BY_ID[known]
        return cls(FileEvent(*event), allowed, venv, ro, known_writer, harmless, count, tuple(runs))

    @property
    def violation(self) -> bool:
        return self.allowed is False

    @property
    def wrote(self) -> bool:
        """A write the report counts: not one that failed here as it would anywhere (mkdir of an
        existing directory), allowed or not. What "seen in N of M runs" counts, in every view."""
        e = self.event
        if not e.write or self.harmless:
            return False
        if self.violation or not e.failed or e.errno in ("EACCES", "EPERM", "EROFS"):
            return True
        return forecast(e, writable=False) != e.errno

    @property
    def venv_write(self) -> bool:
        return self.venv is not None and not self.harmless

    @property
    def went_through(self) -> bool:
        """A violation the kernel let happen: its call succeeded. Under --enforce that is a
        write Landlock did not stop, whatever the policy says: never to be called denied. Not
        one rotrace could not place (`unplaced`): where it went is not known, outside the
        allowlist or in it. Nor a check of writability (`access`), which writes nothing."""
        e = self.event
        result = e.result
        return self.violation and not e.unresolved and result is not None and result >= 0 and e.op != "access"

    @property
    def unplaced(self) -> bool:
        """A write that succeeded where rotrace cannot say (a violation all the same)."""
        e = self.event
        return e.write and e.unresolved and e.result is not None and e.result >= 0 and e.op != "access"

    @property
    def denied(self) -> bool:
        """A violation the kernel refused the way a policy refuses: EACCES or EPERM (EXDEV for
        a rename or link, which is how Landlock refuses one across its rules)."""
        name = self.event.errno
        return self.violation and (name in _REFUSALS or (name == "EXDEV" and self.event.op in _MOVES))


@dataclass
class Summary:
    """The counts a trace ends with (and the exit status is decided on)."""

    events: int = 0
    writes: int = 0
    violations: int = 0
    venv_writes: int = 0
    ro_failures: int = 0  # writes that fail (or would) under a read-only root with EROFS
    went_through: int = 0  # violations whose call succeeded (under --enforce: not stopped)

    def add(self, verdict: Verdict) -> None:
        n = verdict.count  # a merged trace's event stands for that many writes
        self.events += n
        if verdict.event.write:
            self.writes += n
            self.violations += n * verdict.violation
            self.went_through += n * verdict.went_through
            self.venv_writes += n * verdict.venv_write
            self.ro_failures += n * (verdict.ro_forecast == "EROFS" and not verdict.harmless)


_GLOB_TEXT = Lazy(rb"[*?\[]")
_EROFS = errno.EROFS
_REFUSALS = frozenset({"EACCES", "EPERM"})
_MAKERS = frozenset({"mkdir", "create", "mknod", "symlink", "link"})
_NOT_MADE = frozenset({"ENOENT", "ENOTDIR", "EEXIST"})
_MOVES = frozenset({"rename", "link"})


def _elsewhere(home: str | None) -> bytes | None:
    """A HOME the known writers' table does not name: the one to read as /root, else None."""
    if not home or not home.startswith("/"):
        return None
    raw = os.fsencode(normal(home))
    if raw == b"/root" or (raw.startswith(b"/home/") and raw.count(b"/") == 2):
        return None
    return raw.rstrip(b"/")  # `/`: b""


# Settings that move a known writer's place, and the place the known writers' table names
_MOVED_BY = (
    ("UV_CACHE_DIR", b"/root/.cache/uv"),
    ("PIP_CACHE_DIR", b"/root/.cache/pip"),
    ("IPYTHONDIR", b"/root/.ipython"),
    ("MPLCONFIGDIR", b"/root/.config/matplotlib"),
    ("UV_TOOL_DIR", b"/root/.local/share/uv/tools"),
)
# The writers a setting moves whose fix is no setting of their own (uvx's lock in the tool
# directory: the tool's entry point is the fix, UV_TOOL_DIR only where they live)
_MOVED_WRITERS = {"UV_TOOL_DIR": "uv-tools"}


def _moved_places(environment: Mapping[str, str]) -> tuple[tuple[str, bytes, bytes], ...]:
    """(setting, where the run put the place, the place the table names), for each setting the
    run had as an absolute path that is not the table's place already."""
    found = []
    for name, default in _MOVED_BY:
        value = environment.get(name, "")
        if value.startswith("/") and value != "/":
            moved = os.fsencode(normal(value))
            if moved != default and not moved.startswith(b"//"):
                found.append((name, moved, default))
    return tuple(found)


def explained_in_home(event: FileEvent, venv: bytes | None, cmdline: str, home: bytes | None) -> Known | None:
    """A write in a home elsewhere (`_elsewhere`), read as in /root (its venv too): the known
    writer, if the table names it by its program (pip's cache on its way) or names its own place
    in the home (`Known.in_home`: Hugging Face's cache). Not a program's cache in ~/.cache at
    large: one that does not follow XDG_CACHE_HOME would be told a setting it ignores, where a
    mount holds whoever wrote."""
    if home is None:
        return None
    seen = event._replace(path=_as_root(event.path, home) or event.path, target=_as_root(event.target, home))
    known = explain(seen, _as_root(venv, home), cmdline)
    return known if known is not None and (known.exe or known.cmd or known.in_home) else None


def home_elsewhere(home: str | None) -> bytes | None:
    """The run's HOME where the known writers' table does not name it (`explained_in_home`)."""
    return _elsewhere(home)


def _as_root(path: bytes | None, home: bytes, root: bytes = b"/root") -> bytes | None:
    if path is None or not (path == home or path.startswith(home + b"/")):
        return path
    return root + path[len(home) :]


class Classifier:
    """Allowlist + venv detection for a stream of events (call `learn` on all of them first).

    With `journal`, events may be classified as they come: the answers that depend on the
    rest of the run (is this a venv, which program wrote it) are noted, and `holds` says
    whether each is still the answer at the end."""

    def __init__(
        self,
        allowlist: Allowlist,
        processes: Iterable[ProcessInfo] = (),
        journal: bool = False,
        enforced: bool = False,
        since: int | None = None,
        home: str | None = None,
        generalised: Iterable[str] = (),
        merged: bool = False,
        environment: Mapping[str, str] | None = None,
        read_only: bool = False,
    ) -> None:
        self.allowlist = allowlist
        # traced inside the read-only root itself (--read-only): a write's outcome there is what
        # the root did, no forecast (one that went through on a host file did not meet EROFS)
        self.read_only = read_only
        # a merged trace's globs of per-run names (`rotrace merge`): a path through one stands
        # for names no glob of the allowlist was matched against: a directory rule holds it, or a
        # glob that allows every name it stands for (globcover.py)
        self._general = frozenset(os.fsencode(g) for g in generalised)
        self._below_general = tuple(g + b"/" for g in self._general)
        self._merged = merged  # a merge: any path with a glob's characters may be one of its globs
        # The run's HOME, where it is not /root or /home/NAME (a container's /app, /var/lib/app,
        # `/`): the known writers' table names homes by those, and is asked again with this one
        # standing for /root (`_in_home_explained`).
        self.home = home
        self._home = _elsewhere(home)
        # The run's settings that move a known writer's place (UV_CACHE_DIR=/opt/uv-cache): its
        # writes there are read as at the place the table names (`_moved_explained`)
        self.environment = dict(environment or {})
        self._moved = _moved_places(self.environment)
        # the directories above a known writer's name it failed to make (ENOENT): on its way, for
        # the process that failed (`_learn_way`)
        self._ways: dict[tuple[int, bytes], Known] = {}
        self._basetemps: dict[int, bytes] = {}  # pytest's --basetemp, by process (`_basetemp`)
        self._builders: set[int] = set()  # the project's build at run time, by process (`know`)
        # Under --enforce an EACCES or EPERM may be the policy's refusal, not the file's: such a
        # failure is never taken for one the program would meet anyway (harmless).
        self.enforced = enforced
        self.venvs = VenvDetector(journal)
        self.cmdlines: dict[int, str] = {}
        self._used: dict[int, str] | None = {} if journal else None  # pid -> the cmdline explained with
        # The run's start by the files' clock (databases.now): only a run's own classifier knows
        # it, and tells SQLite databases only read from written ones (databases.py).
        self.since = since
        # databases changed in the run otherwise than by their open: a journal, WAL or index
        # written beside them, or a write of the file itself (truncated, renamed, swapped...)
        self._changed: set[bytes] = set()
        self._databases: dict[bytes, bool] = {}  # database -> untouched since the start
        self._first: dict[bytes, tuple[int, int] | None] = {}  # database -> the file first found there
        self._read: set[bytes] | None = set() if journal else None  # those answered as only read
        self.know(processes)

    def holds(self) -> bool:
        """Every verdict given so far is the one the whole run gives (call after `know`)."""
        used = self._used
        if used is None or not self.venvs.holds():
            return False
        if not all(self.cmdlines.get(pid, "") == cmdline for pid, cmdline in used.items()):
            return False
        return all(p not in self._changed and self._untouched(p) for p in self._read or ())

    def settled(self) -> Classifier:
        """A classifier that knows what this one learnt (venvs, programs), without its answers."""
        fresh = Classifier(self.allowlist, enforced=self.enforced, since=self.since, home=self.home,
                           environment=self.environment, read_only=self.read_only)  # fmt: skip
        fresh.venvs = self.venvs.settled()
        fresh.cmdlines = dict(self.cmdlines)
        fresh._builders = set(self._builders)  # what `know` learnt of the programs, as their command lines
        fresh._basetemps = dict(self._basetemps)
        fresh._changed = set(self._changed)
        fresh._first = dict(self._first)  # the files first found: another one there since is no answer
        return fresh

    def learn(self, event: FileEvent) -> None:
        self.venvs.note(event)
        if not event.write:
            return
        if event.path.endswith(databases.SIDECARS):
            database = databases.database_of(event.path)
            if database is not None:
                self._changed.add(database)
        if event.op not in databases.OPENS:
            self._changed.add(event.path)
            if event.target is not None:
                self._changed.add(event.target)

    def _database(self, event: FileEvent) -> tuple[bool, bool]:
        """(a read-write open of a SQLite database, the run only read it) (databases.py). The
        second never under --enforce, whose refusal SQLite's read-only fallback would hide."""
        if not databases.candidate(event) or event.path in self._changed:
            return False, False
        path = event.path
        if event.failed:
            return event.errno in databases.REFUSED and databases.database(path, None) is not None, False
        if self.since is None or self.enforced:
            return False, False
        answer = self._databases.get(path)
        if answer is None:
            answer = self._databases[path] = self._untouched(path)
        if answer and self._read is not None:
            self._read.add(path)
        return answer, answer

    def _untouched(self, path: bytes) -> bool:
        """A database unchanged since the run's start, and the very file first found at `path`
        (not another mounted or renamed there since)."""
        found = databases.database(path, self.since)
        first = self._first.setdefault(path, found)
        return found is not None and found == first

    def _in_home_explained(self, event: FileEvent, venv: bytes | None, cmdline: str) -> Known | None:
        return explained_in_home(event, venv, cmdline, self._home)

    def _moved_explained(self, event: FileEvent, venv: bytes | None, cmdline: str) -> Known | None:
        """A write below a place a run's setting moved (uv's cache at UV_CACHE_DIR=/opt/uv-cache),
        read as at the place the table names: the known writer whose setting it is."""
        for name, moved, default in self._moved:
            if event.path == moved or event.path.startswith(moved + b"/"):
                seen = event._replace(
                    path=default + event.path[len(moved) :],
                    target=_as_root(event.target, moved, default),
                )
                known = explain(seen, venv, cmdline)
                if known is not None and (
                    any(setting == name for setting, _ in known.env) or _MOVED_WRITERS.get(name) == known.id
                ):
                    return known
        return None

    def know(self, processes: Iterable[ProcessInfo]) -> None:
        """The programs the command ran: explanations depend on which (uv run, uv pip...); a
        build backend `uv run` or `uv sync` started, and what it ran (a compiler), build the
        project at run time (UV_PROJECT_BUILD)."""
        for p in processes:
            cmdline = " ".join(p.cmdline)
            self.cmdlines[p.pid] = cmdline
            parent = self.cmdlines.get(p.ppid, "")
            if p.ppid in self._builders or (_UV_BACKEND.search(cmdline) and _UV_SYNCING.search(parent)):
                self._builders.add(p.pid)
            base = _basetemp(p)
            if base is not None:
                self._basetemps[p.pid] = base

    def _across_mounts(self, event: FileEvent, ro: str) -> str:
        """A rename or link between two mounts fails with EXDEV: between the read-only root and
        a writable mount, or two writable mounts. A link is refused EROFS first when its new
        name is on the read-only root (the kernel asks for write access to that mount before
        comparing the two); a rename compares the mounts first."""
        here, there = self.allowlist.mount_of(event.path), self.allowlist.mount_of(event.target or b"")
        if here is None or there is None or here == there:
            return ro
        if event.op == "link" and here == b"":
            return "EROFS"
        return "EXDEV"

    def permits(self, event: FileEvent) -> bool:
        """The allowlist allows the write: its path, and a rename's or a link's other name (a
        rename changes both ends; a hard link gives the existing file, `target`, a new name,
        through which it is written: linking a file the allowlist protects is a write). Never
        one the filesystem refused as read-only, nor one nobody can place."""
        if event.result == -_EROFS or event.unresolved or not _placed(event):
            return False
        if not self._allows(event.path, event):
            return False
        return event.op not in _MOVES or self._allows(event.target or b"", event)  # _placed: a target

    def _allows(self, path: bytes, event: FileEvent) -> bool:
        general = self._general and (path in self._general or path.startswith(self._below_general))
        if general or (self._merged and _GLOB_TEXT.search(path)):
            # never a glob matched against a glob's text: a directory rule holding it, or a glob
            # allowing every name it stands for
            if self.allowlist.allows_plainly(path) or not general:
                return self.allowlist.allows_plainly(path)
            stood = self._standing_for(path)
            return stood is not None and self.allowlist.covers_all(stood)
        return self.allowlist.allows_from(path, event.pid, event.tid)

    def _standing_for(self, path: bytes) -> tuple[Name, ...] | None:
        """A path through a merged trace's globs as the sets of characters of its names; None
        where a glob is none merge writes."""
        parts = path.split(b"/")
        names = [
            merged_name(os.fsdecode(part), b"/".join(parts[: i + 1]) in self._general)
            for i, part in enumerate(parts)
        ]
        return None if any(n is None for n in names) else tuple(n for n in names if n is not None)

    def classify(
        self, event: FileEvent, venv: bytes | None = None, known_venv: bool = False, only_read: bool = False
    ) -> Verdict:
        """`known_venv`: `venv` is the event's, as a saved verdict says; `only_read`: a saved
        verdict found it a SQLite database only read, when its run ended (`_only_read`)."""
        if not event.write:
            return Verdict(event, None, None)
        allowed = self.permits(event)
        if event.op == "mkdir" and event.errno == "ENOENT" and not event.unresolved:
            self._learn_way(event)
        if not known_venv:
            venv = self.venvs.venv_of(event.path, may_be_dir=event.op not in FILE_OPS)
            if venv is None and event.op == "rename" and event.target is not None:
                venv = self.venvs.venv_of(event.target)
        ro = forecast(event, allowed)
        if event.op in ("rename", "link") and event.target is not None and ro in ("ok", "EROFS"):
            ro = self._across_mounts(event, ro)
        if self.read_only and not event.unresolved and event.result is not None and event.result >= 0:
            ro = "ok"  # under the read-only root, and it went through
        # allowed or not: an allowed database only read needs no mount either
        database, only_read = (True, True) if only_read else self._database(event)
        if only_read:
            return Verdict(event, True, venv, ro, READ_ONLY_DATABASE, harmless=True)
        if event.unresolved and event.op in _MAKERS and event.errno in _NOT_MADE:
            # a name not made, wherever it was to be (its parent was missing, or the name there:
            # makedirs' threads racing to make them, a cwd another thread changed meanwhile):
            # nothing written, and the same failure under a read-only root (the lookup fails
            # before the filesystem is asked to write), not a violation
            return Verdict(event, True, venv, ro, None, harmless=True)
        if event.op == "access" and event.failed and event.errno != "EROFS" and not event.unresolved:
            # a check of writability that failed here fails under a read-only root too: the
            # command goes on as it did (EROFS is the one the forecast is about)
            return Verdict(event, True, venv, ro, None, harmless=True)
        if (
            not allowed
            and event.failed
            and ro == event.errno
            and ro not in (None, "EROFS")
            and not event.unresolved
            and not (self.enforced and (ro in _REFUSALS or (ro == "EXDEV" and event.op in _MOVES)))
        ):
            # mkdir of an existing directory and the like: the same failure under a read-only root
            return Verdict(event, True, venv, ro, None, harmless=True)
        known = None
        if venv is not None or not allowed:
            cmdline = self.cmdlines.get(event.pid, "")
            if self._used is not None and self._used.setdefault(event.pid, cmdline) != cmdline:
                self._used = None  # a process explained with two programs: not to be trusted
            # a place the run's setting moved is its writer's first (<UV_CACHE_DIR>/.tmpXXXXXX, the
            # cache lock's temporary file, is not uv's in $TMPDIR)
            known = self._moved_explained(event, venv, cmdline) if self._moved else None
            known = known or explain(event, venv, cmdline) or self._in_home_explained(event, venv, cmdline)
            known = known or (READ_ONLY_DATABASE if database else None)
            known = known or (self._ways.get((event.pid, event.path)) if event.op == "mkdir" else None)
            if event.op == "mkdir" and self._basetemps.get(event.pid) == event.path:
                known = PYTEST_BASETEMP
            if event.pid in self._builders and venv is None:  # (in the venv: uv's install of it)
                known = UV_PROJECT_BUILD
        return Verdict(event, allowed, venv, ro, known)

    def _learn_way(self, event: FileEvent) -> None:
        """A known writer's directory made where its parent was missing (uv's makedirs of
        ~/.local/share/uv/python in a home with no ~/.local: ENOENT, then each parent in turn):
        a directory above it that the writer then fails to make (a read-only root) is on its
        way, and the writer's (its fix named there)."""
        if len(self._ways) >= _WAYS:
            return
        cmdline = self.cmdlines.get(event.pid, "")
        known = explain(event, None, cmdline) or self._in_home_explained(event, None, cmdline)
        if known is None:
            return
        path = event.path
        while (up := os.path.dirname(path)) not in (path, b"/") and (event.pid, up) not in self._ways:
            self._ways[event.pid, up] = known
            path = up


_WAYS = 10_000  # the directories on a known writer's way a run keeps, at most
PYTEST_BASETEMP = BY_ID["pytest-basetemp"]
UV_PROJECT_BUILD = BY_ID["uv-project-build"]
# uv's PEP 517 frontend: `python -c "... import setuptools.build_meta as backend ..."`, started by
# a `uv run` or `uv sync` (not `uv build`, `uv pip`: a build asked for, packages installed)
_UV_BACKEND = Lazy(r"\bimport [\w.]+ as backend\b")
_UV_SYNCING = Lazy(r"(?:^|/)uv(?:\s+-\S+)*\s+(?:run|sync)\b")


def _basetemp(process: ProcessInfo) -> bytes | None:
    """The directory a pytest process was given as --basetemp, as it names it from its working
    directory (`--basetemp=bt`, `--basetemp bt`)."""
    argv = process.cmdline
    if not any("pytest" in arg for arg in argv[:3]) or process.cwd is None:
        return None
    for i, arg in enumerate(argv):
        value = arg.removeprefix("--basetemp=") if arg.startswith("--basetemp=") else None
        if arg == "--basetemp" and i + 1 < len(argv):
            value = argv[i + 1]
        if value:
            return os.path.normpath(os.path.join(process.cwd, os.fsencode(value)))
    return None


def _placed(event: FileEvent) -> bool:
    """Both of a write's names are places (pathnames.is_placed): a rename's or a hard link's
    target is a path too (a symlink's is what the link holds), and one of those without a target
    is none (a hand-made trace's)."""
    if not is_placed(event.path):
        return False
    return event.op not in ("rename", "link") or (event.target is not None and is_placed(event.target))
