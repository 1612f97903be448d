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


def test_a_sparse_file_stays_sparse_and_a_stop_ends_its_copy(tmp_path: Path) -> None:
    """A file of 4 GiB that holds 8 KiB (a preallocated database, a core) fills 8 KiB of the
    place's tmpfs, which is memory, not 4 GiB: its holes stay holes, its data where it was.
    A stop asked while it is copied ends the copy inside the file, not after it."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    size = 4 << 30
    with open(src / "sparse.db", "wb") as f:
        f.write(b"head" * 1024)
        f.seek(1 << 30)
        f.write(b"middle" * 100)
        f.truncate(size)
    assert os.stat(src / "sparse.db").st_blocks * 512 < 1 << 20  # (a file system with holes)
    (src / "dense.bin").write_bytes(os.urandom(3 << 20))  # three chunks
    source = os.open(src, os.O_PATH | os.O_DIRECTORY)
    target = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
    try:
        copy_tree(source, target)
    finally:
        os.close(source)
        os.close(target)
    copied = os.stat(dst / "sparse.db")
    assert copied.st_size == size and copied.st_blocks * 512 < 1 << 20, copied
    with open(dst / "sparse.db", "rb") as f:
        assert f.read(4096) == b"head" * 1024
        f.seek(1 << 30)
        assert f.read(600) == b"middle" * 100
        f.seek(size - 4)
        assert f.read() == b"\0" * 4
    assert (dst / "dense.bin").read_bytes() == (src / "dense.bin").read_bytes()
    asked = []

    def stop() -> int | None:  # at its name, then at each chunk: asked before the third, it stops
        asked.append(1)
        return 15 if len(asked) == 4 else None

    (src / "sparse.db").unlink()
    again = tmp_path / "again"
    again.mkdir()
    source = os.open(src, os.O_PATH | os.O_DIRECTORY)
    target = os.open(again, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(Stopped):
            copy_tree(source, target, stop)
    finally:
        os.close(source)
        os.close(target)
    assert os.stat(again / "dense.bin").st_size < 3 << 20  # ended inside the file


def test_the_destination_is_only_a_tmpfs_of_its_own(tmp_path: Path) -> None:
    """A directory of the host at the name (renamed into the way), or a link there, is refused."""
    plain = tmp_path / "place"
    plain.mkdir()
    (tmp_path / "link").symlink_to(plain)
    for path in (plain, tmp_path / "link"):
        with pytest.raises(SandboxError, match="is not the tmpfs the sandbox made there"):
            own_tmpfs(str(path))
