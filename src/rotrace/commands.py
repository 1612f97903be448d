"""The use cases over saved traces: `report`, `check`, `allowlist`, `diff`. Each reads its
trace(s), runs the pipeline (pipeline.py) and returns rotrace's exit status; what it prints
goes through report/ (stderr) and export/ (stdout)."""

from __future__ import annotations

import os
import shlex
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rotrace.errors import BadInput, BadOption
from rotrace.escape import safe_text
from rotrace.explain.known import sets
from rotrace.gate_inputs import BASELINE_ADVICE, POLICY_ADVICE, TRACE_ADVICE, Input, InputGuard, InputSet
from rotrace.output import TraceOutput
from rotrace.pathnames import is_under, normal, program_name
from rotrace.pipeline import (
    Pipeline,
    Rechecked,
    Reclassified,
    compare,
    export,
    load_changes,
    saved_classifier,
    verdict_status,
)
from rotrace.policy import policyfile
from rotrace.policy.allowlist import Allowlist, Policy, build_allowlist, expand, load_policy, policy_entry
from rotrace.policy.policyfile import find_policy
from rotrace.policy.verdict import Verdict
from rotrace.record import TraceHeader, checkpoint_note
from rotrace.report.present import present
from rotrace.report.quiet import counted
from rotrace.report.view import View
from rotrace.tracefile import Verdicts, read_trace, trace_files, trace_sets


def _read(trace: str) -> tuple[TraceHeader, Verdicts]:
    """A saved trace; a checkpoint (`run --checkpoint`) is said to be one, never a finished run."""
    header, verdicts = read_trace(trace)
    if header.checkpoint is not None and not header.sources:  # a merge says it of its runs
        print(safe_text(f"rotrace: {checkpoint_note(trace, header.checkpoint)}"), file=sys.stderr)
    return header, verdicts


def _read_checked(trace: str) -> tuple[TraceHeader, Rechecked]:
    """`_read`, each verdict as the trace's own allowlist gives it (pipeline.Rechecked)."""
    header, verdicts = _read(trace)
    return header, Rechecked(verdicts, saved_classifier(header, Allowlist(header.allowlist)))


def report(trace: str, view: View) -> int:
    """`rotrace report`: a saved trace rendered again."""
    header, verdicts = _read_checked(trace)
    pipeline = Pipeline.of(header, allowlist=Allowlist(header.allowlist))
    for verdict in verdicts:
        pipeline.add(verdict)
    return pipeline.conclude(header, verdicts, view)


def check(
    traces: list[str],
    allow: list[str],
    policy: str | None,
    json_path: str | None,
    view: View,
    update: bool = False,
) -> int:
    """`rotrace check`: saved traces classified again under another allowlist. Relative
    entries (a policy file's, --allow's) mean the project directory each trace was taken in
    (its working directory), never this process's: the same policy gives the same verdicts on
    a CI runner, a laptop and in the image. With neither --policy nor --allow, the policy found
    from this directory upward (policyfile.find_policy). With a policy file: what each run
    wrote outside it (exit 1), and the rules no run used; `update` first widens the file with
    the directories the runs need, then checks."""
    named = traces
    traces = trace_files(traces)
    sets = [InputSet(arg, pattern, "the traces", TRACE_ADVICE) for arg, pattern in trace_sets(named)]
    if len(traces) > 1 and (json_path or view.json):  # a directory or a glob names several
        option = "--json" if json_path else "--format json"
        raise BadOption(f"{option} takes one trace: {safe_text(' '.join(named))} names {len(traces)}")
    if json_path and json_path != "-" and _same_file(json_path, traces[0]):
        # opened for writing, it would be emptied before its events are read: both lost
        raise BadOption(f"--json {json_path} is the trace it re-classifies: write it to another file")
    if policy is None and not allow:
        policy = find_policy(os.getcwd())
        if policy is not None and not view.quiet:  # -q: the verdicts alone
            print(safe_text(f"rotrace: policy {policy} (found from this directory upward)"), file=sys.stderr)
    if update:
        if policy is None:
            raise BadOption(
                "--update needs a policy file: --policy FILE, or a rotrace.toml (or a pyproject.toml"
                " with a [tool.rotrace] table) in this directory or above"
            )
        wanted: list[str] = []
        keep: list[str] = []
        before = load_policy(policy)
        for trace in traces:
            checked = _checked(trace, allow, before, None, None, _guard(policy, traces, sets, trace))
            wanted += checked.wanted
            keep += checked.keep
        changed = policyfile.update(policy, wanted, keep)
        if changed.added:
            sys.stdout.write(changed.diff(os.path.basename(policy)))
            sys.stdout.flush()
            print(
                safe_text(f"rotrace: policy {policy}: {_entries(len(changed.added))} added"), file=sys.stderr
            )
        else:
            print(safe_text(f"rotrace: policy {policy}: nothing to add"), file=sys.stderr)
    status = 0
    breaches: list[policyfile.Breach] = []
    used: set[str] = set()
    avoided: Counter[str] = Counter()
    wanted_now: list[str] = []
    loaded = load_policy(policy) if policy is not None else None  # once, as it is after any update
    for trace in traces:
        if len(traces) > 1 and not view.json:
            print(safe_text(f"rotrace: {trace}"), file=sys.stderr)
        result = _checked(trace, allow, loaded, json_path, view, _guard(policy, traces, sets, trace))
        status |= result.status
        breaches += result.breaches
        used |= result.used
        avoided += result.avoided
        wanted_now += result.wanted
    if policy is not None and loaded is not None:
        addable = not update and _addable(loaded, wanted_now)
        unused = [e for e in loaded.allow if e not in used]
        _conclude_policy(policy, breaches, unused, view, avoided, addable)
    return status


