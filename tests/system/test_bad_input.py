"""Bad input and broken outputs: one clear line, a documented status (3 or 2), never a
traceback, never a status CI reads as a verdict; the report survives a trace it cannot write."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from rotrace.errors import BadOption
from tests.support.tracing import PY, rotrace_cli

GOOD = {"schema": 1, "command": ["x"], "exit_code": 0, "events": []}


def _one_line_error(proc: subprocess.CompletedProcess[str], status: int) -> str:
    assert proc.returncode == status, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith(("rotrace: error", "Error:"))]
    assert len(errors) == 1, proc.stderr
    return errors[0]


@pytest.mark.parametrize("command", ["report", "check", "allowlist"])
@pytest.mark.parametrize(
    "text",
    [
        '{"schema": 1, "command": [], "exit_code": 1e400, "events": []}',
        '{"schema": 1, "command": [], "exit_code": ' + "7" * 5000 + ', "events": []}',
        "[" * 50000,
        json.dumps({**GOOD, "events": [1, 2]}),
        json.dumps({**GOOD, "warnings": "x"}),
        json.dumps({**GOOD, "signal": "SIGTERM\x1b[2J"}),
        json.dumps(  # no path holds a NUL: os.stat and every export refused it (exit 70)
            {
                **GOOD,
                "events": [
                    {
                        "pid": 1,
                        "tid": 1,
                        "syscall": "openat",
                        "op": "create",
                        "path": "/srv/a\x00b/f",
                        "write": True,
                        "allowed": False,
                    }
                ],
            }
        ),
        json.dumps(
            {
                **GOOD,
                "events": [
                    {
                        "pid": 1,
                        "tid": 1,
                        "syscall": "open\x1b]0;pwned\x07",
                        "op": "open",
                        "path": "/x",
                        "write": True,
                    }
                ],
            }
        ),
    ],
)
def test_malformed_traces(tmp_path: Path, command: str, text: str) -> None:
    (tmp_path / "t.json").write_text(text)
    line = _one_line_error(rotrace_cli(command, "t.json", cwd=tmp_path), 3)
    assert "t.json" in line and "\x1b" not in line


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("version = true", "unsupported version"),
        ('allow = ["/tmp/[z-a]", 3]', "must be a list"),
        ("version = " + "9" * 5000, "a number too long"),  # past Python's int_max_str_digits
        ("[x]\nn = 1" + "0" * 4400, "a number too long"),
    ],
)
def test_bad_policies(tmp_path: Path, policy: str, message: str) -> None:
    (tmp_path / "p.toml").write_text(policy)
    line = _one_line_error(rotrace_cli("run", "--policy", "p.toml", "--", "true", cwd=tmp_path), 3)
    assert message in line


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("", "--allow needs a path"),
        ("=", "an exact entry is"),
        ("/tmp/[z-a]", "the range z-a is written backwards"),
    ],
)
def test_an_allow_that_means_nothing_is_a_usage_error(tmp_path: Path, entry: str, message: str) -> None:
    line = _one_line_error(rotrace_cli("run", "--allow", entry, "--", "true", cwd=tmp_path), 2)
    assert message in line
    (tmp_path / "p.toml").write_text('allow = ["/tmp/[z-a]"]')
    line = _one_line_error(rotrace_cli("run", "--policy", "p.toml", "--", "true", cwd=tmp_path), 3)
    assert "p.toml: allow entry '/tmp/[z-a]': the range z-a is written backwards" in line


@pytest.mark.parametrize("keep", [[], ["--keep-writes"]])
def test_read_only_with_the_root_allowed_is_one_line(tmp_path: Path, keep: list[str]) -> None:
    """`--read-only --allow /`: the sandbox's tmpfs over / hid rotrace's own Python, and bwrap's
    `execvp ... No such file or directory` came out before rotrace's line (exit 5)."""
    argv = ["run", "--read-only", *keep, "--allow", "/", "--", "true"]
    line = _one_line_error(rotrace_cli(*argv, cwd=tmp_path), 2)
    assert "--read-only with / allowed" in line
    (tmp_path / "p.toml").write_text('allow = ["/"]\n')
    line = _one_line_error(
        rotrace_cli("run", "--read-only", "--policy", "p.toml", "--", "true", cwd=tmp_path), 2
    )
    assert "--read-only with / allowed" in line


