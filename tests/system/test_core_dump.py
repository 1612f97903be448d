"""A core dump is a write the kernel makes for the command, with no system call of its own:
the file core_pattern names (in the process's cwd when relative) is recorded as a create when
the exit status says it was written (WCOREDUMP), a violation outside the allowlist; where a
confinement keeps it from being written (`--enforce`), there is none and nothing is recorded.
The kernel's truth: the file is there, or not."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.as_user import invocation, site, work  # noqa: F401 (fixtures)
from tests.support.tracing import NON_ROOT_PYTHON, PY

CRASH = """
import os, resource
resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
os.abort()
"""


def _pattern() -> str:
    return Path("/proc/sys/kernel/core_pattern").read_text().strip()


def _crash(user: str, portable: Path, workdir: Path, *flags: str) -> list[dict[str, object]]:
    argv, env = invocation(user, portable, workdir)
    python = PY if user == "root" else NON_ROOT_PYTHON
    trace = workdir / "t.json"
    run = subprocess.run([*argv, "run", "-q", *flags, "--json", str(trace), "--", python, "-c", CRASH],
                         cwd=workdir, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "Traceback" not in run.stderr, run.stderr
    events: list[dict[str, object]] = json.loads(trace.read_text())["events"]
    return events


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_core_dump_is_recorded_where_the_kernel_wrote_it(work: Path, site: Path, user: str) -> None:  # noqa: F811
    events = _crash(user, site, work)
    dumps = [e for e in events if e["syscall"] == "coredump"]
    cores = [p for p in work.iterdir() if p.name.startswith("core")]
    if _pattern().startswith("|"):  # piped to a program: no file of the command's
        assert dumps == [] and cores == []
        return
    assert len(cores) == 1, _pattern()
    assert [(e["op"], e["path"], e["result"], e["unresolved"]) for e in dumps] == [
        ("create", str(cores[0]), 0, False)
    ]
    assert dumps[0]["allowed"] is False and dumps[0]["ro_forecast"] == "EROFS"


def test_a_core_dump_enforce_keeps_from_being_written_is_not_recorded(work: Path, site: Path) -> None:  # noqa: F811
    events = _crash("nobody", site, work, "--enforce")
    assert [p for p in work.iterdir() if p.name.startswith("core")] == []
    assert [e for e in events if e["syscall"] == "coredump"] == []
