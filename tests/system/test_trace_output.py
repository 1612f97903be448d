"""Where rotrace writes its own output: the JSON trace is never written where another user
points it (a symlink or a file planted in /tmp, as fs.protected_symlinks and
fs.protected_regular refuse even where they are off), nor into a file the command put in its
place; and a failed stdout says "stdout", in one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tracing import PY

NOBODY = 65534


@pytest.fixture
def shared() -> Iterator[Path]:
    """A sticky world-writable directory (what /tmp is), where another user can reach it."""
    if os.geteuid() != 0:
        pytest.skip("runs as root, as the attack targets root")
    base = Path(tempfile.mkdtemp(prefix="rotrace-shared-", dir="/var/tmp"))
    base.chmod(0o755)
    directory = base / "shared"
    directory.mkdir()
    directory.chmod(0o1777)
    try:
        yield directory
    finally:
        shutil.rmtree(base)


def _as_nobody(*argv: str) -> None:
    subprocess.run(["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups", *argv],
                   check=True)  # fmt: skip


def _rotrace(cwd: Path, *args: str, env: dict[str, str] | None = None, stdout: int | None = None,
             ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    out = subprocess.PIPE if stdout is None else stdout
    return subprocess.run([PY, "-m", "rotrace", *args], cwd=cwd, env=env, text=True, timeout=60,
                          stdout=out, stderr=subprocess.PIPE)  # fmt: skip


@pytest.mark.parametrize("planted", ["symlink", "file", "hard link"])
def test_another_users_planted_name_is_refused(tmp_path: Path, shared: Path, planted: str) -> None:
    victim = tmp_path / "victim"
    victim.write_text("root's\n")
    trap = shared / "t.json"
    if planted == "symlink":
        _as_nobody("ln", "-s", str(victim), str(trap))
    elif planted == "file":
        _as_nobody("sh", "-c", f"echo theirs > {trap}")
    else:  # what another user can make where fs.protected_hardlinks is off (made as root here)
        os.link(victim, trap)
    proc = _rotrace(tmp_path, "run", "--json", str(trap), "--", "true")
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith(f"rotrace: error: cannot write the trace to {trap}: ")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert victim.read_text() == "root's\n"
    if planted == "file":
        assert trap.read_text() == "theirs\n"


def test_ones_own_links_and_stdout_are_followed(tmp_path: Path, shared: Path) -> None:
    real = tmp_path / "real.json"
    (shared / "mine.json").symlink_to(real)  # root's own link in the shared directory
    proc = _rotrace(tmp_path, "run", "--json", str(shared / "mine.json"), "--", "true")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(real.read_text())["exit_code"] == 0
    piped = _rotrace(tmp_path, "run", "-q", "--json", "/dev/stdout", "--", "true")
    assert piped.returncode == 0 and json.loads(piped.stdout)["exit_code"] == 0, piped.stderr


def test_a_trace_file_the_command_replaces_is_not_written_into(tmp_path: Path) -> None:
    """The command moves the trace file away and puts its own there: the trace is said lost,
    and neither file is written as if it were rotrace's."""
    command = "mv t.json moved.json; echo forged > t.json"
    proc = _rotrace(tmp_path, "run", "-q", "--json", "t.json", "--", "sh", "-c", command)
    assert proc.returncode == 3, proc.stderr
    assert "the trace is lost" in proc.stderr or "it is lost" in proc.stderr
    assert (tmp_path / "t.json").read_text() == "forged\n"


def test_a_fifo_at_the_trace_path_is_refused_not_waited_on(tmp_path: Path) -> None:
    """A FIFO no process reads where the trace goes (a confined command's earlier run may leave
    one in a directory it may write): rotrace waited in open(2) for ever, before the command
    started, with no verdict and no exit status."""
    os.mkfifo(tmp_path / "t.json")
    try:
        proc = _rotrace(tmp_path, "run", "-q", "--json", "t.json", "--", "true")
    finally:
        (tmp_path / "t.json").unlink()  # pytest would open it, for ever, as it ends
    assert proc.returncode == 3 and "a FIFO no process reads" in proc.stderr, proc.stderr


@pytest.mark.needs("prlimit")
def test_a_trace_past_the_file_size_limit_is_one_line_after_the_whole_report(tmp_path: Path) -> None:
    """Past RLIMIT_FSIZE (EFBIG), where the scratch copy of the rendered events fails first: the
    report is whole, and the trace that could not be written is one line, exit 3."""
    code = "for i in range(300): open(f'f{i}', 'w').close()"
    argv = [
        "prlimit",
        "--fsize=16384",
        "--",
        PY,
        "-m",
        "rotrace",
        "run",
        "--json",
        "t.json",
        "--",
        PY,
        "-c",
        code,
    ]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert "300 allowed writes" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "rotrace: error: cannot write the trace to t.json: File too large (the report above is complete)"
    )


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize(
    "args",
    [
        ["run", "--json", "-", "--", "true"],
        ["run", "--emit", "k8s", "--", "true"],
        ["report", "--format", "json", "{trace}"],
        ["allowlist", "{trace}"],
    ],
    ids=["json", "emit", "report", "allowlist"],
)
def test_a_full_stdout_is_named(tmp_path: Path, args: list[str], buffered: bool) -> None:
    trace = tmp_path / "t.json"
    assert _rotrace(tmp_path, "run", "--json", str(trace), "--", "true").returncode == 0
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    with open("/dev/full", "w") as full:
        proc = _rotrace(tmp_path, *(a.format(trace=trace) for a in args), env=env, stdout=full.fileno())
    assert proc.returncode == 3, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "stdout" in errors[0] and "No space left on device" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr


def test_stdout_named_keeps_its_buffering() -> None:
    """rotrace's stdout, named, stays as Python made it: line-buffered on a terminal only."""
    code = (
        "import sys; from rotrace.output import name_stdout; name_stdout(); print(sys.stdout.line_buffering)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "False", proc.stderr


def test_a_confined_run_says_its_trace_is_where_the_command_may_write() -> None:
    """--enforce with --json in the allowlist (and --checkpoint): the command may rewrite the
    file in place (same inode), and a kill of rotrace leaves what it wrote there, a forged
    "clean" trace. rotrace replaces the file whole when it ends; the warnings say where the
    trace is, and that a place outside the allowlist keeps it out of the command's reach."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-trace-", dir="/var/tmp"))  # outside /tmp, the default's
    inside, outside = base / "ok", base / "kept"
    inside.mkdir()
    outside.mkdir()
    try:
        _forge_inside_not_outside(inside, outside)
    finally:
        shutil.rmtree(base)


def _forge_inside_not_outside(inside: Path, outside: Path) -> None:
    forge = f"open({str(inside / 't.json')!r}, 'r+').write('{{\"forged\": true}}' + ' ' * 4096)"
    for where, said in ((inside, True), (outside, False)):
        trace = where / "t.json"
        argv = [sys.executable, "-m", "rotrace", "run", "--enforce", "--allow", str(inside),
                "--json", str(trace), "--", PY, "-c", forge if said else "pass"]  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=_env())
        written = json.loads(trace.read_text())
        assert proc.returncode == 0 and "forged" not in written, proc.stderr
        warned = [w for w in written["warnings"] if "is where the confined command may write" in w]
        assert bool(warned) == said and (str(trace) in warned[0] if said else True), written["warnings"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "COLUMNS"}