@pytest.mark.parametrize("value", ["[" * 100_000 + "]" * 100_000, "{b = " * 50_000 + "1" + "}" * 50_000])
@pytest.mark.parametrize("where", ["--policy", "pyproject.toml found upward"])
def test_a_policy_nested_past_the_parser_is_one_line(tmp_path: Path, value: str, where: str) -> None:
    name = "pyproject.toml" if where.startswith("pyproject") else "p.toml"
    (tmp_path / name).write_text(f"a = {value}\n")
    assert rotrace_cli("run", "--json", "t.json", "--", "true", cwd=tmp_path).returncode == 0
    args = ["--policy", name] if name == "p.toml" else []
    line = _one_line_error(rotrace_cli("check", *args, "t.json", cwd=tmp_path), 3)
    assert line.startswith("rotrace: error: policy ") and line.endswith(
        f"{name}: invalid TOML: nested too deeply"
    )
    if name == "p.toml":
        line = _one_line_error(rotrace_cli("run", "--policy", name, "--", "true", cwd=tmp_path), 3)
        assert line == f"rotrace: error: policy {name}: invalid TOML: nested too deeply"


@pytest.mark.parametrize(
    "policy",
    ['allow = ["/var/tmp/x\\u0000y"]', 'allow_bytes = ["/var/tmp/%00"]', 'persistent = ["/var/tmp/p\\u0000"]',
     'allow = ["=/var/tmp/\\u0000"]', 'allow = ["/var/tmp/*\\u0000"]'],
)  # fmt: skip
@pytest.mark.parametrize("how", ["run", "run --enforce", "run --read-only", "check"])
def test_a_policy_entry_with_a_nul_byte_is_one_line(tmp_path: Path, policy: str, how: str) -> None:
    """No path holds a NUL byte: an entry with one means nothing, and the kernel interfaces
    (Landlock's open of each path, bwrap's arguments) cannot even be given it."""
    (tmp_path / "p.toml").write_text(policy + "\n")
    trace = tmp_path / "t.json"
    if how == "check":
        assert rotrace_cli("run", "--json", str(trace), "--", "true", cwd=tmp_path).returncode == 0
    tail = [str(trace)] if how == "check" else ["--", "true"]
    line = _one_line_error(rotrace_cli(*how.split(), "--policy", "p.toml", *tail, cwd=tmp_path), 3)
    assert (
        "p.toml: allow entry '" in line
        and "\\x00" in line
        and line.endswith("holds a NUL byte, which no path can")
    )


@pytest.mark.parametrize(
    ("entrypoint", "message"),
    [
        ("[" * 100_000, "expected a JSON array of strings"),
        ('["/app/start", "\\ud800"]', "'\\ud800' holds a NUL or is not UTF-8"),
        ('["/app/start", "a\\u0000b"]', "'a\\x00b' holds a NUL or is not UTF-8"),
        (os.fsdecode(b"/app/st\xffart"), "'/app/st\\xffart' holds a NUL or is not UTF-8"),
    ],
    ids=["nested", "lone surrogate", "NUL", "not UTF-8"],
)
def test_an_entrypoint_no_manifest_can_run_is_a_usage_error(
    tmp_path: Path, entrypoint: str, message: str
) -> None:
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: app, image: x}\n"
    (tmp_path / "pod.yaml").write_text(pod)
    proc = rotrace_cli("kube", "record", "pod.yaml", "--entrypoint", entrypoint, cwd=tmp_path)
    line = _one_line_error(proc, 2)
    assert line.startswith("rotrace: error: --entrypoint: ") and message in line and proc.stdout == ""


@pytest.mark.parametrize("name", ["t.json", "./t.json", "hard.json", "link.json"])
def test_check_never_writes_over_the_trace_it_reads(tmp_path: Path, name: str) -> None:
    """--json naming the trace check reads (by any name) would empty it before its events are
    read: refused, and the trace kept."""
    assert rotrace_cli("run", "--json", "t.json", "--", "true", cwd=tmp_path).returncode == 0
    os.link(tmp_path / "t.json", tmp_path / "hard.json")
    os.symlink("t.json", tmp_path / "link.json")
    before = (tmp_path / "t.json").read_bytes()
    line = _one_line_error(rotrace_cli("check", "--json", name, "t.json", cwd=tmp_path), 2)
    assert line == f"rotrace: error: --json {name} is the trace it re-classifies: write it to another file"
    assert (tmp_path / "t.json").read_bytes() == before


