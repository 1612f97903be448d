"""Many runs' traces into one (`rotrace merge`), in two streaming passes over the files, one
trace at a time: memory holds distinct names and distinct writes, never all the events.

Pass 1 collects the names each directory received, per operation and run, and derives the
per-run names' globs (generalise.py). Pass 2 reads each trace again, writes every path with its
globs, and folds identical writes into one event with a count and the runs it came from (pids
stay the first run's: they mean nothing across runs). The header keeps each run as a source,
what each directory held (content in any run: content), and notes where runs disagree.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence

from rotrace import __version__
from rotrace.errors import BadInput, BadOption
from rotrace.escape import safe_text
from rotrace.events import DirState, FileEvent, ProcessInfo
from rotrace.export.mapping import PathMap
from rotrace.gate_inputs import TRACE_ADVICE, Input, InputGuard, InputSet
from rotrace.merge.generalise import Family, Siblings
from rotrace.output import TraceOutput
from rotrace.pathnames import glob_regex, outermost, text_of
from rotrace.pipeline import Pipeline
from rotrace.policy.allowlist import Allowlist
from rotrace.policy.mountpoints import SYSTEM_DIRS
from rotrace.policy.verdict import Verdict
from rotrace.record import Generalised, Source, TraceHeader, checkpoint_note
from rotrace.report.quiet import counted
from rotrace.tracefile import read_trace, trace_files, trace_sets

GROUP_BY = re.compile(r"label:[^\s=]+|cwd|command")


def _key(header: TraceHeader, by: str) -> str:
    if by == "cwd":
        return header.cwd
    if by == "command":
        return shlex.join(header.command)
    return header.labels.get(by.removeprefix("label:"), "")


_TOLD_BY = ("working directory", "app label", "container label")  # what tells applications apart


def grouped(
    paths: list[str], by: str | None, maps: list[tuple[str, str]] | None = None
) -> dict[str, list[str]]:
    """The traces by application: with `by`, one group per value; without, one group. Either
    way BadInput when a group holds traces of different applications (working directory as
    `maps` maps it: two checkouts mapped to one place are one, `app` label, `container` label: a
    Pod's sidecar is not its app): one trace plans one application's mounts (a label shared by
    two applications, or one no trace has, groups them together)."""
    where = PathMap(maps or [])
    if by is not None and not GROUP_BY.fullmatch(by):
        raise BadOption(f"--group-by {by!r}: expected label:KEY, cwd or command")
    groups: dict[str, list[str]] = {}
    firsts: dict[str, tuple[str, str, str, str]] = {}
    for path in paths:
        header, _ = read_trace(path)
        key = _key(header, by) if by is not None else ""
        labels = header.labels
        app = (where(header.cwd), labels.get("app", ""), labels.get("container", ""), path)
        first = firsts.setdefault(key, app)
        if app[:3] != first[:3]:
            what = next(w for w, a, b in zip(_TOLD_BY, app, first, strict=False) if a != b)
            split = "split them with --group-by label:KEY|cwd|command"
            if by is not None:
                value = f"the same {by} ({key})" if key else f"no {by}"
                split = f"both have {value}: group them by what tells them apart"
            raise BadInput(
                f"{first[3]} and {path} are of different applications (their {what} differs): "
                f"merge one application at a time, or {split}"
            )
        groups.setdefault(key, []).append(path)
    return groups


@dataclasses.dataclass
class _Family:
    glob: str
    pattern: re.Pattern[str]
    names: int
    runs: int  # bits


class _Names:
    """Pass 1: the names per (directory, operation), and then the globs they make."""

    def __init__(self, where: Callable[[str], str]) -> None:
        self.where = where
        # the names each run left there at its end (bits), of those it made or removed: a glob's
        # `most` counts them, not the lock files it made and removed (diff.Changes.per_run)
        self.left: dict[str, int] = {}
        self._there: dict[str, bool] = {}  # the run's, as it goes
        self.siblings: dict[tuple[str, str], Siblings] = {}
        self.families: dict[tuple[str, str], list[_Family]] = {}
        self.guarded: set[str] = set()  # venvs and the application directory: never under a glob

    def add(self, path: str, op: str, run: int) -> None:
        directory, name = os.path.split(path)
        self.siblings.setdefault((directory, op), Siblings()).add(name, run)

    def there(self, path: str, left: bool) -> None:
        """The run made the name (`left`) or removed it."""
        self._there[path] = left

    def end_run(self, run: int) -> None:
        for path, left in self._there.items():
            if left:
                self.left[path] = self.left.get(path, 0) | 1 << run
        self._there.clear()

    def settle(self, runs: int) -> list[Generalised]:
        """The globs, a level of directories at a time from the top: the names in directories
        that are one glob (a per-run `/tmp/.tmpXXXXXX` each run made) are siblings, each run's
        under its own (uv's `/tmp/.tmpA/.tmpB`: its inner name one per run too)."""
        made: dict[str, Generalised] = {}
        by_depth: dict[int, list[tuple[str, str]]] = {}
        for directory, op in self.siblings:
            by_depth.setdefault(directory.count("/"), []).append((directory, op))
        for depth in sorted(by_depth):
            grouped: dict[tuple[str, str], list[str]] = {}  # (general directory, op) -> its directories
            for directory, op in by_depth[depth]:
                grouped.setdefault((self.directory(directory), op), []).append(directory)
            for (general, op), directories in grouped.items():
                siblings = Siblings()
                for directory in directories:
                    for name, bits in self.siblings[(directory, op)].names.items():
                        siblings.names[name] = siblings.names.get(name, 0) | bits
                for glob, family in siblings.families(runs):
                    full = os.path.join(general, glob)
                    if not self._safe(full):
                        continue
                    bits = 0
                    for b in family.names.values():
                        bits |= b
                    found = _Family(glob, glob_regex(glob), len(family.names), bits)
                    for directory in directories:
                        self.families.setdefault((directory, op), []).append(found)
                    # one glob of several operations' families (the runs' pid files removed, their
                    # own made): the most names a run left, of any of them
                    seen = made.get(full)
                    most = max(self._most(family, directories), (seen.most or 0) if seen is not None else 0)
                    if seen is None or seen.names < len(family.names):
                        made[full] = Generalised(full, len(family.names), _runs(bits), most)
                    else:
                        seen.most = most
        self.siblings.clear()
        return sorted(made.values(), key=lambda g: g.glob)

    def _most(self, family: Family, directories: list[str]) -> int:
        """The most names of the family one run left (`left`; 0: none)."""
        per_run: dict[int, int] = {}
        for name in family.names:
            bits = 0
            for directory in directories:
                bits |= self.left.get(os.path.join(directory, name), 0)
            for run in _runs(bits):
                per_run[run] = per_run.get(run, 0) + 1
        return max(per_run.values(), default=0)

    def _safe(self, glob: str) -> bool:
        """A glob that matches no venv, no application directory, no system directory, nor
        any directory above one."""
        matcher = Allowlist([glob])
        return not any(
            matcher.allows(os.fsencode(p)) for p in (*self.guarded, *SYSTEM_DIRS)
        )  # a glob allows what is below a match too

    def name(self, path: str, op: str) -> str:
        """The path with the globs of its directories and its own name."""
        directory, name = os.path.split(path)
        return self._named(directory, self.directory(directory), name, op, path)

    def directory(self, path: str) -> str:
        """A directory with the globs of its own and its parents' names, from the top down (a
        loop, not a call per level: a path may be thousands of levels deep)."""
        chain = []
        top = path
        while top not in ("/", "") and os.path.dirname(top) != top:
            chain.append(top)
            top = os.path.dirname(top)
        general = top
        for directory in reversed(chain):
            parent, name = os.path.split(directory)
            general = self._named(parent, general, name, "mkdir", directory)
        return general

    def _named(self, directory: str, general: str, name: str, op: str, path: str) -> str:
        """`path` (`name` in `directory`, which generalises to `general`) generalised."""
        for family in self.families.get((directory, op), ()):
            if family.pattern.fullmatch(name):
                return os.path.join(general, family.glob)
        return os.path.join(general, name) if general != directory else path


@dataclasses.dataclass
class _Merged:
    verdict: Verdict  # the first run's, its paths generalised
    count: int
    runs: int  # bits


# whether a successful call leaves its path's name there (a rename: its target's, not its own)
_THERE = {"create": True, "mkdir": True, "symlink": True, "link": True, "mknod": True, "delete": False,
          "rename": False}  # fmt: skip

_MOST_WRITES = 2**63  # an event's count, as a trace holds it

_Key = tuple[object, ...]
_HEAD: _Key = ()  # before the first event (no event's key is empty)


class _Order:
    """The merged events' order, each run's own kept where the runs agree: an event first seen
    in a later run goes right after the one that came before it in that run, not at the end.
    pylint removes its stats file and makes it anew (O_EXCL), and a cold first run's removal
    fails: the warm runs' removal, appended after the make, read as a file made and removed
    again (`diff` then saw the next warm run's lasting file as a new write). A run's place in
    the order (`merge`'s `last`) only moves forward: an event the runs before put earlier does
    not take it back, or what follows in this run (a name made again after it was removed)
    would go before what came before it. Each event has a label, in order (`before`): a gap
    halved by each insertion, all labelled afresh when one is used up."""

    _GAP = 1 << 32

    def __init__(self) -> None:
        self._next: dict[_Key, _Key | None] = {_HEAD: None}
        self._prev: dict[_Key, _Key] = {}
        self._label: dict[_Key, int] = {_HEAD: 0}

    def before(self, first: _Key, second: _Key) -> bool:
        return self._label[first] < self._label[second]

    def insert(self, after: _Key, key: _Key) -> None:
        following = self._next[after]
        if following is not None and self._label[following] - self._label[after] < 2:
            self._relabel()
        low = self._label[after]
        high = low + 2 * self._GAP if following is None else self._label[following]
        self._label[key] = (low + high) // 2
        self._next[after], self._next[key], self._prev[key] = key, following, after
        if following is not None:
            self._prev[following] = key

    def move(self, after: _Key, key: _Key) -> None:
        if key == after:
            return
        before, following = self._prev.pop(key), self._next.pop(key)
        self._next[before] = following
        if following is not None:
            self._prev[following] = before
        self.insert(after, key)

    def _relabel(self) -> None:
        for i, key in enumerate(self, start=1):
            self._label[key] = i * self._GAP

    def __iter__(self) -> Iterator[_Key]:
        key = self._next[_HEAD]
        while key is not None:
            yield key
            key = self._next[key]


def _runs(bits: int) -> tuple[int, ...]:
    return tuple(i for i in range(bits.bit_length()) if bits >> i & 1)


def _named_target(e: FileEvent) -> bool:
    """The event's other name is a path a run's per-run name may be: a rename's or a link's, and
    a symbolic link's absolute content (virtualenv's probe links TmPxxxxxxxx-b to its TmPxxxxxxxx)."""
    if e.target is None:
        return False
    return e.op in ("rename", "link") or (e.op == "symlink" and e.target.startswith(b"/"))


def _mapped(where: PathMap, raw: bytes | None) -> str | None:
    return None if raw is None else where(os.fsdecode(raw))


def _events(path: str) -> Iterator[Verdict]:
    return iter(read_trace(path)[1])


def _mapped_allowlist(headers: list[TraceHeader], where: PathMap) -> list[str]:
    """The runs' allowlist entries, once each, where `--map` puts their paths (one checkout's
    out/ allowed is the image's /app/out): the merged events are there too."""
    return list(dict.fromkeys(where(a) if a.startswith("/") else a for h in headers for a in h.allowlist))


def merge(
    paths: list[str], out: str, maps: list[tuple[str, str]], notes: list[str], sets: Sequence[InputSet] = ()
) -> TraceHeader:
    """Write the merged trace of `paths` (one application's runs) to the file `out` ('-':
    stdout); `notes` receives what a person should know (names generalised, runs that
    disagree). `sets`: the directories and globs that named them (each name one of them stands
    for is a run's trace, which no run's command may have written)."""
    where = PathMap(maps)
    names = _Names(where)
    headers = [read_trace(p)[0] for p in paths]
    for path, h in zip(paths, headers, strict=True):
        if h.sources:  # counted as one run, its runs' names already globs: every figure would be wrong
            listed = ", ".join(s.path for s in h.sources[:3] if s.path) or "its sources"
            raise BadInput(
                f"{path} is a merged trace ({h.runs} runs): merge the runs' own traces ({listed}"
                f"{', ...' if len(h.sources) > 3 else ''}) with the new ones"
            )
    runs = len(paths)
    if runs > 4096:
        raise BadInput(f"{runs} traces: rotrace merges at most 4096 at once")
    for run, path in enumerate(paths):  # pass 1: names
        names.guarded.add(where(headers[run].cwd))
        # a later run's command could have rewritten an earlier run's trace: a baseline made of it
        others = [Input(other, "the trace", TRACE_ADVICE) for other in paths if other != path]
        guard = InputGuard(others, sets, own=path)
        guard.check_run(headers[run].remounted, path)
        for v in _events(path):
            e = v.event
            guard.check(e, path, False)
            if v.venv is not None:
                names.guarded.add(where(os.fsdecode(v.venv)))
            names.add(where(os.fsdecode(e.path)), e.op, run)
            if _named_target(e):
                names.add(where(os.fsdecode(e.target or b"")), e.op + ">", run)
            if not e.failed and e.write and e.op != "access":  # (a name written is there: a log reopened)
                names.there(where(os.fsdecode(e.path)), _THERE.get(e.op, True))
                if e.op == "rename" and e.target is not None:
                    names.there(where(os.fsdecode(e.target)), True)
        names.end_run(run)
    generalised = names.settle(runs)
    for g in generalised:
        notes.append(f"generalised {g.names} names from {len(g.runs)} of {runs} runs: {g.glob}")

    merged: dict[_Key, _Merged] = {}  # pass 2: identical writes folded
    order = _Order()
    for run, path in enumerate(paths):
        last = _HEAD  # this run's event before the one read
        for v in _events(path):
            e = v.event
            p = names.name(where(os.fsdecode(e.path)), e.op)
            t = _mapped(where, e.target)
            if t is not None and _named_target(e):
                t = names.name(t, e.op + ">")
            venv = _mapped(where, v.venv)
            known = None if v.explanation is None else v.explanation.id
            key = (e.exe, e.syscall, e.op, p, t, e.flags, e.mode, e.outcome, e.write, e.unresolved,
                   v.allowed, venv, v.ro_forecast, known, v.harmless)  # fmt: skip
            entry = merged.get(key)
            if entry is None:
                event = e._replace(path=os.fsencode(p), target=None if t is None else os.fsencode(t))
                venv_raw = None if venv is None else os.fsencode(venv)
                merged[key] = _Merged(dataclasses.replace(v, event=event, venv=venv_raw), v.count, 1 << run)
                order.insert(last, key)
                last = key
            else:
                if entry.runs & 1 << run:  # again in this run: where it came last (git's probe
                    order.move(last, key)  # removes .git/tXXXXXX, links it, removes it again)
                    last = key
                elif order.before(last, key):  # an earlier run's: this run's place moves forward only
                    last = key
                entry.count += v.count
                if entry.count >= _MOST_WRITES:  # what a trace holds (tracefile reads the same bound)
                    raise BadInput(
                        f"{path}: its writes' counts and the runs' before it add up past {_MOST_WRITES - 1}"
                    )
                entry.runs |= 1 << run

    header = _header(paths, headers, names, where, generalised, notes)
    output = TraceOutput(out)
    Pipeline.of(header).tally(
        (
            dataclasses.replace(m.verdict, count=m.count, runs=_runs(m.runs))
            for m in map(merged.__getitem__, order)
        ),
        header,
        output,
    )
    output.close()
    if output.error is not None:
        raise BadInput(output.error.removesuffix(" (the report above is complete)"))
    return header


def _header(
    paths: list[str],
    headers: list[TraceHeader],
    names: _Names,
    where: PathMap,
    generalised: list[Generalised],
    notes: list[str],
) -> TraceHeader:
    first = headers[0]
    states: dict[str, dict[DirState, list[int]]] = {}
    for run, h in enumerate(headers):
        for d, s in h.directories.items():
            general = names.directory(where(os.fsdecode(d)))
            states.setdefault(general, {}).setdefault(s, []).append(run)
    directories: dict[bytes, DirState] = {}
    mixed: dict[str, str] = {}  # found absent or empty before some runs, holding files before others
    for name, by_state in states.items():
        # (a trace that says `filled` of a directory is a merge's: merge refuses those, but a
        # trace's file is anyone's to edit)
        state: DirState = next(
            s for s in (DirState.FILLED, DirState.CONTENT, DirState.EMPTY, DirState.ABSENT) if s in by_state
        )
        if state == DirState.CONTENT and DirState.EMPTY in by_state:
            state = DirState.FILLED  # the runs' own files, from the tree they started from
        directories[os.fsencode(name)] = state
        # files in it before some runs, none before others: what a mount there must hold is in
        # question (absent before one, empty before another: it holds nothing, as both had)
        if len(by_state) > 1 and state in (DirState.CONTENT, DirState.FILLED):
            before = [
                f"{s.value} before {len(by_state[s])}"
                for s in (DirState.ABSENT, DirState.EMPTY)
                if s in by_state
            ]
            held = DirState.CONTENT in by_state
            there = "held files" if held else "was there (empty)"
            taken = " (taken as what the runs before left there)" if held else ""
            mixed[name] = (
                f"was {' and '.join(before)} of {len(headers)} runs and {there} before the others{taken}"
            )
    for name in outermost(set(mixed)):  # a mount there holds those below it: said once
        notes.append(
            f"{name} {mixed[name]}: a mount there starts empty, so if the image ships files in it,"
            " trace a run from the image's tree"
        )
    # each run's processes, one record per process: a merged event keeps its run's pid, by which
    # the report names its writer (a console script by its name, not its interpreter's)
    processes: dict[tuple[int, bytes, tuple[str, ...], bytes | None], ProcessInfo] = {}
    for h in headers:
        for p in h.processes:
            processes.setdefault((p.pid, p.exe, p.cmdline, p.script), p)
    labels = {k: v for k, v in first.labels.items() if all(h.labels.get(k) == v for h in headers)}
    # the environment every run had (each run's own is in its source): a plan keeps the settings
    # the runs agree on, and says which they do not (policy/mounts.py)
    environment = {
        k: v for k, v in first.environment.items() if all(h.environment.get(k) == v for h in headers)
    }
    # the run whose failure the merge's is: one that failed on its own first (a server stopped
    # by the SIGTERM rotrace passed on, exit 143, failed by no write of its own)
    failed = next((h for h in headers if h.failed_on_its_own), None) or next(
        (h for h in headers if h.command_failed), None
    )
    alike = all(h.stopped == first.stopped for h in headers)
    stopped = failed.stopped if failed is not None else first.stopped if alike else None
    sources = [
        Source(
            command=list(h.command),
            cwd=where(h.cwd),
            exit_code=h.exit_code,
            signal=h.signal,
            environment=dict(h.environment),
            programs=sorted({text_of(p.exe) for p in h.processes if p.exe}),
            kernel=None,
            rotrace_version=__version__,
            labels=dict(h.labels),
            path=path,
            checkpoint=h.checkpoint,
            let_go=h.let_go,
            stopped=h.stopped,
        )
        for path, h in zip(paths, headers, strict=True)
    ]
    checkpoints = [h.checkpoint for h in headers if h.checkpoint is not None]
    notes += [checkpoint_note(p, h.checkpoint) for p, h in zip(paths, headers, strict=True) if h.checkpoint]
    warnings = list(dict.fromkeys(w for h in headers for w in h.warnings))
    return TraceHeader(
        command=list(first.command),
        cwd=where(first.cwd),
        exit_code=failed.exit_code if failed else 0,
        signal=failed.signal if failed else None,
        # each run's entries where its paths are (--map: a checkout's out/ allowed is the image's)
        allowlist=_mapped_allowlist(headers, where),
        seccomp=all(h.seccomp for h in headers),
        all_opens=all(h.all_opens for h in headers),
        warnings=warnings + [f"merge: {n}" for n in notes if not n.startswith("generalised")],
        read_only=all(h.read_only for h in headers),
        processes=list(processes.values()),
        directories=directories,
        environment=environment,
        enforced=first.enforced if all(h.enforced == first.enforced for h in headers) else None,
        labels=labels,
        sources=sources,
        generalised=generalised,
        checkpoint=max(checkpoints) if checkpoints else None,  # not the end of every run either
        let_go=failed is None and all(h.let_go for h in headers),  # no run ended
        stopped=stopped,
        remounted=sorted({call for h in headers for call in h.remounted}),
    )


def merge_command(traces: list[str], output: str, maps: list[tuple[str, str]], group_by: str | None) -> int:
    """`rotrace merge`: exit 0, or 3 (BadInput) for traces that cannot be merged."""
    paths = trace_files(traces)
    sets = [InputSet(arg, pattern, "the traces", TRACE_ADVICE) for arg, pattern in trace_sets(traces)]
    groups = grouped(paths, group_by, maps)
    if group_by is not None and group_by.startswith("label:") and list(groups) == [""]:
        print(safe_text(f"rotrace: note: no trace has the label {group_by[6:]}: one group"), file=sys.stderr)
    if group_by is not None:
        if output == "-" or (os.path.exists(output) and not os.path.isdir(output)):
            raise BadOption("--group-by writes one trace per group: give -o a directory")
        os.makedirs(output, exist_ok=True)
    taken: set[str] = set()
    for value, members in groups.items():
        notes: list[str] = []
        if group_by is None:
            target = output
        else:
            slug = re.sub(r"[^A-Za-z0-9._-]+", "_", value).strip("._-")[:60] or "none"
            name, n = slug, 1
            while name in taken:
                n += 1
                name = f"{slug}-{n}"
            taken.add(name)
            target = os.path.join(output, f"{name}.json")
        merge(members, target, maps, notes, sets)
        shown = "stdout" if target == "-" else target
        print(safe_text(f"rotrace: merged {counted(len(members), 'trace')} into {shown}"), file=sys.stderr)
        families = [n for n in notes if n.startswith("generalised")]
        for note in [n for n in notes if not n.startswith("generalised")] + families[:_FAMILIES_SAID]:
            print(safe_text(f"rotrace: {note}"), file=sys.stderr)
        if len(families) > _FAMILIES_SAID:  # (a tox run's thousand .pyc.NNN: a CI log's screens)
            more = counted(len(families) - _FAMILIES_SAID, "more family", "more families")
            said = f"rotrace: ... and {more} of per-run names generalised (the trace's `generalised`"
            print(f"{said} lists them)", file=sys.stderr)
    return 0


_FAMILIES_SAID = 20  # the generalised families a merge names on stderr
