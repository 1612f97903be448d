"""Where a write landed is the kernel's answer, not the string the program passed: each case
here was reported at an innocent path (allowed under /tmp) by the code before it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest

from tests.support.as_user import invocation, site, work  # noqa: F401 - fixtures
from tests.support.places import remove_left_in_tmp
from tests.support.tracing import NON_ROOT_PYTHON, PY

ROTRACE = [PY, "-m", "rotrace"]


def _audit(code: str, cwd: Path) -> tuple[int, list[dict]]:  # type: ignore[type-arg]
    """rotrace run with the default allowlist; (exit status, the write events)."""
    trace = cwd / "t.json"
    proc = subprocess.run([*ROTRACE, "run", "--json", str(trace), "--", PY, "-c", textwrap.dedent(code)],
                          cwd=cwd, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert trace.exists(), proc.stderr
    events = [e for e in json.loads(trace.read_text())["events"] if e["write"]]
    return proc.returncode, events


@pytest.mark.parametrize(
    "via",
    ["/proc/self/root{dir}/f", "/proc/thread-self/root{dir}/f", "/proc/self/cwd/f", "/proc/self/fd/{fd}/f"],
)
def test_proc_self_magic_links_land_where_they_point(outside: Path, tmp_path: Path, via: str) -> None:
    code = f"""
        import os
        os.chdir({str(outside)!r})
        fd = os.open({str(outside)!r}, os.O_RDONLY | os.O_DIRECTORY)
        open({via!r}.format(dir={str(outside)!r}, fd=fd), "w").close()
    """
    status, events = _audit(code, tmp_path)
    (event,) = [e for e in events if e["op"] == "create"]
    assert event["path"] == f"{outside}/f" and event["allowed"] is False
    assert status == 1


def test_a_symlink_under_tmp_to_an_outside_directory(outside: Path, tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(outside)
    status, events = _audit("open('link/f', 'w').close(); os_ = __import__('os'); os_.mkdir('link/d')",
                            tmp_path)  # fmt: skip
    assert {e["path"] for e in events if e["op"] in ("create", "mkdir")} == {f"{outside}/f", f"{outside}/d"}
    assert status == 1


def test_openat2_resolve_in_root(outside: Path, tmp_path: Path) -> None:
    (outside / "tmp").mkdir()
    code = f"""
        import ctypes, os, struct
        libc = ctypes.CDLL(None, use_errno=True)
        root = os.open({str(outside)!r}, os.O_RDONLY | os.O_DIRECTORY)
        how = struct.pack("=QQQ", os.O_WRONLY | os.O_CREAT, 0o644, 0x10)  # RESOLVE_IN_ROOT
        fd = libc.syscall(437, root, b"/tmp/f", how, len(how))
        assert fd >= 0, ctypes.get_errno()
        how = struct.pack("=QQQ", os.O_WRONLY | os.O_CREAT, 0o644, 0x10)
        libc.syscall(437, root, b"/tmp/missing/f", how, len(how))  # fails: placed all the same
    """
    status, events = _audit(code, tmp_path)
    assert [e["path"] for e in events] == [f"{outside}/tmp/f", f"{outside}/tmp/missing/f"]
    assert status == 1


def test_a_write_after_chroot(outside: Path, tmp_path: Path) -> None:
    (outside / "tmp").mkdir()
    code = f"""
        import os
        os.chroot({str(outside)!r}); os.chdir("/")
        open("/tmp/f", "w").close()
        os.mkdir("/tmp/d")
    """
    status, events = _audit(code, tmp_path)
    assert [e["path"] for e in events] == [f"{outside}/tmp/f", f"{outside}/tmp/d"]
    assert status == 1


def test_a_write_relative_to_a_renamed_cwd(outside: Path, tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    code = f"""
        import os
        os.chdir("work")
        os.mkdir("first")                                   # /tmp/.../work/first
        os.rename({str(tmp_path / "work")!r}, {str(outside / "moved")!r})
        os.mkdir("second")                                  # the cwd moved: outside
    """
    status, events = _audit(code, tmp_path)
    mkdirs = [e["path"] for e in events if e["op"] == "mkdir"]
    assert mkdirs == [str(tmp_path / "work" / "first"), str(outside / "moved" / "second")]
    assert status == 1


def test_a_path_deeper_than_path_max(tmp_path: Path) -> None:
    code = """
        import os
        for i in range(60):
            os.mkdir("d" * 100); os.chdir("d" * 100)
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
        os.close(os.open("deep", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
        os.mkdir("deeper", dir_fd=fd)
    """
    status, events = _audit(code, tmp_path)
    deep = str(tmp_path) + ("/" + "d" * 100) * 60
    assert [e["path"] for e in events[-2:]] == [deep + "/deep", deep + "/deeper"]
    assert all(not e["path"].startswith("/proc/") for e in events)
    assert status == 0  # all under /tmp: allowed


def test_a_thread_that_rewrites_the_path_while_the_call_runs(outside: Path, tmp_path: Path) -> None:
    """The buffer flips between an innocent name and an outside one; strace is fooled too.
    A successful open is placed by its fd; a failed call whose string changed is unresolved."""
    code = f"""
        import ctypes, os, threading
        innocent = b"{tmp_path}/innocent\\0".ljust(200, b"\\0")
        evil = b"{outside}/evil\\0".ljust(200, b"\\0")
        buf = ctypes.create_string_buffer(innocent, 200)
        stop = False
        def flip():
            while not stop:
                ctypes.memmove(buf, evil, 200); ctypes.memmove(buf, innocent, 200)
        t = threading.Thread(target=flip); t.start()
        libc = ctypes.CDLL(None, use_errno=True)
        for _ in range(3000):
            fd = libc.open(buf, os.O_WRONLY | os.O_CREAT, 0o644)
            if fd >= 0: os.close(fd)
        stop = True; t.join()
    """
    status, events = _audit(code, tmp_path)
    landed = {
        Path(p.name) for p in (tmp_path, outside) for p in p.iterdir() if p.name in ("innocent", "evil")
    }
    assert landed == {Path("innocent"), Path("evil")}  # the race really happened
    placed = {e["path"] for e in events if e["op"] in ("create", "open") and not e.get("unresolved")}
    assert f"{outside}/evil" in placed  # the opens that landed outside are reported there
    wrong = [e for e in events if e["path"] == f"{tmp_path}/innocent" and e["result"] is not None
             and e["result"] >= 0 and not os.path.samefile(e["path"], f"{tmp_path}/innocent")]  # fmt: skip
    assert wrong == []
    assert status == 1


def test_a_thread_that_puts_another_file_at_the_fd_an_open_returned(outside: Path, tmp_path: Path) -> None:
    """Another thread of the process dup2s an allowed file over the number each open returns,
    before the tracer names it at the exit stop: the fd then names that file, not the one the
    open made outside. Such a write is unresolved, never reported at the allowed file."""
    decoy = tmp_path / "decoy"
    code = f"""
        import os, threading
        decoy = os.open({str(decoy)!r}, os.O_WRONLY | os.O_CREAT, 0o644)
        target = os.open("/dev/null", os.O_RDONLY)
        os.close(target)  # the number the next open returns
        stop = False
        def swap():
            while not stop:
                try:
                    os.dup2(decoy, target)
                    os.close(target)
                except OSError:
                    pass
        t = threading.Thread(target=swap); t.start()
        for i in range(3000):
            fd = os.open(f"{outside}/f{{i}}", os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.close(fd)
            except OSError:  # the other thread closed it first
                pass
        stop = True; t.join()
    """
    status, events = _audit(code, tmp_path)
    assert len(list(outside.iterdir())) == 3000  # every open made its file outside
    opens = [e for e in events if e["op"] == "create"]
    assert [e["path"] for e in opens if e["path"] == str(decoy)] == [str(decoy)]  # its own open only
    others = [e for e in opens if e["path"] != str(decoy)]
    assert all(e.get("unresolved") or e["path"].startswith(f"{outside}/f") for e in others)
    assert status == 1


def test_a_file_whose_name_was_removed_is_placed_by_no_name_it_lost(outside: Path, tmp_path: Path) -> None:
    """A file with two names, one allowed (here) and one not (outside): the command opens it by
    the allowed one, removes that name, and changes the file through its fd (fchmod, futimens).
    /proc names the fd by the lost name, `... (deleted)`: the changes were allowed there, and
    the run said "no violations" while the file outside changed. A file with no name left is
    reached by nobody else: its lost name stays its place."""
    (outside / "b").write_text("x")
    os.link(outside / "b", tmp_path / "a")
    (tmp_path / "alone").write_text("x")
    code = """
        import os
        for name in ("a", "alone"):
            fd = os.open(name, os.O_RDONLY)
            os.unlink(name)
            os.fchmod(fd, 0o600)
            os.utime(fd, (0, 0))
    """
    status, events = _audit(code, tmp_path)
    assert (outside / "b").stat().st_mode & 0o777 == 0o600  # the file outside did change
    changes = [e for e in events if e["op"] in ("chmod", "utime")]
    assert len(changes) == 4, events
    linked, alone = changes[:2], changes[2:]
    assert all(e.get("unresolved") and not e["allowed"] for e in linked), linked
    assert all(e["path"] == f"{tmp_path}/alone (deleted)" and e["allowed"] for e in alone), alone
    assert status == 1


def test_a_tree_deeper_than_path_max_removed_through_dirfds_is_placed(tmp_path: Path) -> None:
    """shutil.rmtree removes a tree through dirfds, each call a name in its directory's fd. A
    directory deeper than PATH_MAX has no name /proc can give: its removal is not a change of
    a name on another way that rotrace cannot tell, and races nothing but itself, which it
    does not race. Every removal is placed where the kernel removed it (none is left)."""
    code = """
        import os, shutil
        name = "d" * 200
        cur = os.open(".", os.O_RDONLY)
        for _ in range(25):
            os.mkdir(name, dir_fd=cur)
            cur = os.open(name, os.O_RDONLY, dir_fd=cur)
        os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=cur))
        shutil.rmtree(name)
    """
    _status, events = _audit(code, tmp_path)
    assert not (tmp_path / ("d" * 200)).exists()
    removals = [e for e in events if e["op"] == "delete" and e["result"] == 0]
    assert len(removals) == 26 and not [e for e in removals if e["unresolved"]], removals


_SPELLINGS = [
    "//proc/self", "/proc//self", "/proc/./self", "/proc/self/../self", "/proc/thread-self/../../self",
    "dirfd /proc: self", "dirfd /: proc/self", "link to /proc: p/self", "link to /proc/self: s",
]  # fmt: skip


@pytest.mark.parametrize("mode", [[], ["--enforce"]], ids=["run", "enforce"])
@pytest.mark.parametrize("spelling", _SPELLINGS)
def test_proc_self_spelt_any_way_is_the_tracees(
    outside: Path, tmp_path: Path, spelling: str, mode: list[str]
) -> None:
    """/proc/self reached by another spelling than its own prefix (repeated slashes, `.`, `..`,
    a dirfd on /proc or /, a symlink to /proc or to /proc/self) is the tracee's: its cwd is the
    directory the command changed to (outside the allowlist), never rotrace's (under /tmp,
    allowed). Each change of the file there is placed there or unresolved: never allowed."""
    precious = outside / "precious"
    precious.write_text("important\n")
    (tmp_path / "precious").write_text("decoy\n")  # where rotrace's own /proc/self/cwd leads
    os.symlink("/proc", outside / "p")
    os.symlink("/proc/self", outside / "s")
    if spelling.startswith("dirfd"):
        where, name = spelling.removeprefix("dirfd ").split(": ")
        opened, path = f"os.open({where!r}, os.O_RDONLY)", f"{name}/cwd/precious"
    else:
        opened, path = "None", spelling.rsplit(": ", maxsplit=1)[-1] + "/cwd/precious"
    code = f"""
        import os
        os.chdir({str(outside)!r})
        fd = {opened}
        kw = {{}} if fd is None else {{"dir_fd": fd}}
        via = {path!r} if fd is None else f"/proc/self/fd/{{fd}}/{path}"
        for call in (lambda: os.chmod({path!r}, 0o600, **kw), lambda: os.utime({path!r}, (0, 0), **kw),
                     lambda: os.truncate(via, 0), lambda: os.setxattr(via, "user.x", b"1"),
                     lambda: os.link({path!r}, {str(tmp_path / "hard")!r}, src_dir_fd=fd)):
            try:
                call()
            except OSError:
                pass
    """
    trace = tmp_path / "t.json"
    argv = [*ROTRACE, "run", *mode, "--json", str(trace), "--", PY, "-c", textwrap.dedent(code)]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    events = [e for e in json.loads(trace.read_text())["events"] if e["write"] and e["op"] != "create"]
    assert len(events) == 5, events
    decoy = str(tmp_path / "precious")
    for e in events:
        # allowed only as a link that made nothing where rotrace could not place its other name
        # (thread-self/../.. is /proc/PID: ENOENT), which fails alike under a read-only root
        harmless = e["result"] != 0 and e["harmless"] and e["unresolved"] and e["op"] == "link"
        assert (e["allowed"] is False or harmless) and decoy not in (e["path"], e["target"]), e
        if e["result"] == 0:  # what went through went to the file the command reached, or nobody knows where
            assert e["unresolved"] or str(precious) in (e["path"], e["target"]), e
    through = [e for e in events if not e["unresolved"] and e["result"] == 0]
    assert json.loads(trace.read_text())["summary"]["went_through"] == len(through)


@pytest.mark.parametrize("prefix", ["//", "///"])
def test_an_unplaced_path_from_the_top_is_one_violation(tmp_path: Path, prefix: str) -> None:
    """A path rotrace cannot place is recorded as the program passed it: `//...` (whose parent,
    lexically, is itself) is one unresolved violation, not a report process that never ends
    its climb to the top (RecursionError: exit 70, an empty trace)."""
    code = f"""
        import os
        os.mkdir("d")
        fd = os.open("/proc", os.O_RDONLY)
        os.chdir("d")
        for name in ("x", "y"):
            os.mkdir({prefix!r} + "proc/self/fd/%d/self/cwd/" % fd + name)
    """
    status, events = _audit(code, tmp_path)
    made = [e for e in events if e["op"] == "mkdir" and e["path"] != str(tmp_path / "d")]
    assert len(made) == 2 and all(e["unresolved"] and e["allowed"] is False for e in made), made
    assert status == 1


def test_a_relative_path_thousands_of_names_deep(tmp_path: Path) -> None:
    """A write rotrace cannot place, recorded by its relative path 2,000 names deep: classified,
    planned and reported (each directory climbed in a loop, not a recursion per name)."""
    code = """
        import os
        fd = os.open("/proc", os.O_RDONLY)
        os.mkdir("/".join(["self/cwd"] + ["."] * 2000 + ["x"]), dir_fd=fd)
    """
    status, events = _audit(code, tmp_path)
    (made,) = [e for e in events if e["op"] == "mkdir"]
    assert made["unresolved"] and made["allowed"] is False
    assert status == 1


@pytest.mark.parametrize("mode", ["--read-only", "--enforce"])
def test_a_write_rotrace_cannot_place_is_never_said_to_have_gone_through(tmp_path: Path, mode: str) -> None:
    """A chmod that succeeded where rotrace cannot say (through /proc from a dirfd: unresolved, a
    violation) is not "outside the allowlist went through" in a mode that confines: it may well
    have landed in the allowlist (here it did, in /tmp). The report says it is unplaced."""
    code = """
        import os, tempfile
        os.chdir(tempfile.mkdtemp(prefix="rotrace-unplaced-", dir="/tmp"))
        open("f", "w").close()
        os.chmod("self/cwd/f", 0o600, dir_fd=os.open("/proc", os.O_RDONLY))
    """
    trace = tmp_path / "t.json"
    argv = [*ROTRACE, "run", mode, "--json", str(trace), "--", PY, "-c", textwrap.dedent(code)]
    try:
        proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    finally:
        remove_left_in_tmp("rotrace-unplaced-")
    assert proc.returncode == 1, proc.stderr
    (chmod,) = [e for e in json.loads(trace.read_text())["events"] if e["op"] == "chmod"]
    assert chmod["unresolved"] and chmod["result"] == 0 and chmod["allowed"] is False
    assert json.loads(trace.read_text())["summary"]["went_through"] == 0
    assert "went through" not in proc.stderr
    assert "1 write rotrace could not place succeeded" in proc.stderr


# Each: a program (run with its cwd in `outside`, beyond the allowlist) that changes the file
# sub/victim there by a way rotrace's own lookup would read otherwise. Placed where the kernel
# put it, or unresolved.
_WAYS_INTO_PROC = {
    # a deletion through a symlink to /proc/self/cwd (its lookup failed: no lexical join)
    "unlink through a link to /proc/self/cwd": """
        os.symlink("/proc/self/cwd", TMP + "/l")
        os.unlink(TMP + "/l/sub/victim")
    """,
    # /dev/stdout as a directory: fd 1 a directory outside
    "unlink /dev/stdout/victim": """
        os.dup2(os.open("sub", os.O_RDONLY | os.O_DIRECTORY), 1)
        os.unlink("/dev/stdout/victim")
    """,
    # a last name that is a relative link into /proc/self
    "chmod a relative link into /proc/self": """
        os.symlink("../" * 30 + "proc/self/cwd/sub/victim", TMP + "/r")
        os.chmod(TMP + "/r", 0o600)
    """,
    # a thread with a cwd of its own follows a link to /proc/self/cwd: its group's, not its own
    "a thread of its own cwd follows /proc/self/cwd": """
        import ctypes, threading
        os.symlink("/proc/self/cwd/sub/victim", TMP + "/t")
        def thread():
            ctypes.CDLL(None, use_errno=True).unshare(0x200)  # CLONE_FS
            os.chdir(TMP)
            os.chmod(TMP + "/t", 0o600)
        t = threading.Thread(target=thread); t.start(); t.join()
    """,
}


@pytest.mark.parametrize("way", list(_WAYS_INTO_PROC))
def test_a_way_into_proc_self_is_never_rotraces_own(outside: Path, tmp_path: Path, way: str) -> None:
    """Ways into /proc/self that only a walk shows (a symlink, /dev/stdout as a directory, a
    thread with a cwd of its own): rotrace's lookup, which would read /proc/self as its own
    process (under /tmp, allowed; here holding no `sub`, so its lookup fails), refuses them; the
    write is placed where the kernel put it or unresolved, never joined lexically under the
    allowed /tmp or /proc/self."""
    (outside / "sub").mkdir()
    (outside / "sub" / "victim").write_text("v\n")
    scratch = Path(tempfile.mkdtemp(prefix="rotrace-ways-", dir="/tmp"))
    try:
        code = f"import os\nos.chdir({str(outside)!r})\nTMP = {str(scratch)!r}\n" + textwrap.dedent(
            _WAYS_INTO_PROC[way]
        )
        status, events = _audit(code, tmp_path)
        changed = [e for e in events if e["op"] in ("delete", "chmod") and e["result"] == 0]
        assert changed, events
        for e in changed:
            assert e["allowed"] is False and (
                e["unresolved"] or e["path"] == str(outside / "sub" / "victim")
            ), e
        assert status == 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_an_absolute_link_in_a_chroot_is_the_chroots(outside: Path, tmp_path: Path) -> None:
    """In a chroot, an absolute symlink on the way and a directory dressed up as /proc/1/cwd lead
    inside the chroot: placed there or unresolved, never at the host path of the same name
    (under /tmp, allowed)."""
    if os.geteuid() != 0:
        pytest.skip("chroot(2) needs root")
    host = Path(tempfile.mkdtemp(prefix="rotrace-host-", dir="/tmp"))
    try:
        (host / "out").write_text("host\n")
        root = outside / "root"
        inside = root / host.relative_to("/")
        inside.mkdir(parents=True)
        (inside / "out").write_text("chroot\n")
        os.symlink(str(host), root / "lnk")
        (root / "proc" / "1").mkdir(parents=True)
        os.symlink(str(host), root / "proc" / "1" / "cwd")
        code = f"""
            import os
            os.chroot({str(root)!r}); os.chdir("/")
            os.chmod("/lnk/out", 0o600)
            os.chmod("/proc/1/cwd/out", 0o640)
        """
        status, events = _audit(code, tmp_path)
        changed = [e for e in events if e["op"] == "chmod" and e["result"] == 0]
        assert len(changed) == 2, events
        for e in changed:
            assert e["allowed"] is False and (e["unresolved"] or e["path"] == str(inside / "out")), e
        assert (host / "out").stat().st_mode & 0o777 == 0o644 and (
            inside / "out"
        ).stat().st_mode & 0o777 == 0o640
        assert status == 1
    finally:
        shutil.rmtree(host, ignore_errors=True)


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_process_not_dumpable_is_unresolved_to_a_tracer_that_is_not_root(
    site: Path,  # noqa: F811
    work: Path,  # noqa: F811
    user: str,
) -> None:
    """A program that made itself not dumpable (ssh-agent's prctl) closes /proc/PID/{fd,cwd,mem}
    to a tracer without CAP_SYS_PTRACE: its utimensat(fd, NULL) was a write at "" that "went
    through", and the refusal of its memory turned the fast reading of every other process's
    off for the rest of the run. Unresolved now, said why; the others placed as before. Root
    places it."""
    code = """
        import ctypes, os, sys
        child = os.fork()
        if child == 0:
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
            fd = os.open(sys.argv[1] + "/closed.txt", os.O_WRONLY | os.O_CREAT, 0o644)
            os.utime(fd)
            os._exit(0)
        os.waitpid(child, 0)
        open(sys.argv[1] + "/open.txt", "w").write("y")
    """
    argv, env = invocation(user, site, work)
    trace = work / "t.json"
    python = PY if user == "root" else NON_ROOT_PYTHON
    command = [python, "-c", textwrap.dedent(code), str(work)]
    proc = subprocess.run([*argv, "run", "--allow", str(work), "--json", str(trace), "--", *command],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    data = json.loads(trace.read_text())
    writes = [(e["syscall"], e["path"], e["unresolved"], e["allowed"]) for e in data["events"] if e["write"]]
    assert ("openat", f"{work}/open.txt", False, True) in writes, writes
    closed = [w for w in writes if w[1] != f"{work}/open.txt" and w[0] in ("openat", "utimensat")]
    if user == "root":
        assert closed == [("openat", f"{work}/closed.txt", False, True),
                          ("utimensat", f"{work}/closed.txt", False, True)], writes  # fmt: skip
        return
    unplaced = [("openat", True, False), ("utimensat", True, False)]
    assert [(w[0], w[2], w[3]) for w in closed] == unplaced, writes
    assert data["summary"]["went_through"] == 0
    assert any("not dumpable" in w for w in data["warnings"]), data["warnings"]
    assert proc.returncode == 1, proc.stderr


@pytest.mark.parametrize(("resolve", "refused"), [(0x08, "EXDEV"), (0x04, "ELOOP")])
def test_an_openat2_walk_the_kernel_stopped_is_placed_where_it_stopped(
    tmp_path: Path, resolve: int, refused: str
) -> None:
    """openat2(d, "out/q", O_CREAT, RESOLVE_BENEATH or RESOLVE_NO_SYMLINKS), `out` a symbolic
    link to /etc: the kernel stops the walk at the link (EXDEV, ELOOP) and writes nowhere. The
    attempt was recorded at /etc/q, where no walk of the call's went; it is unresolved. Stopped
    at the last name (openat2(d, "out")), the attempt is at the link, not where it leads."""
    code = f"""
        import ctypes, errno, os, struct
        os.mkdir("d")
        os.symlink("/etc", "d/out")
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open("d", os.O_RDONLY | os.O_DIRECTORY)
        how = struct.pack("=QQQ", os.O_WRONLY | os.O_CREAT, 0o644, {resolve})
        for name in (b"out/q", b"out"):
            assert libc.syscall(437, fd, name, how, len(how)) == -1  # openat2, x86_64
            assert ctypes.get_errno() == errno.{refused}
    """
    status, events = _audit(code, tmp_path)
    assert status == 1  # the command succeeded (its asserts held); an unplaced write is a violation
    on_the_way, at_the_link = [e for e in events if e["syscall"] == "openat2"]
    assert on_the_way["errno"] == refused and on_the_way["unresolved"], on_the_way
    assert "/etc" not in on_the_way["path"], on_the_way
    assert (at_the_link["path"], at_the_link["errno"]) == (f"{tmp_path}/d/out", refused), at_the_link
