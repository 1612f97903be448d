"""`rotrace kube harden`: the user's own manifest with the mount plan of a (merged) trace written
into it, and everything else untouched. The plan is the k8s export's (pipeline.render: the same
planner, volume names, escaping and notes as `rotrace allowlist --format k8s`); this module only
places it: `readOnlyRootFilesystem: true`, each volume and mount (an emptyDir, or a claim where
the data must survive a restart, with the claim as a document of its own), the settings in `env`,
and on each volume a comment saying which programs wrote there, how often and in how many runs.
Places no mount can fix are refused as `allowlist` refuses them: the fix on stderr, exit 1."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from rotrace.errors import EXIT_OK, EXIT_VIOLATIONS, BadInput
from rotrace.escape import safe_text
from rotrace.explain import Known
from rotrace.export.formats import seed_command, yaml11_typed, yaml_document
from rotrace.export.mapping import PathMap
from rotrace.kube.manifest import (
    Document,
    Manifest,
    Workload,
    append,
    chosen,
    containers,
    mapping,
    mount_path,
    read_only_mounts,
)
from rotrace.kube.record import is_recording, recording_names
from rotrace.pathnames import holder, is_under
from rotrace.pipeline import Pipeline, Rechecked, render, saved_classifier
from rotrace.policy.allowlist import Allowlist
from rotrace.policy.mounts import SEED_ADVICE, Placement, written_directory
from rotrace.policy.verdict import Verdict
from rotrace.record import TraceHeader
from rotrace.redact import redact_text
from rotrace.tracefile import read_trace


@dataclass
class Writers:
    """Who wrote below one mount: programs by writes, and the runs they were made in."""

    programs: Counter[str] = field(default_factory=Counter)
    runs: set[int] = field(default_factory=set)

    def describe(self, total_runs: int) -> str:
        names = [name for name, _ in self.programs.most_common()]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        writes = sum(self.programs.values())
        runs = len(self.runs) if self.runs else 1
        count = f"{writes} write{'s' if writes != 1 else ''} over the runs"
        of = f"{total_runs} run{'s' if total_runs > 1 else ''}"
        return safe_text(f"rotrace: written by {shown} ({count}) in {runs} of {of}")


@dataclass
class Hardened:
    text: str
    notes: list[str]
    status: int


class _Planned(NamedTuple):
    """The trace's plan as harden applies it, every path as the fragment names it."""

    fragment: dict[str, Any]  # the k8s fragment (as the export renders it)
    notes: list[str]
    blocked: dict[str, str]  # places no mount of the plan's can make writable, with their note
    incomplete: bool  # the fragment left something out
    writers: dict[str, Writers]  # the writers below each mount
    runs: int
    seeded: set[str]  # persistent mounts that must start with what their directory held
    written: set[str]  # directories written where the plan mounts
    unmet: list[str]  # places the command checked it may write (W_OK) that no mount can make writable
    # blocked places whose every write a known writer made that a setting avoids (UV_NO_SYNC)
    avoidable: dict[str, tuple[Known, ...]]
    crossings: list[str]  # renames between two mounts that fail (EXDEV) under the plan


