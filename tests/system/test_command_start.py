"""Starting the command as bash would: 127 only for a command that is not there, 126 for one
that is there but cannot run, and an executable without a #! line run with /bin/sh (execvp)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.tracing import NON_ROOT_PYTHON, PY, portable_site

pytestmark = pytest.mark.needs("bash")


def _rotrace(cwd: Path, *command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "rotrace", "run", "-q", "--", *command], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def _shell(cwd: Path, command: str) -> int:
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, timeout=60).returncode


@pytest.fixture
def commands(tmp_path: Path) -> Path:
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "plain").write_text("echo hi\n")  # not executable
    (tmp_path / "dir").mkdir()
    (tmp_path / "dangling").symlink_to("nowhere")
    return tmp_path


@pytest.mark.parametrize(
    ("command", "status", "reason"),
    [
        ("./loop", 126, "Too many levels of symbolic links"),
        ("./plain", 126, "Permission denied"),
        ("./plain/x", 126, "Not a directory"),
        ("./dir", 126, "Is a directory"),
        ("./missing", 127, "No such file or directory"),
        ("./dangling", 127, "No such file or directory"),
    ],
)
def test_the_exit_status_a_shell_gives(commands: Path, command: str, status: int, reason: str) -> None:
    proc = _rotrace(commands, command)
    assert proc.returncode == status == _shell(commands, command), proc.stderr
    assert proc.stderr.count("\n") == 1 and reason in proc.stderr and "Traceback" not in proc.stderr


def test_an_executable_without_a_shebang_runs_with_sh(tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text('echo "ran with $0 $1 $2" > out.txt\n')
    script.chmod(0o755)
    proc = _rotrace(tmp_path, "./script", "one", "two")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.txt").read_text() == "ran with ./script one two\n"
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")  # found on PATH, as execvp does
    (tmp_path / "out.txt").unlink()
    assert _rotrace(tmp_path, "script", "one", "two", env=env).returncode == 0
    assert (tmp_path / "out.txt").read_text() == f"ran with {script} one two\n"


@pytest.mark.parametrize(
    ("content", "status"), [(b"\0\1\2 not a program\n", 126), (b"", 0)], ids=["binary", "empty"]
)
def test_a_binary_without_a_format_is_refused_as_bash_refuses_it(
    tmp_path: Path, content: bytes, status: int
) -> None:
    """bash runs a file execve refused with the shell unless it looks binary (a NUL byte in
    its first line): that stays 126, Exec format error."""
    (tmp_path / "data").write_bytes(content)
    (tmp_path / "data").chmod(0o755)
    proc = _rotrace(tmp_path, "./data")
    assert proc.returncode == status == _shell(tmp_path, "./data"), proc.stderr
    assert ("Exec format error" in proc.stderr) == bool(status)


@pytest.mark.skipif(not os.path.exists(NON_ROOT_PYTHON), reason="needs a system python3 for uid 65534")
def test_a_command_behind_a_directory_it_cannot_search_is_126() -> None:
    if os.geteuid() != 0:
        pytest.skip("sets up another user's directory as root")
    base = Path(tempfile.mkdtemp(prefix="rotrace-start-"))
    try:
        site = portable_site(base / "site")
        base.chmod(0o755)
        (base / "closed").mkdir(mode=0o700)  # root's: uid 65534 may not look inside
        shutil.copy("/bin/true", base / "closed" / "cmd")
        nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
        shell = subprocess.run([*nobody, "bash", "-c", "./closed/cmd"], cwd=base, capture_output=True)
        proc = subprocess.run([*nobody, NON_ROOT_PYTHON, "-m", "rotrace", "run", "-q", "--", "./closed/cmd"],
                              cwd=base, env={"PYTHONPATH": str(site), "PATH": os.defpath},
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert proc.returncode == shell.returncode == 126, proc.stderr
        assert "Permission denied" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        shutil.rmtree(base)
