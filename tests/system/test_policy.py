"""The allowlist (defaults, directories, globs, TOML) and venv detection, on real traces."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest

from rotrace.errors import BadInput
from rotrace.events import FileEvent
from rotrace.policy.allowlist import DEFAULT_ALLOW, build_allowlist, load_policy, load_policy_file
from rotrace.policy.verdict import Classifier
from tests.support.as_user import outside  # noqa: F401 - a fixture
from tests.support.tracing import PY, TracePy, rotrace_cli


def test_defaults_allow_tmp_and_harmless_devices() -> None:
    allow = build_allowlist([], None)
    assert allow.entries == list(DEFAULT_ALLOW)
    for path in (
        b"/tmp",
        b"/tmp/x/y",
        b"/dev/null",
        b"/dev/pts/3",
        b"/dev/shm/q",
        b"/proc/self/fd/1",
    ):
        assert allow.allows(path), path
    for path in (b"/tmpfoo", b"/app/.venv/.lock", b"/dev/sda", b"/", b"/home/u/.cache/uv/x"):
        assert not allow.allows(path), path


def test_allow_directories_and_globs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", "/home/me")
    allow = build_allowlist(["data", "~/.cache", "/var/log/*.log", "/srv/**/out"], None)
    assert allow.allows(os.fsencode(tmp_path / "data" / "x"))  # relative: against the cwd
    assert allow.allows(b"/home/me/.cache/uv/archive-v0/x")
    assert allow.allows(b"/var/log/app.log")
    assert not allow.allows(b"/var/log/sub/app.log")  # * stays within one directory
    assert allow.allows(b"/srv/a/b/out/file")  # ** crosses directories, then everything below
    assert not allow.allows(b"/srv/a/b/outside")


def test_policy_file(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('version = 1\ndefaults = false\nallow = ["/app/data", "cache"]\n')
    allow = build_allowlist(["/extra"], load_policy(str(policy)))
    assert allow.entries == ["/app/data", str(tmp_path / "cache"), "/extra"]
    assert not allow.allows(b"/tmp/x")  # defaults = false drops /tmp


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("allow = [", "invalid TOML"),
        ('alow = ["/x"]', "unknown key 'alow'"),
        ("allow = '/x'", "'allow' must be a list"),
        ("version = 7", "unsupported version 7"),
        ("defaults = 'yes'", "'defaults' must be true or false"),
    ],
)
def test_bad_policy_files_say_where(tmp_path: Path, text: str, message: str) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(text)
    with pytest.raises(BadInput, match=message) as info:
        load_policy_file(str(policy))
    assert str(policy) in str(info.value)


def _classify(events: list[FileEvent], allow: list[str]) -> list:  # type: ignore[type-arg]
    classifier = Classifier(build_allowlist(allow, None, defaults=False))
    for e in events:
        classifier.learn(e)
    return [classifier.classify(e) for e in events]


def test_venv_detected_by_pyvenv_cfg_whatever_its_name(trace_py: TracePy, tmp_path: Path) -> None:
    env = tmp_path / "deploy-env"
    (env / "lib").mkdir(parents=True)
    (env / "pyvenv.cfg").write_text("home = /usr/bin\n")
    events, _ = trace_py("open('deploy-env/lib/x.pth', 'w').close(); open('plain.txt', 'w').close()")
    verdicts = {v.event.path: v for v in _classify(events, [])}
    assert verdicts[os.fsencode(env / "lib" / "x.pth")].venv == os.fsencode(env)
    assert verdicts[os.fsencode(tmp_path / "plain.txt")].venv is None
    assert all(v.violation for v in verdicts.values())  # no defaults: nothing is allowed...
    allowed = _classify(events, [str(tmp_path)])
    assert not any(v.violation for v in allowed)  # ...until it is


def test_venv_created_during_the_trace_counts(trace_py: TracePy, tmp_path: Path) -> None:
    events, _ = trace_py(
        """
        import os, shutil
        os.makedirs("env/lib")
        open("env/lib/early.txt", "w").close()   # written before pyvenv.cfg exists
        open("env/pyvenv.cfg", "w").close()
        shutil.rmtree("env")                      # and gone before classification
        """
    )
    early = [
        v for v in _classify(events, []) if v.event.path.endswith(b"early.txt") and v.event.op == "create"
    ]
    assert [v.venv for v in early] == [os.fsencode(tmp_path / "env")]


def test_dot_venv_without_cfg_still_counts(trace_py: TracePy, tmp_path: Path) -> None:
    events, _ = trace_py("import os; os.mkdir('.venv'); open('.venv/.lock', 'w').close()")
    venvs = {v.event.path: v.venv for v in _classify(events, [])}
    assert venvs[os.fsencode(tmp_path / ".venv" / ".lock")] == os.fsencode(tmp_path / ".venv")


# `rotrace run` classifies the events while the command runs; what only the end of the run
# decides (a venv made later, a process that execs again) must come out as if classified then.


def _run_json(tmp_path: Path, code: str) -> dict[bytes, dict]:  # type: ignore[type-arg]
    proc = rotrace_cli("run", "--json", "t.json", "--", PY, "-c", textwrap.dedent(code), cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    events = json.loads((tmp_path / "t.json").read_text())["events"]
    return {os.fsencode(e["path"]): e for e in events if e["op"] == "create"}


def test_run_classifies_writes_made_before_their_venv_existed(tmp_path: Path) -> None:
    created = _run_json(
        tmp_path,
        """
        import os, time
        os.makedirs("env/lib")
        open("env/lib/early.txt", "w").close()
        time.sleep(0.05)
        open("flush.txt", "w").close()  # hands early.txt over: classified with no venv in sight
        time.sleep(0.1)
        open("env/pyvenv.cfg", "w").close()
        open("env/lib/late.txt", "w").close()
        """,
    )
    for name in (b"early.txt", b"late.txt"):
        assert created[os.fsencode(tmp_path) + b"/env/lib/" + name]["venv"] == str(tmp_path / "env")


def test_run_explains_writes_by_the_program_their_process_became(tmp_path: Path) -> None:
    """Known writers are told apart by command line: a process's writes are explained by its
    last program (here python turned into `... pip install` after its first write)."""
    (tmp_path / "env" / "lib").mkdir(parents=True)
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    then = "import time; time.sleep(0.05); open('env/lib/b.txt', 'w').close()"
    created = _run_json(
        tmp_path,
        f"""
        import os, sys, time
        open("env/lib/a.txt", "w").close()
        time.sleep(0.1)
        os.execv(sys.executable, [sys.executable, "-c", {then!r}, "pip", "install", "x"])
        """,
    )
    root = os.fsencode(tmp_path) + b"/env/lib/"
    assert [created[root + n]["explanation"] for n in (b"a.txt", b"b.txt")] == ["pip-install", "pip-install"]


@pytest.mark.parametrize("how", ["run --policy", "run --allow", "run --enforce", "run --read-only", "check"])
@pytest.mark.parametrize("project", ["app[1]", "app*", "app?", "app\\"])
def test_a_relative_entry_means_the_project_whatever_its_name(
    outside: Path,  # noqa: F811
    project: str,
    how: str,
) -> None:
    """The project directory's name is a literal path: `cache` in a project named `app[1]`
    allows app[1]/cache, never a glob that misses it and matches a sibling's (app1/cache)."""
    here, sibling = outside / project, outside / ("app1" if project != "app\\" else "app")
    for d in (here, sibling):
        (d / "cache").mkdir(parents=True)
    (here / "rotrace.toml").write_text('allow = ["cache"]\n')
    script = f"echo > '{here}/cache/own'; echo > '{sibling}/cache/other' && echo sibling written"
    mode, _, option = how.partition(" ")
    entry = ["--allow", "cache"] if option == "--allow" else ["--policy", "rotrace.toml"]
    extra = [option] if option in ("--enforce", "--read-only") else []
    trace = outside / "t.json"
    proc = rotrace_cli("run", "--json", str(trace), *extra, *([] if mode == "check" else entry),
                       "--", "sh", "-c", script, cwd=here)  # fmt: skip
    if mode == "check":  # its verdicts, in the trace it writes
        proc = rotrace_cli("check", *entry, "--json", f"{trace}.checked", str(trace), cwd=here)
        trace = Path(f"{trace}.checked")
    assert proc.returncode in (1, 9), proc.stderr  # one violation: the sibling's
    events = [e for e in json.loads(trace.read_text())["events"] if e["path"].endswith(("/own", "/other"))]
    verdicts = {os.path.basename(e["path"]): e["allowed"] for e in events}
    assert verdicts == {"own": True, "other": False}, proc.stderr
    assert f"{sibling}/cache" in proc.stderr and "1 violation in 1 place" in proc.stderr, proc.stderr
    if extra:  # confined: the sibling's write was refused (its own went to a tmpfs with --read-only)
        assert "sibling written" not in proc.stdout and not (sibling / "cache" / "other").exists()
        assert (here / "cache" / "own").exists() == (option == "--enforce")


