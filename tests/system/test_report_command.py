"""The report's first line names the command: a long one (a `pip install` of 27 wheels) is cut
to a line or two with what was cut counted, and `-v` shows it whole."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from tests.support.tracing import rotrace_cli

WHEELS = [f"/srv/wheelhouse/package_number_{i}-1.0.{i}-py3-none-any.whl" for i in range(27)]


def _trace(tmp_path: Path) -> list[str]:
    argv = [sys.executable, "-c", "pass", "install", *WHEELS]
    proc = rotrace_cli("run", "-q", "--json", "t.json", "--", *argv, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return argv


def test_a_long_command_is_cut_and_counted(tmp_path: Path) -> None:
    argv = _trace(tmp_path)
    env_80 = {"COLUMNS": "80", "PATH": "/usr/bin:/bin"}
    proc = rotrace_cli("report", "t.json", cwd=tmp_path, env=env_80)
    lines = proc.stderr.splitlines()
    verdict = next(i for i, line in enumerate(lines) if line.startswith("✓"))
    assert verdict <= 4, lines[:6]  # at most 4 lines of command (the whole one takes 14)
    head = " ".join(lines[:verdict])
    cut = len(argv) - sum(1 for arg in argv if shlex.quote(arg) in head)
    assert head.startswith(f"rotrace {shlex.quote(sys.executable)} -c ")
    assert head.endswith(f"… ({cut} of {len(argv)} arguments cut; -v shows them all)"), head
    assert cut >= 20


def test_verbose_shows_the_whole_command(tmp_path: Path) -> None:
    argv = _trace(tmp_path)
    proc = rotrace_cli("report", "t.json", "-v", cwd=tmp_path)  # piped: one line, not wrapped
    assert proc.stderr.splitlines()[0] == f"rotrace {shlex.join(argv)}"
