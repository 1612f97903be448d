"""Many runs -> one policy that CI keeps true, end to end on a real workload (a small job runner
that keeps its state with atomic writes through `tempfile`, works in a `tempfile.mkdtemp`
directory, and keeps a SQLite database: names that differ in every run):

    five real runs (`run --label cell=N`, as five CI matrix cells) -> `merge` (one glob per
    family of random names, literal names elsewhere) -> a policy from the merged trace -> a
    read-only replay of every run under that policy (`run --read-only --policy`) from the tree as
    it was before the runs -> a sixth run that writes a new place -> `check` of all six (1; on
    GitHub Actions an annotation on the policy's `allow` line) -> `check --update` -> `check` (0);
    and a run of another application in the same merge is refused unless grouped.

    python -m tests.support.merge_flow [DIR]      (scripts/merge-flow; DIR: a new one by default)

Each step is the real CLI as a user (or a CI job) types it; `flow` returns them for the system
test (tests/system/test_merge_flow.py), `main` prints them and says whether each went as expected.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from tests.support.policy_flow import Step, _rotrace, show

APP = """\
import os, sqlite3, sys, tempfile
os.makedirs("state", exist_ok=True)
fd, tmp = tempfile.mkstemp(dir="state", prefix="job-", suffix=".tmp")
with os.fdopen(fd, "w") as f:
    f.write('{"cell": "%s"}' % (sys.argv[1] if len(sys.argv) > 1 else "-"))
os.replace(tmp, "state/latest.json")
os.makedirs("work", exist_ok=True)
scratch = tempfile.mkdtemp(dir="work")
with open(os.path.join(scratch, "part"), "w") as f:
    f.write("x")
os.makedirs("data", exist_ok=True)
db = sqlite3.connect("data/jobs.db")
db.execute("create table if not exists jobs (cell text)")
db.execute("insert into jobs values (?)", (sys.argv[1] if len(sys.argv) > 1 else "-",))
db.commit()
if "--export" in sys.argv:
    os.makedirs("exports", exist_ok=True)
    with open("exports/jobs.csv", "w") as f:
        f.write("\\n".join(c for (c,) in db.execute("select cell from jobs")))
print("done", open("state/latest.json").read())
"""

OTHER = "import os\nos.makedirs('out', exist_ok=True)\nopen('out/x', 'w').write('x')\n"
WRITTEN = ("state", "work", "data", "exports")  # what the runs make in the project
CELLS = 5


def _fresh(project: Path) -> None:
    """The tree as an image (or a clean checkout) holds it: nothing the runs wrote."""
    for name in WRITTEN:
        shutil.rmtree(project / name, ignore_errors=True)


def flow(project: Path) -> list[Step]:
    """The flow in `project` (made if need be): the app, its traces under traces/, rotrace.toml."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "jobs.py").write_text(APP)
    (project / "traces").mkdir(exist_ok=True)
    _fresh(project)
    steps = []
    for cell in range(1, CELLS + 1):
        trace = f"traces/cell{cell}.json"
        argv = [
            "run",
            "-q",
            "--label",
            f"cell={cell}",
            "--json",
            trace,
            "--",
            sys.executable,
            "jobs.py",
            str(cell),
        ]
        steps.append(_rotrace(project, f"run cell {cell}", *argv, expected=1))  # it writes into its tree
    steps.append(_rotrace(project, "merge", "merge", "traces", "-o", "merged.json", expected=0))
    steps.append(_rotrace(project, "report merged", "report", "merged.json", expected=None))
    made = _rotrace(
        project, "policy from merged", "allowlist", "merged.json", "--format", "policy", expected=0
    )
    steps.append(made)
    (project / "rotrace.toml").write_text(made.stdout)
    for cell in range(1, CELLS + 1):
        _fresh(project)
        argv = [
            "run",
            "-q",
            "--read-only",
            "--policy",
            "rotrace.toml",
            "--",
            sys.executable,
            "jobs.py",
            str(cell),
        ]
        steps.append(_rotrace(project, f"read-only replay of cell {cell}", *argv, expected=0))
    _fresh(project)
    argv = ["run", "-q", "--label", "cell=6", "--json", "traces/cell6.json", "--", sys.executable, "jobs.py"]
    argv += ["6", "--export"]
    steps.append(_rotrace(project, "run cell 6", *argv, expected=1))
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(project),
        "GITHUB_STEP_SUMMARY": str(project / "summary.md"),
    }
    policy = ["--policy", "rotrace.toml"]
    steps.append(
        _rotrace(project, "check all runs", "check", "-q", *policy, "traces", expected=1, env=github)
    )
    steps.append(
        _rotrace(project, "check --update", "check", "-q", "--update", *policy, "traces", expected=0)
    )
    steps.append(_rotrace(project, "check all runs again", "check", "-q", *policy, "traces", expected=0))
    # another application's run, in the same directory of traces: refused, unless grouped
    other = project.parent / f"{project.name}-other"
    other.mkdir(exist_ok=True)
    (other / "other.py").write_text(OTHER)
    trace = str(project / "traces" / "other.json")
    argv = ["run", "-q", "--json", trace, "--", sys.executable, "other.py"]
    steps.append(_rotrace(other, "run another app", *argv, expected=1))
    steps.append(_rotrace(project, "merge two apps", "merge", "traces", "-o", "both.json", expected=3))
    steps.append(
        _rotrace(
            project, "merge grouped", "merge", "traces", "--group-by", "cwd", "-o", "grouped", expected=0
        )
    )
    return steps


def main(argv: list[str]) -> int:
    project = (
        Path(argv[0])
        if argv
        else Path(tempfile.mkdtemp(prefix="rotrace-merge-flow-", dir="/var/tmp")) / "app"
    )
    return show(flow(project.resolve()), project)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
