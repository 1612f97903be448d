"""A manifest file as its documents, each changed in place: a document nothing changes is written
back as it was read (byte for byte), a changed one by ruamel.yaml's round trip in the document's
own indentation (comments, key order and quoting kept). Each workload kind's pod specs are found
where Kubernetes keeps them."""

from __future__ import annotations

import io
import itertools
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rotrace.errors import BadInput
from rotrace.escape import EscapingEmitter, safe_text
from rotrace.inputs import MiB, read_input

# kind -> the keys from the document to its pod spec
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}

MANIFEST_LIMIT = 64 * MiB  # a manifest is read whole, and parsed by pure Python
RFC1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclass
class Workload:
    """One pod spec of a document: the workload's kind and name (for messages), the spec."""

    kind: str
    name: str
    spec: Any  # the pod spec, a ruamel CommentedMap
    document: Any = None  # the whole document

    def describe(self) -> str:
        return safe_text(f"{self.kind} {self.name}")


def _yaml() -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.emitter import Emitter

    yaml = YAML()  # round trip
    yaml.Emitter = type("Emitter", (EscapingEmitter, Emitter), {})
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # no line is folded that was not
    return yaml


def _split(text: str) -> list[str]:
    """The documents' texts, which concatenated are `text` (at the parser's document ends)."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.events import (
        AliasEvent,
        CollectionEndEvent,
        CollectionStartEvent,
        DocumentEndEvent,
        ScalarEvent,
    )

    _check_nesting(text)
    ends = []
    open_anchors: list[str | None] = []  # the anchors of the collections being read, outermost first
    # the nodes each open collection holds once its aliases are expanded, and each anchor's: the
    # round trip expands them, and a few lines of aliases of aliases are millions of nodes
    sizes: list[int] = []
    anchored: dict[str, int] = {}
    expanded = 0  # nodes the aliases add
    try:
        for event in _yaml().parse(text):
            if isinstance(event, DocumentEndEvent):
                ends.append(event.end_mark.index)
            elif isinstance(event, CollectionStartEvent):
                open_anchors.append(event.anchor)
                sizes.append(1)
            elif isinstance(event, CollectionEndEvent):
                anchor, size = open_anchors.pop(), sizes.pop()
                if anchor is not None:
                    anchored[anchor] = size
                if sizes:
                    sizes[-1] += size
            elif isinstance(event, AliasEvent) and event.anchor in open_anchors:
                # a collection that holds itself: read back, the alias is null (no Kubernetes
                # object holds itself), and the manifest would be changed without a word
                line = event.start_mark.line + 1
                raise BadInput(f"not YAML rotrace rewrites: line {line} aliases a collection inside itself")
            elif isinstance(event, AliasEvent):
                size = anchored.get(event.anchor, 1)
                expanded += size
                if sizes:
                    sizes[-1] += size
                if expanded > _ALIASED_NODES:
                    line = event.start_mark.line + 1
                    raise BadInput(
                        f"not YAML rotrace rewrites: its aliases expand to more than {_ALIASED_NODES:,}"
                        f" nodes (line {line})"
                    )
            elif isinstance(event, ScalarEvent):
                if event.anchor is not None:
                    anchored[event.anchor] = 1
                if sizes:
                    sizes[-1] += 1
    except MarkedYAMLError as exc:
        raise BadInput(f"not YAML: {_problem(exc)}") from None
    except YAMLError as exc:  # the reader's: a character YAML does not allow (NUL, a control)
        position = getattr(exc, "position", None)
        where = f" (character {position + 1})" if isinstance(position, int) else ""
        raise BadInput(f"not YAML: {safe_text(str(exc).splitlines()[0])}{where}") from None
    if not ends:  # nothing but comments and blanks: one document with no data
        return [text]
    starts = [0, *ends[:-1]]
    chunks = [text[a:b] for a, b in zip(starts, ends, strict=True)]
    chunks[-1] += text[ends[-1] :]
    return chunks


# Nodes a manifest's aliases may add, expanded (a Pod's shared env lists: dozens): past it, the
# round trip of aliases of aliases (a "billion laughs") would take hours and gigabytes.
_ALIASED_NODES = 10_000


def _check_nesting(text: str) -> None:
    """BadInput for collections nested past libyaml's limit (1000 levels): ruamel.yaml's scanner
    takes time quadratic in the depth of nested flow collections (`a: [[[[...`: 16 s at 5000
    levels), and would go on for hours over a file of them. libyaml (PyYAML's C scanner, where
    it is installed) scans such a file at once and refuses it; any other fault it finds is left
    to ruamel.yaml, the parser of record (YAML 1.2)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        return
    try:
        for _ in yaml.scan(text, Loader=loader):
            pass
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in (exc.problem or ""):
            raise BadInput(f"not YAML: {_problem(exc)}") from None
    except yaml.YAMLError:
        pass


