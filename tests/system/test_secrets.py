"""No secret reaches what rotrace writes (redact.py): a real command run with credentials in its
environment and its arguments, then every artifact looked at byte by byte: the JSON trace, the
report, the report document, the GitHub annotations and step summary, the exports, a check's
trace, a diff; a trace an older rotrace wrote, secrets and all, is masked when it is read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.support.attaching import attached
from tests.support.tracing import rotrace_cli

DATA = Path(__file__).parent.parent / "data"

INDEX_TOKEN = "idxTOKEN7f3a9c"  # token as the user name of UV_INDEX_URL
PROXY_PASSWORD = "prxPW41b7e2"  # PIP_PROXY=user:password@proxy:3128
PUBLISH_TOKEN = "pubTOKEN-5d1e88"  # UV_PUBLISH_TOKEN: withheld by name
ENV_TOKEN = "ghs_envTOKEN0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c"  # GITHUB_TOKEN: not recorded, but known
ARG_PASSWORD = "s3cretPW9e8d"  # --password=...
URL_PASSWORD = "urlPW2c4e6a"  # https://alice:...@host in an argument
TOKEN_VALUE = "tokVAL8b6d4f"  # --token VALUE, in a child's command line
LABEL_TOKEN = "lblTOKEN3e5a7c"  # run --label token=...
SECRETS = (INDEX_TOKEN, PROXY_PASSWORD, PUBLISH_TOKEN, ENV_TOKEN, ARG_PASSWORD, URL_PASSWORD, TOKEN_VALUE,
           LABEL_TOKEN)  # fmt: skip


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("COLUMNS", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")
    }
    env.update(
        UV_INDEX_URL=f"https://{INDEX_TOKEN}@pypi.example.invalid/simple",
        PIP_PROXY=f"bob:{PROXY_PASSWORD}@proxy.example.invalid:3128",
        UV_PUBLISH_TOKEN=PUBLISH_TOKEN,
        GITHUB_TOKEN=ENV_TOKEN,
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"),
    )
    env.update(extra)
    return env


def _assert_clean(what: str, text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{what} holds {leaked}:\n{text[:3000]}"


def _everything_read_from(trace: Path, tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    """What each reader of a saved trace prints or writes."""
    out: dict[str, str] = {}
    for name, args in {
        "report": ["report", str(trace)],
        "report -v": ["report", "-v", str(trace)],
        "report --format json": ["report", str(trace), "--format", "json"],
        "check": ["check", str(trace), "--json", str(tmp_path / "checked.json")],
        "diff": ["diff", str(DATA / "uv-pip-install.json"), str(trace), "--format", "json"],
        "merge": ["merge", str(trace), "-o", str(tmp_path / "merged.json")],
        **{
            f"allowlist {f}": ["allowlist", str(trace), "--format", f] for f in ("k8s", "compose", "apparmor")
        },
    }.items():
        proc = rotrace_cli(*args, cwd=tmp_path, env=env)
        assert proc.returncode in (0, 1), (name, proc.stderr)
        out[name] = proc.stdout + proc.stderr
    out["check's trace"] = (tmp_path / "checked.json").read_text()
    out["the merged trace"] = (tmp_path / "merged.json").read_text()
    out["step summary"] = (tmp_path / "summary.md").read_text()
    return out


def test_no_secret_reaches_any_artifact_of_a_run(tmp_path: Path) -> None:
    env = _env(tmp_path)
    outside = "/var/tmp/rotrace-secrets-$$"  # a violation: GitHub annotations too
    # a symbolic link's content is what the command gave (a remote's URL, a token, a password
    # its command line shows): masked too, also where a venv made after it has the events
    # classified again at the end
    links = 'ln -s "$2" "$0.url"; ln -s "$5" "$0.token"; ln -s "${1#--password=}" "$0.pw"'
    links += f'; {sys.executable} -m venv --without-pip "$0.venv"'
    script = f'echo x > "$0"; echo y > {outside}; rm {outside}; {links}; /bin/true "$3" "$4" "$5"'
    url = f"https://alice:{URL_PASSWORD}@example.invalid/x"
    command = ["sh", "-c", script, str(tmp_path / "out"), f"--password={ARG_PASSWORD}", url, "--token",
               TOKEN_VALUE, ENV_TOKEN]  # fmt: skip
    labels = ["--label", f"token={LABEL_TOKEN}", "--label", "app=web"]
    argv = ["run", "--json", "t.json", "--emit", "k8s", *labels, "--", *command]
    run = rotrace_cli(*argv, cwd=tmp_path, env=env)
    assert run.returncode == 1, run.stderr
    assert "::error" in run.stderr
    _assert_clean("rotrace run's stdout and stderr", run.stdout + run.stderr)
    raw = (tmp_path / "t.json").read_text()
    _assert_clean("the JSON trace", raw)
    trace = json.loads(raw)
    # what was masked keeps its place
    assert trace["command"][4:] == [
        "--password=***",
        "https://***@example.invalid/x",
        "--token",
        "***",
        "***",
    ]
    assert trace["environment"]["UV_INDEX_URL"] == "https://***@pypi.example.invalid/simple"
    assert trace["environment"]["PIP_PROXY"] == "***@proxy.example.invalid:3128"
    assert trace["environment"]["UV_PUBLISH_TOKEN"] == "<redacted>"
    child = next(p for p in trace["processes"] if p["cmdline"][:1] == ["/bin/true"])
    assert child["cmdline"] == ["/bin/true", "--token", "***", "***"]  # ENV_TOKEN: known from the environment
    assert any(e["path"] == str(tmp_path / "out") for e in trace["events"])  # paths are kept
    assert trace["labels"] == {"token": "<redacted>", "app": "web"}
    links = {e["path"]: e["target"] for e in trace["events"] if e["op"] == "symlink"}
    assert {p: t for p, t in links.items() if not p.startswith(f"{tmp_path}/out.venv")} == {
        f"{tmp_path}/out.url": "https://***@example.invalid/x",
        f"{tmp_path}/out.token": "***",
        f"{tmp_path}/out.pw": "***",
    }
    for what, text in _everything_read_from(tmp_path / "t.json", tmp_path, env).items():
        _assert_clean(what, text)


def test_a_trace_written_with_secrets_is_masked_when_read(tmp_path: Path) -> None:
    """A trace from an older rotrace holds the secrets verbatim: no report of it shows them,
    and a check writes a trace without them. The value of a secret-named variable it recorded
    is masked wherever it is, a bare argument too, by a reader or a merge."""
    trace = json.loads((DATA / "uv-pip-install.json").read_text())
    trace["command"] = ["uv", "pip", "install", "--index-url", f"https://alice:{URL_PASSWORD}@h.invalid/simple",
                        f"--password={ARG_PASSWORD}", "six", PUBLISH_TOKEN]  # fmt: skip
    trace["processes"][0]["cmdline"] = ["uv", "publish", "--token", TOKEN_VALUE]
    trace["environment"].update(
        UV_INDEX_URL=f"https://{INDEX_TOKEN}@h.invalid/simple",
        UV_PUBLISH_TOKEN=PUBLISH_TOKEN,
        PIP_PROXY=f"bob:{PROXY_PASSWORD}@proxy:3128",
    )
    trace["warnings"] = [f"the command ran `uv publish --password={ARG_PASSWORD}` with {PUBLISH_TOKEN}"]
    link = dict(trace["events"][0], op="symlink", syscall="symlink", path="/tmp/origin", result=0)
    trace["events"].append(dict(link, target=f"https://alice:{URL_PASSWORD}@git.invalid/r.git"))
    trace["events"].append(dict(link, path="/tmp/pw", target=ARG_PASSWORD))  # known from its command line
    old = tmp_path / "old.json"
    old.write_text(json.dumps(trace))
    env = _env(tmp_path)
    for what, text in _everything_read_from(old, tmp_path, env).items():
        _assert_clean(what, text)
    checked = json.loads((tmp_path / "checked.json").read_text())
    assert checked["command"][4:6] == ["https://***@h.invalid/simple", "--password=***"]
    assert checked["processes"][0]["cmdline"] == ["uv", "publish", "--token", "***"]


SERVICE = textwrap.dedent("""
    import sys, time
    out = sys.argv[1]
    for i in range(6000):
        open(f"{out}/tick", "w").close()
        time.sleep(0.01)
