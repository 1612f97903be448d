"""A real uv under rotrace: the `.venv/.lock` uv takes at `uv run` is seen and flagged."""

from __future__ import annotations

import json
import os
import shutil
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
