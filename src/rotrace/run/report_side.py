"""`rotrace run`, the report process's side: the messages from the tracer (tracer/channel.py)
into the pipeline (pipeline.py). The events are spooled and classified as they come, while the
command runs; at the end the header is known, and the JSON trace, the report and an export
follow."""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

from rotrace.environment import run_environment
from rotrace.errors import EXIT_INTERNAL
from rotrace.escape import safe_text
from rotrace.events import FileEvent, ProcessInfo
from rotrace.explain import offline_writers
from rotrace.explain.settings import RUN_SETTINGS
from rotrace.output import TraceOutput, blocking_std
from rotrace.pipeline import Classified, Kept, Pipeline, classifier, compare, ended
from rotrace.policy.verdict import Classifier
from rotrace.record import TraceHeader, signal_name
from rotrace.redact import Redactor, secrets_in
from rotrace.report.present import LIVE_EVERY, live_status, prepare
from rotrace.report.view import View
from rotrace.run.handoff import Inbox
from rotrace.run.request import RunStart
from rotrace.spool import Spool, anonymous_file
from rotrace.tracefile import RenderedEvents
from rotrace.tracer.channel import Checkpoint, Events, Processes, Result, Start
from rotrace.tracer.linux import procfs

_LEFT_TO_EXIT: list[object] = []


def _attached_environment(pid: int, env: dict[str, str] | None) -> dict[str, str] | None:
    """What the trace records of the process `run -p` attached to (its environment decided its
    writes, not rotrace's): its environment as it started (`env`), its real uid and gid; None
    where /proc does not show them."""
    ids = procfs.status_fields(pid, b"Uid", b"Gid")
    if env is None or len(ids) < 2:
        return None
    return run_environment(env, RUN_SETTINGS, (int(ids[b"Uid"]), int(ids[b"Gid"])))


def conclude(messages: Inbox) -> int:
    """The run's report, from the tracer's messages: rotrace's exit status."""
    first_message = next(messages, None)
    if not isinstance(first_message, Start):
        return EXIT_INTERNAL  # rotrace stopped before the run (the tracer's process says why)
    start = RunStart.of(first_message)
    request = start.request
    output = TraceOutput.inherited(request.json_path, start.tracer_pid, start.json_file)
    prepare(request.view)
    # attached: the process's own environment (as it started) holds the secrets its command
    # line and its children's may show, as rotrace's holds a command's it starts
    attached_env = None if request.attach is None else procfs.environ(request.attach)
    attached = None if request.attach is None else _attached_environment(request.attach, attached_env)
    secrets = secrets_in(os.environ) | secrets_in(attached_env or {})
    environment = attached if attached is not None else run_environment(also=RUN_SETTINGS)
    diff_environment = environment if start.baseline is not None else None
    with Spool() as spool:
        enforced = request.options.writable is not None
        first = FirstPass(
            classifier(
                request.allowlist,
                journal=True,
                enforced=enforced,
                since=start.since,
                home=environment.get("HOME"),
                environment=environment,
                read_only=request.read_only,
            ),
            start.cwd,
            environment,
            diff_environment,
            output,
            request.view,
            request.persistent,
            dict(request.labels).get("pod", ""),
        )
        links = LinkContents(secrets)
        checkpoints = Checkpoints(start, environment, links, first, output, spool)
        if request.checkpoint is not None:
            checkpoints.write()  # a trace from the start: a kill at any time leaves one
        with live_status(spool, request.view) as redraw:
            if redraw is not None:
                messages.every(LIVE_EVERY, redraw)
            outcome: Result | None = None
            for message in messages:
                if isinstance(message, Events):
                    records = links.masked(message.records)
                    spool.extend(records)
                    first.add(records)
                elif isinstance(message, Processes):
                    programs = [ProcessInfo(*p) for p in message.records]
                    links.know(programs)
                    first.classifier.know(programs)
                    first.know(programs)
                    checkpoints.processes += programs
                elif isinstance(message, Result):
                    outcome = message
                elif isinstance(message, Checkpoint) and outcome is None:
                    checkpoints.write()
        if outcome is None:
            first.close()
            return EXIT_INTERNAL  # the trace failed: the tracer's process says why
        result = outcome.result
        first.classifier.know(result.processes)
        links.know(result.processes)
        argv = request.argv
        if request.attach is not None and result.processes:
            argv = list(result.processes[0].cmdline) or [f"pid {request.attach}"]
        header = TraceHeader(
            command=argv,
            cwd=start.cwd,
            exit_code=result.exit_code,
            signal=signal_name(result.signal),
            allowlist=request.allowlist.entries,
            seccomp=result.seccomp,
            all_opens=request.options.all_opens,
            warnings=result.warnings + ([spool.warning] if spool.warning else []),
            read_only=request.read_only,
            sandbox_writable=outcome.writable,
            processes=result.processes,
            directories=result.directories,
            environment=environment,
            enforced=result.landlock_abi,
            labels=dict(request.labels),
            secrets=links.secrets,
            let_go=result.let_go,
            stopped=signal_name(result.stopped_by),
            remounted=list(result.remounted),
        )
        if output.replacing:  # a checkpoint is there: the final trace replaces it whole too
            try:
                output.stage()
            except OSError as exc:
                output.failed(exc)
        verdicts: Classified | Kept
        if (
            first.classifier.holds() and not links.stale
        ):  # what the end of the run answers: the first pass stands
            verdicts, pipeline = first.finish(header)
        else:  # a venv made, or a program run, after events it decides were classified (or a link's
            first.close()  # content a secret shown later is in)
            verdicts = Classified(spool, first.classifier.settled(), links.event)
            pipeline = Pipeline.of(header, diff_environment=diff_environment, allowlist=request.allowlist)
            pipeline.planner.know_persistent(first.persistent)  # as the first pass knew them
            pipeline.tally(verdicts, header, output)
        blocking_std()  # (the command may have left them non-blocking)
        status = pipeline.conclude(header, verdicts, request.view, request.emit)
        # The verdicts, the grouping and the plan are left to the kernel: this process exits once
        # its report is written (run/handoff.py), and freeing them one by one takes milliseconds.
        _LEFT_TO_EXIT.append((first, verdicts, pipeline))
    if start.baseline is not None:
        assert pipeline.changes is not None
        ended(pipeline.changes, header)
        status |= compare(start.baseline, pipeline.changes, View(quiet=request.view.quiet), err=True)
    output.close()
    if request.command_status:  # the command's own status, as a shell would report it, whatever the verdict
        return header.exit_code
    return status


