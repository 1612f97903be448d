"""Attacks on the placement cache (tracer/dircache.py): a directory's cached name must never
outlive what the kernel would answer. Each case has the traced program make directories with
changes between them (by a process rotrace does not trace, or by the traced tree itself), and
compares the placed paths with where the directories are afterwards (the kernel's truth)."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rotrace.events import FileEvent
from tests.support.tracing import LOOPS, PY, run_traced, using_loop

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="mount needs root")


@pytest.fixture(params=LOOPS)
def loop(request: pytest.FixtureRequest) -> Iterator[str]:
    with using_loop(request.param):
        yield request.param


def _mkdirs(events: list[FileEvent], under: Path) -> list[str]:
    placed = [os.fsdecode(e.path) for e in events if e.op == "mkdir"]
    return [p for p in placed if p.startswith(str(under))]


def _traced_in_steps(tmp_path: Path, made: list[Path], changes: list[Callable[[], None]]) -> list[str]:
    """The traced program makes made[0], then waits while changes[0] runs in a thread of
    rotrace's own (a process it does not trace), makes made[1], and so on: the placed paths."""
    assert len(made) == len(changes) + 1
    fifos = []
    for i in range(len(changes)):
        go, done = tmp_path / f"go{i}", tmp_path / f"done{i}"
        os.mkfifo(go)
        os.mkfifo(done)
        fifos.append((go, done))
    lines = ["import os", f"os.mkdir({str(made[0])!r})"]
    for (go, done), path in zip(fifos, made[1:], strict=True):
        lines.append(f"with open({str(go)!r}, 'w') as f: f.write('x')")
        lines.append(f"with open({str(done)!r}) as f: f.read()")
        lines.append(f"os.mkdir({str(path)!r})")

    def outside() -> None:
        for (go, done), change in zip(fifos, changes, strict=True):
            with open(go) as f:
                f.read()
            try:
                change()
            finally:
                with open(done, "w") as f:
                    f.write("x")

    actor = threading.Thread(target=outside)
    actor.start()
    try:
        events, _ = run_traced([PY, "-c", "\n".join(lines)])
    finally:
        actor.join(timeout=30)
    return _mkdirs(events, tmp_path)


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@root_only
def test_a_bind_mount_over_a_watched_directory_then_a_swap_under_it(tmp_path: Path, loop: str) -> None:
    """b is watched (its entry `sub` is on a cached chain); a is then bind-mounted over b, so
    b/sub is a's sub; a's sub is then swapped for a symlink elsewhere. The watch on b was on
    the directory now covered: the swap must still be seen."""
    a, b, elsewhere = tmp_path / "a", tmp_path / "b", tmp_path / "elsewhere"
    for d in (a / "sub", b / "sub", elsewhere):
        d.mkdir(parents=True)

    def swap() -> None:
        (a / "sub").rename(a / "sub.old")
        (a / "sub").symlink_to(elsewhere)

    try:
        placed = _traced_in_steps(
            tmp_path,
            [b / "sub" / "first", b / "sub" / "second", b / "sub" / "third"],
            [lambda: _sh("mount", "--bind", str(a), str(b)), swap],
        )
    finally:
        subprocess.run(["umount", "-l", str(b)], check=False)
    assert (elsewhere / "third").is_dir()
    assert placed == [str(b / "sub" / "first"), str(b / "sub" / "second"), str(elsewhere / "third")]


def test_a_swap_behind_more_events_than_one_read_holds(tmp_path: Path, loop: str) -> None:
    """Thousands of deletions in a watched directory (more than one read of the inotify queue
    takes in), then d swapped for a symlink elsewhere: that last event must still be read
    before the cache answers."""
    d, elsewhere, busy = tmp_path / "d", tmp_path / "elsewhere", tmp_path / "busy"
    d.mkdir()
    elsewhere.mkdir()
    busy.mkdir()

    def churn_then_swap() -> None:
        for i in range(4000):  # 32 bytes an event: 128 KiB queued
            (tmp_path / f"f{i:05}").touch()
        for i in range(4000):
            (tmp_path / f"f{i:05}").unlink()
        d.rename(tmp_path / "d.old")
        d.symlink_to(elsewhere)

    placed = _traced_in_steps(tmp_path, [d / "first", d / "second"], [churn_then_swap])
    assert (elsewhere / "second").is_dir()
    assert placed == [str(d / "first"), str(elsewhere / "second")]


@pytest.mark.parametrize("swapped", ["the directory", "its parent"])
def test_a_swap_for_a_symlink_to_itself_while_the_directory_is_learned(tmp_path: Path, swapped: str) -> None:
    """The interleaving of a swap racing the tracer at an exit stop, replayed step by step on
    the real filesystem: the kernel placed top/d (an fd on it, named top/d), then d (or top)
    was renamed and a symlink to it put in its place, before the cache's watches were in place
    (so no event tells of it). The name now goes through a symlink: the cache must not keep
    it as a directory its name reaches."""
    from rotrace.tracer.dircache import DirCache

    d = tmp_path / "top" / "d"
    d.mkdir(parents=True)
    victim = d if swapped == "the directory" else d.parent
    cache = DirCache()
    fd = os.open(d, os.O_PATH | os.O_DIRECTORY)
    try:
        answer = os.readlink(f"/proc/self/fd/{fd}").encode()
        victim.rename(victim.with_name(victim.name + ".old"))
        victim.symlink_to(victim.with_name(victim.name + ".old"))
        assert cache.fresh()
        cache.learn(bytes(d), answer, fd)
        assert cache.fresh()
        assert not cache.known(bytes(d))
    finally:
        os.close(fd)
        cache.close()