def _writers(
    trace: str, maps: list[tuple[str, str]], container: str, persistent: Sequence[str] = ()
) -> _Planned:
    """The plan of `trace`, as harden applies it (`persistent`: --persistent's places)."""
    import yaml

    header, saved = read_trace(trace)
    verdicts = Rechecked(saved, saved_classifier(header, Allowlist(header.allowlist)))
    pipeline = Pipeline.of(header)
    pipeline.keep(persistent, header.cwd, maps)
    for verdict in verdicts:
        pipeline.add(verdict)
    points: dict[str, Writers] = {}
    names = header.script_names()  # a console script by its name, not its interpreter's
    written_at: set[tuple[str, str]] = set()  # (directory written, the placement's point)
    where = PathMap(maps)

    def placed(verdict: Verdict, placements: list[Placement]) -> None:
        e = verdict.event
        made_writable = [p.point for p in placements if p.reason is None]
        for raw in (e.path, e.target if e.op in ("rename", "link") else None):
            if raw is not None:
                directory = written_directory(e, raw)
                written_at.update((directory, point) for point in made_writable)
        for placement in placements:
            if placement.reason is None:
                writers = points.setdefault(placement.point, Writers())
                exe = os.fsdecode(verdict.event.exe)
                program = os.path.basename(exe) or exe
                program = names.get((program, verdict.event.pid), program)
                writers.programs[program] += verdict.count  # every time, in every run
                writers.runs.update(verdict.runs)

    plan = pipeline.mount_plan(verdicts, header, placed)
    # where the plan mounts: a write its setting moves or avoids lands elsewhere, or nowhere
    mounted = {*plan.mounts, *plan.persistent}
    written = {where(d) for d, point in written_at if any(is_under(point, m) for m in mounted)}
    rendered = render(header, plan, "k8s", container, verdicts, maps)
    fragment = _plain(yaml.safe_load(rendered.text))  # what goes into the manifest
    by_mount: dict[str, Writers] = {}
    for mount in [*plan.mounts, *plan.persistent]:
        mapped = where(mount)
        if mapped in by_mount:
            continue
        merged = Writers()
        for point, writers in points.items():
            if is_under(point, mount):
                merged.programs.update(writers.programs)
                merged.runs |= writers.runs
        by_mount[mapped] = merged
    blocked = {where(b.point): b.describe() for b in plan.blocked}
    avoidable = {
        where(b.point): tuple(b.explanations)
        for b in plan.blocked
        if b.explanations
        and all(k.avoided_by for k in b.explanations)
        and sum(b.explanations.values()) >= b.count
    }
    return _Planned(
        fragment,
        rendered.notes,
        blocked,
        rendered.incomplete,
        by_mount,
        header.runs,
        {where(p) for p in plan.seeded},
        written,
        [where(p) for p in plan.unmet],
        avoidable,
        [where.text(crossing) for crossing in plan.crossings],
    )


def _has(workload: Workload, names: tuple[str, ...]) -> bool:
    """The workload has a container of `names` (its initContainers too), or any with no names."""
    if not names:
        return bool(containers(workload.spec))
    listed = [*containers(workload.spec, "initContainers"), *containers(workload.spec)]
    return any(isinstance(c, dict) and c.get("name") in names for c in listed)


def _traced_workloads(
    manifest: Manifest, names: tuple[str, ...], header: TraceHeader, notes: list[str]
) -> Callable[[Workload], bool] | None:
    """Where several workloads of the manifest have the container, those the traces were
    recorded in: the workload whose name is the longest that each run's `pod` label (`kube
    record`'s) is, or starts with followed by `-` (a Deployment's Pod report-ui-7d9f-x2k4q,
    a CronJob's report-29001-abcde). None: every one (one only, or no Pod known)."""
    candidates = [w for _, w in manifest.workloads() if _has(w, names)]
    pods = {p for labels in (header.labels, *(s.labels for s in header.sources)) if (p := labels.get("pod"))}
    if len(candidates) < 2:
        return None
    picked: set[tuple[str, str]] = set()
    for pod in pods:
        fits = [w for w in candidates if pod == w.name or pod.startswith(f"{w.name}-")]
        if fits:
            best = max(fits, key=lambda w: len(w.name))
            picked.add((best.kind, best.name))
    if len(picked) > 1:
        raise BadInput(
            f"the traces were recorded in Pods of {', '.join(sorted(f'{k} {n}' for k, n in picked))}, which"
            " each have the container: their runs write for different workloads; merge and harden each"
            " workload's traces apart"
        )
    if not picked:
        notes.append(
            f"{', '.join(sorted(w.describe() for w in candidates))} each have the container, and the trace"
            " names no Pod of one (its `pod` label, as `kube record` sets it): each is hardened from it;"
            " harden each workload from its own traces"
        )
        return None
    for w in candidates:
        if (w.kind, w.name) not in picked:
            notes.append(
                f"{w.describe()}: it has the container too, but the traces were recorded in Pods of"
                f" {', '.join(sorted(f'{k} {n}' for k, n in picked))}: left as it is (harden it from its own"
                " traces)"
            )
    return lambda w: (w.kind, w.name) in picked


