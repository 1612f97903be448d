"""A directory `d` swapped for a symlink `s` -> `B` without pause by a process outside the
traced tree, while a traced command makes directories in `d` (tests/system/test_dircache_race.py,
and test_dircache_redteam3.py with mounts changing meanwhile). The kernel does not order such a
swap against a write: each write may land in either directory, and the files say which."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
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
how, pace = sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0
n = 0
print("ready", flush=True)
while not stop:
    for _ in range(pace):  # slow enough that the tracer keeps watching: news, not a flood
        pass
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


# How the traced command makes each name `m<i>` in `d`: the op each is recorded as, the
# Python that makes it (`new`: the path; a source named after it is made in the cwd first),
# and which field of the event places the new name.
MAKERS = {
    "mkdir": ("mkdir", "os.mkdir(new)", "path"),
    "mkfifo": ("mknod", "os.mkfifo(new)", "path"),
    "symlink": ("symlink", "os.symlink('x', new)", "path"),
    "link": ("link", "open(src, 'w').close(); os.link(src, new)", "path"),
    "rename": ("rename", "open(src, 'w').close(); os.rename(src, new)", "target"),
}


# How the traced command removes each file `m<i>` of A (`swapping(filled=True)`) by its name
# in `d`: the op it is recorded as, and the Python (`new`: the path in d; src: a name in the cwd).
REMOVERS = {
    "unlink": ("delete", "os.unlink(new)"),
    "rename away": ("rename", "os.rename(new, src)"),
}


# How the traced command changes each file `m<i>` by its name in `d`, where A and B both hold
# one of that name (`swapping(filled="both")`): the op it is recorded as, the Python, and how
# the changed file is told from the others (the kernel's truth of where the change landed).
CHANGERS: dict[str, tuple[str, str, Callable[[os.stat_result], bool]]] = {
    "chmod": ("chmod", "os.chmod(new, 0o640)", lambda st: stat.S_IMODE(st.st_mode) == 0o640),
    "utime": ("utime", "os.utime(new, (1, 1))", lambda st: st.st_mtime == 1),
    "truncate": ("truncate", "os.truncate(new, 1)", lambda st: st.st_size == 1),
}


def writer(base: Path, maker: str = "mkdir") -> str:
    """The traced command (Python): WRITES names made in `d`, by `maker` (one of MAKERS),
    removed from it (one of REMOVERS) or changed there (one of CHANGERS)."""
    code = next(table[maker][1] for table in (MAKERS, REMOVERS, CHANGERS) if maker in table)
    return f"""
import os
for i in range({WRITES}):
    new, src = {str(base / "d")!r} + "/m%d" % i, "f%d" % i
    try:
        {code}
    except OSError:
        pass
"""


def made(events: list[dict[str, object]], maker: str = "mkdir") -> list[str | None]:
    """Where rotrace placed each name the writer made (None: unresolved)."""
    op, _code, field = MAKERS[maker]
    return [
        None if e["unresolved"] else str(e[field])
        for e in events
        if e["op"] == op and e["result"] == 0 and "/m" in str(e[field])
    ]


def writer_swapping(base: Path, changer: str, how: str) -> str:
    """The traced command (Python) that swaps `d` itself (a child process of its own, traced
    too, as `swapping` would from outside) while it changes m0... by their name in `d`."""
    swap = ["-c", _SWAPPER, str(base), how.split(maxsplit=1)[0]]
    return f"""
