"""GitHub Actions (GITHUB_ACTIONS=true): an `::error` annotation per violation group and a
Markdown step summary ($GITHUB_STEP_SUMMARY). Workflow-command data is escaped as the runner
requires (% CR LF; and : , in properties), so no file name can start a command of its own."""

from __future__ import annotations

import os
import shlex
from typing import IO

from rotrace.escape import safe_text
from rotrace.pathnames import generalise
from rotrace.policy.mounts import MountPlan
from rotrace.record import TraceHeader
from rotrace.report.aggregate import Aggregate


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation_lines(agg: Aggregate, plan: MountPlan) -> list[str]:
    lines = []
    fixes = {b.point: b for b in plan.blocked}
    for g in sorted(agg.violations.values(), key=lambda g: (-g.count, g.where)):
        procs = ", ".join(f"{exe} {pid}" for (exe, pid), _ in g.processes.most_common(2))
        message = (
            f"{generalise(g.where)}: {g.count} writes outside the allowlist ({', '.join(g.ops)}) by {procs}"
        )
        if g.blocked:
            message += f"; no mount can fix it: {g.blocked}"
        blocked = fixes.get(g.where)
        known = blocked.explanations if blocked else g.explanations
        for k, _ in sorted(known.items(), key=lambda kv: -kv[1])[:2]:
            message += f"; fix ({k.title}): {k.fix}"
        title = f"rotrace: writes outside the allowlist in {generalise(g.where)}"
        lines.append(f"::error title={escape_property(safe_text(title))}::{escape_data(safe_text(message))}")
    return lines


def _cell(text: str) -> str:
    return safe_text(text).replace("|", "\\|").replace("`", "'")


def step_summary(header: TraceHeader, agg: Aggregate, plan: MountPlan) -> str:
    s = agg.summary
    verdict = f"✗ {s.violations} violations" if s.violations else "✓ no violations"
    lines = [
        f"### rotrace: {verdict}",
        "",
        f"`{_cell(shlex.join(header.command))}`: exit status {header.exit_code}, {s.writes} writes"
        f" ({s.venv_writes} into a venv)",
        "",
    ]
    if agg.violations:
        lines += ["| where | writes | ops | processes |", "|---|---:|---|---|"]
        for g in sorted(agg.violations.values(), key=lambda g: (-g.count, g.where)):
            procs = ", ".join(f"{exe} {pid}" for (exe, pid), _ in g.processes.most_common(2))
            lines.append(
                f"| `{_cell(generalise(g.where))}` | {g.count} | {_cell(', '.join(g.ops))} | {_cell(procs)} |"
            )
        lines.append("")
    if plan.blocked or plan.mounts:
        lines.append("**What to change**")
        lines.append("")
        for b in plan.blocked:
            lines.append(f"- `{_cell(b.point)}`: {_cell(b.reason)}")
            for k, n in b.explanations.items():
                lines.append(f"  - {_cell(k.title)} ({n}): {_cell(k.fix)}")
        if plan.mounts:
            lines.append(f"- writable mounts: {', '.join(f'`{_cell(m)}`' for m in plan.mounts)}")
    return "\n".join(lines) + "\n"


def publish(header: TraceHeader, agg: Aggregate, plan: MountPlan, out: IO[str]) -> None:
    for line in annotation_lines(agg, plan):
        print(line, file=out)
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(step_summary(header, agg, plan))
        except OSError as exc:
            print(f"rotrace: cannot write the step summary {path}: {exc.strerror}", file=out)
