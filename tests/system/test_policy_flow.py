"""A committed policy that CI keeps true, on a real workload (tests/support/policy_flow.py, which
scripts/policy-flow runs): each step's exit status and what it says."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.policy_flow import COMMENT, ENTRY_COMMENT, flow
from tests.support.tracing import rotrace_cli


@pytest.fixture
def project() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="rotrace-policy-flow-", dir="/var/tmp"))
    try:
        yield base / "app"
    finally:
        shutil.rmtree(base)


def test_policy_flow(project: Path) -> None:
    steps = {step.name: step for step in flow(project)}
    for step in steps.values():
        assert step.ok, (step.name, step.returncode, step.stderr)
    # the generated policy names the project relatively, with no trace of this machine's paths
    generated = steps["policy from t1.json"].stdout
    assert tomllib.loads(generated)["allow"] == ["data"]
    assert str(project) not in generated
    # the later run wrote a new place: which trace, which program, which path
    failed = steps["check all runs"]
    assert failed.returncode == 1
    line = next(s for s in failed.stderr.splitlines() if "outside the policy" in s and "t3.json" in s)
    assert "python" in line and f"{project}/reports" in line
    assert "t1.json (" not in failed.stderr and "t2.json (" not in failed.stderr
    # on GitHub Actions: an annotation on the policy file's `allow` line, and the summary's table
    policy = (project / "rotrace.toml").read_text()
    allow_line = policy.splitlines().index("allow = [") + 1
    annotations = [s for s in failed.stdout.splitlines() if s.startswith("::error file=")]
    assert annotations and annotations[0].startswith(f"::error file=rotrace.toml,line={allow_line},")
    summary = (project / "summary.md").read_text()
    assert "| `t3.json` |" in summary and f"`{project}/reports`" in summary
    # --update: the diff on stdout, the comments and the order kept, then a clean check
    update = steps["check --update"]
    assert "+++ b/rotrace.toml" in update.stdout and '+    "reports",' in update.stdout
    updated = (project / "rotrace.toml").read_text()
    assert COMMENT in updated and f'"data",{ENTRY_COMMENT}' in updated
    assert tomllib.loads(updated)["allow"] == ["data", "reports"]
    assert updated.replace('    "reports",\n', "") == (project / "rotrace.toml.before").read_text()
    assert steps["check all runs again"].returncode == 0


def test_check_finds_the_pyproject_policy_and_notes_unused_rules(project: Path) -> None:
    flow(project)
    (project / "rotrace.toml").unlink()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "app"\n\n[tool.rotrace]\n# ours\nallow = ["data", "old/cache"]\n'
        "\n[tool.x]\ny = 1\n"
    )
    found = rotrace_cli("check", "t1.json", "t3.json", cwd=project)
    assert found.returncode == 1, found.stderr
    assert f"policy {project}/pyproject.toml (found from this directory upward)" in found.stderr
    quiet = rotrace_cli("check", "-q", "t1.json", "t3.json", cwd=project)  # -q: the verdicts alone
    assert quiet.returncode == 1 and "found from this directory upward" not in quiet.stderr, quiet.stderr
    assert "rules no run used (the policy could narrow): 'old/cache'" in found.stderr
    update = rotrace_cli("check", "-q", "--update", "t1.json", "t3.json", cwd=project)
    assert update.returncode == 0, update.stderr
    assert '-allow = ["data", "old/cache"]\n+allow = ["data", "old/cache", "reports"]' in update.stdout
    assert (
        (project / "pyproject.toml")
        .read_text()
        .endswith("# ours\n" + 'allow = ["data", "old/cache", "reports"]\n\n[tool.x]\ny = 1\n')
    )
    assert rotrace_cli("run", "-q", "--policy", "pyproject.toml", "--", sys.executable, "app.py", "--report",
                       cwd=project).returncode == 0  # fmt: skip


def test_check_usage_errors(project: Path) -> None:
    flow(project)
    (project / "rotrace.toml").unlink()
    nothing = rotrace_cli("check", "--update", "t1.json", cwd=project)
    assert nothing.returncode == 2 and "--update needs a policy file" in nothing.stderr
    many = rotrace_cli("check", "--json", "x.json", "t1.json", "t2.json", cwd=project)
    assert many.returncode == 2 and "take one TRACE" in many.stderr
    # a directory or a glob naming several: one JSON document per trace would be no document
    (project / "traces").mkdir()
    for name in ("t1.json", "t2.json"):
        shutil.copy(project / name, project / "traces" / name)
    for given in ("traces", "traces/*.json"):
        for options in (["--format", "json"], ["--json", "x.json"]):
            found = rotrace_cli("check", *options, given, cwd=project)
            assert found.returncode == 2 and f"takes one trace: {given} names 2" in found.stderr, found.stderr
            assert found.stdout == "" and not (project / "x.json").exists()


SQLITE_IN = """
import os, sqlite3, sys
os.makedirs(sys.argv[1], exist_ok=True)
with sqlite3.connect(os.path.join(sys.argv[1], "app.db")) as con:
    con.execute("create table if not exists t (x)")
    con.execute("insert into t values (1)")
