"""The files a gate reads after the traced command ran (a policy, a baseline, the other runs'
traces), and whether the command wrote one of them. A gate that reads what the command may
have written is no gate: a command that rewrites the committed baseline to list its own new
writes, or a later run that rewrites an earlier run's trace, would pass `diff`, `check` and
`merge` as it pleased. A trace that shows such a write is refused (BadInput), whatever the
write's verdict (/tmp is allowed, and a checkout may sit there)."""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from rotrace.errors import BadInput
from rotrace.events import FileEvent
from rotrace.pathnames import glob_regex

# Operations on a directory above an input that can put another file at its name.
_MOVES = frozenset({"rename", "delete", "symlink", "link", "mkdir"})


@dataclass(frozen=True)
class Input:
    """A file a gate reads: its name as given, what it is to the gate (`the policy file`,
    `the baseline`, `the trace`) and how to read it as it was before the run."""

    named: str
    what: str
    advice: str


POLICY_ADVICE = (
    "check with the policy as committed (git show HEAD:rotrace.toml > /tmp/rotrace.toml), or run the"
    " command where it cannot write it"
)
BASELINE_ADVICE = (
    "compare with the baseline as committed (git show HEAD:.rotrace/baseline.json > /tmp/baseline.json),"
    " or keep it where the command cannot write it"
)
TRACE_ADVICE = (
    "keep each run's trace where the commands of the other runs cannot write it (outside the checkout)"
)


@dataclass(frozen=True)
class InputSet:
    """Files a gate reads by a directory or a glob (`check traces/`, `merge 'runs/*.json'`): each
    name it stands for is an input, there or not (a trace removed or moved away by a later run's
    command is one the gate no longer reads: that run's verdict stands alone)."""

    named: str  # the argument as given
    pattern: str  # the glob of the files it stands for, as Python's glob reads it (a directory's: DIR/*.json)
    what: str
    advice: str


class InputGuard:
    """Whether a trace's command wrote one of the gate's inputs: by any of its names (as given,
    and the file it leads to now), or a directory above one of them renamed, removed or replaced
    (moved away, written, moved back), or a name a merged trace's glob stands for that is one of
    them, or any name a set of inputs stands for (`sets`; but `own`, the trace itself, which
    rotrace writes once its command has run), or a directory above a set renamed, removed or
    replaced. `check` raises BadInput at the first such write."""

    def __init__(self, inputs: list[Input], sets: Sequence[InputSet] = (), own: str | None = None) -> None:
        self._files: dict[bytes, Input] = {}
        self._above: dict[bytes, Input | InputSet] = {}
        self._sets = [(pattern, given) for given in sets for pattern in _absolute_globs(given.pattern)]
        self._own = _names_of(own) if own is not None else set()
        for pattern, given_set in self._sets:  # the set's directory moved away: its names go too
            head = _fixed_head(pattern)
            for directory in (head, *_directories_above(head)):
                self._above.setdefault(os.fsencode(directory), given_set)
        for given in inputs:
            _one_name(given)
            names = {os.path.abspath(given.named)}
            with contextlib.suppress(OSError, ValueError):
                names.add(os.path.realpath(given.named))
            for name in names:
                self._files.setdefault(os.fsencode(name), given)
                for directory in _directories_above(name):
                    self._above.setdefault(os.fsencode(directory), given)
        self._texts = sorted((os.fsdecode(f), given) for f, given in self._files.items())

    def _first(self) -> Input | InputSet:
        """The input a refusal names when it cannot tell which (there is at least one)."""
        return next(iter(self._files.values())) if self._files else self._sets[0][1]

    def check_run(self, remounted: list[str], trace: str) -> None:
        """BadInput if `trace`'s command changed the mounts of rotrace's mount namespace
        (TraceHeader.remounted): a file mounted over an input, or over a directory above one,
        outlasts the run, and no write of it names the input (a bind as root: `mount --bind
        /tmp/mine rotrace.toml`)."""
        if not remounted or not (self._files or self._sets):
            return
        first = self._first()
        raise BadInput(
            f"{trace}: the traced command changed the mounts of rotrace's mount namespace"
            f" ({', '.join(remounted)}), which outlast it: {first.what} {first.named} may be what it"
            f" mounted there, and a gate that reads what the command may have written gates nothing;"
            f" {first.advice}"
        )

    def check(self, e: FileEvent, trace: str, merged: bool) -> None:
        """BadInput if this event of `trace` (a merged trace: `merged`) wrote an input."""
        if not e.write or e.op == "access" or e.failed or not (self._files or self._sets):
            return
        if e.unresolved:  # (a file bound elsewhere in a namespace of its own: any file at all)
            first = self._first()
            raise BadInput(
                f"{trace}: the traced command wrote where rotrace could not place ({e.op}"
                f" {os.fsdecode(e.path)}, {e.syscall}, unresolved), which may have been {first.what}"
                f" {first.named}: a gate that reads what the command may have written gates nothing;"
                f" {first.advice}"
            )
        for raw in (e.path, e.target if e.op in ("rename", "link") else None):
            if raw is None or not self._sets or raw in self._own:
                continue
            name = os.fsdecode(raw)
            among = next((given for pattern, given in self._sets if _matches(name, pattern)), None)
            if among is not None:
                raise BadInput(
                    f"{trace}: the traced command wrote {name}, one of {among.what} {among.named} stands"
                    f" for ({e.op}, {e.syscall}): a gate that reads what the command could change, remove"
                    f" or add gates nothing; {among.advice}"
                )
        # a rename's or a hard link's other name is a place; a symbolic link's is what it holds
        for raw in (e.path, e.target if e.op in ("rename", "link") else None):
            if raw is None:
                continue
            given: Input | InputSet | None = self._files.get(raw)
            if given is None and e.op in _MOVES:
                given = self._above.get(raw)
            if isinstance(given, InputSet):
                raise BadInput(
                    f"{trace}: the traced command moved, removed or replaced a directory that holds"
                    f" {given.what} {given.named} stands for ({e.op} {os.fsdecode(raw)}, {e.syscall}): a"
                    f" gate that reads what the command could change, remove or add gates nothing;"
                    f" {given.advice}"
                )
            if given is None and merged:
                given = self._glob_of(raw)
            if given is not None:
                raise BadInput(
                    f"{trace}: the traced command wrote {given.what} {given.named} ({e.op}"
                    f" {os.fsdecode(raw)}, {e.syscall}): a {given.what.removeprefix('the ')} the command"
                    f" could change gates nothing; {given.advice}"
                )

    def _glob_of(self, raw: bytes) -> Input | None:
        """A merged trace's name that is a glob of its runs' names (`[a-z]{7}.toml`): one of
        them may have been an input's."""
        if b"[" not in raw:
            return None
        try:
            regex = glob_regex(os.fsdecode(raw))
        except re.error:
            return None
        return next((given for text, given in self._texts if regex.fullmatch(text)), None)