def _problem(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1})" if mark is not None else ""
    return safe_text(f"{getattr(exc, 'problem', None) or exc}{where}")


_KEY_OPENS_BLOCK = re.compile(r"^( *)(?:- +)?[^#\s][^#]*:\s*(#.*)?$")


def _indentation(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, sequence dash offset) as the document writes them:
    from the first block under a key, each kind."""
    mapping: int | None = None
    offset: int | None = None
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for line, following in itertools.pairwise(lines):
        opener = _KEY_OPENS_BLOCK.match(line)
        if opener is None:
            continue
        base = len(line) - len(line.lstrip(" -"))  # the key's column
        depth = len(following) - len(following.lstrip(" "))
        if following.lstrip(" ").startswith("- ") and offset is None and depth >= base:
            offset = depth - base
        elif not following.lstrip(" ").startswith("- ") and mapping is None and depth > base:
            mapping = depth - base
        if mapping is not None and offset is not None:
            break
    mapping = mapping or 2
    offset = offset if offset is not None else 0
    return mapping, offset + 2, offset


def _workload(data: Any) -> Iterator[Workload]:
    """The workload `data` is, if it is one of the kinds with a pod spec."""
    if not isinstance(data, dict):
        return
    kind = data.get("kind")
    path = POD_SPEC_PATHS.get(kind) if isinstance(kind, str) else None
    if path is None:
        return
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    spec: Any = data
    for key in path:
        spec = spec.get(key) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        raise BadInput(f"{safe_text(f'{kind} {name}')}: no pod spec at {'.'.join(path)}")
    _check_pod_spec(f"{kind} {name}", spec, data)
    yield Workload(str(kind), str(name), spec, data)


class Document:
    """One document of the file: its text, and its data once asked for."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._data: Any = None
        self._loaded = False
        self.changed = False
        lines = text.splitlines(keepends=True)
        self._head = ""
        for n, line in enumerate(lines):  # an explicit start: kept as written
            if line.rstrip() == "---" or line.startswith("--- "):
                self._head = "".join(lines[: n + 1])
                break
            if line.strip() and not line.lstrip().startswith("#"):
                break
        self._body = text[len(self._head) :]

    @property
    def data(self) -> Any:
        if not self._loaded:
            from ruamel.yaml.error import MarkedYAMLError, YAMLError

            try:
                self._data = _yaml().load(self._body)
            except MarkedYAMLError as exc:
                raise BadInput(f"not YAML: {_problem(exc)}") from None
            except YAMLError as exc:
                raise BadInput(f"not YAML: {safe_text(str(exc))}") from None
            except ValueError:  # an integer past Python's 4,300 digits (int_max_str_digits)
                raise BadInput("not YAML rotrace reads: a number too long to convert") from None
            _unshare(self._data)
            self._loaded = True
        return self._data

    def workloads(self) -> Iterator[Workload]:
        """The document's workload, or those among its `items` (a `kind: List`, or a
        `DeploymentList`: what `kubectl get -o yaml` writes)."""
        data = self.data
        if not isinstance(data, dict):
            return
        kind = data.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(data.get("items"), list):
            for item in data["items"]:
                yield from _workload(item)
            return
        yield from _workload(data)

    def dump(self) -> str:
        if not self.changed:
            return self.text
        yaml = _yaml()
        mapping, sequence, offset = _indentation(self._body)
        yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
        out = io.StringIO()
        yaml.dump(self.data, out)
        return self._head + out.getvalue()


# What rotrace reads and changes in a pod spec, by the type Kubernetes gives it: a list of
# mappings each with a string `name` (and these keys' types in each)
_NAMED_LISTS = {
    "containers": {"env": list, "volumeMounts": list, "securityContext": dict, "workingDir": str,
                   "command": list, "args": list, "image": str},
    "initContainers": {"env": list, "volumeMounts": list, "securityContext": dict, "workingDir": str,
                       "command": list, "args": list, "image": str},
    "volumes": {},
}  # fmt: skip