def _guard(policy: str | None, traces: list[str], sets: list[InputSet], trace: str) -> InputGuard:
    """What `check` reads that `trace`'s command must not have written: the policy, and the
    other runs' traces (a later run's command could rewrite an earlier run's, or remove it from
    a directory of them)."""
    inputs = [Input(policy, "the policy file", POLICY_ADVICE)] if policy is not None else []
    inputs += [Input(other, "the trace", TRACE_ADVICE) for other in traces if other != trace]
    return InputGuard(inputs, sets, own=trace)


def _same_file(a: str, b: str) -> bool:
    """Whether two names are one file (a hard link, a symbolic link, another spelling)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one of them is not there (yet): not the same
        return False


@dataclass
class _Checked:
    """One trace under the policy: rotrace's status for it, the places written outside the
    policy, the policy entries some write used, the entries that would allow what it lacks."""

    status: int = 0
    breaches: list[policyfile.Breach] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    wanted: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)  # of `wanted`, those whose data must survive a restart
    # writes outside the policy that its own [env] settings avoid (the trace was made without
    # them): setting -> writes, said apart, not places to allow
    avoided: Counter[str] = field(default_factory=Counter)


def _checked(trace: str, allow: list[str], loaded: Policy | None, json_path: str | None,
             view: View | None, guard: InputGuard) -> _Checked:  # fmt: skip
    """Classify one trace again; present it unless `view` is None (the pass before an update).
    `guard`: the files the check reads that the trace's command must not have written."""
    header, verdicts = _read(trace) if view is not None else read_trace(trace)
    guard.check_run(header.remounted, trace)
    project = header.cwd or None
    home = header.environment.get("HOME") or None  # the traced run's: `~/` is that user's home
    entries = [*allow, *(loaded.allow if loaded is not None else ())]
    in_home = any(a.removeprefix("=") == "~" or a.removeprefix("=").startswith("~/") for a in entries)
    homes = sorted({s.environment.get("HOME", "") for s in header.sources})
    if in_home and home is None and len(homes) > 1:  # a merge of runs in several homes
        raise BadInput(
            f"{trace}: its runs had different homes ({', '.join(homes)}), so ~ names none of them: check"
            " each run's trace, or write the directories"
        )
    allowlist = build_allowlist(allow, loaded, project=project, home=home)
    relative = any(not a.removeprefix("=").startswith(("/", "~")) for a in allow)
    relative = relative or (loaded is not None and loaded.relative)
    if relative and view is not None and not view.quiet:
        where = (
            f"the traced project directory {project}" if project else "this directory (the trace has none)"
        )
        print(safe_text(f"rotrace: relative entries are read against {where}"), file=sys.stderr)
    if in_home and view is not None and not view.quiet:
        mine = os.path.expanduser("~")
        if home is None:
            print(safe_text(f"rotrace: ~ is read as this user's home {mine} (the trace records no HOME)"),
                  file=sys.stderr)  # fmt: skip
        elif home != mine:
            print(safe_text(f"rotrace: ~ is read as the traced run's home {home}"), file=sys.stderr)
    output = TraceOutput(json_path)
    header.allowlist = allowlist.entries
    reclassified = Reclassified(verdicts, saved_classifier(header, allowlist))
    for v in reclassified:  # before any verdict is shown: a policy the command wrote gates nothing
        guard.check(v.event, trace, bool(header.sources))
    pipeline = Pipeline.of(header, allowlist=allowlist)
    if loaded is not None:
        pipeline.planner.know_persistent(
            p for p in loaded.places(project, home) if allowlist.allows_plainly(os.fsencode(p))
        )
    pipeline.tally(reclassified, header, output)
    pipeline.know_run(header)
    aggregate, plan = pipeline.group(reclassified, view is not None and view.verbose)
    result = _Checked(verdict_status(header, pipeline.summary))
    if view is not None:
        present(header, aggregate, plan, view, result.status)
    output.close()
    if loaded is None:
        return result
    rules = {entry: Allowlist([expand(entry, project or loaded.home, home)]) for entry in loaded.allow}
    # (program, path, the write's number) of each name of a write the policy does not allow: a
    # rename's two names are one write
    outside: list[tuple[str, str, int]] = []
    labels = header.script_names()  # `black`, not `python3.11`, as the report names it
    policy_env = loaded.settings(project)  # (`./dist`: the traced project's)
    moved = _moved_by(policy_env, header.environment)
    ways = _ways_to(reclassified, policy_env, header.environment)
    for n, v in enumerate(reclassified):
        e = v.event
        if not e.write:
            continue
        for entry, rule in rules.items():
            if entry not in result.used and any(
                rule.allows_from(p, e.pid, e.tid) for p in (e.path, e.target) if p
            ):
                result.used.add(entry)
        if v.violation:
            known = v.explanation
            settings = known.env if known is not None else ()
            had = all(header.environment.get(name) == value for name, value in settings)
            if settings and not had and all(policy_env.get(name) == value for name, value in settings):
                # the trace was made without the setting (made with it, the write is the policy's
                # breach: the setting did not reach its writer, tox's tests)
                result.avoided[", ".join(f"{name}={value}" for name, value in settings)] += 1
                continue
            setting = known.avoided(policy_env, header.environment) if known is not None else None
            setting = setting or next((s for top, s in moved if is_under(os.fsdecode(e.path), top)), None)
            if setting is None and e.op == "mkdir":  # a directory made on the way to a place it moves
                setting = ways.get(os.fsdecode(e.path))
            if setting is not None:
                result.avoided[setting] += 1
                continue
            denied = [p for p in (e.path, e.target) if p and not allowlist.allows_from(p, e.pid, e.tid)]
            program = program_name(e.exe) or "?"
            program = labels.get((program, e.pid), program)
            outside += [(program, os.fsdecode(p), n) for p in denied or [e.path]]
    # The directories a policy may allow: the mounts, and those that held files before the run,
    # kept (persistent: the read-only sandbox and a volume start with what they hold, where an
    # empty mount would hide it); never a venv, a system directory or above the application
    held = [b.point for b in plan.blocked if b.kind == "held"]
    places_to_allow = [*plan.mounts, *plan.persistent, *held]
    runs = (header.environment, *(s.environment for s in header.sources))
    traced_homes = tuple({home for env in runs if (home := env.get("HOME"))})
    mounts = []
    for m in places_to_allow:
        under = [p for _, p, _ in outside if is_under(p, m)]
        if not policyfile.never_granted(m, traced_homes):
            mounts += [m] if under else []
            continue
        for p in under:  # a place never granted (/run): the directory of its own below it (/run/myapp)
            first, _, rest = p[len(m.rstrip("/")) + 1 :].partition("/")
            own = f"{m.rstrip('/')}/{first}"
            if rest and not policyfile.never_granted(own, traced_homes):
                mounts.append(own)
    mounts = list(dict.fromkeys(mounts))
    result.wanted = [policyfile.project_entry(m, project) for m in mounts]
    result.keep = [policyfile.project_entry(m, project) for m in mounts if m in plan.persistent or m in held]
    places: dict[tuple[str, str], dict[int, str]] = {}  # -> each write's first name there
    for program, path, n in outside:
        fix = max((m for m in mounts if is_under(path, m)), key=len, default=os.path.dirname(path) or path)
        places.setdefault((program, fix), {}).setdefault(n, path)
    command = shlex.join(header.command)
    command = command if len(command) <= 60 else command[:59] + "…"
    for (program, directory), writes in sorted(places.items()):
        first = next(iter(writes.values()))
        result.breaches.append(policyfile.Breach(trace, command, program, directory, first, len(writes)))
    return result


