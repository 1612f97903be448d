"""Writes that appeared or disappeared between two traces (say, two uv versions), and their
rendering: grouped by directory, each change with its explanation. Writes are compared by
operation, path and other name, each trace's working directory as `$CWD`; a per-run name
(a temporary name, a pid, a merged trace's glob) pairs with its twin in the other trace where the
names show they are one (`_per_run`), never two names both traces could write."""

from __future__ import annotations

import difflib
import os
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING

from rotrace.escape import safe_text
from rotrace.events import FileEvent
from rotrace.explain import Known
from rotrace.pathnames import (
    NAME_END,
    common_prefix,
    generalise,
    glob_places,
    glob_regex,
    is_under,
    known_run_name,
    known_run_path,
    normal,
)
from rotrace.patterns import Lazy
from rotrace.policy.mountpoints import SCRATCH, SYSTEM_DIRS
from rotrace.policy.verdict import Verdict

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class Change:
    op: str
    path: str  # the trace's cwd is $CWD; a per-run name of several writes, its glob
    errnos: set[str] = field(default_factory=set)
    violation: bool = False
    explanation: Known | None = None
    target: str | None = None  # a rename's or a link's other name, as `path`
    runs: int = 0  # a merged trace's: the runs that made it (bits); 0: one run's trace
    # every write of it was refused where it would have made its name (an O_EXCL create, a
    # mkdir: not there, and not made); None: no write counted
    made_nothing: bool | None = None
    # one name a run wrote, where `path` is a glob or a per-run form that stands for it (a new
    # run's `tmpzzzz/deep/evil.sh` under the baseline's `tmp*/deep/`): which name it was
    example: str | None = None

    @property
    def directory(self) -> str:
        """Where the change is shown: its directory; for a write rotrace could not place, the
        group of those (its name is only the string the command passed)."""
        if self.path.startswith(UNRESOLVED):
            return UNRESOLVED
        return os.path.dirname(self.path) or "/"

    def absorb(self, other: Change) -> None:
        """`other`'s writes counted as this one's (one name for both)."""
        self.errnos |= other.errnos
        self.violation = self.violation or other.violation
        self.explanation = self.explanation or other.explanation
        self.runs |= other.runs
        self.example = self.example or other.example
        if other.made_nothing is not None:
            self.made_nothing = other.made_nothing and self.made_nothing is not False


@dataclass
class TraceDiff:
    appeared: list[Change]
    disappeared: list[Change]
    environment: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # name -> old, new
    # writes in both, a violation now and not before (another process wrote its parent's /proc file)
    became: list[Change] = field(default_factory=list)
    # how the command ended in each (`exit status 0`, `killed by SIGKILL`), where the two differ
    outcome: tuple[str, str] | None = None
    newly_failed: bool = False  # the old run succeeded and the new one did not (uv dying at start)
    command: tuple[list[str], list[str]] | None = None  # old, new: where the two ran another command
    # writes in both, a violation before and not now (a directory made then, found made now: EEXIST)
    ceased: list[Change] = field(default_factory=list)
    # writes only some of a merged baseline's runs made, not made now: no change (a write made
    # now and then: a cache filled on a cold start, a log rotated on a day's first run)
    intermittent: list[Change] = field(default_factory=list)

    @property
    def new_violations(self) -> list[Change]:
        return [c for c in self.appeared if c.violation] + self.became


_Key = tuple[str, str, str | None]  # (op, path, target), the trace's cwd as $CWD


