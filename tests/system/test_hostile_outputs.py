"""What rotrace writes after the command ran, where the command could prepare the ground: the
GitHub step summary ($GITHUB_STEP_SUMMARY) replaced by a FIFO (no reader: rotrace would wait
forever, and the CI job with it) or by a symbolic link (rotrace would append where it points,
outside what the command itself may write); and the grace period at its limits."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROTRACE = [sys.executable, "-m", "rotrace"]


def _github_env(summary: Path) -> dict[str, str]:
    dropped = ("COLUMNS", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary))
    return env


def test_a_fifo_put_at_the_step_summary_does_not_hang_rotrace(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("")
    argv = [*ROTRACE, "run", "--", "sh", "-c", f"rm {summary}; mkfifo {summary}"]
    proc = subprocess.Popen(argv, cwd=tmp_path, env=_github_env(summary), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        # release whichever rotrace process waits on the FIFO for a reader, then fail
        os.close(os.open(summary, os.O_RDONLY | os.O_NONBLOCK))
        proc.kill()
        proc.communicate()
        pytest.fail("rotrace waited for a reader of the FIFO the command put at $GITHUB_STEP_SUMMARY")
    assert proc.returncode == 0, err
    assert f"cannot write the step summary {summary}: not a regular file" in out, out + err
    assert "Traceback" not in err


def test_a_symlink_put_at_the_step_summary_is_not_followed() -> None:
    """Under --enforce the command cannot write `victim`; rotrace must not append there for it."""
    work = Path(tempfile.mkdtemp(prefix="rotrace-summary-", dir="/var/tmp"))  # not in the default allowlist
    try:
        _symlink_at_the_summary(work)
    finally:
        shutil.rmtree(work)


def _symlink_at_the_summary(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("kept\n")
    summary = allowed / "summary.md"
    summary.write_text("")
    script = f"rm {summary}; ln -s {victim} {summary}; echo x > {victim}"
    proc = subprocess.run([*ROTRACE, "run", "--enforce", "--allow", str(allowed), "--", "sh", "-c", script],
                          cwd=tmp_path, env=_github_env(summary), capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert victim.read_text() == "kept\n", proc.stderr
    assert f"cannot write the step summary {summary}: a symbolic link" in proc.stdout, proc.stdout


@pytest.mark.parametrize("grace", ["inf", "1e300"])
def test_a_grace_period_without_end_waits_for_the_command(tmp_path: Path, grace: str) -> None:
    """`--grace inf` (or one past what a timer holds) was an internal error (exit 70) at the
    first signal: it means no end, so the command is waited for, and a second signal kills it."""
    code = (
        "import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(tmp_path / 'ready')!r}, 'w').close()\ntime.sleep(60)"
    )
    argv = [*ROTRACE, "run", "--grace", grace, "--", sys.executable, "-c", code]
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "ready").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the command did not start"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=2)  # still waiting for the command, which ignores SIGTERM
        proc.send_signal(signal.SIGTERM)  # the second: killed now
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 8, err
    assert "internal error" not in err and "signalled twice" in err, err
