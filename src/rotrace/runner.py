"""The use cases, and the one place the pipeline is assembled: tracer (audit.py, in its own
process) -> spool -> classifier -> (JSON trace, report aggregate, mount plan, diff) ->
report/export. Also the exit-status policy.

Each use case returns rotrace's exit status; what it prints goes through report/ (stderr)
and export/ (stdout).
"""

from __future__ import annotations

import io
import os
import pickle
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rotrace.audit import AuditRequest
from rotrace.channel import Frames, parse_result
from rotrace.environment import run_environment
from rotrace.errors import EXIT_COMMAND_FAILED, EXIT_INTERNAL, EXIT_OK, EXIT_VIOLATIONS
from rotrace.events import FileEvent, ProcessInfo
from rotrace.output import TraceOutput
from rotrace.pathnames import outermost
from rotrace.policy.allowlist import Allowlist
from rotrace.policy.mounts import MountPlan, MountPlanner, plan_mounts
from rotrace.policy.verdict import Classifier, Summary, Verdict
from rotrace.report.aggregate import Aggregate
from rotrace.report.diff import Changes, changes_of, diff_traces
from rotrace.report.present import live_status, prepare, present, present_diff
from rotrace.report.view import View
from rotrace.spool import Spool, anonymous_file
from rotrace.tracefile import RenderedEvents, TraceHeader, TraceWriter, read_trace, signal_name


def verdict_status(header: TraceHeader, summary: Summary) -> int:
    """0, or bit 0 for violations and bit 3 for a failed command (README, "Exit status")."""
    status = EXIT_OK
    if summary.violations:
        status |= EXIT_VIOLATIONS
    if header.command_failed:
        status |= EXIT_COMMAND_FAILED
    return status


class _Tally:
    """What a first pass gathers from each verdict: the summary, the known writers met, and
    what each consumer (the mount planner, a diff) learns."""

    def __init__(self, *consumers: Callable[[Verdict], None]) -> None:
        self.summary = Summary()
        self.explanations: dict[Any, None] = {}
        self._consumers = consumers

    def add(self, verdict: Verdict) -> None:
        self.summary.add(verdict)
        for consume in self._consumers:
            consume(verdict)
        if verdict.explanation is not None:
            self.explanations[verdict.explanation] = None


def classify_into(
    verdicts: Iterable[Verdict],
    header: TraceHeader,
    output: TraceOutput,
    *consumers: Callable[[Verdict], None],
) -> Summary:
    """The first pass: stream verdicts into the consumers and, if asked, the JSON trace."""
    tally = _Tally(*consumers)
    writer: TraceWriter | None = None
    if output.fp is not None:
        try:
            writer = TraceWriter(output.fp, header)
        except OSError as exc:
            output.failed(exc)
    for verdict in verdicts:
        tally.add(verdict)
        if writer is not None:
            try:
                writer.add(verdict)
            except OSError as exc:
                output.failed(exc)
                writer = None
    if writer is not None:
        try:
            writer.close(tally.summary, tally.explanations)
        except OSError as exc:
            output.failed(exc)
    return tally.summary


def _group(verdicts: Iterable[Verdict], planner: MountPlanner, keep_all: bool) -> tuple[Aggregate, MountPlan]:
    """The second pass: where each write needs a mount, grouped for the report."""
    aggregate = Aggregate(keep_all=keep_all)
    for verdict in verdicts:
        aggregate.add(verdict, planner.place(verdict))
    return aggregate, planner.plan()


