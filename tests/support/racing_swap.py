"""A directory `d` swapped for a symlink `s` -> `B` without pause by a process outside the
traced tree, while a traced command makes directories in `d` (tests/system/test_dircache_race.py,
and test_dircache_redteam3.py with mounts changing meanwhile). The kernel does not order such a
swap against a write: each write may land in either directory, and the files say which."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

WRITES = 2000
HOWS = ["exchange", "rename and symlink"]

# RENAME_EXCHANGE of d (a directory) and s (a symlink to B), as fast as Python goes; on
# SIGTERM it stops with d the directory again, and prints how many swaps it made.
_SWAPPER = """
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(sys.argv[1])
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
how = sys.argv[2]
n = 0
print("ready", flush=True)
while not stop:
    if how == "exchange":
        if libc.renameat2(-100, b"d", -100, b"s", 2) != 0:
            sys.exit(ctypes.get_errno())
    else:  # the directory moved aside, a symlink elsewhere at its name, then back
        os.rename("d", "d.real"); os.symlink("B", "d"); os.unlink("d"); os.rename("d.real", "d")
    n += 1
if how == "exchange" and n % 2:
    libc.renameat2(-100, b"d", -100, b"s", 2)
print(n, flush=True)
"""


def writer(base: Path) -> str:
    """The traced command (Python): WRITES directories made by name in `d`."""
    return f"""
import os
for i in range({WRITES}):
    try:
        os.mkdir({str(base / "d")!r} + "/m%d" % i)
    except OSError:
        pass
"""


@contextmanager
def swapping(base: Path, how: str) -> Iterator[None]:
    """`d`, `B` and `s` made in base, swapped by another process (`how`: one of HOWS) for as
    long as the block runs; then `d` is the directory again, and the swapper made some swaps."""
    (base / "d").mkdir()  # A
    (base / "B").mkdir()
    (base / "s").symlink_to("B")
    argv = [sys.executable, "-c", _SWAPPER, str(base), how.split(maxsplit=1)[0]]
    swapper = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert swapper.stdout is not None and swapper.stdout.readline() == "ready\n"
        yield
    finally:
        swapper.send_signal(signal.SIGTERM)
        out, _ = swapper.communicate(timeout=60)
    assert swapper.returncode == 0 and int(out.split()[-1]) > 0
    assert (base / "d").is_dir() and not (base / "d").is_symlink()


def misplaced(base: Path, placed: Iterable[str | None]) -> list[str]:
    """Of the places rotrace gave the writer's directories (None: unresolved), those where the
    directory is not; the places must be as many as the directories made."""
    holds = {"A": set(os.listdir(base / "d")), "B": set(os.listdir(base / "B"))}
    names = {str(base / "d"): "A", str(base / "d.real"): "A", str(base / "s"): "A", str(base / "B"): "B"}
    placed = list(placed)
    assert len(placed) == sum(len(h) for h in holds.values())
    wrong = []
    for path in placed:
        if path is None:
            continue
        parent, _, name = path.rpartition("/")
        if name not in holds.get(names.get(parent, "?"), set()):
            wrong.append(path)
    return wrong
