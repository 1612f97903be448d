"""The command line as users run it: exit statuses, the JSON trace, report/check round trips,
and one-line errors for bad input."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from pathlib import Path

import pytest

from tests.support.tracing import NON_ROOT_PYTHON, PY, portable_site, rotrace_cli


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return rotrace_cli("run", *args, cwd=tmp_path)


def test_clean_run_exits_0(tmp_path: Path) -> None:
    proc = _run(tmp_path, "--", "sh", "-c", "echo hi > /tmp/rotrace-cli-ok; rm /tmp/rotrace-cli-ok")
    assert proc.returncode == 0, proc.stderr
    assert "✓ no violations" in proc.stderr


def test_violation_exits_1_and_names_the_directory(tmp_path: Path) -> None:
    outside = tmp_path / "not-allowed"
    proc = _run(tmp_path, "--allow", "/nowhere", "--json", "t.json", "--", "sh", "-c", f"mkdir {outside}")
    # tmp_path is under /tmp (allowed by default) in CI: drop the defaults with a policy
    if proc.returncode == 0:
        policy = tmp_path / "p.toml"
        policy.write_text("defaults = false\n")
        proc = _run(
            tmp_path,
            "--policy",
            str(policy),
            "--json",
            "t.json",
            "--",
            "sh",
            "-c",
            f"rmdir {outside}",
        )
    assert proc.returncode == 1, proc.stderr
    assert "Violations" in proc.stderr and str(tmp_path) in proc.stderr


def test_failed_command_exits_8_and_both_exit_9(tmp_path: Path) -> None:
    assert _run(tmp_path, "--", "sh", "-c", "exit 3").returncode == 8
    proc = _run(tmp_path, "--", "sh", "-c", "kill -KILL $$")
    assert proc.returncode == 8 and "killed by SIGKILL" in proc.stderr
    policy = tmp_path / "p.toml"
    policy.write_text("defaults = false\n")
    proc = _run(tmp_path, "--policy", str(policy), "--", "sh", "-c", "touch x; exit 1")
    assert proc.returncode == 9, proc.stderr


def test_json_trace_schema(tmp_path: Path) -> None:
    proc = _run(tmp_path, "--json", "-", "--", "sh", "-c", "echo hi > out.txt; echo to-stdout")
    assert proc.returncode == 0, proc.stderr
    trace = json.loads(proc.stdout)  # stdout holds only the JSON: the command's went to stderr
    assert "to-stdout" in proc.stderr
    assert trace["schema"] == 3 and trace["command"] == [
        "sh",
        "-c",
        "echo hi > out.txt; echo to-stdout",
    ]
    assert trace["cwd"] == str(tmp_path) and trace["exit_code"] == 0 and "/tmp" in trace["allowlist"]
    (event,) = [e for e in trace["events"] if e["path"] == str(tmp_path / "out.txt")]
    assert event["syscall"] == "openat" and event["op"] == "create" and event["write"] is True
    assert event["flags"] == "O_WRONLY|O_CREAT|O_TRUNC" and event["errno"] is None and event["result"] >= 0
    assert event["exe"].endswith("sh") and event["pid"] == event["tid"] and event["target"] is None
    assert set(event) >= {"allowed", "venv", "mode", "pid", "tid", "exe", "path", "result"}
    assert trace["summary"] == {"events": 1, "writes": 1, "violations": 0, "venv_writes": 0, "ro_failures": 0,
                                "went_through": 0}  # fmt: skip
    assert event["ro_forecast"] == "ok"  # tmp_path is under /tmp, writable by default


def test_non_utf8_path_round_trips_through_json(tmp_path: Path) -> None:
    proc = _run(tmp_path, "--json", "t.json", "--", PY, "-c", "open(b'caf\\xe9\\x1b[2J', 'w').close()")
    assert proc.returncode == 0
    assert "\x1b" not in proc.stderr
    trace = json.loads((tmp_path / "t.json").read_text())
    paths = [os.fsencode(e["path"]) for e in trace["events"]]
    assert os.fsencode(tmp_path) + b"/caf\xe9\x1b[2J" in paths


def test_report_and_check_round_trip(tmp_path: Path) -> None:
    proc = _run(tmp_path, "--json", "t.json", "--", "sh", "-c", "mkdir -p data/sub; touch data/sub/f")
    assert proc.returncode == 0
    report = rotrace_cli("report", "t.json", cwd=tmp_path)
    assert report.returncode == 0 and report.stderr == proc.stderr  # the same report as `run`
    policy = tmp_path / "p.toml"
    policy.write_text("defaults = false\n")
    strict = rotrace_cli("check", "t.json", "--policy", str(policy), "--json", "strict.json", cwd=tmp_path)
    assert strict.returncode == 1 and "Violations" in strict.stderr
    data = json.loads((tmp_path / "strict.json").read_text())
    assert data["summary"]["violations"] == data["summary"]["writes"] > 0
    relaxed = rotrace_cli("check", "strict.json", "--policy", str(policy), "--allow", str(tmp_path / "data"),
                          cwd=tmp_path)  # fmt: skip
    assert relaxed.returncode == 0, relaxed.stderr


def test_flags_without_a_name_are_read_back(tmp_path: Path) -> None:
    """Bits the tracer has no name for are written in hex (as strace does); the trace that holds
    them is still one rotrace reads (report, check)."""
    code = (
        "import ctypes; libc = ctypes.CDLL(None, use_errno=True); open('a', 'w').close()\n"
        "libc.unlinkat(-100, b'a', 0x1); libc.renameat2(-100, b'a', -100, b'b', 0x8)"
    )
    proc = _run(tmp_path, "--json", "t.json", "--", PY, "-c", code)
    assert proc.returncode == 0, proc.stderr
    flags = {e["syscall"]: e["flags"] for e in json.loads((tmp_path / "t.json").read_text())["events"]}
    assert flags["unlinkat"] == "0x1" and flags["renameat2"] == "0x8"
    report = rotrace_cli("report", "t.json", cwd=tmp_path)
    assert report.returncode == 0 and report.stderr == proc.stderr, report.stderr
    assert rotrace_cli("check", "t.json", cwd=tmp_path).returncode == 0


def test_hostile_names_are_escaped_not_interpreted(tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text("defaults = false\n")
    name = "[bold red]x\x1b[31m\nFAKE"
    code = f"open({name!r}, 'w').close()"
    proc = _run(tmp_path, "--policy", str(policy), "--", PY, "-c", code)
    assert proc.returncode == 1
    assert "[bold red]x\\x1b[31m\\x0aFAKE" in proc.stderr
    assert "\x1b" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["run", "--", "no-such-command-xyz"], 127, "command not found: no-such-command-xyz"),
        (["run", "--", "./plain.txt"], 126, "not executable: ./plain.txt (Permission denied)"),
        (["run", "--", "./data.bin"], 126, "not executable: ./data.bin (Exec format error)"),
        (["run", "--", "/"], 126, "not executable"),
        (["run", "--policy", "/nonexistent.toml", "--", "true"], 3, "cannot read policy"),
        (["report", "/nonexistent.json"], 3, "cannot read trace"),
        (
            ["run", "--json", "{tmp}/missing/t.json", "--", "true"],  # a directory that is not there
            3,
            "cannot write the trace to {tmp}/missing/t.json",
        ),
        (["run", "--bogus-flag"], 2, None),
        (["run"], 2, None),
    ],
)
def test_clear_errors(tmp_path: Path, args: list[str], status: int, message: str | None) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"\0\1\2 not a program")
    data.chmod(0o755)
    (tmp_path / "plain.txt").write_text("not executable\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    message = None if message is None else message.replace("{tmp}", str(tmp_path))
    proc = rotrace_cli(*args, cwd=tmp_path)
    assert proc.returncode == status, proc.stderr
    assert "Traceback" not in proc.stderr
    if message:
        assert message in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.bad_traces
def test_bad_trace_and_policy_content(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    proc = rotrace_cli("report", "bad.json", cwd=tmp_path)
    assert proc.returncode == 3 and "not a rotrace JSON trace" in proc.stderr
    proc = _run(tmp_path, "--json", "good.json", "--", "sh", "-c", "touch x")
    trace = json.loads((tmp_path / "good.json").read_text())
    trace["events"][0]["op"] = "bogus"
    (tmp_path / "bogus.json").write_text(json.dumps(trace))
    proc = rotrace_cli("report", "bogus.json", cwd=tmp_path)
    assert proc.returncode == 3 and "event 0 is malformed" in proc.stderr and "unknown op" in proc.stderr
    (tmp_path / "p.toml").write_text("allow = [1, 2]")
    proc = rotrace_cli("run", "--policy", "p.toml", "--", "true", cwd=tmp_path)
    assert proc.returncode == 3 and "p.toml" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.needs("strace")
@pytest.mark.parametrize("mode", [[], ["--enforce"]], ids=["plain", "enforce"])
def test_ptrace_refused_because_already_traced(tmp_path: Path, mode: list[str]) -> None:
    """Under `strace -f`, rotrace's child is already traced, so PTRACE_SEIZE is refused: the
    message names the tracer that holds it, not a container policy. A confined run loads
    python-ptrace before the command starts, which typed the C library's ptrace as unsigned:
    the refusal read as a result, and the command ran untraced ("no violations", exit 0)."""
    proc = subprocess.run(
        ["strace", "-f", "-qq", "-o", "/dev/null", PY, "-m", "rotrace", "run", *mode, "--", "true"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 4, proc.stderr
    assert "ptrace refused (EPERM)" in proc.stderr and "already traced by strace" in proc.stderr


def test_a_refused_ptrace_request_raises_with_python_ptrace_loaded() -> None:
    """python-ptrace types the C library's ptrace as it needs: rotrace's requests keep theirs."""
    program = textwrap.dedent(
        """
        import os
        from rotrace.tracer.linux import kernel, registers
        try:
            kernel.ptrace(kernel.PTRACE_CONT, os.getpid(), 0, 0)  # no tracee of this process's
        except kernel.PtraceError as exc:
            print("refused", exc.errno)
        """
    )
    proc = subprocess.run([PY, "-c", program], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["refused", str(errno.ESRCH)], proc.stderr
    assert "SYS_PTRACE" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(
    not os.path.exists(NON_ROOT_PYTHON), reason="needs a system python3 for the non-root user"
)
def test_runs_as_a_non_root_user() -> None:
    """Real users are not root: tracing works, and EACCES shows up as the kernel returns it."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-nonroot-"))  # pytest's tmp_path is private to root
    try:
        _run_as_nobody(base)
    finally:
        shutil.rmtree(base)