class Changes:
    """The writes of one trace, folded by (op, path, target): fed verdict by verdict. A merged
    trace's globs of per-run names (`generalised`) stand for the names a run writes there."""

    def __init__(
        self,
        cwd: str,
        environment: dict[str, str] | None = None,
        generalised: Iterable[str] = (),
        homes: Iterable[str] = (),
        most: Mapping[str, int | None] | None = None,
        pods: Sequence[str] = (),
    ) -> None:
        """`homes`: a merged trace's HOME in each of its runs (a CI matrix run as root and as a
        user): a write in its run's home is compared as `$HOME` where the runs disagree;
        `most`: of its globs, the most names one run wrote (`Generalised.most`); `pods`: the
        Pod each run was recorded in (its `pod` label; one for a run's trace), whose name a
        replica's file carries where it is a controller's per-Pod draw (`web-7c9d4b8f6c-q8x2m`,
        the host name): compared as `$POD`."""
        self.cwd = cwd
        self.environment = environment or {}
        self._by_key: dict[_Key, Change] = {}
        self.examples: dict[_Key, tuple[str, str | None]] = {}
        # names the run made, with the keys their writes were noted under (until gone again);
        # those made whose writes are noted by their per-run form (`_run_name`); and those gone
        # again: temporary names (bounded: past it, names are compared as they are)
        self._made: dict[str, set[_Key]] = {}
        self._formed: set[str] = set()
        # temporary names whose writes are still under their own names: made again, they are
        # no temporary names (`_transient`)
        self._gone: dict[str, None] = {}
        self._temporary: set[str] = set()
        # names the run removed (however made) and did not make again: they stay no more; those
        # it renamed away, whose names below went along
        self._removed: set[str] = set()
        self._moved_away: set[str] = set()
        # names the run was refused to make (an O_EXCL create, a mkdir: not EEXIST, so the name
        # was not there) and did not make after: it left nothing of these (mkstemp's create
        # refused under --enforce); bounded: past it, such a name is taken as staying
        self._unwritten: set[str] = set()
        self._swapped: set[str] = set()  # directories swapped with another (RENAME_EXCHANGE)
        # a merged trace's globs whose names its runs made (a create) and removed again (a
        # rename away, a removal), with the keys their writes were noted under: temporary names
        # whatever order the merge left their writes in. That order is one for all the runs,
        # and a cycle repeated under one glob (uv's .tmpXXXXXX made, renamed onto REQUESTED,
        # another made and renamed onto INSTALLER) shows a rename before the create
        self._glob_keys: dict[str, set[_Key]] = {}
        self._glob_made: set[str] = set()
        self._glob_gone: set[str] = set()
        # a merged trace's: the runs (bits) that put each name there, and those that removed it.
        # Its order is one for all its runs, which a run that rotates (certbot's log.1 -> log.2
        # after log.2 -> log.3) does not keep: a name some run put there and did not remove
        # stays, whatever the merged order says
        self._put_by: dict[str, int] = {}
        self._removed_by: dict[str, int] = {}
        # of each per-run form, the names made less those removed: what stays of a key of more
        # names than are kept (5,000 lock files made and removed, and one left)
        self._net: dict[str, int] = {}
        self._forms: dict[str, str] | None = None  # the temporary names as keys show them: as compared
        # the names folded into each key of per-run names, each with its own verdict: a name both
        # traces write is no per-run name (`_stable`), and a form that holds a name which stays is
        # no temporary name's (`compared`); a key's None: more names than are kept
        # (_KEY_NAMES a key, _FOLDED_NAMES in all), which is told apart, never taken for none
        self.folded: dict[_Key, dict[tuple[str, str | None], bool] | None] = {}
        # names folded so far, allowed ones and violations apart: a flood of allowed names (33,000
        # files in /tmp) used up the bound, and a key of violations after it went uncounted
        self._folded_count = [0, 0]
        # each folded name's runs (bits; a single run's: run 0) and writes: how many names of its
        # key a run left (`per_run`)
        self.tally: dict[tuple[_Key, tuple[str, str | None]], tuple[int, int]] = {}
        home = normal(self.environment.get("HOME", "") or ".")
        self._home = home if _a_home(home) else ""
        homes = [normal(h or ".") for h in homes]
        self._homes = [h if _a_home(h) else "" for h in homes]
        self.run_count = len(homes)  # a merged trace's runs (0: one run's trace)
        self._pods = [p if _POD_DRAW.fullmatch(p) else "" for p in pods]
        self.globs = [_relative(g, cwd, self._home) for g in generalised]
        self._most = {_relative(g, cwd, self._home): n for g, n in (most or {}).items() if n is not None}
        # how the command ended (`exit status 2`), and whether it failed; None: no ending to
        # compare (a checkpoint, a process let go, a merge of runs, the run going on)
        self.outcome: tuple[str, bool] | None = None
        # the command the trace ran; None: not one (a merge of runs of several)
        self.command: list[str] | None = None
        # a merged trace's runs' own environments (its `environment` is what they all had)
        self.run_environments: list[dict[str, str]] = []

    def add(self, v: Verdict) -> None:
        e = v.event
        if not e.write:
            return
        # a rename's or link's other name, and what a symlink holds: where it points is written
        other = e.target is not None and e.op in ("rename", "link", "symlink")
        home, pod = self._home_of(v.runs), self._pod_of(v.runs)
        exact_target = _relative(e.target, self.cwd, home, pod) if other and e.target is not None else None
        exact = _relative(e.path, self.cwd, home, pod)
        flags = str(e.flags or "")
        refused = _refused_to_make(e, flags)
        if e.unresolved:  # not placed: its name is the string the process chose, no place's
            self._note((e.op, UNRESOLVED + exact, exact_target), v, exact, exact_target, refused)
            return
        # the name is no more (RENAME_EXCHANGE leaves a file there: the other's; a rename onto
        # itself, or a merged trace's of one glob onto it, does nothing: a pid file renamed)
        exchange = e.op == "rename" and "RENAME_EXCHANGE" in flags
        gone = e.result == 0 and (
            e.op == "delete" or (e.op == "rename" and not exchange and exact_target != exact)
        )
        succeeded = e.result is not None and e.result >= 0 and not e.failed
        if succeeded and self._unwritten:  # there after all (a rename's or a link's new name too)
            self._unwritten.discard(exact)
            if e.op in ("rename", "link") and exact_target is not None:
                self._unwritten.discard(exact_target)
        elif (
            refused
            and exact not in self._made  # (made before it: there, whatever the call said)
            and exact not in self._formed
            and len(self._unwritten) < _MADE_LIMIT
        ):
            self._unwritten.add(exact)
        if v.runs:
            self._note_runs(v, exact, exact_target if succeeded and e.op == "rename" else None, gone)
        if gone and (exact in self._made or exact in self._formed) and not self._left_by_a_run(exact):
            self._formed.discard(exact)  # made and gone again: temporary
            self._transient(exact)
        made = succeeded and _makes_anew(e.op, flags)
        if succeeded and e.op in _MAKES_NAME:  # there again, however made: a name like any other now
            if exact in self._gone:  # made again before its writes moved: they stay its own
                del self._gone[exact]
            self._temporary.discard(exact)
            self._removed.discard(exact)
        if succeeded and e.op == "rename" and exact_target is not None:  # (a link's target is its old name)
            self._gone.pop(exact_target, None)
            self._temporary.discard(exact_target)
            self._removed.discard(exact_target)
        if succeeded and exchange and exact_target is not None:  # each holds what the other held:
            self._swapped.update((exact, exact_target))  # what was written below either stays
        if gone and len(self._removed) < _MADE_LIMIT:
            self._removed.add(exact)
            if e.op == "rename":  # what is below it goes along (a tree staged and renamed into place)
                self._moved_away.add(exact)
            else:
                self._moved_away.discard(exact)
        # a name spelt with `*`, the per-run forms' mark (a file named `app-*` beside app-12345),
        # is compared as what it is: never the form, which stands for the names a run draws (its
        # own name's: a directory so named, `st*r/`, holds per-run names like any other)
        path = LITERAL + exact if "*" in exact.rpartition("/")[2] else self._shown(exact)
        key = (e.op, path, None if exact_target is None else self._formed_name(exact_target))
        if path != exact:
            if succeeded and e.op in _MAKES_NAME:
                self._net[path] = self._net.get(path, 0) + 1
            elif gone:
                self._net[path] = self._net.get(path, 0) - 1
        if succeeded and e.op == "rename" and key[2] is not None and key[2] != exact_target and not exchange:
            self._net[key[2]] = self._net.get(key[2], 0) + 1
        self._note(key, v, exact, exact_target, refused)
        if self.globs and path == exact and "[" in exact and len(self._glob_keys) < _MADE_LIMIT:
            self._glob_keys.setdefault(exact, set()).add(key)
            if made:
                self._glob_made.add(exact)
            if gone:
                self._glob_gone.add(exact)
        if path == exact and (exact in self._made or (made and len(self._made) < _MADE_LIMIT)):
            self._made.setdefault(exact, set()).add(key)  # (a chmod or utime before its rename too)
        elif made and path != exact and len(self._formed) < _MADE_LIMIT:
            self._formed.add(exact)

    def _pod_of(self, runs: tuple[int, ...]) -> str:
        """The Pod a write of these runs was made in (`pods`), where one is."""
        if not self.run_count:
            return self._pods[0] if self._pods else ""
        theirs = {self._pods[r] if r < len(self._pods) else "" for r in runs}
        return theirs.pop() if len(theirs) == 1 else ""

    def _home_of(self, runs: tuple[int, ...]) -> str:
        """The home a write of these runs is compared by: the trace's, or, in a merged trace
        whose runs' homes differ, the one its runs share (none where they do not)."""
        if not runs or not self._homes or self._home:
            return self._home
        theirs = {self._homes[r] if r < len(self._homes) else "" for r in runs}
        return theirs.pop() if len(theirs) == 1 else ""

    def _note(self, key: _Key, v: Verdict, exact: str, exact_target: str | None, refused: bool) -> None:
        """`refused`: the write was refused where it would have made its name (`_refused_to_make`)."""
        if (key[1], key[2]) != (exact, exact_target):
            names = self.folded.setdefault(key, {})
            if names is not None and (exact, exact_target) not in names:
                self._folded_count[v.violation] += 1
                if len(names) >= _KEY_NAMES or self._folded_count[v.violation] > _FOLDED_NAMES:
                    names = self.folded[key] = None
            if names is not None:
                names[(exact, exact_target)] = names.get((exact, exact_target), False) or v.violation
        # a merged trace's (a run's own names are each one name of run 0: nothing to keep)
        name = (key, (exact, exact_target))
        runs = sum(1 << r for r in v.runs)
        if v.runs and (name in self.tally or len(self.tally) < _FOLDED_NAMES):
            bits, count = self.tally.get(name, (0, 0))
            self.tally[name] = (bits | runs, count + v.count)
        change = self._by_key.get(key)
        if change is None:
            change = self._by_key[key] = Change(key[0], key[1], target=key[2])
            self.examples[key] = (exact, exact_target)  # a name of it, for a merged trace's globs
        change.runs |= runs
        change.made_nothing = refused and change.made_nothing is not False
        change.errnos.add(v.event.outcome)
        change.violation = change.violation or v.violation
        change.explanation = change.explanation or v.explanation

    def _glob_cycles(self) -> None:
        """A merged trace's globs whose names were made and removed again, in whatever order
        its writes are (`_glob_made`), are temporary names, unless its runs left some of them
        (`Generalised.most`): their writes move to the temporary form, as a run's own do."""
        cycled, self._glob_made = self._glob_made & self._glob_gone, set()
        for glob in sorted(cycled):
            if glob in self._temporary or (self._most.get(glob) or 0) > 0:
                continue
            self._made.setdefault(glob, set()).update(self._glob_keys.get(glob, ()))
            self._transient(glob)

    def compared(self, path: str | None) -> str | None:
        """A key's name as two traces compare it, once the run is over: each directory above it
        that the run made and removed again (a rename away is one too) in its temporary form,
        and the name too if it is one. pip's mkdtemp(prefix="pip-target-") holds lib/python/pkg,
        made and removed, renamed out: its letters-only draw (1 in 17) is no per-run form, a
        draw with a digit is (`pip-target-*`), and each name below it followed its directory."""
        if self._glob_made:
            self._glob_cycles()
        if path is None or not self._temporary:
            return path
        forms = self._forms
        if forms is None:
            forms = self._forms = {}
            kept = self._lasting_forms()
            for exact in sorted(self._temporary):  # by the name itself, not its per-run form
                name = _temporary_name(exact.rpartition("/")[2])
                forms.setdefault(exact, name)
                # and as its key shows it (below a per-run name: pip-target-*/lib; a per-run
                # name itself: litestar's KEY.tmp*), where no name that stays has that form
                # (`job-*`, `*/.bashrc` beside the made and removed `33333/.bashrc`)
                shown = self._formed_name(exact)  # (a merged glob by its names' form, as _shown)
                if shown not in kept:
                    forms.setdefault(shown, name)
        parts = path.split("/")
        prefix = parts[0]
        for i in range(1, len(parts)):
            prefix = f"{prefix}/{parts[i]}"
            compared = forms.get(prefix)
            if compared is not None:
                parts[i] = compared
        return "/".join(parts)

    def _lasting_forms(self) -> set[str]:
        """The per-run forms of the names that stay, and of every directory above one (a key of
        more names than are kept counts as one): a temporary name of such a form is not compared
        by it. `app/tmpq1w2e3r4/config.json` stays in a directory the run found there: the
        mkdtemp'd `app/tmpAbCd1234` (renamed into place) is no reason to compare it as `app/*`."""
        forms: set[str] = set()
        for key, names in self.folded.items():
            if key not in self.by_key:
                continue
            left = self.left(key[1]) if names is None and not self.tally else None
            if (names is None and (left is None or left > 0)) or (
                names is not None and any(not self._below_temporary(n) for n, _ in names)
            ):
                parts = key[1].split("/")
                forms.update("/".join(parts[:i]) for i in range(2, len(parts) + 1))
        return forms

    def left(self, form: str) -> int | None:
        """How many names of a per-run form the run left (made less removed), None: not known."""
        return self._net.get(form)

    def stays(self, exact: str) -> bool:
        """The name is there at the run's end, here or where a directory above it went: not
        removed, nor a temporary name or below one removed (a tree staged in `stage-N/` and
        renamed onto `app-N/` keeps what it holds); a merged trace's glob of names that its runs
        left (`Generalised.most`), whatever else they removed."""
        if exact.endswith(" (deleted)"):  # a file with no name left (/proc's name for it): none stays
            return False
        if self._glob_made:
            self._glob_cycles()
        if exact in self._unwritten:  # refused where it would have made it, and not made after
            return False
        up = exact
        while up and up not in self._swapped:  # (a swap moved what was below it: it stays)
            if up in self._temporary and (up == exact or up not in self._moved_away):
                return False
            up = up.rpartition("/")[0]
        left = self._most.get(exact)
        if left is not None:  # a merged glob: its runs left that many of its names at most
            return left > 0
        return exact not in self._removed or self._left_by_a_run(exact)

    def _note_runs(self, v: Verdict, exact: str, renamed_to: str | None, gone: bool) -> None:
        """A merged trace's write: which runs put the name there, which removed it."""
        bits = sum(1 << r for r in v.runs)
        put = [renamed_to] if renamed_to is not None else []
        if v.event.op in _MAKES_NAME and not v.event.failed:
            put.append(exact)
        for name in put:
            if name in self._put_by or len(self._put_by) < _MADE_LIMIT:
                self._put_by[name] = self._put_by.get(name, 0) | bits
        if gone and (exact in self._removed_by or len(self._removed_by) < _MADE_LIMIT):
            self._removed_by[exact] = self._removed_by.get(exact, 0) | bits

    def _left_by_a_run(self, exact: str) -> bool:
        """A merged trace's run put the name there and never removed it: a name as it is, never
        a glob of the runs' names (a removal of another glob of them may be of the same names,
        which the counts of `most` tell)."""
        if "[" in exact:
            return False
        return bool(self._put_by.get(exact, 0) & ~self._removed_by.get(exact, 0))

    def _below_temporary(self, exact: str) -> bool:
        """The name, or a directory above it, was made and is gone again."""
        while exact:
            if exact in self._temporary:
                return True
            exact = exact.rpartition("/")[0]
        return False

    def _shown(self, exact: str) -> str:
        """The name a write is compared by: a temporary name (made and gone again in the run) as
        its directory's `*`, a per-run name by its form (`_run_name`), else as it is."""
        if exact in self._temporary and exact not in self._gone:
            return _temporary(exact)
        return self._formed_name(exact)

    def _formed_name(self, exact: str) -> str:
        """A per-run name by its form; a merged trace's glob of them by the form its names have
        (`_glob_form`): a rename's target too (mkstemp's draw renamed onto app-<pid>)."""
        return _glob_form(exact) if self.globs and "[" in exact else _run_name(exact)

    def per_run(
        self, key: _Key, names: Iterable[tuple[str, str | None]], counted: set[tuple[int, str]] | None = None
    ) -> dict[int, int]:
        """How many of `names` (folded under the trace's own `key`) each run left: a name once in
        each run it is in; a merged glob's, the most its runs wrote (`Generalised.most`), else
        (a name below one, an older merge) as many as its writes allow: each of its runs wrote
        one at least, so a run holds at most its writes less one for each other run. `counted`:
        the (run, name) left that were counted already, under another key of the trace's."""
        found: dict[int, int] = {}
        counted = set() if counted is None else counted  # a name left once, whatever put it there
        moved = key[0] == "rename"
        for name in names:
            bits, count = self.tally.get((key, name), (1, 1))
            runs = [r for r in range(bits.bit_length()) if bits >> r & 1]
            left = _left(name, moved)  # (a rename leaves its target: litestar's KEY.tmpXXXX onto KEY)
            glob = any(left == g or left.startswith(g + "/") for g in self.globs)
            most = self._most.get(left)
            each = (most if most is not None else max(1, count - len(runs) + 1)) if glob else 1
            for r in runs:
                if (r, left) not in counted:  # (two atomic saves onto one file: one name left)
                    counted.add((r, left))
                    found[r] = found.get(r, 0) + each
        return found

    @property
    def by_key(self) -> dict[_Key, Change]:
        """The writes by key, once the names made and gone again by the run's end are in their
        temporary forms (`_settle`)."""
        if self._glob_made:
            self._glob_cycles()
        while self._gone:
            self._settle(next(iter(self._gone)))
        return self._by_key

    def _transient(self, exact: str) -> None:
        """`exact`, made in the run, is gone again: a temporary name, unless the run makes it
        again (virtualenv's pyvenv.cfg made with O_EXCL, removed and made again; git's checkout
        of a file, which removes it first): its writes move to its temporary form once the run is
        over (`by_key`), or once _PENDING names are gone after it."""
        if len(self._temporary) < _MADE_LIMIT:
            self._temporary.add(exact)
            self._gone[exact] = None
            if len(self._gone) > _PENDING:
                self._settle(next(iter(self._gone)))

    def _settle(self, exact: str) -> None:
        """The writes noted under `exact`, gone again, moved to its temporary form, whatever it
        was named (sed's sedXXXXXX, zip's ziXXXXXX, rsync's .NAME.XXXXXX, gcc's ccXXXXXX.s,
        git's refs_XXXXXX: two runs draw two names)."""
        del self._gone[exact]
        for key in self._made.pop(exact, ()):
            change = self._by_key.pop(key, None)
            example = self.examples.pop(key, (exact, None))
            if change is not None:
                moved = (key[0], _temporary(exact), key[2])
                merged = self._by_key.setdefault(moved, Change(key[0], moved[1], target=key[2]))
                self.examples.setdefault(moved, example)
                merged.absorb(change)
                self._move_names(key, moved)

    def _move_names(self, key: _Key, moved: _Key) -> None:
        """The names folded under `key` (what a rename out of the temporary name left: mkstemp's
        `.part-imxmxoyb` onto cache/<hash>.bin) under `moved` too: the names a key's runs left
        are counted by them (`_more`), and one dropped was a new one next run. (A merged trace's
        runs of each, `tally`, stay under `key`: `per_run` then counts such a name once.)"""
        names = self.folded.pop(key, {})
        if names is None or self.folded.get(moved, {}) is None:
            self.folded[moved] = None
        elif names:
            into = self.folded.setdefault(moved, {})
            assert into is not None
            for name, violation in names.items():
                into[name] = into.get(name, False) or violation