""")


def _attach(pid: int, tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    """`rotrace run -p PID --json t.json` in tmp_path, its stdout piped, once it is attached."""
    argv = [sys.executable, "-m", "rotrace", "run", "-p", str(pid), "--json", "t.json"]
    return attached(argv, cwd=tmp_path, stdout=subprocess.PIPE, env=_env(tmp_path))


def _let_go(rotrace: subprocess.Popen[str], said: str) -> tuple[str, str]:
    """^C to an attached rotrace: its stdout and its whole stderr."""
    rotrace.send_signal(signal.SIGINT)
    out, err = rotrace.communicate(timeout=30)
    return out, said + err


def test_an_attached_process_command_line_is_masked(tmp_path: Path) -> None:
    """`run -p PID`: the command is the process's own command line, read from /proc."""
    service = subprocess.Popen([sys.executable, "-c", SERVICE, str(tmp_path), f"--password={ARG_PASSWORD}",
                                f"https://alice:{URL_PASSWORD}@example.invalid/x"])  # fmt: skip
    try:
        while not (tmp_path / "tick").exists():
            time.sleep(0.01)
        rotrace, said = _attach(service.pid, tmp_path)
        out, err = _let_go(rotrace, said)
    finally:
        service.kill()
        service.wait()
    _assert_clean("rotrace run -p", out + err)
    raw = (tmp_path / "t.json").read_text()
    _assert_clean("the JSON trace", raw)
    assert json.loads(raw)["command"][-2:] == ["--password=***", "https://***@example.invalid/x"]


ATTACHED_SERVICE = textwrap.dedent("""
    import os, sys, time
    out, secret = sys.argv[1], sys.argv[2]
    open(f"{out}/ready", "w").close()
    while not os.path.exists(f"{out}/go"):
        time.sleep(0.01)
    os.symlink(f"/opt/releases/{secret}", f"{out}/current")
    open(f"{out}/done", "w").close()
    time.sleep(60)
""")


