"""Paths read out of the tracee's memory where reading is hard: a string whose NUL is the last
byte before an unreadable page, one that runs into such a page with no NUL (the kernel answers
EFAULT), one across a page boundary, one longer than the first read, one at no mapping at all.
The compiled loop reads strings with its own helper (_fastloop.c) and the pure loop with
memory.py's: each must record what the kernel was given."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from rotrace.events import FileEvent
from tests.support.tracing import LOOPS, PY, run_traced, using_loop

_PROGRAM = textwrap.dedent(
    """
    import ctypes, mmap
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mkdir.argtypes = (ctypes.c_void_p, ctypes.c_uint)
    page = mmap.PAGESIZE

    def mapping(pages):
        m = mmap.mmap(-1, pages * page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        return m, ctypes.addressof(ctypes.c_char.from_buffer(m))

    def mkdir_at(m, base, offset, name):
        m[offset : offset + len(name)] = name
        return libc.mkdir(base + offset, 0o755)

    # a readable page, then one that is not
    edge, edge_at = mapping(2)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    assert libc.mprotect(edge_at + page, page, 0) == 0
    last = b"nul-on-the-last-byte-" + b"a" * 150 + b"\\0"
    print(mkdir_at(edge, edge_at, page - len(last), last))
    print(mkdir_at(edge, edge_at, page - 40, b"c" * 40), ctypes.get_errno())  # no NUL: EFAULT

    # three readable pages: across a boundary, and longer than the first read
    wide, wide_at = mapping(3)
    across = b"across-a-page-boundary-" + b"b" * 100 + b"\\0"
    print(mkdir_at(wide, wide_at, page - 60, across))
    outer = b"d" * 200
    print(libc.mkdir(outer, 0o755))
    long = outer + b"/" + b"e" * 200 + b"\\0"
    print(mkdir_at(wide, wide_at, 2 * page - 300, long))
    print(libc.mkdir(8, 0o755), ctypes.get_errno())  # no mapping there: EFAULT
    """
)


def _mkdirs(events: list[FileEvent]) -> list[tuple[bytes, str | None]]:
    return [(e.path, e.errno) for e in events if e.syscall == "mkdir"]


@pytest.mark.parametrize("loop", LOOPS)
def test_paths_at_the_edges_of_the_tracees_memory(
    loop: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with using_loop(loop):
        events, result = run_traced([PY, "-c", _PROGRAM])
    assert result.exit_code == 0
    root = os.fsencode(tmp_path)
    found = _mkdirs(events)
    assert found[0] == (root + b"/nul-on-the-last-byte-" + b"a" * 150, None)
    assert found[1][1] == "EFAULT"  # what could be read of it is kept: never a path it was not
    assert found[2] == (root + b"/across-a-page-boundary-" + b"b" * 100, None)
    assert found[3] == (root + b"/" + b"d" * 200, None)
    assert found[4] == (root + b"/" + b"d" * 200 + b"/" + b"e" * 200, None)
    assert found[5][1] == "EFAULT"
    assert len(found) == 6
    assert (tmp_path / ("d" * 200) / ("e" * 200)).is_dir()


def test_both_loops_read_the_same_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the kernel refuses the string (EFAULT), what each loop read of it is the same."""
    seen = []
    for loop in LOOPS:
        where = tmp_path / loop
        where.mkdir()
        monkeypatch.chdir(where)
        with using_loop(loop):
            events, _ = run_traced([PY, "-c", _PROGRAM])
        prefix = os.fsencode(where)
        seen.append([(p.replace(prefix, b"<cwd>", 1), err) for p, err in _mkdirs(events)])
    assert seen[0] == seen[1]


_PAIRS = textwrap.dedent(
    """
    import ctypes, mmap, os
    libc = ctypes.CDLL(None, use_errno=True)
    for f in (libc.rename, libc.symlink, libc.link):
        f.argtypes = (ctypes.c_void_p, ctypes.c_void_p)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    page = mmap.PAGESIZE
    m = mmap.mmap(-1, 3 * page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    at = ctypes.addressof(ctypes.c_char.from_buffer(m))
    assert libc.mprotect(at + 2 * page, page, 0) == 0  # the third page unreadable

    def put(offset, name):
        m[offset : offset + len(name) + 1] = name + b"\\0"
        return at + offset

    def call(fn, first, second):
        print(fn(first, second), ctypes.get_errno())

    open("a1", "w").close()
    # the second name just before the unreadable page: a read past its end stops there
    call(libc.rename, put(2 * page - 900, b"a1"), put(2 * page - 3, b"b1"))
    # the second first in memory, the first a long name that runs past what one read takes
    os.mkdir(b"c" * 200)
    long = b"c" * 200 + b"/" + b"f" * 150
    open(long, "w").close()
    call(libc.rename, put(page + 64, long), put(page, b"d2"))
    # one name on the unreadable page: it has no place, the other keeps its own
    call(libc.link, put(page + 900, b"d2"), at + 2 * page + 16)
    call(libc.symlink, put(page + 300, b"the-text"), put(page + 10, b"e3"))
    call(libc.symlink, put(page + 1200, b"same"), at + page + 1200)
    """
)


@pytest.mark.parametrize("loop", LOOPS)
def test_two_names_side_by_side_at_the_edges_of_memory(
    loop: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rename's, a link's and a symlink's two strings are read together where they lie close
    (one read of the span between them): each must still be what the kernel was given, where
    the span runs into an unreadable page, a name runs past it, or one name is unreadable."""
    monkeypatch.chdir(tmp_path)
    with using_loop(loop):
        events, result = run_traced([PY, "-c", _PAIRS])
    assert result.exit_code == 0, result
    root = os.fsencode(tmp_path)
    calls = [e for e in events if e.syscall in ("rename", "link", "symlink")]
    seen = [(e.syscall, e.path, e.target, e.errno, e.unresolved) for e in calls]
    assert seen[0] == ("rename", root + b"/a1", root + b"/b1", None, False)
    assert seen[1] == ("rename", root + b"/" + b"c" * 200 + b"/" + b"f" * 150, root + b"/d2", None, False)
    assert (seen[2][0], seen[2][2], seen[2][3]) == ("link", root + b"/d2", "EFAULT")  # no new name
    assert seen[3] == ("symlink", root + b"/e3", b"the-text", None, False)
    assert seen[4] == ("symlink", root + b"/same", b"same", None, False)
    assert len(seen) == 5
    assert (tmp_path / "b1").is_file() and (tmp_path / "d2").is_file()
    assert os.readlink(tmp_path / "e3") == "the-text" and os.readlink(tmp_path / "same") == "same"