_MAKES = frozenset({"mkdir", "symlink", "mknod"})  # each fails where the name is: made anew
_MAKES_NAME = frozenset({*_MAKES, "create", "link"})  # each leaves the name there (a link its new one)
# A write rotrace could not place, compared by the string the process gave: never one a placed
# write of another run is (a bind mount in a namespace of its own took `etc/app.conf` elsewhere).
UNRESOLVED = "unresolved:"
# A name spelt as a merged baseline's glob (`x[0-9]`, brackets and all) is compared as what it
# is: never the glob, which stands for the names the runs drew
LITERAL = "literal:"


# The errors of a call that makes a name (O_EXCL, mkdir...) that the kernel gives once it has
# looked the name up and found it not there (it checks for EEXIST first): not EMFILE, ENFILE or
# ENOMEM, which come before the lookup, nor a path error, nor a call that never returned.
_REFUSED_MAKING = frozenset({"EACCES", "EPERM", "EROFS", "EDQUOT", "ENOSPC"})


def _refused_to_make(e: FileEvent, flags: str) -> bool:
    """A call refused where it would have made its name, which was not there: it made nothing
    (not O_TMPFILE, whose path is the directory its unnamed file is made in)."""
    return (
        e.result is not None
        and e.errno in _REFUSED_MAKING
        and _makes_anew(e.op, flags)
        and "O_TMPFILE" not in flags
    )


