"""A committed policy that CI keeps true, end to end on a real workload (a small app that keeps a
SQLite database, and on a later run also writes a report):

    several real runs -> a policy from the first run's allowlist (a person then comments it)
    -> `check` of the first runs (0) -> `check` of all, the later run writing a new place (1;
    on GitHub Actions an annotation on the policy's `allow` line) -> `check --update` (the diff,
    the comments kept) -> `check` again (0).

    python -m tests.support.policy_flow [DIR]      (scripts/policy-flow; DIR: a new one by default)

Each step is the real CLI, run as a user runs it; `flow` returns them for the system test
(tests/system/test_policy_flow.py) and `main` prints them and says whether each went as expected.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

APP = """\
import os, sqlite3, sys
os.makedirs("data", exist_ok=True)
db = sqlite3.connect("data/app.db")
db.execute("create table if not exists hits (n integer)")
db.execute("insert into hits values (1)")
db.commit()
if "--report" in sys.argv:
    os.makedirs("reports", exist_ok=True)
    with open("reports/summary.csv", "w") as f:
        f.write("hits,%d\\n" % db.execute("select count(*) from hits").fetchone()[0])
"""

COMMENT = "# reviewed by the team: widen only with a reason"
ENTRY_COMMENT = "  # the app's SQLite database"


@dataclass(frozen=True)
class Step:
    """One command of the flow, what it printed and the exit status it had and should have."""

    name: str
    argv: list[str]
    returncode: int
    expected: int | None  # None: any
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.expected is None or self.returncode == self.expected


def _rotrace(project: Path, name: str, *args: str, expected: int | None,
             env: dict[str, str] | None = None) -> Step:  # fmt: skip
    argv = [sys.executable, "-m", "rotrace", *args]
    environment = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "GITHUB_ACTIONS")}
    proc = subprocess.run(argv, cwd=project, env={**environment, **(env or {})}, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    return Step(name, argv, proc.returncode, expected, proc.stdout, proc.stderr)


def flow(project: Path) -> list[Step]:
    """The flow in `project` (made if need be): the app, its traces, its rotrace.toml."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "app.py").write_text(APP)
    steps = []
    runs = [("t1.json", []), ("t2.json", []), ("t3.json", ["--report"])]
    for trace, extra in runs:
        steps.append(
            _rotrace(
                project,
                f"run -> {trace}",
                "run",
                "-q",
                "--json",
                trace,
                "--",
                sys.executable,
                "app.py",
                *extra,
                expected=None,
            )
        )
    made = _rotrace(project, "policy from t1.json", "allowlist", "t1.json", "--format", "policy", expected=0)
    steps.append(made)
    # A person comments the generated policy before committing it
    text = made.stdout.replace("version = 1", f"{COMMENT}\nversion = 1", 1)
    text = text.replace('    "data",\n]', f'    "data",{ENTRY_COMMENT}\n]', 1)
    (project / "rotrace.toml").write_text(text)
    (project / "rotrace.toml.before").write_text(text)  # as committed, to compare with
    policy = ["--policy", "rotrace.toml"]
    steps.append(
        _rotrace(project, "check the first runs", "check", "-q", *policy, "t1.json", "t2.json", expected=0)
    )
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(project),
        "GITHUB_STEP_SUMMARY": str(project / "summary.md"),
    }
    traces = [trace for trace, _ in runs]
    steps.append(_rotrace(project, "check all runs", "check", "-q", *policy, *traces, expected=1, env=github))
    steps.append(_rotrace(project, "check --update", "check", "-q", "--update", *policy, *traces, expected=0))
    steps.append(_rotrace(project, "check all runs again", "check", "-q", *policy, *traces, expected=0))
    return steps


def main(argv: list[str]) -> int:
    project = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="rotrace-policy-flow-", dir="/var/tmp"))
    return show(flow(project.resolve()), project)


def show(steps: list[Step], project: Path) -> int:
    """Each step, as a person would have typed it, with what it printed; then the policy: the
    script's exit status (1 when a step did not exit as expected)."""
    for step in steps:
        mark = "ok" if step.ok else f"UNEXPECTED (expected {step.expected})"
        print(f"== {step.name}: exit {step.returncode} {mark}\n$ rotrace {shlex.join(step.argv[3:])}")
        for stream in (step.stdout, step.stderr):
            if stream:
                print(stream.rstrip("\n"))
    print(f"== the project, its traces and its policy: {project}")
    print((project / "rotrace.toml").read_text(), end="")
    return 0 if all(step.ok for step in steps) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