def _left_writable(
    manifest: Manifest, names: tuple[str, ...], select: Callable[[Workload], bool] | None
) -> list[str]:
    """The other containers of the workloads hardened, whose root stays writable: said, so that a
    sidecar (or an initContainer) is not taken for hardened with its Pod."""
    if not names:
        return []
    notes = []
    for _, workload in manifest.workloads():
        if not _has(workload, names) or (select is not None and not select(workload)):
            continue
        for key in ("initContainers", "containers"):
            for c in containers(workload.spec, key):
                name = c.get("name") if isinstance(c, dict) else None
                if not isinstance(name, str) or name in names or name.startswith(_SEED):
                    continue
                security = c.get("securityContext")
                if isinstance(security, dict) and security.get("readOnlyRootFilesystem") is True:
                    continue
                kind = "initContainer" if key == "initContainers" else "container"
                notes.append(
                    f"{workload.describe()}: its {kind} {safe_text(name)} keeps a writable root: record it"
                    f" and harden it from its own traces (--container {safe_text(name)})"
                )
    return notes


def _default_container(manifest: Manifest, trace_container: str | None) -> tuple[str, ...]:
    if trace_container:
        return (trace_container,)
    names = {
        c.get("name") for _, w in manifest.workloads() for c in containers(w.spec) if isinstance(c, dict)
    }
    if len(names) > 1:
        raise BadInput(
            f"the manifest has containers {', '.join(sorted(map(str, names)))} and the trace names "
            "none (its `container` label): say which with --container"
        )
    return ()


_CLAIM_DOCUMENT = "(its claim: the last document)"  # where a plan's note says the claim is
_CLAIM_TEMPLATE = "(its claim: a volumeClaimTemplate of the StatefulSet)"
CLAIM_SPEC = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}


def _seed(workload: Workload, container: Any, volume: str, path: str) -> str:
    """An initContainer of the container's image that fills the claim `volume` with the files
    the image holds at `path`, once: only while the claim is empty, never over the data a run
    added (a claim starts empty; the directory held files the app keeps using)."""
    taken = {c.get("name") for key in ("initContainers", "containers") for c in containers(workload.spec, key)
             if isinstance(c, dict)}  # fmt: skip
    init = mapping(
        name=_seed_name(volume, taken),
        image=container.get("image"),
        command=seed_command(path),
        volumeMounts=[mapping(name=volume, mountPath="/seed")],
    )
    security = container.get("securityContext")
    if isinstance(security, dict):  # no more privilege than the container's (a Pod Security level's)
        init["securityContext"] = _plain(dict(security))
    init.yaml_add_eol_comment(f"rotrace: fills the claim once with the image's {safe_text(path)}", "name")
    append(workload.spec, "initContainers", init, before="containers")
    return str(init["name"])


_SEED = "rotrace-seed-"


def _seed_name(volume: str, taken: set[object]) -> str:
    """The seeding initContainer's name: an RFC 1123 label (63 at most) of the volume's, unique
    among the Pod's containers and initContainers (Kubernetes refuses a Pod with two of one
    name). A volume name too long to follow the prefix keeps its end (a hashed name's hash,
    which tells two long ones apart) and gets a hash of its own."""
    name = f"{_SEED}{volume}"
    if len(name) > 63:
        digest = hashlib.sha256(volume.encode()).hexdigest()[:8]
        name = f"{name[: 63 - 9].rstrip('-')}-{digest}"
    base, n = name, 2
    while name in taken:
        suffix = f"-{n}"
        name, n = f"{base[: 63 - len(suffix)].rstrip('-')}{suffix}", n + 1
    return name


def _claim_names(manifest: Manifest) -> set[object]:
    """The claims the manifest has: its PersistentVolumeClaim documents, and those its workloads'
    volumes name (a claim made elsewhere)."""
    names = _claim_documents(manifest)
    for _, workload in manifest.workloads():
        for volume in containers(workload.spec, "volumes"):
            source = volume.get("persistentVolumeClaim") if isinstance(volume, dict) else None
            if isinstance(source, dict):
                names.add(source.get("claimName"))
    return names


