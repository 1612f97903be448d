"""A last name the call follows, swapped by another process between a file and a symlink to
another file while the call runs (tracer/resolve.py, `stamp` and `walk`): the name is looked
up in a directory no watch covers (the watches are on the directories naming its chain), so
its change times are read at the entry and the exit. Each change must be placed on the file
it changed, or unresolved; never on the other one. The swapper follows the writer through
shared memory, so no system call of the writer's tells it when."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.as_user import rotrace, site, work  # noqa: F401 - fixtures
from tests.support.tracing import LOOPS, PY, rotrace_cli

N = 1000

# RENAME_EXCHANGE of D/m<i> (a file) and D/l<i> (a symlink to B/m<i>) for the i the writer
# is at, without pause; each pair swapped back at the end if it was left swapped.
_SWAPPER = r"""
import ctypes, mmap, os, signal, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(sys.argv[1])
f = open(sys.argv[2], "r+b")
at = mmap.mmap(f.fileno(), 8)
stop, odd, n = [], set(), 0
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
print("ready", flush=True)
while not stop:
    i = struct.unpack("q", at[0:8])[0] - 1
    if i >= 0 and libc.renameat2(-100, b"m%d" % i, -100, b"l%d" % i, 2) == 0:
        odd ^= {i}
        n += 1
for i in odd:
    libc.renameat2(-100, b"m%d" % i, -100, b"l%d" % i, 2)
print(n, flush=True)
"""

CHANGES = {
    "chmod": ("os.chmod(p, 0o640{fd})", lambda st: stat.S_IMODE(st.st_mode) == 0o640),
    "utime": ("os.utime(p, (1, 1){fd})", lambda st: st.st_mtime == 1),
}


def _writer(d: Path, index: Path, change: str, way: str) -> str:
    call = CHANGES[change][0].format(fd=", dir_fd=fd" if way == "a dirfd" else "")
    name = f"{str(d)!r} + '/m%d' % i" if way == "its full name" else "'m%d' % i"
    return f"""
import mmap, os, struct
shared = open({str(index)!r}, "r+b")
at = mmap.mmap(shared.fileno(), 8)
fd = os.open({str(d)!r}, os.O_PATH)
os.chdir({str(d)!r})
for i in range({N}):
    p = {name}
    at[0:8] = struct.pack("q", i + 1)
    try:
        {call}
    except OSError:
        pass
at[0:8] = struct.pack("q", 0)
"""


@pytest.mark.parametrize("way", ["its full name", "the cwd", "a dirfd"])
@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize("loop", LOOPS)
def test_a_followed_last_name_swapped_for_a_symlink_is_placed_right_or_unresolved(
    tmp_path: Path, loop: str, change: str, way: str
) -> None:
    _changes_placed_right_or_unresolved(tmp_path, loop, change, way)


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_followed_last_name_in_a_directory_its_user_may_search_and_not_list_is_placed(
    site: Path,  # noqa: F811 - fixture
    work: Path,  # noqa: F811 - fixture
    user: str,
) -> None:
    """The way is settled (resolve.stamp) by reading each directory on it; one rotrace's user
    may not read is not waited for, and the change is still placed (by the change times)."""
    if os.geteuid() != 0:
        pytest.skip("making a directory only another user may list needs root")
    hidden = work / "hidden"
    hidden.mkdir()
    target = hidden / "m"
    target.write_text("x")
    os.chown(target, 65534, 65534)
    hidden.chmod(0o711)
    code = f"import os; os.chdir({str(hidden)!r}); os.chmod('m', 0o640); os.utime('m', (1, 1))"
    run = rotrace(
        ["run", "-q", "--json", "t.json", "--", "python3", "-c", code], user=user, site=site, cwd=work
    )
    assert run.returncode in (0, 1), run.stderr
    events = json.loads((work / "t.json").read_text())["events"]
    changes = [(e["op"], e["path"], e["unresolved"]) for e in events if e["op"] in CHANGES]
    assert changes == [("chmod", str(target), False), ("utime", str(target), False)]
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.stat().st_mtime == 1


@pytest.fixture
def overlay(tmp_path: Path) -> Iterator[Path]:
    """An overlay's merged directory (a container's root is one): its change times cannot
    show every change, so the directories a way reads are watched instead."""
    if os.geteuid() != 0:
        pytest.skip("mounting a filesystem needs root")
    for part in ("lower", "upper", "work", "merged"):
        (tmp_path / part).mkdir()
    options = f"lowerdir={tmp_path}/lower,upperdir={tmp_path}/upper,workdir={tmp_path}/work"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(tmp_path / "merged")], check=True)
    try:
        yield tmp_path / "merged"
    finally:
        subprocess.run(["umount", "-l", str(tmp_path / "merged")], check=False)


@pytest.mark.parametrize("way", ["its full name", "a dirfd"])
def test_on_an_overlay_a_followed_last_name_swapped_for_a_symlink_is_placed_right_or_unresolved(
    overlay: Path, way: str
) -> None:
    _changes_placed_right_or_unresolved(overlay, "compiled", "chmod", way)


def _changes_placed_right_or_unresolved(tmp_path: Path, loop: str, change: str, way: str) -> None:
    d, b = tmp_path / "D", tmp_path / "B"
    d.mkdir()
    b.mkdir()
    for i in range(N):
        for f in (d / f"m{i}", b / f"m{i}"):
            f.write_text("x")
            f.chmod(0o666)
        (d / f"l{i}").symlink_to(b / f"m{i}")
    index = tmp_path / "index"
    index.write_bytes(b"\0" * 8)
    swapper = subprocess.Popen(
        [sys.executable, "-c", _SWAPPER, str(d), str(index)], stdout=subprocess.PIPE, text=True
    )
    env = {
        k: v for k, v in os.environ.items() if k not in ("COLUMNS", "ROTRACE_DIRCACHE", "ROTRACE_PURE_LOOP")
    }
    if loop == "pure":
        env["ROTRACE_PURE_LOOP"] = "1"
    trace = tmp_path / "t.json"
    try:
        assert swapper.stdout is not None and swapper.stdout.readline() == "ready\n"
        run = rotrace_cli(
            "run", "-q", "--json", str(trace), "--", PY, "-c", _writer(d, index, change, way), env=env
        )
    finally:
        swapper.send_signal(signal.SIGTERM)
        swaps = swapper.communicate(timeout=60)[0].split()
    assert run.returncode in (0, 1), run.stderr
    assert swaps and int(swaps[-1]) > 0
    told = CHANGES[change][1]
    placed = [e for e in json.loads(trace.read_text())["events"] if e["op"] == change and e["result"] == 0]
    assert len(placed) == N
    wrong = [
        e["path"]
        for e in placed
        if not e["unresolved"]
        and not (e["path"].startswith((f"{d}/m", f"{b}/m")) and told(os.lstat(e["path"])))
    ]
    assert not wrong, f"{len(wrong)} of {N} changes placed on a file they did not change: {wrong[:5]}"


# Makes N nameless files (O_TMPFILE) through argv[1] and prints, for each, whether the kernel
# made it in the protected directory argv[3] (P), as its fd's name says, or elsewhere (O).
_TMPFILES = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int n = atoi(argv[2]);
    char *seen = calloc(n + 1, 1), link[64], name[4096];
    for (int i = 0; i < n; i++) {
        int fd = open(argv[1], O_TMPFILE | O_RDWR, 0600);
        if (fd < 0) { seen[i] = 'F'; continue; }
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t k = readlink(link, name, sizeof name - 1);
        name[k > 0 ? k : 0] = 0;
        seen[i] = strncmp(name, argv[3], strlen(argv[3])) == 0 ? 'P' : 'O';
        close(fd);
    }
    printf("%s\n", seen);
    return 0;
}
"""

