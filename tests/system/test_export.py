"""From a trace to a security context: every format parses and carries the right paths, a
venv write never becomes a mount, and a trace is clean under its own generated policy."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.tracing import rotrace_cli

WORKLOAD = """
import os, sys, tempfile
home = os.environ["HOME"]
fd, scratch = tempfile.mkstemp(dir="/tmp"); os.close(fd)      # /tmp, a new name each run
os.makedirs(f"{home}/.cache/app/v1", exist_ok=True)          # a cache, created by the run
open(f"{home}/.cache/app/v1/entry", "w").close()
try: open(".venv/.lock", "w").close()                          # the venv (next to the app)
except OSError: pass
os.unlink(scratch)
import shutil; shutil.rmtree(f"{home}/.cache/app")          # the next run starts the same
"""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Path]:
    """An app directory outside /tmp (a tmpfs on /tmp must not hide it), with a venv."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-export-", dir="/var/tmp"))
    try:
        (base / "app" / ".venv").mkdir(parents=True)
        (base / "app" / ".venv" / "pyvenv.cfg").write_text("home = /usr\n")
        (base / "home" / ".cache").mkdir(parents=True)
        yield base / "app"
    finally:
        shutil.rmtree(base)


# The run's own settings of where programs write (this machine's PIP_* left out: a user's has
# none). The plan keeps those of programs that ran (Python's, not uv's: no uv ran), and HOME,
# since it mounts a place in it.
SETTINGS = {"PYTHONDONTWRITEBYTECODE": "1", "UV_NO_CACHE": "true"}


def _kept(app: Path) -> dict[str, str]:
    return {"HOME": str(app.parent / "home"), "PYTHONDONTWRITEBYTECODE": "1"}


def _trace(app: Path, *extra: str) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(SETTINGS, HOME=str(app.parent / "home"))
    proc = rotrace_cli("run", *extra, "--json", "t.json", "--", sys.executable, "-c", WORKLOAD,
                       cwd=app, env=env)  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return app / "t.json"


def _emit(trace: Path, fmt: str) -> tuple[int, str, str]:
    proc = rotrace_cli("allowlist", str(trace), "--format", fmt, cwd=trace.parent)
    return proc.returncode, proc.stdout, proc.stderr


def test_formats_parse_and_carry_the_mounts(app: Path) -> None:
    trace = _trace(app)
    cache = str(app.parent / "home" / ".cache")

    status, out, err = _emit(trace, "k8s")
    assert status == 1 and str(app / ".venv") in err and "virtual environment" in err  # not mountable
    spec = yaml.safe_load(out)["spec"]
    (container,) = spec["containers"]
    assert container["securityContext"] == {"readOnlyRootFilesystem": True}
    assert {e["name"]: e["value"] for e in container["env"]} == _kept(app)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert set(mounts) == {"/tmp", cache}  # ~/.cache/app was created by the run: ~/.cache is mounted
    assert {v["name"]: v["emptyDir"] for v in spec["volumes"]} == {name: {} for name in mounts.values()}

    _, out, _ = _emit(trace, "compose")
    service = yaml.safe_load(out)["services"]["app"]
    assert service == {
        "read_only": True,
        "environment": _kept(app),
        "tmpfs": [f"{p}:exec" for p in sorted(["/tmp", cache])],
    }

    _, out, _ = _emit(trace, "docker")
    flags = out.splitlines()  # one per line
    assert flags == [
        "--read-only",
        *(f"--tmpfs={p}:exec" for p in sorted(["/tmp", cache])),
        *(f"--env={name}={value}" for name, value in _kept(app).items()),
    ]

    _, out, _ = _emit(trace, "bwrap")
    args = out.splitlines()
    assert args[:8] == ["--ro-bind", "/", "/", "--dev", "/dev", "--unshare-pid", "--unshare-ipc", "--proc"]
    assert [args[i + 1] for i, a in enumerate(args) if a == "--tmpfs"] == sorted(["/tmp", cache])
    assert {args[i + 1]: args[i + 2] for i, a in enumerate(args) if a == "--setenv"} == _kept(app)

    _, out, _ = _emit(trace, "policy")
    policy = tomllib.loads(out)
    assert policy["version"] == 1 and policy["defaults"] is True and cache in policy["allow"]
    assert policy["env"] == _kept(app)
    assert not any(".venv" in entry for entry in policy["allow"])  # never a mount over the venv
    for fmt in ("k8s", "compose", "docker", "bwrap"):
        text = "\n".join(line for line in _emit(trace, fmt)[1].splitlines() if not line.startswith("#"))
        assert str(app) not in text  # neither the venv nor the app directory is ever mounted


