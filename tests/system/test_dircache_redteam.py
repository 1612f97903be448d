"""Attacks on the placement cache (tracer/dircache.py): a directory's cached name must never
outlive what the kernel would answer. Each case has the traced program make directories with
changes between them (by a process rotrace does not trace, or by the traced tree itself), and
compares the placed paths with where the directories are afterwards (the kernel's truth)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rotrace.events import FileEvent
from tests.support.attaching import attached
from tests.support.tracing import PY, loop_with_and_without_cache, run_traced

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="mount needs root")


loop = loop_with_and_without_cache  # the fixture, under the name the tests take


def _mkdirs(events: list[FileEvent], under: Path) -> list[str | None]:
    """The mkdirs under `under`: each placed path, None where unresolved (an unresolved event's
    path is the string the process gave, which is no place)."""
    placed = [(os.fsdecode(e.path), e.unresolved) for e in events if e.op == "mkdir"]
    return [None if unresolved else p for p, unresolved in placed if p.startswith(str(under))]


def _sound(placed: list[str | None], truth: list[Path]) -> bool:
    """Each mkdir placed where the kernel made it, or unresolved; the first, made before any
    change, placed."""
    return (
        len(placed) == len(truth)
        and placed[0] == str(truth[0])
        and all(p is None or p == str(t) for p, t in zip(placed, truth, strict=True))
    )


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
    assert _sound(placed, [b / "sub" / "first", b / "sub" / "second", elsewhere / "third"]), placed


def _queue_limit() -> int:
    return int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())


@pytest.mark.parametrize("behind", ["more than one read takes", "more than the queue holds"])
def test_a_swap_behind_many_queued_events(tmp_path: Path, loop: str, behind: str) -> None:
    """Thousands of deletions in a watched directory (more than one read of the inotify queue
    takes in, or more than the queue holds: then the kernel drops events), then d swapped for
    a symlink elsewhere: the swap must be taken in before the cache answers."""
    d, elsewhere = tmp_path / "d", tmp_path / "elsewhere"
    d.mkdir()
    elsewhere.mkdir()
    count = 4000 if behind.startswith("more than one") else _queue_limit() + 1000  # 32 bytes each

    def churn_then_swap() -> None:
        for i in range(count):
            (tmp_path / f"f{i:05}").touch()
        for i in range(count):
            (tmp_path / f"f{i:05}").unlink()
        d.rename(tmp_path / "d.old")
        d.symlink_to(elsewhere)

    placed = _traced_in_steps(tmp_path, [d / "first", d / "second"], [churn_then_swap])
    assert (elsewhere / "second").is_dir()
    assert _sound(placed, [d / "first", elsewhere / "second"]), placed


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
        assert not cache.known(bytes(d), b"/proc/self/root", bytes(d).lstrip(b"/"))
    finally:
        os.close(fd)
        cache.close()


_PEER = """
import ctypes, os, sys
a, b, fifos, how = sys.argv[1:5]
libc = ctypes.CDLL(None, use_errno=True)
def wait_on(n):
    with open(f"{fifos}/{n}") as f: f.read()
def say(n):
    with open(f"{fifos}/{n}", "w") as f: f.write("x")
os.chdir(a)
os.dup2(os.open(a, os.O_RDONLY | os.O_DIRECTORY), 100)  # a directory's descriptor
shared = 0x400 if how == "dup2" else 0x200  # CLONE_FILES: the fd table; CLONE_FS: cwd and root
pid = libc.syscall(56, shared | 17, 0, 0, 0, 0)  # clone(... | SIGCHLD): a fork sharing them
if pid == 0:
    wait_on("peer-go")
    if how == "dup2":
        os.dup2(os.open(b, os.O_RDONLY | os.O_DIRECTORY), 100)
    else:
        os.chroot(b) if how == "chroot" else os.chdir(b)
    say("peer-done")
    os._exit(0)
def made(name):
    if how == "dup2":
        os.mkdir(name, dir_fd=100)
    else:
        os.mkdir(name if how == "chdir" else a + "/" + name)
wait_on("main-go"); made("x1"); say("main-ready")
wait_on("main-go2"); made("x2")
os.waitpid(pid, 0)
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the raw clone call is x86_64's")
@pytest.mark.parametrize("how", ["chdir", "chroot", "dup2"])
def test_an_attached_process_whose_cwd_or_root_a_peer_it_shares_them_with_changes(
    tmp_path: Path, loop: str, how: str
) -> None:
    """`rotrace run -p`: the process shares its cwd and root (clone CLONE_FS), or its fds
    (CLONE_FILES: a dup2 over a directory's descriptor), with a peer made
    before rotrace attached, which rotrace does not trace; the peer's chdir or chroot changes
    where the process's next write lands, with no call of the process for rotrace to stop,
    and may do so while a call walks its name (the kernel's answer read at the exit is then
    not where it landed): every write walked from there is unresolved, and the trace says
    why."""
    if how == "chroot" and os.geteuid() != 0:
        pytest.skip("chroot needs root")
    a, b, fifos = tmp_path / "a", tmp_path / "b", tmp_path / "fifos"
    a.mkdir()
    fifos.mkdir()
    jailed = b / str(fifos).lstrip("/")  # the same fifos for the process chrooted into b
    jailed.mkdir(parents=True)
    (b / str(a).lstrip("/")).mkdir(parents=True)  # a's name inside b
    for name in ("peer-go", "peer-done", "main-go", "main-ready", "main-go2"):
        os.mkfifo(fifos / name)
        os.link(fifos / name, jailed / name)
    proc = subprocess.Popen([PY, "-c", _PEER, str(a), str(b), str(fifos), how])
    while not Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().strip():
        time.sleep(0.01)  # the peer is made before rotrace attaches
    trace = tmp_path / "t.json"
    rotrace, _ = attached([PY, "-m", "rotrace", "run", "-p", str(proc.pid), "--json", str(trace)])
    try:
        for step in ("main-go", "-main-ready", "peer-go", "-peer-done", "main-go2"):
            with open(fifos / step.lstrip("-"), "r" if step.startswith("-") else "w") as f:
                f.read() if step.startswith("-") else f.write("x")
        assert proc.wait(timeout=30) == 0
        rotrace.wait(timeout=60)
    finally:
        proc.kill()
        rotrace.kill()
    recorded = json.loads(trace.read_text())
    mkdirs = [e for e in recorded["events"] if e["op"] == "mkdir"]
    made = [e for e in mkdirs if os.path.basename(e["path"]) in ("x1", "x2")]
    second = (b if how in ("chdir", "dup2") else b / str(a).lstrip("/")) / "x2"
    assert second.is_dir() and (a / "x1").is_dir()
    assert len(made) == 2 and all(e["unresolved"] and not e["allowed"] for e in made), made
    said = {"chroot": "working directory and root", "chdir": "working directory"}.get(how, "file descriptors")
    assert any(f"shares its {said}" in w for w in recorded["warnings"]), recorded["warnings"]
