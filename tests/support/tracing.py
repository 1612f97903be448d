"""Helpers for the system tests: trace real processes (no kernel mocks) and run the real CLI."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rotrace.events import FileEvent
from rotrace.tracer import TraceOptions, TraceResult, trace_command
from rotrace.tracer.loop import compiled_loop

PY = sys.executable
LOOPS = ("compiled", "pure")  # the tracer's two loops: _fastloop.c, and pure Python


@contextmanager
def using_loop(loop: str) -> Iterator[None]:
    """Trace with one of the two loops; the compiled one must be built (pip install with gcc)."""
    saved = os.environ.pop("ROTRACE_PURE_LOOP", None)
    if loop == "pure":
        os.environ["ROTRACE_PURE_LOOP"] = "1"
    try:
        assert compiled_loop() == (loop == "compiled"), "the compiled loop is not built (a C compiler?)"
        yield
    finally:
        os.environ.pop("ROTRACE_PURE_LOOP", None)
        if saved is not None:
            os.environ["ROTRACE_PURE_LOOP"] = saved


@pytest.fixture(params=[(lp, cache) for lp in LOOPS for cache in ("cache", "no-cache")], ids=str)
def loop_with_and_without_cache(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Each loop, with the placement cache (the default) and without (ROTRACE_DIRCACHE=0): the
    same answers. A test module takes it as its `loop` (`loop = loop_with_and_without_cache`)."""
    name, cache = request.param
    monkeypatch.setenv("ROTRACE_DIRCACHE", "1" if cache == "cache" else "0")
    with using_loop(name):
        yield name


def run_traced(
    argv: list[str],
    *,
    seccomp: bool = True,
    all_opens: bool = False,
    env: dict[str, str] | None = None,
) -> tuple[list[FileEvent], TraceResult]:
    events: list[FileEvent] = []
    result = trace_command(argv, events.append, TraceOptions(seccomp=seccomp, all_opens=all_opens), env=env)
    return events, result


Traced = tuple[list[FileEvent], TraceResult]
TracePy = Callable[..., Traced]


@pytest.fixture
def trace_py(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TracePy:
    """Run a Python snippet (cwd: tmp_path) under rotrace; only events under tmp_path are kept."""
    monkeypatch.chdir(tmp_path)
    root = os.fsencode(tmp_path)

    def run(code: str, *, seccomp: bool = True, all_opens: bool = False) -> Traced:
        events, result = run_traced([PY, "-c", textwrap.dedent(code)], seccomp=seccomp, all_opens=all_opens)
        mine = [e for e in events if e.path.startswith(root)]
        return mine, result

    return run


def rotrace_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """The installed CLI, as a user runs it (its output piped, not wrapped: no COLUMNS)."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run(
        [PY, "-m", "rotrace", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def by_syscall(events: list[FileEvent], name: str) -> list[FileEvent]:
    return [e for e in events if e.syscall == name]


NON_ROOT_PYTHON = "/usr/bin/python3"


def _runtime_imports() -> list[str]:
    """The top-level names rotrace and what it depends on at run time import (its metadata's
    requirements, followed; not its extras): a list kept by hand missed tomlkit."""
    from importlib import metadata

    def key(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    tops: dict[str, list[str]] = {}
    for top, dists in metadata.packages_distributions().items():
        for dist in dists:
            tops.setdefault(key(dist), []).append(top)
    names, seen, todo = [], set(), ["rotrace"]
    while todo:
        dist = key(todo.pop())
        if dist in seen:
            continue
        seen.add(dist)
        names += tops.get(dist, [])
        for requirement in metadata.requires(dist) or []:
            if "extra ==" not in requirement:
                todo.append(re.match(r"[A-Za-z0-9._-]+", requirement).group())  # type: ignore[union-attr]
    return sorted(set(names))


def portable_site(dest: Path) -> Path:
    """rotrace and its dependencies, copied where an unprivileged user can import them."""
    for name in _runtime_imports():
        spec = importlib.util.find_spec(name)
        assert spec is not None, name
        if spec.submodule_search_locations:
            shutil.copytree(next(iter(spec.submodule_search_locations)), dest / name, dirs_exist_ok=True)
        elif spec.origin and os.path.isfile(spec.origin):  # a module of one file (an extension's too)
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(spec.origin, dest / os.path.basename(spec.origin))
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0))
    return dest


def process_state(pid: int) -> str | None:
    """The state letter /proc gives a process (R, S, t for traced-stopped, Z...), None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
