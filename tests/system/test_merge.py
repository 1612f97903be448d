"""`rotrace merge` on real runs: five runs of a workload that writes random temp names into a
cache directory of its project and a fixed log file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

WORKLOAD = """
import os, tempfile
os.makedirs("cache", exist_ok=True)
for _ in range(2):
    fd, name = tempfile.mkstemp(dir="cache")
    os.write(fd, b"x"); os.close(fd); os.unlink(name)
with open("app.log", "a") as f:
    f.write("ran\\n")
"""


def _rotrace(
    *args: str, cwd: Path | None = None, env_columns: str | None = None
) -> subprocess.CompletedProcess[str]:
    """As a user runs it, piped: COLUMNS only where a test sets it (no width inherited)."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if env_columns:
        env["COLUMNS"] = env_columns
    return subprocess.run(
        [sys.executable, "-m", "rotrace", *args], capture_output=True, text=True, cwd=cwd, env=env
    )


def _runs(tmp_path: Path, name: str, app: str, n: int) -> Path:
    project = tmp_path / name
    project.mkdir()
    (project / "work.py").write_text(WORKLOAD)
    runs = tmp_path / f"{name}-runs"
    runs.mkdir()
    for i in range(n):
        done = _rotrace("run", "-q", "--label", f"app={app}", "--json", str(runs / f"r{i}.json"), "--",
                        sys.executable, "work.py", cwd=project)  # fmt: skip
        assert done.returncode in (0, 1), done.stderr
    return runs


def test_five_runs_merge_into_one_glob_per_random_family(tmp_path: Path) -> None:
    runs = _runs(tmp_path, "proj", "demo", 5)
    merged = tmp_path / "merged.json"
    done = _rotrace("merge", str(runs), "-o", str(merged))
    assert done.returncode == 0, done.stderr
    data = json.loads(merged.read_text())
    assert data["schema"] == 3 and len(data["sources"]) == 5
    assert all(s["labels"] == {"app": "demo"} for s in data["sources"])
    cache = str(tmp_path / "proj" / "cache")
    (family,) = [g for g in data["generalised"] if g["glob"].startswith(cache + "/")]
    assert family["glob"] == f"{cache}/tmp" + "[a-z0-9_]" * 8 and family["names"] == 10
    assert f"generalised 10 names from 5 of 5 runs: {family['glob']}" in done.stderr
    paths = {e["path"] for e in data["events"] if e["write"]}
    assert family["glob"] in paths
    assert not any(p.startswith(cache + "/tmp") and p != family["glob"] for p in paths)  # no literal left
    log = [e for e in data["events"] if e["path"] == str(tmp_path / "proj" / "app.log")]
    assert log and all(e["runs"] == [0, 1, 2, 3, 4] and e["count"] == 5 for e in log)
    # every command that reads a trace reads the merged one
    report = _rotrace("report", str(merged), "--format", "json")
    assert report.returncode in (0, 1), report.stderr
    assert json.loads(report.stdout)["allowed"]["runs"]
    text = _rotrace("report", str(merged))
    assert "seen in 5 of 5 runs: demo" in text.stderr
    policy = _rotrace("allowlist", str(merged), "--format", "policy")
    assert policy.returncode in (0, 1) and "version = 1" in policy.stdout, policy.stderr
    assert _rotrace("check", str(merged), "--allow", str(tmp_path)).returncode == 0
    assert _rotrace("diff", str(runs / "r0.json"), str(merged)).returncode in (0, 1)


def test_two_applications_are_refused_unless_grouped(tmp_path: Path) -> None:
    one = _runs(tmp_path, "one", "one", 2)
    two = _runs(tmp_path, "two", "two", 2)
    refused = _rotrace("merge", str(one), str(two), "-o", str(tmp_path / "m.json"))
    assert refused.returncode == 3 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "different applications" in refused.stderr and not (tmp_path / "m.json").exists()
    out = tmp_path / "grouped"
    grouped = _rotrace("merge", str(one), str(two), "--group-by", "label:app", "-o", str(out))
    assert grouped.returncode == 0, grouped.stderr
    assert sorted(p.name for p in out.iterdir()) == ["one.json", "two.json"]
    assert len(json.loads((out / "two.json").read_text())["sources"]) == 2
    # a key that does not tell them apart (a typo no trace has) still refuses them: one trace
    # would plan one application's mounts for the other
    for by in ("label:aap", "command"):
        mixed = _rotrace("merge", str(one), str(two), "--group-by", by, "-o", str(tmp_path / by))
        assert mixed.returncode == 3 and "different applications" in mixed.stderr, mixed.stderr
        assert not list((tmp_path / by).glob("*.json"))


