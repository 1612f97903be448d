"""An allowed directory exchanged with another by a process outside the run: before the run, so
that what `--enforce` grants (a Landlock rule on the directory found at the name) and what
`--read-only --keep-writes` binds (by its fd) is the other directory, and back while the command
runs, so that the writes made at the allowed name land in the other directory, now outside the
allowlist. The report said "no violations", every write allowed; the run fails instead (exit 4,
the trace not written), naming where the directory went."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.as_user import NOBODY
from tests.support.tracing import NON_ROOT_PYTHON, portable_site

pytestmark = pytest.mark.needs("bwrap")

# renameat2(RENAME_EXCHANGE) of the two directories given, once the first holds `marker`; or,
# with a fourth argument, the first parked there and the second renamed back in its place.
_EXCHANGE = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
a, b, marker, park = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def exchange():
    if libc.renameat2(-100, a.encode(), -100, b.encode(), 2) != 0:
        raise OSError(ctypes.get_errno(), "renameat2")
exchange()
print("ready", flush=True)
deadline = time.monotonic() + 60
while not os.path.exists(os.path.join(a, marker)) and time.monotonic() < deadline:
    time.sleep(0.005)
if park:
    os.rename(a, park[0])
    os.rename(b, a)
else:
    exchange()
"""

MODES = {"enforce": ["--enforce"], "keep-writes": ["--read-only", "--keep-writes"]}


@pytest.mark.parametrize("user", ["root", "nobody"])
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("park", [None, "parked (deleted)"])
def test_an_allowed_directory_swapped_during_the_run_fails_it(mode: str, user: str, park: str | None) -> None:
    """`park`: the directory renamed there rather than exchanged back, a name /proc would show
    a removed directory by (it is no removed one: it has its links)."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-granted-", dir="/var/tmp"))
    try:
        site = portable_site(base / "site")
        data, victim = base / "proj" / "data", base / "victim"
        data.mkdir(parents=True)
        victim.mkdir()
        (victim / "secret").write_text("keep\n")
        subprocess.run(["chmod", "-R", "a+rwX", str(base)], check=True)
        as_user = NOBODY if user == "nobody" else []
        parked = [str(base / park)] if park else []
        exchange = [NON_ROOT_PYTHON, "-c", _EXCHANGE, str(data), str(victim), "go", *parked]
        helper = subprocess.Popen([*as_user, *exchange], stdout=subprocess.PIPE, text=True)
        try:
            assert helper.stdout is not None and helper.stdout.readline() == "ready\n"
            script = f"touch {data}/go; sleep 1; echo pwned > {data}/pw; true"
            env = {"PYTHONPATH": str(site), "PATH": os.defpath, "HOME": str(base)}
            argv = [*as_user, NON_ROOT_PYTHON, "-m", "rotrace", "run", *MODES[mode], "--allow", str(data)]
            proc = subprocess.run([*argv, "--", "/bin/sh", "-c", script], cwd=base, env=env,
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
        finally:
            helper.wait(timeout=60)
        now = base / park if park else victim
        assert (now / "go").exists()  # the write at the allowed name landed in the other directory
        assert proc.returncode == 4, proc.stderr
        assert f"{data} (now {now}) moved while the command ran" in proc.stderr, proc.stderr
        assert "no violations" not in proc.stderr
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)