def _makes_anew(op: str, flags: str) -> bool:
    """The call made its name, which was not there before (not an open that truncates a file
    that was: the name's writes are then no temporary file's, whatever follows): a mkdir, a
    symlink, a create with O_EXCL (as mkstemp makes every temporary file)."""
    return op in _MAKES or (op == "create" and "O_EXCL" in flags)


_MADE_LIMIT = 1 << 16
_PENDING = 1 << 14  # names gone again whose writes wait to move: made again, they stay (Changes._gone)
_KEY_NAMES = 1 << 12  # names kept of one key of per-run names (Changes.folded)
_FOLDED_NAMES = 1 << 15  # and of all (memory stays flat: `diff` of 10^5 events holds two traces)


def _temporary(exact: str) -> str:
    """A temporary name as compared: its directory's `*`, or its maker's prefix and `*` for
    tempfile's 8 characters after one (`pip-target-*`, as a draw with a digit is generalised);
    the directory by its per-run form."""
    directory, _, name = exact.rpartition("/")
    return f"{_run_name(directory) if directory else ''}/{_temporary_name(name)}"


# tempfile's 8 characters after a prefix of the caller's ending in `-` or `.`, before a suffix
_AFTER_PREFIX = Lazy(r"(?<=[-.])[a-z0-9_]{8}" + NAME_END)


# the same 8 as a merged baseline writes them: a glob's class or a character at each place
_GLOB_AFTER_PREFIX = Lazy(r"(?<=[-.])(?:\[[a-z0-9_-]+\]|[a-z0-9_]){8}" + NAME_END)


def _temporary_name(name: str) -> str:
    """The name of a temporary file or directory as compared: tempfile's 8 characters after a
    prefix become `*` (as the glob of them a merged baseline has); any other name is `*`
    (ansible's ansible-local-PIDxxxxxxxx)."""
    general = _AFTER_PREFIX.sub("*", name, count=1)
    if general == name and "[" in name:
        general = _GLOB_AFTER_PREFIX.sub("*", name, count=1)
    if _NUMBERED.search(general.partition("*")[2]):
        return "*"  # a number after them: no suffix of tempfile's caller (wandb's debug-internal.log.PID)
    return general if general != name else "*"


# a part of a name that is a number (`.2369`, a pid): what follows tempfile's 8 is its caller's
# suffix (`.json`, `.mp4`), never a number of the run's
_NUMBERED = Lazy(r"(?:^|\.)[0-9]+(?:\.|$)")


# Trees no home is in: a HOME there (HOME=/etc) is not compared as the other trace's home
_NO_HOMES = ("/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/boot", "/proc", "/sys", "/dev")


def _a_home(path: str) -> bool:
    """A directory a run's HOME may be compared by (`$HOME`): /root, or one below /home, /srv,
    /var/lib..., never a system directory itself nor one in a tree of the system's."""
    if not path.startswith("/") or path == "/":
        return False
    if path in SYSTEM_DIRS and path != "/root":
        return False
    return not any(is_under(path, top) for top in _NO_HOMES)


