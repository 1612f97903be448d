"""The report a person reads and the ones machines read, on a recorded trace of a real
`uv pip install` (uv 0.7.19, six, click and certifi into a venv; tests/data)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.terminal import stderr_on_a_terminal
from tests.support.tracing import rotrace_cli

DATA = Path(__file__).parent.parent / "data"
TRACE = DATA / "uv-pip-install.json"


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("COLUMNS", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")
    }
    env.update(extra)
    return env


@pytest.mark.parametrize("columns", [80, 200])
def test_report_snapshot(columns: int) -> None:
    """ROTRACE_UPDATE_SNAPSHOTS=1 rewrites the snapshots (then read the diff)."""
    proc = rotrace_cli("report", str(TRACE), env=_env(COLUMNS=str(columns)))
    assert proc.returncode == 1
    snapshot = DATA / f"report-{columns}.txt"
    if os.environ.get("ROTRACE_UPDATE_SNAPSHOTS"):
        snapshot.write_text(proc.stderr)
    assert proc.stderr == snapshot.read_text()
    assert max(len(line) for line in proc.stderr.splitlines()) <= columns
    assert len(proc.stderr.splitlines()) < 30  # a 217-write install fits a screen


def test_piped_report_is_neither_wrapped_nor_padded() -> None:
    proc = rotrace_cli("report", str(TRACE), env=_env())
    lines = proc.stderr.splitlines()
    assert all(line == line.rstrip() for line in lines)
    command = " ".join(json.loads(TRACE.read_text())["command"])
    assert lines[0] == f"rotrace {command}"  # whole, on one line


def test_quiet_is_the_verdict_line() -> None:
    proc = rotrace_cli("report", str(TRACE), "-q", env=_env())
    assert proc.stderr.splitlines() == [
        "✗ 93 violations in 1 place · exit status 0 · 217 writes (93 into a venv)"
    ]


def test_quiet_line_piped_is_the_line_rich_prints() -> None:
    """Piped, the -q line is written without rich (report/quiet.py); where rich prints it (COLUMNS
    set), the same text."""
    plain = rotrace_cli("report", str(TRACE), "-q", env=_env())
    by_rich = rotrace_cli("report", str(TRACE), "-q", env=_env(COLUMNS="500"))
    assert (plain.returncode, plain.stderr) == (by_rich.returncode, by_rich.stderr) == (1, plain.stderr)
    assert plain.stderr.endswith("writes (93 into a venv)\n")


def test_json_document() -> None:
    proc = rotrace_cli("report", str(TRACE), "--format", "json", env=_env())
    assert proc.returncode == 1 and proc.stderr == ""
    doc = json.loads(proc.stdout)
    trace = json.loads(TRACE.read_text())
    assert doc["document"] == "report" and doc["schema"] == 1 and doc["status"] == 1
    # counts this trace predates: writes that went through, and writes placed nowhere (none here)
    assert doc["summary"] == {**trace["summary"], "went_through": 84, "unplaced": 0}
    (group,) = doc["violations"]
    assert group["venv"] and group["writes"] == 93 and group["processes"][0]["exe"] == "uv"
    (blocked,) = doc["plan"]["not_mountable"]
    assert blocked["where"] == group["where"] and blocked["fixes"][0]["id"] == "uv-pip-install"
    assert doc["plan"]["mounts"] == ["/tmp"]
    assert doc["environment"]["UV_CACHE_DIR"] == trace["environment"]["UV_CACHE_DIR"]


def test_github_actions_annotations_and_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    proc = rotrace_cli(
        "report", str(TRACE), "-q", env=_env(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary))
    )
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("::")]
    # ::error title=...::message, properties escaped (no raw ':' or ','), one line
    assert re.fullmatch(r"::error title=[^:,\r\n]+::[^\r\n]+", line), line
    assert "93 writes outside the allowlist" in line and "install at build time" in line
    text = summary.read_text()
    assert text.startswith("### rotrace: ✗ 93 violations") and "| where | writes | ops | processes |" in text


@pytest.mark.parametrize("update", [False, True])
def test_a_trace_on_stdout_is_the_trace_alone_under_github_actions(tmp_path: Path, update: bool) -> None:
    """`check --json -` writes the trace checked again on stdout: under GitHub Actions its
    annotations followed it there, and `| rotrace report /dev/stdin` read "Extra data". They go
    to stderr, as with `--format json`."""
    env = _env(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"))
    (tmp_path / "rotrace.toml").write_text('allow = ["/tmp"]\n')
    updating = ["--policy", "rotrace.toml", "--update"] if update else []
    proc = rotrace_cli("check", str(TRACE), "--json", "-", "-q", *updating, cwd=tmp_path, env=env)
    assert json.loads(proc.stdout)["summary"]["violations"] > 0, proc.stderr
    assert any(line.startswith("::error") for line in proc.stderr.splitlines()), proc.stderr


def test_github_data_cannot_start_a_command(tmp_path: Path) -> None:
    from rotrace.report.github import escape_data, escape_property

    hostile = "x\n::add-mask::y\r%0A"
    assert "\n" not in escape_data(hostile) and "%250A" in escape_data(hostile)
    assert ":" not in escape_property("a:b,c") and "," not in escape_property("a:b,c")


def test_diff_shows_the_environment_change(tmp_path: Path) -> None:
    trace = json.loads(TRACE.read_text())
    trace["environment"] = {**trace["environment"], "UV_NO_SYNC": "true"}
    (tmp_path / "new.json").write_text(json.dumps(trace))
    proc = rotrace_cli("diff", str(TRACE), str(tmp_path / "new.json"), env=_env())
    assert proc.returncode == 0 and "+ UV_NO_SYNC=true" in proc.stdout
    doc = json.loads(rotrace_cli("diff", str(TRACE), str(tmp_path / "new.json"), "--format", "json").stdout)
    assert doc["environment"] == {"UV_NO_SYNC": {"old": None, "new": "true"}} and doc["new_violations"] == 0


def test_diff_under_github_actions_annotates_new_violations_and_writes_a_summary(tmp_path: Path) -> None:
    """A drift gate in a job: `rotrace diff` of two real runs under GitHub Actions says each new
    violation as an `::error` and writes its tables to the step summary, as `run` and `check`
    do; `run --baseline` adds the diff's summary after the run's (whose annotations already
    name the violation: none twice)."""
    victim = "/var/tmp/rotrace-drift-victim"  # outside the allowlist; no per-run name (a glob in a diff)
    os.makedirs(victim, exist_ok=True)
    try:
        old, new = tmp_path / "old.json", tmp_path / "new.json"
        work = tmp_path / "work"
        work.mkdir()
        script = f"echo a > a; echo b > {victim}/leak"
        for trace, status, command in ((old, 0, "echo a > a"), (new, 1, script)):
            proc = rotrace_cli("run", "-q", "--json", str(trace), "--", "sh", "-c", command, cwd=work)
            assert proc.returncode == status, proc.stderr
        summary = tmp_path / "summary.md"
        env = _env(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary))
        proc = rotrace_cli("diff", str(old), str(new), env=env)
        assert proc.returncode == 1, proc.stderr
        (line,) = [line for line in proc.stdout.splitlines() if line.startswith("::")]
        assert re.fullmatch(r"::error title=[^:,\r\n]+::[^\r\n]+", line), line
        assert f"{victim}: 1 new write outside the allowlist: create {victim}/leak" in line
        text = summary.read_text()
        assert text.lstrip().startswith("### rotrace diff: ✗ 1 new violation\n"), text
        assert f"| `create` | `{victim}/leak` |" in text and "$CWD/a" not in text  # (a stays: no change)
        # with --format json the document alone is on stdout, the annotation on stderr
        proc = rotrace_cli("diff", str(old), str(new), "--format", "json", env=env)
        assert json.loads(proc.stdout)["new_violations"] == 1 and proc.stderr.startswith("::error ")
        summary.unlink()
        proc = rotrace_cli("run", "-q", "--baseline", str(old), "--", "sh", "-c", script, cwd=work, env=env)
        assert proc.returncode == 1
        assert len([x for x in (proc.stdout + proc.stderr).splitlines() if x.startswith("::error")]) == 1
        run_part, _, diff_part = summary.read_text().partition("### rotrace diff: ")
        assert run_part.startswith("### rotrace: ✗ 1 violation\n")
        assert diff_part.startswith("✗ 1 new violation")
    finally:
        shutil.rmtree(victim, ignore_errors=True)


def test_secrets_in_the_environment_are_redacted(tmp_path: Path) -> None:
    """A secret-named variable is withheld; a URL keeps its place and loses its credentials
    (tests/system/test_secrets.py: every artifact)."""
    env = _env(
        UV_INDEX_TOKEN="s3cr3t", PIP_INDEX_URL="https://user:pw@example.invalid/simple", UV_NO_SYNC="1"
    )
    rotrace_cli("run", "--json", "t.json", "--", "true", cwd=tmp_path, env=env)
    recorded = json.loads((tmp_path / "t.json").read_text())["environment"]
    assert recorded["UV_INDEX_TOKEN"] == "<redacted>"
    assert recorded["PIP_INDEX_URL"] == "https://***@example.invalid/simple"
    assert recorded["UV_NO_SYNC"] == "1" and recorded["uid"] == str(os.getuid())


def _through_a_terminal(argv: list[str]) -> bytes:
    """stderr on a pseudo-terminal, as a person at a terminal sees it."""
    return stderr_on_a_terminal(argv, _env())


def test_live_status_on_a_terminal_only(tmp_path: Path) -> None:
    argv = [
        sys.executable,
        "-m",
        "rotrace",
        "run",
        "--",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6; do touch /tmp/rotrace-live; sleep 0.2; done",
    ]
    shown = _through_a_terminal(argv)
    assert b"rotrace: tracing" in shown and b"events" in shown  # while it ran
    last, report = shown.rfind(b"rotrace: tracing"), shown.find(b"rotrace \x1b[0msh")
    assert 0 < last < report and b"\x1b[1A\x1b[2K" in shown[last:report]  # erased before the report
    piped = subprocess.run(argv, capture_output=True, text=True, env=_env())
    assert "rotrace: tracing" not in piped.stderr


def test_a_project_whose_name_holds_digits_is_reported_by_its_real_path() -> None:
    """Per-run names are globs in the report (`/tmp/.tmp*`), but a project directory that
    existed before (/srv/build20240101/app) is no per-run name: where a fix applies is the real
    place, and an allowed directory keeps the working directory's own names."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-build20240101-", dir="/var/tmp"))
    try:
        app = base / "app12345"
        (app / "cache").mkdir(parents=True)
        code = "import os; os.mkdir('out'); open('out/r', 'w').close(); open('cache/c', 'w').close()"
        proc = rotrace_cli("run", "--allow", str(app / "cache"), "--", sys.executable, "-c", code, cwd=app)
        assert proc.returncode == 1, proc.stderr
        assert f"{app}/out  " in proc.stderr or f"{app}/out\n" in proc.stderr, (
            proc.stderr
        )  # the violation's place
        assert f"{app}/cache (1)" in proc.stderr, (
            proc.stderr
        )  # the allowed one, the project's names as they are
        assert "build*" not in proc.stderr and "app*" not in proc.stderr
    finally:
        shutil.rmtree(base)


