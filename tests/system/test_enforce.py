"""`rotrace run --enforce`: the allowlist enforced with Landlock, each denied write recorded,
and the same writes refused as by the read-only sandbox under the same policy."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tracing import rotrace_cli

WORKLOAD = """
set +e
mkdir -p data/cache && echo x > data/cache/entry       # allowed
echo y > state.json                                     # not allowed
mkdir logs                                              # not allowed
mv data/cache/entry data/cache/moved                    # allowed, within one directory
ln data/cache/moved hard                                # not allowed (a link out of the allowed tree)
rm -f data/keep                                         # not allowed: data itself is not writable
touch /tmp/scratch                                      # the default allowlist
true
"""


@pytest.fixture
def app() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="rotrace-enforce-", dir="/var/tmp"))  # not under a /tmp tmpfs
    try:
        (base / "data" / "cache").mkdir(parents=True)  # the mount point, there as in the image
        (base / "data" / "keep").write_text("k")
        (base / "policy.toml").write_text(f'allow = ["{base / "data" / "cache"}"]\n')
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _failed(app: Path, mode: str) -> tuple[dict, set[tuple[str, str, str]]]:  # type: ignore[type-arg]
    """The trace, and the writes that failed (op, path, errno), harmless failures aside."""
    for leftover in ("state.json", "logs", "hard", "data/cache"):
        path = app / leftover
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    (app / "data" / "cache").mkdir()
    (app / "data" / "keep").write_text("k")
    proc = rotrace_cli("run", mode, "--policy", "policy.toml", "--json", "t.json", "--", "sh", "-c", WORKLOAD,
                       cwd=app)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    trace = json.loads((app / "t.json").read_text())
    failed = {
        (e["op"], e["path"], e["errno"])
        for e in trace["events"]
        if e["write"] and e["errno"] not in (None, "ENOENT") and e["allowed"] is False
    }
    return trace, failed


@pytest.mark.needs("bwrap")
def test_enforce_refuses_what_the_read_only_sandbox_refuses(app: Path) -> None:
    enforced, by_landlock = _failed(app, "--enforce")
    _, by_sandbox = _failed(app, "--read-only")
    assert {(fail[0], fail[1]) for fail in by_landlock} == {(fail[0], fail[1]) for fail in by_sandbox}
    assert len(by_landlock) >= 4  # state.json, logs, the link, data/keep
    assert {fail[2] for fail in by_landlock} <= {"EACCES", "EXDEV"}
    assert {fail[2] for fail in by_sandbox} == {"EROFS"}
    assert enforced["enforced"] >= 1
    report = rotrace_cli("report", str(app / "t.json"))
    assert "denied by the policy" not in report.stderr  # the last run was the sandboxed one
    rerun = rotrace_cli("run", "--enforce", "--policy", "policy.toml", "--", "sh", "-c", WORKLOAD, cwd=app)
    assert "denied by the policy" in rerun.stderr and "Landlock (ABI" in rerun.stderr


def test_metadata_writes_go_through_and_are_called_out(app: Path) -> None:
    proc = rotrace_cli("run", "--enforce", "--policy", "policy.toml", "--", "sh", "-c",
                       "touch data/keep; chmod 600 data/keep", cwd=app)  # fmt: skip
    assert proc.returncode == 1
    assert "2 writes outside the allowlist went through" in proc.stderr
    assert (app / "data" / "keep").stat().st_mode & 0o777 == 0o600  # Landlock did not stop it


def test_globs_that_match_nothing_are_refused(app: Path) -> None:
    proc = rotrace_cli("run", "--enforce", "--allow", "/nonexistent-*/x", "--", "true", cwd=app)
    assert proc.returncode == 3 and "matches nothing that exists" in proc.stderr
    expanded = rotrace_cli("run", "--enforce", "--allow", f"{app}/da*/cache", "--json", "t.json", "--", "sh",
                           "-c", "touch data/cache/x", cwd=app)  # fmt: skip
    assert expanded.returncode == 0, expanded.stderr


def test_an_exported_mount_point_the_command_makes_is_named_as_missing_with_what_to_do(app: Path) -> None:
    """The plan mounts the topmost directory a command made; replayed with --enforce, that
    directory is not there yet, and the warning says so and what to do, not a bare errno."""
    made = app / "out" / "gen"
    first = rotrace_cli("run", "--json", "t.json", "--", "mkdir", "-p", str(made), cwd=app)
    assert first.returncode == 1, first.stderr
    policy = rotrace_cli("allowlist", "t.json", "--format", "policy", cwd=app)
    assert "out" in policy.stdout, policy.stdout + policy.stderr
    (app / "generated.toml").write_text(policy.stdout)
    shutil.rmtree(app / "out")
    replay = rotrace_cli(
        "run", "--enforce", "--policy", "generated.toml", "--", "mkdir", "-p", str(made), cwd=app
    )
    assert not made.exists()
    said = [line for line in replay.stderr.splitlines() if f"no Landlock rule for {app}/out:" in line]
    assert said and "does not exist yet" in said[0] and "create it before the run" in said[0], replay.stderr
    (app / "out").mkdir()
    again = rotrace_cli(
        "run", "--enforce", "--policy", "generated.toml", "--", "mkdir", "-p", str(made), cwd=app
    )
    assert again.returncode == 0 and made.is_dir(), again.stderr


def test_enforce_usage(app: Path) -> None:
    both = rotrace_cli("run", "--enforce", "--read-only", "--", "true", cwd=app)
    assert both.returncode == 2 and "choose one" in both.stderr


def test_no_landlock_in_the_kernel_is_one_line_and_exit_4(tmp_path: Path) -> None:
    """Landlock's syscalls answered ENOSYS (a kernel without it, as a seccomp filter makes it)."""
    import errno
    import subprocess
    import sys

    from rotrace.tracer import seccomp

    asm = seccomp.Assembler()
    asm.load(seccomp.OFF_NR)
    asm.jump(seccomp.BPF_JEQ_K, 444, "nosys", None)  # landlock_create_ruleset
    asm.ret(seccomp.SECCOMP_RET_ALLOW)
    asm.label("nosys")
    asm.ret(0x00050000 | errno.ENOSYS)  # SECCOMP_RET_ERRNO
    program = seccomp.encode(asm.assemble())
    wrapper = (
        "import os, sys\n"
        "from rotrace.tracer import seccomp\n"
        f"assert seccomp.install({program!r}) == 0\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'rotrace', 'run', '--enforce', '--', 'true'])\n"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "rotrace: error: --enforce needs Landlock: Landlock is not in this kernel"
        " (Linux >= 5.13 with CONFIG_SECURITY_LANDLOCK)"
    ]


