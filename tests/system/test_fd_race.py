"""A path walked from a directory fd or a process's /proc links that another thread changes
while the call runs: dup2 of another directory over the dirfd, fchdir under /proc/self/cwd.
The call used the one it found when its walk began, rotrace names the one there at the exit
stop: unless the change is seen (dup2, dup3, fchdir and the rest stop), a write would be
placed in the other directory. `d2` holds every name beforehand, so a name made there proves
nothing: each success landed in `d1` (the kernel's truth: d1 holds it), and none may be placed
in d2. rotrace runs as the CLI, the flipping thread in the traced process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.tracing import LOOPS, PY, rotrace_cli

N = 1500

FLIP_FD = """
import os, sys, threading
d1 = os.open("d1", os.O_RDONLY | os.O_DIRECTORY)
d2 = os.open("d2", os.O_RDONLY | os.O_DIRECTORY)
os.dup2(d2, 100)
stop = False
def flip():
    while not stop:
        os.dup2(d1, 100); os.dup2(d2, 100)
t = threading.Thread(target=flip); t.start()
for i in range({n}):
    try:
        {call}
    except OSError:
        pass
stop = True; t.join()
"""

FLIP_CWD = """
import os, threading
d1 = os.open("d1", os.O_RDONLY | os.O_DIRECTORY)
d2 = os.open("d2", os.O_RDONLY | os.O_DIRECTORY)
os.fchdir(d2)
stop = False
def flip():
    while not stop:
        os.fchdir(d1); os.fchdir(d2)
t = threading.Thread(target=flip); t.start()
for i in range({n}):
    try:
        os.mkdir("/proc/self/cwd/x%d" % i)
    except OSError:
        pass
stop = True; t.join()
"""

CALLS = {
    "mkdirat(dirfd)": FLIP_FD.format(n=N, call='os.mkdir("x%d" % i, dir_fd=100)'),
    "/proc/self/fd/N": FLIP_FD.format(n=N, call='os.mkdir("/proc/self/fd/100/x%d" % i)'),
    "/proc/self/cwd": FLIP_CWD.format(n=N),
}


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("loop", LOOPS)
def test_a_dirfd_or_cwd_link_changed_while_the_call_runs_is_never_placed_in_the_other(
    tmp_path: Path, loop: str, call: str
) -> None:
    for name in ("d1", "d2"):
        (tmp_path / name).mkdir()
    for i in range(N):
        (tmp_path / "d2" / f"x{i}").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("ROTRACE_PURE_LOOP", "COLUMNS")}
    if loop == "pure":
        env["ROTRACE_PURE_LOOP"] = "1"
    trace = tmp_path / "t.json"
    run = rotrace_cli("run", "-q", "--json", str(trace), "--", PY, "-c", CALLS[call], cwd=tmp_path, env=env)
    assert run.returncode in (0, 1), run.stderr
    made = set(os.listdir(tmp_path / "d1"))
    events = json.loads(trace.read_text())["events"]
    placed = [e for e in events if e["op"] == "mkdir" and e["result"] == 0]
    assert len(placed) == len(made) > 0
    wrong = [e["path"] for e in placed if not e["unresolved"] and not e["path"].startswith(f"{tmp_path}/d1/")]
    assert not wrong, f"{len(wrong)} of {len(placed)} placed where they are not: {wrong[:3]}"
    assert {e["path"].rpartition("/")[2] for e in placed if not e["unresolved"]} <= made
