"""The smallest set of writable mounts that makes a trace clean, and hides nothing.

Mounts are directories (tmpfs, emptyDir), never files; a container runtime creates a mount
point that the image lacks. The rules, built on what each directory held before the command
first wrote into it (recorded by the tracer):
- a write into a scratch directory (/tmp, /var/tmp, /dev/shm, /run) mounts that directory,
  unless the application lives there;
- a write into a directory the command created mounts its topmost created ancestor (per-run
  names such as `.tmpAbC123` are never mount points: their parent is);
- a write into a directory that existed mounts that directory, unless it held entries: an
  empty mount would hide them; but where all it holds is data the command keeps (a database it
  updates and its journal, a file appended to or saved over: `_only_data`) and the directory
  is a place for data (in the application's tree, under /var/lib, /srv...: `_seedable`), it is a
  persistent mount that starts with what it held (`seeded`: a Docker named volume is filled
  from the image; a claim must be filled first);
- never the working directory or its ancestors, a virtual environment or a directory holding
  one, or a system directory.
A directory the command builds under a temporary name and then renames into place (pytest's
cache, many atomic writers) is planned under its final name: with the final directory already
there (a mount point), such tools skip the build-and-rename. Writes that fail the same way
under a read-only root (mkdir of an existing directory) need nothing, nor do writes refused
here (EACCES, EPERM) by a command that carried on: a mount would change what it does; but for
a writer that never needs them (bytecode, `Known.tolerated`), whose setting and build step the
plan applies refused or not: one plan whoever runs the app, root, a user, a read-only root. A venv
the command made, or removed, is no venv a mount hides. chmod, chown and utime of a directory
change that directory: a mount there (or above) makes it writable, not one on its parent.

A mount point changes what some programs do (a new directory in a project changes its mtime;
an empty ~/.ipython starts a migration): where a known writer has a setting that moves its
writes to a scratch place or avoids them (explain/known.py: `env`, `build`), the plan applies
the setting (`env`, `build_steps`) and mounts the scratch place, not the original one; a directory
the command made only on the way to such a place (~/.cache for ~/.cache/pre-commit) needs nothing
then. Data a
program reads back (an SQLite database and its journal, a file opened for update that was
there before) is listed in `persistent`: a tmpfs loses it on a restart. What no mount can fix
is `blocked`, with what to change instead.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import shlex
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from rotrace.escape import is_plain, safe_text
from rotrace.events import FILE_OPS, METADATA_OPS, DirState, FileEvent
from rotrace.explain import KNOWN, Known, explain
from rotrace.explain.settings import RUN_SETTINGS, concerns
from rotrace.pathnames import (
    generalise,
    glob_regex,
    holder,
    is_general,
    is_placed,
    is_stamped,
    is_under,
    normal,
    outermost,
    program_name,
    text_of,
)
from rotrace.patterns import Lazy
from rotrace.policy import environments
from rotrace.policy.databases import database_of
from rotrace.policy.forecast import forecast
from rotrace.policy.mountpoints import SCRATCH, SYSTEM_DIRS, scratch_of
from rotrace.policy.moves import Moves
from rotrace.policy.verdict import Verdict, explained_in_home, home_elsewhere

_PROVIDED = (b"/dev/", b"/proc/", b"/sys/")  # the runtime provides these; writes there need nothing
_LOCK = Lazy(rb"(?:^|[/._-])lock(?:file)?$", re.IGNORECASE)
# Where a directory that held files may become a persistent mount that starts with them (the
# command keeping data there): the application's own tree (below its working directory) and
# the places data lives (FHS); never a directory of programs or configuration (/usr/local/bin,
# /etc/ssh), nor a home directory, whatever was opened there.
_DATA_ROOTS = ("/var/lib", "/var/log", "/var/opt", "/var/cache", "/srv", "/data", "/opt")
_SYSTEM_TREES = ("/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/boot", "/root", "/proc",
                 "/sys", "/dev", "/run", "/var/spool", "/var/mail")  # fmt: skip
_PROGRAM_TREES = (
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/boot",
    "/proc",
    "/sys",
    "/dev",
)
_NAMED = 3  # the places a note names, at most
_FILTERING = frozenset({"tox"})  # programs that hand their children a filtered environment
_UV_VENVS = 16  # the environments uv wrote into a plan looks at, at most
_TOLERATED = frozenset({"EACCES", "EPERM"})  # refused here too: a command that carried on met a failure
_SQLITE_SIDECAR = Lazy(rb"[^/]-(wal|journal|shm)$")  # beside a database the program keeps
_UPDATE = Lazy(r"\bO_RDWR\b|\bO_APPEND\b")


def _kept_name(raw: bytes) -> str:
    """The file a write keeps data in: a SQLite journal's or WAL's (gone once committed), its
    database's."""
    return text_of(_SQLITE_SIDECAR.sub(lambda m: m.group(0)[:1], raw))


_CREATED_FILES = 1 << 15  # files remembered as made by the command, at most (memory)
_OFFLINE_TREES = 64  # a writer's cache trees remembered, at most (one per UV_CACHE_DIR...)


@dataclass
class Blocked:
    """Writes that only a mount at `point` would allow, which must not be mounted over."""

    point: str
    path: str  # an example of the writes (generalised)
    reason: str
    count: int = 0
    # why, for a program: "venv" (in or over one), "system", "application" (over the app's
    # directory), "held" (only an empty mount's hiding what the directory held forbids it)
    kind: str = ""
    explanations: dict[Known, int] = field(default_factory=dict)  # known writer -> writes

    def describe(self) -> str:
        """One line for a person: where, what, why not, and the fixes that fit the writes."""
        writes = f"{self.count} writes, e.g. {self.path}" if self.count > 1 else self.path
        fixed = [(k, n, fix) for k, n in self.explanations.items() if (fix := k.fix_unmounted)]
        fixes = "; ".join(
            f"fix ({k.title}, {n}): {fix}" if len(fixed) > 1 else f"fix: {fix}"
            for k, n, fix in sorted(fixed, key=lambda kfn: -kfn[1])
        )
        return safe_text(
            f"cannot be made writable by a mount: {self.point} ({writes}): {self.reason}"
            + (f"; {fixes}" if fixes else "")
        )


class BuildStep(NamedTuple):
    """A command for the image's build: `template` with `{dir}`, the directories it is for (one
    command for all those of one interpreter), and `{python}`, the interpreter that wrote there
    (a venv's own: its bytecode is that interpreter's, `cpython-312`, whatever `python3` is in
    the image)."""

    template: str
    directories: tuple[str, ...]
    python: str

    def command(self) -> str:
        dirs = " ".join(shlex.quote(d) for d in self.directories)
        return self.template.format(dir=dirs, python=shlex.quote(self.python))


@dataclass
class MountPlan:
    """What a read-only root needs for the traced writes: mounts, plus the settings (env) that
    move writes to a writable place or avoid them, plus steps for the image's build; every export
    emits all three."""

    mounts: list[str] = field(default_factory=list)  # directories to make writable
    blocked: list[Blocked] = field(default_factory=list)
    settings: dict[Known, int] = field(default_factory=dict)  # known writers behind mounted writes
    env: dict[str, str] = field(default_factory=dict)  # settings to apply (NAME -> value)
    # those of `env` the plan chose (a known writer's, TMPDIR), not kept as the run had them: a
    # change to make, where the others are to keep
    changed: dict[str, str] = field(default_factory=dict)
    build_steps: list[str] = field(default_factory=list)  # shell commands for the image's build
    # each build step as data (`{dir}`, `{python}` in its template): --map rewrites the paths
    build: list[BuildStep] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # mounts the command made: absent from a fresh tree
    # of `created`, those the command needs to own: it changed their mode or owner (chmod 0700 of
    # a private directory), or made a git repository there (git refuses one another user owns); a
    # runtime's mount there is root's, where the run's own directory was its user's
    reowned: list[str] = field(default_factory=list)
    persistent: list[str] = field(default_factory=list)  # mounts whose data must survive a restart
    # persistent mounts over directories that held files before the run: the volume must start
    # with what the image holds there
    seeded: list[str] = field(default_factory=list)
    # places the command checked it may write (access W_OK) that no mount can make writable: the
    # check fails under any plan (a note says where the command then goes)
    unmet: list[str] = field(default_factory=list)
    # renames between two of the plan's mounts that no setting keeps on one ("SOURCE -> TARGET"):
    # they fail with EXDEV under the plan, unless the program then copies (a note says which)
    crossings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what a person should know about the plan
    # of `notes`, those on the application found in a scratch place: (the path they name, the
    # note), which no longer hold where --map puts that path elsewhere (export/mapping.py)
    scratch_app: list[tuple[str, str]] = field(default_factory=list)


# what a program keeps beside its data for itself alone, made again when missing: a lock, a
# .gitignore of its own, a cache's tag (uv's tool directory before any tool is installed)
_BOOKKEEPING = Lazy(r"\.?(?:[\w.-]+[._-])?lock(?:file)?|\.gitignore|CACHEDIR\.TAG")


def _bookkeeping_only(point: str) -> bool:
    """`point` holds files, each a regular file a program keeps for itself alone (`_BOOKKEEPING`):
    an empty mount there hides nothing the app needs."""
    try:
        with os.scandir(point) as entries:
            found = [(e.name, e.is_file(follow_symlinks=False)) for e in itertools.islice(entries, 16)]
    except OSError:
        return False
    return bool(found) and len(found) < 16 and all(plain and _BOOKKEEPING.fullmatch(n) for n, plain in found)


def _on(path: str, mounts: Iterable[str]) -> bool:
    """Whether `path` is on one of `mounts` (a place the plan makes writable)."""
    return any(is_under(path, m) for m in mounts)