# a Pod name a controller draws (Deployment, ReplicaSet, Job, DaemonSet): its name, `-`, and five
# characters of the API server's alphabet; a StatefulSet's ordinal and a bare Pod's name stay
_POD_DRAW = Lazy(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?-[bcdfghjklmnpqrstvwxz2456789]{5}")


def _relative(path: bytes | str, cwd: str, home: str = "", pod: str = "") -> str:
    """The path with the trace's working directory as `$CWD` (two checkouts compare), and
    elsewhere in its HOME as `$HOME` (a run as root, /root, and one as a user, /home/app, write
    ~/.cache/pip alike); the name of the Pod it was made in as `$POD` (`_POD_DRAW`). A name of
    its own that starts with `$` (a symbolic link's content, `$CWD/releases/v1`, which the kernel
    reads from the link's directory) has it doubled: never taken for a substitution."""
    text = os.fsdecode(path)
    if cwd and cwd != "/" and is_under(text, cwd):
        text = "$CWD" + text[len(cwd.rstrip("/")) :]
    elif home and is_under(text, home):
        text = "$HOME" + text[len(home.rstrip("/")) :]
    elif text.startswith("$"):
        text = "$" + text
    return text.replace(pod, "$POD") if pod else text


def changes_of(cwd: str, verdicts: Iterable[Verdict], environment: dict[str, str] | None = None) -> Changes:
    changes = Changes(cwd, environment)
    for v in verdicts:
        changes.add(v)
    return changes


# A name of Python's tempfile's 8 characters, whatever they are, after any prefix the caller
# chose (`NamedTemporaryFile(prefix="upl")`: `uplk3x_q9zb`) and before its suffix: `generalise`
# takes only those with a letter and a digit or `_` for one (`python39`, `packages` stay), at the
# start or after a `-` or `.`, so a run's name of 8 letters, or after another prefix, is no
# glob; a write that appeared and one that went, of one op in one directory, whose names differ
# only there are the same write (where `_per_run` finds them per-run names).
_TEMP_SHAPE = Lazy(r"[a-z0-9_]{8}" + NAME_END)


def _shape(path: str) -> str:
    directory, _, name = path.rpartition("/")
    shaped = _TEMP_SHAPE.sub("*", name)
    if shaped == name and (drawn := _MKTEMP.fullmatch(name)) is not None:  # mktemp's characters
        shaped = drawn.group("prefix") + "?" * len(drawn.group("draw")) + (drawn.group("suffix") or "")
    return f"{directory}/{shaped}"


def _key_of(c: Change) -> _Key:
    return c.op, c.path, c.target


def _twins(old: _Key, new: _Key, violation: bool = False) -> bool:
    """Two writes one trace each has are one where their names are one per-run name, and their
    other names too (a rename onto password.json is not one onto settings.json)."""
    if not _per_run(old[1], new[1], violation):
        return False
    if old[2] == new[2]:
        return True
    return old[2] is not None and new[2] is not None and _per_run(old[2], new[2], violation)


def _shaped(c: Change) -> tuple[str, str, str | None, bool]:
    """A change by its names' shapes (a rename out of a temporary name: mkstemp(prefix="obj"),
    then os.rename to its place)."""
    return c.op, _shape(c.path), None if c.target is None else _shape(c.target), c.violation


def _per_run(old: str, new: str, violation: bool = False) -> bool:
    """Two paths of one per-run shape that only one trace each writes are one per-run name where
    the names show it: in a scratch place (/tmp...), or where each part in which they differ
    follows tempfile's or Rust's `tmp`, or holds a digit in both (a pid, a counter, a random
    name). Not `settings.json` and `password.json`, nor `job_lock` and `app_data`, in the
    application's directory: a write there under another name is a new write."""
    # a scratch place is evidence for what the allowlist allows there: a write it refuses (in
    # /var/tmp, /run) is one by the names alone
    if not violation and any(is_under(old, place) or is_under(new, place) for place in SCRATCH):
        return True
    if known_run_path(old) and known_run_path(new):
        # two per-run names, in one directory or in two that are one per-run name too: not
        # app_data/.tmpAbC123 and ssh_keys/.tmpXyZ789
        old_dir, new_dir = old.rpartition("/")[0], new.rpartition("/")[0]
        return old_dir == new_dir or _per_run(old_dir, new_dir, violation)
    parts = _differing(old, new)
    if parts is not None and all(_shows(head, a) and _shows(head, b) for head, a, b in parts):
        return True
    return _mktemp_twins(old, new)


# mktemp(1)'s and node's mkdtemp's draw: six to sixteen of [A-Za-z0-9] after the caller's
# prefix, which ends in `.`, `-` or `_` (`cache.XXXXXX`, `x-XXXXXX`, `tmp.XXXXXXXXXX`, Django's
# upload saved beside one of its name, `hello_XXXXXXX.txt`), before a suffix (`--suffix=.json`)
_MKTEMP = Lazy(r"(?P<prefix>[^/]*[^/._-][-._])(?P<draw>[A-Za-z0-9]{6,16})(?P<suffix>\.[A-Za-z0-9]{1,8})?")
# two words in camel case (`apiKey`, `dbConn`, `JohnDoe`), a word and a number (`admin1`): no draw
_CAMEL = Lazy(r"[A-Z]?[a-z]+[A-Z][a-z]+|[A-Z]?[a-z]+[0-9]{1,2}")


def _mktemp_twins(old: str, new: str) -> bool:
    """The names differ only in mktemp's characters after one prefix (and before one suffix),
    each a draw: `cache.DMAsDv`, `cache.a9kMtj`; not `cache.Backup` and `cache.Config`."""
    a, b = old.split("/"), new.split("/")
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        mx, my = _MKTEMP.fullmatch(x), _MKTEMP.fullmatch(y)
        if mx is None or my is None or mx.group("prefix", "suffix") != my.group("prefix", "suffix"):
            return False
        if len(mx.group("draw")) != len(my.group("draw")):
            return False
        if not (_drawn(mx.group("draw")) and _drawn(my.group("draw"))):
            return False
    return True


def _drawn(draw: str) -> bool:
    """Characters drawn at random, as far as the name shows: a digit and a letter, or a capital
    past the first beside a small letter; never words (`Backup`, `apiKey`, `admin1`)."""
    if _CAMEL.fullmatch(draw):
        return False
    if _digit(draw):
        return any(c.isalpha() for c in draw)
    return any(c.islower() for c in draw) and any(c.isupper() for c in draw[1:])


def _shows(head: str, middle: str) -> bool:
    """A name's part after `head` shows it drawn per run: its maker's prefix (tmp, .tmp,
    tmp_obj_, sem.), or a digit; with no head of the names' own, a digit and no word
    (`_wordy`: `k3j_9x2a` beside `p0q_7zzb`, not `id_rsa_2` nor `db_pass1`). A part folded to
    `*` already is one (a pid of five digits in one run, `*-*.json`, four in the other:
    `9958-*.json`)."""
    if middle == "*" or "tmp" in head.lower() or known_run_name(head + middle):
        return True
    return _digit(middle) and (bool(head) or not _wordy(middle))


# a part of a name between `_`, `-` and `.`: a word (three letters or more), or a word and a
# number (`pass1`, `key12`)
_WORD = Lazy(r"[A-Za-z]{3,}|[A-Za-z]{2,}[0-9]{1,2}")


def _wordy(name: str) -> bool:
    """The name reads as words, not a draw: a part of it a word (`_WORD`), or parts joined by
    more than one `_` (tempfile draws one in about 37 of its characters)."""
    return name.count("_") > 1 or any(_WORD.fullmatch(part) for part in re.split(r"[-_.]", name))


def _differing(old: str, new: str) -> list[tuple[str, str, str]] | None:
    """Where two paths of as many parts differ: each such part's common head, and what each has
    after it (before their common tail); None: not as many parts."""
    a, b = old.split("/"), new.split("/")
    if len(a) != len(b):
        return None
    return [_apart(x, y) for x, y in zip(a, b, strict=True) if x != y]


def _apart(x: str, y: str) -> tuple[str, str, str]:
    """Two names' common head, and what each has after it, before their common tail."""
    head = common_prefix([x, y])
    tail = common_prefix([x[head:][::-1], y[head:][::-1]])
    return x[:head], x[head : len(x) - tail], y[head : len(y) - tail]


def _digit(text: str) -> bool:
    return any(c.isdigit() for c in text)


def _run_name(path: str) -> str:
    """The path with a per-run name as its glob (`generalise`), where the name shows it is one
    (as `_per_run` asks): `file-*.bin` for `file-123456.bin`, `.tmp*` for uv's `.tmpqfkdVr`; not
    `*` for `job_lock`. A trace of 10^5 such names folds to a few keys."""
    general = generalise(path)
    if general == path:
        return path
    if any(is_under(path, place) for place in SCRATCH):
        return general
    if known_run_path(path):  # its name is one: a directory above it by its own form only
        return _known_form(path, general)
    parts = _differing(path, general) or []
    return general if all(_shows(head, mine) for head, mine, _ in parts) else path


def _glob_form(glob: str) -> str:
    """A path holding a merged glob, in its per-run form (`_run_name`), as each name the glob
    stands for shows it: a glob of digits (`patch[0-9]x10-[0-9]x4`, a time and a pid; a time of
    day whose hour all the runs shared, `13-[0-9][0-9]-[0-9][0-9]/`) is compared as one of its
    names would be (`patch*`, `*/`), so that a run whose pid has fewer digits (in a container),
    or made at another hour, pairs with it as with any of its runs. Each digit class the form
    keeps stays a class (`job-[0-9][0-9][0-9]`); a glob of other classes is compared as its
    text is."""
    places = glob_places(glob)
    classes = {place for place in places if len(place) > 1}
    if classes != {"[0-9]"}:
        return _run_name(glob)
    sample = "".join("1" if len(place) > 1 else place for place in places)  # a digit a date or time may hold
    shown = _run_name(sample)
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, sample, shown, autojunk=False).get_opcodes():
        out.append("".join(places[i1:i2]) if tag == "equal" else shown[j1:j2])
    return "".join(out)


def _known_form(path: str, general: str) -> str:
    """A path whose name its maker draws afresh (`.tmpAbC123`, uv's archive ids) as its glob:
    the name, and each directory whose name shows it is a per-run one; `app_data/` above
    `.tmpAbC123` stays (`generalise` makes it `*`: eight characters with a `_`), or a write into
    `ssh_keys/` was the same as one into `app_data/`."""
    exact, glob = path.split("/"), general.split("/")
    if len(exact) != len(glob):
        return general
    last = len(exact) - 1
    kept = []
    for i, (x, y) in enumerate(zip(exact, glob, strict=True)):
        part = y
        if x != y and i != last and not (known_run_name(x) or exact[i - 1] == "archive-v0"):
            head, mine, _ = _apart(x, y)
            part = y if _shows(head, mine) else x
        kept.append(part)
    return "/".join(kept)