@pytest.mark.parametrize(
    ("option", "value"),
    [("--traces", "pvc:Traces"), ("--traces", "pvc:a\nb"), ("--traces", "pvc:a_b"),
     ("--traces", "hostPath:/srv/\x00"), ("--image", "a\nb"), ("--image", "reg/app:1 --privileged"),
     ("--image", "")],
)  # fmt: skip
def test_a_record_option_no_manifest_can_hold_is_a_usage_error(
    tmp_path: Path, option: str, value: str
) -> None:
    """A claim's name is a DNS-1123 subdomain, an image reference one printable word: anything
    else would be written into the manifest for the cluster to refuse (or to read otherwise)."""
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: app, image: x}\n"
    (tmp_path / "pod.yaml").write_text(pod)
    argv = ["kube", "record", "pod.yaml", "--entrypoint", "/app/start", option, value]
    if "\x00" in value:  # no command line holds a NUL: the check behind the option, called as the CLI does
        from rotrace.kube.record import traces_volume

        with pytest.raises(BadOption):
            traces_volume(value)
        return
    proc = rotrace_cli(*argv, cwd=tmp_path)
    line = _one_line_error(proc, 2)
    assert line.startswith(f"rotrace: error: {option} '") and proc.stdout == ""


def test_a_trace_that_cannot_be_written_keeps_the_report(tmp_path: Path) -> None:
    proc = rotrace_cli("run", "--json", "/dev/full", "--", "touch", str(tmp_path / "x"), cwd=tmp_path)
    line = _one_line_error(proc, 3)
    assert "/dev/full" in line and "No space left on device" in line
    assert "exit status 0" in proc.stderr  # the report came first


def test_json_to_a_closed_stdout(tmp_path: Path) -> None:
    proc = subprocess.run([PY, "-m", "rotrace", "run", "--json", "-", "--", "true"], cwd=tmp_path,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          preexec_fn=lambda: __import__("os").close(1))  # fmt: skip
    assert proc.returncode == 3 and "standard output is closed" in proc.stderr


CLOSED_STDOUT_RUNS = [
    (["--bogus"], 2),
    (["-h"], 0),
    (["--policy", "missing.toml", "--", "true"], 3),
    (["-q", "--", "true"], 0),
]


@pytest.mark.parametrize(("args", "status"), CLOSED_STDOUT_RUNS)
def test_a_closed_stdout_keeps_the_status_of_what_run_says(
    tmp_path: Path, args: list[str], status: int
) -> None:
    """Nothing to print on stdout (a usage error, a bad policy, -q): the status is the one a
    stdout open would give, with at most one line on stderr."""
    proc = subprocess.run([PY, "-m", "rotrace", "run", *args], cwd=tmp_path, stderr=subprocess.PIPE,
                          text=True, preexec_fn=lambda: __import__("os").close(1), timeout=60)  # fmt: skip
    assert proc.returncode == status, proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.startswith("rotrace")]) <= 1, proc.stderr


@pytest.mark.parametrize(("args", "status"), [(["run", "--", "true"], 3), (["run", "--bogus"], 2)])
def test_a_full_stderr_leaves_the_status_to_say_it(tmp_path: Path, args: list[str], status: int) -> None:
    """stderr on a full device: the report (or the usage message) cannot be written, and the
    status says which (3: an unwritable output), never Python's 1 for an error about the error."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run([PY, "-m", "rotrace", *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=full, timeout=60)  # fmt: skip
    assert proc.returncode == status


@pytest.mark.parametrize("args", [["--help"], ["check", "--help"], ["run", "--help"]])
def test_help_to_a_full_stdout_is_one_line_and_status_3(tmp_path: Path, args: list[str]) -> None:
    """The help cannot be written (/dev/full refuses even an empty write): said, never a silent 0."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run([PY, "-m", "rotrace", *args], cwd=tmp_path, stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.splitlines() == ["rotrace: error: stdout: No space left on device"], proc.stderr