def _claim_documents(manifest: Manifest) -> set[object]:
    """The names of the manifest's PersistentVolumeClaims: documents, and the items of a List
    (`kubectl get -o yaml`)."""
    found: set[object] = set()
    for document in manifest.documents:
        data = document.data
        if not isinstance(data, dict):
            continue
        items = data.get("items") if str(data.get("kind", "")).endswith("List") else None
        for item in items if isinstance(items, list) else [data]:
            if isinstance(item, dict) and item.get("kind") == "PersistentVolumeClaim":
                metadata = item.get("metadata")
                found.add(metadata.get("name") if isinstance(metadata, dict) else None)
    return found


def _free_claim(name: str, added: dict[str, None], manifest: Manifest) -> str:
    """The name of a new claim for the volume `name`: none the manifest has already (another
    volume's data), nor one harden added for another place."""
    taken = _claim_names(manifest) | set(added)
    claim, n = name, 2
    while claim in taken:
        claim, n = f"{name}-{n}", n + 1
    return claim


def _claim(name: str) -> str:
    """A PersistentVolumeClaim document for a persistent mount (its size to adapt)."""
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": CLAIM_SPEC,
    }
    head = "# rotrace: its data must survive a restart (an emptyDir would lose it): adapt the size\n"
    return "---\n" + head + yaml_document(claim)


def _plain(value: Any) -> Any:
    """A value for the round-trip emitter (its own mapping and sequence types): a string a YAML
    1.1 reader would take for another type in quotes (the emitter writes YAML 1.2: `off` plain)."""
    from ruamel.yaml.scalarstring import SingleQuotedScalarString

    from rotrace.kube.manifest import sequence

    if isinstance(value, dict):
        return mapping(**{k: _plain(v) for k, v in value.items()})
    if isinstance(value, list):
        return sequence([_plain(v) for v in value])
    if isinstance(value, str) and yaml11_typed(value):
        return SingleQuotedScalarString(value)
    return value


def _run_as(workload: Workload, container: Any, key: str = "runAsUser") -> object:
    """The uid the container runs as (`key`: runAsGroup, its gid), its securityContext's, else
    the Pod's; None: not said (the image's user)."""
    pod = workload.spec.get("securityContext") if isinstance(workload.spec, dict) else None
    own = container.get("securityContext")
    users = [c.get(key) for c in (own, pod) if isinstance(c, dict) and c.get(key) is not None]
    return users[0] if users else None


def _claim_owner(
    workload: Workload, container: Any, path: str, traced: tuple[int, int] | None, notes: list[str]
) -> None:
    """A new claim is usually owned by root: a Pod that runs as another user (its manifest's, else
    the image's, which the trace ran as) cannot write its database there, nor can the initContainer
    that fills it. The Pod's securityContext gets an fsGroup (the container's runAsGroup, else
    the group the trace ran with), by which Kubernetes makes the claim the group's to write."""
    pod = workload.spec.get("securityContext")
    if isinstance(pod, dict) and pod.get("fsGroup") is not None:
        return
    user = _run_as(workload, container)
    if user is None and traced is not None:
        user = traced[0]
    if user in (None, 0):
        return
    group = _run_as(workload, container, "runAsGroup")
    if group is None and traced is not None and traced[0] == user:
        group = traced[1]
    if not isinstance(group, int) or group == 0 or not (pod is None or isinstance(pod, dict)):
        notes.append(
            f"{workload.describe()}: {path} is a new claim and the container runs as uid {user} with no "
            "fsGroup: set the Pod's securityContext.fsGroup so that it can write there"
        )
        return
    if pod is None:
        workload.spec.insert(0, "securityContext", mapping(fsGroup=group))
    else:
        pod["fsGroup"] = group
    notes.append(
        f"{workload.describe()}: {path} is a new claim, which Kubernetes creates root's, and the"
        f" container runs as uid {user}: the Pod's securityContext.fsGroup is set to {group}, the"
        " group it writes there as"
    )