class _Globs:
    """A merged baseline's globs of per-run names, by directory: a name one of them matches is
    written as the glob, in both traces, so that a run and the merge of its runs compare. The
    globs of the trace compared with it stand for its own names only: a merge of three new runs
    (`data/key1.json`, `pwd2.json`, `abc3.json`: a glob of four characters) took in the
    baseline's `conf.json`, and its new writes were no change. A trace's own events name a glob
    by its text; the other's names are matched by what the glob stands for (a file named
    `x[0-9]` is none of them)."""

    def __init__(self, own: Iterable[str], baseline: Iterable[str] = ()) -> None:
        self._by_dir: dict[str, list[tuple[str, Callable[[str], object], bool]]] = {}
        for globs, literal in ((own, True), (baseline, False)):
            for glob in globs:
                directory, _, name = glob.rpartition("/")
                self._by_dir.setdefault(directory, []).append((name, _matcher(name, literal), literal))

    def __call__(self, path: str | None) -> str | None:
        if path is None or not self._by_dir:
            return path
        parts = path.split("/")
        clash = False
        for i in range(1, len(parts)):
            for name, matches, literal in self._by_dir.get("/".join(parts[:i]), ()):
                if (literal and parts[i] == name) or matches(parts[i]):
                    parts[i] = name
                    break
                clash = clash or parts[i] == name  # a name spelt as the baseline's glob is, no name of it
        return LITERAL + path if clash else "/".join(parts)


# A merged glob of names with no literal part (`mkstemp(prefix="")`'s bare 8 characters) holds
# at each place only the characters its runs drew there: the next run's draw seldom fits. Such
# a glob stands for any name of its length from its alphabet that shows it drawn (`_drawn`: a
# digit and a letter, as `diff` of two runs pairs them), never words (`settings`, `id_rsa_2`).
_BARE_ALPHABETS = (
    frozenset("abcdefghijklmnopqrstuvwxyz0123456789_"),  # tempfile's
    frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),  # mktemp's
)
_BARE_SHORTEST = 6


def _matcher(glob: str, own: bool) -> Callable[[str], object]:
    """What a merged glob of names matches: the trace's own, the names it stands for as they
    are; a baseline's, a glob of draws (bare, or any class holding letters) only draws
    (`_bare_draws`, `_drawn_only`), any other as the glob says, its numbers of any length
    (`_number_regex`)."""
    special = None if own else _bare_draws(glob) or _drawn_only(glob)
    return special or (glob_regex(glob) if own else _number_regex(glob)).fullmatch


def _number_regex(glob: str) -> re.Pattern[str]:
    """A baseline's glob as the names of a new run may fit it: a number of three digits or more
    (a pid, a counter, a time), whatever its digits, of any length (pids of 3 to 5 digits on
    one host, 1 in a container: scrapy's <pid>-<hex>.json merged as [0-9]x5-...)."""
    places = glob_places(glob)
    out: list[str] = []
    run = 0
    for place in [*places, ""]:
        if place == "[0-9]":
            run += 1
            continue
        if run:
            out.append("[0-9]+" if run >= 3 else "[0-9]" * run)
            run = 0
        if place:
            out.append(place if len(place) > 1 else re.escape(place))
    return re.compile("".join(out))


def _drawn_only(glob: str) -> Callable[[str], bool] | None:
    """A merged glob of draws (a class holding letters): the names it stands for are draws, as
    `diff` of two runs pairs them: mktemp's after a prefix (`cache.[A-Za-z0-9]`...:
    `cache.DMAsDv`, never `cache.apiKey`), tempfile's (`[a-z0-9_]`x8`.txt`: `k3j_9x2a.txt`,
    never `settings.txt`), a word's letters (`conf/[a-z]`x4`.toml`: never `keys.toml`); a name
    its maker draws afresh (`tmp` and 8) as its prefix says. None for a glob of digits."""
    places = glob_places(glob)
    at = [i for i, p in enumerate(places) if len(p) > 1]
    if not at or not any(any(c.isalpha() for c in places[i]) for i in at):
        return None
    regex = _number_regex(glob)  # (a number among the classes, of any length)
    head, tail = at[0], len(places) - 1 - at[-1]  # the literal places before and after
    capitals = any(any(c.isupper() for c in places[i]) for i in at)

    def matches(name: str) -> bool:
        if regex.fullmatch(name) is None:
            return False
        if known_run_name(name):
            return True
        drawn = name[head : len(name) - tail]
        return _drawn(drawn) and (capitals or not _wordy(drawn))

    return matches


def _bare_draws(glob: str) -> Callable[[str], bool] | None:
    """What a bare merged glob stands for (`generalise.Family.glob`: each place the characters
    seen there, no literal part); None for any other glob."""
    places = glob_places(glob)
    classes = [p[1:-1] for p in places if len(p) > 1]
    if len(places) < _BARE_SHORTEST or 2 * len(classes) < len(places) or any("-" in c for c in classes):
        return None  # a glob of ranges (`[0-9]`) has a literal part: it stands for what it says
    seen = {c for p in places for c in (p[1:-1] if len(p) > 1 else p)}
    alphabet = next((chars for chars in _BARE_ALPHABETS if seen <= chars), None)
    if alphabet is None:
        return None
    return lambda name: (
        len(name) == len(places) and set(name) <= alphabet and _drawn(name) and not _wordy(name)
    )


def _general(key: _Key) -> _Key:
    """The key as a glob of per-run names (temporary names, pids...), and in a name with a
    per-run part each number too: what two runs' names of one form share (`9958-*.json` and
    `*-*.json`, a pid of four digits in one, of five in the other, beside a uuid)."""
    op, path, target = key
    return (
        op,
        _numbers_folded(generalise(path)),
        None if target is None else _numbers_folded(generalise(target)),
    )


_NUMBER = Lazy(r"[0-9*]*[0-9][0-9*]*")  # a number, and the `*`s beside it: one `*`


def _numbers_folded(path: str) -> str:
    if "*" not in path:
        return path
    return "/".join(_NUMBER.sub("*", part) if "*" in part else part for part in path.split("/"))


def _folded(changes: list[Change]) -> list[Change]:
    """Changes of one glob of per-run names shown once, as the glob (a run's twenty temporary
    files in a new directory); a name alone with its shape stays as it is."""
    groups: dict[_Key, list[Change]] = {}
    for c in changes:
        groups.setdefault(_general((c.op, c.path, c.target)), []).append(c)
    folded = []
    for (op, path, target), group in groups.items():
        if len(group) == 1:
            folded.extend(group)
            continue
        merged = Change(op, path, target=target)
        for c in group:
            merged.absorb(c)
        folded.append(merged)
    return sorted(folded, key=lambda c: (c.path, c.op, c.target or ""))