SOMETIMES = """
import os, sys
os.makedirs("out", exist_ok=True)
if sys.argv[1:] == ["write"]:
    with open("out/report.csv", "w") as f:
        f.write("x\\n")
"""


def test_exports_count_the_runs_that_wrote_as_the_report_does(tmp_path: Path) -> None:
    """A run that only met an existing directory (mkdir EEXIST) wrote nothing there: the
    exports' "seen in N of M runs" counts the runs the report counts, not every attempt."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "work.py").write_text(SOMETIMES)
    runs = tmp_path / "runs"
    runs.mkdir()
    for i, args in enumerate((["write"], [], [])):
        trace = str(runs / f"r{i}.json")
        done = _rotrace("run", "-q", "--json", trace, "--", sys.executable, "work.py", *args, cwd=project)
        assert done.returncode in (0, 1), done.stderr
    merged = tmp_path / "merged.json"
    assert _rotrace("merge", str(runs), "-o", str(merged)).returncode == 0
    out = project / "out"
    report = _rotrace("report", str(merged), "--format", "json")
    assert json.loads(report.stdout)["allowed"]["runs"][str(out)] == [0], report.stdout
    policy = _rotrace("allowlist", str(merged), "--format", "policy")
    assert "# ./out: seen in 1 of 3 runs" in policy.stdout, policy.stdout  # (the project relatively)
    k8s = _rotrace("allowlist", str(merged), "--format", "k8s")
    assert "seen in 3 of 3 runs" not in k8s.stdout and "seen in 1 of 3 runs" in k8s.stdout, k8s.stdout


def test_seen_in_names_the_runs_by_the_label_that_tells_them_apart(tmp_path: Path) -> None:
    """A matrix labels each run `--label cell=...` (docs/ci.md): "seen in 1 of 3 runs" names that
    cell, not the program every run shares."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "work.py").write_text(SOMETIMES)
    runs = tmp_path / "runs"
    runs.mkdir()
    for cell, args in (("export", ["write"]), ("index", []), ("search", [])):
        trace = str(runs / f"{cell}.json")
        done = _rotrace("run", "-q", "--label", "app=demo", "--label", f"cell={cell}", "--json", trace, "--",
                        sys.executable, "work.py", *args, cwd=project)  # fmt: skip
        assert done.returncode in (0, 1), done.stderr
    merged = tmp_path / "merged.json"
    assert _rotrace("merge", str(runs), "-o", str(merged)).returncode == 0
    policy = _rotrace("allowlist", str(merged), "--format", "policy")
    assert "# ./out: seen in 1 of 3 runs: export (in one run only: check it)\n" in policy.stdout, (
        policy.stdout
    )
    report = _rotrace("report", str(merged), env_columns="400")
    assert "seen in 1 of 3 runs: export (in one run only: check it)" in report.stderr, report.stderr