def _in_flow(workload: Workload, container: Any) -> bool:
    """The container is written in flow style (`[{name: web, ...}]`), where no comment goes."""
    listed = workload.spec.get("containers")
    return any(getattr(node, "fa", None) is not None and node.fa.flow_style() for node in (listed, container))


def _quoted(value: object) -> bool:
    """A scalar the manifest wrote in quotes (ruamel.yaml keeps which): a string to any reader."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

    return isinstance(value, (DoubleQuotedScalarString, SingleQuotedScalarString))


def _set_env(
    workload: Workload, container: Any, settings: list[Any], added: list[str], notes: list[str]
) -> None:
    """The plan's settings into the container's env. HOME, which the plan sets where it mounts
    places in the run's home, only where one of those mounts is the container's to get: a place
    on a volume the manifest mounts already needs no HOME of the run's."""
    env = container.get("env")
    for item in settings:
        name, value = item["name"], item["value"]
        if name == "HOME" and not any(is_under(path, value) for path in added):
            said = f"it sets HOME={value} as the run had it"
            notes[:] = [n for n in notes if not (n.startswith("the plan mounts ") and said in n)]
            continue
        same = [e for e in env if isinstance(e, dict) and e.get("name") == name] if env else []
        if same:
            last = same[-1]  # of two entries of one name, Kubernetes takes the last
            if "valueFrom" in last:  # from a ConfigMap, a Secret, a field: the manifest's own source
                said = f"it sets {name}={value} as the run had it"
                notes[:] = [n for n in notes if said not in n]
                notes.append(
                    f"{workload.describe()}: env {name} comes from its valueFrom, kept as it is; the plan"
                    f" needs {name}={value} (the run had it): see that its source gives that"
                )
                continue
            had = last.get("value")
            if had == value and "valueFrom" not in last and (_quoted(had) or not yaml11_typed(value)):
                continue  # already so: the manifest's line as it was written (its quotes)
            if had != value:
                was = redact_text(str(had))  # the manifest's value may hold a secret
                notes.append(f"{workload.describe()}: env {name} set to {value} (was {was}) to avoid writes")
            last["value"] = value
        else:
            append(container, "env", mapping(name=name, value=value))
            env = container.get("env")


