"""The ways out of a confined run (`run --enforce`, `run --read-only`) that are not file writes
the tracer sees: input pushed into the user's terminal, signals and abstract sockets to
processes outside, inherited file descriptors. Each is tried for real, as root and as an
unprivileged user where the kernel treats them differently."""

from __future__ import annotations

import ast
import ctypes
import errno
import fcntl
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.as_user import NOBODY, invocation, rotrace
from tests.support.tracing import NON_ROOT_PYTHON, PY, portable_site

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
    from rotrace.tracer.linux.arch import AARCH64, I386, MACHINES, X32_SYSCALL_BIT, X86_64
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


def _trace(work: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((work / "t.json").read_text())  # type: ignore[no-any-return]


def _events(trace: dict, op: str, path: str) -> list[dict]:  # type: ignore[type-arg]
    return [e for e in trace["events"] if e["op"] == op and e["path"] == path]


@pytest.fixture
def sibling(request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[bytes]]:
    """A process outside the command's domain (started by the test, not by rotrace), as the
    user rotrace runs as: only the confinement, not the permissions, keeps the command off it."""
    prefix = [] if request.param == "root" else NOBODY
    proc = subprocess.Popen([*prefix, "sleep", "300"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(("user", "sibling"), [("root", "root"), ("nobody", "nobody")], indirect=["sibling"])
def test_no_write_under_proc_but_the_commands_own_allowlisted_ones(
    user: str, sibling: subprocess.Popen[bytes], site: Path, work: Path
) -> None:
    """The default /proc/self stood for all of /proc: another process's oom_score_adj (as root:
    /proc/sys) was written while the report called every write outside the allowlist denied."""
    other = Path(f"/proc/{sibling.pid}/oom_score_adj")
    before = other.read_text()
    writes = f"echo 900 > {other}; echo 900 > /proc/self/oom_score_adj"
    if user == "root":
        pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
        writes += f"; printf %s '{pattern}' > /proc/sys/kernel/core_pattern"  # the value it has: harmless
    proc = rotrace(
        ["run", "--enforce", "--json", "t.json", "--", "sh", "-c", writes], user=user, site=site, cwd=work
    )
    assert other.read_text() == before, proc.stderr
    trace = _trace(work)
    refused = _events(trace, "open", str(other)) + _events(trace, "create", str(other))
    assert [(e["errno"], e["allowed"]) for e in refused] == [("EACCES", False)]
    if user == "root":
        sysctl = _events(trace, "create", "/proc/sys/kernel/core_pattern")
        assert [(e["errno"], e["allowed"]) for e in sysctl] == [("EACCES", False)]
    assert trace["summary"]["went_through"] == 0 and "went through" not in proc.stderr
    # the command's own /proc/PID is /proc/self: allowed by the allowlist (denied by Landlock,
    # which cannot name it: narrower, and said)
    own = [e for e in trace["events"] if e["path"].endswith("/oom_score_adj") and e["path"] != str(other)]
    assert [(e["allowed"], e["errno"]) for e in own] == [(True, "EACCES")]
    assert "no Landlock rule for /proc/self" in proc.stderr


def test_a_write_landlock_lets_through_is_never_called_denied(work: Path) -> None:
    """A rule is on an inode, and the trace places a write by the name it went through: a
    directory granted under a second name (a bind mount) is written there, outside the
    allowlist. The report says such a write went through, in the terminal, the trace's summary
    and the report document; and only a refused one is "denied"."""
    (work / "data").mkdir()
    (work / "alias").mkdir()
    writes = f"echo x > {work}/alias/through; echo y > {work}/refused"
    inner = (
        f"mount --bind {work}/data {work}/alias && exec {sys.executable} -m rotrace run --enforce"
        f" --allow {work}/data --json t.json -- sh -c '{writes}'"
    )
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", inner], cwd=work,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert (work / "data" / "through").read_text() == "x\n", proc.stderr  # it did go through
    assert not (work / "refused").exists()
    assert "1 write outside the allowlist went through" in proc.stderr
    violations = proc.stderr.split("Violations")[1]
    assert "went through" in violations and "denied by the policy" in violations
    assert "were denied" not in proc.stderr
    assert _trace(work)["summary"]["went_through"] == 1
    report = rotrace(["report", "--format", "json", "t.json"], user="root", site=Path(), cwd=work)
    groups = {g["where"]: g for g in json.loads(report.stdout)["violations"]}
    assert (groups[f"{work}/alias"]["went_through"], groups[f"{work}/alias"]["denied"]) == (1, 0)
    assert (groups[str(work)]["went_through"], groups[str(work)]["denied"]) == (0, 1)


SYMLINKS = """
mkdir -p {w}/real/sub {w}/prot {w}/also
ln -s {w}/prot {w}/link
ln -s {w}/prot {w}/real/glink
ln -s {w}/also {w}/via
mkdir {w}/also/in
"""


def test_no_rule_is_wider_than_its_allowlist_entry(site: Path, work: Path) -> None:
    """Landlock rules hold inodes and cover what is below: an entry that is a symbolic link (or
    passes through one, or a glob match that is one) would grant the link's target, an exact
    `=DIR` everything below it, a file with hard links each of its names. Such entries get no
    rule, and the report says so."""
    subprocess.run(["sh", "-c", SYMLINKS.format(w=work)], check=True)
    subprocess.run(["chmod", "-R", "a+rwx", str(work)], check=True)
    (work / "state").write_text("")
    (work / "state").chmod(0o666)
    os.link(work / "state", work / "prot" / "state")  # the same file, under a name not allowed
    allow = [
        f"{work}/link",
        f"={work}/real",
        f"{work}/real/g*",
        f"{work}/via/in",
        f"{work}/real/sub",
        f"={work}/state",
    ]
    attempts = [f"{work}/prot/a", f"{work}/real/b", f"{work}/also/in/c", f"{work}/real/sub/ok"]
    writes = "; ".join(f"echo x > {p}" for p in attempts) + f"; echo x >> {work}/prot/state"
    args = [
        "run",
        "--enforce",
        *(f"--allow={a}" for a in allow),
        "--json",
        "t.json",
        "--",
        "sh",
        "-c",
        writes,
    ]
    proc = rotrace(args, user="nobody", site=site, cwd=work)
    assert [os.path.exists(p) for p in attempts] == [False, False, False, True], proc.stderr
    assert (work / "state").read_text() == ""
    for entry in (f"{work}/link", f"={work}/real", f"{work}/real/glink", f"{work}/via/in", f"={work}/state"):
        assert f"no Landlock rule for {entry}:" in proc.stderr
    assert f"no Landlock rule for {work}/real/sub" not in proc.stderr
    assert _trace(work)["summary"]["went_through"] == 0


HARD_LINK = """
ln {outside} {w}/cache/alias && echo x >> {w}/cache/alias
ln -L {w}/cache/sym {w}/cache/alias2
mv {w}/cache/moved {w}/away
"""


@pytest.mark.needs("bwrap")
def test_a_hard_link_to_a_protected_file_is_a_violation(work: Path) -> None:
    """`ln PROTECTED ALLOWED/x; echo >> ALLOWED/x` rewrites the protected file through an allowed
    name: the link (its source outside the allowlist) is the violation. Under a read-only root
    a link or rename between the root and a writable mount fails with EXDEV, not EROFS: the
    forecast says so, and the sandbox agrees; --enforce refuses the link (EXDEV too)."""
    (work / "cache").mkdir()
    outside = work / "protected"
    workload = HARD_LINK.format(outside=outside, w=work)
    allow = ["--allow", str(work / "cache")]

    def run(*mode: str) -> dict:  # type: ignore[type-arg]
        outside.write_text("p\n")
        for name in ("alias", "alias2", "sym", "moved"):
            (work / "cache" / name).unlink(missing_ok=True)
        (work / "away").unlink(missing_ok=True)
        (work / "cache" / "sym").symlink_to(outside)
        (work / "cache" / "moved").write_text("m")
        proc = rotrace(["run", *mode, *allow, "--json", "t.json", "--", "sh", "-c", workload],
                       user="root", site=Path(), cwd=work)  # fmt: skip
        assert proc.returncode in (0, 1, 8, 9), proc.stderr
        return _trace(work)

    audit = run()
    assert outside.read_text() == "p\nx\n"  # an audit lets it happen, and says so:
    links = {e["path"]: e for e in audit["events"] if e["op"] == "link"}
    assert links[f"{work}/cache/alias"]["target"] == str(outside)
    assert links[f"{work}/cache/alias2"]["target"] == str(outside)  # AT_SYMLINK_FOLLOW: the file linked
    assert all(e["allowed"] is False and e["ro_forecast"] == "EXDEV" for e in links.values())
    (moved,) = [e for e in audit["events"] if e["op"] == "rename"]
    assert moved["allowed"] is False and moved["ro_forecast"] == "EXDEV"

    sandboxed = run("--read-only", "--keep-writes")  # the cache bound as it is: the files in it
    outcome = {(e["op"], e["path"]): e["errno"] for e in sandboxed["events"] if e["op"] in ("link", "rename")}
    assert set(outcome.values()) == {"EXDEV"}, outcome

    run("--enforce")
    assert outside.read_text() == "p\n"


@pytest.mark.parametrize(("user", "sibling"), [("root", "root"), ("nobody", "nobody")], indirect=["sibling"])
def test_the_command_cannot_signal_or_reach_processes_outside(
    user: str, sibling: subprocess.Popen[bytes], site: Path, work: Path
) -> None:
    """Landlock ABI 6 scopes: no signal to a process outside the command's domain, no connect
    to an abstract Unix socket such a process listens on. Its own children it still signals."""
    import socket

    name = f"rotrace-test-{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + name)
    listener.listen(1)
    probe = f"""
import os, signal, socket, subprocess, sys
try:
    os.kill({sibling.pid}, signal.SIGTERM)
    print("signalled", file=sys.stderr)
except OSError as exc:
    print("signal refused", exc.errno, file=sys.stderr)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect("\\0{name}")
    print("connected", file=sys.stderr)
except OSError as exc:
    print("connect refused", exc.errno, file=sys.stderr)
child = subprocess.Popen(["sleep", "30"])
child.terminate()
print("own child", child.wait(), file=sys.stderr)
"""
    try:
        proc = rotrace(
            ["run", "--enforce", "--", NON_ROOT_PYTHON, "-c", probe], user=user, site=site, cwd=work
        )
    finally:
        listener.close()
    assert "signal refused 1" in proc.stderr and "connect refused 1" in proc.stderr, proc.stderr
    assert "own child -15" in proc.stderr
    assert sibling.poll() is None  # still sleeping


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_of_the_pseudo_terminals_only_its_own(user: str, site: Path, work: Path) -> None:
    """The default /dev/pts is rotrace's own terminal under --enforce: not another one (as
    root: any user's), which --allow /dev/pts grants when it is meant."""
    other_master, other = os.openpty()
    os.fchmod(other, 0o666)
    name = os.ttyname(other)
    probe = f"""
import os, sys
for path in (os.ttyname(0), {name!r}):
    try:
        with open(path, "w") as tty:
            tty.write("")
        print("wrote", path, file=sys.stderr)
    except OSError as exc:
        print("refused", path, exc.errno, file=sys.stderr)
"""
    try:
        narrowed, _ = _in_terminal(["run", "--enforce", "--", NON_ROOT_PYTHON, "-c", probe], user, site, work)
        wide, _ = _in_terminal(
            ["run", "--enforce", "--allow", "/dev/pts", "--", NON_ROOT_PYTHON, "-c", probe], user, site, work
        )
    finally:
        os.close(other)
        os.close(other_master)
    assert f"refused {name} 13" in narrowed.stderr and narrowed.stderr.count("wrote /dev/pts/") == 1, (
        narrowed.stderr
    )
    assert "of /dev/pts, only this terminal (/dev/pts/" in narrowed.stderr
    assert f"wrote {name}" in wide.stderr and wide.stderr.count("wrote /dev/pts/") == 2, wide.stderr


def _with_fds(
    redirections: str, args: list[str], user: str, site: Path, work: Path
) -> subprocess.CompletedProcess[str]:
    """rotrace started by a shell with these redirections (`3>>FILE`), as a user types it."""
    argv, env = invocation(user, site, work)
    shell = ["sh", "-c", f'exec "$@" {redirections}', "sh"]
    return subprocess.run(
        [*shell, *argv, *args], cwd=work, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_an_inherited_fd_open_for_writing_outside_is_refused(user: str, site: Path, work: Path) -> None:
    """`rotrace run --enforce -- sh -c 'echo x >&3' 3>>OUTSIDE` wrote OUTSIDE while the report
    said nothing: Landlock checks opens, and that file was open before. Refused (exit 5, one
    line naming the fd and the file) unless passed knowingly, which the report then says."""
    outside = work / "outside"
    outside.write_text("")
    outside.chmod(0o666)
    command = ["run", "--enforce", "--json", "t.json", "--", "sh", "-c", "echo x >&3"]
    refused = _with_fds(f"3>>{outside}", command, user, site, work)
    assert refused.returncode == 5, refused.stderr
    assert refused.stderr.splitlines() == [refused.stderr.strip()] and f"fd 3 ({outside})" in refused.stderr
    assert "--allow-fd 3" in refused.stderr and outside.read_text() == ""
    # rotrace's own stdout (the trace, with --json -) is not the command's: its fd 1 is stderr
    kept = _with_fds(f">{outside}", ["run", "--enforce", "--json", "-", "--", "echo", "y"], user, site, work)
    assert kept.returncode == 0 and outside.read_text().startswith("{"), kept.stderr
    outside.write_text("")
    passed = _with_fds(
        f"3>>{outside}", ["run", "--enforce", "--allow-fd", "3", *command[2:]], user, site, work
    )
    assert passed.returncode == 0 and outside.read_text() == "x\n", passed.stderr
    assert (
        f"fd 3 ({outside}) was passed open for writing outside the allowlist" in _trace(work)["warnings"][0]
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="a bind mount and its detaching need root")
def test_an_inherited_fd_whose_name_is_not_its_files_is_refused(tmp_path: Path) -> None:
    """/proc names an open file from its mount's root: on a bind mount detached since (`umount
    -l`), OUTSIDE/tmp/f was named /tmp/f, allowed, and the command wrote OUTSIDE/tmp/f; a file
    whose name in /tmp was removed while a hard link outside remains is `/tmp/a (deleted)`,
    which read as a place in /tmp. Neither name reaches the file: refused (exit 5)."""
    outside = tmp_path / "outside"
    (outside / "tmp").mkdir(parents=True)
    (outside / "tmp" / "f").write_text("")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    rotrace = f"exec {PY} -m rotrace run --enforce -- sh -c 'echo x >&3'"
    detached = f"mount --bind {outside} {mnt} && exec 3>>{mnt}/tmp/f && umount -l {mnt} && {rotrace}"
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", detached],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 5 and "fd 3 (/tmp/f, a name that is not where the file is)" in proc.stderr, proc
    assert (outside / "tmp" / "f").read_text() == ""
    linked = tempfile.mktemp(prefix="rotrace-linked-", dir="/tmp")
    removed = f"exec 3>>{linked} && ln {linked} {outside}/kept && rm {linked} && {rotrace}"
    proc = subprocess.run(["sh", "-c", removed], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 5 and f"fd 3 ({linked} (deleted), a name" in proc.stderr, proc
    assert (outside / "kept").read_text() == ""
    # a symlink planted at that very name, to the file's remaining one, reaches it by a link
    planted = f"exec 3>>{linked} && ln -f {linked} {outside}/kept && rm {linked}"
    planted += f' && ln -s {outside}/kept "{linked} (deleted)" && {rotrace}'
    try:
        proc = subprocess.run(["sh", "-c", planted], capture_output=True, text=True, timeout=120)
    finally:
        Path(f"{linked} (deleted)").unlink(missing_ok=True)
    assert proc.returncode == 5 and (outside / "kept").read_text() == "", proc
    # stdout on a detached mount, named as the protected file there: no Landlock rule for that name
    protected = Path(tempfile.mkdtemp(prefix="rotrace-protected-", dir="/var/tmp"))  # outside the allowlist
    (protected / "srv").mkdir(parents=True)
    (protected / "srv" / "f").write_text("")
    (outside / "srv").mkdir()
    (outside / "srv" / "f").write_text("")
    enforce = f"exec {PY} -m rotrace run --enforce -- sh -c 'echo x >> {protected}/srv/f'"
    at = f"{mnt}{protected}"
    shadow = (
        f"mkdir -p {at} && mount --bind {outside} {at} && exec >>{at}/srv/f && umount -l {at} && {enforce}"
    )
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", shadow],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    try:
        assert (protected / "srv" / "f").read_text() == "", proc
    finally:
        shutil.rmtree(protected)


def test_an_inherited_pseudo_terminals_master_is_refused() -> None:
    """isatty() is true of a pseudo-terminal's master too: writes there are what another
    process reads as typed on its terminal (a shell outside the confinement). Refused, as
    TIOCSTI is; a terminal (the slave) passes."""
    master, slave = os.openpty()
    try:
        for fd, code in ((master, 5), (slave, 0)):
            os.set_inheritable(fd, True)
            argv = [PY, "-m", "rotrace", "run", "-q", "--enforce", "--", "true"]
            proc = subprocess.run(argv, pass_fds=(fd,), capture_output=True, text=True, timeout=120)
            assert proc.returncode == code, proc
        assert f"fd {master} (/dev/ptmx)" in subprocess.run(
            [PY, "-m", "rotrace", "run", "--enforce", "--", "true"], pass_fds=(master,), capture_output=True,
            text=True, timeout=120,
        ).stderr  # fmt: skip
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.skipif(os.geteuid() != 0, reason="fanotify_init needs CAP_SYS_ADMIN")
def test_an_inherited_fanotify_group_is_refused_as_the_commands_stdin() -> None:
    """An fanotify group made read-write (event_f_flags O_RDWR) hands the command, with each
    event, the file opened on the host's mount: as --read-only's stdin (no name: it passed) the
    command wrote the host's file. Refused (exit 5), as an io_uring instance is."""
    libc = ctypes.CDLL(None, use_errno=True)
    group = libc.fanotify_init(0, os.O_RDWR)
    assert group >= 0, os.strerror(ctypes.get_errno())
    try:
        proc = subprocess.run([PY, "-m", "rotrace", "run", "--read-only", "--", "true"], stdin=group,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    finally:
        os.close(group)
    assert proc.returncode == 5, proc
    assert "--read-only: fd 0 (anon_inode:[fanotify]), an fanotify group, would be inherited" in proc.stderr


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_the_commands_own_stdout_is_its_own_under_enforce(user: str, site: Path, work: Path) -> None:
    """`rotrace run --enforce -- sh -c 'echo > /dev/stdout' > out`: the command's output goes where
    the user sent it; reopening it through /dev/stdout is no write to a place, no violation."""
    out = work / "out"
    out.write_text("")
    out.chmod(0o666)
    command = ["run", "--enforce", "--json", "t.json", "--", "sh", "-c", "echo a; echo b >> /dev/stdout"]
    proc = _with_fds(f">{out}", command, user, site, work)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == "a\nb\n"
    trace = _trace(work)
    assert trace["summary"]["violations"] == 0
    assert any(f"the command's stdout is {out}" in w for w in trace["warnings"])


def test_a_stdout_rotrace_may_not_look_up_is_not_called_outside_the_allowlist(site: Path, work: Path) -> None:
    """A user's stdout sent by root into a directory of /tmp only root may search: rotrace,
    run as the user, cannot find the file at its name, so that name allows nothing; said as
    such, not as a place outside the allowlist (/tmp is in it)."""
    hidden = Path(tempfile.mkdtemp(prefix="rotrace-hidden-", dir="/tmp"))
    try:
        hidden.chmod(0o700)
        out = hidden / "out"
        command = ["run", "--read-only", "--json", "t.json", "--", "echo", "a"]
        proc = _with_fds(f">{out}", command, "nobody", site, work)
        assert proc.returncode == 0, proc.stderr
        assert out.read_text() == "a\n"
        warned = [w for w in _trace(work)["warnings"] if f"the command's stdout is {out}" in w]
        assert len(warned) == 1 and "may not look up" in warned[0], warned
        assert "outside the allowlist" not in warned[0]
    finally:
        shutil.rmtree(hidden)


@pytest.mark.parametrize("fd", [1, 2])
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_standard_stream_open_only_for_reading_grants_nothing_under_enforce(
    user: str, fd: int, site: Path, work: Path
) -> None:
    """`rotrace run --enforce -- sh -c 'echo x > VICTIM' 1<VICTIM`: a stream the user opened
    for reading is no output of the command's; its file stays out of reach, the write denied."""
    victim = work / "victim"
    victim.write_text("kept\n")
    victim.chmod(0o666)
    command = ["run", "--enforce", "--json", "t.json", "--", "sh", "-c", f"echo x > {victim}"]
    proc = _with_fds(f"{fd}<{victim}", command, user, site, work)
    assert victim.read_text() == "kept\n", proc.stderr
    assert proc.returncode == 9, proc.stderr  # the write denied
    writes = [e for e in _trace(work)["events"] if e["path"] == str(victim)]
    assert writes and all(e["result"] == -13 for e in writes), writes  # EACCES


def test_what_an_inherited_fd_may_be(site: Path, work: Path) -> None:
    """Pipes, /dev/null, read-only files, files in the allowlist and directories pass, a file
    open read-write outside does not. A
    directory fd lets the command open files relative to it, which Landlock checks by the
    file's own place: it cannot write outside through it."""
    (work / "in").mkdir()
    (work / "outside").write_text("o")
    for path in (work, work / "in", work / "outside"):
        path.chmod(0o777)
    probe = (
        "import os; os.write(4, b'jobserver'); os.write(6, b'x');"
        " os.open('escaped', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=7)"
    )
    redirs = f"3<{work}/outside 4>&1 5>/dev/null 6>>{work}/in/log 7<{work}"
    args = ["run", "--enforce", "--allow", str(work / "in"), "--", NON_ROOT_PYTHON, "-c", probe]
    proc = _with_fds(redirs, args, "nobody", site, work)
    assert "jobserver" in proc.stdout and (work / "in" / "log").read_text() == "x"
    assert "PermissionError" in proc.stderr and not (work / "escaped").exists()
    # the same with one more: open for writing (O_RDWR) outside the allowlist
    proc = _with_fds(f"{redirs} 8<>{work}/outside", args, "nobody", site, work)
    assert proc.returncode == 5 and f"fd 8 ({work}/outside)" in proc.stderr, proc.stderr


@pytest.mark.needs("bwrap")
def test_the_read_only_sandbox_checks_what_reaches_the_command(site: Path, work: Path) -> None:
    """Only fds 0-2 reach a command in the bubblewrap sandbox (its start closes the rest): fd 3
    is not even there. Its stdout on a file outside the writable mounts is where the user sent
    the command's output, as `docker run ... > out` does: it passes, and the report says so."""
    out = work / "out"
    command = ["run", "--read-only", "--json", "t.json", "--", "sh", "-c",
               "echo x; echo y >&3 || echo closed; echo z >> /dev/stdout"]  # fmt: skip
    own = _with_fds(f">{out}", command, "root", site, work)
    assert own.returncode == 0 and out.read_text() == "x\nclosed\nz\n", own.stderr
    assert any(f"the command's stdout is {out}" in w for w in _trace(work)["warnings"])
    ok = _with_fds(f"3>>{work}/three", command, "root", site, work)
    assert ok.returncode == 0 and "closed" in ok.stdout and (work / "three").read_text() == "", ok.stderr


@pytest.mark.needs("bwrap")
@pytest.mark.parametrize("mode", ["--enforce", "--read-only"])
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_the_command_cannot_change_the_code_rotrace_runs_after_it(mode: str, user: str, work: Path) -> None:
    """rotrace installed where the command may write (a project's .venv with `--allow .`, a CI
    clone under /tmp): the command appended to a module the report process imports only once
    the command has ended (the export's, for --emit), and that code ran outside the
    confinement, writing outside the allowlist. --enforce loads what the run needs before the
    command starts and nothing from there after; --read-only --keep-writes binds rotrace's code
    read-only in the sandbox."""
    site = portable_site(work / "site")
    if user == "nobody":  # installed by that user: its own files to change
        subprocess.run(["chown", "-R", "65534:65534", str(site)], check=True)
    planted = work.parent / f"{work.name}-planted"
    code = f"\nopen({str(planted)!r}, 'w').write('ran')\n"
    module = site / "rotrace" / "export" / "mapping.py"
    script = f"printf %s {shlex.quote(code)} >> {shlex.quote(str(module))}"
    confined = ["--enforce"] if mode == "--enforce" else ["--read-only", "--keep-writes"]
    args = ["run", *confined, "--allow", str(work), "--emit", "policy", "--", "/bin/sh", "-c", script]
    env = {"PYTHONPATH": str(site), "PATH": os.defpath, "HOME": str(work)}
    as_user = NOBODY if user == "nobody" else []
    try:
        proc = subprocess.run([*as_user, NON_ROOT_PYTHON, "-m", "rotrace", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert not planted.exists(), proc.stderr
        assert "version = 1" in proc.stdout, proc.stderr  # the run reported, and exported
        appended = module.read_text().endswith(code)
        assert appended == (mode == "--enforce"), proc.stderr  # allowed there; read-only in the sandbox
    finally:
        planted.unlink(missing_ok=True)


# the confined runs whose command's allowed writes land on this machine's files
CONFINED = pytest.mark.parametrize(
    "confined", [["--enforce"], ["--read-only", "--keep-writes"]], ids=["enforce", "keep-writes"]
)


@pytest.mark.needs("bwrap")
@CONFINED
def test_a_confined_run_compares_with_a_baseline_where_rotrace_is_installed_in_an_allowed_place(
    confined: list[str], work: Path
) -> None:
    """rotrace installed where the command may write (a CI clone under /tmp): `--baseline` is
    read before the command starts, but by a module loaded then, after the run was sealed: the
    run stopped (exit 5, "would be loaded from ... while the command runs")."""
    site = portable_site(work / "site")
    env = {"PYTHONPATH": str(site), "PATH": os.defpath, "HOME": str(work)}
    command = ["--", "/bin/sh", "-c", "echo ran > out.txt"]
    runs = [["run", "-q", "--allow", str(work), "--json", "base.json", *command],
            ["run", "-q", *confined, "--allow", str(work), "--baseline", "base.json", *command]]  # fmt: skip
    for args in runs:
        proc = subprocess.run([NON_ROOT_PYTHON, "-m", "rotrace", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    assert (work / "out.txt").read_text() == "ran\n"


@pytest.mark.needs("bwrap")
@CONFINED
def test_a_module_planted_in_the_project_run_from_does_not_run_in_rotrace(
    confined: list[str], work: Path
) -> None:
    """`python -m rotrace` from the project audited, allowed: the project comes first on rotrace's
    module path, and the command planted a hashlib.py there, which the report process imported
    once the command had ended (for --emit) and ran outside the confinement."""
    planted = work.parent / f"{work.name}-planted"
    module = f"import os\nopen({str(planted)!r}, 'w').write(str(os.getpid()))\n"
    script = f"printf %s {shlex.quote(module)} > hashlib.py && printf %s {shlex.quote(module)} > yaml.py"
    args = ["run", *confined, "--allow", ".", "--emit", "k8s", "--", "/bin/sh", "-c", script]
    try:
        proc = subprocess.run(
            [PY, "-m", "rotrace", *args], cwd=work, capture_output=True, text=True, timeout=120
        )
        assert not planted.exists(), proc.stderr
        assert "readOnlyRootFilesystem" in proc.stdout, proc.stderr  # the run reported, and exported
    finally:
        planted.unlink(missing_ok=True)


def test_rotrace_writes_nothing_where_the_command_pointed_its_names(work: Path, outside: Path) -> None:
    """What rotrace writes by a name in an allowed directory, the command (which may change
    names there) pointed elsewhere: the GitHub step summary, whose directory it swapped for a
    symlink to a place the allowlist refuses it (rotrace appended there after the command ran);
    the JSON trace, a symlink an earlier run of the command left (the next run followed it and
    emptied the file it points to: the command's own user owns the link, so it passed for
    rotrace's own)."""
    summary_dir = work / "summary"
    summary_dir.mkdir()
    (summary_dir / "step.md").write_text("")
    target = outside / "precious"
    target.write_text("kept\n")
    swap = (
        f"mv {summary_dir} {summary_dir}.old && ln -s {outside} {summary_dir} && ln -s {target} {work}/t.json"
    )
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary_dir / "step.md")}
    enforce = [PY, "-m", "rotrace", "run", "--enforce", "--allow", str(work)]
    first = subprocess.run([*enforce, "--", "/bin/sh", "-c", swap], cwd=work, env=env, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert list(outside.iterdir()) == [target], first.stderr  # no summary made outside
    assert "rotrace" in (work / "summary.old" / "step.md").read_text()  # the summary, where it was
    again = subprocess.run([*enforce, "--json", "t.json", "--", "/bin/true"], cwd=work, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert again.returncode == 3 and "symbolic link" in again.stderr, again.stderr
    assert target.read_text() == "kept\n"


def test_a_trace_reached_through_a_symlinked_directory_is_guarded_too(work: Path, outside: Path) -> None:
    """The allowed directory named through a symlink to it (`--json link/t.json`, link -> the
    allowed real/): the guard read the path as written, not as the kernel takes it, and
    followed the symlink an earlier run of the command left at t.json, emptying the file
    outside the allowlist it points to."""
    real, link = work / "real", work / "link"
    real.mkdir()
    link.symlink_to(real)
    target = outside / "precious"
    target.write_text("kept\n")
    enforce = [PY, "-m", "rotrace", "run", "--enforce", "--allow", str(real)]
    plant = subprocess.run([*enforce, "--", "ln", "-s", str(target), str(real / "t.json")], cwd=work,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert plant.returncode == 0, plant.stderr
    again = subprocess.run([*enforce, "--json", str(link / "t.json"), "--", "/bin/true"], cwd=work,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert again.returncode == 3 and "symbolic link" in again.stderr, again.stderr
    assert target.read_text() == "kept\n"


def test_a_step_summary_the_command_replaced_gets_rotraces_summary_and_a_warning(work: Path) -> None:
    """The command renamed its own file over the step summary (\"no violations\"): rotrace
    appended its summary to the file it had opened before, now unlinked, and the summary a
    reviewer reads was the command's alone, without a word."""
    summary = work / "step.md"
    summary.write_text("")
    forge = (
        f"echo 'FAKE: no violations' > {work}/new.md && mv {work}/new.md {summary} && touch /var/tmp/rt-x-$$"
    )
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    enforce = [PY, "-m", "rotrace", "run", "--enforce", "--allow", str(work)]
    proc = subprocess.run([*enforce, "--", "/bin/sh", "-c", forge], cwd=work, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    text = summary.read_text()
    assert text.startswith("FAKE: no violations\n") and "rotrace" in text[20:], text
    assert "replaced the step summary" in proc.stdout + proc.stderr, proc.stderr


@pytest.mark.needs("bwrap")
@CONFINED
def test_an_entry_spelling_dot_dot_with_backslashes_is_refused_not_its_parent(
    confined: list[str], work: Path
) -> None:
    """`--allow DIR/a/\\.\\.`: a literal name `..` to the allowlist's matching, which no write
    ever has, but the kernel's `..`: Landlock's rule and bwrap's bind were on DIR, where the
    command then wrote."""
    (work / "a").mkdir()
    entry = f"{work}/a/\\.\\."
    argv = [PY, "-m", "rotrace", "run", *confined, "--allow", entry, "--", "touch", str(work / "out")]
    proc = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "spells `.` or `..`" in proc.stderr, proc.stderr
    assert not (work / "out").exists()


# Each way a file gets a set-user-ID or set-group-ID bit, or a device node is made, tried in
# the directory given: what each attempt came to (made, or its errno), then a plain chmod.
SET_ID_OR_DEVICE = r"""
import ctypes, os, stat, struct, sys
d = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
def openat2(path, mode):
    how = struct.pack("QQQ", os.O_CREAT | os.O_WRONLY, mode, 0)
    fd = libc.syscall(437, -100, path.encode(), how, len(how))  # openat2, x86_64
    if fd < 0:
        raise OSError(ctypes.get_errno(), "openat2")
    os.close(fd)
def chmod():
    open(d + "/a", "w").close()
    os.chmod(d + "/a", 0o4755)
outcome = {}
for name, attempt in [
    ("chmod", chmod),
    ("create", lambda: os.close(os.open(d + "/b", os.O_CREAT | os.O_WRONLY, 0o2755))),
    ("openat2", lambda: openat2(d + "/c", 0o4755)),
    ("dir", lambda: (os.mkdir(d + "/d"), os.chmod(d + "/d", 0o2775))),
    ("device", lambda: os.mknod(d + "/n", 0o666 | stat.S_IFBLK, os.makedev(7, 0))),
    ("whiteout", lambda: os.mknod(d + "/w", 0o600 | stat.S_IFCHR, 0)),  # any user's, since 5.8
]:
    try:
        attempt()
        outcome[name] = "made"
    except OSError as exc:
        outcome[name] = exc.errno
open(d + "/plain", "w").close()
os.chmod(d + "/plain", 0o755)
print(outcome)
"""


@pytest.mark.needs("bwrap")
@CONFINED
@pytest.mark.parametrize("seccomp", [[], ["--no-seccomp"]], ids=["filtered", "every-call"])
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_no_set_id_file_nor_device_is_left_where_the_writes_land_on_the_host(
    confined: list[str], seccomp: list[str], user: str, site: Path, work: Path
) -> None:
    """A root command under --read-only --keep-writes left a block device for the disk, made
    readable, and a set-user-ID copy of sh in /tmp on the host (any user's raw disk, any user's
    root shell); under --enforce a set-ID file the same way (a device Landlock refuses). Each
    is refused, EPERM, by the tracer, which records it (openat2, whose mode another thread could
    change once read, is ENOSYS); a plain chmod goes on as ever. As root, the command holds
    neither CAP_MKNOD nor CAP_SETFCAP (a program given capabilities). A whiteout (a character
    device 0:0) needs no CAP_MKNOD since Linux 5.8: any user made one on the host's files under
    --keep-writes (Landlock refuses it under --enforce)."""
    kept = work / "kept"
    kept.mkdir()
    kept.chmod(0o777)
    python = PY if user == "root" else NON_ROOT_PYTHON
    args = ["run", *confined, *seccomp, "--allow", str(kept), "--", python, "-c", SET_ID_OR_DEVICE, str(kept)]
    proc = rotrace(args, user=user, site=site, cwd=work)
    assert proc.returncode == 0, proc.stderr
    outcome = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    refused = dict.fromkeys(["chmod", "create", "dir"], errno.EPERM)
    device = errno.EACCES if confined == ["--enforce"] else errno.EPERM  # Landlock's; the tracer's
    assert outcome == {**refused, "openat2": errno.ENOSYS, "device": device, "whiteout": device}, proc.stderr
    assert "refused a chmod with a set-user-ID or set-group-ID mode" in proc.stderr  # not a silent "✓"
    left = {p.name: p.lstat().st_mode for p in kept.iterdir()}
    assert not [n for n, m in left.items() if m & (stat.S_ISUID | stat.S_ISGID)], left
    assert not [n for n, m in left.items() if stat.S_ISBLK(m) or stat.S_ISCHR(m)], left
    assert stat.S_IMODE(left["plain"]) == 0o755
    capabilities = rotrace(
        [*args[:-4], "/bin/grep", "CapEff", "/proc/self/status"], user=user, site=site, cwd=work
    )
    effective = int(capabilities.stdout.split()[-1], 16)
    assert not effective & (1 << 27 | 1 << 31), capabilities.stdout  # CAP_MKNOD, CAP_SETFCAP


def test_the_filter_refuses_set_id_modes_where_the_tracer_cannot(tmp_path: Path) -> None:
    """Where the tracer cannot rewrite a call (aarch64), the filter refuses what `privileged`
    does (without Landlock, a device node too: as root here, and a whiteout, 0:0, which any
    user may make); openat2, whose mode is in memory (another thread may change it once read), is ENOSYS; an
    open that creates nothing is not looked at for its mode (a register left as it was)."""
    program = (
        "import os, sys\n"
        "from rotrace.tracer import seccomp\n"
        "from rotrace.tracer.linux.arch import current_machine\n"
        "machine = current_machine()\n"
        "code = seccomp.program(machine, False, trace=False, confined=True, refuse_privileges=True,\n"
        "                       host_files=True)\n"
        "assert code is not None and seccomp.install(code) == 0\n"
        "os.close(os.open(sys.argv[1] + '/plain', os.O_RDONLY | os.O_CREAT, 0o644))\n"
        "os.close(os.open(sys.argv[1] + '/plain', os.O_RDONLY, 0o4755))\n"
    )
    proc = subprocess.run([PY, "-c", program + SET_ID_OR_DEVICE, str(tmp_path)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    outcome = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    refused = dict.fromkeys(["chmod", "create", "dir", "device", "whiteout"], errno.EPERM)
    assert outcome == {**refused, "openat2": errno.ENOSYS}, proc.stderr


@CONFINED
@pytest.mark.parametrize(
    ("user", "grant"),
    [
        ("root", ["--inh-caps", "+setfcap,+mknod"]),
        ("nobody", ["--inh-caps", "+setfcap", "--ambient-caps", "+setfcap"]),
    ],
    ids=["root-inheritable", "nobody-ambient"],
)
def test_a_capability_granted_across_exec_is_withheld_from_the_command(
    confined: list[str], user: str, grant: list[str], site: Path, work: Path
) -> None:
    """Taken out of the bounding set only, CAP_SETFCAP held in the inheritable set (root under an
    older container runtime) or granted as ambient (any uid) reached the command, which left a
    file with capabilities (`setcap cap_setuid+ep`) in an allowed directory."""
    argv, env = invocation(user, site, work)
    if user == "nobody":
        argv = argv[len(NOBODY) :]
        grant = ["--reuid", "65534", "--regid", "65534", "--clear-groups", *grant]
    args = ["run", "-q", *confined, "--allow", str(work), "--", "/bin/grep", "^Cap", "/proc/self/status"]
    proc = subprocess.run(["setpriv", *grant, "--", *argv, *args], cwd=work, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    if user == "nobody" and "--read-only" in confined:  # bubblewrap refuses an unprivileged caller's
        assert proc.returncode == 5 and "could not start" in proc.stderr, proc.stderr  # capabilities
        return
    assert proc.returncode == 0, proc.stderr
    held = {line.split(":")[0]: int(line.split()[1], 16) for line in proc.stdout.splitlines()}
    sets = [
        "CapInh",
        "CapPrm",
        "CapEff",
        "CapAmb",
        *(["CapBnd"] if user == "root" else []),
    ]  # root's programs
    assert not [s for s in sets if held[s] & (1 << 27 | 1 << 31)], proc.stdout  # CAP_MKNOD, CAP_SETFCAP


@pytest.mark.needs("bwrap")
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_read_only_runs_stdout_on_the_host_gets_no_set_id_bit(user: str, site: Path, work: Path) -> None:
    """`rotrace run --read-only -- cmd > log`: the command's stdout is the host's file, on its
    own writable mount. A root command wrote a program into it and made it set-user-ID root
    (fchmod of fd 1): a root shell on the host for any user, under a run that promised a
    read-only root."""
    code = (
        "import os\nos.write(1, b'x')\n"
        "try:\n    os.fchmod(1, 0o4755)\nexcept OSError as e:\n    os.write(2, b'refused %d' % e.errno)\n"
    )
    python = PY if user == "root" else NON_ROOT_PYTHON
    out = work / "out.bin"
    argv, env = invocation(user, site, work)
    with open(out, "wb") as stdout:
        if user == "nobody":
            os.chown(out, 65534, 65534)
        args = [*argv, "run", "-q", "--read-only", "--", python, "-c", code]
        proc = subprocess.run(
            args, cwd=work, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120
        )
    assert "refused 1" in proc.stderr, proc.stderr
    assert not out.stat().st_mode & (stat.S_ISUID | stat.S_ISGID), oct(out.stat().st_mode)


# Each node bubblewrap's --dev binds from the host, changed to what it already is (the mode, the
# owner and the times it has): harmless on the host's node, but its change time moves there.
RESET_DEVICES = r"""
import os, sys
for name in sys.argv[1:]:
    path = "/dev/" + name
    st = os.stat(path)
    os.chmod(path, st.st_mode & 0o7777)
    os.chown(path, st.st_uid, st.st_gid)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
with open("/dev/null", "w") as null:
    null.write("still a null device\n")
with open("/dev/zero", "rb") as zero:
    print(zero.read(4) == bytes(4), len(open("/dev/urandom", "rb").read(8)))
"""


@pytest.mark.needs("bwrap")
@pytest.mark.parametrize("keep", [[], ["--keep-writes"]], ids=["tmpfs", "keep-writes"])
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_the_sandboxs_device_nodes_are_its_own(keep: list[str], user: str, site: Path, work: Path) -> None:
    """As root, bubblewrap's /dev bound the host's null, zero, full, random, urandom and tty: a
    `chmod 000 /dev/null` in the read-only sandbox broke every program on the machine. The
    sandbox's nodes are its own copies (the same devices, as a container's /dev holds), so a
    change there leaves the host's node as it was, and they work as the devices they are. As
    another user, the host's nodes are root's: the command may not change them at all."""
    nodes = ["null", "zero", "full", "random", "urandom", "tty"]
    before = {name: os.stat(f"/dev/{name}").st_ctime_ns for name in nodes}
    python = PY if user == "root" else NON_ROOT_PYTHON
    devices = nodes if user == "root" else []
    args = ["run", "--read-only", *keep, "--allow", "/dev", "--", python, "-c", RESET_DEVICES, *devices]
    proc = rotrace(args, user=user, site=site, cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "8"], proc.stdout
    after = {name: os.stat(f"/dev/{name}").st_ctime_ns for name in nodes}
    assert after == before
    assert not list(Path(tempfile.gettempdir()).glob("rotrace-dev-*"))  # the copies are removed


# An overlay whose upper directory is the allowed one: removing a file of the lower layer makes
# a whiteout (a device node, 0:0) in the upper, by the kernel, with no mknod of the command's.
OVERLAY = r"""
import os, subprocess, sys
top = sys.argv[1]
for d in ("l", "u", "w", "m"):
    os.mkdir(f"{top}/{d}")
open(f"{top}/l/f", "w").close()
layers = f"lowerdir={top}/l,upperdir={top}/u,workdir={top}/w"
script = f"mount -t overlay overlay -o {layers} {top}/m && rm {top}/m/f"
print(subprocess.run(["unshare", "-Urm", "sh", "-c", script]).returncode)
"""


@pytest.mark.needs("bwrap")
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_no_overlay_leaves_a_whiteout_on_the_hosts_files(user: str, site: Path, work: Path) -> None:
    """Under --read-only --keep-writes, any user's command could make a user namespace, mount an
    overlay with its upper directory in an allowed one (the host's), and remove a lower file:
    the kernel left a device node (a whiteout, 0:0) on the host. A new user namespace is refused
    in the sandbox (EPERM), as Docker's default seccomp profile refuses it."""
    kept = work / "kept"
    kept.mkdir()
    kept.chmod(0o777)
    python = PY if user == "root" else NON_ROOT_PYTHON
    args = [
        "run",
        "--read-only",
        "--keep-writes",
        "--allow",
        str(kept),
        "--",
        python,
        "-c",
        OVERLAY,
        str(kept),
    ]
    proc = rotrace(args, user=user, site=site, cwd=work)
    assert proc.stdout.strip() not in ("", "0"), proc.stderr  # the overlay was not made
    nodes = [p for p in kept.rglob("*") if stat.S_ISCHR(p.lstat().st_mode) or stat.S_ISBLK(p.lstat().st_mode)]
    assert nodes == [], proc.stderr
    unshare = subprocess.run(
        [*invocation(user, site, work)[0], "run", "--read-only", "--", "unshare", "-U", "true"],
        cwd=work, env=invocation(user, site, work)[1], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert unshare.returncode == 8 and "Operation not permitted" in unshare.stderr, unshare.stderr


# Each way to make or change a mount, tried by the command: what each came to (an errno, or "made").
MOUNTS = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    if libc.syscall(nr, *args) < 0:
        return ctypes.get_errno()
    return "made"
outcome = {
    "fsopen": call(430, b"overlay", 0),  # the new API: an overlay built by fsconfig, never mount(2)
    "fspick": call(433, -100, b"/tmp", 0),
    "open_tree": call(428, -100, b"/tmp", 1),  # OPEN_TREE_CLONE
    "mount": call(165, b"none", b"/tmp", b"tmpfs", 0, None),
    "userns": call(272, 0x10000000),  # unshare(CLONE_NEWUSER)
}
print(outcome)
"""


@pytest.mark.needs("bwrap")
@CONFINED
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_no_mount_is_made_nor_a_user_namespace_in_a_confined_run(
    confined: list[str], user: str, site: Path, work: Path
) -> None:
    """Under --enforce, an overlay built with the new mount API (fsopen, fsconfig: no mount(2)
    at all) emptied a work directory outside the allowlist and copied a set-user-ID program up
    into an allowed one, by the kernel with the mounter's rights: Landlock's rules and the
    tracer saw nothing, and the report said "no violations"; as another user, in a user
    namespace of its own. Every call that makes or changes a mount, and a new user namespace,
    is refused (EPERM), as Docker's default profile refuses them."""
    python = PY if user == "root" else NON_ROOT_PYTHON
    proc = rotrace(["run", *confined, "--", python, "-c", MOUNTS], user=user, site=site, cwd=work)
    outcome = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert outcome == dict.fromkeys(["fsopen", "fspick", "open_tree", "mount", "userns"], errno.EPERM), (
        outcome,
        proc.stderr,
    )