# Points the symlink argv[1] at argv[2], then argv[3], and so on, without pause, until killed.
_FLIPPER = r"""
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char made[4096];
    snprintf(made, sizeof made, "%s.new", argv[1]);
    for (unsigned i = 0;; i++) {
        unlink(made);
        if (symlink(i & 1 ? argv[2] : argv[3], made) == 0) rename(made, argv[1]);
    }
}
"""


@pytest.mark.needs("gcc")
@pytest.mark.parametrize("namespace", [[], ["unshare", "-Urm"]], ids=["plain", "own-namespace"])
def test_a_nameless_file_through_a_symlink_swapped_outside_is_placed_where_it_was_made(
    tmp_path: Path, namespace: list[str]
) -> None:
    """O_TMPFILE through a symlink a process outside the trace points at a protected directory
    and at an allowed one by turns: the path names the directory, and what it named at the
    exit was taken for where the file was made (a tmpfile made in the protected directory was
    an allowed write in /tmp). Each is placed where its fd's name says it was made, or
    unresolved."""
    protected = Path(tempfile.mkdtemp(prefix="rotrace-tmpfile-", dir="/var/tmp"))
    programs: list[str] = []
    for name, source in (("tmpfiles", _TMPFILES), ("flipper", _FLIPPER)):
        (tmp_path / f"{name}.c").write_text(source)
        subprocess.run(["gcc", "-O2", "-o", str(tmp_path / name), str(tmp_path / f"{name}.c")], check=True)
        programs.append(str(tmp_path / name))
    allowed, link = tmp_path / "allowed", tmp_path / "x"
    allowed.mkdir()
    flipper = subprocess.Popen([programs[1], str(link), str(protected), str(allowed)])
    try:
        command = [*namespace, programs[0], str(link), "2000", str(protected)]
        proc = rotrace_cli("run", "-q", "--json", str(tmp_path / "t.json"), "--", *command, timeout=300)
    finally:
        flipper.kill()
        flipper.wait()
        shutil.rmtree(protected)
    made = proc.stdout.strip()
    assert len(made) == 2000 and made.count("P") > 0, (proc.stdout[:200], proc.stderr)
    events = json.loads((tmp_path / "t.json").read_text())["events"]
    events = [e for e in events if "O_TMPFILE" in (e["flags"] or "")]
    assert len(events) == len(made), (len(events), proc.stderr)
    pairs = list(zip(events, made, strict=True))
    wrong = [e for e, where in pairs if where == "P" and not e["unresolved"] and e["path"] != str(protected)]
    assert wrong == [], wrong[:3]
    placed = [e for e, where in pairs if where == "O" and not e["unresolved"]]
    assert all(e["path"] == str(allowed) for e in placed), placed[:3]
