"""Attacks on the placement cache's check of a hit (tracer/dircache.py): a cached directory is
checked by a statx of its name from rotrace's root, which is the tracee's walk only while the
tracee's cwd (or root) is the very directory its name reaches, on the same mount. Each attack
gives the traced program a cwd or root that /proc names as a cached name's directory (the same
inode) on another mount, whose mounts below differ: there a symlink takes its write outside.
Each compares where the write really landed (read afterwards) with where rotrace placed it,
with the cache on and off (as uid 65534: as a user runs it); unresolved is acceptable, another
place is not.

Each runs rotrace in a mount namespace of its own (unshare -m, mounts private), so that the
mounts made (one over /) touch nothing else on the machine."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.racing_swap import HOWS, WRITES, misplaced, swapping, writer
from tests.support.tracing import (
    LOOPS,
    NON_ROOT_PYTHON,
    loop_with_and_without_cache,
    portable_site,
    using_loop,
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="mounts need root and unshare(1)"
)

loop = loop_with_and_without_cache  # the fixture, under the name the tests take


def _traced_mkdirs(
    tmp_path: Path, setup: str, attack: str, *args: str, site: Path | None = None, made: int = 2
) -> list[str | None]:
    """Run `setup` (sh, as root) then rotrace on `attack` (Python) in a private mount namespace:
    the places of the attack's successful mkdirs, in order (None: unresolved), at most `made`.
    With `site` (rotrace importable by anyone), rotrace and the attack run as uid 65534."""
    trace = tmp_path / "t.json"
    script = f'{setup}\n"$@" && rc=0 || rc=$?\nkill $! 2>/dev/null || true\nexit $rc'  # $!: one left behind
    py = sys.executable if site is None else NON_ROOT_PYTHON
    argv = [py, "-m", "rotrace", "run", "--json", str(trace), "--", py, "-c", attack]
    if site is not None:
        user = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "env", "-i"]
        argv = [*user, f"PYTHONPATH={site}", f"PATH={os.defpath}", f"HOME={tmp_path}", *argv]
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-ec", script, "sh", *argv, *args],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    events = json.loads(trace.read_text())["events"]
    ok = [e for e in events if e["op"] == "mkdir" and e["result"] == 0]
    placed = [None if e["unresolved"] else e["path"] for e in ok]
    assert 0 < len(placed) <= made, placed
    return placed


_COVERED = """
import ctypes, os, sys
top = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(f"{top}/x/d")
MS_BIND = 0x1000  # x bound over itself, alone: the tmpfs on x/d/sub is not in the bind
assert libc.mount(f"{top}/x".encode(), f"{top}/x".encode(), None, MS_BIND, None) == 0
os.mkdir(f"{top}/x/d/sub/lnk/a")  # by name: sub the directory under the tmpfs, lnk in it cached
os.mkdir("sub/lnk/b")  # from the covered cwd (named x/d, the same inode): sub the tmpfs, lnk -> out
"""


def test_a_cwd_covered_by_a_bind_of_its_ancestor_over_itself(tmp_path: Path, loop: str) -> None:
    """`mount --bind x x` (the idiom that makes a directory a mount point, to remount it
    read-only) leaves a process already in x/d on the covered mount, which /proc still names
    x/d, the same inode as the name reaches now. A tmpfs mounted on x/d/sub before is below the
    covered mount only: from the cwd, sub/lnk is a symlink (in the tmpfs) to a directory
    outside; by name, a directory (under the tmpfs) that the cache knows."""
    top, out = tmp_path / "top", tmp_path / "out"
    out.mkdir()
    setup = f"""
    mkdir -p {top} && mount -t tmpfs top {top}
    mkdir -p {top}/x/d/sub/lnk && mount -t tmpfs sub {top}/x/d/sub && ln -s {out} {top}/x/d/sub/lnk
    """
    placed = _traced_mkdirs(tmp_path, setup, _COVERED, str(top))
    assert (out / "b").is_dir()
    assert placed[-1] in (str(out / "b"), None), placed


_COVERED_BY_ANOTHER = """
import os, sys
top, fifos = sys.argv[1:3]
os.chdir(f"{top}/x/d")
with open(f"{fifos}/go", "w") as f:
    f.write("x")
with open(f"{fifos}/done") as f:  # x bound over itself by another process meanwhile
    f.read()
