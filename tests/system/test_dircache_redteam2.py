"""More attacks on the placement cache (tracer/dircache.py): each compares where the traced
program's writes really landed (the kernel's truth, read afterwards) with where rotrace
placed them, with the cache on and off. A write may be unresolved; never placed elsewhere."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tracing import PY, loop_with_and_without_cache, run_traced

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="mount needs root")


loop = loop_with_and_without_cache  # the fixture, under the name the tests take


@pytest.fixture
def arena(tmp_path: Path) -> Iterator[Path]:
    """A private tmpfs (a mount under a shared one cannot be moved), unmounted afterwards."""
    where = tmp_path / "arena"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "arena", str(where)], check=True)
    try:
        subprocess.run(["mount", "--make-private", str(where)], check=True)
        yield where
    finally:
        subprocess.run(["umount", "-R", "-l", str(where)], check=False)


def _mkdirs(argv: list[str], under: Path) -> list[str | None]:
    """The traced command's mkdirs under `under`: each placed path, None where unresolved."""
    events, _ = run_traced(argv)
    return [None if e.unresolved else os.fsdecode(e.path) for e in events
            if e.op == "mkdir" and os.fsdecode(e.path).startswith(str(under))]  # fmt: skip


_MOVE = """
import ctypes, os, sys
allowed, outside, fifos = sys.argv[1:4]
libc = ctypes.CDLL(None, use_errno=True)
os.mkdir(f"{allowed}/t/sub/x1")  # allowed/t/sub placed, and cached
os.mkdir(f"{allowed}/t/sub/x2")
if fifos == "-":  # mount(2) itself: mount(8) writes its own files, which rotrace would place
    MS_MOVE = 0x2000
    assert libc.mount(f"{allowed}/t".encode(), f"{outside}/t".encode(), None, MS_MOVE, None) == 0
    under = os.open(f"{allowed}/t", os.O_RDONLY | os.O_DIRECTORY)  # what the mount covered
    os.symlink(f"{outside}/t/sub", "sub", dir_fd=under)  # a symlink where no watch is
else:  # another process does it
    with open(f"{fifos}/go", "w") as f: f.write("x")
    with open(f"{fifos}/done") as f: f.read()
os.mkdir(f"{allowed}/t/sub/x3")
"""


@root_only
@pytest.mark.parametrize("by", ["the traced program", "another process"])
def test_a_mount_moved_away_from_a_cached_directory(arena: Path, loop: str, by: str) -> None:
    """The mount a cached directory is on is moved elsewhere (`mount --move`: the mount keeps
    its id, so a statx of the cached name still finds the same mount and inode when the name
    reaches it another way), and a symlink to the directory's new place is put where the
    mount was (in the directory it covered, which no watch is on): x3 lands outside, and
    must be placed there."""
    allowed, outside, fifos = arena / "allowed", arena / "outside", arena / "fifos"
    for d in (allowed / "t", outside / "t", fifos):
        d.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "moved", str(allowed / "t")], check=True)
    (allowed / "t" / "sub").mkdir()
    os.mkfifo(fifos / "go")
    os.mkfifo(fifos / "done")

    def outside_process() -> None:
        with open(fifos / "go") as f:
            f.read()
        try:
            subprocess.run(["mount", "--move", str(allowed / "t"), str(outside / "t")], check=True)
            (allowed / "t" / "sub").symlink_to(outside / "t" / "sub")
        finally:
            with open(fifos / "done", "w") as f:
                f.write("x")

    actor = threading.Thread(target=outside_process)
    if by == "another process":
        actor.start()
    try:
        how = "-" if by == "the traced program" else str(fifos)
        placed = _mkdirs([PY, "-c", _MOVE, str(allowed), str(outside), how], arena)
    finally:
        if by == "another process":
            actor.join(timeout=30)
    assert (outside / "t" / "sub" / "x3").is_dir()
    assert placed[:2] == [str(allowed / "t" / "sub" / "x1"), str(allowed / "t" / "sub" / "x2")]
    assert placed[2:] in ([str(outside / "t" / "sub" / "x3")], [None])


