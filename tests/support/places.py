"""Directories for tests whose name the mount plan takes as it is.

`tempfile.mkdtemp`'s eight random characters sometimes hold a run of five digits or read as a
per-run name, which the plan never makes a mount point (it climbs to the parent instead). A
test that expects the directory itself mounted would then fail about once in a few hundred
runs; these names never look per-run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rotrace.pathnames import is_general


def fixed_name_dir(prefix: str, parent: str | None = None) -> Path:
    """A new directory under parent (tempfile's default when None) that no per-run rule matches."""
    while True:
        path = tempfile.mkdtemp(prefix=prefix, dir=parent)
        if not is_general(os.path.basename(path)):
            return Path(path)
        os.rmdir(path)


@contextlib.contextmanager
def shipped_app(prefix: str, parent: str, app: str, owner: int | None = None) -> Iterator[Path]:
    """An application as its image ships it: `app` as app.py in the directory app/ of a new
    fixed-name directory under `parent` (readable by all; app/ owned by `owner`, a uid), removed
    after. What the tests trace there, they remove again before they use it as shipped."""
    top = fixed_name_dir(prefix, parent)
    try:
        top.chmod(0o755)
        directory = top / "app"
        directory.mkdir()
        (directory / "app.py").write_text(app)
        if owner is not None:
            os.chown(directory, owner, owner)
        yield directory
    finally:
        shutil.rmtree(top)


@contextlib.contextmanager
def srv_dir(prefix: str) -> Iterator[Path]:
    """A new directory in /srv, removed after: no default allowlist entry covers it, and no
    scratch mount a plan makes whole (the test is skipped where /srv is not writable)."""
    import pytest

    if not os.access("/srv", os.W_OK):
        pytest.skip("needs a writable /srv")
    top = fixed_name_dir(prefix, "/srv")
    try:
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def remove_left_in_tmp(prefix: str) -> None:
    """What a traced program made in the host's /tmp under `prefix` (the empty mount point of a
    namespace of its own, a directory of its own): removed after its test."""
    import glob
    import shutil

    for path in glob.glob(f"/tmp/{prefix}*"):
        shutil.rmtree(path, ignore_errors=True)