def test_trace_is_clean_under_its_own_policy_but_the_venv_write(app: Path) -> None:
    trace = _trace(app)
    _, out, _ = _emit(trace, "policy")
    (app / "generated.toml").write_text(out)
    proc = rotrace_cli("check", str(trace), "--policy", "generated.toml", "--json", "checked.json", cwd=app)
    checked = json.loads((app / "checked.json").read_text())
    left = [e["path"] for e in checked["events"] if e["write"] and not e["allowed"]]
    assert left == [str(app / ".venv" / ".lock")]
    assert proc.returncode == 1


@pytest.mark.needs("bwrap")
def test_generated_policy_lets_the_command_run_read_only(app: Path) -> None:
    """The done-when: the generated allowlist, applied as a bubblewrap sandbox, is enough."""
    (app / ".venv" / "pyvenv.cfg").unlink()
    (app / ".venv").rmdir()
    trace = _trace(app)
    status, out, _ = _emit(trace, "policy")
    assert status == 0
    (app / "generated.toml").write_text(out)
    again = _trace(app, "--read-only", "--policy", "generated.toml")
    result = json.loads(again.read_text())
    assert result["read_only"] and result["exit_code"] == 0
    assert result["summary"]["violations"] == 0 and result["summary"]["ro_failures"] == 0


def test_same_command_twice_gives_the_same_policy_and_no_diff(app: Path) -> None:
    first = _trace(app)
    first.rename(app / "one.json")
    second = _trace(app)  # another temporary name in /tmp: generalised away
    outs = [_emit(app / "one.json", "policy")[1], _emit(second, "policy")[1]]
    policies = [[line for line in out.splitlines() if not line.startswith("#")] for out in outs]
    assert policies[0] == policies[1] and policies[0]
    proc = rotrace_cli("diff", "one.json", "t.json", cwd=app)
    assert proc.returncode == 0 and "no change in what is written" in proc.stdout


def test_baseline_says_what_diff_says_of_the_command_and_its_end(app: Path) -> None:
    """`run --baseline` is `run` and `diff` in one step: it did not say that the command changed
    nor that it failed where the baseline's succeeded (its exit status did), which `diff` of the
    same two traces says."""
    ok = rotrace_cli("run", "-q", "--json", "old.json", "--", sys.executable, "-c", "pass", cwd=app)
    assert ok.returncode == 0, ok.stderr
    failing = [sys.executable, "-c", "raise SystemExit(3)"]
    proc = rotrace_cli("run", "--baseline", "old.json", "--json", "new.json", "--", *failing, cwd=app)
    diff = rotrace_cli("diff", "old.json", "new.json", cwd=app)
    for said in ("The command changed", "The command ended otherwise", "failed, where it succeeded before"):
        assert said in diff.stdout, diff.stdout
        assert said in proc.stderr, proc.stderr
    assert proc.returncode & 8 and diff.returncode & 8


def test_baseline_shows_new_writes_and_fails_on_new_violations(app: Path) -> None:
    before = _trace(app)
    before.rename(app / "before.json")
    policy = app / "strict.toml"
    policy.write_text(f'defaults = true\nallow = ["{app.parent / "home"}"]\n')
    code = "open('new-state.json', 'w').close()"
    argv = ["run", "--policy", str(policy), "--baseline", "before.json", "--", sys.executable, "-c", code]
    proc = rotrace_cli(*argv, cwd=app)
    assert proc.returncode == 1, proc.stderr
    assert "+ create   new-state.json" in proc.stderr and "violation" in proc.stderr
    assert "Writes that disappeared" in proc.stderr  # the cache and /tmp writes of the baseline