"""


def test_update_keeps_the_persistent_list_true(project: Path) -> None:
    """A place the runs need whose data must survive a restart (an SQLite database) goes into
    `persistent` as well as `allow`: the plan says so, and the policy carries it."""
    project.mkdir(parents=True)
    (project / "work.py").write_text(SQLITE_IN)
    traces = project.parent / "traces"
    traces.mkdir()
    for place in ("data", "backups"):
        done = rotrace_cli("run", "-q", "--json", str(traces / f"{place}.json"), "--",
                           sys.executable, "work.py", place, cwd=project)  # fmt: skip
        assert done.returncode == 1, done.stderr
    policy = project / "rotrace.toml"
    generated = rotrace_cli("allowlist", str(traces / "data.json"), "--format", "policy", cwd=project)
    policy.write_text(generated.stdout)
    assert tomllib.loads(policy.read_text())["persistent"] == ["data"]
    update = rotrace_cli("check", "--update", "--policy", str(policy), str(traces), cwd=project)
    assert update.returncode == 0, update.stderr
    updated = tomllib.loads(policy.read_text())
    assert updated["allow"] == ["data", "backups"]
    assert updated["persistent"] == ["data", "backups"], policy.read_text()
    assert '+    "backups",' in update.stdout and update.stdout.count('+    "backups",') == 2


def test_check_advises_update_only_where_it_would_add_an_entry(project: Path) -> None:
    """A place no allow entry can cover (the application directory itself: .coverage written
    there) is not one `check --update` widens the policy for: `check` says so, and points at the
    plan (a setting avoids it), before and after an update that adds what it can."""
    project.mkdir(parents=True)
    (project / "rotrace.toml").write_text("version = 1\nallow = []\n")
    script = 'import os\nos.makedirs("reports", exist_ok=True)\nopen("reports/r.txt", "w").write("x")\n'
    script += 'open(".coverage", "w").write("x")\n'
    traced = rotrace_cli("run", "-q", "--json", "t.json", "--", sys.executable, "-c", script, cwd=project)
    assert traced.returncode in (0, 1) and (project / "t.json").exists(), traced.stderr
    before = rotrace_cli("check", "-q", "t.json", cwd=project)
    assert before.returncode == 1 and "`rotrace check --update` widens it" in before.stderr, before.stderr
    update = rotrace_cli("check", "-q", "--update", "t.json", cwd=project)
    assert '"reports"' in (project / "rotrace.toml").read_text(), update.stderr
    after = rotrace_cli("check", "-q", "t.json", cwd=project)
    assert after.returncode == 1 and "--update" not in after.stderr, after.stderr
    assert "no allow entry can cover them where the policy is enforced" in after.stderr, after.stderr
    assert "`rotrace allowlist TRACE` says why" in after.stderr


def test_check_names_a_script_as_the_report_does(project: Path) -> None:
    """A write outside the policy by a console script is said to be the script's (`mytool`), as
    the report names the process, not its interpreter's (`python3.11`)."""
    project.mkdir(parents=True)
    (project / "rotrace.toml").write_text("version = 1\nallow = []\n")
    tool = project / "mytool"
    tool.write_text(f"#!{sys.executable}\nopen('out.txt', 'w').write('x')\n")
    tool.chmod(0o755)
    traced = rotrace_cli("run", "--json", "t.json", "--", str(tool), cwd=project)
    assert traced.returncode == 1 and "mytool" in traced.stderr, traced.stderr
    found = rotrace_cli("check", "-q", "t.json", cwd=project)
    line = next(s for s in found.stderr.splitlines() if "outside the policy" in s)
    assert "mytool wrote" in line and "python" not in line.split(" wrote ")[0].split(":")[-1], line