def _addable(loaded: Policy, wanted: list[str]) -> bool:
    """Whether `check --update` would add an entry the policy lacks."""
    present = set(loaded.allow)
    return any(policy_entry(e)[1] not in present for e in wanted)


def _ways_to(verdicts: Iterable[Verdict], policy: dict[str, str], run: dict[str, str]) -> dict[str, str]:
    """The directories above each write a known writer's setting moves (the policy sets it, the
    run had it not): a makedirs on its way (~/.local, ~/.local/share for Jupyter's data
    directory) is moved with it (as the plan has it, MountPlanner._explained_by_way): each
    directory -> "NAME=the policy's"."""
    ways: dict[str, str] = {}
    for v in verdicts:
        known = v.explanation
        if not v.violation or known is None or not known.env:
            continue
        if all(sets(policy, name, value) and not sets(run, name, value) for name, value in known.env):
            setting = ", ".join(f"{name}={value}" for name, value in known.env)
            path = os.fsdecode(v.event.path)
            while (up := os.path.dirname(path)) not in (path, "/"):
                ways.setdefault(up, setting)
                path = up
    return ways


def _moved_by(settings: dict[str, str], environment: dict[str, str]) -> list[tuple[str, str]]:
    """The places a path the policy sets moves (HOME=/home/app, the plan's, where the run had
    HOME=/root): each (the run's path, "NAME=the policy's"). A write under the run's path is
    one the policy's setting puts elsewhere: the trace was not made with it."""
    moved = []
    for name, value in settings.items():
        was = normal(environment.get(name) or ".")
        if value.startswith("/") and was.startswith("/") and was not in ("/", normal(value)):
            moved.append((was, f"{name}={value}"))
    return moved


