"""A directory whose names another process changes without pause (tracer/dircache.py,
`_let_go`): its inotify queue would fill faster than the tracer reads it, and every write wait
for a look at thousands of events. Past a bound in one look, the cache stops watching it for
the run: the next look finds nothing more of it queued, and a way through it is one no watch
covers. A directory changed now and then stays watched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rotrace.tracer.dircache import DirCache
from tests.support.racing_swap import changed, misplaced_changes, swapping, writer
from tests.support.tracing import LOOPS, PY, rotrace_cli

ROOT = b"/proc/self/root"  # a write's path read from the root: its way is the path itself
RENAMES = 4000


def _renamed_outside(directory: Path, times: int) -> None:
    """Another process renames a file in `directory` back and forth, `times` renames."""
    code = """
import os, sys
a, b = sys.argv[1] + "/a", sys.argv[1] + "/b"
open(a, "w").close()
for _ in range(int(sys.argv[2]) // 2):
    os.rename(a, b)
    os.rename(b, a)
"""
    subprocess.run([sys.executable, "-c", code, str(directory), str(times)], check=True)


@pytest.fixture
def cache() -> Iterator[DirCache]:
    cache = DirCache()
    assert cache.enabled
    yield cache
    cache.close()


def _learned(cache: DirCache, directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        cache.learn(os.fsencode(directory), os.fsencode(directory), fd)
    finally:
        os.close(fd)


def test_a_directory_renamed_in_without_pause_is_let_go(tmp_path: Path, cache: DirCache) -> None:
    busy, calm = tmp_path / "busy", tmp_path / "calm"
    (busy / "d").mkdir(parents=True)
    (calm / "d").mkdir(parents=True)
    for directory in (busy / "d", calm / "d"):
        _learned(cache, directory)
    busy_way, calm_way = os.fsencode(busy / "d" / "x"), os.fsencode(calm / "d" / "x")
    assert cache.watched(os.getpid(), ROOT, busy_way) and cache.watched(os.getpid(), ROOT, calm_way)

    _renamed_outside(busy, RENAMES)
    _renamed_outside(calm, 6)
    cache.take_in()
    assert not cache.watched(os.getpid(), ROOT, busy_way)
    assert cache.watched(os.getpid(), ROOT, calm_way)

    # let go for the run: it is not watched again, and its changes are no longer queued
    _learned(cache, busy / "d")
    assert not cache.watched(os.getpid(), ROOT, busy_way)
    seen = cache.changes

    def since(under: Path) -> list[bytes]:  # the changes noted since under `under` (another
        top = os.fsencode(under) + b"/"  # process's mount on this machine is one too, elsewhere)
        return [v for n, v in cache._changed if n > seen and v.startswith(top)]

    _renamed_outside(busy, RENAMES)
    cache.take_in()
    assert since(busy) == []
    _renamed_outside(calm, 6)
    cache.take_in()
    assert len(since(calm)) == 12  # each rename: its old name and its new


def test_a_write_on_a_way_let_go_of_while_it_ran_is_unresolved(tmp_path: Path, cache: DirCache) -> None:
    """A write whose entry saw the way watched, and whose exit finds it let go of: the changes
    that made it so raced the write."""
    busy = tmp_path / "busy"
    (busy / "d").mkdir(parents=True)
    _learned(cache, busy / "d")
    way = os.fsencode(busy / "d" / "x")
    since = cache.entering(os.getpid(), [(ROOT, way)])
    assert not cache.raced(since, os.getpid(), ROOT, way, way)
    _renamed_outside(busy, RENAMES)
    assert cache.raced(since, os.getpid(), ROOT, way, way)


@pytest.fixture
def ramfs() -> Iterator[Path]:
    """A ramfs: local (inotify sees its changes) but not one whose change times tell every
    change (no multigrain timestamps), so a way let go of there cannot be checked by them."""
    if os.geteuid() != 0:
        pytest.skip("mounting a filesystem needs root")
    top = Path(tempfile.mkdtemp(prefix="rotrace-ramfs-", dir="/var/tmp"))
    subprocess.run(["mount", "-t", "ramfs", "ramfs", str(top)], check=True)
    try:
        yield top
    finally:
        subprocess.run(["umount", "-l", str(top)], check=False)
        top.rmdir()


@pytest.mark.parametrize("loop", LOOPS)
def test_changes_racing_a_swap_let_go_of_where_change_times_cannot_tell_are_unresolved(
    ramfs: Path, loop: str
) -> None:
    """The swapper outside the trace exchanges `d` and a symlink to B, both holding m0...,
    without pause: the cache lets go of their parent. The traced chmods by their name in `d`
    land in A or B as the swaps fall; with no watch and no change time to tell which, each is
    unresolved, never placed in the directory that does not hold the changed file."""
    env = {k: v for k, v in os.environ.items() if k not in ("ROTRACE_DIRCACHE", "ROTRACE_PURE_LOOP")}
    if loop == "pure":
        env["ROTRACE_PURE_LOOP"] = "1"
    trace = ramfs / "t.json"
    with swapping(ramfs, "exchange", filled="both"):
        run = rotrace_cli("run", "-q", "--json", str(trace), "--", PY, "-c", writer(ramfs, "chmod"), env=env)
    assert run.returncode in (0, 1), run.stderr
    placed = changed(json.loads(trace.read_text())["events"], "chmod")
    wrong = misplaced_changes(ramfs, placed, "chmod")
    assert not wrong, f"{len(wrong)} of {len(placed)} changes placed where they are not: {wrong[:5]}"


@pytest.fixture
def ramfs_below(tmp_path: Path) -> Iterator[Path]:
    """busy/mnt in tmp_path, a ramfs mounted below a directory of this (multigrain) filesystem."""
    if os.geteuid() != 0:
        pytest.skip("mounting a filesystem needs root")
    mnt = tmp_path / "busy" / "mnt"
    mnt.mkdir(parents=True)
    subprocess.run(["mount", "-t", "ramfs", "ramfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_changes_racing_a_swap_below_a_directory_let_go_of_are_unresolved_where_times_cannot_tell(
    ramfs_below: Path,
) -> None:
    """The traced command writes below `busy` (so it is watched), then another process
    renames in it 4,000 times (let go of) while a third swaps `d` on the ramfs below: the
    way's change times cannot be read where it crosses the ramfs, and no news comes of
    `busy` any more: each change is unresolved, never placed where it did not land."""
    busy = ramfs_below.parent
    go, done = busy / "go", busy / "done"
    os.mkfifo(go)
    os.mkfifo(done)
    burst = f"""
with open({str(go)!r}) as f:
    f.read()
import os
a, b = {str(busy / "a")!r}, {str(busy / "b")!r}
open(a, "w").close()
for _ in range({RENAMES // 2}):
    os.rename(a, b)
    os.rename(b, a)
with open({str(done)!r}, "w") as f:
    f.write("x")
"""
    first = f"""
os.utime({str(ramfs_below / "d")!r})
with open({str(go)!r}, "w") as f:
    f.write("x")
with open({str(done)!r}) as f:
    f.read()
"""
    burster = subprocess.Popen([sys.executable, "-c", burst])
    trace = busy / "t.json"
    try:
        with swapping(ramfs_below, "exchange", filled="both"):
            code = writer(ramfs_below, "chmod").replace("\nfor i in", first + "\nfor i in", 1)
            run = rotrace_cli("run", "-q", "--json", str(trace), "--", PY, "-c", code)
    finally:
        burster.kill()
        burster.wait(timeout=30)
    assert run.returncode in (0, 1), run.stderr
    placed = changed(json.loads(trace.read_text())["events"], "chmod")
    wrong = misplaced_changes(ramfs_below, placed, "chmod")
    assert not wrong, f"{len(wrong)} of {len(placed)} changes placed where they are not: {wrong[:5]}"