def _run_as_nobody(base: Path) -> None:
    site = portable_site(base / "site")
    work = base / "work"
    work.mkdir()
    base.chmod(0o755)
    work.chmod(0o777)
    prefix = [] if os.geteuid() else ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]

    def rotrace_as_nobody(*args: str) -> dict:  # type: ignore[type-arg]
        proc = subprocess.run(
            [*prefix, NON_ROOT_PYTHON, "-m", "rotrace", "run", *args],
            cwd=work, env={"PYTHONPATH": str(site), "PATH": os.defpath, "HOME": str(work)},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        return json.loads((work / "t.json").read_text())  # type: ignore[no-any-return]

    # The user's tracer is the compiled loop when that Python can load the one built here.
    which = (
        "import sysconfig; from rotrace.tracer.loop import compiled_loop as c; "
        "print(sysconfig.get_config_var('EXT_SUFFIX'), c())"
    )
    loop = subprocess.run([*prefix, NON_ROOT_PYTHON, "-c", which], env={"PYTHONPATH": str(site)},
                          capture_output=True, text=True)  # fmt: skip
    suffix, compiled = loop.stdout.split()
    assert compiled == str(suffix == sysconfig.get_config_var("EXT_SUFFIX")), loop.stderr
    trace = rotrace_as_nobody(
        "--json", "t.json", "--", "sh", "-c", "touch mine; touch /etc/rotrace-denied; true"
    )
    denied = [e for e in trace["events"] if e["path"] == "/etc/rotrace-denied"]
    assert (denied[0]["syscall"], denied[0]["errno"], denied[0]["allowed"]) == ("openat", "EACCES", False)
    assert any(e["path"] == str(work / "mine") and e["errno"] is None for e in trace["events"])
    # Landlock: no root, no namespace; the directory is writable by anyone, only the policy says no
    (work / "allowed").mkdir()
    (work / "allowed").chmod(0o777)
    (work / "enforce.toml").write_text(f'defaults = false\nallow = ["{work / "allowed"}", "=/dev/null"]\n')
    trace = rotrace_as_nobody(
        "--enforce", "--policy", "enforce.toml", "--json", "t.json", "--", "sh", "-c",
        "touch allowed/yes; touch no; true",
    )  # fmt: skip
    results = {e["path"]: e["errno"] for e in trace["events"] if e["syscall"] == "openat"}
    assert results == {str(work / "allowed" / "yes"): None, str(work / "no"): "EACCES"}
    assert trace["enforced"] >= 1
    if shutil.which("bwrap"):  # the read-only sandbox too, in an unprivileged user namespace
        trace = rotrace_as_nobody(
            "--read-only", "--json", "t.json", "--", "sh", "-c", "touch /tmp/fine; touch mine-too; true"
        )
        errors = {e["path"]: e["errno"] for e in trace["events"] if e["syscall"] == "openat"}
        assert errors == {"/tmp/fine": None, str(work / "mine-too"): "EROFS"}


def test_help_documents_exit_statuses() -> None:
    proc = subprocess.run([PY, "-m", "rotrace", "run", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for line in ("Exit status", "127", "violations"):
        assert line in proc.stdout
    assert "Traceback" not in proc.stderr and sys.executable


@pytest.mark.parametrize("word", ["export", "plan"])
def test_a_word_for_the_export_names_the_command_that_writes_it(word: str) -> None:
    """The docs say "export"; click's guess for it was 'report'."""
    run = rotrace_cli(word, "trace.json")
    assert run.returncode == 2, run.stderr
    assert "rotrace allowlist TRACE --format " in run.stderr and "Did you mean" not in run.stderr


def test_a_policy_setting_naming_another_users_directory_is_said() -> None:
    """A plan names places in a container's own /tmp (UV_CACHE_DIR=/tmp/uv-cache); replayed on a
    shared machine, another user's directory of that name made the command fail ("1 allowed
    write denied") with nothing saying why. Under --read-only the sandbox's /tmp is the run's
    own (a tmpfs): nothing to say there, but with --keep-writes (the host's /tmp bound)."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-theirs-", dir="/var/tmp"))
    theirs = Path(tempfile.mkdtemp(prefix="rotrace-theirs-", dir="/tmp"))
    try:
        site = portable_site(base / "site")
        base.chmod(0o755)
        theirs.chmod(0o755)  # root's, which uid 65534 may not write
        policy = base / "rotrace.toml"
        policy.write_text(f'version = 1\nallow = ["/tmp"]\n[env]\nUV_CACHE_DIR = "{theirs}"\n')
        nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", NON_ROOT_PYTHON]
        env = {"PYTHONPATH": str(site), "PATH": os.defpath, "HOME": "/tmp", "UV_CACHE_DIR": str(theirs)}
        runs = (
            ([*nobody, "-m", "rotrace"], [], True),
            ([PY, "-m", "rotrace"], [], False),  # root's own
            ([*nobody, "-m", "rotrace"], ["--read-only"], False),
            ([*nobody, "-m", "rotrace"], ["--read-only", "--keep-writes"], True),
        )
        for argv, options, said in runs:
            line = [*argv, "run", "-q", *options, "--policy", str(policy), "--", "true"]
            proc = subprocess.run(line, cwd=base, env=env, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr
            note = f"UV_CACHE_DIR={theirs} is a directory another user owns here"
            assert (note in proc.stderr) == said, proc
    finally:
        shutil.rmtree(base)
        shutil.rmtree(theirs)