os.mkdir(f"{top}/x/d/sub/lnk/a")  # by name: sub the directory under the tmpfs, lnk in it cached
os.mkdir("sub/lnk/b")  # from the covered cwd (named x/d, the same inode): sub the tmpfs, lnk -> out
"""


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory uid 65534 may enter (pytest's tmp_path is private to root)."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-redteam3-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base)


@pytest.mark.skipif(not os.path.exists(NON_ROOT_PYTHON), reason="needs a system python3 for uid 65534")
def test_a_cwd_covered_by_another_process_while_rotrace_runs_as_nobody(shared: Path) -> None:
    """The same cover made by a process outside the traced tree (root: an administrator, a
    container engine) while rotrace and the program it traces run as uid 65534."""
    site = portable_site(shared / "site")
    top, out, fifos = shared / "top", shared / "out", shared / "fifos"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    fifos.mkdir()
    for fifo in ("go", "done"):
        os.mkfifo(fifos / fifo, 0o666)
        (fifos / fifo).chmod(0o666)
    (shared / "t.json").touch()
    (shared / "t.json").chmod(0o666)
    setup = f"""
    mkdir -p {top} && mount -t tmpfs -o mode=755 top {top}
    mkdir -p {top}/x/d/sub/lnk && chmod 777 {top}/x/d/sub/lnk
    mount -t tmpfs -o mode=755 sub {top}/x/d/sub && ln -s {out} {top}/x/d/sub/lnk
    (cat {fifos}/go >/dev/null; mount --bind {top}/x {top}/x; echo x >{fifos}/done) &
    """
    placed = _traced_mkdirs(shared, setup, _COVERED_BY_ANOTHER, str(top), str(fifos), site=site)
    assert (out / "b").is_dir() and (out / "b").stat().st_uid == 65534
    assert placed[-1] in (str(out / "b"), None), placed


_DETACHED = """
import ctypes, os, sys
top = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
MS_BIND, MNT_DETACH = 0x1000, 2
assert libc.mount(b"/", f"{top}/m".encode(), None, MS_BIND, None) == 0  # / alone: no mount below
os.chdir(f"{top}/m{top}/d")
assert libc.umount2(f"{top}/m".encode(), MNT_DETACH) == 0  # /proc names the cwd {top}/d now
os.mkdir(f"{top}/d/sub/lnk/a")  # by name: sub the tmpfs, lnk a directory in it, cached
os.mkdir("sub/lnk/b")  # from the detached cwd: sub the directory under the tmpfs, lnk -> out
"""


def test_a_cwd_on_a_detached_bind_of_the_root(tmp_path: Path, loop: str) -> None:
    """A process's cwd on a lazily unmounted bind of / is named by /proc relative to that
    mount's root: the name of the same inode on rotrace's root, where a tmpfs is mounted on
    d/sub that the bind (of / alone) does not have. From the cwd, sub/lnk is a symlink to a
    directory outside; by name, a directory in the tmpfs that the cache knows."""
    top, out = tmp_path / "top", tmp_path / "out"
    (top / "m").mkdir(parents=True)
    (top / "d" / "sub").mkdir(parents=True)
    (top / "d" / "sub" / "lnk").symlink_to(out)
    out.mkdir()
    setup = f"mount -t tmpfs sub {top}/d/sub && mkdir {top}/d/sub/lnk"
    placed = _traced_mkdirs(tmp_path, setup, _DETACHED, str(top))
    assert (out / "b").is_dir()
    assert placed[-1] in (str(out / "b"), None), placed


# The start of the programs that change their root: a child that keeps rotrace's root makes the
# tmpfs's directory p known to the cache, once told the other side is ready.
_KEEPER = """
import ctypes, os, sys
top = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
r, w = os.pipe()
r2, w2 = os.pipe()
if os.fork() == 0:  # keeps rotrace's root
    os.read(r, 1)
    os.mkdir(f"{top}/p/a")  # rotrace's view: p a directory in the tmpfs, cached
    os.write(w2, b"x")
    os._exit(0)
"""

_STACKED = (
    _KEEPER
    + """MS_BIND = 0x1000  # / alone bound over /: /proc names its root / too
assert libc.mount(b"/", b"/", None, MS_BIND, None) == 0
os.chdir("/..")  # onto the mount stacked on the root
os.chroot(".")
os.write(w, b"x")
os.read(r2, 1)
os.mkdir(f"{top}/p/b")  # from this root: top is the directory under the tmpfs, p a symlink -> out
os.wait()
"""
)


def test_a_root_stacked_on_rotraces_root(tmp_path: Path, loop: str) -> None:
    """A process chroot'ed into a bind of / stacked on / has a root /proc names `/`, in
    rotrace's mount namespace, yet its absolute paths are walked on another mount, without
    the mounts below rotrace's root: a tmpfs on `top` hides a symlink p to a directory outside,
    where rotrace's name reaches a directory p the cache knows (learned by a process that kept
    rotrace's root)."""
    top, out = tmp_path / "top", tmp_path / "out"
    top.mkdir()
    (top / "p").symlink_to(out)
    out.mkdir()
    setup = f"mount -t tmpfs top {top} && mkdir {top}/p"
    placed = _traced_mkdirs(tmp_path, setup, _STACKED, str(top))
    assert (out / "b").is_dir()
    assert placed[-1] in (str(out / "b"), None), placed


