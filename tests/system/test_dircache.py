"""Directories placed once and named again from the cache (tracer/dircache.py): each case
changes a directory between two writes into it, from outside the traced tree or from inside,
and the second write must land where the kernel put it. They pass on a tracer without the
cache (it asks the kernel every time) and fail on one whose cache misses that change."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from rotrace.events import FileEvent
from tests.support.tracing import PY, loop_with_and_without_cache, run_traced

loop = loop_with_and_without_cache  # the fixture, under the name the tests take


def _mkdirs(events: list[FileEvent], under: Path) -> list[str]:
    placed = [os.fsdecode(e.path) for e in events if e.op == "mkdir"]
    return [p for p in placed if p.startswith(str(under))]


def _traced_with_outside_change(tmp_path: Path, change: Callable[[], None]) -> list[str]:
    """The traced program makes d/first, lets `change` run in a process it does not trace (a
    thread of rotrace's own), then makes d/second: the mkdirs' placed paths."""
    go, done = tmp_path / "go", tmp_path / "done"
    os.mkfifo(go)
    os.mkfifo(done)
    d = tmp_path / "d"
    d.mkdir()
    code = f"""
        import os
        os.mkdir({str(d / "first")!r})
        with open({str(go)!r}, "w") as f: f.write("x")
        with open({str(done)!r}) as f: f.read()
        os.mkdir({str(d / "second")!r})
    """

    def outside() -> None:
        with open(go) as f:
            f.read()
        change()
        with open(done, "w") as f:
            f.write("x")

    actor = threading.Thread(target=outside)
    actor.start()
    try:
        events, _ = run_traced([PY, "-c", textwrap.dedent(code)])
    finally:
        actor.join(timeout=30)
    return _mkdirs(events, tmp_path)


def test_a_directory_swapped_for_a_symlink_to_itself_by_an_outside_process(tmp_path: Path, loop: str) -> None:
    """d renamed to d.old and a symlink d -> d.old put in its place: the same directory, so the
    second write goes into it, and its name is d.old now."""
    d = tmp_path / "d"

    def swap() -> None:
        d.rename(tmp_path / "d.old")
        d.symlink_to(tmp_path / "d.old")

    placed = _traced_with_outside_change(tmp_path, swap)
    assert placed == [str(d / "first"), str(tmp_path / "d.old" / "second")]
    assert (tmp_path / "d.old" / "second").is_dir()


def test_a_directory_swapped_for_a_symlink_elsewhere_by_an_outside_process(tmp_path: Path, loop: str) -> None:
    d, elsewhere = tmp_path / "d", tmp_path / "elsewhere"

    def swap() -> None:
        elsewhere.mkdir()
        d.rename(tmp_path / "d.old")
        d.symlink_to(elsewhere)

    placed = _traced_with_outside_change(tmp_path, swap)
    assert placed == [str(d / "first"), str(elsewhere / "second")]
    assert (elsewhere / "second").is_dir()


def test_an_ancestor_swapped_for_a_symlink_by_an_outside_process(tmp_path: Path, loop: str) -> None:
    """Not the directory itself: a directory above it, renamed, a symlink in its place."""
    top = tmp_path / "top"
    top.mkdir()
    (top / "d").mkdir()
    go, done = tmp_path / "go", tmp_path / "done"
    os.mkfifo(go)
    os.mkfifo(done)
    code = f"""
        import os
        os.mkdir({str(top / "d" / "first")!r})
        with open({str(go)!r}, "w") as f: f.write("x")
        with open({str(done)!r}) as f: f.read()
        os.mkdir({str(top / "d" / "second")!r})
    """

    def outside() -> None:
        with open(go) as f:
            f.read()
        top.rename(tmp_path / "top.old")
        top.symlink_to(tmp_path / "top.old")
        with open(done, "w") as f:
            f.write("x")

    actor = threading.Thread(target=outside)
    actor.start()
    try:
        events, _ = run_traced([PY, "-c", textwrap.dedent(code)])
    finally:
        actor.join(timeout=30)
    assert _mkdirs(events, tmp_path) == [str(top / "d" / "first"), str(tmp_path / "top.old" / "d" / "second")]


def test_a_write_relative_to_the_cwd_after_chdir(tmp_path: Path, loop: str) -> None:
    """The tracee's own chdir: relative names are read from the new cwd."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    code = f"""
        import os
        os.chdir({str(tmp_path / "a")!r}); os.mkdir("x"); os.mkdir("y")
        os.chdir({str(tmp_path / "b")!r}); os.mkdir("z")
        fd = os.open({str(tmp_path / "a")!r}, os.O_RDONLY); os.fchdir(fd); os.mkdir("w")
        os.chdir({str(tmp_path / "b")!r}); os.mkdir("v")
    """
    events, _ = run_traced([PY, "-c", textwrap.dedent(code)])
    a, b = tmp_path / "a", tmp_path / "b"
    assert _mkdirs(events, tmp_path) == [str(a / "x"), str(a / "y"), str(b / "z"), str(a / "w"), str(b / "v")]


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_an_absolute_write_after_chroot(tmp_path: Path, loop: str) -> None:
    """/tmp before the chroot is rotrace's /tmp; after it, the new root's."""
    jail = tmp_path / "jail"
    (jail / "tmp").mkdir(parents=True)
    probe = f"/tmp/rotrace-dircache-{os.getpid()}"
    code = f"""
        import os
        os.mkdir({probe!r}); os.rmdir({probe!r})      # /tmp placed from rotrace's root
        os.chroot({str(jail)!r}); os.chdir("/")
        os.mkdir("/tmp/inside")
    """
    try:
        events, _ = run_traced([PY, "-c", textwrap.dedent(code)])
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    assert [os.fsdecode(e.path) for e in events if e.op == "mkdir"] == [probe, str(jail / "tmp" / "inside")]


def test_an_open_in_a_watched_directory_is_told_by_the_news_not_by_a_stat(tmp_path: Path) -> None:
    """An open that writes is named by its fd; that the fd is the file its path names was a
    stat of the path at every exit (and one of the fd). Where the path's directory is watched
    from the open's entry, the news tells it: the tracer (strace of its process alone) stats
    none of the 200 paths, and reads each fd's file once, and each file is placed where it is."""
    out = tmp_path / "out"
    out.mkdir()
    code = "for i in range(200):\n    open(f'out/f{i}', 'w').close()\n"
    trace, log = tmp_path / "t.json", tmp_path / "strace.txt"
    rotrace = [PY, "-m", "rotrace", "run", "-q", "--json", str(trace), "--", PY, "-c", code]
    run = subprocess.run(["strace", "-qq", "-o", str(log), *rotrace], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert run.returncode in (0, 1), run.stderr
    events = [e for e in json.loads(trace.read_text())["events"] if e["op"] == "create"]
    assert sorted(e["path"] for e in events) == sorted(str(out / f"f{i}") for i in range(200))
    calls = log.read_text()
    assert len(re.findall(r"stat\w*\(AT_FDCWD, \"/proc/\d+/cwd/out/f", calls)) <= 2, calls[-3000:]
    assert len(re.findall(r"stat\w*\(AT_FDCWD, \"/proc/\d+/fd/\d+\"", calls)) <= 210
