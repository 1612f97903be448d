"""Filesystems of a given kind for tests, each in a file, loop-mounted (root only)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def loop_fs(kind: str, *mkfs: str) -> Iterator[Path]:
    """A filesystem of `kind` in a file, mounted on a new directory everyone may write in."""
    if os.geteuid() != 0:
        pytest.skip("mounting a filesystem needs root")
    work = Path(tempfile.mkdtemp(prefix=f"rotrace-{kind}-", dir="/var/tmp"))
    image, top = work / "image", work / "mnt"
    top.mkdir()
    with image.open("wb") as f:
        f.truncate(256 << 20)
    subprocess.run([*mkfs, str(image)], check=True, capture_output=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(top)], check=True, capture_output=True)
    try:
        top.chmod(0o777)
        work.chmod(0o755)
        yield top
    finally:
        subprocess.run(["umount", "-l", str(top)], check=False, capture_output=True)
        subprocess.run(["rm", "-rf", str(work)], check=False)