def _conclude_policy(policy: str, breaches: list[policyfile.Breach], unused: list[str], view: View,
                     avoided: Counter[str] | None = None, addable: bool = False) -> None:  # fmt: skip
    """What the policy says of the runs: the writes outside it, those its own settings avoid
    (the traces made without them), and the rules none used. `addable`: `check --update` would
    widen it (else no allow entry covers the places: the plan says what does)."""
    for setting, writes in sorted((avoided or Counter()).items()):
        value = setting.partition("=")[2]
        does = "moves to a writable place" if value.startswith("/") else "avoids"  # a path, or an off switch
        print(
            safe_text(
                f"rotrace: policy {policy}: {counted(writes, 'write')} outside it that its [env] {setting}"
                f" {does}: the traces were made without it; trace the app with it set"
            ),
            file=sys.stderr,
        )
    shown = breaches if view.verbose else breaches[:20]
    for breach in shown:
        print(f"rotrace: {breach.describe()}", file=sys.stderr)
    if len(shown) < len(breaches):
        print(
            f"rotrace: ... and {len(breaches) - len(shown)} more places (-v lists them all)", file=sys.stderr
        )
    if breaches:
        advice = (
            "`rotrace check --update` widens it; never on traces from an untrusted change" if addable
            else "no allow entry can cover them where the policy is enforced, `run --enforce` or a read-only"
            " root (a directory the command makes in the application's own, a file written there): `rotrace"
            " allowlist TRACE` says why, and which setting avoids them"
        )  # fmt: skip
        print(
            safe_text(
                f"rotrace: policy {policy}: {counted(len(breaches), 'place')} written outside it ({advice})"
            ),
            file=sys.stderr,
        )
    if unused:
        names = ", ".join(safe_text(repr(u)) for u in unused)
        print(f"rotrace: note: rules no run used (the policy could narrow): {names}", file=sys.stderr)
    if view.github:
        from rotrace.report.github import publish_policy

        publish_policy(policy, breaches, unused, sys.stderr if view.stdout_taken else sys.stdout)


def allowlist(
    trace: str,
    fmt: str,
    container: str,
    maps: list[tuple[str, str]] | None = None,
    persistent: Sequence[str] = (),
) -> int:
    """`rotrace allowlist`: the mount plan of a saved trace, in one consumer's format, its
    paths as the machine it is for names them (`maps`: HOST -> IMAGE prefixes); `persistent`:
    places the user says keep data (--persistent)."""
    header, verdicts = _read_checked(trace)
    pipeline = Pipeline.of(header)
    pipeline.keep(persistent, header.cwd, maps or ())
    for verdict in verdicts:
        pipeline.add(verdict)
    return export(header, pipeline.mount_plan(verdicts, header), fmt, container, verdicts, maps or ())


def diff(old: str, new: str, view: View) -> int:
    """`rotrace diff`: writes that appeared or disappeared between two saved traces."""
    headers = [_read(trace)[0] for trace in (old, new)]  # a checkpoint says it is one (the events stream)
    baseline = load_changes(old)
    guard = InputGuard([Input(old, "the baseline", BASELINE_ADVICE)])  # read after NEW's command ran
    guard.check_run(headers[1].remounted, new)
    changes = load_changes(new, lambda e, merged: guard.check(e, new, merged))
    return compare(baseline, changes, view, err=False)


def _entries(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"