def _interpreter(v: Verdict) -> str:
    """The interpreter a build step runs for a write of `v`'s writer: a venv's own (its
    bin/python, where the image has the venv: --map names it there), else the writer's by its
    versioned name (`python3.12`, found on the image's PATH: its bytecode is that version's,
    where the tracing machine's path to it says nothing of the image's)."""
    if v.venv is not None:
        return text_of(v.venv) + "/bin/python"
    name = program_name(v.event.exe) if v.event.exe else ""
    return name if re.fullmatch(r"python3\.[0-9]+", name) else "python3"


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
        self.refused_mkdirs: set[str] = set()  # directories whose making was refused here (EROFS, EACCES)
        self.removed: set[str] = set()  # directories the command removed
        self.symlinked: set[str] = set()  # names the command made as symbolic links
        # hash-keyed stores (git's objects/): a file named by a hash was written in a shard of each
        # (objects/e6/9de29b...), so a shard the command made there is the content's, not a place
        self.shard_stores: set[str] = set()
        self.disposable: set[str] = set()  # venvs the command made or removed: a mount hides none
        self.kept_data: set[str] = set()  # where the command keeps data (MountPlanner._keeps_data)
        # directories the command read a file in (a trace with the reads: --all-opens), or found
        # one where it would make it (EEXIST), bounded
        self.read_in: set[str] = set()
        # a merged trace's: those directories and the runs that read there (`_held_in_a_run`)
        self.read_by: dict[str, set[int]] = {}
        self.kept_files: set[str] = set()  # the files it keeps there
        # files it created or wrote anew, while there (not renamed away, not deleted; None: too many)
        self.made_files: set[str] | None = set()
        self.emptied: set[str] = set()  # directories it deleted an entry of
        self.home: str | None = None  # the run's HOME (MountPlanner.know_environment)
        self.cache_home: str | None = None  # its XDG_CACHE_HOME
        # a merged trace's: its runs, and those in which each name (a file, a directory) was made
        self.runs = 0
        self.made_in: dict[str, set[int]] = {}
        # files it made where none could be left from before the run: under a directory it made,
        # or after deleting that very name (None: too many to remember)
        self.fresh_files: set[str] | None = set()
        self._deleted: set[str] = set()  # the names of files it deleted (or found none at), for fresh_files
        # of those, the ones deleted or found missing (not only written whole) before a write there
        self.gone: set[str] = set()
        self.gone_known = True
        # directories it needs to own (MountPlan.reowned): their mode or owner changed, a .git made there
        self.reowned: set[str] = set()
        # files it deleted (a rotated log past its retention, an expired cache entry): its own
        # data, which the place's volume starts with where the place held them (`_data_place`)
        self.deleted_files: set[str] = set()
        # files it updated in place before anything showed the name fresh: what it read back may
        # be from before the run (MountPlanner._reads_back); None: too many to tell
        self.read_back: set[str] | None = set()
        self.programs: frozenset[str] = frozenset()  # the files the command ran (MountPlanner.know_run)
        # the caches of known writers that can run without the network (Known.offline), each
        # writer's trees; and those writers that did (MountPlanner.know_run): what such a cache
        # held is what the program reads, which it cannot fetch again
        self.offline_trees: dict[Known, set[str]] = {}
        self.offline: frozenset[Known] = frozenset()
        self.app: frozenset[str] = frozenset()  # those the command itself ran (not what it started)
        self._origins: dict[str, str] = {}  # the other way: where a renamed directory was made
        self._why_not: dict[str, tuple[str, str] | None] = {}  # (kind, reason), once per place
        # directory -> where `point` climbs from it, once all is learnt (None: not yet)
        self.climbs: dict[str, str] | None = None

    def learn_delete(self, e: FileEvent) -> None:
        made = self.made_files
        if made is None or os.fsdecode(e.path) not in made:  # a file of the run's own removed again
            self.emptied.add(written_directory(e, e.path))  # (SQLite's journal, a lock) empties nothing
        self.learn_gone(os.fsdecode(e.path))
        if len(self._deleted) < _CREATED_FILES:
            self._deleted.add(os.fsdecode(e.path))
            self.gone.add(os.fsdecode(e.path))
            self.deleted_files.add(os.fsdecode(e.path))
        else:
            self.fresh_files = None  # too many to tell
            self.gone_known = False

    def learn_gone(self, path: str) -> None:
        """A file the run made is no longer at `path` (deleted, renamed away)."""
        if self.made_files is not None:
            self.made_files.discard(path)

    def fresh_name(self, path: str, runs: Iterable[int] = ()) -> bool:
        """Nothing from before the run can be at `path` now: its directory was made by the run,
        or the run deleted that very name (or found nothing there), or wrote it anew. A merged
        trace's write of `runs`: its directory made in each of them (a cold run's mkdir says
        nothing of the warm run that found the directory there, whichever trace came first)."""
        if path in self._deleted:
            return True
        directory = os.path.dirname(path)
        return directory in self.created and self.made_in.get(directory, set()).issuperset(runs)

    def learn_absent(self, path: str) -> None:
        """The run found nothing at `path` (a delete that failed with ENOENT): what is there
        later, the run made."""
        if len(self._deleted) < _CREATED_FILES:
            self._deleted.add(path)
            self.gone.add(path)
        else:
            self.gone_known = False

    def was_gone(self, path: str) -> bool:
        """The run deleted that very name, or found nothing there, before it wrote it: a file
        written there is none the directory held (not known past a bound: taken as held)."""
        return self.gone_known and path in self.gone

    def learn_update(self, path: str, made_anew: bool, runs: Iterable[int] = ()) -> None:
        """An open of `path` for update in place (`made_anew`: truncated or exclusive, so the
        run wrote it whole)."""
        if made_anew:
            if len(self._deleted) < _CREATED_FILES:
                self._deleted.add(path)
        elif self.read_back is not None and not self.fresh_name(path, runs):
            if len(self.read_back) >= _CREATED_FILES:
                self.read_back = None
            else:
                self.read_back.add(path)

    def learn_create(self, path: str, runs: Iterable[int] = ()) -> None:
        made, fresh = self.made_files, self.fresh_files
        if made is not None:
            if len(made) >= _CREATED_FILES:
                self.made_files = None
            else:
                made.add(path)
        if fresh is not None and self.fresh_name(path, runs):
            if len(fresh) >= _CREATED_FILES:
                self.fresh_files = None
            else:
                fresh.add(path)

    def learn_renames(self, renames: Iterable[tuple[str, str]]) -> None:
        for source, target in renames:
            # renaming a directory succeeds only onto a missing or empty one: nothing to hide
            if source in self.created:
                self.moved[source] = target
                self._origins[target] = source
                self.created.add(target)

    def settle_venvs(self, renames: Iterable[tuple[str, str]]) -> None:
        """Which venvs are the command's own: made in the run (under any name, or in a directory
        found empty: a mount point made for it, as a plan's), or removed by it (pytest renames
        old directories to garbage-* and deletes them). Hiding those under an empty mount hides
        nothing the command needs."""
        every = dict(renames)
        back = {target: source for source, target in every.items()}
        self.disposable = set()  # what the whole run says (not the answers given before its end)
        for venv in self.venvs:
            names = {venv, self.origin(venv), _renamed(venv, every), _renamed(venv, back)}
            if self.in_scratch(venv) or any(self._made_venv(n) or self._removed(n) for n in names):
                self.disposable.add(venv)
        self.venvs -= self.disposable
        self._why_not.clear()

    def disposable_so_far(self, venv: str) -> bool:
        """`settle_venvs`'s answer for one venv from what is known so far (no renames settled)."""
        return self.in_scratch(venv) or self._made_venv(venv) or self._removed(venv)

    def _made_venv(self, venv: str) -> bool:
        return self.made_by_command(venv) or self.states.get(venv) in _FOUND_EMPTY

    def in_scratch(self, path: str) -> bool:
        """Whether `path` is in a scratch place the plan mounts empty (the application not in
        it): a container's starts empty too, so a venv found there (an earlier run's: `tox
        --workdir /tmp/tox`) is not the image's, and the command must make it again anyway."""
        scratch = scratch_of(path)
        return scratch is not None and not self.app_in(scratch)

    def app_in(self, place: str) -> bool:
        """Whether the application is in `place`: the working directory, or a file the command
        itself ran (an interpreter in a venv there, a script), which an empty mount there would
        hide. Not one a program it started ran: tox's environment left in /tmp is made again."""
        return bool(self.cwd and is_under(self.cwd, place)) or any(is_under(p, place) for p in self.app)

    def _removed(self, path: str) -> bool:
        while path not in ("/", ""):
            if path in self.removed:
                return True
            path, above = os.path.dirname(path), path
            if path == above:  # (`//`, whose directory is itself)
                break
        return False

    def made(self, path: str) -> bool:
        """`path` was made by a mkdir of the run that succeeded (under its name of then)."""
        return path in self.created or self.origin(path) in self.created

    def is_directory(self, path: str) -> bool:
        """`path` is (or was made as) a directory: made by a mkdir of the run, recorded as one,
        or one now."""
        if self.made(path):
            return True
        state = self.states.get(path)
        if state is not None:
            return state != DirState.ABSENT
        return os.path.isdir(path)

    def final(self, path: str) -> str:
        """Where `path` ends up once the directories it lies in were renamed into place."""
        return _renamed(path, self.moved)

    def origin(self, path: str) -> str:
        """Where `path` was made, before the directories it lies in were renamed into place
        (the recorded states and the created directories carry the names of then)."""
        return _renamed(path, self._origins)

    def made_by_command(self, directory: str) -> bool:
        """Made by the run: by a mkdir of it, or absent when the run first wrote there, or a
        symbolic link the run made (uvx's environments-v2/H/E, to a venv it built: its name is
        new, whatever it points to)."""
        if self.made(directory) or directory in self.symlinked:
            return True
        return DirState.ABSENT in (self.states.get(directory), self.states.get(self.origin(directory)))

    def point(self, directory: str) -> str:
        scratch = scratch_of(directory)
        if scratch is not None and not self.app_in(scratch):
            return scratch  # a tmpfs there is what everyone expects (not over the app, though)
        directory = self.cache_of(directory) or directory
        climbs = self.climbs
        if climbs is not None and directory in climbs:
            return climbs[directory]
        below = directory
        sharded = False  # climbed out of a per-run name or a shard: a shard above is the same fan-out
        while directory != (parent := os.path.dirname(directory)):
            name = os.path.basename(directory)
            shard = _SHARD.fullmatch(name) is not None and (
                sharded
                or _SHARD.fullmatch(os.path.basename(parent)) is not None
                or parent in self.shard_stores
            )
            # a per-run name is climbed out of, unless it is a directory of before the run (the
            # application's, in a CI checkout named by tempfile): its name is the next run's too;
            # not a date's or a time's (an earlier run's of the same day)
            general = is_general(name) and not (
                (self.cwd and is_under(self.cwd, directory))
                or (self.states.get(directory) in (DirState.CONTENT, *_FOUND_EMPTY) and not is_stamped(name))
            )
            if not (
                general
                or shard
                or (self.made_by_command(directory) and self.made_by_command(parent))
                or directory in self.removed  # a mount point cannot be removed: its parent must be writable
                or (self.made_by_command(directory) and self._empty_before(parent))
            ):
                break
            sharded = shard or general
            directory = parent
            if climbs is not None and directory in climbs and not sharded:  # (an answer from below a
                directory = climbs[directory]  # shard's own parent stops at the shard, not above it)
                break
        if climbs is not None:
            climbs[below] = directory
        return directory

    def _empty_before(self, directory: str) -> bool:
        """`directory` was there and empty when the run first wrote in it, and an empty mount
        there would break nothing: a directory the command makes in it is better mounted there
        (a runtime makes a mount point before the command starts, and `cookiecutter -o out`, a
        shell's `mkdir`, give up where their directory is there already). Not a home or a
        hidden directory: the image's has its owner and what the user keeps there, which the
        tracing machine's empty one says nothing of."""
        if (
            self.states.get(directory) not in _FOUND_EMPTY
            or _home_or_hidden(directory)
            or directory == self.home
        ):
            return False
        return self.refusal(directory) is None

    def held_content(self, directory: str) -> bool:
        """Whether `directory` held files the image ships before a run wrote there: never one
        in a directory the command made, however deep (what a run found there, an earlier run
        left: an experiment's directory an untraced run made in a store a traced one made)."""
        up = directory
        while True:
            if self.made_by_command(up):
                return False
            if (parent := os.path.dirname(up)) == up:
                break
            up = parent
        state = self.states.get(directory)
        if state is None:  # not recorded (an older trace): what is there now, to be safe
            try:
                return any(os.scandir(directory))
            except OSError:
                return False
        return state == DirState.CONTENT

    @staticmethod
    def holds_only(directory: str, names: tuple[str, ...]) -> bool:
        """Whether every entry `directory` holds is one of `names` (what a setting keeps read
        where it is): not where it cannot be read (a trace planned on another machine)."""
        try:
            with os.scandir(directory) as entries:
                return all(entry.name in names for entry in entries)
        except OSError:
            return False

    def forbidden(self, point: str) -> str | None:
        """Why an empty mount at `point` would break the app, or None if it would not (asked
        for every write: answered once per place, which may read the filesystem)."""
        why = self.refusal(point)
        return None if why is None else why[1]

    def refusal(self, point: str) -> tuple[str, str] | None:
        """(kind, reason) of `forbidden`: the kind names it for a program (Blocked.kind)."""
        if point not in self._why_not:
            self._why_not[point] = self._forbidden(point)
        return self._why_not[point]

    def _forbidden(self, point: str) -> tuple[str, str] | None:
        venvs = self.venvs - self.disposable if self.disposable else self.venvs  # before settle_venvs
        if any(is_under(point, v) for v in venvs):
            return "venv", "a mount over a virtual environment hides the environment"
        if point in SYSTEM_DIRS:
            return "system", f"{point} is a system directory: an empty mount there hides what the image holds"
        if self.cwd and is_under(self.cwd, point):
            return "application", (
                f"a mount over {point} hides the application directory ({self.cwd}); "
                "keep what must be writable out of the application directory"
            )
        for v in sorted(venvs):
            if is_under(v, point):
                return "venv", f"a mount over {point} hides the virtual environment {v}"
        held_offline = self.held_offline(point)
        if held_offline is not None:
            known, tree = held_offline
            return "held", (
                f"a mount over {point} hides {tree}, which held files before the run that {known.who}, run"
                " offline, reads and cannot fetch again: ship it in the image as it must be, and keep"
                " what it writes there elsewhere, or mount a volume there that starts with what the image"
                " holds"
            )
        if point not in SCRATCH and self.held_content(point) and not self._data_place(point):
            if self._remade(point) or self.in_cache_home(point) or _bookkeeping_only(point):
                return None
            if self._unseen_data_place(point):
                return "held", (
                    f"{point} held files before the run and is not on this machine, where all it holds is"
                    " read to tell whether it is only the data the command keeps (then a persistent"
                    " volume filled with it): make the plan where the app is installed"
                )
            keeps_private = point in self.kept_data and _home_or_hidden(point)
            if not keeps_private and not os.path.lexists(point):
                return "held", (
                    f"{point} held files before the run and is not on this machine, where what it holds"
                    " would be read to tell whether an empty mount hides anything the app needs: make"
                    " the plan where the app is installed"
                )
            held = f"{point} held files before the run: an empty mount over it would hide them"
            if keeps_private:  # data, where none is seeded (the rule holds on any machine)
                held += (
                    "; the command keeps data there, but a hidden directory (or a home) is never a"
                    " persistent volume filled with what it holds (it may hold keys, settings, a"
                    " repository): point the program's data or cache directory elsewhere in the app"
                )
            return "held", held
        return None

    def cache_of(self, directory: str) -> str | None:
        """The program's own directory in the cache home that `directory` lies in (pip's
        ~/.cache/pip, tldextract's ~/.cache/python-tldextract), where an empty mount is the
        plan (`in_cache_home`): a mount deeper in it hides the cache a warm run read, and the
        program refills it elsewhere in its tree (tldextract's urls/ beside the
        publicsuffix.org-tlds/ whose lock a warm run took)."""
        for cache in (self.cache_home, self.home and self.home + "/.cache"):
            if cache and directory != cache and is_under(directory, cache):
                top = cache.rstrip("/") + "/" + directory[len(cache.rstrip("/")) + 1 :].partition("/")[0]
                if self.in_cache_home(top):
                    return top
        return None

    def held_offline(self, point: str) -> tuple[Known, str] | None:
        """The cache of a writer that ran offline (`offline`) that a mount at `point` would hide
        (it is the cache, in it or above it), where that part held files before the run."""
        for known in sorted(self.offline, key=lambda k: k.id):
            for tree in sorted(self.offline_trees.get(known, ())):
                if is_under(tree, point) and self.held_content(tree):
                    return known, tree
                if is_under(point, tree) and self.held_content(point):
                    return known, tree
        return None

    def in_cache_home(self, point: str, itself: bool = False) -> bool:
        """Below the run's cache directory ($XDG_CACHE_HOME, else ~/.cache), where programs keep
        what they fetch or make again: an empty mount hides a cache, which the run then fills
        (pdm's HTTP cache, in a home the known writers' table does not name). `itself`: the
        cache directory too (a cold run makes ~/.cache, where a warm one writes below it: its
        caches' data survives a restart in neither)."""
        caches = [c for c in (self.cache_home, self.home and self.home + "/.cache") if c]
        caches = [c for c in caches if not self.app_in(c)]  # a cache home that holds the app is none
        # nor a place holding a program the run ran (a browser installed in ~/.cache/ms-playwright)
        return any((itself or point != c) and is_under(point, c) for c in caches) and not any(
            is_under(p, point) for p in self.programs
        )

    def _remade(self, point: str) -> bool:
        """The command deleted entries of `point`, and all it holds now (read when the plan is
        made) the command made where nothing could be left from before the run: directories by
        a mkdir of the run, files under those or after deleting that very name. It emptied the
        directory and filled it again, as a build cleans its output first, so an empty mount
        hides nothing it needs. A file rewritten in place without being deleted first (read
        first, for all the trace says), appended to or updated, a symlink, or a plan made where
        the tree is not, is not that."""
        fresh = self.fresh_files
        if fresh is None or not any(is_under(d, point) for d in self.emptied):
            return False
        seen, below = 0, [point]  # walked without recursion: a chain of directories may be deep
        try:
            while below:
                with os.scandir(below.pop()) as entries:
                    for entry in entries:
                        seen += 1
                        if seen > _CREATED_FILES:
                            return False
                        if entry.is_dir(follow_symlinks=False):
                            if entry.path not in self.created:
                                return False
                            below.append(entry.path)
                        elif entry.is_symlink() or entry.path not in fresh or entry.path in self.kept_files:
                            return False
        except OSError:
            return False
        return True

    def _unseen_data_place(self, point: str) -> bool:
        """A place that would be a data place (`_data_place`) but for what it holds, which
        cannot be read because it is not here (the trace made on another machine)."""
        return (
            point in self.kept_data
            and self._seedable(point)
            and not any(is_under(p, point) for p in self.programs)
            and not os.path.lexists(point)
        )

    def _data_place(self, point: str) -> bool:
        """A directory that held files may be a persistent mount that starts with them only
        where all it holds is the data the command keeps (`_only_data`: each file one it
        updated, appended to or saved over, or a journal beside one), in a place for data
        (`_seedable`), and no program the command ran lies in it. Anything else there (a
        template, a plugin, a hard link, a subdirectory, a mount) would be made writable, and
        kept, along with the data."""
        if not self._seedable(point) or any(is_under(p, point) for p in self.programs):
            return False
        if point not in self.kept_data:
            return self._outputs_of_runs(point)
        kept = self.own_files()
        # a merged trace's names are globs of its runs' (supervisord's child-[a-z0-9_]{8}.log):
        # the file a run left there is one of them, where a run made the directory (else a file
        # it held before, shipped code the glob happens to match, would be taken for data)
        made = self.runs > 1 and bool(self.made_in.get(point))
        globs = [glob_regex(k) for k in kept if "[" in k and is_under(k, point)] if made else []
        return _only_data(point, kept, globs)

    def own_files(self) -> set[str]:
        """The files that are the command's own data where it keeps data (`_only_data`): those it
        kept, made or deleted."""
        return self.kept_files | (self.made_files or set()) | self.deleted_files

    def holds_runs_outputs(self, point: str) -> bool:
        """A persistent place for the earlier runs' outputs alone (`_outputs_of_runs`), not for
        data the command keeps."""
        return point not in self.kept_data and self.held_content(point) and self._outputs_of_runs(point)

    def not_kept(self, point: str) -> str | None:
        """What in `point`, where the command keeps data, is no data it keeps (`not_data`), in a
        place for data (`_seedable`): what stands between it and a seeded volume (read when the
        plan is made: a refusal's reason is not, for the placements made while the command runs
        are checked against the end's)."""
        if point not in self.kept_data or _home_or_hidden(point):
            return None
        if not self._seedable(point) or any(is_under(p, point) for p in self.programs):
            return None
        found = not_data(point, self.own_files())
        return None if found == point else found

    def _outputs_of_runs(self, point: str) -> bool:
        """All `point` holds is directories of per-run names (hydra's outputs/2026-12-06, a
        tool's runs/run-20261206T1350), and the run made one more in it (or below one: a second
        run of the day): the earlier runs' outputs, kept with the next one's (a persistent volume
        filled with them), not the app's."""
        made = (c for c in self.created if c != point and is_under(c, point))
        if not any(is_general(os.path.basename(c)) for c in made):
            return False
        try:
            with os.scandir(point) as entries:
                held = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
        except OSError:
            return False
        return bool(held) and all(is_dir and is_general(name) for name, is_dir in held)

    def _seedable(self, point: str) -> bool:
        """In the application's tree (below a working directory that is neither `/` nor a
        directory of the system's top, a home, nor in a tree of the system's: an image's
        `WORKDIR /app` is one) or under a place for data (_DATA_ROOTS); never in a tree of
        programs or configuration (/etc, /usr...), a home itself, or a hidden directory (~/.ssh,
        ~/.config, .git)."""
        if any(is_under(point, tree) for tree in _SYSTEM_TREES) or _home_or_hidden(point):
            return False
        cwd = self.cwd
        app = cwd.startswith("/") and cwd not in SYSTEM_DIRS and not _home_or_hidden(cwd)  # not /, /var...
        app = app and not any(is_under(cwd, tree) for tree in _SYSTEM_TREES)
        if app and point != cwd and is_under(point, cwd):
            return True
        return any(point != root and is_under(point, root) for root in _DATA_ROOTS)

    def seeded(self, point: str) -> bool:
        """A mount over a directory that held files, allowed because the command keeps data
        there: its volume must start with them."""
        if point in SCRATCH:
            return False
        if self.held_content(point):
            return self._data_place(point)
        return self._held_in_a_run(point) and self._kept_since_made(point)

    def _kept_since_made(self, point: str) -> bool:
        """A merged trace's directory that some runs made and the others found holding files,
        where the command keeps data (updates it in place) or met its files again (read them
        back in a trace with the reads, --all-opens: uploads served again; found one there
        where it would make it, O_EXCL: the next free name): they found what the runs before
        them left, and went on from it.
        Where it is not on this machine (a fresh checkout, as before the runs that made it)
        there is nothing from before to read, and nothing to copy in: the volume keeps the data
        from the first run on; nor where a run made it (what it holds now, runs left, traced or
        not: the same plan with their output left here or not). Where it is, and no run made it,
        all it holds must be that data (`_data_place`), unless the runs read it back."""
        read = self.reads_back_in(point)
        if os.path.lexists(point) and not read and not self.made_in.get(point):
            # (a directory a run made held nothing before it: what is there now, runs left,
            # traced or not, the next upload after them; not files shipped with the app)
            return self._data_place(point)
        return (
            (read or (self.keeps_data_in(point) and self._made_only_data(point)))
            and self._seedable(point)
            and not any(is_under(p, point) for p in self.programs)
        )

    def _made_only_data(self, point: str) -> bool:
        """What the runs made in `point`, as the trace tells it where the directory is not here to
        read: files and directories of their own (`_only_data` takes them so in what a
        directory holds), no symbolic link, and none past what the trace can tell: the same
        plan, whether the runs' output is left on this machine or not."""
        return self.made_files is not None and not any(is_under(s, point) for s in self.symlinked)

    def keeps_data_in(self, point: str) -> bool:
        """Data the command keeps is at or below `point` (a database in state/db/ of a mount at
        state/)."""
        return any(is_under(d, point) for d in self.kept_data)

    def reads_back_in(self, point: str) -> bool:
        return any(is_under(d, point) for d in self.read_in)

    def learn_read(self, path: str, runs: Iterable[int] = ()) -> None:
        directory = os.path.dirname(path) or "/"
        if len(self.read_in) < _CREATED_FILES:
            self.read_in.add(directory)
        if runs and (directory in self.read_by or len(self.read_by) < _CREATED_FILES):
            self.read_by.setdefault(directory, set()).update(runs)

    def reads_own_in(self, point: str) -> bool:
        """A run read files back in a directory it made at or below `point`, or found empty (an
        image's `RUN mkdir -p data`), recorded with --all-opens: nothing was there before the
        run, so it read what it wrote (uploads served again, a build's outputs, a journal),
        which a mount that starts empty loses on a restart."""
        for read in self.read_in:
            directory = read
            while is_under(directory, point):
                if (
                    self.made(directory)
                    or self.made_in.get(directory)
                    or self.states.get(directory) == DirState.EMPTY
                ):
                    return True
                if directory == point:
                    break
                directory = os.path.dirname(directory)
        return False

    def earlier_runs_left(self, point: str) -> bool:
        """A merged trace's directory some runs made that others found holding files (what the
        runs before them left there), kept by no volume: a restart loses what it holds."""
        return self._held_in_a_run(point) and not self.seeded(point)

    def read_back_by_later_runs(self, directory: str) -> bool:
        """A merged trace's directory some runs made, in which the others read a file."""
        made = self.made_in.get(directory, set())
        return bool(made) and any(runs - made and is_under(d, directory) for d, runs in self.read_by.items())

    def _held_in_a_run(self, directory: str) -> bool:
        """A merged trace's directory that held files before some run, made by others (a cold
        run and a warm one): the data it keeps survives from one run to the next. A run that
        wrote only further down (runs/1/RUN/ made in a runs/1 already there) says so by the
        directory below it that it found."""
        if self.runs < 2 or len(self.made_in.get(directory, ())) >= self.runs:
            return False
        if self.states.get(directory) in (DirState.CONTENT, DirState.FILLED):
            return True
        if self.read_back_by_later_runs(directory):  # (mitmproxy's CA, read back by the runs after)
            return True
        found = (DirState.CONTENT, *_FOUND_EMPTY)
        return any(
            state in found and d != directory and is_under(d, directory) for d, state in self.states.items()
        )