def conclude_run(frames: Frames) -> int:
    """`rotrace run`, in the report process: the request (audit.py), then the events as the
    tracer hands them over, spooled and classified as they come (while the command runs);
    at the end the header, the JSON trace, the report, and an export if asked."""
    start = next(frames, None)
    if start is None or start[0] != "start":
        return EXIT_INTERNAL  # rotrace stopped before the run (the tracer's process says why)
    pickled, cwd, json_path, tracer_pid, fd = start[1]
    request, baseline = pickle.loads(pickled)
    assert isinstance(request, AuditRequest)
    output = TraceOutput.inherited(json_path, tracer_pid, fd)
    prepare(request.view)
    environment = run_environment()
    with Spool() as spool:
        first = _FirstPass(Classifier(request.allowlist, journal=True), cwd, environment, baseline, output)
        with live_status(spool, request.view):
            outcome = None
            for frame in frames:
                if frame[0] == "events":
                    spool.extend(frame[1])
                    first.add(frame[1])
                elif frame[0] == "processes":
                    first.classifier.know(ProcessInfo(*p) for p in frame[1])
                else:
                    outcome = frame
        if outcome is None:
            first.close()
            return EXIT_INTERNAL  # the trace failed: the tracer's process says why
        result, writable = parse_result(outcome[1]), outcome[2]
        first.classifier.know(result.processes)
        argv = request.argv
        if request.attach is not None and result.processes:
            argv = list(result.processes[0].cmdline) or [f"pid {request.attach}"]
        header = TraceHeader(
            command=argv,
            cwd=cwd,
            exit_code=result.exit_code,
            signal=signal_name(result.signal),
            allowlist=request.allowlist.entries,
            seccomp=result.seccomp,
            all_opens=request.options.all_opens,
            warnings=result.warnings + ([spool.warning] if spool.warning else []),
            read_only=request.read_only,
            sandbox_writable=writable,
            processes=result.processes,
            directories=result.directories,
            environment=environment,
            enforced=result.landlock_abi,
        )
        verdicts: _Classified | _Kept
        if first.classifier.holds():  # what the end of the run answers: the first pass stands
            verdicts, summary, planner, changes = first.finish(header)
        else:  # a venv made, or a program run, after events it decides were classified
            first.close()
            verdicts = _Classified(spool, first.classifier.settled())
            planner = MountPlanner(header.cwd, header.directories)
            changes = Changes(header.cwd, header.environment)
            consumers = (planner.learn, changes.add) if baseline else (planner.learn,)
            summary = classify_into(verdicts, header, output, *consumers)
        aggregate, plan = _group(verdicts, planner, request.view.verbose)
        status = verdict_status(header, summary)
        present(header, aggregate, plan, request.view, status)
        if request.emit:
            reads = _read_roots(verdicts) if request.emit == "apparmor" and header.all_opens else None
            status |= _emit(header, plan, request.emit, reads=reads)
        verdicts.close()
    if baseline is not None:
        status |= _diff(baseline, changes, View(quiet=request.view.quiet), err=True)
    output.close()
    if request.command_status and header.command_failed:
        return header.exit_code  # the command's own status, as a shell would report it
    return status


class _FirstPass:
    """The first pass over a run's events, made as the tracer hands them over: each event
    classified, counted, learnt by the mount planner (and the diff), spooled as a verdict and
    rendered for the JSON trace, all while the command runs. Whether it stands is known only
    at the end (Classifier.holds): else the pass is made again from the event spool."""

    def __init__(
        self, classifier: Classifier, cwd: str, environment: dict[str, str], baseline: Changes | None,
        output: TraceOutput,
    ) -> None:  # fmt: skip
        self.classifier = classifier
        self.planner = MountPlanner(cwd)
        self.changes = Changes(cwd, environment)
        self._tally = _Tally(self.planner.learn, self.changes.add) if baseline else _Tally(self.planner.learn)
        self._kept = _Kept()
        self._output = output
        self._rendered: RenderedEvents | None = None
        if output.fp is not None:
            scratch = anonymous_file(buffered=True)
            if isinstance(scratch, io.BytesIO):  # nowhere on disk: render at the end, not in memory
                scratch.close()
            else:
                self._rendered = RenderedEvents(scratch)

    def add(self, records: Iterable[tuple[Any, ...]]) -> None:
        classifier, tally, kept = self.classifier, self._tally, self._kept
        for record in records:
            event = FileEvent(*record)
            classifier.learn(event)
            verdict = classifier.classify(event)
            tally.add(verdict)
            kept.add(verdict)
            if self._rendered is not None:
                try:
                    self._rendered.add(verdict)
                except OSError:  # no room for the scratch copy: the trace is written at the end
                    self._rendered.close()
                    self._rendered = None

    def finish(self, header: TraceHeader) -> tuple[_Kept, Summary, MountPlanner, Changes]:
        """The pass stands: write the JSON trace (the header now known), hand over the rest."""
        self.planner.know_directories(header.directories)
        verdicts = self._kept
        output = self._output
        if self._rendered is not None:
            try:
                self._rendered.flush()
            except OSError:  # the scratch copy is incomplete: the trace is written from the verdicts
                self._rendered.close()
                self._rendered = None
        if output.fp is not None:
            try:
                writer = TraceWriter(output.fp, header)
                if self._rendered is not None:
                    writer.extend(self._rendered)
                else:
                    for verdict in verdicts:
                        writer.add(verdict)
                writer.close(self._tally.summary, self._tally.explanations)
            except OSError as exc:
                output.failed(exc)
        if self._rendered is not None:
            self._rendered.close()
        return verdicts, self._tally.summary, self.planner, self.changes

    def close(self) -> None:
        self._kept.close()
        if self._rendered is not None:
            self._rendered.close()