def _one_name(given: Input) -> None:
    """BadInput if the input has other names (hard links): a command may have written it through
    one that no trace of the gate's names (made by an earlier step of the job)."""
    try:
        st = os.stat(given.named)
    except (OSError, ValueError):
        return  # read, it says what is wrong with it
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        raise BadInput(
            f"{given.named} has {st.st_nlink} names (hard links): a command could have written {given.what}"
            f" through another, which no trace names; {given.advice}"
        )


def _directories_above(path: str) -> list[str]:
    above = []
    while (parent := os.path.dirname(path)) != path:
        above.append(parent)
        path = parent
    return above[:-1] if above and above[-1] == "/" else above  # not / itself: nothing renames it


def _names_of(path: str) -> set[bytes]:
    names = {os.path.abspath(path)}
    with contextlib.suppress(OSError, ValueError):
        names.add(os.path.realpath(path))
    return {os.fsencode(n) for n in names}


def _absolute_globs(pattern: str) -> list[str]:
    """A set's glob from the root, as given, through the real path of the directories before
    its first name with a wildcard, and through the real path of each directory it stands for
    now (a trace names each file by where its command wrote it)."""
    given = os.path.abspath(pattern)
    head = _fixed_head(given)
    try:
        found = [given, os.path.join(glob.escape(os.path.realpath(head)), given[len(head) :].lstrip("/"))]
        directory, name = os.path.split(given)
        if glob.has_magic(directory):  # each directory it stands for now, by its real path too
            # (`runs/*/t.json` with runs/a a link: a removal is recorded at the real path)
            found += [os.path.join(glob.escape(os.path.realpath(d)), name) for d in glob.glob(directory)]
    except (OSError, ValueError):
        return [given]
    return list(dict.fromkeys(found))


def _fixed_head(pattern: str) -> str:
    """The directories of an absolute glob before its first name with a wildcard."""
    parts = pattern.split("/")
    fixed = 1
    while fixed < len(parts) - 1 and not glob.has_magic(parts[fixed]):
        fixed += 1
    return "/".join(parts[:fixed]) or "/"


def _matches(name: str, pattern: str) -> bool:
    """Whether Python's glob, which found the gate's traces, stands for `name` by `pattern`: a
    wildcard within one name, and a name starting with `.` only where the pattern's does."""
    names, parts = name.split("/"), pattern.split("/")
    if len(names) != len(parts):
        return False
    for part, wanted in zip(names, parts, strict=True):
        if not glob.has_magic(wanted):
            if part != wanted:
                return False
        elif (part.startswith(".") and not wanted.startswith(".")) or not fnmatch.fnmatchcase(part, wanted):
            return False
    return True
