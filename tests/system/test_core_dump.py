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
from tests.support.places import remove_left_in_tmp
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


# In a mount namespace of its own the process's cwd is a bind of $1 at /tmp/rotrace-core-PID:
# /proc names the cwd by that path, where rotrace's root has an empty directory.
FOREIGN = r"""
set -e
dst=/tmp/rotrace-core-$$
mkdir -p "$dst"
mount --bind "$1" "$dst"
cd "$dst"
"$2" -c "$3" || true
"""


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_core_dump_in_a_namespace_of_its_own_is_never_placed_at_its_path(
    work: Path,  # noqa: F811
    site: Path,  # noqa: F811
    user: str,
) -> None:
    if _pattern().startswith("|") or "/" in _pattern():
        pytest.fail(f"this test needs a core_pattern naming a file in the cwd, not {_pattern()!r}")
    python = PY if user == "root" else NON_ROOT_PYTHON
    argv, env = invocation(user, site, work)
    trace = work / "t.json"
    command = ["unshare", "-Urm", "sh", "-c", FOREIGN, "sh", str(work), python, CRASH]
    try:
        run = subprocess.run([*argv, "run", "-q", "--json", str(trace), "--", *command],
                             cwd=work, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    finally:
        remove_left_in_tmp("rotrace-core-")
    assert "Traceback" not in run.stderr, run.stderr
    assert [p for p in work.iterdir() if p.name.startswith("core")], "the kernel wrote no core in the bind"
    dumps = [e for e in json.loads(trace.read_text())["events"] if e["syscall"] == "coredump"]
    assert len(dumps) == 1 and str(dumps[0]["path"]).startswith("/tmp/rotrace-core-"), dumps
    assert dumps[0]["unresolved"] is True and dumps[0]["allowed"] is False, dumps
