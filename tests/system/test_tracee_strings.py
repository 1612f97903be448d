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