import os, signal, subprocess, sys
swapper = subprocess.Popen([sys.executable, *{swap!r}], stdout=subprocess.PIPE, text=True)
assert swapper.stdout.readline() == "ready\\n"
{writer(base, changer)}
swapper.send_signal(signal.SIGTERM)
out, _ = swapper.communicate(timeout=60)
assert swapper.returncode == 0 and int(out.split()[-1]) > 0, out
"""


@contextmanager
def swapping(
    base: Path,
    how: str,
    mode: int = 0o755,
    filled: bool | str = False,
    owner: int = 0,
    outside: bool = True,
    pace: int = 0,
) -> Iterator[None]:
    """`d`, `B` (both with `mode`) and `s` made in base, swapped by another process (`how`: one
    of HOWS) for as long as the block runs; then `d` is the directory again, and the swapper
    made some swaps. `filled`: A holds the files m0... (REMOVERS' names) from the start;
    "both": A and B do (CHANGERS' names), empty, mode 0666, owned by `owner`. `outside`: False
    when the traced command swaps them itself (`writer_swapping`): no swapper here. `pace`:
    an empty loop that long between two swaps."""
    for name in ("d", "B"):  # d is A
        (base / name).mkdir()
        (base / name).chmod(mode)
    for i in range(WRITES if filled else 0):
        for name in ("d", "B") if filled == "both" else ("d",):
            (base / name / f"m{i}").touch()
            (base / name / f"m{i}").chmod(0o666)
            os.chown(base / name / f"m{i}", owner, owner)
    (base / "s").symlink_to("B")
    os.lchown(base / "s", owner, owner)
    if not outside:  # the traced command swaps (writer_swapping)
        yield
        assert (base / "d").is_dir() and not (base / "d").is_symlink()
        return
    argv = [sys.executable, "-c", _SWAPPER, str(base), how.split(maxsplit=1)[0], str(pace)]
    swapper = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert swapper.stdout is not None and swapper.stdout.readline() == "ready\n"
        yield
    finally:
        swapper.send_signal(signal.SIGTERM)
        out, _ = swapper.communicate(timeout=60)
    assert swapper.returncode == 0 and int(out.split()[-1]) > 0
    assert (base / "d").is_dir() and not (base / "d").is_symlink()


def removed(events: list[dict[str, object]], remover: str) -> list[str | None]:
    """Where rotrace placed each name of A the writer removed (None: unresolved)."""
    return _placed_paths(events, REMOVERS[remover][0])


def _placed_paths(events: list[dict[str, object]], op: str) -> list[str | None]:
    return [
        None if e["unresolved"] else str(e["path"])
        for e in events
        if e["op"] == op and e["result"] == 0 and "/m" in str(e["path"])
    ]


def misplaced_removals(base: Path, placed: Iterable[str | None]) -> list[str]:
    """Of the places rotrace gave the names removed from A (None: unresolved), those not in A
    (by any of its names: d, d.real, s); none of them is left in A."""
    placed = list(placed)
    left = set(os.listdir(base / "d"))
    assert not left & {p.rpartition("/")[2] for p in placed if p is not None}
    assert len(placed) + len(left) == WRITES
    a_names = {str(base / "d"), str(base / "d.real"), str(base / "s")}
    return [p for p in placed if p is not None and p.rpartition("/")[0] not in a_names]


def changed(events: list[dict[str, object]], changer: str) -> list[str | None]:
    """Where rotrace placed each change the writer made (None: unresolved)."""
    return _placed_paths(events, CHANGERS[changer][0])


def misplaced_changes(base: Path, placed: Iterable[str | None], changer: str) -> list[str]:
    """Of the places rotrace gave the changes (None: unresolved), those whose directory does
    not hold the changed file; each change must be in exactly one of A and B."""
    told = CHANGERS[changer][2]
    holds = {
        where: {n for n in os.listdir(base / name) if told(os.lstat(base / name / n))}
        for where, name in (("A", "d"), ("B", "B"))
    }
    placed = list(placed)
    assert not holds["A"] & holds["B"] and len(placed) == len(holds["A"]) + len(holds["B"])
    names = {str(base / "d"): "A", str(base / "d.real"): "A", str(base / "s"): "A", str(base / "B"): "B"}
    wrong = []
    for path in placed:
        parent, _, name = path.rpartition("/") if path is not None else ("", "", "")
        if path is not None and name not in holds.get(names.get(parent, "?"), set()):
            wrong.append(path)
    return wrong


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