@pytest.mark.parametrize("source", ["<(printf ...)", "mkfifo"])
@pytest.mark.parametrize("command", ["run --read-only", "run --enforce", "check"])
def test_a_policy_from_a_pipe_is_read_once(command: str, source: str) -> None:
    """`--policy <(git show main:rotrace.toml)`, or a named pipe: a file that can be read once.
    Each command reads it once, and all of it decides: read again, a process substitution
    gave an empty policy (`run --read-only` then put an empty mount over the persistent
    place: the app lost its data) and a named pipe waited for a writer that was gone."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-pipe-policy-", dir="/var/tmp"))  # not under /tmp
    try:
        data = base / "data"
        data.mkdir()
        (data / "seed").write_text("shipped\n")
        app = "print(open('data/seed').read(), end='')\nopen('data/out', 'w').write('x')\n"
        (base / "app.py").write_text(app)
        text = f"allow = [{json.dumps(str(data))}]\npersistent = [{json.dumps(str(data))}]"
        write = f"printf '%s\\n' {shlex.quote(text)}"
        policy, before = (
            (f"<({write})", "") if source.startswith("<(") else ("p", f"mkfifo p; {write} > p & ")
        )
        if command == "check":
            trace = base / "t.json"
            made = rotrace_cli("run", "-q", "--json", str(trace), "--", PY, "app.py", cwd=base)
            assert made.returncode == 1, made.stderr  # by the defaults alone, a violation
            line = f"{shlex.join([PY, '-m', 'rotrace', 'check', '-q'])} --policy {policy} t.json"
        else:
            rotrace = shlex.join([PY, "-m", "rotrace", *command.split(), "-q"])
            line = f"{rotrace} --policy {policy} -- {shlex.join([PY, 'app.py'])}"
        proc = subprocess.run(
            ["bash", "-c", before + line], cwd=base, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        assert "no violations" in proc.stderr
        if command != "check":
            assert proc.stdout == "shipped\n"  # under --read-only, from the persistent place's copy
    finally:
        shutil.rmtree(base)
