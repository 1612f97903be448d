"""The seed, on real uv binaries from PyPI, in a read-only root (rotrace run --read-only).

0.7.13 writes nothing into .venv; 0.7.14-0.7.18 try `.venv/.lock` and `.venv/.tmpXXXXXX`,
both fail with EROFS and uv dies (exit 2) with the seed's error; from 0.7.19 the same two
writes still fail but uv only warns. UV_NO_SYNC stops every version writing into .venv.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.support.uvtools import TMP_READ_ONLY, Cell, audit_uv

pytestmark = [pytest.mark.uv, pytest.mark.needs("bwrap")]
ROTRACE = [sys.executable, "-m", "rotrace"]
LOCK_WRITES = [("open", "<app>/.venv/.lock", "EROFS"), ("create", "<app>/.venv/.tmpXXXXXX", "EROFS")]


def _audit(version: str, setting: str, tmp_path: Path, extra: dict[str, str] | None = None) -> Cell:
    return audit_uv(version, setting, tmp_path, ROTRACE, extra)


def test_uv_0_7_13_does_not_write_the_venv(tmp_path: Path) -> None:
    cell = _audit("0.7.13", "frozen", tmp_path)
    assert (cell.exit_code, cell.venv_writes, cell.other_violations) == (0, [], [])
    assert cell.rotrace_status == 0


def test_uv_0_7_14_dies_on_the_venv_lock(tmp_path: Path) -> None:
    cell = _audit("0.7.14", "frozen", tmp_path)
    assert cell.exit_code == 2 and cell.venv_writes == LOCK_WRITES and cell.other_violations == []
    assert "Read-only file system (os error 30)" in cell.stderr and "/.venv/.tmp" in cell.stderr
    assert cell.rotrace_status == 9  # violations + a failed command
    assert "this is what stops it" in cell.stderr  # the report ties the failure to the write


def test_uv_0_7_19_tolerates_the_failed_lock(tmp_path: Path) -> None:
    cell = _audit("0.7.19", "frozen", tmp_path)
    assert cell.exit_code == 0 and cell.venv_writes == LOCK_WRITES
    assert cell.rotrace_status == 1  # still violations: the lock uv wanted is not taken
    assert "tolerated" in cell.stderr


def test_the_lock_fix_taken_word_for_word_where_uv_lock_is_checked(tmp_path: Path) -> None:
    """An image that runs `uv run` with UV_LOCKED=true (fail where uv.lock is stale): every
    setting the lock's fix names, set as it says, lets uv start; uv refuses UV_FROZEN beside
    UV_LOCKED, so the fix must not ask for both."""
    cell = _audit("0.7.14", "locked", tmp_path / "before")
    assert cell.exit_code == 2 and cell.venv_writes == LOCK_WRITES
    (fix,) = [line for line in cell.stderr.splitlines() if "fix (uv's environment lock" in line]
    settings = dict(re.findall(r"\b([A-Z][A-Z0-9_]*)=([^\s),;:]+)", fix))
    assert settings.get("UV_NO_SYNC") == "true", fix
    followed = _audit("0.7.14", "locked", tmp_path / "after", settings)
    assert (followed.exit_code, followed.venv_writes) == (0, []), (fix, followed.stderr)


@pytest.mark.parametrize("version", ["0.7.13", "0.7.14", "0.7.19"])
def test_uv_no_sync_avoids_the_venv(version: str, tmp_path: Path) -> None:
    cell = _audit(version, "frozen+no-sync", tmp_path)
    assert (cell.exit_code, cell.venv_writes, cell.other_violations) == (0, [], [])


def test_read_only_tmp_breaks_every_version(tmp_path: Path) -> None:
    cell = _audit("0.7.19", TMP_READ_ONLY, tmp_path)
    assert cell.exit_code == 2 and cell.venv_writes == []
    assert ("mkdir", "/tmp/.tmpXXXXXX", "EROFS") in cell.other_violations


def _trace_of(version: str, tmp_path: Path, setting: str = "frozen") -> Path:
    cell = _audit(version, setting, tmp_path / version)
    (trace,) = (tmp_path / version).glob("*/app/trace.json")
    assert cell.exit_code in (0, 2)
    return trace


def test_diff_of_uv_0_7_13_and_0_7_14_shows_the_lock(tmp_path: Path) -> None:
    old, new = _trace_of("0.7.13", tmp_path), _trace_of("0.7.14", tmp_path)
    proc = subprocess.run([*ROTRACE, "diff", str(old), str(new)], capture_output=True, text=True)
    # new violations, and uv 0.7.14 dies at start under the read-only root: a gate on the
    # upgrade fails, both bits set
    assert proc.returncode == 9
    out = proc.stdout
    assert "exit status 0 before, exit status 2 now" in out and "✗ the command failed" in out
    assert "$CWD/.venv/" in out
    assert "+ open     .lock  (EROFS)  violation" in out
    assert "+ create   .tmp*  (EROFS)  violation" in out
    assert out.count("UV_NO_SYNC=true") == 1  # the fix once, the other write names it
    assert "(uv's environment lock)" in out
    assert "Writes that disappeared" not in out


def test_same_uv_command_twice_gives_the_same_policy(tmp_path: Path) -> None:
    first, second = _trace_of("0.7.19", tmp_path / "a"), _trace_of("0.7.19", tmp_path / "b")
    diff = subprocess.run([*ROTRACE, "diff", str(first), str(second)], capture_output=True, text=True)
    assert diff.returncode == 0 and "no change in what is written" in diff.stdout
    outs = [
        subprocess.run([*ROTRACE, "allowlist", str(t)], capture_output=True, text=True).stdout
        for t in (first, second)
    ]
    policies = [[line for line in out.splitlines() if not line.startswith("#")] for out in outs]
    assert policies[0] == policies[1] and any(line.startswith("allow") for line in policies[0])


def test_emitted_allowlist_lets_uv_run_read_only() -> None:
    """The done-when: `run --emit` of a real uv app, applied as the read-only sandbox, lets
    `uv run` succeed cleanly once UV_NO_SYNC is set; without it, it names that setting."""
    from tests.support.uvtools import make_project, uv_binary, uv_env

    base = Path(tempfile.mkdtemp(prefix="rotrace-uv-emit-", dir="/var/tmp"))  # not under a /tmp tmpfs
    try:
        uv = str(uv_binary("0.7.19"))
        project = make_project(base / "app", uv)
        env = uv_env()
        (base / "cache").mkdir()  # in the image: a mount point for the cache
        env.update(UV_FROZEN="true", UV_CACHE_DIR=str(base / "cache"))
        run = [*ROTRACE, "run", "--emit", "k8s", "--", uv, "run", "python", "--version"]
        first = subprocess.run(run, cwd=project, env=env, capture_output=True, text=True)
        assert first.returncode == 1 and "UV_NO_SYNC=true" in first.stderr  # the venv lock cannot be mounted
        spec = yaml.safe_load(first.stdout)["spec"]
        assert "Python" not in first.stdout  # the command's own stdout went to stderr
        (container,) = spec["containers"]
        # the cache, empty before the run (the image's mount point), moved to the plan's tmpfs
        assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
        assert {"name": "UV_CACHE_DIR", "value": "/tmp/uv-cache"} in container["env"]
        env.update(UV_NO_SYNC="true", UV_CACHE_DIR="/tmp/uv-cache")  # the plan's settings
        emit = [*ROTRACE, "run", "--emit", "policy", "--", uv, "run", "python", "--version"]
        second = subprocess.run(emit, cwd=project, env=env, capture_output=True, text=True)
        (project / "generated.toml").write_text(second.stdout)
        sandboxed = [*ROTRACE, "run", "--read-only", "--policy", "generated.toml", "--json", "ro.json", "--",
                     uv, "run", "python", "--version"]  # fmt: skip
        final = subprocess.run(sandboxed, cwd=project, env=env, capture_output=True, text=True)
        assert final.returncode == 0, final.stderr
        trace = json.loads((project / "ro.json").read_text())
        assert trace["read_only"] and trace["summary"]["violations"] == 0 and "Python 3" in final.stdout
    finally:
        shutil.rmtree(base)