def test_a_policy_written_out_of_the_project_says_where_its_relative_entries_are(project: Path) -> None:
    """`allowlist T --format policy > ../plan.toml`, then `run --read-only --policy ../plan.toml`
    from the project: `out` is the plan's directory's `out`, which is not there, and the replay
    failed with EROFS in the project's. Said; not where the policy is in the project."""
    (project / "app" / "out").mkdir(parents=True)
    (project / "plan.toml").write_text('version = 1\nallow = ["out", "/tmp", "=missing-exact"]\n')
    run = rotrace_cli("run", "-q", "--policy", "../plan.toml", "--", "true", cwd=project / "app")
    assert f"entry 'out' is read against the policy's directory ({project})" in run.stderr, run.stderr
    assert f"{project}/out, which does not exist" in run.stderr and "'=missing-exact'" in run.stderr
    assert "/tmp" not in run.stderr.replace(str(project), "")
    (project / "app" / "plan.toml").write_text('version = 1\nallow = ["out", "gone"]\n')
    here = rotrace_cli("run", "-q", "--policy", "plan.toml", "--", "true", cwd=project / "app")
    assert "read against" not in here.stderr, here.stderr


def test_run_with_a_policy_says_which_of_its_settings_are_not_set(project: Path) -> None:
    """`run --policy` does not set the policy's [env] (the exports do): it says which the
    command's environment lacks, so a replay that fails for want of one says why."""
    project.mkdir(parents=True)
    (project / "p.toml").write_text('version = 1\nallow = []\n[env]\nPYLINTHOME = "/tmp/pylint"\n')
    bare = rotrace_cli("run", "-q", "--policy", "p.toml", "--", "true", cwd=project)
    said = "the policy's [env] is not set here, and run does not set it: PYLINTHOME=/tmp/pylint"
    assert said in bare.stderr, bare.stderr
    env = {**os.environ, "PYLINTHOME": "/tmp/pylint"}
    set_ = subprocess.run([sys.executable, "-m", "rotrace", "run", "-q", "--policy", "p.toml", "--", "true"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "[env]" not in set_.stderr, set_.stderr
    # set by the command itself, through env(1): its program has it
    given = rotrace_cli("run", "-q", "--policy", "p.toml", "--", "env", "-u", "X", "PYLINTHOME=/tmp/pylint",
                        "true", cwd=project)  # fmt: skip
    assert "[env]" not in given.stderr, given.stderr


APP = """
import os, sys
open(os.path.join(sys.prefix, "state.json"), "w").write("{}")  # into its venv
os.makedirs(sys.argv[1], exist_ok=True)  # into the scratch place
"""


def test_a_venv_in_a_scratch_place_is_the_apps_only_where_the_command_runs_from_it() -> None:
    """A venv in /var/tmp: the command's own interpreter there is the application, and an empty
    /var/tmp would hide it (the replay failed, 127), also where a shell that is the command runs
    it (an entrypoint script: the plan hid twistd's venv); one a program the command started
    runs (tox's environments left in /tmp by an earlier run) is made again, and the place
    mounted."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-scratch-venv-", dir="/var/tmp"))
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base / "venv")], check=True)
        (base / "venv" / "app.py").write_text(APP)
        python, app, cache = (
            str(base / "venv" / "bin" / "python"),
            str(base / "venv" / "app.py"),
            f"{base}-cache",
        )
        starter = "import subprocess, sys; subprocess.run(sys.argv[1:], check=True)"
        for name, command in (
            ("own", [python, app, cache]),
            ("shell", ["sh", "-c", f"{python} {app} {cache}; true"]),
            ("started", [sys.executable, "-c", starter, python, app, cache]),
        ):
            trace = base / f"{name}.json"
            run = rotrace_cli("run", "-q", "--json", str(trace), "--", *command, cwd="/usr")
            assert run.returncode in (0, 1), run.stderr
            plan = rotrace_cli("allowlist", str(trace), "--format", "policy", cwd="/usr")
            allowed = tomllib.loads(plan.stdout)["allow"]
            if name in ("own", "shell"):
                assert plan.returncode == 1 and "/var/tmp" not in allowed, (plan.stdout, plan.stderr)
                assert f"the command ran {app}, inside /var/tmp" in plan.stderr, plan.stderr
            else:
                assert allowed == ["/var/tmp"], (plan.stdout, plan.stderr)
                assert f"{base}/venv was there before the run" in plan.stderr, plan.stderr
    finally:
        shutil.rmtree(base)
        shutil.rmtree(f"{base}-cache", ignore_errors=True)