def test_an_attached_processs_own_secrets_are_masked_not_only_rotraces(tmp_path: Path) -> None:
    """`run -p PID`: a secret-named variable of the attached process's environment (not of
    rotrace's, which is another shell's) is a secret wherever its value shows: the command
    line it was started with, a link it makes, a checkpoint."""
    secret = "Zq9attachedTokenValue42"
    service_env = {"PATH": os.defpath, "API_TOKEN": secret}
    argv = [sys.executable, "-c", ATTACHED_SERVICE, str(tmp_path), secret]
    service = subprocess.Popen(argv, env=service_env)
    try:
        while not (tmp_path / "ready").exists():
            time.sleep(0.01)
        rotrace, said = _attach(service.pid, tmp_path)
        (tmp_path / "go").touch()
        while not (tmp_path / "done").exists():
            time.sleep(0.01)
        rotrace.send_signal(signal.SIGUSR1)  # a checkpoint
        while not _checkpoint_written(tmp_path / "t.json"):
            time.sleep(0.05)
        assert secret not in (tmp_path / "t.json").read_text()
        out, err = _let_go(rotrace, said)
    finally:
        service.kill()
        service.wait()
    assert rotrace.returncode == 0, err
    raw = (tmp_path / "t.json").read_text()
    assert secret not in out + err and secret not in raw, err
    trace = json.loads(raw)
    assert trace["command"][-1] == "***"
    (link,) = [e for e in trace["events"] if e["op"] == "symlink"]
    assert link["target"] == "/opt/releases/***", link
    report = subprocess.run([sys.executable, "-m", "rotrace", "report", "-v", "t.json"], cwd=tmp_path,
                            capture_output=True, text=True, env=_env(tmp_path))  # fmt: skip
    assert report.returncode in (0, 1) and secret not in report.stdout + report.stderr, report.stderr


def _checkpoint_written(trace: Path) -> bool:
    try:
        return json.loads(trace.read_text()).get("checkpoint") is not None
    except (OSError, ValueError):  # not there yet, or still the run's empty file
        return False


def test_a_links_content_is_masked_with_a_secret_a_later_command_line_shows(tmp_path: Path) -> None:
    """The link is made, and its event sent (a checkpoint asks for every event so far), before
    the program whose `--password=S` shows that S is a secret starts: the run's end reads the
    links again with every secret the run showed."""
    secret = "Zq7Hunter2Secret99"
    (tmp_path / "s.txt").write_text(secret)
    script = 'S=$(cat s.txt); ln -s "/opt/releases/$S" current; read -r _ < go; /bin/true --password="$S"'
    os.mkfifo(tmp_path / "go")
    argv = [sys.executable, "-m", "rotrace", "run", "--json", "t.json", "--", "sh", "-c", script]
    proc = subprocess.Popen(argv, cwd=tmp_path, env=_env(tmp_path), stderr=subprocess.PIPE, text=True)
    try:
        while not (tmp_path / "current").is_symlink():
            time.sleep(0.02)
        proc.send_signal(signal.SIGUSR1)  # the link's event goes out now, its content not yet a secret
        while not _checkpoint_written(tmp_path / "t.json"):
            time.sleep(0.05)
        (tmp_path / "go").write_text("go\n")
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode in (0, 1), err
    raw = (tmp_path / "t.json").read_text()
    assert secret not in raw and secret not in err
    (link,) = [e for e in json.loads(raw)["events"] if e["op"] == "symlink"]
    assert link["target"] == "/opt/releases/***", link


def test_a_secret_a_script_hands_its_child_in_the_environment_is_masked(tmp_path: Path) -> None:
    """rotrace's environment holds no such variable: the script reads the token from a file and
    exports it to the programs it runs (`export API_TOKEN=$(cat token); client "$API_TOKEN"`).
    The child's environment at its exec shows it as a secret: masked in its command line and in
    the content of a link made after, in the trace, the report and the step summary."""
    secret = "Zq9ChildOnlySecret4242"
    (tmp_path / "token.txt").write_text(secret + "\n")
    script = 'export API_TOKEN="$(cat token.txt)"; ln -s "/opt/$API_TOKEN" current; /bin/echo c "$API_TOKEN"'
    env = {k: v for k, v in _env(tmp_path).items() if k != "API_TOKEN"}
    proc = rotrace_cli("run", "--json", "t.json", "--", "sh", "-c", script, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert secret in proc.stdout  # (the command's own output: the program printed it)
    trace = (tmp_path / "t.json").read_text()
    (echo,) = [p for p in json.loads(trace)["processes"] if p["cmdline"][:1] == ["/bin/echo"]]
    assert echo["cmdline"] == ["/bin/echo", "c", "***"], echo
    report = rotrace_cli("report", "-v", "t.json", cwd=tmp_path, env=env)
    summary = (tmp_path / "summary.md").read_text()
    shown = {"trace": trace, "run's report": proc.stderr, "report": report.stdout + report.stderr}
    shown["step summary"] = summary
    for what, text in shown.items():
        assert secret not in text, (what, text[:2000])
