"""The copy a persistent place starts with inside the read-only sandbox (sandbox/seed.py), on
real files: what `cp -a` kept is kept, nothing is followed out of the place, a name swapped for a
FIFO does not block it, and the destination is found by an fd that only the sandbox's own tmpfs
gives (a host directory renamed into the way, or a symbolic link there, is refused)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from rotrace.errors import SandboxError, Stopped
from rotrace.sandbox.seed import copy_tree, own_tmpfs


def _tree(src: Path) -> None:
    (src / "d" / "e").mkdir(parents=True)
    (src / "d" / "e" / "f.txt").write_text("deep\n")
    (src / "a.db").write_bytes(b"rows" * 1000)
    os.link(src / "a.db", src / "d" / "a-link.db")
    (src / "d" / "ln").symlink_to("../a.db")
    (src / "out").symlink_to("/etc")  # a link out of the place: copied as a link, never followed
    os.mkfifo(src / "pipe")
    (src / "d").chmod(0o751)
    os.utime(src / "a.db", ns=(1_000_000_000, 2_000_000_000))


def _copy(tmp_path: Path, stop: Callable[[], int | None] = lambda: None) -> Path:
    """The tree copied from tmp_path/src into tmp_path/dst, by fds, as the sandbox copies it."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    _tree(src)
    source = os.open(src, os.O_PATH | os.O_DIRECTORY)
    target = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
    try:
        copy_tree(source, target, stop)
    finally:
        os.close(source)
        os.close(target)
    return dst


def test_the_copy_keeps_the_tree_as_cp_a_did(tmp_path: Path) -> None:
    dst = _copy(tmp_path)
    assert (dst / "d" / "e" / "f.txt").read_text() == "deep\n"
    assert (dst / "a.db").read_bytes() == b"rows" * 1000
    assert os.stat(dst / "a.db").st_ino == os.stat(dst / "d" / "a-link.db").st_ino  # one file, two names
    assert os.readlink(dst / "d" / "ln") == "../a.db" and os.readlink(dst / "out") == "/etc"
    assert stat.S_ISFIFO(os.lstat(dst / "pipe").st_mode)
    assert stat.S_IMODE(os.stat(dst / "d").st_mode) == 0o751
    assert os.stat(dst / "a.db").st_mtime_ns == 2_000_000_000


def test_a_stop_ends_the_copy(tmp_path: Path) -> None:
    with pytest.raises(Stopped) as stopped:
        _copy(tmp_path, stop=lambda: 15)
    assert stopped.value.signum == 15


def test_the_destination_is_only_a_tmpfs_of_its_own(tmp_path: Path) -> None:
    """A directory of the host at the name (renamed into the way), or a link there, is refused."""
    plain = tmp_path / "place"
    plain.mkdir()
    (tmp_path / "link").symlink_to(plain)
    for path in (plain, tmp_path / "link"):
        with pytest.raises(SandboxError, match="is not the tmpfs the sandbox made there"):
            own_tmpfs(str(path))