_DETACHED_ROOT = (
    _KEEPER
    + """MS_BIND, MNT_DETACH = 0x1000, 2
assert libc.mount(b"/", f"{top}/m".encode(), None, MS_BIND, None) == 0  # / alone: no mount below
os.chroot(f"{top}/m")
os.chdir("/")
assert libc.umount2(b"/", MNT_DETACH) == 0  # the root detached: /proc names it / now
os.write(w, b"x")
os.read(r2, 1)
os.mkdir(f"{top}/p/b")  # from this root: top is the directory under the tmpfs, p a symlink -> out
os.wait()
"""
)


def test_a_root_on_a_detached_bind_of_the_root(tmp_path: Path, loop: str) -> None:
    """A process chroot'ed into a bind of / that it then detaches (`umount -l /`) has a root
    /proc names `/`, in rotrace's mount namespace; its absolute paths are walked without the
    mounts below rotrace's root: a tmpfs on `top` hides a symlink p to a directory outside."""
    top, out = tmp_path / "top", tmp_path / "out"
    top.mkdir()
    (top / "p").symlink_to(out)
    out.mkdir()
    setup = f"mount -t tmpfs top {top} && mkdir {top}/p {top}/m"
    placed = _traced_mkdirs(tmp_path, setup, _DETACHED_ROOT, str(top))
    assert (out / "b").is_dir()
    assert placed[-1] in (str(out / "b"), None), placed


_CHURN = """
while :; do mount -t tmpfs churn "$1"; umount "$1"; sleep 0.002; done
"""


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("name", LOOPS)
def test_a_racing_swap_while_mounts_change_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, how: str
) -> None:
    """The racing swap of test_dircache_race (the cache on, which tells a write racing a change
    on its way), while mounts come and go elsewhere in rotrace's mount namespace (another
    workload's, nothing on the writes' ways): each change makes the cache start over, which
    must not lose the name changes queued meanwhile, nor those made before its watches are
    back, for a write in flight: placed where the file is, or unresolved."""
    monkeypatch.delenv("ROTRACE_DIRCACHE", raising=False)
    with using_loop(name):
        _racing_swap(tmp_path, how)


def _racing_swap(tmp_path: Path, how: str) -> None:
    (tmp_path / "elsewhere").mkdir()
    with swapping(tmp_path, how):
        setup = f"sh -c {shlex.quote(_CHURN)} churn {tmp_path / 'elsewhere'} >/dev/null 2>&1 &"
        placed = _traced_mkdirs(tmp_path, setup, writer(tmp_path), made=WRITES)
    wrong = misplaced(tmp_path, placed)
    assert not wrong, f"{len(wrong)} of {len(placed)} writes placed where they are not: {wrong[:5]}"


_DETACHED_DIRFD = """
import ctypes, os, sys
top = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(f"{top}/m", os.O_RDONLY | os.O_DIRECTORY)
MNT_DETACH = 2  # the bind of protected/ made before the run, lazily unmounted: fd holds it
assert libc.umount2(f"{top}/m".encode(), MNT_DETACH) == 0
os.close(os.open("tmp/evil", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
os.mkdir("tmp/evildir", dir_fd=fd)  # /proc names fd "/" (the mount's root): "tmp" is /tmp
"""


def test_a_dirfd_on_a_bind_detached_during_the_run(tmp_path: Path, loop: str) -> None:
    """A bind mount made before the run and detached by the command (umount2 MNT_DETACH) while
    it holds a dirfd on it: /proc names that fd from the detached mount's root (`/`), so its
    writes in protected/tmp read as writes in /tmp, which the allowlist allows. The mount's id
    was cached as rotrace's own, and the name the parent's fallback joined was never checked."""
    top = tmp_path / "top"
    (top / "protected" / "tmp").mkdir(parents=True)
    (top / "m").mkdir()
    placed = _traced_mkdirs(
        tmp_path, f"mount --bind {top}/protected {top}/m", _DETACHED_DIRFD, str(top), made=1
    )
    assert (top / "protected" / "tmp" / "evildir").is_dir() and (top / "protected" / "tmp" / "evil").exists()
    assert placed == [str(top / "protected" / "tmp" / "evildir")] or placed == [None], placed
    events = json.loads((tmp_path / "t.json").read_text())["events"]
    (created,) = [e for e in events if e["op"] == "create" and e["path"].endswith("evil")]
    assert created["unresolved"] or created["path"] == str(top / "protected" / "tmp" / "evil"), created
    assert not [e for e in events if e["allowed"] and e["path"].startswith("/tmp/evil")], events