def test_a_closed_stderr_keeps_the_verdict_and_the_export_clean(tmp_path: Path) -> None:
    """Nowhere to report: the exit status still says it, and no note strays into stdout."""
    out, app = tmp_path / "out", tmp_path / "app"
    out.mkdir()
    app.mkdir()
    write = f"open({str(out / 'f')!r}, 'w').close()"
    argv = [PY, "-m", "rotrace", "run", "--policy", str(tmp_path / "p.toml"), "--emit", "docker",
            "--json", str(tmp_path / "t.json"), "--", PY, "-c", write]  # fmt: skip
    (tmp_path / "p.toml").write_text("version = 1\ndefaults = false\n")
    proc = subprocess.run(argv, cwd=app, capture_output=True, text=True,
                          preexec_fn=lambda: __import__("os").close(2))  # fmt: skip
    assert proc.returncode == 1, proc.stdout
    kept = [f"--env=PYTHONDONTWRITEBYTECODE={v}" for v in [os.environ.get("PYTHONDONTWRITEBYTECODE")] if v]
    assert proc.stdout.splitlines() == ["--read-only", f"--tmpfs={out}:exec", *kept]  # the run's
    assert json.loads((tmp_path / "t.json").read_text())["summary"]["violations"] == 1


def test_a_command_that_removes_the_trace_directory(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    proc = rotrace_cli("run", "--json", str(work / "t.json"), "--", "sh", "-c", f"rm -rf {work}; touch x",
                       cwd=tmp_path)  # fmt: skip
    line = _one_line_error(proc, 3)
    assert "removed" in line and "t.json" in line
    assert "writes" in proc.stderr  # the report is there


def test_names_with_newlines_cannot_inject_into_generated_files(tmp_path: Path) -> None:
    evil = tmp_path / 'x\nversion = 2\n"hostPID: true'
    proc = rotrace_cli("run", "--json", "t.json", "--", PY, "-c", f"import os; os.makedirs({str(evil)!r})",
                       cwd=tmp_path)  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    import tomllib

    import yaml

    policy = rotrace_cli("allowlist", "t.json", "--format", "policy", cwd=tmp_path)
    assert set(tomllib.loads(policy.stdout)) <= {"version", "defaults", "allow", "env"}
    k8s = rotrace_cli("allowlist", "t.json", "--format", "k8s", cwd=tmp_path)
    assert set(yaml.safe_load(k8s.stdout)) == {"spec"}
    assert "hostPID" not in yaml.safe_load(k8s.stdout)["spec"]


def test_a_call_killed_inside_is_no_result_not_ok(tmp_path: Path) -> None:
    code = "import os, signal, threading\nos.mkfifo('fifo')\n" \
           "threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()\n" \
           "open('fifo', 'w')"  # fmt: skip
    proc = rotrace_cli("run", "-v", "--json", "t.json", "--", PY, "-c", code, cwd=tmp_path)
    trace = json.loads((tmp_path / "t.json").read_text())
    (event,) = [e for e in trace["events"] if e["path"].endswith("/fifo") and e["syscall"] == "openat"]
    assert event["result"] is None
    assert "no result" in proc.stderr


@pytest.mark.parametrize("grace", ["nan", "-1", "soon"])
def test_a_grace_period_that_is_no_duration_is_a_usage_error(grace: str) -> None:
    proc = subprocess.run(
        [PY, "-m", "rotrace", "run", "--grace", grace, "--", "true"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "--grace" in proc.stderr and "Traceback" not in proc.stderr


_POD = (
    "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"
    "spec: {terminationGracePeriodSeconds: %s, containers: [{name: a, image: b, command: [x]}]}\n"
)


@pytest.mark.parametrize(
    ("grace", "command", "message"),
    [
        ("9" * 5000, "record", "a number too long"),
        ("9" * 5000, "harden", "a number too long"),
        ("1e999", "record", "terminationGracePeriodSeconds is not a number of seconds"),
        (".nan", "record", "terminationGracePeriodSeconds is not a number of seconds"),
        (str(1 << 63), "record", "terminationGracePeriodSeconds is not a number of seconds"),
    ],
)
def test_a_grace_period_kubernetes_would_refuse_is_one_line(
    tmp_path: Path, grace: str, command: str, message: str
) -> None:
    """terminationGracePeriodSeconds is an int64 to Kubernetes: a number past it, infinite, not
    a number, or one Python cannot convert, is bad input (3), not an internal error (70)."""
    (tmp_path / "pod.yaml").write_text(_POD % grace)
    made = rotrace_cli("run", "-q", "--json", "t.json", "--", "true", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    args = ["--entrypoint", "/x"] if command == "record" else ["--from", "t.json"]
    line = _one_line_error(rotrace_cli("kube", command, "pod.yaml", *args, cwd=tmp_path), 3)
    assert message in line