def diff_traces(old: Changes, new: Changes) -> TraceDiff:
    """Writes compared by their names; those only one trace has are the same write where both
    have it as a glob of per-run names (a temporary name, a pid, a merged trace's glob). A name
    both traces write is no per-run name: two of one shape (`app_data`, `job_lock`) stay apart."""
    before, before_lasting, before_runs = _keyed(old, _Globs(old.globs))
    after, after_lasting, after_runs = _keyed(new, _Globs(new.globs, old.globs))
    went = [k for k in before if k not in after]
    came = [k for k in after if k not in before]
    went_general: dict[_Key, list[_Key]] = {}
    for k in went:
        went_general.setdefault(_general(k), []).append(k)
    appeared, became, ceased = [], [], []
    paired: set[_Key] = set()
    # a write that made no name (refused: mkstemp's create under --enforce or a read-only root),
    # of tempfile's shape: the one the other trace made and removed again, under its form
    unmade_went = {form: t for t in went if (form := _unmade_form(t, before[t])) is not None}
    for k in came:
        # of the names that went with this one's form, one its twin (uv's __init__.py and
        # _elffile.py in two .tmpXXXXXX: each pairs with its own name in the other)
        refused = after[k].violation
        twin = next(
            (
                t
                for t in went_general.get(_general(k), ())
                if t not in paired and _twins(t, k, refused or before[t].violation)  # one each
            ),
            None,
        )
        if twin is None:  # (with a form no name of which stays: made and removed again)
            form = _unmade_form(k, after[k])
            if form is not None and form in before and form not in after and not before_lasting.get(form):
                twin = form
            elif not after_lasting.get(k):
                twin = unmade_went.get(k)
            if twin in paired:
                twin = None
        if twin is None:
            appeared.append(after[k])
            continue
        paired.add(twin)
        if after[k].violation and not before[twin].violation:
            became.append(after[k])
        elif before[twin].violation and not after[k].violation:
            ceased.append(after[k])
    gone = [before[k] for k in went if k not in paired]
    # a name of tempfile's shape after a prefix of the caller's: one that went, one that came
    unpaired: dict[tuple[str, str, str | None, bool], list[Change]] = {}
    for change in gone:
        unpaired.setdefault(_shaped(change), []).append(change)
    shape_paired: set[int] = set()
    for change in list(appeared):
        twins = unpaired.get(_shaped(change))
        if (
            twins
            and _twins(_key_of(twins[-1]), _key_of(change), change.violation)
            # a name that stays is no twin of names made and removed again (mkstemp's kept draw)
            and bool(after_lasting.get(_key_of(change))) <= bool(before_lasting.get(_key_of(twins[-1])))
        ):
            shape_paired.add(id(twins.pop()))
            appeared.remove(change)
    gone = [c for c in gone if id(c) not in shape_paired]
    became += [after[k] for k in after if k in before and after[k].violation and not before[k].violation]
    ceased += [after[k] for k in after if k in before and before[k].violation and not after[k].violation]
    extra, lost = _stable(old, new), _stable(new, old)
    more = _more(before_lasting, before_runs, after, after_lasting, after_runs, {c.path for c in extra})
    appeared += extra + more + _lasting(before, before_lasting, after, after_lasting)
    gone += lost + _lasting(after, after_lasting, before, before_lasting)
    every = (1 << old.run_count) - 1  # a merged baseline's runs, each a bit

    def some_runs(c: Change) -> bool:
        return old.run_count > 1 and c.runs != 0 and c.runs & every != every

    intermittent, gone = [c for c in gone if some_runs(c)], [c for c in gone if not some_runs(c)]
    old_env, new_env = old.environment, new.environment
    env = {
        name: (old_env.get(name), new_env.get(name))
        for name in sorted(old_env.keys() | new_env.keys())
        if name != "PATH" and _values(old, name).isdisjoint(_values(new, name))
    }
    outcome, newly_failed = None, False
    if old.outcome is not None and new.outcome is not None and old.outcome[0] != new.outcome[0]:
        outcome, newly_failed = (old.outcome[0], new.outcome[0]), new.outcome[1] and not old.outcome[1]
    command = None
    if old.command is not None and new.command is not None and old.command != new.command:
        command = (old.command, new.command)
    return TraceDiff(
        _folded(appeared), _folded(gone), env, _folded(became), outcome, newly_failed, command,
        ceased=_folded(ceased), intermittent=_folded(intermittent),
    )  # fmt: skip


def _unmade_form(key: _Key, change: Change) -> _Key | None:
    """A write that failed where it would have made a name of tempfile's shape (a prefix, 8
    characters, a suffix: `.state-3kdjx7kw.tmp`): its key under the name's temporary form, as a
    trace that made the name and removed it again compares it. It made nothing, so nothing of
    it stays; None for any other write."""
    if not change.made_nothing:
        return None
    directory, _, name = key[1].rpartition("/")
    form = _temporary_name(name)
    if form in ("*", name):
        return None
    return key[0], f"{directory}/{form}", key[2]


def _values(changes: Changes, name: str) -> set[str | None]:
    """The values a trace's runs had of a setting: a merged trace's, each of its runs' (a CI
    matrix run as root and as a user: a run as either is no change of HOME)."""
    return {env.get(name) for env in changes.run_environments} or {changes.environment.get(name)}


def _stable(old: Changes, new: Changes) -> list[Change]:
    """The names `new` folds into a key of per-run names that `old` has too, where `old`'s
    names there are all in `new` (a name both write is no per-run name) and `new` has more: those
    more are new writes, which no name of `old` is left to pair with. A baseline that wrote
    `data/tmpab12cd34` and a run that wrote it and `data/tmpzz99yy88` (a key) were one key
    each, "no change". A key of more names than a trace keeps (`Changes.folded`), where `old`'s
    are all kept, is a new write as a whole: its names cannot be told, and they are more."""
    found = []
    for key, names in new.folded.items():
        before = old.folded.get(key, {})
        if key not in old.by_key or key not in new.by_key or before is None:
            continue
        if names is None:  # more of them than are kept, where `old` had them all: more than it had,
            if new.left(key[1]) == 0 and not new.tally:  # unless none is left (lock files made
                continue  # and removed: compared by their temporary form)
            change = Change(key[0], key[1], target=key[2], violation=new.by_key[key].violation)
            change.errnos |= new.by_key[key].errnos
            found.append(change)
            continue
        if not before or not before.keys() <= names.keys():
            continue
        for exact, exact_target in sorted(names.keys() - before.keys(), key=lambda n: (n[0], n[1] or "")):
            change = Change(key[0], exact, target=exact_target, violation=names[(exact, exact_target)])
            change.errnos |= new.by_key[key].errnos
            found.append(change)
    return found


def _lasting(
    old: dict[_Key, Change],
    old_lasting: dict[_Key, dict[tuple[str, str | None], bool]],
    new: dict[_Key, Change],
    new_lasting: dict[_Key, dict[tuple[str, str | None], bool]],
) -> list[Change]:
    """The names that stay in `new` under a key of per-run names where `old` had only names made
    and gone again: the baseline's mkstemp file renamed onto settings.json (`cfg/*`) and the
    run's `cfg/12345678` that stays were one key, "no change". Each is a new write."""
    found = []
    for key, names in new_lasting.items():
        if key not in old or old_lasting.get(key):
            continue
        for (exact, exact_target), violation in sorted(names.items(), key=lambda n: (n[0][0], n[0][1] or "")):
            change = Change(key[0], exact, target=exact_target, violation=violation)
            change.errnos |= new[key].errnos
            found.append(change)
    return found


def _more(
    old_lasting: dict[_Key, dict[tuple[str, str | None], bool]],
    old_runs: dict[_Key, int],
    new: dict[_Key, Change],
    new_lasting: dict[_Key, dict[tuple[str, str | None], bool]],
    new_runs: dict[_Key, int],
    shown: set[str],
) -> list[Change]:
    """Names that stay under a key of per-run names, more of them in a run of `new` than in any
    of `old`'s: a baseline that left `cron.d/app-12345` and a run that left `app-23456` and
    `app-99999` were one key, "no change"; the names past the baseline's number are new writes
    (which of them cannot be told: the last ones by name). `shown`: names already new."""
    found = []
    for key, names in new_lasting.items():
        before = old_lasting.get(key)
        excess = new_runs.get(key, len(names)) - old_runs.get(key, len(before or ()))
        if not before or excess <= 0:
            continue
        fresh = sorted((n for n in names if n not in before), key=lambda n: (n[0], n[1] or ""))
        for exact, exact_target in fresh[-excess:]:
            if exact in shown:
                continue
            change = Change(key[0], exact, target=exact_target, violation=names[(exact, exact_target)])
            change.errnos |= new[key].errnos
            found.append(change)
    return found


def _left(name: tuple[str, str | None], moved: bool) -> str:
    """The name a write leaves: a rename's target, else its path."""
    return name[1] if moved and name[1] is not None else name[0]