def _check_pod_spec(workload: str, spec: dict[Any, Any], document: dict[Any, Any]) -> None:
    """BadInput where a value rotrace reads is not of its Kubernetes type (a name that is a list,
    an env that is a number): the API server refuses such a manifest, and rotrace says where."""

    def bad(where: str, what: str) -> BadInput:
        return BadInput(f"{safe_text(workload)}: {where} is not {what}")

    if not isinstance(spec.get("securityContext", {}), dict):
        raise bad("securityContext", "a mapping")
    for key, fields in _NAMED_LISTS.items():
        items = spec.get(key, [])
        if not isinstance(items, list):
            raise bad(key, "a list")
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise bad(f"{key}[{i}]", "a mapping with a string name")
            for field, kind in fields.items():
                if field in item and not isinstance(item[field], kind):
                    raise bad(
                        f"{key}[{i}].{field}", {list: "a list", dict: "a mapping", str: "a string"}[kind]
                    )
            for j, entry in enumerate(item.get("env", [])):
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                    raise bad(f"{key}[{i}].env[{j}]", "a mapping with a string name")
            for j, mount in enumerate(item.get("volumeMounts", [])):
                if not (
                    isinstance(mount, dict)
                    and all(isinstance(mount.get(k), str) for k in ("name", "mountPath"))
                ):
                    raise bad(f"{key}[{i}].volumeMounts[{j}]", "a mapping with a string name and mountPath")
    top = document.get("spec")
    templates = top.get("volumeClaimTemplates", []) if isinstance(top, dict) else []
    if not isinstance(templates, list) or not all(
        isinstance(t, dict)
        and isinstance(meta := t.get("metadata", {}), dict)
        and isinstance(meta.get("name", ""), str)
        for t in templates
    ):
        raise bad("spec.volumeClaimTemplates", "a list of mappings whose metadata has a string name")


def _unshare(data: Any) -> None:
    """Each collection an alias names again (`env: *e`, `volumeMounts: *vm`) made a copy of its
    own: an alias is the same object as its anchor's, so adding rotrace's mounts to one
    container's list added them to every container sharing it (twice, when both were chosen:
    duplicate mount paths Kubernetes refuses). So is each key a mapping takes from another
    through a merge key (`- <<: *app` / `name: sidecar`), and the merge goes: the sidecar took
    the chosen container's wrapper, its mounts and its settings, which rotrace added to the
    mapping it merged. A document written back spells the copies out."""
    seen: set[int] = set()
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            _spell_out_merges(node)
        children = (
            node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        )
        for key, child in list(children):
            if not isinstance(child, dict | list):
                continue
            own: Any = child
            if id(child) in seen:
                own = _copy(child)
                node[key] = own
            seen.add(id(own))
            stack.append(own)


def _copy(node: Any) -> Any:
    """A collection of its own, with no anchor (the original keeps it)."""
    import copy

    own = copy.deepcopy(node)
    if getattr(own, "anchor", None) is not None:
        own.anchor.value = None
    return own


def _spell_out_merges(mapping: dict[Any, Any]) -> None:
    """The keys `mapping` takes through merge keys (`<<: *base`, `<<: [*a, *b]`), as the merge
    resolves them (its own keys first, then the merged mappings in order), made its own copies;
    then the merge goes."""
    from ruamel.yaml.comments import merge_attrib

    if not getattr(mapping, merge_attrib, None):
        return
    own: set[Any] = getattr(mapping, "_ok", set())
    for key in [key for key in mapping if key not in own]:
        value = mapping[key]
        mapping[key] = _copy(value) if isinstance(value, dict | list) else value
    delattr(mapping, merge_attrib)


class Manifest:
    """A manifest file's documents."""

    def __init__(self, text: str) -> None:
        self.documents = [Document(chunk) for chunk in _split(text)]

    @classmethod
    def read(cls, path: str) -> Manifest:
        try:
            text = read_input(path, "manifest", MANIFEST_LIMIT).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput(f"{safe_text(path)}: cannot be read: {safe_text(str(exc))}") from None
        return cls(text)

    def workloads(self) -> Iterator[tuple[Document, Workload]]:
        for document in self.documents:
            for workload in document.workloads():
                yield document, workload

    def dump(self) -> str:
        return "".join(document.dump() for document in self.documents)


def sequence(items: list[Any]) -> Any:
    from ruamel.yaml.comments import CommentedSeq

    return CommentedSeq(items)


def mapping(**items: Any) -> Any:
    from ruamel.yaml.comments import CommentedMap

    return CommentedMap(items)


