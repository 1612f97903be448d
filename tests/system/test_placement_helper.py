"""The compiled loop's placement helpers (_fastloop.c, through DirCache) against the pure loop's
Python, on real directories, symlinks and files: whatever path `place` serves from the cache is
the one resolve.resolve gives, and `directory` and `lexical` answer as DirCache's own Python,
for any spelling of the path (`.`, `..`, repeated and trailing slashes, symlinks followed or
not, absolute or from the cwd)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rotrace.tracer import resolve
from rotrace.tracer.dircache import DirCache

_NAMES = ["a", "b", ".", "..", "", "link", "dangling", "file", "new"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("placement")
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "file").write_text("")
    (root / "link").symlink_to("a")
    (root / "a" / "link").symlink_to("b")
    (root / "a" / "dangling").symlink_to("nowhere")
    (root / "a" / "b" / "link").symlink_to("/")
    before = os.getcwd()
    os.chdir(root)
    try:
        yield root
    finally:
        os.chdir(before)


@pytest.fixture(scope="module")
def caches() -> Iterator[tuple[DirCache, DirCache]]:
    with_helper, without = DirCache(compiled=True), DirCache()
    yield with_helper, without
    with_helper.close()
    without.close()


@settings(max_examples=600, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    names=st.lists(st.sampled_from(_NAMES), min_size=1, max_size=5),
    absolute=st.booleans(),
    trailing=st.sampled_from(["", "/", "//"]),
    follow=st.booleans(),
)
def test_what_the_helper_serves_is_what_resolve_gives(
    tree: Path,
    caches: tuple[DirCache, DirCache],
    names: list[str],
    absolute: bool,
    trailing: str,
    follow: bool,
) -> None:
    tid = os.getpid()
    raw = ("/".join(names) + trailing).encode()
    if absolute:
        raw = os.fsencode(tree) + b"/" + raw
    base = resolve.base_of(tid, resolve.AT_FDCWD, raw)
    cache, plain = caches
    assert cache.fresh() and plain.fresh()
    expected = resolve.resolve(base, raw, follow, plain=True)  # the kernel's answer, no cache (our root)
    for _ in range(2):  # the first use learns the directory, the second is served
        assert resolve.resolve(base, raw, follow, b"", plain, tid, plain=True) == expected
        assert cache.fresh()
        served = cache.placed(tid, base, raw, follow)
        assert served is None or served == expected, (raw, follow)
        assert resolve.resolve(base, raw, follow, b"", cache, tid, plain=True) == expected
    for way in {raw, raw.rstrip(b"/").rpartition(b"/")[0], raw.rstrip(b"/")}:
        assert cache.directory(tid, base, way) == plain.directory(tid, base, way), way
        assert cache._lexical(tid, base, way) == plain._lexical(tid, base, way), way


def test_the_helper_serves_what_the_cache_knows(tree: Path, caches: tuple[DirCache, DirCache]) -> None:
    """Not a helper that always declines: a directory learnt is served, and a changed one is not."""
    cache, _ = caches
    tid = os.getpid()
    base = resolve.base_of(tid, resolve.AT_FDCWD, b"a/b/x")
    assert cache.fresh()
    resolve.resolve(base, b"a/b/x", False, b"", cache, tid)
    assert cache.fresh()
    assert cache.placed(tid, base, b"a/b/x", False) == os.fsencode(tree / "a" / "b" / "x")
    assert cache.placed(tid, base, b"a/b/link", True) is None  # a symlink to follow: placed whole
    (tree / "a" / "b").rename(tree / "a" / "c")
    try:
        (tree / "a" / "b").mkdir()  # the same name, another directory
        assert cache.fresh()
        assert cache.placed(tid, base, b"a/b/x", False) is None
    finally:
        (tree / "a" / "b").rmdir()
        (tree / "a" / "c").rename(tree / "a" / "b")