def test_a_merged_trace_is_titled_with_its_runs_not_the_first_command(tmp_path: Path) -> None:
    """The report and every export of a merged trace say it holds several runs and which commands
    they ran: titled with one run's command, a plan for all of them reads as that run's."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "work.py").write_text(SOMETIMES)
    runs = tmp_path / "runs"
    runs.mkdir()
    for i, args in enumerate((["write"], [], [])):
        trace = str(runs / f"r{i}.json")
        done = _rotrace("run", "-q", "--json", trace, "--", sys.executable, "work.py", *args, cwd=project)
        assert done.returncode in (0, 1), done.stderr
    merged = tmp_path / "merged.json"
    assert _rotrace("merge", str(runs), "-o", str(merged)).returncode == 0
    commands = f"{sys.executable} work.py write; {sys.executable} work.py"
    policy = _rotrace("allowlist", str(merged), "--format", "policy")
    assert policy.stdout.startswith(f"# policy from rotrace for 3 merged runs: {commands}\n"), policy.stdout
    k8s = _rotrace("allowlist", str(merged), "--format", "k8s")
    assert f"from rotrace for 3 merged runs: {commands}\n" in k8s.stdout, k8s.stdout
    report = _rotrace("report", str(merged), env_columns="400")
    assert report.stderr.startswith(f"rotrace merge of 3 runs: {commands}\n"), report.stderr


def test_check_counts_one_place_outside_the_policy_in_the_singular(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "work.py").write_text(SOMETIMES)
    (project / "rotrace.toml").write_text("version = 1\ndefaults = false\nallow = []\n")
    trace = str(tmp_path / "t.json")
    done = _rotrace("run", "-q", "--json", trace, "--", sys.executable, "work.py", "write", cwd=project)
    assert done.returncode in (0, 1), done.stderr  # the run's default allowlist holds /tmp
    check = _rotrace("check", "--policy", str(project / "rotrace.toml"), trace)
    assert check.returncode == 1
    assert "rotrace.toml: 1 place written outside it (" in check.stderr, check.stderr


def test_a_merge_counts_every_write_its_events_stand_for(tmp_path: Path) -> None:
    """Identical writes become one event with a count: the merged trace's report, summary and
    groups count them all, so a merge of one run reads as that run does (it said "2 writes"
    of a run that made 5), and a merge of three runs makes three times its writes."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "work.py").write_text('for _ in range(4):\n    open("data.db", "a").write("x")\n')
    one = tmp_path / "one.json"
    done = _rotrace("run", "-q", "--json", str(one), "--", sys.executable, "work.py", cwd=project)
    assert done.returncode in (0, 1) and "4 writes" in done.stderr, done.stderr
    for n in (1, 3):
        merged = tmp_path / f"m{n}.json"
        copies = [tmp_path / f"r{n}-{i}.json" for i in range(n)]
        for copy in copies:
            copy.write_text(one.read_text())
        done = _rotrace("merge", *map(str, copies), "-o", str(merged))
        assert done.returncode == 0, done.stderr
        trace = json.loads(merged.read_text())
        assert trace["summary"]["writes"] == 4 * n, trace["summary"]
        report = _rotrace("report", str(merged)).stderr.splitlines()
        runs = "1 run" if n == 1 else f"{n} runs"
        assert report[0].startswith(f"rotrace merge of {runs}: "), report
        assert report[1].endswith(f"· {4 * n} writes"), report


def test_runs_of_one_program_are_told_apart_by_their_arguments(tmp_path: Path) -> None:
    """Two unlabelled runs of one program: "seen in 1 of 2 runs: python3" said not which; a
    name the runs share gets each run's number and arguments."""
    project = tmp_path / "proj"
    project.mkdir()
    script = 'import os, sys\nos.makedirs(sys.argv[1], exist_ok=True)\nopen(sys.argv[1] + "/f", "w")\n'
    (project / "work.py").write_text(script)
    traces = []
    for place in ("first", "second"):
        trace = tmp_path / f"{place}.json"
        argv = ["run", "-q", "--json", str(trace), "--", sys.executable, "work.py", place]
        done = _rotrace(*argv, cwd=project)
        assert done.returncode in (0, 1), done.stderr
        traces.append(str(trace))
    merged = tmp_path / "m.json"
    assert _rotrace("merge", *traces, "-o", str(merged)).returncode == 0
    report = _rotrace("report", "-v", str(merged)).stderr
    program = Path(sys.executable).name
    assert f"seen in 1 of 2 runs: {program} #2 (work.py second)" in report, report
    assert f"seen in 1 of 2 runs: {program} #1 (work.py first)" in report, report


def test_the_example_of_data_kept_across_merged_runs_is_a_file_not_a_directory_made() -> None:
    """A build's output directory, made by the first run and written over by the next: the
    plan's note on the data kept there named `out/sub`, a directory makedirs made (its only
    writes a mkdir and a mkdir that found it), not a file the program writes over."""
    import shutil
    import tempfile

    project = Path(tempfile.mkdtemp(prefix="rotrace-kept-", dir="/srv"))
    build = (
        'import os; os.makedirs("out/sub", exist_ok=True); open("out/sub/f.txt", "w").write("x");'
        ' open("out/index.html", "w").write("y")'
    )
    try:
        for run in ("r1", "r2"):
            argv = ["run", "-q", "--json", f"{run}.json", "--", sys.executable, "-c", build]
            traced = _rotrace(*argv, cwd=project)
            assert traced.returncode == 1, traced.stderr  # out/ is outside the allowlist
        merged = _rotrace("merge", "r1.json", "r2.json", "-o", "m.json", cwd=project)
        assert merged.returncode == 0, merged.stderr
        plan = _rotrace("allowlist", "m.json", "--format", "docker", cwd=project)
        (note,) = [n for n in plan.stderr.splitlines() if "holds data the program keeps" in n]
        assert f"(e.g. {project}/out/sub/f.txt)" in note, note
    finally:
        shutil.rmtree(project)
