"""Property-based conformance: random programs of file operations (dirfds, chdir, symlinks,
threads, forks, exec, failures, hostile and non-UTF-8 names, paths near PATH_MAX) run under
`strace -f` and under rotrace (each of its two loops) must give the same (syscall, path,
target, result) multisets.

CI runs a bounded number of examples (ROTRACE_CONFORMANCE_EXAMPLES, 20 by default);
scripts/conformance runs more. Each mismatch found becomes a named regression test below.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.support import strace_oracle
from tests.support.programs import Step, compile_program, programs
from tests.support.tracing import LOOPS, run_traced, using_loop

pytestmark = pytest.mark.needs("strace")
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
EXAMPLES = int(os.environ.get("ROTRACE_CONFORMANCE_EXAMPLES", "20"))


def _mine(keys: Counter[strace_oracle.Key], work: Path) -> Counter[strace_oracle.Key]:
    root = os.fsencode(work)
    return Counter({k: n for k, n in keys.items() if k[1] == root or k[1].startswith(root + b"/")})


def check(steps: list[Step], base: Path) -> None:
    work = base / "work"
    program = compile_program(steps)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    out = base / "strace.out"
    strace_oracle.run_strace([PY, "-c", program], work, out, env=env)
    expected = _mine(strace_oracle.parse(out, work), work)
    for loop in LOOPS:
        shutil.rmtree(work)
        work.mkdir()
        cwd = os.getcwd()
        os.chdir(work)
        try:
            with using_loop(loop):
                events, result = run_traced([PY, "-c", program], env=env)
        finally:
            os.chdir(cwd)
        assert result.exit_code == 0
        got = _mine(strace_oracle.keys_of(events), work)
        missing, extra = expected - got, got - expected
        assert not missing and not extra, f"{loop} loop: {steps!r}\nmissing: {missing}\nextra: {extra}"


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=programs())
def test_random_programs_agree_with_strace(steps: list[Step], tmp_path: Path) -> None:
    check(steps, tmp_path)


@pytest.mark.parametrize(
    "steps",
    [
        # a forked child after a chdir: the oracle must hand the cwd down (it did not)
        [("chdir", "d0"), ("mkdir", "d0"), ("fork", repr([("create", "f0"), ("mkdir", "d1")]))],
        # hostile names, a deep tree, a dirfd, a rename over a link
        [
            ("mkdir", "d0"),
            ("create", "d0/f\nnl"),
            ("create", "f\udce9"),
            ("deep",),
            ("dirfd_create", "d0", "-f"),
            ("symlink", "f0", "l0"),
            ("rename", "l0", "l1"),
            ("unlink", "l1"),
        ],
        # an exec'd child and a thread, each in its own directory, with failures
        [
            ("exec", repr([("mkdir", "d0"), ("rmdir", "d1"), ("create_excl", "f0"), ("create_excl", "f0")])),
            ("thread", repr([("link", "f0", "f1"), ("truncate", "f1"), ("utime", "F" * 255)])),
        ],
    ],
    ids=["fork-after-chdir", "names-deep-links", "exec-thread-failures"],
)
def test_regressions(steps: list[Step], tmp_path: Path) -> None:
    check(steps, tmp_path)
