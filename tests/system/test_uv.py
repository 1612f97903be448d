"""A real uv under rotrace: the `.venv/.lock` uv takes at `uv run` is seen and flagged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from rotrace.pathnames import generalise
from tests.support.tracing import rotrace_cli, run_traced
from tests.support.uvtools import installed_uv, make_project, uv_env

UV = installed_uv()
pytestmark = [pytest.mark.uv, pytest.mark.skipif(UV is None, reason="uv is in the test extras")]


def test_uv_run_writes_into_the_venv(tmp_path: Path) -> None:
    assert UV is not None
    project = make_project(tmp_path / "app", UV)
    scratch = tmp_path / "scratch"  # uv's TMPDIR: the only writable place besides /dev/null
    scratch.mkdir()
    policy = tmp_path / "policy.toml"
    policy.write_text(f'defaults = false\nallow = ["{scratch}", "/dev/null"]\n')
    env = uv_env()
    env.update(UV_FROZEN="true", UV_NO_CACHE="true", TMPDIR=str(scratch))
    argv = ["run", "--policy", str(policy), "--json", "t.json", "--", UV, "run", "python", "--version"]
    proc = rotrace_cli(*argv, cwd=project, env=env)
    trace = json.loads((project / "t.json").read_text())
    venv = str(project / ".venv")
    lock = [e for e in trace["events"] if e["path"] == f"{venv}/.lock"]
    assert lock, [e["path"] for e in trace["events"]]
    assert lock[0]["flags"].startswith("O_RDWR") and lock[0]["venv"] == venv and lock[0]["write"]
    assert os.path.basename(lock[0]["exe"]) == "uv"
    assert lock[0]["allowed"] is False and lock[0]["errno"] is None
    assert trace["summary"]["venv_writes"] >= 1
    assert {e["path"] for e in trace["events"] if not e["allowed"]} == {f"{venv}/.lock"}
    assert proc.returncode == 1  # uv succeeded; the venv write is the one violation
    assert "(venv)" in proc.stderr and venv in proc.stderr


def test_uv_no_sync_makes_no_venv_write(tmp_path: Path) -> None:
    assert UV is not None
    project = make_project(tmp_path / "app", UV)
    env = uv_env()
    env.update(UV_FROZEN="true", UV_NO_CACHE="true", UV_NO_SYNC="true")
    proc = rotrace_cli(
        "run", "--json", "t.json", "--", UV, "run", "python", "--version", cwd=project, env=env
    )
    assert proc.returncode == 0, proc.stderr
    trace = json.loads((project / "t.json").read_text())
    assert trace["summary"]["venv_writes"] == 0
    assert [e for e in trace["events"] if e["venv"]] == []


def test_seccomp_filter_records_what_stopping_everywhere_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real `uv sync` into a fresh .venv, traced with the seccomp filter and with --no-seccomp:
    the same syscalls, paths and results (per-run temporary names generalised)."""
    assert UV is not None
    project = make_project(tmp_path / "app", UV)
    monkeypatch.chdir(project)
    env = uv_env()
    env["UV_CACHE_DIR"] = str(tmp_path / "cache")
    records = []
    for seccomp in (True, False):
        shutil.rmtree(project / ".venv")
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)  # the same cold start each time
        events, result = run_traced([UV, "sync", "--offline"], seccomp=seccomp, env=env)
        assert result.exit_code == 0 and result.seccomp is seccomp
        records.append(
            Counter(
                (e.syscall, generalise(e.path), generalise(e.target or b""), e.errno, e.result is not None)
                for e in events
                if e.path.startswith(os.fsencode(tmp_path))
            )
        )
    assert sum(records[0].values()) > 50
    assert records[0] == records[1]


@pytest.mark.needs("bwrap")
def test_the_plan_keeps_the_uv_settings_its_trace_was_made_with() -> None:
    """The README's `UV_FROZEN=true UV_NO_CACHE=true UV_NO_SYNC=true uv run`: clean, its cache in
    a temporary directory of /tmp. Run under the plan's bubblewrap arguments in an environment
    that has none of the run's settings (a container's, which gets the plan's), it gives the
    same output: the plan sets them (without UV_NO_CACHE uv made ~/.cache/uv on a read-only
    root and failed)."""
    assert UV is not None
    base = Path(tempfile.mkdtemp(prefix="rotrace-uv-plan-", dir="/var/tmp"))  # not under /tmp
    try:
        # uv and the project's Python outside /tmp, which the plan mounts a tmpfs on (a checkout
        # of rotrace may be there)
        uv = base / "uv"
        shutil.copy2(UV, uv)
        python = "/usr/bin/python3.11"
        project = make_project(base / "app", str(uv), python)
        home = base / "home"
        home.mkdir()
        env = uv_env(python)
        env.update(HOME=str(home), UV_FROZEN="true", UV_NO_CACHE="true", UV_NO_SYNC="true")
        env.pop("UV_CACHE_DIR", None)
        command = [str(uv), "run", "python", "main.py"]
        traced = rotrace_cli("run", "-q", "--json", "t.json", "--", *command, cwd=project, env=env)
        assert traced.returncode == 0 and traced.stdout == "hello from the app\n", traced.stderr
        exported = rotrace_cli("allowlist", "t.json", "--format", "bwrap", cwd=project)
        args = exported.stdout.splitlines()
        plain = {k: v for k, v in env.items() if k not in ("UV_FROZEN", "UV_NO_CACHE", "UV_NO_SYNC")}

        def sandboxed(*more: str) -> subprocess.CompletedProcess[str]:
            argv = ["bwrap", *args, *more, "--chdir", str(project), "--", *command]
            return subprocess.run(argv, env=plain, capture_output=True, text=True, timeout=120)

        ran = sandboxed()
        assert (ran.returncode, ran.stdout) == (0, traced.stdout), (args, ran.stderr)
        bare = sandboxed("--unsetenv", "UV_NO_CACHE")  # the plan without the setting: uv fails
        assert bare.returncode != 0 and "Read-only file system" in bare.stderr, bare.stderr
    finally:
        shutil.rmtree(base)
