"""A directory swapped for a symlink without pause by a process outside the traced tree, while
the traced command writes into it (tracer/dircache.py): the kernel does not order such a swap
against a write, so a write may land in either directory. Each placed write must be where the
file is at the end (the kernel's truth: which directory holds the name), or marked unresolved,
never placed in the other directory. rotrace runs as its own process (the CLI), the swapper is
another: no thread of the tracer's own."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.as_user import invocation, site, work  # noqa: F401 (fixtures)
from tests.support.racing_swap import (
    CHANGERS,
    HOWS,
    MAKERS,
    REMOVERS,
    WRITES,
    changed,
    made,
    misplaced,
    misplaced_changes,
    misplaced_removals,
    removed,
    swapping,
    writer,
    writer_swapping,
)
from tests.support.tracing import LOOPS, NON_ROOT_PYTHON, PY, rotrace_cli


def _env(loop: str) -> dict[str, str]:
    unset = ("COLUMNS", "ROTRACE_DIRCACHE", "ROTRACE_PURE_LOOP")  # the cache's default: on
    env = {k: v for k, v in os.environ.items() if k not in unset}
    if loop == "pure":
        env["ROTRACE_PURE_LOOP"] = "1"
    return env


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("loop", LOOPS)
def test_a_racing_swap_by_another_process_is_placed_right_or_unresolved(
    tmp_path: Path, loop: str, how: str
) -> None:
    with swapping(tmp_path, how):
        trace = str(tmp_path / "t.json")
        run = rotrace_cli("run", "-q", "--json", trace, "--", PY, "-c", writer(tmp_path), env=_env(loop))
    assert run.returncode in (0, 1), run.stderr  # 1: writes outside the default allowlist
    placed = made(json.loads((tmp_path / "t.json").read_text())["events"])
    wrong = misplaced(tmp_path, placed)
    assert not wrong, f"{len(wrong)} of {len(placed)} writes placed where they are not: {wrong[:5]}"


def _traced_in_locked(
    home: Path,
    portable: Path,
    user: str,
    how: str,
    code: str,
    loop: str = "compiled",
    filled: bool | str = False,
    outside: bool = True,
    pace: int = 0,
) -> list[dict[str, object]]:
    """The events of `code` traced by rotrace as `user` (from `portable`, the site uid 65534
    imports) in `home` while `home/locked/d` is swapped; locked is root's, searchable, not
    readable: uid 65534's inotify_add_watch there is EACCES."""
    locked = home / "locked"
    argv, env = invocation(user, portable, home)
    if loop == "pure":
        env["ROTRACE_PURE_LOOP"] = "1"
    python = PY if user == "root" else NON_ROOT_PYTHON
    trace = home / "t.json"
    owner = 0 if user == "root" else 65534
    with swapping(locked, how, mode=0o777, filled=filled, owner=owner, outside=outside, pace=pace):
        run = subprocess.run([*argv, "run", "-q", "--json", str(trace), "--", python, "-c", code],
                             cwd=home, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode in (0, 1), run.stderr
    events: list[dict[str, object]] = json.loads(trace.read_text())["events"]
    return events


@pytest.fixture
def locked(work: Path) -> Path:  # noqa: F811
    path = work / "locked"
    path.mkdir(mode=0o711)
    path.chmod(0o711)
    return path


@pytest.mark.parametrize("maker", MAKERS)
@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("loop", LOOPS)
def test_a_swap_rotrace_cannot_watch_is_placed_right_or_unresolved(
    work: Path,  # noqa: F811
    site: Path,  # noqa: F811
    locked: Path,
    loop: str,
    how: str,
    maker: str,
) -> None:
    """The same swap in a directory rotrace (uid 65534) may search but not read: no inotify
    watch, no news of any swap, so every write the swap overtakes between the kernel's walk and
    rotrace's is placed by the name as it is at the exit stop. Each must be checked there."""
    events = _traced_in_locked(work, site, "nobody", how, writer(locked, maker), loop)
    placed = made(events, maker)
    wrong = misplaced(locked, placed)
    assert not wrong, f"{len(wrong)} of {len(placed)} writes placed where they are not: {wrong[:5]}"


@pytest.mark.parametrize("remover", REMOVERS)
@pytest.mark.parametrize("user", ["root", "nobody"])
@pytest.mark.parametrize("how", HOWS)
def test_a_name_removed_racing_a_swap_is_placed_right_or_unresolved(
    work: Path,  # noqa: F811
    site: Path,  # noqa: F811
    locked: Path,
    how: str,
    user: str,
    remover: str,
) -> None:
    """Names of A removed by their name in `d` while it is swapped (root: watched; uid 65534:
    not, as above). A removed name is in no directory at the exit, so its absence proves
    nothing: each must be placed in A, or unresolved, never in B (which never held it)."""
    events = _traced_in_locked(work, site, user, how, writer(locked, remover), filled=True)
    placed = removed(events, remover)
    wrong = misplaced_removals(locked, placed)
    assert not wrong, f"{len(wrong)} of {len(placed)} removals placed where they were not: {wrong[:5]}"


@pytest.mark.parametrize("changer", CHANGERS)
@pytest.mark.parametrize("user", ["root", "nobody"])
@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("swapper", ["another process", "the traced command"])
def test_a_name_in_both_directories_changed_racing_a_swap_is_placed_right_or_unresolved(
    work: Path,  # noqa: F811
    site: Path,  # noqa: F811
    locked: Path,
    swapper: str,
    how: str,
    user: str,
    changer: str,
) -> None:
    """Files that A and B both hold, changed by their name in `d` while it is swapped without
    pause: the name is in both directories at the exit, so finding it there proves nothing.
    By another process (not traced): where rotrace (root) watches, the news of the swap says
    it; where it cannot (uid 65534), the change times of the directories on the way, read at
    the entry and at the exit (a swap and a swap back in between included). By the traced
    command itself (`locked` writable and searchable, not readable, by uid 65534): its every
    rename is seen at its entry and its exit, watched or not. Never placed in the directory
    whose file did not change."""
    if swapper == "the traced command":
        locked.chmod(0o733)
        code, outside = writer_swapping(locked, changer, how), False
    else:
        code, outside = writer(locked, changer), True
    _changes_placed_right_or_unresolved(work, site, user, how, code, changer, outside)


WAYS = ["a symlink to d", "a symlink to each name in d", "d/..", "the cwd", "a dirfd"]
SYMLINK_CASES = [
    (user, changer, way)
    for user, changer, way in itertools.product(["root", "nobody"], CHANGERS, WAYS)
    if not (way == "a dirfd" and changer == "truncate")  # os.truncate takes no dir_fd
]


@pytest.mark.parametrize(("user", "changer", "way"), SYMLINK_CASES)
def test_a_name_changed_through_a_symlink_into_a_swapped_directory_is_placed_right_or_unresolved(
    work: Path,  # noqa: F811
    site: Path,  # noqa: F811
    locked: Path,
    user: str,
    changer: str,
    way: str,
) -> None:
    """As above, by the name `W/link/m<i>` (W/link a symlink to `d`), `W/m<i>` (each a
    symlink to `d/m<i>`, which the change follows), `d/../d/m<i>` or `d/m<i>` from the cwd:
    the way the kernel walks goes through directories the path does not list (the one holding
    `d`), or that its lexical reading misses, whose news names no way of the write's. Such a
    way is read a name at a time at the entry, and the change times of every directory it
    reads checked at the exit."""
    hop = work / "W"
    hop.mkdir(mode=0o755)
    through: Path | str
    if way == "a symlink to d":
        (hop / "link").symlink_to(locked / "d")
        through = hop / "link"
    elif way == "a symlink to each name in d":
        for i in range(WRITES):
            (hop / f"m{i}").symlink_to(locked / "d" / f"m{i}")
        through = hop
    elif way == "d/..":  # d/.. is locked whichever d is (B is in locked too): a `..` after a swap
        through = locked / "d" / ".." / "d"
    else:  # names relative to the cwd, locked, or to an fd of it
        through = "d"
    code = writer(locked, changer).replace(repr(str(locked / "d")), repr(str(through)))
    assert repr(str(through)) in code
    if way == "the cwd":
        code = f"import os\nos.chdir({str(locked)!r})\n{code}"
    elif way == "a dirfd":
        code = f"import os\nfd = os.open({str(locked)!r}, os.O_PATH)\n{code}".replace(
            "(new, ", "(new, dir_fd=fd, "
        )
        code = code.replace("dir_fd=fd, 0o640)", "0o640, dir_fd=fd)").replace(
            "dir_fd=fd, (1, 1))", "(1, 1), dir_fd=fd)"
        )
        assert "dir_fd=fd)" in code
    # paced: the swaps come as news (a swapper without pause is let go of, and read by times)
    _changes_placed_right_or_unresolved(work, site, user, "exchange", code, changer, pace=10000)


def _changes_placed_right_or_unresolved(
    home: Path,
    portable: Path,
    user: str,
    how: str,
    code: str,
    changer: str,
    outside: bool = True,
    pace: int = 0,
) -> None:
    """`code` traced while `home/locked/d` is swapped, A and B both holding every name: each
    change placed where the changed file is, or unresolved."""
    events = _traced_in_locked(home, portable, user, how, code, filled="both", outside=outside, pace=pace)
    placed = changed(events, changer)
    wrong = misplaced_changes(home / "locked", placed, changer)
    assert not wrong, f"{len(wrong)} of {len(placed)} changes placed where they are not: {wrong[:5]}"
