"""The mount plan in each consumer's format. YAML and TOML are written by hand (the shapes are
small and fixed) with JSON-style quoting, which both accept; the tests parse them back."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable

from rotrace.escape import safe_text
from rotrace.export import FORMATS
from rotrace.export.mounts import MountPlan
from rotrace.pathnames import generalise
from rotrace.policy.allowlist import DEFAULT_ALLOW, Allowlist


def _q(text: str) -> str:
    return json.dumps(text)


def _cmd(command: list[str]) -> str:
    """The command for a one-line comment: control characters escaped."""
    return safe_text(shlex.join(command))


def _notes(plan: MountPlan, comment: str) -> list[str]:
    lines = []
    for b in plan.blocked:
        lines.append(f"{comment} NOT MOUNTABLE: {b.describe()}")
    for path in plan.hidden:
        lines.append(f"{comment} note: {safe_text(path)} existed in the image; an empty mount hides it")
    return lines


def policy(plan: MountPlan, command: list[str]) -> str:
    defaults = Allowlist(list(DEFAULT_ALLOW))
    # these fail alike when read-only: this path only, or a glob where its name is per-run
    exact = [f"={p}" if generalise(p) == p else generalise(p) for p in plan.harmless]
    extra = [p for p in [*plan.mounts, *exact] if not defaults.allows(p.lstrip("=").encode())]
    lines = [
        f"# rotrace policy for: {_cmd(command)}",
        *_notes(plan, "#"),
        "version = 1",
        "defaults = true",
    ]
    lines.append("allow = [" + ", ".join(_q(p) for p in extra) + "]")
    return "\n".join(lines) + "\n"


def volume_name(path: str, taken: set[str]) -> str:
    """A DNS-1123 label for the volume that backs `path`."""
    base = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")[:55] or "root"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def k8s(plan: MountPlan, command: list[str]) -> str:
    taken: set[str] = set()
    named = [(volume_name(p, taken), p) for p in plan.mounts]
    lines = [f"# Pod spec fragment from rotrace for: {_cmd(command)}", *_notes(plan, "#")]
    lines += [
        "spec:",
        "  containers:",
        "    - name: app",
        "      securityContext:",
        "        readOnlyRootFilesystem: true",
    ]
    if named:
        lines.append("      volumeMounts:")
        for name, path in named:
            lines += [f"        - name: {_q(name)}", f"          mountPath: {_q(path)}"]
        lines.append("  volumes:")
        for name, _ in named:
            lines += [f"    - name: {_q(name)}", "      emptyDir: {}"]
    return "\n".join(lines) + "\n"


def docker(plan: MountPlan, command: list[str]) -> str:
    flags = ["--read-only", *(f"--tmpfs={p}" for p in plan.mounts)]
    return "\n".join([*_notes(plan, "#"), shlex.join(flags)]) + "\n"


def compose(plan: MountPlan, command: list[str]) -> str:
    lines = [f"# compose service fragment from rotrace for: {_cmd(command)}", *_notes(plan, "#")]
    lines += ["services:", "  app:", "    read_only: true"]
    if plan.mounts:
        lines.append("    tmpfs:")
        lines += [f"      - {_q(p)}" for p in plan.mounts]
    return "\n".join(lines) + "\n"


def bwrap(plan: MountPlan, command: list[str]) -> str:
    args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in plan.mounts:
        args += ["--tmpfs", path]
    return "\n".join([*_notes(plan, "#"), shlex.join(args)]) + "\n"


__all__ = ["FORMATS", "RENDERERS"]

RENDERERS: dict[str, Callable[[MountPlan, list[str]], str]] = {
    "policy": policy,
    "k8s": k8s,
    "docker": docker,
    "compose": compose,
    "bwrap": bwrap,
}
