"""Reading a trace back stays flat in memory: every command that reads one, at 10^5 events."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rotrace.policy.verdict import Summary
from rotrace.record import TraceHeader
from rotrace.tracefile import TraceWriter
from tests.support.tracing import PY
from tests.unit.factories import classify, event

EVENTS = 100_000
LIMIT_MIB = 64


@pytest.fixture(scope="module")
def big_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "t.json"
    header = TraceHeader(["x"], "/srv/app", 0)
    summary = Summary()
    with open(path, "w") as f:
        writer = TraceWriter(f, header)
        for i in range(EVENTS):
            (v,) = classify(event(f"/srv/app/data/d{i % 500}/file-{i}.bin", "create", 3 + i % 7))
            writer.add(v)
            summary.add(v)
        writer.close(summary)
    return path


# A child's peak RSS counts what it held between fork and exec: rotrace is started from a small
# process, not from the test's own (large) one.
_LAUNCH = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "rotrace", *sys.argv[1:]])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def _peak_mib(*args: str, cwd: Path) -> tuple[int, float]:
    out = subprocess.run(
        [PY, "-c", _LAUNCH, *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout
    status, kib = out.split()[-2:]
    return int(status), int(kib) / 1024


@pytest.mark.parametrize(
    "args",
    [
        ("report", "t.json"),
        ("check", "t.json", "--allow", "/srv"),
        ("allowlist", "t.json"),
        ("diff", "t.json", "t.json"),
    ],
    ids=["report", "check", "allowlist", "diff"],
)
def test_reading_back_stays_flat(big_trace: Path, args: tuple[str, ...]) -> None:
    assert big_trace.stat().st_size > 20 * 2**20  # the trace really is large
    status, peak = _peak_mib(*args, cwd=big_trace.parent)
    assert status in (0, 1), status
    assert peak < LIMIT_MIB, f"{args[0]}: peak RSS {peak:.0f} MiB"