# Found empty when a run first wrote there: a merged trace's FILLED too, which the tree the runs
# started from had empty (what it held later is what the runs before left).
_FOUND_EMPTY = (DirState.EMPTY, DirState.FILLED)


def _only_data(
    directory: str, kept: set[str], globs: list[re.Pattern[str]] | None = None, depth: int = 0
) -> bool:
    """All `directory` holds (read when the plan is made) is the data the command keeps or
    wrote: each entry a regular file, with one link, no execute, set-user-ID or set-group-ID
    bit, that the command kept (updated, appended to, saved over), made or deleted (a rotated
    log past its retention: the command's own, whatever it holds), or a SQLite journal,
    WAL or index beside one, or a subdirectory holding only such (an empty one: `out/` shipped
    for the files the command makes there, which the volume then starts with). A symlink, a
    hard link, a device, a program, or a file the command did not keep, is not data it keeps;
    nor is what cannot be read (the plan made on another machine, a directory the user cannot
    list): a place is seeded only where it was seen."""
    return not_data(directory, kept, globs, depth) is None


def not_data(
    directory: str, kept: set[str], globs: list[re.Pattern[str]] | None = None, depth: int = 0
) -> str | None:
    """The first entry of `directory` that is no data the command keeps (`_only_data`), the
    directory itself where it cannot be read or lies too deep; None: all of it is."""
    if depth > _DATA_DEPTH:
        return directory
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    found = not_data(entry.path, kept, globs, depth + 1)
                    if found is not None:
                        return found
                    continue
                if not entry.is_file(follow_symlinks=False):
                    return entry.path
                st = entry.stat(follow_symlinks=False)
                if st.st_nlink != 1 or st.st_mode & 0o6111:
                    return entry.path
                path = entry.path
                database = database_of(os.fsencode(path))
                named = path in kept or any(g.fullmatch(path) for g in globs or ())
                if not named and (database is None or os.fsdecode(database) not in kept):
                    return path
    except OSError:
        return directory
    return None


_DATA_DEPTH = 8  # how deep a place's data is looked for: deeper, it is no place of data files


# A hash's first characters: the fan-out of a cache keyed by hashes (git's objects/ab/, scrapy's
# httpcache/SPIDER/80/FINGERPRINT, pip's http-v2/a/b/c/d/e/). Which shard a run writes depends
# on what it fetched: the next run writes another, so the mount goes above them all.
_SHARD = Lazy(r"[0-9a-f]{1,3}")


def writer_top(v: Verdict, directory: str) -> str | None:
    """The top of the known writer's tree when it has one (a cache's root: the writer renames
    across its subdirectories, which separate mounts would refuse with EXDEV), if `directory`
    is in it."""
    known = v.explanation
    if known is None or known.root is None:
        return None
    m = re.search(known.root, directory)
    return next((g for g in m.groups() if g), None) if m else None


def _cache_tree(v: Verdict) -> str | None:
    """The known writer's tree the write is in: its root (a cache's, whatever UV_CACHE_DIR
    named it), else where its setting moves it from."""
    return writer_top(v, text_of(v.event.path)) or setting_top(v)


def _example(v: Verdict, raw: bytes) -> str:
    """A write's path as the example of its place: the name itself in one run's trace; in a
    merged trace's, as a glob (its per-run names are each run's own)."""
    return generalise(raw) if v.runs else text_of(raw)


def setting_top(v: Verdict) -> str | None:
    """Where the known writer's setting moves a write from: the directory its path's pattern
    names (~/.ipython for ~/.ipython/profile_default/startup, made on the way), so that a
    tree the setting moves is one place in the report."""
    known = v.explanation
    if known is None or not known.env:
        return None
    path = text_of(v.event.path)
    m = re.search(known.path, path)
    if m is None:
        return None
    if m.end() == len(path) and v.event.op != "mkdir" and not known.path.endswith("(/|$)"):
        return os.path.dirname(path) or "/"  # the pattern names the file itself
    # (a pattern of a directory's, `/\.ipython(/|$)`, names it: an access(W_OK) of ~/.ipython)
    return path[: m.end()].rstrip("/") or "/"


def _store_of(raw: bytes | None) -> str | None:
    """The hash-keyed store a file named by a hash in a shard is in (git's .git/objects for
    objects/e6/9de29b...), else None."""
    if raw is None:
        return None
    path = text_of(raw)
    shard = os.path.dirname(path)
    if _SHARD.fullmatch(os.path.basename(shard)) and is_general(os.path.basename(path)):
        return os.path.dirname(shard)
    return None


def _above_shard(raw: bytes, directory: str) -> str:
    """The directory a write's mount is looked for from: its own, or for a file named by a hash
    in a shard of a hash-keyed cache (git's objects/ab/SHA1, pip's .../e/SHA224), the shard's
    parent (MountPlanner.point climbs the rest of the fan-out)."""
    if _SHARD.fullmatch(os.path.basename(directory)) and is_general(text_of(os.path.basename(raw))):
        return os.path.dirname(directory)
    return directory


def _home_or_hidden(path: str) -> bool:
    """A home directory itself (/home/NAME), or a path through a hidden directory."""
    parts = path.strip("/").split("/")
    return (len(parts) == 2 and parts[0] == "home") or any(p.startswith(".") for p in parts)


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


def _meant(v: Verdict, enforced: bool) -> bool:
    """The call counts for what it meant to do: it went through, or what refused it is what the
    plan lifts: a read-only root (EROFS, `--read-only`), or the allowlist Landlock enforced
    (`--enforce`: a violation refused with EACCES or EPERM, EXDEV for a rename or link). The
    same command traced either way then gets the same plan."""
    errno = v.event.errno
    return errno is None or errno == "EROFS" or (enforced and v.denied)


def _updates(v: Verdict, enforced: bool) -> bool:
    """An open that updates a file in place, if the file was there (O_APPEND or O_RDWR, never
    O_TRUNC or O_EXCL; with O_CREAT too: `open(p, "a")`, a shell's `>>`, SQLite), other than a
    lock file's. Whether it was there is not known: in a directory that held files, the data
    a mount must keep."""
    e = v.event
    flags = e.flags or ""
    return (
        _meant(v, enforced)
        and e.op in ("open", "create")
        and _UPDATE.search(flags) is not None
        and "O_TRUNC" not in flags
        and "O_EXCL" not in flags
        and not _LOCK.search(e.path)
    )