def test_no_device_node_is_made_in_an_allowed_directory(app: Path) -> None:
    """As root, `mknod ALLOWED/disk b MAJ MIN` then an open of it read-write would reach the whole
    disk (or /dev/mem, /dev/kmsg...) through an allowed directory, every write outside the
    allowlist with it, while each call was allowed by the rules. An allowed directory grants no
    device nodes (as a container's nodev tmpfs opens none): refused, EACCES, on the record. A
    FIFO or a socket is still made there."""
    import os
    import stat
    import sys

    cache = app / "data" / "cache"
    code = (
        "import os, stat, sys\n"
        "nodes = (('blk', stat.S_IFBLK, os.makedev(7, 0)), ('chr', stat.S_IFCHR, os.makedev(1, 3)))\n"
        "for name, kind, dev in (*nodes, ('fifo', stat.S_IFIFO, 0)):\n"
        "    try:\n"
        "        os.mknod(f'data/cache/{name}', 0o600 | kind, dev)\n"
        "    except OSError as exc:\n"
        "        print('refused', name, exc.errno, file=sys.stderr)\n"
    )
    command = ["--", sys.executable, "-c", code]
    proc = rotrace_cli("run", "--enforce", "--policy", "policy.toml", "--json", "t.json", *command, cwd=app)
    assert "refused blk 13" in proc.stderr and "refused chr 13" in proc.stderr, proc.stderr
    assert sorted(os.listdir(cache)) == ["fifo"] and stat.S_ISFIFO(os.lstat(cache / "fifo").st_mode)
    trace = json.loads((app / "t.json").read_text())
    made = {
        e["path"].rsplit("/", 1)[1]: (e["errno"], e["allowed"]) for e in trace["events"] if e["op"] == "mknod"
    }
    assert made == {"blk": ("EACCES", True), "chr": ("EACCES", True), "fifo": (None, True)}
    assert trace["summary"]["went_through"] == 0
