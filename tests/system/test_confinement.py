"""The ways out of a confined run (`run --enforce`, `run --read-only`) that are not file writes
the tracer sees: input pushed into the user's terminal, signals and abstract sockets to
processes outside, inherited file descriptors. Each is tried for real, as root and as an
unprivileged user where the kernel treats them differently."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tracing import NON_ROOT_PYTHON, portable_site

NOBODY = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]

# Types a command line into the terminal on fd 0 (TIOCSTI): the shell reading that terminal
# would run it once rotrace is gone.
TYPE_INTO_TERMINAL = """
import fcntl, sys, termios
try:
    for c in b"touch /var/tmp/typed\\n":
        fcntl.ioctl(0, termios.TIOCSTI, bytes([c]))
except OSError as exc:
    print("refused", exc.errno, file=sys.stderr)
else:
    print("typed", file=sys.stderr)
"""


@pytest.fixture(scope="module")
def site() -> Iterator[Path]:
    """rotrace, importable by uid 65534."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-confine-", dir="/var/tmp"))
    base.chmod(0o755)
    try:
        yield portable_site(base / "site")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def rotrace(
    args: list[str], *, user: str, site: Path, cwd: Path, **kw: object
) -> subprocess.CompletedProcess[str]:
    """`rotrace ARGS` as root (this venv's rotrace) or as uid 65534 (the system Python)."""
    if user == "root":
        argv = [sys.executable, "-m", "rotrace", *args]
        env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    else:
        argv = [*NOBODY, NON_ROOT_PYTHON, "-m", "rotrace", *args]
        env = {"PYTHONPATH": str(site), "PATH": os.defpath, "HOME": str(cwd)}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, **kw)  # type: ignore[call-overload, no-any-return]


@pytest.fixture
def work() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rotrace-confine-", dir="/var/tmp"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def legacy_tiocsti() -> Iterator[None]:
    """TIOCSTI as the kernel allows it to everyone (dev.tty.legacy_tiocsti=1, Linux >= 6.2; older
    kernels have no switch): set for the test and restored, so that the unprivileged case is
    a real attempt and not a refusal by the kernel's own setting."""
    knob = Path("/proc/sys/dev/tty/legacy_tiocsti")
    if not knob.exists():
        yield
        return
    before = knob.read_text().strip()
    if before != "1":
        try:
            knob.write_text("1")
        except OSError:
            pytest.skip("dev.tty.legacy_tiocsti is 0 and cannot be set here: the kernel refuses TIOCSTI")
    try:
        yield
    finally:
        if before != "1":
            knob.write_text(before)


def _in_terminal(
    args: list[str], user: str, site: Path, cwd: Path
) -> tuple[subprocess.CompletedProcess[str], bytes]:
    """rotrace run in a new session whose controlling terminal is a fresh pty (as a shell at a
    terminal runs it): its result, and the input then waiting in the terminal for the shell."""
    master, slave = os.openpty()
    os.fchmod(slave, 0o666)  # the unprivileged rotrace's own terminal

    def controlling_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        proc = rotrace(args, user=user, site=site, cwd=cwd, stdin=slave, start_new_session=True,
                       preexec_fn=controlling_terminal)  # fmt: skip
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ICANON  # whatever is queued, line or not
        attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 0, 0
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        queued = b""
        while chunk := os.read(slave, 4096):
            queued += chunk
        return proc, queued
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.needs("bwrap")
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_confined_command_cannot_type_into_the_terminal(
    user: str, site: Path, work: Path, legacy_tiocsti: None
) -> None:
    command = ["--", NON_ROOT_PYTHON, "-c", TYPE_INTO_TERMINAL]
    audit, typed = _in_terminal(["run", *command], user, site, work)
    # The audit is no confinement: the attempt is real and works (which is what makes the
    # refusals below mean something).
    assert "typed" in audit.stderr and typed == b"touch /var/tmp/typed\n", audit.stderr
    modes = [["--enforce"], ["--enforce", "--no-seccomp"]]
    if user == "root" or _userns_works():
        modes.append(["--read-only"])
    for mode in modes:
        proc, typed = _in_terminal(["run", *mode, *command], user, site, work)
        assert f"refused {1}" in proc.stderr, (mode, proc.stderr)  # EPERM
        assert typed == b"", mode


def test_the_terminal_guard_covers_every_abi_and_only_injection() -> None:
    """TIOCSTI and TIOCLINUX are EPERM on each ABI the machine runs (x32's own ioctl number, the
    undecoded 32-bit ARM one on aarch64); other ioctls and calls are what they were."""
    from rotrace.tracer import seccomp
    from rotrace.tracer.arch import AARCH64, I386, MACHINES, X32_SYSCALL_BIT, X86_64
    from tests.system.test_seccomp_filter import run_bpf

    eperm = seccomp.SECCOMP_RET_ERRNO | 1
    allow, trace = seccomp.SECCOMP_RET_ALLOW, seccomp.SECCOMP_RET_TRACE
    arm = next(iter(seccomp.FOREIGN_IOCTL))
    cases = [
        ("x86_64", X86_64.audit_arch, X86_64.numbers["ioctl"]),
        ("x86_64", I386.audit_arch, I386.numbers["ioctl"]),
        ("x86_64", X86_64.audit_arch, X32_SYSCALL_BIT | seccomp.X32_IOCTL),
        ("aarch64", AARCH64.audit_arch, AARCH64.numbers["ioctl"]),
        ("aarch64", arm, seccomp.FOREIGN_IOCTL[arm]),
    ]
    for machine, arch, nr in cases:
        for traced in (True, False):
            program = seccomp.build_filter(MACHINES[machine], all_opens=False, confined=True, trace=traced)
            for request in (seccomp.TIOCSTI, seccomp.TIOCLINUX, 0xFFFF_FFFF_0000_0000 | seccomp.TIOCSTI):
                assert run_bpf(program, nr, arch, (0, request, 0, 0, 0, 0)) == eperm, (machine, arch, nr)
            tcgets = run_bpf(program, nr, arch, (0, 0x5401, 0, 0, 0, 0))
            assert tcgets in (allow, trace if traced else allow)
        plain = seccomp.build_filter(MACHINES[machine], all_opens=False)
        assert run_bpf(plain, nr, arch, (0, seccomp.TIOCSTI, 0, 0, 0, 0)) != eperm  # an audit stays an audit
    guard_only = seccomp.build_filter(MACHINES["x86_64"], all_opens=False, confined=True, trace=False)
    openat = X86_64.numbers["openat"]
    assert run_bpf(guard_only, openat, X86_64.audit_arch, (0, 0, os.O_WRONLY, 0, 0, 0)) == allow
    assert run_bpf(guard_only, 5, I386.audit_arch, (0, os.O_WRONLY, 0, 0, 0, 0)) == allow
    # lchown on i386 is number 16, x86_64's ioctl: never mistaken for it
    assert run_bpf(guard_only, 16, I386.audit_arch, (0, seccomp.TIOCSTI, 0, 0, 0, 0)) == allow


def _userns_works() -> bool:
    """bubblewrap as an unprivileged user needs unprivileged user namespaces."""
    probe = subprocess.run([*NOBODY, "bwrap", "--ro-bind", "/", "/", "true"], capture_output=True)
    return probe.returncode == 0