_AT_BUILD = "the image's build is made there at each start: it belongs in the image, not on a mount"


def _needs_mount(v: Verdict) -> bool:
    """A write a read-only root would refuse (EROFS), outside what the runtime provides; or a
    rename between the read-only root and a writable place (EXDEV: `os.replace` of a temporary
    file made in /tmp, a message moved out of an app's queue directory), whose end on the root
    needs a mount as much (the crossing of two mounts is noted: `_crossings`).

    A violation's forecast was made when it was classified (it is in the trace); an allowed
    write's is made here, as if it were not allowed."""
    e = v.event
    if not e.write or v.harmless or e.path.startswith(_PROVIDED):
        return False
    ro = v.ro_forecast if v.violation else forecast(e, writable=False)
    return ro == "EROFS" or (ro == "EXDEV" and v.violation)


@dataclass
class _Checks:
    """Checks of writability no mount can meet: an example, the program, how many."""

    example: str
    program: str
    count: int = 0


# A crossing's end on no mount of the plan: a file of the read-only root (`_crossings`)
ROOT_SIDE = "the read-only root"


class Placement(NamedTuple):
    """Where one write needs a writable mount, and why there can be none (None: there can)."""

    point: str
    reason: str | None


_UNPLACED = "writes rotrace could not place"
_UNPLACED_WHY = (
    "their paths are not where they wrote (the path changed while the call ran, rotrace could not read"
    " it, or the trace holds a path that is not absolute and normalised): no mount is planned for them"
)


# The longest TMPDIR a plan sets: multiprocessing's listener is TMPDIR/pymp-XXXXXXXX/listener-XXXXXXXX
_TMPDIR_LONGEST = 64

# What a persistent mount that starts with the files its directory held asks of its runtime
# (kube harden seeds a claim itself: it says so instead)
SEED_ADVICE = (
    "one that starts with the files the directory held before the run (a Docker or Compose named volume"
    " is filled from the image; a persistentVolumeClaim starts empty: copy them in first)"
)

# The settings a plan applies for known writers, as it writes them: kept where a run had them
_OWN_SETTINGS = frozenset(setting for known in KNOWN for setting in known.env)
# settings that hold a program's options: the run's and the plan's are both kept
_OPTION_LISTS = frozenset({"PYTEST_ADDOPTS"})


def _own_setting(name: str, value: str) -> bool:
    """A plan's own setting, as it writes it: alone, or after the run's options it kept
    (`_join_options`), which hold no field a secret may be in."""
    for own, wanted in _OWN_SETTINGS:
        if own == name and (value == wanted or value.endswith(f" {wanted}")):
            rest = value.removesuffix(wanted)
            return value == wanted or not ("=" in rest or ";" in rest or "***" in rest)
    return False


_EARLY_LIMIT = 1 << 15  # answers an early placing notes at most (memory); past it, it stops


class _Early:
    """What `MountPlanner.place` answered while the command ran, before the run's end was known
    (each answer that the rest of the run, its end or the filesystem may change), for
    `MountPlanner.early_holds` to ask again once it is: per directory, venv and place. A write's
    forecast, which reads the filesystem, is what it was as the write came: not asked again."""

    def __init__(self) -> None:
        self.tolerates: set[bool] = set()  # refused writes tolerated, under the run's end unknown
        self.disposable: dict[str, bool] = {}  # venv -> a mount hides nothing of it
        # venvs learnt, not yet answered for: each once the write it was learnt with is placed
        self.unanswered: deque[tuple[int, str]] = deque()
        self.learnt = self.placed = 0  # writes learnt, and placed
        self.wrote: list[tuple[Verdict, bool]] = []  # Verdict.wrote, likewise (the report's)
        self.answers: dict[tuple[str, str], bool] = {}  # (question, path) -> answer
        self.refusals: dict[str, tuple[str, str] | None] = {}
        self.offline: dict[Known, bool] = {}  # a writer that can run offline -> known to, when first placed
        self.size = 0

    def full(self) -> bool:
        self.size += 1
        return self.size > _EARLY_LIMIT