class Checkpoints:
    """`run --checkpoint` and SIGUSR1: the trace so far, with what the first pass has made of the
    events so far, replacing the last one whole (TraceOutput.stage). Its header says when it was
    written and has no exit status (TraceHeader.checkpoint)."""

    def __init__(
        self,
        start: RunStart,
        environment: dict[str, str],
        links: LinkContents,
        first: FirstPass,
        output: TraceOutput,
        spool: Spool,
    ) -> None:
        self._start = start
        self._environment = environment
        self._links = links  # the secrets known so far
        self._first = first
        self._output = output
        self._spool = spool
        self.processes: list[ProcessInfo] = []
        self._said: set[str] = set()

    def write(self) -> None:
        output = self._output
        if output.error is not None:  # the command moved or removed the trace: the end says so
            return
        if not output.replaceable:
            self._say("no checkpoint written: it needs --json FILE (a regular file, which it replaces)")
            return
        request = self._start.request
        header = TraceHeader(
            command=request.argv if request.attach is None else [f"pid {request.attach}"],
            cwd=self._start.cwd,
            exit_code=0,
            allowlist=request.allowlist.entries,
            seccomp=request.options.seccomp,
            all_opens=request.options.all_opens,
            warnings=[self._spool.warning] if self._spool.warning else [],
            read_only=request.read_only,
            processes=list(self.processes),
            environment=self._environment,
            labels=dict(request.labels),
            secrets=self._links.secrets,
            checkpoint=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        try:
            fp = output.stage()
            if fp is None:  # the command moved or removed the trace: said at the end
                return
            self._first.write_checkpoint(fp, header)
            output.commit()
        except OSError as exc:
            output.discard()
            self._say(f"a checkpoint could not be written to {output.shown}: {exc.strerror or exc}")

    def _say(self, line: str) -> None:
        if line not in self._said:  # once: a checkpoint every few seconds would repeat it
            self._said.add(line)
            print(safe_text(f"rotrace: warning: {line}"), file=sys.stderr)


_OP, _TARGET = FileEvent._fields.index("op"), FileEvent._fields.index("target")


class LinkContents:
    """A symbolic link's content is what the command gave, no place: a secret in it (`ln -s
    https://ci:TOKEN@git.example.com/repo.git origin`) is masked as in a command line
    (redact.py), by its form and by the secrets the environment and the run's command lines
    show (`deploy --password X` running `ln -s X link`: each program comes before its events).
    Masked as the events arrive, before they are spooled or classified: every pass that writes
    them has them masked. A secret a later command line shows (`ln -s /opt/$S current`, then
    `tool --password=$S`) makes the links before it `stale`: the run's end reads them again
    (`event`), masked with every secret the run showed."""

    def __init__(self, secrets: frozenset[str]) -> None:
        self._known: set[str] = set(secrets)  # (the environments': redact.secrets_in)
        self._redactor = Redactor(self._known)
        self._links = False  # a link's content was masked with the secrets known then
        self.stale = False  # and a secret became known after it

    @property
    def secrets(self) -> frozenset[str]:
        """Every secret known so far: the environment's, and those the programs' command lines
        and environments showed (a trace's header masks its command lines with them)."""
        return frozenset(self._known)

    def know(self, processes: Iterable[ProcessInfo]) -> None:
        found: set[str] = set()
        for p in processes:
            found |= self._redactor.found(p.cmdline)
            if p.environment:  # what a program was handed: `export TOKEN=...` in a script
                found |= secrets_in(dict(entry.partition("=")[::2] for entry in p.environment))
        if not found <= self._known:
            self._known |= found
            self._redactor = Redactor(self._known)
            self.stale = self.stale or self._links

    def event(self, e: FileEvent) -> FileEvent:
        if e.op == "symlink" and e.target:
            return e._replace(target=os.fsencode(self._redactor.text(os.fsdecode(e.target))))
        return e

    def masked(self, records: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        for i, record in enumerate(records):
            if record[_OP] == "symlink" and record[_TARGET]:
                self._links = True
                text = os.fsdecode(record[_TARGET])
                masked = self._redactor.text(text)
                if masked != text:
                    records[i] = (*record[:_TARGET], os.fsencode(masked), *record[_TARGET + 1 :])
        return records


class FirstPass:
    """The first pass over a run's events, made as the tracer hands them over: each event
    classified, added to the pipeline (which places and groups it for the report, the second
    pass: Pipeline.place_early), kept as a verdict and rendered for the JSON trace, all while
    the command runs. Whether it stands is known only at the end (Classifier.holds): else the
    pass is made again from the event spool."""

    def __init__(
        self,
        classifier: Classifier,
        cwd: str,
        environment: dict[str, str],
        diff_environment: dict[str, str] | None,
        output: TraceOutput,
        view: View,
        persistent: tuple[str, ...] = (),
        pod: str = "",
    ) -> None:
        """`pod`: the run's `pod` label (`kube record`), which a diff against a baseline compares
        as `$POD` in the names of its writes."""
        self.classifier = classifier
        enforced = classifier.enforced
        self.pipeline = Pipeline(cwd, diff_environment=diff_environment, diff_pods=[pod],
                                 allowlist=classifier.allowlist, enforced=enforced)  # fmt: skip
        self.pipeline.planner.know_environment(environment)
        self.pipeline.planner.know_offline(offline_writers(environment, ()))
        self.persistent = [p for p in persistent if classifier.allowlist.allows_plainly(os.fsencode(p))]
        self.pipeline.planner.know_persistent(self.persistent)  # the policy's, that it allows
        self.pipeline.place_early(keep_all=view.verbose, enforced=enforced)
        self._kept = Kept()
        self._output = output
        self._rendered: RenderedEvents | None = None
        if output.fp is not None:
            scratch = anonymous_file(buffered=True)
            if isinstance(scratch, io.BytesIO):  # nowhere on disk: render at the end, not in memory
                scratch.close()
            else:
                self._rendered = RenderedEvents(scratch)

    def know(self, processes: Iterable[ProcessInfo]) -> None:
        """Processes as they start: a known writer run offline (`uv ... --offline`) is known
        before its writes are placed (the placements made while the command runs stand)."""
        planner = self.pipeline.planner
        planner.know_offline(planner.offline | offline_writers({}, processes))

    def add(self, records: Iterable[tuple[Any, ...]]) -> None:
        classifier, add, kept = self.classifier, self.pipeline.add, self._kept
        for record in records:
            event = FileEvent(*record)
            classifier.learn(event)
            verdict = classifier.classify(event)
            add(verdict)
            kept.add(verdict)
            if self._rendered is not None:
                try:
                    self._rendered.add(verdict)
                except OSError:  # no room for the scratch copy: the trace is written at the end
                    self._rendered.close()
                    self._rendered = None

    def finish(self, header: TraceHeader) -> tuple[Kept, Pipeline]:
        """The pass stands: write the JSON trace (the header now known), hand over the rest."""
        self.pipeline.planner.know_directories(header.directories)
        if self._rendered is not None:
            try:
                self._rendered.flush()
            except OSError:  # the scratch copy is incomplete: the trace is written from the verdicts
                self._rendered.close()
                self._rendered = None
        self.pipeline.write_trace(self._output, header, self._kept, self._rendered)
        if self._rendered is not None:
            self._rendered.close()
        return self._kept, self.pipeline

    def write_checkpoint(self, fp: IO[str], header: TraceHeader) -> None:
        """The trace so far (header.checkpoint set) from what this pass has made of the events."""
        if self._rendered is not None:
            try:
                self._rendered.flush()
            except OSError:  # no room for the scratch copy: from the verdicts, as at the end
                self._rendered.close()
                self._rendered = None
        self.pipeline.write_checkpoint(fp, header, self._kept, self._rendered)

    def close(self) -> None:
        self._kept.close()
        if self._rendered is not None:
            self._rendered.close()