def test_a_script_names_its_process_where_people_read(tmp_path: Path) -> None:
    """A console script is run as its interpreter (`/venv/bin/python /venv/bin/tool`): the
    report, -v and the GitHub summary named `python3.11 PID` for every tool; the script's name
    now, and the JSON keeps the executable."""
    outside = Path(tempfile.mkdtemp(prefix="rotrace-script-", dir="/var/tmp"))
    try:
        tool = tmp_path / "my-tool"
        tool.write_text(f"#!{sys.executable}\nopen({str(outside / 'out')!r}, 'w').close()\n")
        tool.chmod(0o755)
        summary = tmp_path / "summary.md"
        env = _env(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary))
        run = rotrace_cli(
            "run", "-v", "--json", str(tmp_path / "t.json"), "--", str(tool), env=env, cwd=tmp_path
        )
        assert run.returncode == 1, run.stderr
        (pid,) = {
            e["pid"] for e in json.loads((tmp_path / "t.json").read_text())["events"] if e["op"] == "create"
        }
        interpreter = os.path.basename(os.path.realpath(sys.executable))
        assert f"my-tool {pid}" in run.stderr and f"{interpreter} {pid}" not in run.stderr, run.stderr
        assert f"my-tool {pid}" in run.stdout and f"`my-tool` {pid}" in summary.read_text()
        document = rotrace_cli("report", "--format", "json", str(tmp_path / "t.json"), env=_env())
        (group,) = json.loads(document.stdout)["violations"]
        assert group["processes"] == [{"exe": interpreter, "pid": pid, "writes": 1}]
    finally:
        shutil.rmtree(outside)
