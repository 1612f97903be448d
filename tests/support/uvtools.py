"""Real uv binaries for tests and scripts: the one from the test extras, or any version from
PyPI (pip download of the wheel, the binary unpacked from it, cached)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rotrace.pathnames import TMP_NAME

PYPROJECT = """\
[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.8"
dependencies = []
"""


def installed_uv() -> str | None:
    """The uv of the test extras (the `uv` package puts its binary beside this Python)."""
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else shutil.which("uv")


def uv_cache_dir() -> Path:
    base = os.environ.get("ROTRACE_UV_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rotrace", "uv"
    )
    return Path(base)


def uv_binary(version: str) -> Path:
    """The real uv binary of `version`, downloaded from PyPI once."""
    dest = uv_cache_dir() / version / "uv"
    if dest.exists():
        return dest
    wheels = dest.parent / "wheel"
    wheels.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
         "--dest", str(wheels), f"uv=={version}"],
        check=True,
    )  # fmt: skip
    (wheel,) = wheels.glob("uv-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        (member,) = [n for n in zf.namelist() if n.endswith("/scripts/uv")]
        tmp = dest.with_suffix(".part")
        tmp.write_bytes(zf.read(member))
    tmp.chmod(0o755)
    tmp.rename(dest)
    shutil.rmtree(wheels)
    return dest


def uv_env(python: str = sys.executable) -> dict[str, str]:
    """An offline environment for uv: no downloads, this Python."""
    env = dict(os.environ)
    env.update(UV_PYTHON=python, UV_PYTHON_DOWNLOADS="never", UV_OFFLINE="1", UV_NO_PROGRESS="1")
    return env


def make_project(root: Path, uv: str, python: str = sys.executable) -> Path:
    """A uv project with no dependencies, synced (so `.venv` exists), all offline."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "main.py").write_text("print('hello from the app')\n")
    subprocess.run([uv, "sync", "--offline"], cwd=root, env=uv_env(python), check=True, capture_output=True)
    return root


# -- the seed's matrix: uv versions x settings, each audited under `rotrace run --read-only` --------

SETTINGS: dict[str, dict[str, str]] = {
    "frozen": {"UV_FROZEN": "true", "UV_NO_CACHE": "true"},
    "frozen+no-sync": {"UV_FROZEN": "true", "UV_NO_CACHE": "true", "UV_NO_SYNC": "true"},
    "locked": {"UV_LOCKED": "true", "UV_NO_CACHE": "true"},
}
TMP_READ_ONLY = "frozen+no-sync, /tmp read-only"


@dataclass
class Cell:
    """What one uv version did under one setting in a read-only root."""

    version: str
    setting: str
    exit_code: int
    rotrace_status: int
    venv_writes: list[tuple[str, str, str]]  # (op, name, errno) with temp names generalised
    other_violations: list[tuple[str, str, str]]
    stderr: str

    @property
    def venv_summary(self) -> str:
        return ", ".join(f"{op} {name} {err}" for op, name, err in self.venv_writes) or "none"

    @property
    def other_summary(self) -> str:
        return ", ".join(f"{op} {name} {err}" for op, name, err in self.other_violations) or "none"


def _generalise(path: str) -> str:
    return re.sub(TMP_NAME, ".tmpXXXXXX", path)


def audit_uv(
    version: str, setting: str, workdir: Path, rotrace: list[str], extra: Mapping[str, str] | None = None
) -> Cell:
    """Build the seed's project with uv `version` and audit `uv run python --version` (with the
    settings `extra` on top of `setting`'s: a fix followed)."""
    uv = str(uv_binary(version))
    project = make_project(workdir / f"uv-{version}-{re.sub(r'[^a-z]+', '-', setting)}" / "app", uv)
    env = uv_env()
    env.update(SETTINGS["frozen+no-sync" if setting == TMP_READ_ONLY else setting])
    env.update(extra or {})
    args = [*rotrace, "run", "--read-only", "--json", "trace.json"]
    if setting == TMP_READ_ONLY:
        policy = project.parent / "no-tmp.toml"
        policy.write_text('defaults = false\nallow = ["/dev/null", "/dev/pts", "/dev/tty"]\n')
        args += ["--policy", str(policy)]
    proc = subprocess.run([*args, "--", uv, "run", "python", "--version"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    trace = json.loads((project / "trace.json").read_text())
    venv: list[tuple[str, str, str]] = []
    other: list[tuple[str, str, str]] = []
    for e in trace["events"]:
        if not e["write"] or e["allowed"]:
            continue
        row = (e["op"], _generalise(e["path"].replace(str(project), "<app>")), e["errno"] or "ok")
        (venv if e["venv"] else other).append(row)
    return Cell(version, setting, trace["exit_code"], proc.returncode, venv, other, proc.stderr)
