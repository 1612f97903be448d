"""A bind mount made and detached over a directory on a call's way, without pause, by a process
outside the traced tree, while the command changes files there by name through a dirfd
(tracer/dircache.py: a way through a dirfd or a symlink checks the mounts at its exit). Each
change is placed under the name the command used, or unresolved; never at the detached mount's
own root (`/m<i>`, a name the command never used), never on a file it did not change.

Both processes run in a mount namespace of their own (the toggler's), so the mounts reach no
other process on the machine."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.tracing import LOOPS, PY

N = 1000
_UNSET = ("COLUMNS", "ROTRACE_DIRCACHE", "ROTRACE_PURE_LOOP")

# mount(MS_BIND) B over D/sub, then umount2(MNT_DETACH), without pause, until SIGTERM.
_TOGGLER = r"""
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
src, dst = (sys.argv[1] + "/B").encode(), (sys.argv[1] + "/D/sub").encode()
stop, n = [], 0
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
print("ready", flush=True)
while not stop:
    if libc.mount(src, dst, None, 4096, None) == 0:
        while libc.umount2(dst, 2) != 0 and not stop:
            pass
        n += 1
print(n, flush=True)
"""


def _writer(base: Path) -> str:
    return f"""
import os
os.mkdir({str(base)!r} + "/D/sub/warm")
fd = os.open({str(base)!r} + "/D", os.O_RDONLY | os.O_DIRECTORY)
for i in range({N}):
    try:
        os.chmod("sub/m%d" % i, 0o640, dir_fd=fd)
    except OSError:
        pass
"""


def _changed(path: Path) -> bool:
    try:
        return stat.S_IMODE(os.lstat(path).st_mode) == 0o640
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("loop", LOOPS)
def test_a_bind_mount_detached_from_a_dirfd_way_mid_call_is_placed_right_or_unresolved(
    tmp_path: Path, loop: str
) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.skip("mounting needs root, unshare and nsenter (util-linux)")
    base = tmp_path
    for d in ("D/sub", "B"):
        (base / d).mkdir(parents=True)
        for i in range(N):
            (base / d / f"m{i}").write_text("x")
            (base / d / f"m{i}").chmod(0o666)
    toggler = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", PY, "-c", _TOGGLER, str(base)],
        stdout=subprocess.PIPE,
        text=True,
    )
    env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    if loop == "pure":
        env["ROTRACE_PURE_LOOP"] = "1"
    trace = base / "t.json"
    try:
        assert toggler.stdout is not None and toggler.stdout.readline() == "ready\n"
        run = subprocess.run(
            ["nsenter", f"--mount=/proc/{toggler.pid}/ns/mnt", "--", PY, "-m", "rotrace",
             "run", "-q", "--json", str(trace), "--", PY, "-c", _writer(base)],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    finally:
        toggler.send_signal(signal.SIGTERM)
        toggles = toggler.communicate(timeout=60)[0].split()
    assert run.returncode in (0, 1), run.stderr
    assert toggles and int(toggles[-1]) > 0
    placed = [e for e in json.loads(trace.read_text())["events"] if e["op"] == "chmod" and e["result"] == 0]
    assert len(placed) == N
    wrong = []
    for event in placed:
        path = event["path"]
        name = path.rpartition("/")[2]
        # the name the command used: D/sub/m<i>, which is B/m<i> while the bind mount is there
        twins = (base / "D/sub" / name, base / "B" / name)
        right = path == f"{base}/D/sub/{name}" and any(_changed(twin) for twin in twins)
        if not event["unresolved"] and not right:
            wrong.append(path)
    assert not wrong, f"{len(wrong)} of {N} changes placed where the command changed no file: {wrong[:5]}"
