"""What happens to a trace's verdicts, assembled once for every command (`run`'s report process,
`check`, `report`, `allowlist`, `diff`) and for the benchmarks:

    verdicts -> tally (summary, known writers, mount planner, diff changes) -> JSON trace
             -> group (the report's aggregate, each write's mount placement) -> mount plan
             -> present (report: text, JSON, GitHub) -> export -> exit status

The first pass (tally and JSON) may run while the command does (run/report_side.py feeds it
batch by batch), and the second (group and place) with it (`Pipeline.place_early`, checked at
the end against the whole run); the passes after it read the verdicts again.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import IO, TYPE_CHECKING

from rotrace.errors import EXIT_COMMAND_FAILED, EXIT_OK, EXIT_VIOLATIONS
from rotrace.events import DirState, FileEvent, ProcessInfo
from rotrace.explain import READ_ONLY_DATABASE, Known, offline_writers
from rotrace.output import TraceOutput
from rotrace.pathnames import is_under, outermost
from rotrace.policy import databases
from rotrace.policy.allowlist import Allowlist
from rotrace.policy.mounts import MountPlan, MountPlanner, Placement
from rotrace.policy.scripts import modules_run, program_arguments
from rotrace.policy.verdict import Classifier, Summary, Verdict
from rotrace.record import TraceHeader
from rotrace.report.aggregate import Aggregate
from rotrace.report.present import present, present_diff
from rotrace.report.view import View
from rotrace.spool import Spool
from rotrace.tracefile import RenderedEvents, TraceWriter, read_trace

if TYPE_CHECKING:
    from rotrace.export.formats import Rendered
    from rotrace.report.diff import Changes


def programs(header: TraceHeader, top_only: bool = False) -> frozenset[str]:
    """The files the command ran: each process's executable and #! script, and the script an
    interpreter was given (`python app/run`, `sh start`; scripts.program_arguments), a relative
    one from that process's working directory (the run's, for a trace that has none). A
    program's other arguments are its data (`datasette state/hits.db`), not programs.
    `top_only`: those of the command itself (a process whose parent is not traced, and what a
    shell or a launcher of the command ran: an entrypoint script's app), not of what it started
    (tox's environments' interpreters)."""
    found: set[str] = set()
    own = _command_itself(header.processes) if top_only else None
    search = header.environment.get("PATH", os.defpath).split(os.pathsep)
    for p in header.processes:
        if own is not None and p.pid not in own:
            continue
        found.update(os.fsdecode(f) for f in (p.exe, p.script) if f)
        cwd = os.fsdecode(p.cwd) if p.cwd is not None else header.cwd
        invoked = _invoked(p, cwd, search)
        if invoked is not None:
            found.add(invoked)
        for arg in program_arguments(p.exe, p.cmdline):
            path = os.path.normpath(os.path.join(cwd, arg))
            if arg and os.path.isdir(path):  # Python runs a directory's __main__.py
                path = os.path.join(path, "__main__.py")
            if arg and os.path.isfile(path):
                found.update({path, os.path.realpath(path)})  # by its name, and where it is
    return frozenset(found)


# Programs that run the command they are given, as the command: a shell (an entrypoint
# script), env, an init for containers, a privilege or scheduling wrapper. What one of these,
# itself the command, runs is the command too.
_LAUNCHERS = frozenset(
    {"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox", "env", "nohup", "timeout", "setsid",
     "nice", "ionice", "stdbuf", "chrt", "taskset", "tini", "dumb-init", "catatonit", "gosu", "su-exec",
     "setpriv", "runuser", "sudo", "doas", "chpst", "s6-setuidgid", "xvfb-run", "time"}
)  # fmt: skip


def _command_itself(processes: list[ProcessInfo]) -> set[int]:
    """The pids of the command itself: those whose parent is not traced, and the children of
    one of them that runs a launcher (`sh entrypoint.sh` starting the app), by the program it
    ran last (`sh -c "exec tox"` is tox, which starts its environments')."""
    traced = {p.pid for p in processes}
    last = {p.pid: p.exe for p in processes}
    launchers = {pid for pid, exe in last.items() if os.path.basename(os.fsdecode(exe)) in _LAUNCHERS}
    own = {p.pid for p in processes if p.ppid not in traced}
    while more := {p.pid for p in processes if p.ppid in own and p.ppid in launchers} - own:
        own |= more
    return own


def _invoked(p: ProcessInfo, cwd: str, search: list[str]) -> str | None:
    """The name by which process `p`'s program was run, where it is not its executable's: a
    venv's `bin/python`, a symlink to the system's interpreter, is where the command's program
    is (its argv[0] when that holds a `/`, else the first of PATH's that leads to the executable)."""
    if not p.cmdline or not p.exe:
        return None
    first, exe = p.cmdline[0], os.fsdecode(p.exe)
    candidates = (
        [os.path.join(cwd, first)] if "/" in first else [os.path.join(d or cwd, first) for d in search]
    )
    for candidate in candidates:
        path = os.path.normpath(candidate)
        if path != exe and os.path.exists(path) and os.path.realpath(path) == os.path.realpath(exe):
            return path
    return None


def ran_names(header: TraceHeader) -> frozenset[str]:
    """The names of the programs the run ran: each process's executable and #! script, and the
    modules Python ran (`python -m pip`: pip; `coverage run -m pytest`: pytest), as the settings
    they read are named for them."""
    names: set[str] = set()
    for p in header.processes:
        names.update(os.path.basename(os.fsdecode(f)) for f in (p.exe, p.script) if f)
        names.update(modules_run(p.exe, p.cmdline))
    return frozenset(names)


def verdict_status(header: TraceHeader, summary: Summary) -> int:
    """0, or bit 0 for violations and bit 3 for a failed command (errors.EXIT_STATUSES)."""
    status = EXIT_OK
    if summary.violations:
        status |= EXIT_VIOLATIONS
    if header.command_failed:
        status |= EXIT_COMMAND_FAILED
    return status


def classifier(
    allowlist: Allowlist,
    processes: Iterable[ProcessInfo] = (),
    *,
    journal: bool = False,
    enforced: bool = False,
    since: int | None = None,
    home: str | None = None,
    generalised: Iterable[str] = (),
    merged: bool = False,
    environment: Mapping[str, str] | None = None,
    read_only: bool = False,
) -> Classifier:
    """The verdicts' first stage: each event against the allowlist, its venv, its known writer
    (`enforced`: the run was under --enforce, whose refusals are never harmless; `since`: the
    run's start by the files' clock, policy/databases.py; `home`: the run's HOME; `generalised`:
    a merged trace's globs of per-run names; `merged`: the trace is a merge, whose every path
    with a glob's characters is read as such a glob; `read_only`: traced in the read-only root)."""
    return Classifier(
        allowlist,
        processes,
        journal=journal,
        enforced=enforced,
        since=since,
        home=home,
        generalised=generalised,
        merged=merged,
        environment=environment,
        read_only=read_only,
    )


def saved_classifier(header: TraceHeader, allowlist: Allowlist) -> Classifier:
    """The classifier of a saved trace's verdicts under `allowlist`, as its run had them."""
    return classifier(
        allowlist,
        header.processes,
        enforced=header.enforced is not None,
        home=header.environment.get("HOME"),
        generalised=[g.glob for g in header.generalised],
        merged=bool(header.sources),
        environment=header.environment,
        read_only=header.read_only,
    )


class Pipeline:
    """The stages after classification, for one trace. `add` is the first pass, per verdict:
    it counts (the summary), collects the known writers met, and feeds the mount planner (and
    the diff's changes when there is a baseline to compare with). `conclude` makes the passes
    after it: groups and places every write, presents the report, exports, and says the exit
    status. With `place_early` (`run`, while the command runs) `add` also places and groups
    each write, which `conclude` keeps if the whole run answers as the early placements were
    answered (MountPlanner.early_holds), else makes again."""

    def __init__(
        self,
        cwd: str,
        directories: dict[bytes, DirState] | None = None,
        *,
        diff_environment: dict[str, str] | None = None,
        diff_globs: Iterable[str] = (),
        diff_homes: Iterable[str] = (),
        diff_most: dict[str, int | None] | None = None,
        diff_pods: Sequence[str] = (),
        allowlist: Allowlist | None = None,
        enforced: bool = False,
    ) -> None:
        """`allowlist`: the one the verdicts were made under, which tells the report which end
        of a rename it refused (else a rename's violation is grouped at its source);
        `enforced`: the run was under --enforce (its refusals learnt for what they meant)."""
        self.summary = Summary()
        self._allowlist = allowlist
        self.explanations: dict[Known, None] = {}
        self.planner = MountPlanner(cwd, directories, enforced=enforced)
        self.changes: Changes | None = None
        if diff_environment is not None:  # a diff's (loaded only for one: a run's start-up is without it)
            from rotrace.report.diff import Changes

            self.changes = Changes(cwd, diff_environment, diff_globs, diff_homes, diff_most, diff_pods)
        learn = self.planner.learn
        self._consumers = (learn,) if self.changes is None else (learn, self.changes.add)
        self._early: Aggregate | None = None  # the report's grouping, made as the verdicts come
        self._unplaced: deque[Verdict] = deque()  # the last verdicts added, placed LAG later
        self.placed_early = False  # the second pass made while the command ran stood

    @classmethod
    def of(
        cls,
        header: TraceHeader,
        *,
        diff_environment: dict[str, str] | None = None,
        allowlist: Allowlist | None = None,
    ) -> Pipeline:
        """The stages for a trace whose header is known (a saved trace, a run's end): the run is
        known before the first pass, as `run`'s report process knows its environment from the
        start (the directories a known writer made on its way are learnt by the run's HOME)."""
        pipeline = cls(
            header.cwd,
            header.directories,
            diff_environment=diff_environment,
            diff_pods=pods_of(header),
            allowlist=allowlist,
            enforced=header.enforced is not None,
        )
        pipeline.know_run(header)
        return pipeline

    def keep(self, places: Iterable[str], cwd: str | None, maps: Iterable[tuple[str, str]] = ()) -> None:
        """`--persistent PATH`s (`allowlist`, `kube harden`): what the user says must survive a
        restart, as the trace names it (export/mapping.py's given_places); each the plan does not
        keep is said."""
        from rotrace.export.mapping import given_places

        self.planner.know_persistent(given_places(places, cwd, maps), asked=True)

    # Verdicts are placed this many verdicts after they are learnt: by then the directories a
    # failed write was missing (makedirs tries the whole path, then makes the ones above it)
    # and those a write went on to make are known.
    LAG = 64

    def place_early(self, *, keep_all: bool, enforced: bool) -> None:
        """Place and group each write shortly after it is added: the second pass while the
        command runs (`keep_all`: the report's -v; `enforced`: --enforce was asked for)."""
        self.planner.start_early(enforced=enforced)
        self._early = Aggregate(keep_all=keep_all)

    def add(self, verdict: Verdict) -> None:
        self.summary.add(verdict)
        for consume in self._consumers:
            consume(verdict)
        if verdict.explanation is not None:
            self.explanations[verdict.explanation] = None
        if self._early is not None:
            self._unplaced.append(verdict)
            if len(self._unplaced) > self.LAG:
                self._place_early(self._unplaced.popleft())

    def _place_early(self, verdict: Verdict) -> None:
        assert self._early is not None
        placements = self.planner.place_early(verdict)
        if placements is None:  # too much to check at the end: placed after the run
            self._early = None
            self._unplaced.clear()
        else:
            self._early.add(verdict, placements, self.planner.note_wrote, at_target=self._at_target(verdict))

    def _at_target(self, verdict: Verdict) -> bool:
        """A rename's violation is its target's: the allowlist allows the source and refuses the
        target (a file made in an allowed /tmp and renamed into dist/ is dist's to fix)."""
        e, allowlist = verdict.event, self._allowlist
        if allowlist is None or not verdict.violation or e.op != "rename" or not e.target:
            return False
        return allowlist.allows_from(e.path, e.pid, e.tid) and not allowlist.allows_from(
            e.target, e.pid, e.tid
        )

    def tally(self, verdicts: Iterable[Verdict], header: TraceHeader, output: TraceOutput) -> Summary:
        """The first pass over verdicts that are all there: each added, and written to the JSON
        trace if one is asked for."""
        writer: TraceWriter | None = None
        if output.fp is not None:
            try:
                writer = TraceWriter(output.fp, header)
            except OSError as exc:
                output.failed(exc)
        for verdict in verdicts:
            self.add(verdict)
            if writer is not None:
                try:
                    writer.add(verdict)
                except OSError as exc:
                    output.failed(exc)
                    writer = None
        if writer is not None:
            try:
                writer.close(self.summary, self.explanations)
            except OSError as exc:
                output.failed(exc)
        return self.summary

    def write_trace(
        self,
        output: TraceOutput,
        header: TraceHeader,
        verdicts: Iterable[Verdict],
        rendered: RenderedEvents | None,
    ) -> None:
        """The JSON trace of a first pass made before the header was known: its events as
        rendered then (or rendered now from the verdicts), the summary and explanations."""
        if output.fp is None:
            return
        try:
            self.write_checkpoint(output.fp, header, verdicts, rendered)
        except OSError as exc:
            output.failed(exc)

    def write_checkpoint(
        self, fp: IO[str], header: TraceHeader, verdicts: Iterable[Verdict], rendered: RenderedEvents | None
    ) -> None:
        """The JSON trace of the events so far to fp (the run's end, or a checkpoint of a run
        still going): OSError if it could not be written."""
        writer = TraceWriter(fp, header)
        if rendered is not None:
            writer.extend(rendered)
        else:
            for verdict in verdicts:
                writer.add(verdict)
        writer.close(self.summary, self.explanations)

    def know_run(self, header: TraceHeader) -> None:
        """How the run went, which the mount plan depends on (before the second pass)."""
        enforced, failed = header.enforced is not None, header.failed_on_its_own
        runs = [source.environment for source in header.sources]  # a merged trace's runs
        self.planner.know_environment(header.environment, ran_names(header), runs)
        offline = offline_writers(header.environment, header.processes).union(
            *(offline_writers(env) for env in runs)
        )
        self.planner.know_run(
            enforced=enforced,
            command_failed=failed,
            programs=programs(header),
            app=programs(header, top_only=True),
            offline=offline,
        )

    def group(self, verdicts: Iterable[Verdict], keep_all: bool) -> tuple[Aggregate, MountPlan]:
        """The second pass: where each write needs a mount, grouped for the report."""
        aggregate = Aggregate(keep_all=keep_all)
        planner = self.planner
        for verdict in verdicts:
            aggregate.add(verdict, planner.place(verdict), at_target=self._at_target(verdict))
        return aggregate, planner.plan()

    def mount_plan(
        self,
        verdicts: Iterable[Verdict],
        header: TraceHeader | None = None,
        placed: Callable[[Verdict, list[Placement]], None] | None = None,
    ) -> MountPlan:
        """The mount plan alone, of verdicts already added; `placed` is told where each write
        needs a mount (who wrote where: `kube harden`'s comments)."""
        if header is not None:
            self.know_run(header)
        for verdict in verdicts:
            placements = self.planner.place(verdict)
            if placed is not None:
                placed(verdict, placements)
        plan = self.planner.plan()
        if header is not None:
            plan.notes.extend(_failed_runs(header))
        return plan

    def second_pass(
        self, header: TraceHeader, verdicts: Iterable[Verdict], keep_all: bool
    ) -> tuple[Aggregate, MountPlan]:
        """The report's grouping and the mount plan: those made while the command ran if the
        whole run answers as it did then (`placed_early` says so), else `group`'s."""
        self.know_run(header)
        while self._early is not None and self._unplaced:
            self._place_early(self._unplaced.popleft())
        early, self._early = self._early, None
        self.placed_early = early is not None and early.keep_all == keep_all and self.planner.early_holds()
        if early is not None and self.placed_early:
            return early, self.planner.plan()
        self.planner.unplace()
        return self.group(verdicts, keep_all)

    def conclude(
        self, header: TraceHeader, verdicts: Iterable[Verdict], view: View, emit: str | None = None
    ) -> int:
        """Group, present, export if asked: rotrace's exit status for this trace."""
        aggregate, plan = self.second_pass(header, verdicts, view.verbose)
        status = verdict_status(header, self.summary)
        present(header, aggregate, plan, view, status)
        if emit:
            status |= export(header, plan, emit, verdicts=verdicts)
        return status


def export(
    header: TraceHeader,
    plan: MountPlan,
    fmt: str,
    container: str = "app",
    verdicts: Iterable[Verdict] = (),
    maps: Iterable[tuple[str, str]] = (),
) -> int:
    """Print the plan in one consumer's format to stdout, its notes to stderr: 1 when some
    writes (or checks that the command may write) cannot be met by a mount. `maps`: HOST ->
    IMAGE prefixes, the paths of the traced machine as the one the export is for names them."""
    rendered = render(header, plan, fmt, container, verdicts, maps)
    sys.stdout.write(rendered.text)
    sys.stdout.flush()
    for note in rendered.notes:
        print(f"rotrace: {note}", file=sys.stderr)
    return EXIT_VIOLATIONS if plan.blocked or plan.unmet or plan.crossings or rendered.incomplete else EXIT_OK


def render(
    header: TraceHeader,
    plan: MountPlan,
    fmt: str,
    container: str = "app",
    verdicts: Iterable[Verdict] = (),
    maps: Iterable[tuple[str, str]] = (),
) -> Rendered:
    """The plan in one consumer's format, and its notes (`export` without the printing)."""
    from rotrace.export.formats import RENDERERS, Target
    from rotrace.export.mapping import PathMap

    maps = tuple(maps)
    where = PathMap(maps)
    reads = read_roots(verdicts) if fmt == "apparmor" and header.all_opens else None
    if reads is not None:
        reads = tuple(map(where, reads))
    # what each process was exec'd as: its executable, and the #! script it runs (what AppArmor checks)
    programs = tuple(where(os.fsdecode(f)) for p in header.processes for f in (p.exe, p.script) if f)
    # a policy names the project's directories relative to it, unless --map names them as the
    # image does (then the names asked for, absolute)
    project = header.cwd if header.cwd and not maps else None
    seen = tuple((where(mount), text) for mount, text in coverage(header, plan, verdicts))
    merged = tuple(tuple(source.command) for source in header.sources)
    target = Target(header.command, container, programs, reads, project, seen, merged, header.user)
    return RENDERERS[fmt](where.plan(plan), target)


def coverage(header: TraceHeader, plan: MountPlan, verdicts: Iterable[Verdict]) -> list[tuple[str, str]]:
    """A merged trace's mounts, each with the runs that wrote beneath it ("seen in 3 of 5 runs:
    uv, pytest"); nothing for one run's trace."""
    if not header.sources:
        return []
    mounts = list(dict.fromkeys([*plan.mounts, *plan.persistent]))
    runs: dict[str, set[int]] = {m: set() for m in mounts}
    for v in verdicts:
        if not v.runs or not v.wrote:
            continue  # a run that only met what was there (mkdir EEXIST) wrote nothing beneath it
        for raw in (v.event.path, v.event.target):
            path = os.fsdecode(raw) if raw else ""
            mount = max((m for m in mounts if path and is_under(path, m)), key=len, default=None)
            if mount is not None:
                runs[mount].update(v.runs)
    return [(m, seen) for m in mounts if runs[m] and (seen := header.seen_in(runs[m])) is not None]


def read_roots(verdicts: Iterable[Verdict], depth: int = 3) -> tuple[str, ...]:
    """The directories the trace read from, cut to `depth` components (/usr/lib/python3.11)."""
    roots: set[str] = set()
    for v in verdicts:
        e = v.event
        if not e.write and not e.failed:
            parts = os.fsdecode(e.directory).split("/")[1 : depth + 1]
            if parts[0] == "proc" and len(parts) > 1 and parts[1].isdigit():
                continue  # a process's own /proc directory: the profile allows @{PROC}/@{pid}/
            roots.add("/" + "/".join(parts))
    return tuple(outermost(roots))


def load_changes(path: str, guard: Callable[[FileEvent, bool], None] | None = None) -> Changes:
    """A saved trace's writes, for a diff; `guard` is shown each event first, and whether the
    trace is a merge (it raises for a write to a file the diff reads)."""
    header, verdicts = read_trace(path)
    globs = [g.glob for g in header.generalised]  # a merged trace's
    homes = [s.environment.get("HOME", "") for s in header.sources]  # a merged trace's runs'
    most = {g.glob: g.most for g in header.generalised}
    pipeline = Pipeline(
        header.cwd, diff_environment=header.environment, diff_globs=globs, diff_homes=homes, diff_most=most,
        diff_pods=pods_of(header),
    )  # fmt: skip
    merged = bool(header.sources)
    for verdict in Rechecked(verdicts, saved_classifier(header, Allowlist(header.allowlist))):
        if guard is not None:
            guard(verdict.event, merged)
        pipeline.add(verdict)
    assert pipeline.changes is not None
    ended(pipeline.changes, header)
    return pipeline.changes


def pods_of(header: TraceHeader) -> list[str]:
    """The Pod each run of the trace was recorded in (`kube record`'s `pod` label), a merged
    trace's by its runs: the names a diff compares as `$POD`."""
    labels = [s.labels for s in header.sources] or [header.labels]
    return [lab.get("pod", "") for lab in labels]


def ended(changes: Changes, header: TraceHeader) -> None:
    """What a diff compares besides the writes: the trace's command and how it ended (a saved
    trace's, or the run's own as `run --baseline` compares it)."""
    changes.outcome = _outcome(header)
    changes.run_environments = [dict(s.environment) for s in header.sources]
    commands = {tuple(s.command) for s in header.sources} or {tuple(header.command)}
    changes.command = list(commands.pop()) if len(commands) == 1 else None


def _outcome(header: TraceHeader) -> tuple[str, bool] | None:
    """How the command ended, and whether it failed on its own; a merged trace's, where its runs
    agree (three runs that succeeded: a run that fails is newly failed). A run rotrace stopped
    (a server ended by the SIGTERM it passed on, exit 143) did not fail. None: no ending to
    compare (a checkpoint, a process let go, a merge of runs some of which failed)."""
    if header.checkpoint is not None or header.let_go:
        return None
    runs = [(s.exit_code, s.signal, s.checkpoint, s.let_go, s.stopped) for s in header.sources] or [
        (header.exit_code, header.signal, header.checkpoint, header.let_go, header.stopped)
    ]
    endings: list[tuple[str, bool]] = []
    for exit_code, signal, checkpoint, let_go, stopped in runs:
        if checkpoint is not None or let_go or exit_code is None:
            return None
        if stopped:
            endings.append((f"stopped by rotrace ({stopped}, passed on)", False))
        else:
            ended = f"killed by {signal}" if signal else f"exit status {exit_code}"
            endings.append((ended, bool(signal) or exit_code != 0))
    if len(set(endings)) == 1:
        return endings[0]
    if any(failed for _, failed in endings):
        return None
    # none failed (some stopped by rotrace): ended as the first that ended by itself did
    return next((e for e, (*_, stopped) in zip(endings, runs, strict=True) if not stopped), endings[0])


def compare(old: Changes, new: Changes, view: View, err: bool) -> int:
    """Present what appeared or disappeared: 1 on new violations."""
    from rotrace.report.diff import diff_traces

    result = diff_traces(old, new)
    present_diff(result, view, err)
    status = EXIT_VIOLATIONS if result.new_violations else EXIT_OK
    return status | (EXIT_COMMAND_FAILED if result.newly_failed else EXIT_OK)


class Kept:
    """A first pass's verdicts, for the passes after it: in memory for a run of up to
    IN_MEMORY events (most runs), else spooled (memory stays flat)."""

    IN_MEMORY = 1 << 14

    def __init__(self) -> None:
        self._verdicts: list[Verdict] | None = []
        self._spool: Spool | None = None

    def add(self, verdict: Verdict) -> None:
        if self._verdicts is not None:
            if len(self._verdicts) < self.IN_MEMORY:
                self._verdicts.append(verdict)
                return
            self._spool = Spool()
            self._spool.extend(v.astuple() for v in self._verdicts)
            self._verdicts = None
        assert self._spool is not None
        self._spool.add_record(verdict.astuple())

    def __iter__(self) -> Iterator[Verdict]:
        if self._verdicts is not None:
            return iter(self._verdicts)
        assert self._spool is not None
        return (Verdict.from_tuple(r) for r in self._spool.records())

    def close(self) -> None:
        self._verdicts = None
        if self._spool is not None:
            self._spool.close()


class Classified:
    """Spooled events classified once, as the first pass reads them; the verdicts are kept in
    turn for the passes after it (the report reads twice; an export a third time)."""

    def __init__(
        self, events: Spool, classifier: Classifier, prepare: Callable[[FileEvent], FileEvent] | None = None
    ) -> None:
        """`prepare`: each event as it is to be classified (run/report_side.py: a symbolic link's
        content masked with every secret the run showed)."""
        self._events = events
        self._classifier = classifier
        self._prepare = prepare
        self._kept: Kept | None = None

    def __iter__(self) -> Iterator[Verdict]:
        if self._kept is not None:
            return iter(self._kept)
        return self._first()

    def _first(self) -> Iterator[Verdict]:
        kept = Kept()
        prepare = self._prepare
        for event in self._events:
            verdict = self._classifier.classify(event if prepare is None else prepare(event))
            kept.add(verdict)
            yield verdict
        self._events.close()  # the events are in the verdicts now
        self._kept = kept

    def close(self) -> None:
        if self._kept is not None:
            self._kept.close()


class Reclassified:
    """A saved trace's verdicts under another allowlist, as often as they are iterated."""

    def __init__(self, verdicts: Iterable[Verdict], classifier: Classifier) -> None:
        self._verdicts = verdicts
        self._classifier = classifier

    def __iter__(self) -> Iterator[Verdict]:
        for v in self._verdicts:
            read = v.harmless and v.explanation is READ_ONLY_DATABASE and databases.candidate(v.event)
            verdict = self._classifier.classify(v.event, v.venv, known_venv=True, only_read=read)
            yield replace(verdict, count=v.count, runs=v.runs) if v.runs else verdict  # a merged trace's


class Rechecked:
    """A saved trace's verdicts as its own allowlist gives them (`report`, `diff`): a write
    saved as allowed that the allowlist does not allow, or with no verdict (`allowed: null`),
    or a SQLite database said only read by a call that is no read-write open (a hand-edited
    trace), is classified again."""

    def __init__(self, verdicts: Iterable[Verdict], classifier: Classifier) -> None:
        self._verdicts = verdicts
        self._classifier = classifier

    def __iter__(self) -> Iterator[Verdict]:
        for v in self._verdicts:
            said = v.harmless and v.explanation is READ_ONLY_DATABASE
            read = said and databases.candidate(v.event)  # as Reclassified takes it
            unsaid = v.event.write and v.allowed is None  # a write's verdict missing (null is a read's)
            if unsaid or (v.allowed and not self._classifier.permits(v.event)) or (said and not read):
                verdict = self._classifier.classify(v.event, v.venv, known_venv=True, only_read=read)
                yield replace(verdict, count=v.count, runs=v.runs) if v.runs else verdict
            else:
                yield v


# how a run ends that rotrace (or `kube record`'s Pod ending) stopped: SIGINT, SIGTERM
_STOPPED = (130, 143)


def _failed_runs(header: TraceHeader) -> list[str]:
    """A note on a trace of a run that failed on its own: what it would have written after the
    failure is not in the trace, so a plan made of it may fall short where the app gets further."""
    if header.checkpoint is not None or any(s.checkpoint is not None for s in header.sources):
        return [
            "a run had not ended when its trace was written (a checkpoint: killed, or still going): what it"
            " wrote after is not in the trace, so the plan may fall short where the app gets further;"
            " trace a run that ends"
        ]
    if header.sources:
        failed = [s for s in header.sources if s.exit_code not in (0, *_STOPPED) and s.signal is None]
        codes = sorted({s.exit_code for s in failed})
        if not failed:
            return []
        statuses = ", ".join(map(str, codes))
        which = f"{len(failed)} of the {len(header.sources)} runs failed (exit status {statuses})"
    elif header.failed_on_its_own and header.exit_code not in _STOPPED:
        which = f"the run failed (exit status {header.exit_code})"
    else:
        return []
    return [
        f"{which}: what the command would have written after the failure is not in the trace, so the"
        " plan may fall short where the app gets further; trace a run that succeeds"
    ]