def append(owner: Any, key: str, item: Any, before: str | None = None, first: bool = False) -> None:
    """Add `item` to the list at `key` (at its start when `first`), making the list (before the
    key `before` when there is one, else at the end) when there is none."""
    existing = owner.get(key)
    if isinstance(existing, list):
        if first:
            existing.insert(0, item)
        else:
            existing.append(item)
        return
    if existing is not None:
        raise BadInput(f"{key}: not a list")
    if before in owner:
        owner.insert(list(owner).index(before), key, sequence([item]))
    else:
        owner[key] = sequence([item])


def containers(spec: Any, key: str = "containers") -> list[Any]:
    found = spec.get(key)
    return list(found) if isinstance(found, list) else []


def chosen(
    manifest: Manifest,
    names: tuple[str, ...],
    change: Callable[[Document, Workload, Any], None],
    select: Callable[[Workload], bool] | None = None,
    inits: bool = False,
) -> None:
    """Call `change` for each chosen container (every container when `names` is empty) of every
    workload (those `select` takes, when given); where `inits`, its initContainers first: those
    named, or with no names the native sidecars (`restartPolicy: Always`, which run beside the
    containers). Refuses a manifest with no workload, or a name no workload has."""
    seen: set[str] = set()
    any_workload = False
    for document, workload in manifest.workloads():
        any_workload = True
        if select is not None and not select(workload):
            continue
        listed = [
            c
            for c in containers(workload.spec, "initContainers")
            if inits and isinstance(c, dict) and (names or c.get("restartPolicy") == "Always")
        ]
        for container in [*listed, *containers(workload.spec)]:
            name = container.get("name") if isinstance(container, dict) else None
            if not isinstance(name, str) or not RFC1123_LABEL.fullmatch(name):
                raise BadInput(f"{workload.describe()}: a container's name is not an RFC 1123 label")
            if names and name not in names:
                continue
            seen.add(name)
            change(document, workload, container)
            document.changed = True
    if not any_workload:
        raise BadInput(f"no workload in the manifest (kinds: {', '.join(POD_SPEC_PATHS)})")
    missing = [n for n in names if n not in seen]
    if missing:
        raise BadInput(f"no container named {safe_text(', '.join(missing))} in the manifest")
    if not seen:
        raise BadInput("no container in the manifest's workloads")


# Volumes Kubernetes always mounts read-only: the API's data (since 1.9.4), an OCI image's files.
_READ_ONLY_KINDS = ("configMap", "secret", "downwardAPI", "projected", "image")


def mount_path(path: str) -> str:
    """A mountPath as the runtime reads it: `//` one `/`, no `.` and no trailing `/`."""
    return os.path.normpath(re.sub("/+", "/", path))


# YAML 1.1's spellings of true, which Kubernetes' reader (go-yaml) takes and ruamel (YAML 1.2)
# reads as strings
_YAML11_TRUE = frozenset({"y", "yes", "true", "on"})


def _true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in _YAML11_TRUE)


def read_only_mounts(workload: Workload, container: Any) -> dict[str, str]:
    """The container's mount paths that cannot be written, each with why: the mount's
    `readOnly`, a volume kind Kubernetes mounts read-only, or its source's `readOnly` (a claim,
    a CSI or NFS volume). A write there fails under the hardened manifest as under a read-only
    root."""
    volumes = {v.get("name"): v for v in containers(workload.spec, "volumes") if isinstance(v, dict)}
    found: dict[str, str] = {}
    for mount in containers(container, "volumeMounts"):
        path = mount.get("mountPath") if isinstance(mount, dict) else None
        if not isinstance(path, str):
            continue
        path = mount_path(path)
        volume = volumes.get(mount.get("name"), {})
        kind = next((k for k in _READ_ONLY_KINDS if k in volume), None)
        sources = [v for k, v in volume.items() if k != "name" and isinstance(v, dict)]
        if _true(mount.get("readOnly")):
            found[path] = "its volumeMount says readOnly: true"
        elif kind is not None:
            found[path] = f"a {kind} volume, which Kubernetes mounts read-only"
        elif any(_true(source.get("readOnly")) for source in sources):
            found[path] = "its volume says readOnly: true"
    return found


def writable_mounts(workload: Workload, container: Any) -> list[str]:
    """The container's mount paths it may write (its volumes' that read_only_mounts does not
    name): places the manifest chose to make writable."""
    unwritable = read_only_mounts(workload, container)
    found = []
    for mount in containers(container, "volumeMounts"):
        path = mount.get("mountPath") if isinstance(mount, dict) else None
        if isinstance(path, str) and path.startswith("/") and mount_path(path) not in unwritable:
            found.append(mount_path(path))
    return list(dict.fromkeys(found))
