"""rotrace against strace on the same workload: the same syscalls, paths and results."""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest

from rotrace.tracer.linux import syscall_info
from tests.support import strace_oracle
from tests.support.tracing import run_traced, using_loop

pytestmark = pytest.mark.needs("strace")
WORKLOAD = Path(__file__).parent.parent / "support" / "workloads" / "mixed.py"


def _rotrace(cwd: Path, monkeypatch: pytest.MonkeyPatch, **kw: bool) -> Counter[strace_oracle.Key]:
    monkeypatch.chdir(cwd)
    events, result = run_traced([sys.executable, str(WORKLOAD)], **kw)
    assert result.exit_code == 0
    return strace_oracle.keys_of(events)


def _strace(cwd: Path, tmp_path: Path, all_opens: bool) -> Counter[strace_oracle.Key]:
    out = tmp_path / "strace.out"
    strace_oracle.run_strace([sys.executable, str(WORKLOAD)], cwd, out)
    return strace_oracle.parse(out, cwd, all_opens=all_opens)


@pytest.mark.parametrize("seccomp", [True, False], ids=["seccomp", "no-seccomp"])
@pytest.mark.parametrize("all_opens", [False, True], ids=["writes", "all-opens"])
@pytest.mark.parametrize(
    ("registers", "loop"),
    [(False, "compiled"), (False, "pure"), (True, "pure")],
    ids=["syscall-info", "pure-loop", "registers"],
)
def test_same_records_as_strace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seccomp: bool, all_opens: bool, registers: bool,
    loop: str,
) -> None:  # fmt: skip
    """Both loops (the compiled one and pure Python). `registers`: decode from PTRACE_GETREGS,
    the fallback for kernels before 5.3 (which the compiled loop leaves to the pure one)."""
    if registers and os.uname().machine != "x86_64":
        pytest.skip("the register fallback is for x86_64")
    monkeypatch.setattr(syscall_info.SyscallInfo, "use_registers", registers)
    work = tmp_path / "work"
    work.mkdir()
    expected = _strace(work, tmp_path, all_opens)
    shutil.rmtree(work)
    work.mkdir()
    with using_loop(loop):
        got = _rotrace(work, monkeypatch, seccomp=seccomp, all_opens=all_opens)
    assert sum(expected.values()) > 30  # the workload really ran under strace
    missing, extra = expected - got, got - expected
    assert not missing and not extra, f"missing (strace saw, rotrace did not): {missing}\nextra: {extra}"