def harden(
    manifest: Manifest,
    trace: str,
    names: tuple[str, ...],
    maps: list[tuple[str, str]],
    persistent: Sequence[str] = (),
) -> Hardened:
    header, _ = read_trace(trace)
    names = names or _default_container(manifest, header.labels.get("container"))
    container_name = names[0] if names else "app"
    planned = _writers(trace, maps, container_name, persistent)
    fragment, notes, blocked = planned.fragment, planned.notes, planned.blocked
    unmounted: set[str] = set()  # blocked places a container of the manifest does not mount
    avoided: set[str] = set()  # blocked places whose writes a setting of the manifest avoids
    unchecked: set[str] = set()  # checked places (W_OK) a container of the manifest does not mount writable
    read_only: set[str] = set()  # places written that the manifest mounts read-only
    spec = fragment["spec"]
    (generated,) = spec["containers"]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    claims: dict[str, None] = {}
    notes = [n.replace("(its claim in a comment above the fragment)", _CLAIM_DOCUMENT) for n in notes]

    def change(_document: Document, workload: Workload, container: Any) -> None:
        if is_recording(workload):  # hardened, it would run rotrace around the app, with its traces volume
            raise BadInput(
                f"{workload.describe()} is a recording (`rotrace kube record`'s manifest, with"
                f" {', '.join(recording_names(workload))}): harden the application's own manifest"
            )
        workdir = container.get("workingDir")
        traced = header.cwd
        mounts = [m.get("mountPath", "") for m in generated.get("volumeMounts", [])]
        elsewhere = isinstance(workdir, str) and bool(traced) and workdir != traced and not maps
        if elsewhere and any(is_under(m, traced) for m in mounts):
            notes.append(
                f"{workload.describe()}: the container works in {workdir}, the trace was taken in {traced}: "
                f"its mounts there name the traced machine's paths; give --map {traced}={workdir}"
            )
        user = _run_as(workload, container)
        traced_uid = header.environment.get("uid")
        if user is not None and traced_uid is not None and str(user) != traced_uid:
            home = header.environment.get("HOME", "")
            notes.append(
                f"{workload.describe()}: the container runs as uid {user}, the trace was made as uid"
                f" {traced_uid} (HOME={home}): a program that writes in its home or owns what it writes"
                f" may write elsewhere as uid {user}; trace the app as that user"
            )
        security = container.get("securityContext")
        if isinstance(security, dict):
            security["readOnlyRootFilesystem"] = True
        elif security is None:
            container["securityContext"] = mapping(readOnlyRootFilesystem=True)
        else:  # what Kubernetes refuses: not replaced without a word
            raise BadInput(f"{workload.describe()}: its container's securityContext is not a mapping")
        mounted = {
            mount_path(m["mountPath"])
            for m in containers(container, "volumeMounts")
            if isinstance(m, dict) and isinstance(m.get("mountPath"), str)
        }
        unwritable = read_only_mounts(workload, container)
        on_mount = holder(mounted)  # the deepest of the manifest's mounts a path is on

        def cannot_write(point: str, at: str) -> None:
            read_only.add(point)
            notes.append(
                f"{workload.describe()}: the app writes in {point}, which the manifest mounts read-only at"
                f" {at} ({unwritable[at]}): its writes fail there; make that mount writable (or"
                " remove it, and harden mounts what the writes need)"
            )

        for directory in sorted(planned.written):  # below a mount of the plan, on one of the manifest's
            at = on_mount(directory)
            if at is not None and at in unwritable and directory not in read_only:
                cannot_write(directory, at)
        left_out = []
        given: dict[str, str] = {}  # the container's settings as Kubernetes reads them: the last of a name
        for e in containers(container, "env"):
            if isinstance(e, dict) and isinstance(e.get("name"), str):
                value = e.get("value")
                if isinstance(value, str) and "valueFrom" not in e:
                    given[e["name"]] = value
                else:  # from elsewhere, or none: not known here
                    given.pop(e["name"], None)
        for point in blocked:  # the manifest's own volume there: its writes go through, as it chose
            at = on_mount(point)
            settings = [k.avoided(given, header.environment) for k in planned.avoidable.get(point, ())]
            if at is None and settings and all(settings):
                avoided.add(point)
                how = ", ".join(sorted({str(s) for s in settings}))
                notes.append(
                    f"{workload.describe()}: {point}: the manifest sets {how}, which avoids these writes; the"
                    " runs were recorded without it: record the app again as the manifest runs it, to see"
                    " that it does"
                )
                continue
            if at is None:
                unmounted.add(point)
                left_out.append(point)
            elif at in unwritable:
                cannot_write(point, at)
            else:
                notes.append(
                    f"{workload.describe()}: {point} is on a volume the manifest mounts: kept as it is"
                )
        if left_out and not _in_flow(workload, container):  # said in the manifest too, read
            places = ", ".join(sorted(left_out))  # without rotrace's stderr (not inside a flow)
            context = container["securityContext"]
            context.fa.set_block_style()  # (a comment inside a flow mapping would break its line)
            context.yaml_add_eol_comment(
                safe_text(f"rotrace: NOT MOUNTABLE: {places}: writes there fail (rotrace's notes say why)"),
                "readOnlyRootFilesystem",
            )
        for point in planned.unmet:  # the check passes on the manifest's own writable volume, and only there
            at = on_mount(point)
            if at is None or at in unwritable:
                unchecked.add(point)
            else:
                notes.append(
                    f"{workload.describe()}: {point} is on a volume the manifest mounts: the check that the"
                    " command may write there passes"
                )
        top = workload.document.get("spec") if workload.kind == "StatefulSet" else None
        templates = containers(top, "volumeClaimTemplates") if isinstance(top, dict) else []
        taken = {v.get("name") for v in containers(workload.spec, "volumes") if isinstance(v, dict)}
        taken |= {t.get("metadata", {}).get("name") for t in templates if isinstance(t, dict)}
        added: list[str] = []  # the plan's mounts the container gets
        for mount in generated.get("volumeMounts", []):
            path = mount_path(mount["mountPath"])
            at = on_mount(path)
            if at is not None and at in unwritable:  # there, or a mount point inside it,
                if path not in read_only:  # which the runtime could not make
                    cannot_write(path, at)
                continue
            if at is not None:  # the manifest's own writable volume holds it: a mount of the
                # plan's inside would hide what that volume keeps there (and a seed fill it anew)
                there = "mounted already" if at == path else f"on the manifest's volume at {at}"
                notes.append(f"{workload.describe()}: {path} is {there}: kept as it is")
                notes[:] = [n for n in notes if not (n.startswith(f"{path}: ") and _CLAIM_DOCUMENT in n)]
                continue
            volume = dict(volumes[mount["name"]])
            name, n = mount["name"], 2
            while name in taken:
                name, n = f"{mount['name']}-{n}", n + 1
            taken.add(name)
            append(container, "volumeMounts", mapping(name=name, mountPath=path))
            added.append(path)
            source = {k: v for k, v in volume.items() if k != "name"}
            comment = planned.writers.get(path)
            said = None
            if comment and comment.programs:
                said = f"{comment.describe(planned.runs)}: {safe_text(path)}"
            if "persistentVolumeClaim" in source and path in planned.seeded:
                init = _seed(workload, container, name, path)
                filled = f"one its initContainer {init} fills once with the files the image holds there"
                notes[:] = [n.replace(SEED_ADVICE, filled) if n.startswith(f"{path} ") else n for n in notes]
            if "persistentVolumeClaim" in source and isinstance(top, dict):
                # a StatefulSet: each replica its own claim, from a template
                _claim_owner(workload, container, path, header.user, notes)
                notes[:] = [n.replace(_CLAIM_DOCUMENT, _CLAIM_TEMPLATE) if n.startswith(f"{path}: ") else n
                            for n in notes]  # fmt: skip
                template = mapping(metadata=mapping(name=name), spec=_plain(CLAIM_SPEC))
                if said:
                    template["metadata"].yaml_add_eol_comment(said, "name")
                append(top, "volumeClaimTemplates", template)
                continue
            replicas = workload.document.get("spec", {}).get("replicas", 1)
            if "persistentVolumeClaim" in source and (workload.kind == "DaemonSet" or replicas != 1):
                notes.append(
                    f"{workload.describe()}: the claim for {path} is shared by its Pods (ReadWriteOnce: one "
                    "node mounts it); a StatefulSet's volumeClaimTemplates give each replica its own"
                )
            if "persistentVolumeClaim" in source:
                _claim_owner(workload, container, path, header.user, notes)
                claim = _free_claim(name, claims, manifest)
                claims[claim] = None
                given = {**source["persistentVolumeClaim"], "claimName": claim}
                source = {"persistentVolumeClaim": mapping(**given)}
            else:
                source = {k: mapping(**v) if isinstance(v, dict) else v for k, v in source.items()}
            entry = mapping(name=name, **source)
            if said:
                entry.yaml_add_eol_comment(said, "name")
            append(workload.spec, "volumes", entry)
        _set_env(workload, container, generated.get("env", []), added, notes)

    select = _traced_workloads(manifest, names, header, notes)
    chosen(manifest, names, change, select, inits=bool(names))
    notes.extend(_left_writable(manifest, names, select))
    declared = _claim_documents(manifest)
    text = manifest.dump()
    for claim in claims:
        if claim not in declared:
            text += ("" if text.endswith("\n") else "\n") + _claim(claim)
    covered = {blocked[p] for p in blocked if p not in unmounted or p in avoided}
    notes = [n for n in notes if n not in covered]
    refused = planned.incomplete or bool(unmounted or read_only or unchecked or planned.crossings)
    return Hardened(text, [safe_text(n) for n in notes], EXIT_VIOLATIONS if refused else EXIT_OK)