_DEEP = """
import os, sys
deep, target = sys.argv[1:3]
os.chdir(deep)  # a cwd of nearly PATH_MAX bytes: its name is known, sub's too
link = "l" * 200
os.mkdir("sub/first")  # sub placed, and cached
os.symlink(target, "sub/" + link)
os.chmod("sub/" + link, 0o600)  # follows the symlink: the target's mode changes
"""


def test_a_symlink_followed_whose_full_name_is_longer_than_path_max(tmp_path: Path, loop: str) -> None:
    """A cwd of nearly PATH_MAX bytes, a cached directory sub in it, and in sub a symlink
    whose full name is longer than PATH_MAX (the tracee names it relative to its cwd, which
    the kernel takes): chmod follows it to a file outside. Whether the name is a symlink must
    not be asked by a name the kernel refuses (ENAMETOOLONG is no answer)."""
    deep = tmp_path
    while len(bytes(deep)) < 3900:
        deep = deep / ("d" * min(200, 3940 - len(bytes(deep))))
    (deep / "sub").mkdir(parents=True)
    target = tmp_path / "outside"
    target.write_text("x")
    events, _ = run_traced([PY, "-c", _DEEP, str(deep), str(target)])
    assert target.stat().st_mode & 0o777 == 0o600
    chmods = [e for e in events if e.op == "chmod"]
    assert len(chmods) == 1
    assert chmods[0].unresolved or chmods[0].path == bytes(target)


_SLASH = """
import os, sys
link = sys.argv[1]
os.mkdir(os.path.dirname(link) + "/first")  # the directory placed, and cached
os.chown(link + "/", 65534, 65534, follow_symlinks=False)  # lchown: yet the slash follows
os.utime(link + "/", (1, 1), follow_symlinks=False)  # utimensat(AT_SYMLINK_NOFOLLOW): likewise
"""


@root_only
def test_a_trailing_slash_follows_a_symlink_a_nofollow_call_names(tmp_path: Path, loop: str) -> None:
    """lchown and utimensat(AT_SYMLINK_NOFOLLOW) do not follow a symlink as the last name,
    except when a slash follows it: the kernel then follows it (to a directory), and the
    owner and times that change are the target's, outside."""
    allowed, target = tmp_path / "allowed", tmp_path / "outside" / "target"
    allowed.mkdir()
    target.mkdir(parents=True)
    (allowed / "link").symlink_to(target)
    events, _ = run_traced([PY, "-c", _SLASH, str(allowed / "link")])
    assert target.stat().st_uid == 65534 and target.stat().st_atime == 1
    changed = [e for e in events if e.op in ("chown", "utime")]
    assert [e.op for e in changed] == ["chown", "utime"]
    assert all(e.unresolved or e.path == bytes(target) for e in changed), changed


_ELSEWHERE = """
import ctypes, os, sys
arena = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
os.mkdir(f"{arena}/d1/x")  # d1 placed, and cached
assert libc.mount(b"none", f"{arena}/elsewhere".encode(), b"tmpfs", 0, None) == 0
os.mkdir(f"{arena}/d2/y")  # d2 learned, the mounts changed since the last look
os.mkdir(f"{arena}/d1/z")  # a hit
"""


@root_only
def test_a_mount_elsewhere_leaves_the_next_writes_placed(arena: Path, loop: str) -> None:
    """A mount on no write's way (made by the traced program with mount(2), between its
    writes) changes none of their places: they are placed, not unresolved."""
    for d in ("d1", "d2", "elsewhere"):
        (arena / d).mkdir()
    placed = _mkdirs([PY, "-c", _ELSEWHERE, str(arena)], arena)
    assert placed == [str(arena / "d1" / "x"), str(arena / "d2" / "y"), str(arena / "d1" / "z")]
