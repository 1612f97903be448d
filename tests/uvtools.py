"""Real uv binaries for tests and scripts: the one from the test extras, or any version from
PyPI (pip download of the wheel, the binary unpacked from it, cached)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

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