class _Kept:
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


class _Classified:
    """The spool's events classified once, as the first pass reads them; the verdicts are
    kept in turn for the passes after it (the report reads twice; an export a third time)."""

    def __init__(self, spool: Spool, classifier: Classifier) -> None:
        self._spool = spool
        self._classifier = classifier
        self._kept: _Kept | None = None

    def __iter__(self) -> Iterator[Verdict]:
        if self._kept is not None:
            return iter(self._kept)
        return self._first()

    def _first(self) -> Iterator[Verdict]:
        kept = _Kept()
        for event in self._spool:
            verdict = self._classifier.classify(event)
            kept.add(verdict)
            yield verdict
        self._spool.close()  # the events are in the verdicts now
        self._kept = kept

    def close(self) -> None:
        if self._kept is not None:
            self._kept.close()


class _Reclassified:
    """A saved trace's verdicts under another allowlist, as often as they are iterated."""

    def __init__(self, verdicts: Iterable[Verdict], classifier: Classifier) -> None:
        self._verdicts = verdicts
        self._classifier = classifier

    def __iter__(self) -> Iterator[Verdict]:
        return (self._classifier.classify(v.event, v.venv, known_venv=True) for v in self._verdicts)


def check(trace: str, allowlist: Allowlist, json_path: str | None, view: View) -> int:
    """`rotrace check`: a saved trace classified again under another allowlist."""
    header, verdicts = read_trace(trace)
    output = TraceOutput(json_path)
    header.allowlist = allowlist.entries
    reclassified = _Reclassified(verdicts, Classifier(allowlist, header.processes))
    planner = MountPlanner(header.cwd, header.directories)
    summary = classify_into(reclassified, header, output, planner.learn)
    aggregate, plan = _group(reclassified, planner, view.verbose)
    status = verdict_status(header, summary)
    present(header, aggregate, plan, view, status)
    output.close()
    return status


def report(trace: str, view: View) -> int:
    """`rotrace report`: a saved trace rendered again."""
    header, verdicts = read_trace(trace)
    planner = MountPlanner(header.cwd, header.directories)
    for verdict in verdicts:
        planner.learn(verdict)
    aggregate, plan = _group(verdicts, planner, view.verbose)
    status = verdict_status(header, aggregate.summary)
    present(header, aggregate, plan, view, status)
    return status


def allowlist(trace: str, fmt: str, container: str) -> int:
    """`rotrace allowlist`: the mount plan of a saved trace, in one consumer's format."""
    header, verdicts = read_trace(trace)
    plan = plan_mounts(verdicts, header.cwd, header.directories)
    reads = _read_roots(verdicts) if fmt == "apparmor" and header.all_opens else None
    return _emit(header, plan, fmt, container, reads)


def _read_roots(verdicts: Iterable[Verdict], depth: int = 3) -> tuple[str, ...]:
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


def diff(old: str, new: str, view: View) -> int:
    """`rotrace diff`: writes that appeared or disappeared between two saved traces."""
    return _diff(load_changes(old), load_changes(new), view, err=False)


def load_changes(path: str) -> Changes:
    header, verdicts = read_trace(path)
    return changes_of(header.cwd, verdicts, header.environment)


def _emit(
    header: TraceHeader,
    plan: MountPlan,
    fmt: str,
    container: str = "app",
    reads: tuple[str, ...] | None = None,
) -> int:
    from rotrace.export.formats import RENDERERS, Target

    programs = tuple(os.fsdecode(p.exe) for p in header.processes if p.exe)
    rendered = RENDERERS[fmt](plan, Target(header.command, container, programs, reads))
    sys.stdout.write(rendered.text)
    sys.stdout.flush()
    for note in rendered.notes:
        print(f"rotrace: {note}", file=sys.stderr)
    return EXIT_VIOLATIONS if plan.blocked or rendered.incomplete else EXIT_OK


def _diff(old: Changes, new: Changes, view: View, err: bool) -> int:
    result = diff_traces(old, new)
    present_diff(result, view, err)
    return EXIT_VIOLATIONS if result.new_violations else EXIT_OK