class MountPlanner:
    """Two passes over a run's verdicts: `learn` each (what the command created and removed,
    where its venvs are, which directories it renamed into place), then `place` each; `plan()`
    is the result. Memory stays with directories, not events.

    `run` places each write as it arrives (`place_early`), beside `learn`: the second pass made
    while the command runs, each answer that the rest of the run may change noted; at the end,
    `early_holds` asks each again of the whole run (per directory, not per write) and says
    whether the placements stand, else they are made again (the second pass, as after a trace)."""

    def __init__(
        self, cwd: str, states: dict[bytes, DirState] | None = None, *, enforced: bool = False
    ) -> None:
        """`enforced`: the run was under --enforce (`learn` counts its refusals for what they
        meant: `_meant`); `know_run` says it again with the rest of how the run went."""
        self._planner = _Planner(cwd, states or {}, set(), set())
        self._states_known = states is not None  # what directories held: a run's are known at its end
        self._rewrites: list[tuple[str, str]] = []  # files written whole before then (`_rewrote`)
        self._renames: list[tuple[str, str]] = []
        self._moves = Moves()  # the renames and hard links, for the notes on moves across mounts
        self._learnt = False
        self._enforced = enforced
        self._command_failed = False
        self._early: _Early | None = None
        # the policy's persistent places (know_persistent), deepest first: the run's, kept when
        # the placements are made again (`unplace`)
        self._given: list[str] = []
        self._asked = False
        self._unheld: list[str] = []  # crossings no setting fixes (MountPlan.crossings), as `_notes` finds
        self._reset()
        # a directory the command made -> the writes under it: their known writer when its setting
        # moves them elsewhere, else None
        self._under_created: dict[str, set[Known | None]] = {}
        self._made_under: dict[str, set[str]] = {}  # a directory the command made -> those it made in it
        self._ways: dict[str, Known] = {}  # a directory on the way to a known writer's place (`_learn_way`)
        self._above: dict[str, tuple[str, ...]] = {}  # _created_above's answers, for _above_made made
        self._above_made = 0
        self._environment: dict[str, str] = {}  # the run's, as the trace records it (know_environment)
        self._uv_venvs: set[str] = set()  # the environments uv wrote into (environments.notes)
        self._uv_python = False  # uv wrote where it keeps the Pythons it downloads
        self._ran: frozenset[str] | None = None  # the names of the programs it ran
        # the settings merged runs had different values of (or some none): the values they had
        self._differ: dict[str, list[str]] = {}

    def know_environment(
        self,
        environment: dict[str, str],
        ran: frozenset[str] | None = None,
        runs: Iterable[dict[str, str]] = (),
    ) -> None:
        """The run's environment (environment.py records a part of it): a known writer's setting
        it already held, and the writes happened all the same, does not reach that writer (a
        program that clears its children's environment: tox), so it is not the plan's fix.
        `ran`: the names of the programs the run ran (None: not known yet), whose settings the
        plan keeps (`_run_settings`); `runs`: each merged run's environment (the merged trace's
        `environment` holds what they all had): a setting they differ on is said, not kept."""
        self._environment = dict(environment)
        home = environment.get("HOME", "")
        self._planner.home = normal(home) if home.startswith("/") and normal(home) != "/" else None
        cache = environment.get("XDG_CACHE_HOME", "")
        self._planner.cache_home = normal(cache) if cache.startswith("/") and normal(cache) != "/" else None
        runs = list(runs)
        self._planner.runs = len(runs)
        self._ran = ran
        named = {n for r in runs for n in r} & RUN_SETTINGS
        self._differ = {
            n: sorted({r[n] for r in runs if n in r})
            for n in sorted(named)
            if len({r.get(n) for r in runs}) > 1
        }

    def _heeded(self, known: Known | None) -> bool:
        """Whether applying `known`'s setting could change what it writes: not so where the run
        had every variable of it already."""
        return (
            known is None
            or not known.env
            or not all(self._environment.get(name) == value for name, value in known.env)
        )

    def _reset(self) -> None:
        """Nothing placed yet (what `place` counts)."""
        self._mounts: set[str] = set()
        self._blocked: dict[Placement, Blocked] = {}
        self._settings: dict[Known, int] = {}
        # (directory written, venv) -> (mount point, placement): asked for every write, answered
        # once per directory
        self._placements: dict[tuple[str, bytes | None], tuple[str, Placement]] = {}
        self._env: dict[str, str] = {}
        self._temp_moved: tuple[str, str, str] | None = None  # _temp_dir_setting's answer
        # (a build step's template, its interpreter) -> the directories it is for
        self._build: dict[tuple[str, str], set[str]] = {}
        self._unset: set[str] = set()  # the run's settings a writer's fix says not to keep (Known.unset)
        self._applied: Counter[Known] = Counter()  # writes a setting moves or avoids, by writer
        # venvs the command made in a writer's tree that its setting moves whole (uv's cache, with
        # uvx's and `uv run --script`'s environments): that writer, whose setting moves every
        # write into them (the bytecode their Python writes too)
        self._moved_venvs: dict[str, Known] = {}
        self._persistent: dict[str, str] = {}  # mount point -> an example of the data kept there
        self._tolerated: Counter[str] = Counter()  # refused writes the command carried on after, by errno
        self._tolerated_known: Counter[Known] = Counter()  # those a known writer's setting avoids
        self._tolerated_at: dict[str, set[str]] = {}  # their directories -> the programs that wrote
        self._unheeded: Counter[Known] = Counter()  # writes made with their writer's setting already set
        self._allowed_blocked: dict[str, int] = {}  # place -> writes allowed here that no mount can allow
        # checks of writability (access W_OK) that no mount can meet, where nothing was written
        self._checks: dict[Placement, _Checks] = {}
        # the trees a writer's setting moved (`_by_setting`) -> the programs that wrote there
        self._moved_tops: dict[str, set[str]] = {}
        self._held_config: dict[Known, str] = {}  # settings not applied: the tree they move held files
        self._held_offline: dict[Known, str] = {}  # settings not applied: the cache, read offline, held files
        # directories the command removed whose mount climbed to a place none can go: the place
        self._removed_points: dict[str, str] = {}

    def start_early(self, *, enforced: bool) -> None:
        """Place each write as it is learnt (`place_early`), the run's end not yet known: guessed
        to be a command that did not fail (`enforced`: asked for)."""
        self.know_run(enforced=enforced, command_failed=False)
        self._early = _Early()

    @property
    def placing_early(self) -> bool:
        return self._early is not None

    def place_early(self, v: Verdict) -> list[Placement] | None:
        """`place` before the run's end (after `learn`): None once too much was noted to check
        (the placements are then made after the run)."""
        early = self._early
        assert early is not None
        placed = self.place(v)
        if early.size > _EARLY_LIMIT:
            self._early = None
            return None
        return placed

    def early_holds(self) -> bool:
        """Each answer the early placements were made with is the whole run's (call after
        `know_directories` and `know_run`); if not, `unplace` and place again."""
        early, self._early = self._early, None
        if early is None:
            return False
        planner = self._planner
        early.refusals.update(planner._why_not)  # the answers given, before settling clears them
        self._settle()
        holds = (
            early.size <= _EARLY_LIMIT
            and not planner.moved  # each final name was taken to be the name written
            and all((known in planner.offline) == was for known, was in early.offline.items())
            and all(t == self._tolerates() for t in early.tolerates)
            and all((venv in planner.disposable) == a for venv, a in early.disposable.items())
            and all(v.wrote == a for v, a in early.wrote)
            and all(self._answer(q, path) == a for (q, path), a in early.answers.items())
            and all(planner.refusal(point) == why for point, why in early.refusals.items())
            and all(self._place_at(*key) == found for key, found in self._placements.items())
        )
        return holds

    def unplace(self) -> None:
        """Nothing placed: the placements are to be made (again) by `place`, after the run."""
        self._early = None
        self._reset()

    def note_wrote(self, v: Verdict) -> bool:
        """`v.wrote` for the report's early grouping, noted when the filesystem answered it."""
        wrote = v.wrote
        early = self._early
        if early is not None and v.event.failed and not v.violation:
            early.wrote.append((v, wrote))
            early.full()
        return wrote

    def _answer(self, question: str, path: str) -> bool:
        """One of the answers `place` asks per path, as of now."""
        planner = self._planner
        if question == "directory":
            return planner.is_directory(path)
        if question == "moved-place":
            return self._moved_place(path)
        if question == "held":
            return planner.held_content(path)
        if question == "read-back":
            return planner.read_back is None or path in planner.read_back
        if question == "seeded":
            return planner.seeded(path)
        if question.startswith("only "):
            return planner.holds_only(path, tuple(question[len("only ") :].split("/")))
        if question == "reopened":
            return self._planner.made_files is not None and path in self._planner.made_files
        assert question == "kept"
        created = self._planner.made_files
        return (
            created is not None and path not in created and not planner.made_by_command(os.path.dirname(path))
        )

    def _noted(self, question: str, path: str, answer: bool) -> bool:
        early = self._early
        if early is not None:
            given = early.answers.get((question, path))
            if given is None:
                early.answers[(question, path)] = answer
                early.full()
            elif given != answer:  # asked again and answered otherwise: the first was not final
                early.size = _EARLY_LIMIT + 1
        return answer

    def know_directories(self, states: dict[bytes, DirState]) -> None:
        """What each directory held before the run, once known (after `learn` began): the
        files written whole that it tells are kept data (`_rewrote`) are then learnt."""
        planner = self._planner
        planner.states = {os.fsdecode(d): s for d, s in states.items()}
        planner.climbs = None
        self._states_known = True
        rewrites, self._rewrites = self._rewrites, []
        for directory, path in rewrites:
            self._rewrote(directory, path)
        planner._why_not.clear()  # refusals asked before: kept data may make a place a data place

    def know_run(
        self,
        *,
        enforced: bool,
        command_failed: bool,
        programs: frozenset[str] = frozenset(),
        app: frozenset[str] = frozenset(),
        offline: frozenset[Known] | None = None,
    ) -> None:
        """How the run went (before `place`): under --enforce a refusal may be the policy's, and a
        command that failed may have failed on a refused write; neither is then tolerated.
        `programs`: the files the command ran (executables, scripts): a directory holding one
        is never seeded, whatever its name; `offline`: the known writers that ran without the
        network (explain.offline_writers), whose caches are then what they read."""
        self._enforced = enforced
        self._command_failed = command_failed
        planner = self._planner
        if programs != planner.programs or app != planner.app:
            planner.programs, planner.app = programs, app
            planner._why_not.clear()
        if offline is not None:  # (else as known: `know_offline`)
            self.know_offline(offline)

    @property
    def offline(self) -> frozenset[Known]:
        """The known writers the run showed to run without the network (`know_offline`)."""
        return self._planner.offline

    def know_offline(self, offline: frozenset[Known]) -> None:
        """The known writers that ran without the network (explain.offline_writers), as soon as
        the run shows it (its environment, then each process's command line), so that the
        placements made while it runs are the run's."""
        planner = self._planner
        if offline != planner.offline:
            planner.offline = offline
            planner._why_not.clear()

    def learn(self, v: Verdict) -> None:
        if self._early is not None:
            self._early.learnt += 1
        e = v.event
        known = v.explanation
        if known is not None and known.id.startswith("uv-") and e.write:  # (environments.notes)
            if v.venv is not None and len(self._uv_venvs) < _UV_VENVS:
                self._uv_venvs.add(text_of(v.venv))
            self._uv_python = self._uv_python or known.id == "uv-python-downloads"
        if known is not None and known.offline and e.write:  # the trees of a cache it may read offline
            trees = self._planner.offline_trees.setdefault(known, set())
            if len(trees) < _OFFLINE_TREES:
                trees.add(_cache_tree(v) or os.path.dirname(text_of(e.path)))
        if e.op == "delete" and e.errno == "ENOENT":  # harmless, but it says the name is free
            self._planner.learn_absent(os.fsdecode(e.path))
        elif e.op in ("mkdir", "create") and e.errno == "ENOENT":
            self._learn_way(v)
        if not e.unresolved and (
            (not e.write and e.op == "open" and not e.failed)  # a file read (--all-opens)
            or (e.op in ("open", "create") and e.errno == "EEXIST")  # one met where it would make it
        ):
            self._planner.learn_read(os.fsdecode(e.path), v.runs)  # what a directory's files are for
        if not e.write or v.harmless or (known is not None and known.at_build):
            return  # (the image's build's: refused where it is made, nothing learnt of its places)
        planner = self._planner
        planner.climbs = None  # learnt after the placements began (not in a run): no longer final
        if v.runs and e.op in ("mkdir", "create") and e.result is not None and e.result >= 0:
            planner.made_in.setdefault(os.fsdecode(e.path), set()).update(v.runs)
        for name in (e.path, e.target if e.op in ("rename", "link") else None):
            store = _store_of(name)
            if store is not None and len(planner.shard_stores) < _CREATED_FILES:
                planner.shard_stores.add(store)
        if e.op == "mkdir" and e.result == 0:
            planner.created.add(os.fsdecode(e.path))
            if known is not None and known.remade:  # (cold: removed at the next run, made anew)
                planner.removed.add(os.fsdecode(e.path))
        elif e.op == "mkdir" and e.errno != "EEXIST":  # (there already: as the plan's mount point is)
            planner.refused_mkdirs.add(os.fsdecode(e.path))
        elif e.op == "delete" and e.result == 0 and (e.syscall == "rmdir" or "AT_REMOVEDIR" in str(e.flags)):
            planner.removed.add(os.fsdecode(e.path))
        elif e.op == "symlink" and e.result == 0:
            planner.symlinked.add(os.fsdecode(e.path))
        elif e.op in ("chmod", "chown") and e.result == 0 and len(planner.reowned) < _CREATED_FILES:
            planner.reowned.add(os.fsdecode(e.path))
        repository = e.op == "mkdir" and e.result == 0 and e.path.endswith(b"/.git")
        if repository and len(planner.reowned) < _CREATED_FILES:  # git's safe.directory: its owner
            planner.reowned.add(os.fsdecode(e.path[:-5]))
        if e.op == "delete" and e.result == 0:
            planner.learn_delete(e)
        elif e.op == "create" and e.result is not None and e.result >= 0:
            planner.learn_create(os.fsdecode(e.path), v.runs)
        meant = _meant(v, self._enforced)
        if e.op in ("open", "create") and meant:
            flags = e.flags or ""
            if _updates(v, self._enforced):
                planner.learn_update(os.fsdecode(e.path), made_anew=False, runs=v.runs)
            elif "O_TRUNC" in flags or "O_EXCL" in flags:
                planner.learn_update(os.fsdecode(e.path), made_anew=True)
        if v.venv is not None:
            venv = os.fsdecode(v.venv)
            if self._early is not None and venv not in planner.venvs:
                self._early.unanswered.append((self._early.learnt, venv))
            planner.venvs.add(venv)
        self._learn_under_created(v)
        kept = e.op in FILE_OPS and (
            self._keeps_data(v, e.path, noted=False, refused=True) or _updates(v, self._enforced)
        )
        if kept:
            planner.kept_data.add(written_directory(e, e.path))
            planner.kept_files.add(os.fsdecode(e.path))  # a journal alone keeps no database: its open does
        elif self._rewrites_whole(v):
            self._rewrote(written_directory(e, e.path), os.fsdecode(e.path))
        elif e.op == "rename" and e.target not in (None, e.path) and meant:
            target = os.fsdecode(e.target)
            if e.result == 0 and os.fsdecode(e.path) in planner.kept_files:
                # data the command keeps, moved (dbm.dumb's store.dir renamed to store.bak)
                planner.kept_data.add(written_directory(e, e.target))
                planner.kept_files.add(target)
            elif e.result == 0 and planner.fresh_name(target, v.runs):
                planner.learn_create(target, v.runs)  # saved where nothing from before the run can be
            else:  # an atomic save (a temporary file renamed over the name): it may have been there
                planner.kept_data.add(written_directory(e, e.target))
                planner.kept_files.add(target)
        if e.op == "rename" and e.result == 0 and e.target is not None:
            source, target = os.fsdecode(e.path), os.fsdecode(e.target)
            self._renames.append((source, target))
            self._moves.add("rename", source, target, v.count)
            planner.learn_gone(source)
        elif e.op == "link" and e.result == 0 and e.target is not None:
            # the file, its new name
            self._moves.add("hard link", os.fsdecode(e.path), os.fsdecode(e.target), v.count)

    def _learn_under_created(self, v: Verdict) -> None:
        """Who writes under each directory the command made (a directory is made before anything
        is written into it, so a write's created ancestors are known when it is learnt)."""
        e = v.event
        if not self._planner.created:
            return
        known = v.explanation if v.explanation is not None and v.explanation.env else None
        if e.op == "mkdir" and e.result == 0 and known is None:
            # a directory on the way (makedirs of ~/.local/share/jupyter makes ~/.local/share):
            # what is written in it decides, unless nothing is (`_moved_place`)
            path = os.fsdecode(e.path)
            parent = os.path.dirname(path)
            for directory in self._created_above(parent) if parent != path else ():
                self._made_under.setdefault(directory, set()).add(path)
            return
        for raw in (e.path, e.target if e.op == "rename" else None):
            if raw is None:
                continue
            path = os.fsdecode(raw)
            parent = os.path.dirname(path)
            if parent != path:
                for directory in self._created_above(parent):
                    self._under_created.setdefault(directory, set()).add(known)

    def _moved_place(self, path: str) -> bool:
        """Every write under the directory the command made at `path` is moved elsewhere by a
        setting, and every directory it made there has such writes (an empty one made for its
        own sake needs its parent writable)."""
        writers = self._under_created.get(path, set())
        if not writers or None in writers or not all(self._setting_holds(k) for k in writers):
            return False
        return all(self._under_created.get(made) for made in self._made_under.get(path, ()))

    def _setting_holds(self, known: Known | None) -> bool:
        """The writer's setting is heeded and not refused for the configuration it would move,
        nor for the cache it reads offline (`_by_setting`): the writes under a directory made
        on its way go elsewhere."""
        return self._heeded(known) and (
            known is None or not (self._config_refused(known) or self._offline_refused(known))
        )

    def _offline_refused(self, known: Known) -> bool:
        """The writer ran offline and its tree held files before the run (`_read_offline`): its
        setting would start it without what it reads, and is not applied."""
        planner = self._planner
        if known not in planner.offline:
            return False
        return any(
            self._noted("held", tree, planner.held_content(tree))
            for tree in planner.offline_trees.get(known, ())
        )

    def _config_refused(self, known: Known) -> bool:
        """The writer's setting would move a configuration directory of its that held files,
        and no setting keeps all it holds read where it is (`Known.config_env`, `config_files`)."""
        held = self._held_config_dirs(known)
        if not held:
            return False
        return not known.config_env or not all(self._holds_only(d, known.config_files) for d in held)

    def _created_above(self, directory: str) -> tuple[str, ...]:
        """The directories the command made among `directory` and those above it (asked for
        every write: answered once per directory, until the command makes another)."""
        created = self._planner.created
        if len(created) != self._above_made:  # made only grows: another size, another set
            self._above.clear()
            self._above_made = len(created)
        climbed: list[str] = []
        found = self._above.get(directory)
        while found is None:  # up to an answer or the top, in a loop: a path may be thousands deep
            climbed.append(directory)
            up = os.path.dirname(directory)
            if up == directory:
                found = ()
                break
            directory = up
            found = self._above.get(directory)
        for below in reversed(climbed):
            found = ((below,) if below in created else ()) + found
            self._above[below] = found
        return found

    def _made_for_a_moved_place(self, v: Verdict) -> bool:
        """A directory the command made only on the way to a known writer's place (makedirs of
        ~/.cache/pre-commit makes ~/.cache), every write under it moved elsewhere by a setting:
        with the settings applied the command does not make it, so it needs no mount (one in HOME
        or the app's tree would change what programs do)."""
        e = v.event
        if e.op != "mkdir" or e.result != 0:
            return False
        path = os.fsdecode(e.path)
        writers = self._under_created.get(path, set())
        if self._early is not None:  # more writes under it may come: if none yet, its own writer's?
            known = v.explanation
            guess = bool(writers) or (known is not None and bool(known.env))
            heeded = self._setting_holds(known) and all(self._setting_holds(k) for k in writers)
            return self._noted("moved-place", path, guess and heeded and None not in writers)
        return self._moved_place(path)

    def _answer_venvs(self, early: _Early) -> None:
        """Whether a mount hides nothing of each venv learnt with this write or one before it
        (the writes learnt since tell whether the command made it)."""
        early.placed += 1
        while early.unanswered and early.unanswered[0][0] <= early.placed:
            venv = early.unanswered.popleft()[1]
            disposable = early.disposable[venv] = self._planner.disposable_so_far(venv)
            early.full()
            if disposable:
                self._planner.disposable.add(venv)

    def _settle(self) -> None:
        if not self._learnt:
            self._learnt = True
            self._planner.learn_renames(self._renames)
            self._planner.settle_venvs(self._renames)
            self._planner.climbs = {}  # all is learnt: each directory's climb is answered once

    def place(self, v: Verdict) -> list[Placement]:
        """Where this write needs a mount (empty: it needs none)."""
        early = self._early
        if early is None:
            self._settle()
        else:
            self._answer_venvs(early)
        # forecast() reads the filesystem (a FIFO opened, a parent missing) as it is when the write
        # is placed: during the run, as the write came, its answer stands (not asked again after)
        if v.explanation is not None and v.explanation.unset:
            self._unset.update(v.explanation.unset)
        needs = _needs_mount(v)
        if not needs:
            return []
        unheeded = None if self._heeded(v.explanation) else v.explanation
        if unheeded is not None:  # its setting was set, and the write made all the same
            v = dataclasses.replace(v, explanation=None)
        if v.explanation is None and (v.violation or v.venv_write):  # what classification explains
            v = self._explained_by_final_name(v)
        if v.explanation is None and v.event.op == "mkdir":
            v = self._explained_by_way(v)
        e = v.event
        if self._tolerated_failure(v):
            self._tolerated[e.errno or "?"] += v.count  # a merged trace's event: that many writes
            at = self._tolerated_at.setdefault(written_directory(e, e.path), set())
            at.add(program_name(e.exe) if e.exe else "?")
            if v.explanation is not None and v.explanation.env:
                self._tolerated_known[v.explanation] += v.count
            return []
        if self._made_for_a_moved_place(v):
            if v.explanation is not None and v.explanation.env:
                self._applied[v.explanation] += v.count  # a write its setting avoids too
            return []
        if v.explanation is not None and v.explanation.at_build and not e.unresolved:
            # the image's build, made at each start: a mount would have the container build each time
            point = written_directory(e, e.path)
            return [self._count(v, e.path, point, Placement(point, _AT_BUILD))]
        planner = self._planner
        made = v.venv is not None and os.fsdecode(v.venv) in planner.disposable  # the command made it
        mover = None
        if made and v.venv is not None:  # (by its name, or the one it was made under: uv renames it in)
            mover = self._moved_venvs.get(text_of(v.venv)) or self._moved_venvs.get(
                planner.origin(text_of(v.venv))
            )
        if mover is not None and mover is not v.explanation:
            self._applied[mover] += v.count  # it moves with its venv, where the setting makes that
            return [Placement(text_of(v.venv) if v.venv is not None else "/", None)]
        venv = None if made else v.venv
        written = self._written(e)
        if e.unresolved or not all(is_placed(raw) for raw, _ in written):
            # not a place (the string an unplaced call passed, or a trace not as rotrace writes
            # it): a mount there would be anywhere (`~`, `..`, relative to wherever it is used)
            return [self._count(v, e.path, _UNPLACED, Placement(_UNPLACED, _UNPLACED_WHY))]
        found = [
            (raw, *self._placement(self._top(v, _above_shard(raw, directory)), venv))
            for raw, directory in written
        ]
        # A venv the command made gets its mount to be made at all: a setting that keeps
        # writes out of an installed environment, or a build step, avoids nothing there (the
        # build cannot compile what the run makes, and the mount would hide it).
        # ... but not where the writer reads back what the place held before the run (coverage
        # run -a appends to the .coverage there): its setting would start it without that data.
        cache = v.explanation is not None and v.explanation.cache  # started again empty, it is rebuilt
        reads_back = not cache and self._reads_back(v, found)
        if unheeded is not None and not made and not reads_back:
            self._unheeded[unheeded] += v.count  # where the setting would have been the fix
        if (not made or self._moves_with_its_tree(v)) and not reads_back and self._by_setting(v, found):
            # grouped where the setting applies: a venv's writes at the venv, as when refused;
            # others at the place the setting moves (with the directory made on the way to it)
            where = text_of(v.venv) if v.venv is not None else setting_top(v)
            if made and v.venv is not None and v.explanation is not None:
                self._moved_venvs.setdefault(text_of(v.venv), v.explanation)
            return [Placement(where or point, None) for _, point, _ in found]
        if v.explanation is not None and (v.explanation in self._held_config or self._read_offline(v)):
            # its setting would lose what the tree held: not offered as this write's fix either
            v = dataclasses.replace(v, explanation=None)
        placed: list[Placement] = []
        for raw, point, placement in found:
            if placement.reason is not None and placement in placed:
                placed.append(placement)  # a rename within one blocked place is one write
            else:
                placed.append(self._count(v, raw, point, placement))
        known = v.explanation
        if (
            known is not None
            and (not made or not (known.env or known.build))  # a workdir moved: the venv in it too
            and not reads_back
            and any(p.reason is None for p in placed)
            and not self._lands_in(known, placed)
        ):
            self._settings[known] = self._settings.get(known, 0) + v.count  # once per write: a rename is one
        for raw, point, placement in found:
            if placement.reason is not None or point in SCRATCH or planner.in_cache_home(point, itself=True):
                continue  # nobody expects /tmp, or a cache, to survive a restart
            example = self._persistent.get(point)
            if example is None:
                if self._keeps_data(v, raw) or self._noted("seeded", point, planner.seeded(point)):
                    # a directory made there is no data kept: a file written there later is the example
                    self._persistent[point] = point if e.op == "mkdir" else _kept_name(raw)
            elif example == point and e.op != "mkdir" and (text := _kept_name(raw)) != point:
                self._persistent[point] = text  # for the example, a file kept there rather than the directory
            elif (
                e.op == "rename"
                and e.target is not None
                and example == text_of(e.path)
                and is_under(saved := text_of(e.target), point)
            ):  # a draft saved under its name: the name is the example
                self._persistent[point] = saved
        return placed

    def _rewrites_whole(self, v: Verdict) -> bool:
        """A file written whole (O_TRUNC) that the run did not delete first: in a directory that
        held files before the run (what setuptools' egg_info does to its .egg-info on each
        build, a report written over), as an atomic save over it, data the directory keeps, not
        a refusal: its volume starts with what it held (seeded), and a directory holding
        anything else is still refused (`_rewrote`)."""
        e = v.event
        if e.op not in ("create", "truncate", "open") or not _meant(v, self._enforced):
            return False
        if "O_TRUNC" not in (e.flags or "") or _LOCK.search(e.path):
            return False
        return not self._planner.was_gone(os.fsdecode(e.path))  # deleted first: made anew (a clean build)

    def _rewrote(self, directory: str, path: str) -> None:
        """A file written whole in `directory`: data it keeps if it held files before the run,
        which `run` learns only at the end (`know_directories`): kept until then."""
        planner = self._planner
        if self._states_known:
            if planner.states.get(directory) in (DirState.CONTENT, DirState.FILLED):
                planner.kept_data.add(directory)
                planner.kept_files.add(path)
        elif len(self._rewrites) < _CREATED_FILES:
            self._rewrites.append((directory, path))

    def _reads_back(self, v: Verdict, found: list[tuple[bytes, str, Placement]]) -> bool:
        """The write updates a file in place (no truncation: an append, SQLite) in a place that
        held files before the run, and nothing in the run showed the name fresh before (deleted
        or found missing, written whole, in a directory the run made): what it reads back may
        be from before the run (an atomic save over a file replaces it instead). The place is
        then planned as any data is: a persistent mount that starts with what it held
        (`seeded`), or refused, saying why."""
        if not _updates(v, self._enforced):
            return False
        path = os.fsdecode(v.event.path)
        read_back = self._planner.read_back
        if not self._noted("read-back", path, read_back is None or path in read_back):
            return False
        return any(self._noted("held", point, self._planner.held_content(point)) for _, point, _ in found)

    def _learn_way(self, v: Verdict) -> None:
        """A name a known writer's settings move, made where its parent was missing (makedirs of
        ~/.cache/black/24.10.0 with no home: ENOENT): each directory above it, which the writer
        then tries to make, is on its way (`_explained_by_way`), and the setting moves it with
        the place (the classifier names the writer of such a way, settings or not). The writer
        is the verdict's (the classifier reads a run's home elsewhere, HOME=/nonexistent, as
        /root)."""
        if len(self._ways) >= _CREATED_FILES:
            return
        e = v.event
        home = home_elsewhere(self._environment.get("HOME"))  # (`/` too: a Pod's user with no passwd entry)
        known = v.explanation or explain(e, None) or explained_in_home(e, None, "", home)
        if known is None or not known.env:
            return
        path = os.fsdecode(e.path)
        while (up := os.path.dirname(path)) not in (path, "/") and up not in self._ways:
            self._ways[up] = known
            path = up

    def _explained_by_way(self, v: Verdict) -> Verdict:
        """A directory a known writer made, or failed to make, only on the way to its own place
        (the home of a user with none, `/nonexistent` or `/`: its cache's makedirs climbs to
        it): the writer's setting moves its place, and the directory with it."""
        known = self._ways.get(os.fsdecode(v.event.path))
        return v if known is None or not self._heeded(known) else dataclasses.replace(v, explanation=known)

    def _explained_by_final_name(self, v: Verdict) -> Verdict:
        """A write into a directory built under a temporary name and renamed into place (pytest's
        cache, made as pytest-cache-files-XXXX): the writer known by the final name made it,
        and its setting is what avoids it (the rename alone is known when it is classified)."""
        e = v.event
        path = os.fsdecode(e.path)
        final = self._planner.final(path)
        if final == path:
            return v
        known = explain(e._replace(path=os.fsencode(final), target=None), v.venv)
        return v if known is None or not self._heeded(known) else dataclasses.replace(v, explanation=known)

    @staticmethod
    def _top(v: Verdict, directory: str) -> str:
        return writer_top(v, directory) or directory

    def _tolerated_failure(self, v: Verdict) -> bool:
        """Refused here as it is under a read-only root, and the command carried on: a mount
        would change what the command does (Python ignores a __pycache__ it cannot write)."""
        e = v.event
        if not (e.failed and e.errno in _TOLERATED):
            return False
        known = v.explanation
        if known is not None and known.tolerated and (known.env or known.build):
            # a writer that never needs them (bytecode): its setting, as where they succeed, so
            # that whoever runs the app (root, a user refused them, a read-only root) gets one plan
            return False
        tolerates = self._tolerates()
        if self._early is not None:
            self._early.tolerates.add(tolerates)
        return tolerates

    def _tolerates(self) -> bool:
        return not self._enforced and not self._command_failed

    def _written(self, e: FileEvent) -> list[tuple[bytes, str]]:
        """Each path the write changes, with the directory a mount must make writable for it."""
        if e.op in FILE_OPS:  # most writes: one path, which is never a directory renamed into place
            return [(e.path, written_directory(e, e.path))]
        planner = self._planner
        if e.op in METADATA_OPS or e.op == "access":
            name = os.fsdecode(e.path)
            if self._noted("directory", name, planner.is_directory(name)):
                return [(e.path, name)]  # the directory's own inode (what a check asks of): a mount on it
        moving = e.op == "rename" and os.fsdecode(e.path) in planner.moved
        paths = [e.path] + ([e.target] if e.op == "rename" and e.target is not None and not moving else [])
        written = []
        for raw in paths:
            name = os.fsdecode(raw)  # a directory renamed into place is itself where it is written
            written.append((raw, name if name in planner.moved else written_directory(e, raw)))
        return written

    def _by_setting(self, v: Verdict, found: list[tuple[bytes, str, Placement]]) -> bool:
        """Apply the known writer's setting instead of a mount, where one moves the writes to a
        scratch place (itself mountable) or avoids them: True if it did. Writes already in a
        scratch place keep their mount (nothing to move)."""
        known = v.explanation
        if known is None or not (known.env or known.build):
            return False
        if all(p.reason is None and point in SCRATCH for _, point, p in found):
            return False
        held = self._held_config_dirs(known)
        # where a configuration directory held files, the settings that keep it read where it is
        # (`Known.config_env`: MATPLOTLIBRC beside MPLCONFIGDIR) where they keep all it holds
        # (`Known.config_files`: not a style library), else the setting is not offered
        keeps = () if not held or self._config_refused(known) else known.config_env
        kept = {name: value.replace("{dir}", held[0]) for name, value in keeps}
        if not (held and kept) and self._moves_what_it_held(v, held):
            return False
        if self._read_offline(v):
            return False
        targets = self._targets(known)
        if any(p.reason is not None for _, p in targets):
            return False  # the scratch place cannot be mounted either (the app lives there)
        builds: list[tuple[str, str, str]] = []
        python = _interpreter(v)
        for template in known.build:
            for raw, _, _ in found:
                path = text_of(raw)
                m = re.search(known.path, path)
                directory = (path[: m.start()] if m else os.path.dirname(path)) or "/"
                if not is_plain(directory) or not is_plain(python):
                    return False  # not a name a build step can hold
                builds.append((template, python, directory))
        self._env.update(known.env)
        self._env.update(kept)
        for point, _ in targets:
            self._mounts.add(point)
        for template, python, directory in builds:
            self._build.setdefault((template, python), set()).add(directory)
        self._applied[known] += v.count
        top = text_of(v.venv) if v.venv is not None else setting_top(v)
        if top is not None:
            self._moved_tops.setdefault(top, set()).add(program_name(v.event.exe))
        return True

    def _read_offline(self, v: Verdict) -> bool:
        """The write's writer ran offline (MountPlanner.know_run), and its cache held files
        before the run: what the program reads, which its setting would leave behind."""
        known = v.explanation
        if known is not None and known.offline and self._early is not None:
            self._early.offline.setdefault(known, known in self._planner.offline)
        if known is None or known not in self._planner.offline:
            return False
        tree = self._tree_of(v)
        if tree is None or not self._noted("held", tree, self._planner.held_content(tree)):
            return False
        self._held_offline.setdefault(known, tree)
        return True

    def _tree_of(self, v: Verdict) -> str | None:
        """`_cache_tree`, or the place the run's own setting put the writer's tree
        (UV_CACHE_DIR=/srv/uv: its lock, /srv/uv/.lock, names no directory of the cache's)."""
        tree = _cache_tree(v)
        if tree is not None or v.explanation is None:
            return tree
        path = text_of(v.event.path)
        for name, _ in v.explanation.env:
            value = self._environment.get(name, "")
            if value.startswith("/") and normal(value) != "/" and is_under(path, normal(value)):
                return normal(value)
        return None

    @staticmethod
    def _moves_with_its_tree(v: Verdict) -> bool:
        """A venv the command made inside a writer's tree that the writer's setting moves whole
        (uvx's environments, built in uv's cache: UV_CACHE_DIR): the setting moves the venv with
        its writes, and needs no mount where it was."""
        known = v.explanation
        if known is None or known.root is None or v.venv is None:
            return False
        if not known.targets:  # (a setting that moves it somewhere: a path, or an option's)
            return False
        top = writer_top(v, text_of(v.event.path))
        return top is not None and is_under(text_of(v.venv), top)

    def _holds_only(self, directory: str, names: tuple[str, ...]) -> bool:
        question = "only " + "/".join(names)
        return self._noted(question, directory, self._planner.holds_only(directory, names))

    def _held_config_dirs(self, known: Known) -> list[str]:
        """Those of the writer's configuration directories in the home (`Known.config_dirs`)
        that held files before the run."""
        home = self._planner.home
        held = []
        for config in known.config_dirs if home else ():
            directory = f"{(home or '').rstrip('/')}/{config}"
            if self._noted("held", directory, self._planner.held_content(directory)):
                held.append(directory)
        return held

    def _moves_what_it_held(self, v: Verdict, held_config: list[str]) -> bool:
        """The write's setting would move the tree its program reads its configuration from
        (`Known.config`; or one of `held_config`, its `config_dirs` that held files), which held
        files before the run (the tree's top, or the directory written in): it would lose them,
        and the app would run otherwise than traced."""
        known, tree = v.explanation, setting_top(v)
        if known is None:
            return False
        for directory in held_config:  # (the one written in too: the setting moves it all the same)
            self._held_config[known] = directory
            return True
        if not known.config or tree is None:
            return False
        for directory in dict.fromkeys((tree, os.path.dirname(text_of(v.event.path)) or "/")):
            held = self._planner.held_content(directory)
            if is_under(directory, tree) and self._noted("held", directory, held):
                self._held_config[known] = tree
                return True
        return False

    def _targets(self, known: Known) -> list[tuple[str, Placement]]:
        """Where `known`'s setting moves its writes (the values that are paths): each place's
        mount point and placement."""
        return [self._placement(value, None) for value in known.targets]

    @staticmethod
    def _lands_in(known: Known, placed: list[Placement]) -> bool:
        """The writer's setting moves its writes under the mount they get anyway (a cache already
        in /tmp, UV_CACHE_DIR=/tmp/uv-cache): it avoids no mount, so it is not offered as one."""
        targets = known.targets
        points = [p.point for p in placed if p.reason is None]
        return bool(targets) and all(any(is_under(t, point) for point in points) for t in targets)

    def _keeps_data(self, v: Verdict, raw: bytes, noted: bool = True, refused: bool = False) -> bool:
        """Data the program reads back: an SQLite journal or WAL beside its database, a known
        writer's data, a file opened for update without truncation that was there before, or
        that the run made and opened again to read and write (a dbm or shelve store). `noted`:
        an answer of the early placing's, to be asked again at the run's end; `refused`: a call
        the read-only root or the enforced allowlist refused counts for what it meant to do."""
        e = v.event
        if e.failed and not (refused and _meant(v, self._enforced)):
            return False
        if (v.explanation is not None and v.explanation.data) or _SQLITE_SIDECAR.search(raw):
            return True
        if e.op != "open" or "O_TRUNC" in (e.flags or "") or not _UPDATE.search(e.flags or ""):
            return False
        if _LOCK.search(raw):
            return False  # a lock file is opened for update to be locked, not to be read back
        path = text_of(raw)
        if "O_RDWR" in (e.flags or ""):  # a file the run made, opened again to read and update:
            reopened = self._answer("reopened", path)  # its own store (shelve's, dbm's), read back
            if self._noted("reopened", path, reopened) if noted else reopened:
                return True
        answer = self._answer("kept", path)
        return self._noted("kept", path, answer) if noted else answer

    def _placement(self, directory: str, venv: bytes | None) -> tuple[str, Placement]:
        """The mount point for writes into `directory`, and where the write needs a mount (the
        venv's top for a venv write) with why there can be none there."""
        key = (directory, venv)
        found = self._placements.get(key)
        if found is None:
            found = self._placements[key] = self._place_at(directory, venv)
            if self._early is not None:
                self._early.full()
        return found

    def know_persistent(self, places: Iterable[str], asked: bool = False) -> None:
        """The policy's persistent places that it allows (the caller's to tell): mounts it has
        decided on, which keep what is written there. A write below one is on it, whatever the
        place below held before the run (`--read-only` starts the mount with a copy of what it
        holds). Never `/` or a system directory, nor one in a tree of programs or configuration,
        nor one that holds the application or a virtual environment (`_given_fits`): a mount
        there would hide them, or make the system writable, whatever the policy says."""
        given = {normal(p) for p in places if p.startswith("/")}
        self._given = sorted(given, key=len, reverse=True)
        self._asked = asked  # --persistent: each place the plan does not keep is said

    def _given_fits(self, place: str) -> bool:
        planner = self._planner
        return (
            place not in SYSTEM_DIRS
            and not any(is_under(place, t) for t in _PROGRAM_TREES)
            and not planner.app_in(place)
            and not any(is_under(v, place) for v in planner.venvs)
        )

    def _place_at(self, directory: str, venv: bytes | None) -> tuple[str, Placement]:
        planner = self._planner
        final = planner.final(directory)
        given = next((g for g in self._given if is_under(final, g)), None) if venv is None else None
        given = given if given is not None and self._given_fits(given) else None
        if given is not None:
            self._persistent.setdefault(given, given)
            return given, Placement(given, None)
        point = planner.point(final)
        where = text_of(venv) if venv is not None else point
        reason = planner.forbidden(where)
        if reason is not None and venv is None and (removed := self._removed_below(final, point)) is not None:
            # the place a removal climbed to would hide the app (DuckDB's spill directory ./.tmp,
            # made and removed; setuptools' sdist staging): said, with what a mount there does
            self._removed_points.setdefault(removed, point)
        return point, Placement(where, reason)

    def _removed_below(self, directory: str, point: str) -> str | None:
        """The outermost directory the command removed between `directory` and the mount point
        its removal climbed to (`point`), if a mount there breaks nothing: a place of the app's
        own (DuckDB's ./.tmp), not a per-run name nor one in a scratch place (uv's /tmp/.tmpXXXX,
        with the app in /tmp: a mount at a name the next run does not draw holds nothing)."""
        planner, found = self._planner, None
        while directory != point and is_under(directory, point):
            if directory in planner.removed:
                found = directory
            directory, below = os.path.dirname(directory), directory
            if directory == below:  # (`//`, whose directory is itself)
                break
        if found is None or scratch_of(found) is not None:
            return None
        if any(is_general(part) for part in found[len(point) :].split("/") if part):
            return None
        return found if planner.forbidden(found) is None else None

    def _count(self, v: Verdict, raw: bytes, point: str, placement: Placement) -> Placement:
        """The write counted in the plan: its mount, or the place it is blocked at."""
        known = v.explanation
        if placement.reason is None:
            self._mounts.add(point)
            return placement
        if v.event.op == "access":  # a check alone, no write: a note, not a place refused
            check = self._checks.setdefault(placement, _Checks(_example(v, raw), program_name(v.event.exe)))
            check.count += v.count
            return placement
        b = self._blocked.get(placement)
        if b is None:
            kind = (self._planner.refusal(placement.point) or ("", ""))[0]
            b = Blocked(placement.point, _example(v, raw), placement.reason, kind=kind)
            self._blocked[placement] = b
        elif v.runs and (example := generalise(raw)) < b.path:  # a merged trace's: whichever run came first
            b.path = example
        b.count += v.count  # a merged trace's event stands for that many writes
        if known is not None:
            b.explanations[known] = b.explanations.get(known, 0) + v.count
        if v.allowed:
            self._allowed_blocked[placement.point] = self._allowed_blocked.get(placement.point, 0) + v.count
        return placement

    def _unmet_checks(self) -> list[tuple[Placement, _Checks]]:
        """The checks of writability no mount meets, at places not refused for writes too, nor
        where the command made a tree that a writer's setting moves: a program checks the
        directory it is about to make its tree in (virtualenv the project, for poetry's .venv),
        and with the setting it makes the tree, and checks, where the setting says."""
        blocked = {b.point for b in self._blocked.values()}
        moved: dict[str, set[str]] = {}
        for top, programs in self._moved_tops.items():
            moved.setdefault(os.path.dirname(top), set()).update(programs)
        return [
            (p, c)
            for p, c in sorted(self._checks.items())
            if p.point not in blocked and c.program not in moved.get(p.point, ())
        ]

    def _fallback(self) -> str | None:
        """The run's temporary directory, where a check of writability no mount meets leaves the
        command: a program that finds its place read-only falls back to a temporary directory
        (matplotlib's MPLCONFIGDIR built into the image: "a temporary directory could not be
        created" under a read-only root where the run wrote nothing there at all)."""
        if not self._unmet_checks():
            return None
        temp = normal(self._environment.get("TMPDIR") or "/tmp")
        if not temp.startswith("/") or self._planner.forbidden(temp) is not None:
            return None
        return temp

    def plan(self) -> MountPlan:
        self._settle()
        for known in self._applied:  # a place left unmounted for a setting: the plan sets it
            self._env.update(known.env)
            self._mounts.update(point for point, p in self._targets(known) if p.reason is None)
        fallback = self._fallback()
        if fallback is not None:
            self._mounts.add(fallback)
        mounts = outermost(self._mounts)
        self._temp_moved = self._temp_dir_setting(mounts)
        if self._temp_moved is not None:
            self._env["TMPDIR"] = self._temp_moved[2]
        # a template that does not recurse (compileall -l: the directories bytecode was written
        # for, never a venv below the project's) takes each; one that does, the outermost. Not a
        # directory the command made (the image has none to build in) nor one a mount hides.
        build = []
        for (t, python), dirs in sorted(self._build.items()):
            there = {d for d in dirs if not self._planner.made_by_command(d)}
            there = {d for d in there if not any(is_under(d, m) for m in mounts)}
            if there:
                build.append(BuildStep(t, tuple(sorted(there) if " -l " in t else outermost(there)), python))
        build_steps = [step.command() for step in build]
        persistent = sorted(p for p in self._persistent if p in mounts)
        seeded = [p for p in persistent if self._planner.seeded(p)]
        kept, kept_notes = self._run_settings(mounts)
        self._unheld = []
        notes = [
            *self._notes(mounts, fallback),
            *kept_notes,
            *self._held_config_notes(),
            *self._held_offline_notes(),
            *self._filtered_notes(),
        ]
        created = [m for m in mounts if self._planner.made_by_command(m)]
        return MountPlan(
            mounts=mounts,
            blocked=sorted(self._blocked.values(), key=lambda b: b.point),
            settings=dict(self._settings),
            # the plan's own setting wins; the run's options go before it (`_join_options`)
            env=dict(sorted({**self._env, **kept}.items())),
            changed={name: kept.get(name, value) for name, value in sorted(self._env.items())},
            build_steps=build_steps,
            build=build,
            created=created,
            reowned=[m for m in created if m in self._planner.reowned],
            persistent=persistent,
            seeded=seeded,
            unmet=[p.point for p, _ in self._unmet_checks()],
            crossings=list(self._unheld),
            notes=notes,
            scratch_app=self._scratch_app(),
        )

    def _held_offline_notes(self) -> list[str]:
        return [
            f"{known.title}: {', '.join(f'{n}={v}' for n, v in known.env)} would move {tree}, which held"
            f" files before the run that {known.who}, run offline, reads and cannot fetch again: the plan"
            " does not set it"
            for known, tree in sorted(self._held_offline.items(), key=lambda kv: kv[1])
        ]

    def _held_config_notes(self) -> list[str]:
        notes = []
        for known, tree in sorted(self._held_config.items(), key=lambda kv: kv[1]):
            settings = ", ".join(f"{n}={v}" for n, v in known.env)
            note = (
                f"{known.title}: {settings} would move {tree}, which held files before the run that"
                f" {known.who} reads (its configuration): the plan does not set it; "
            )
            if known.needs_writable:  # read-only, the program drops the tree, configuration and all
                name, value = known.env[0]
                note += (
                    f"{known.who} ignores {tree} where it cannot write there (its configuration with it),"
                    f" so a read-only root loses it too: copy it where the app may write when it starts"
                    f" (`cp -a {tree} {value} && export {name}={value}`), or mount a volume at {tree}"
                    " that starts with what the image holds there"
                )
            else:
                note += f"put what it writes elsewhere by its own option, or ship {tree} as it must"
                note += " be in the image"
            notes.append(note)
        return notes

    def _join_options(self, name: str) -> tuple[str | None, str | None]:
        """A setting of options the plan sets (PYTEST_ADDOPTS) that the run had too: the run's
        options kept before the plan's, where they hold no field a secret may be in (else said),
        and the note on it."""
        run, own = self._environment[name], self._env[name]
        if not run.strip() or run == own:
            return None, None
        if run.endswith(f" {own}"):  # a trace made under such a plan: its value again
            return run, None
        if run == "<redacted>" or "***" in run or "=" in run or ";" in run:
            return None, (
                f"the run had {name}, masked in the trace or holding fields (NAME=, a;b) where a secret may"
                f" be: the plan sets {name}={own}; put the run's options before it"
            )
        both = f"{run} {own}"
        return both, f"the run had {name}={run}: the plan keeps its options before its own ({name}={both})"

    def _filtered_notes(self) -> list[str]:
        """The plan's settings, where the run went through a program that hands its children only
        the variables it is told to (tox's test environments: `passenv`, `setenv`): set in the
        container, they do not reach the writers unless that program is told."""
        if not self._env or self._ran is None or not self._ran & _FILTERING:
            return []
        names = ", ".join(sorted(self._env))
        return [
            f"the run went through tox, which gives its test environments only the variables tox.ini's"
            f" passenv and setenv name: add {names} to passenv (or set them in setenv), or the plan's"
            " settings do not reach the tests"
        ]

    def _run_settings(self, mounts: list[str]) -> tuple[dict[str, str], list[str]]:
        """The run's settings that decide where, or whether, its programs write
        (explain.settings): the trace was made with them, so the plan holds only with them
        (UV_NO_CACHE=true: without it uv writes ~/.cache/uv; UV_PROJECT_ENVIRONMENT=/srv/venv:
        without it uv makes .venv). Kept as the run had them, a path wherever it is (the plan
        mounts what was written there); a value the trace masked is said, not kept."""
        kept: dict[str, str] = {}
        masked: list[str] = []
        joined: dict[str, str] = {}
        notes: list[str] = []
        for name in sorted(RUN_SETTINGS & self._environment.keys()):
            if name in self._env and name in _OPTION_LISTS and concerns(name, self._ran):
                both, note = self._join_options(name)
                if both is not None:
                    joined[name] = both
                notes.extend([note] if note else [])
                continue
            if name in self._env or not concerns(name, self._ran):
                continue
            if name in self._unset:  # what made the writes: said in the writer's fix, not kept
                continue
            value = self._environment[name]
            if _own_setting(name, value):  # a plan's own (`-o cache_dir=...`): no secret there
                kept[name] = value
            # masked, or fields of options (`-o PWD=x`, `a;b`) where a secret the masking does not
            # know may be: never written into a manifest, a policy or a command line
            elif value == "<redacted>" or "***" in value or "=" in value or ";" in value:
                masked.append(name)
            else:  # a path too, wherever it is: what the run read there and wrote there followed it
                kept[name] = value
        if kept:
            listed = ", ".join(f"{name}={value}" for name, value in kept.items())
            these, them = ("these decide", "them") if len(kept) > 1 else ("it decides", "it")
            notes.append(
                f"the run had {listed}: {these} where (or whether) its programs write, and the trace"
                f" was made with {them}, so the plan sets {them} too"
            )
        if masked:
            notes.append(
                f"the run had {', '.join(masked)}, masked in the trace or holding fields (NAME=, a;b)"
                " where a secret may be: the plan does not set it; set it as the run had it"
            )
        home = self._environment.get("HOME", "")
        if home.startswith("/") and home != "/" and "HOME" not in self._env:
            inside = [m for m in mounts if is_under(m, home)]  # the home itself too (it was empty)
            if inside:  # the places are the traced user's: so is the home the app looks in
                kept["HOME"] = home
                notes.append(
                    f"the plan mounts {', '.join(inside[:3])} in the run's home: it sets HOME={home} as"
                    " the run had it, so that a program that writes in its home writes there whoever"
                    " runs the app (an image's user has a home of its own; that user must be able to"
                    f" reach {home}: run as the traced user, or trace the app as the image's user)"
                )
        differ: list[str] = []
        for name, values in self._differ.items():
            if name in self._env or not concerns(name, self._ran):
                continue
            (value, *more) = values
            if not more and value.startswith("/") and _on(value, mounts):
                kept[name] = value  # a place the plan makes writable: the runs without it write there too
                notes.append(
                    f"some of the merged runs had {name}={value}, the others none: the plan sets it (a"
                    " place it makes writable), so their writes that followed it land there too"
                )
            else:
                differ.append(name)
        if differ:
            notes.append(
                f"the merged runs had different values of {', '.join(differ)} (or some none): the plan"
                " sets none of them; each run's writes followed its own, so set the one the app runs"
                " with and trace it so"
            )
        return dict(sorted({**kept, **joined}.items())), notes

    def _temp_dir_setting(self, mounts: list[str]) -> tuple[str, str, str] | None:
        """(the run's temporary directory, the plan's mount holding it, another mount) where
        every rename out of the temporary directory's mount into another (and every hard link
        from a file there) starts in that directory and ends on that one other mount: the usual
        atomic write (tempfile.mkstemp(), then os.replace into the app's state/), which the two
        mounts refuse (EXDEV). TMPDIR on that mount makes the file there: tempfile, mktemp and
        most runtimes follow it; what names /tmp itself does not."""
        if "TMPDIR" in self._env or not mounts:
            return None
        temp = normal(self._environment.get("TMPDIR") or "/tmp")
        temp_mount = holder(mounts)(temp)
        if temp_mount is None:
            return None
        into: set[str] = set()
        # (the name made first, where it went): a rename's source, a hard link's existing file
        for kind, source, target, on_source, on_target, _ in self._moves.between(mounts, temp):
            made, there, here = source, on_source, on_target
            if kind == "hard link":
                made, there, here = target, on_target, on_source
            if there != temp_mount or here == temp_mount:
                continue
            if here is None or not is_under(made, temp):
                return None  # onto the read-only root, or from elsewhere in the mount: not TMPDIR's
            into.add(here)
        if len(into) != 1:
            return None
        target = into.pop()
        venvs = self._planner.venvs | self._planner.disposable
        if any(is_under(v, target) or is_under(target, v) for v in venvs):
            return None  # installers' links from a cache in /tmp into a venv: they copy on EXDEV
        if any(is_under(d, target) for d in self._planner.emptied):
            return None  # it deletes there (clears its output first): its temporary files with them
        if len(target) > _TMPDIR_LONGEST:
            return None  # a Unix socket made in TMPDIR would outgrow sun_path (108 bytes)
        return temp, temp_mount, target

    def _crossings(self, mounts: list[str]) -> dict[tuple[str, str, str], tuple[int, tuple[str, str]]]:
        """The run's renames and hard links whose two names the plan puts on two mounts (the
        kernel refuses either across mounts, even of one filesystem): by (kind, source mount,
        target mount), how many and an example."""
        found: dict[tuple[str, str, str], tuple[int, tuple[str, str]]] = {}
        if not mounts:
            return found
        for kind, source, target, there, on_target, made in self._moves.between(mounts):
            here = on_target
            if kind == "hard link" and there is not None and here is None:
                # a new name on a mount for a file of the read-only root (whose directory no
                # mount may cover: it would hide the file; a rename's end there has one)
                here = ROOT_SIDE
            if there is not None and here is not None and there != here:
                count, example = found.get((kind, there, here), (0, (source, target)))
                found[(kind, there, here)] = (count + made, example)
        return found

    def _scratch_app(self) -> list[tuple[str, str]]:
        """The notes on the application found in a scratch place, each with the path it names."""
        found = []
        cwd = self._planner.cwd
        inside = scratch_of(cwd) if cwd else None
        # said where the command wrote there: allowed here as a scratch place, and a tmpfs the
        # plan would make there for the writes beside the app would hide it
        if inside is not None and any(is_under(d, inside) for d, _venv in self._placements):
            found.append((cwd, (
                f"the working directory {cwd} is inside {inside}, a scratch place a plan makes an empty"
                " tmpfs when the command writes in it, which would hide the application; trace the app"
                " from where the image installs it"
            )))  # fmt: skip
        for scratch in SCRATCH:
            ran = sorted(p for p in self._planner.app if is_under(p, scratch))
            if ran and not (cwd and is_under(cwd, scratch)):
                found.append((ran[0], (
                    f"the command ran {ran[0]}, inside {scratch}, a scratch place a plan makes an empty"
                    f" tmpfs: the plan does not mount {scratch} (it would hide it); install the app where"
                    " the image keeps it"
                )))  # fmt: skip
        return found

    def _notes(self, mounts: list[str], fallback: str | None) -> list[str]:
        notes = [note for _path, note in self._scratch_app()]
        planner = self._planner
        notes += environments.notes(planner.cwd, self._uv_venvs, self._uv_python)
        made = [m for m in mounts if m not in SCRATCH and planner.made(m)]
        tried = [m for m in mounts if m not in SCRATCH and m not in made and m in planner.refused_mkdirs]
        if made or tried:
            listed = ", ".join([*made, *tried][:3]) + (
                f" and {len(made) + len(tried) - 3} more" if len(made) + len(tried) > 3 else ""
            )
            did = "made" if not tried else "tried to make" if not made else "made (or tried to make)"
            notes.append(
                f"the command {did} {listed} itself, where the plan mounts: a runtime makes a mount point"
                " before the command starts, so a command that gives up when its directory exists"
                " (cookiecutter's output, a shell's `mkdir` without -p) fails under the plan; most make"
                " theirs with makedirs(exist_ok=True) or `mkdir -p`, and carry on"
            )
        for removed, above in sorted(self._removed_points.items())[:3]:
            notes.append(
                f"the command removes {removed}: a mount there makes its removal fail (EBUSY), so the plan"
                f" looked at {above}, where none can go; a program that removes its scratch directory only"
                f" to tidy up and carries on (DuckDB's spill directory) runs with a tmpfs at {removed}"
                " (try it: `--tmpfs`, an emptyDir there), one that must remove it (setuptools' sdist"
                " staging) needs its scratch directory set elsewhere (DuckDB: SET temp_directory)"
            )
        for (kind, source, target), (count, example) in self._crossings(mounts).items():
            calls = f"{count} {kind}s" if count > 1 else f"1 {kind}"
            cross = "cross" if count > 1 else "crosses"
            if target == ROOT_SIDE:  # a new name on `source`'s mount, for a file of the root
                notes.append(
                    f"{calls} between {source} and a file of the read-only root (e.g. {example[0]} to"
                    f" {example[1]}) {cross} from the plan's mount to the root, where a {kind} fails with"
                    " EXDEV (Invalid cross-device link) and only a program that then copies carries on (git"
                    " does); no mount may cover the file's directory, which would hide it: make the new name"
                    " beside the file, or copy it"
                )
                continue
            moved = self._temp_moved
            if moved is not None and {source, target} == {moved[1], moved[2]}:
                notes.append(
                    f"{calls} from {source} to {target} (e.g. {example[0]} to {example[1]}) {cross} two of"
                    f" the plan's mounts, where a {kind} fails with EXDEV (Invalid cross-device link): the"
                    f" plan sets TMPDIR={moved[2]}, so that the temporary files are made on that mount"
                    f" (tempfile, mktemp and most runtimes follow TMPDIR; a program that names {moved[0]}"
                    " itself still fails there)"
                )
                continue
            self._unheld.append(f"{source} -> {target}")
            notes.append(
                f"{calls} from {source} to {target} (e.g. {example[0]} to {example[1]}) {cross} two of"
                f" the plan's mounts, where a {kind} fails with EXDEV (Invalid cross-device link) and only a"
                " program that then copies carries on (shutil.move, mv); no mount holds both, and no one"
                f" TMPDIR serves them all: make the file in {target}'s mount (tempfile's dir=, or TMPDIR"
                " below it)"
            )
        lost = {
            m
            for m in mounts
            if m not in SCRATCH and m not in self._persistent and planner.earlier_runs_left(m)
        }
        for point in outermost(lost):  # (a persistent mount keeps them: none to say)
            if planner.read_back_by_later_runs(point):  # a hidden directory: never a volume of the plan's
                notes.append(
                    f"{point} held files before some of the merged runs that the runs before them made, and"
                    " the later runs read them back (a key, a certificate authority): the plan mounts it"
                    " empty, so a restart loses them and each start makes them anew; where they must last,"
                    " list it under `persistent` in the policy, or mount a volume there"
                )
                continue
            notes.append(
                f"{point} held files before some of the merged runs that the runs before them made (uploads,"
                " outputs, a cache), and the plan mounts it empty: a restart loses them; if the app reads"
                " them back, list it under `persistent` (a trace made with --all-opens records the reads,"
                " and the plan then keeps them)"
            )
        own = {
            m
            for m in mounts
            if m not in SCRATCH
            and m not in self._persistent
            and m not in lost
            and not planner.in_cache_home(m, itself=True)
            and planner.reads_own_in(m)
        }
        for place in sorted(self._given) if self._asked else ():
            if place not in self._persistent:
                notes.append(
                    f"--persistent {place}: no write of the trace lands there, the plan mounts nothing"
                    if self._given_fits(place)
                    else f"--persistent {place}: a volume there would hide the system, the application or a"
                    " virtual environment: the plan does not mount it"
                )
        for point in outermost(own):
            notes.append(
                f"{point}: the command made it (or found it empty) and read back files it had written"
                " there (uploads served again, a build's outputs), and the plan mounts it empty (a tmpfs,"
                f" an emptyDir): a restart loses them; where they must last, give `--persistent {point}`"
                " (a claim, a named volume) or list it under `persistent` in the policy"
            )
        for known, count in sorted(self._unheeded.items(), key=lambda kv: -kv[1]):
            how = ", ".join(f"{name}={value}" for name, value in known.env)
            notes.append(
                f"{known.title} ({count} write{'s' if count > 1 else ''}): {how} was set for the run and they"
                " were made all the same: the setting does not stop this writer (it writes regardless, or"
                " runs with an environment of its own: tox's tests), so the plan does not count on it"
            )
        planner = self._planner
        for venv in sorted(
            v for v in planner.disposable if planner.in_scratch(v) and not planner.made_by_command(v)
        ):
            notes.append(
                f"the virtual environment {venv} was there before the run: the plan's scratch places start"
                " empty, as a container's do, so the command must make it again"
            )
        for b in sorted(self._blocked.values(), key=lambda b: b.point):
            other = planner.not_kept(b.point) if b.kind == "held" else None
            if other is not None:  # (a volume seeded with it would make it writable, and keep it)
                notes.append(
                    f"{b.point}: the command keeps data there, beside {other}, which it did not keep this"
                    " run: where that is a file it only reads (a program, a configuration), move it out of"
                    " the place, and the plan's volume there starts with the data (seeded); where it is"
                    " the data's own (an index's segments, read and replaced later), give"
                    f" `--persistent {b.point}`: a volume that starts with what the place holds"
                )
        for placement, check in self._unmet_checks():  # a place refused for its writes: said there
            checks = f"{check.count} checks" if check.count > 1 else "a check"
            then = (
                f"; the plan mounts its temporary directory, {fallback}, where most fall back"
                if fallback
                else ""
            )
            below = [m for m in mounts if is_under(m, placement.point) and m != fallback]
            unused = (
                f"; a program that falls back on the check's answer writes there, not in the plan's"
                f" mount{'s' if len(below) > 1 else ''} below {placement.point}, {', '.join(below)}"
                if below
                else ""
            )
            notes.append(
                f"{checks} that the command may write {check.example} (access W_OK, by {check.program}),"
                " where it wrote nothing: under a read-only root the check fails, and no mount can meet it"
                f" ({placement.reason}){then}{unused}; a command that gives up there needs its setting that"
                " moves the place; no plan makes the check pass (`rotrace allowlist` exits 1): `rotrace run"
                " --read-only` shows whether the command carries on without it"
            )
        if self._allowed_blocked:
            reasons = {p: self._planner.forbidden(p) for p in self._allowed_blocked}  # (each asked before)
            places = "; ".join(
                (why if why.startswith(p) else f"{p}: {why}") if (why := reasons[p]) else p
                for p in sorted(self._allowed_blocked)
            )
            count = sum(self._allowed_blocked.values())
            notes.append(
                f"{count} allowed write{'s' if count > 1 else ''} cannot be made writable by a mount "
                f"under a read-only root ({places}): allowed here, they fail there"
            )
        for known, count in sorted(self._applied.items(), key=lambda kv: -kv[1]):
            how = ", ".join(f"{name}={value}" for name, value in known.env) or "a build step"
            fix = known.fix.removeprefix(how).strip()  # the fix often restates the setting
            if fix.startswith("(") and fix.count("(") == 1 and (close := fix.find(")")) > 0:
                fix = (fix[1:close] + fix[close + 1 :]).strip()  # "(on a tmpfs), or X": one pair
            more = f" ({fix})" if fix else ""
            writes = f"{count} write{'s' if count > 1 else ''}"
            notes.append(f"{known.title} ({writes}): set {how} instead of a mount{more}")
        for point in sorted(
            p for p in self._persistent if p in mounts and p not in self._given
        ):  # the policy's: said
            outputs = self._planner.holds_runs_outputs(point)
            why = (
                f"{point} holds the earlier runs' outputs (directories of per-run names), beside which the"
                f" run made its own (e.g. {self._persistent[point]}): a tmpfs or emptyDir loses them"
                if outputs
                else f"{point} holds data the program keeps: reads back, or writes over (e.g."
                f" {self._persistent[point]}): a tmpfs or emptyDir loses it"
            )
            notes.append(
                f"{why} on a restart; mount a persistent volume there"
                + (f", {SEED_ADVICE}" if self._planner.seeded(point) else "")
            )
        if self._tolerated:
            count = sum(self._tolerated.values())
            errnos = ", ".join(sorted(self._tolerated))
            refused_at = sorted(self._tolerated_at.items())
            where = ", ".join(f"{d} by {', '.join(sorted(who))}" for d, who in refused_at[:_NAMED])
            if len(refused_at) > _NAMED:
                where += f" and {len(refused_at) - _NAMED} more"
            notes.append(
                f"{count} write{'s' if count > 1 else ''} refused here ({errnos}) that the command carried "
                f"on after ({where}): no mount planned for them (under a read-only root they fail as here)"
            )
            for known, n in sorted(self._tolerated_known.items(), key=lambda kv: -kv[1]):
                how = ", ".join(f"{name}={value}" for name, value in known.env)
                notes.append(f"{known.title} ({n} of them): {how} avoids them")
        return [safe_text(n) for n in notes]


def plan_mounts(
    verdicts: Iterable[Verdict],
    cwd: str,
    states: dict[bytes, DirState] | None = None,
    *,
    enforced: bool = False,
    command_failed: bool = False,
    environment: dict[str, str] | None = None,
    ran: frozenset[str] | None = None,
    runs: Iterable[dict[str, str]] = (),
) -> MountPlan:
    """The plan of verdicts that can be iterated twice (a trace file's, a list)."""
    planner = MountPlanner(cwd, states)
    planner.know_environment(environment or {}, ran, runs)
    planner.know_run(enforced=enforced, command_failed=command_failed)
    for v in verdicts:
        planner.learn(v)
    for v in verdicts:
        planner.place(v)
    return planner.plan()
