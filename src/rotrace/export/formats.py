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
    """What the plan is for: the traced command, the container's name in manifests, and for
    the AppArmor profile the programs it ran and the directories it read (None: not recorded)."""

    command: list[str]
    container: str = "app"
    programs: tuple[str, ...] = ()
    reads: tuple[str, ...] | None = None


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


_AA_SPECIAL = re.compile(r'([*?\[\]{}^,"\\])')
_AA_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_DEVICES = ("/dev/null rw,", "/dev/tty rw,", "/dev/pts/* rw,", "/dev/shm/ rw,", "/dev/shm/** rwkl,",
            "@{PROC}/@{pid}/** rw,")  # fmt: skip


def _aa_path(path: str, notes: list[str], suffix: str = "") -> str | None:
    """A path as an AppArmor rule names it: quoted, its glob characters escaped; None (with a
    note) for one no profile can hold (not UTF-8, control characters)."""
    if not _is_utf8(path) or _AA_UNSAFE.search(path):
        notes.append(
            safe_text(f"{path}: not valid UTF-8 or holds control characters: left out of the profile")
        )
        return None
    return '"' + _AA_SPECIAL.sub(r"\\\1", path) + suffix + '"'


def apparmor(plan: MountPlan, target: Target) -> Rendered:
    """A profile in the shape aa-logprof and the Security Profiles Operator write: reads as `r`
    (under the directories the trace read, else everywhere), the programs the command ran as
    `ix`, writes (`w`) only where the mount plan makes room, and `deny` for the venvs."""
    notes = _notes(plan)
    name = f"rotrace-{target.container}"
    rules = ["#include <abstractions/base>", "", "network,", "capability,", "signal,", "unix,", ""]
    if target.reads is None:
        rules += ["# reads: the trace recorded none (rotrace run --all-opens records them)", "/** mr,"]
    else:
        rules.append("# reads, under the directories the trace read")
        rules += [f"{rule} mr," for d in target.reads if (rule := _aa_path(d.rstrip("/"), notes, "/**"))]
    rules += ["", "# the programs the command ran"]
    rules += [f"{rule} mrix," for p in sorted(set(target.programs)) if (rule := _aa_path(p, notes))]
    rules += ["", "# writes: where the mount plan makes room", *_DEVICES]
    for mount in plan.mounts:
        top, below = _aa_path(mount.rstrip("/"), notes, "/"), _aa_path(mount.rstrip("/"), notes, "/**")
        if top and below:
            rules += [f"{top} rw,", f"{below} rwkl,"]
    venvs = [b.point for b in plan.blocked if "virtual environment" in b.reason]
    if venvs:
        rules += ["", "# virtual environments: no writes (the report says what to change)"]
        rules += [f"deny {rule} wl," for v in venvs if (rule := _aa_path(v.rstrip("/"), notes, "/**"))]
    body = "\n".join(f"  {r}" if r else "" for r in rules)
    loads = [
        f"load: apparmor_parser -r -W {name}.profile",
        f"docker: docker run --security-opt apparmor={name} ...",
        f"k8s: securityContext.appArmorProfile: {{type: Localhost, localhostProfile: {name}}}",
    ]
    head = _header(plan, target, "AppArmor profile") + "".join(f"# {line}\n" for line in loads)
    opening = f"profile {name} flags=(attach_disconnected,mediate_deleted) {{"
    text = f"{head}#include <tunables/global>\n\n{opening}\n{body}\n}}\n"
    return Rendered(text, notes)


RENDERERS: dict[str, Callable[[MountPlan, Target], Rendered]] = {
    "policy": policy,
    "k8s": k8s,
    "docker": docker,
    "compose": compose,
    "bwrap": bwrap,
    "apparmor": apparmor,
}
assert tuple(RENDERERS) == FORMATS