def _keyed(
    changes: Changes, globs: _Globs
) -> tuple[dict[_Key, Change], dict[_Key, dict[tuple[str, str | None], bool]], dict[_Key, int]]:
    """The trace's changes by their keys, each name a merged glob matches written as the glob;
    for each key that holds names which stay (not made and gone again), those names (a key's
    names past what a trace keeps count as one that stays: they cannot be told); and how many
    of them a run left, at most (`Changes.per_run`)."""
    keyed: dict[_Key, Change] = {}
    lasting: dict[_Key, dict[tuple[str, str | None], bool]] = {}
    runs: dict[_Key, dict[int, int]] = {}
    counted: dict[_Key, set[tuple[int, str]]] = {}  # the names each key's runs left, counted
    for (op, shown, shown_target), change in changes.by_key.items():
        exact, exact_target = changes.examples.get((op, shown, shown_target), (shown, shown_target))
        path, target = changes.compared(shown) or shown, changes.compared(shown_target)
        merged, merged_target = globs(exact) or exact, globs(exact_target)
        # a temporary name (made and gone again), or one below it, as such, whether a merged glob
        # stands for it or the name is that glob: the merge of its runs makes and removes the
        # glob's names too (pdm's mkdtemp'd pdm-build-XXXXXXXX/six.whl, a per-run form already)
        made_and_gone = changes._below_temporary(exact) or path != shown
        # a name a glob stands for, by the glob as the trace that has the glob compares it (its
        # per-run form: kedro's `*T19.41.[0-9][0-9].[0-9][0-9][0-9]Z`)
        key = (
            op,
            path if made_and_gone or merged == exact else changes.compared(_glob_form(merged)) or merged,
            changes.compared(_glob_form(merged_target))
            if merged_target is not None and merged_target != exact_target and target == shown_target
            else target,
        )
        folded = keyed.setdefault(key, Change(op, key[1], target=key[2]))
        folded.absorb(change)
        if key[1] != exact and folded.example is None:
            folded.example = exact
        # the names that stay, each told apart (the key's example may be a temporary one beside
        # a name that stays: mkstemp's draw, then cron.d/12345678)
        # (a rename leaves its target: mkstemp's draw renamed onto cron.d/app-1234 stays there)
        moved = op == "rename" and exact_target is not None
        names = changes.folded.get((op, shown, shown_target), {})
        if names is None:  # more than are kept: cannot be told apart, taken as staying as many
            left = changes.left(shown) if not changes.tally else None  # as the run left (one run)
            stay = {(exact, exact_target): change.violation} if left is None or left > 0 else {}
            if stay and left is not None:
                runs[key] = {0: runs.get(key, {}).get(0, 0) + left}
                lasting.setdefault(key, {}).update(stay)
                continue
        elif names:
            stay = {n: v for n, v in names.items() if changes.stays(_left(n, moved))}
        elif (moved or not made_and_gone) and changes.stays(_left((exact, exact_target), moved)):
            stay = {(exact, exact_target): change.violation}
        else:
            stay = {}
        if stay:
            held = lasting.setdefault(key, {})
            earlier = len(held)
            held.update(stay)
            # a run's own name of its own key is one of run 0, as many as `lasting` holds: counted
            # only where a key holds more (memory stays flat: `diff` of 10^5 names)
            if key in runs or names or changes.tally or len(held) > 1:
                counts = runs.setdefault(key, {0: earlier} if earlier else {})
                left_by = counted.setdefault(key, set())
                for run, n in changes.per_run((op, shown, shown_target), stay, left_by).items():
                    counts[run] = counts.get(run, 0) + n
    return keyed, lasting, {key: max(counts.values()) for key, counts in runs.items()}


# Without -v, a section lists this many directories, and this many changes of each (its
# violations always): a cold run against a warm one loses a thousand writes of a cache
SHOWN_DIRECTORIES, SHOWN_CHANGES = 20, 5


def _section(
    console: Console, title: str, sign: str, changes: list[Change], style: str, verbose: bool = False
) -> None:
    """Grouped by directory; each known writer's fix once, under the first change it explains."""
    from rich.text import Text

    console.print(Text(f"{title} ({len(changes)})", style="bold"))
    explained: set[str] = set()
    groups = [
        (directory, list(group))
        for directory, group in groupby(
            sorted(changes, key=lambda c: (c.directory, c.path)), key=lambda c: c.directory
        )
    ]
    if not verbose and len(groups) > SHOWN_DIRECTORIES:  # those holding violations first
        first = sorted(groups, key=lambda dg: not any(c.violation for c in dg[1]))[:SHOWN_DIRECTORIES]
        kept = {directory for directory, _ in first}
        left = [dg for dg in groups if dg[0] not in kept]
        groups = [dg for dg in groups if dg[0] in kept]
    else:
        left = []
    for directory, group in groups:
        if directory == UNRESOLVED:
            console.print(Text("  not placed (each by the string the command passed):", style="dim"))
        else:
            console.print(Text(f"  {safe_text(directory.rstrip('/'))}/", style="dim"))
        shown = group
        if not verbose and len(group) > SHOWN_CHANGES:
            shown = [c for i, c in enumerate(group) if i < SHOWN_CHANGES or c.violation]
        for c in shown:
            name = c.path[len(directory) :].lstrip("/") or c.path
            moved = f" -> {safe_text(c.target)}" if c.target is not None else ""
            line = Text(
                f"    {sign} {c.op:<8} {safe_text(name)}{moved}  ({', '.join(sorted(c.errnos))})", style=style
            )
            if c.violation:
                line.append("  violation", style="bold red")
                if c.example is not None:  # the name written, where a form stands for it
                    line.append(f"  ({safe_text(c.example)})", style="red")
            if c.explanation is not None and c.explanation.id in explained:
                line.append(f"  ({c.explanation.title})", style="dim")
            console.print(line)
            if c.explanation is not None and c.explanation.id not in explained:
                explained.add(c.explanation.id)
                console.print(Text(f"        {c.explanation.title}: {c.explanation.fix}", style="dim"))
        if len(shown) < len(group):
            console.print(Text(f"    … and {len(group) - len(shown):,} more (-v lists them)", style="dim"))
    if left:
        more = sum(len(group) for _, group in left)
        console.print(
            Text(f"  … and {more:,} more in {len(left):,} other directories (-v lists them)", style="dim")
        )


def _intermittent(console: Console, diff: TraceDiff) -> None:
    """Writes only some of a merged baseline's runs made: not made now is no change."""
    if diff.intermittent:
        _section(
            console, "Writes only some of the baseline's runs made, not made now (no change)", "·",
            diff.intermittent, "dim",
        )  # fmt: skip


def render_diff(diff: TraceDiff, console: Console, verbose: bool = False) -> None:
    from rich.text import Text

    if diff.outcome is not None:
        was, now = diff.outcome
        style = "bold red" if diff.newly_failed else "bold"
        console.print(
            Text(f"The command ended otherwise: {safe_text(was)} before, {safe_text(now)} now", style=style)
        )
    if diff.command is not None:
        was, now = (shlex.join(argv) for argv in diff.command)
        console.print(Text("The command changed", style="bold"))
        console.print(Text(f"  - {safe_text(was)}", style="green"))
        console.print(Text(f"  + {safe_text(now)}", style="yellow"))
    if diff.environment:
        console.print(Text("The environment changed", style="bold"))
        for name, (old, new) in diff.environment.items():
            if old is not None:
                console.print(Text(f"  - {safe_text(name)}={safe_text(old)}", style="green"))
            if new is not None:
                console.print(Text(f"  + {safe_text(name)}={safe_text(new)}", style="yellow"))
    if not diff.appeared and not diff.disappeared and not diff.became and not diff.ceased:
        console.print(Text("no change in what is written", style="green"))
        _intermittent(console, diff)
        if diff.newly_failed:
            console.print(Text("✗ the command failed, where it succeeded before", style="bold red"))
        return
    if diff.appeared:
        _section(console, "Writes that appeared", "+", diff.appeared, "yellow", verbose)
    if diff.became:
        _section(console, "Writes that are violations now, and were not", "!", diff.became, "yellow", verbose)
    if diff.ceased:
        _section(console, "Writes that were violations, and are not now", "~", diff.ceased, "green", verbose)
    if diff.disappeared:
        _section(console, "Writes that disappeared", "-", diff.disappeared, "green", verbose)
    _intermittent(console, diff)
    if diff.new_violations:
        n = len(diff.new_violations)
        console.print(Text(f"✗ {n} new violation{'s' if n != 1 else ''}", style="bold red"))
    else:  # the verdict the exit status gives, said as -q says it
        console.print(Text("✓ no new violations", style="green"))
    if diff.newly_failed:
        console.print(Text("✗ the command failed, where it succeeded before", style="bold red"))
