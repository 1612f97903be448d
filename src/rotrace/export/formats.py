"""The mount plan in each consumer's format, one renderer per format behind one interface.

Files are written by real emitters (tomli-w, PyYAML's safe_dump), so no path can inject a
key or a line. Machine-read flags (docker, bwrap) are only the flags: what a person should
know goes to `Rendered.notes`, which the CLI prints on stderr.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from rotrace.escape import safe_text
from rotrace.export import FORMATS
from rotrace.policy.allowlist import DEFAULT_ALLOW, Allowlist, escape_glob, policy_entry
from rotrace.policy.mounts import MountPlan


@dataclass
class Rendered:
    text: str  # for stdout
    notes: list[str] = field(default_factory=list)  # for a person, on stderr


@dataclass(frozen=True)
class Target:
    """What the plan is for: the traced command, and the container's name in manifests."""

    command: list[str]
    container: str = "app"


def _is_utf8(path: str) -> bool:
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _notes(plan: MountPlan) -> list[str]:
    notes = [b.describe() for b in plan.blocked]
    for known, count in sorted(plan.settings.items(), key=lambda kv: -kv[1]):
        notes.append(
            safe_text(f"{known.title} ({count} writes, mounted): a setting avoids them: {known.fix}")
        )
    return notes


def _header(plan: MountPlan, target: Target, what: str) -> str:
    lines = [f"{what} from rotrace for: {safe_text(shlex.join(target.command))}"]
    lines += [f"NOT MOUNTABLE: {b.describe()}" for b in plan.blocked]
    return "".join(f"# {line}\n" for line in lines)


def policy(plan: MountPlan, target: Target) -> Rendered:
    import tomli_w

    defaults = Allowlist(list(DEFAULT_ALLOW))
    doc: dict[str, object] = {"version": 1, "defaults": True, "allow": []}
    for mount in plan.mounts:
        if not defaults.allows(os.fsencode(mount)):
            key, value = policy_entry(escape_glob(mount))
            doc.setdefault(key, [])
            doc[key].append(value)  # type: ignore[attr-defined]
    return Rendered(_header(plan, target, "policy") + tomli_w.dumps(doc), _notes(plan))


def volume_name(path: str, taken: set[str]) -> str:
    """An RFC 1123 label (lower-case alphanumerics and '-', at most 63, alphanumeric at both ends)
    for the volume behind `path`: readable, and stable (a short hash when it had to be cut)."""
    base = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "root"
    if len(base) > 50 or base != path.lower().strip("/").replace("/", "-"):
        digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:8]
        base = f"{base[:50].rstrip('-')}-{digest}"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def _mountable(plan: MountPlan) -> tuple[list[str], list[str]]:
    """Mount paths a YAML manifest can hold (Kubernetes wants UTF-8), and notes for the rest."""
    ok = [m for m in plan.mounts if _is_utf8(m)]
    skipped = [
        safe_text(f"{m}: not valid UTF-8, which a manifest cannot hold: rename it, or mount its parent")
        for m in plan.mounts
        if not _is_utf8(m)
    ]
    return ok, skipped


def k8s(plan: MountPlan, target: Target) -> Rendered:
    import yaml

    mounts, skipped = _mountable(plan)
    taken: set[str] = set()
    named = [(volume_name(p, taken), p) for p in mounts]
    container: dict[str, object] = {
        "name": target.container,
        "securityContext": {"readOnlyRootFilesystem": True},
    }
    spec: dict[str, object] = {"containers": [container]}
    if named:
        container["volumeMounts"] = [{"name": n, "mountPath": p} for n, p in named]
        spec["volumes"] = [{"name": n, "emptyDir": {}} for n, _ in named]
    text = yaml.safe_dump({"spec": spec}, sort_keys=False, allow_unicode=True)
    return Rendered(_header(plan, target, "Pod spec fragment") + text, _notes(plan) + skipped)


def compose(plan: MountPlan, target: Target) -> Rendered:
    import yaml

    mounts, skipped = _mountable(plan)
    service: dict[str, object] = {"read_only": True}
    if mounts:
        service["tmpfs"] = mounts
    text = yaml.safe_dump({"services": {target.container: service}}, sort_keys=False, allow_unicode=True)
    return Rendered(_header(plan, target, "compose service fragment") + text, _notes(plan) + skipped)


def docker(plan: MountPlan, target: Target) -> Rendered:
    flags = ["--read-only", *(f"--tmpfs={p}" for p in plan.mounts)]
    return Rendered(shlex.join(flags) + "\n", _notes(plan))


def bwrap(plan: MountPlan, target: Target) -> Rendered:
    args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in plan.mounts:
        args += ["--tmpfs", path]
    return Rendered(shlex.join(args) + "\n", _notes(plan))


RENDERERS: dict[str, Callable[[MountPlan, Target], Rendered]] = {
    "policy": policy,
    "k8s": k8s,
    "docker": docker,
    "compose": compose,
    "bwrap": bwrap,
}
assert tuple(RENDERERS) == FORMATS
