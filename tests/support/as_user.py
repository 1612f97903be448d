"""rotrace run as root (this venv's) or as uid 65534 (the system Python, rotrace copied where
that user can import it): the two users every confinement test runs as."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tracing import NON_ROOT_PYTHON, portable_site

NOBODY = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]


def invocation(user: str, site: Path, cwd: Path) -> tuple[list[str], dict[str, str]]:
    """How to start rotrace as `user` (root or nobody), and with which environment."""
    if user == "root":
        return [sys.executable, "-m", "rotrace"], {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return [*NOBODY, NON_ROOT_PYTHON, "-m", "rotrace"], {
        "PYTHONPATH": str(site), "PATH": os.defpath, "HOME": str(cwd)}  # fmt: skip


def rotrace(
    args: list[str], *, user: str, site: Path, cwd: Path, **kw: object
) -> subprocess.CompletedProcess[str]:
    """`rotrace ARGS` as `user` (root or nobody)."""
    argv, env = invocation(user, site, cwd)
    return subprocess.run([*argv, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, **kw)  # type: ignore[call-overload, no-any-return]


@pytest.fixture(scope="module")
def site() -> Iterator[Path]:
    """rotrace, importable by uid 65534."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-site-", dir="/var/tmp"))
    base.chmod(0o755)
    try:
        yield portable_site(base / "site")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def work() -> Iterator[Path]:
    """A directory both users may write in, outside the default allowlist."""
    path = Path(tempfile.mkdtemp(prefix="rotrace-work-", dir="/var/tmp"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory outside the default allowlist (not under /tmp)."""
    path = Path(tempfile.mkdtemp(prefix="rotrace-truth-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
