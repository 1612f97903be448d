"""Writes reported as what the kernel did: a refused O_CREAT through a dangling symlink where it
would have created the file, links into /proc/self followed as the command's (not rotrace's),
the command's own stdout and stderr as such, and opens that write nothing (O_PATH, a FIFO on a
read-only root) not forecast to fail. The kernel itself is the oracle: the same program run
without the refusal shows where the file lands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.loopfs import loop_fs
from tests.support.tracing import PY

ROTRACE = [PY, "-m", "rotrace"]


def _run(cwd: Path, code: str, *options: str, stdout: int | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    trace = cwd / "t.json"
    argv = [*ROTRACE, "run", *options, "--json", str(trace), "--", PY, "-c", textwrap.dedent(code)]
    proc = subprocess.run(argv, cwd=cwd, stdout=stdout if stdout is not None else subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)  # fmt: skip
    assert trace.exists(), proc.stderr
    return proc.returncode, json.loads(trace.read_text())


def _writes(trace: dict) -> list[dict]:  # type: ignore[type-arg]
    return [e for e in trace["events"] if e["write"]]


def _landlock() -> bool:
    import ctypes

    return int(ctypes.CDLL(None, use_errno=True).syscall(444, None, 0, 1)) >= 1


CREATE = """
    import os
    for name in {names!r}:
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT, 0o644))
        except OSError as exc:
            print(name, exc.strerror)
"""


@pytest.mark.skipif(not _landlock(), reason="needs Landlock")
def test_a_refused_create_through_a_dangling_link_lands_at_its_target(outside: Path, tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(outside / "f")  # absolute
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "rel").symlink_to(f"../../{tmp_path.name}/hop")  # relative, to another link
    (tmp_path / "hop").symlink_to(outside / "g")
    (tmp_path / "far").symlink_to(outside / "missing" / "h")  # its directory is missing too
    names = ["link", "sub/rel", "far"]
    status, trace = _run(tmp_path, CREATE.format(names=names), "--enforce")
    placed = {e["path"]: (e["errno"], e["allowed"]) for e in _writes(trace) if e["op"] == "create"}
    assert placed == {
        f"{outside}/f": ("EACCES", False),
        f"{outside}/g": ("EACCES", False),
        f"{outside}/missing/h": ("ENOENT", True),  # fails here as on a read-only root: harmless
    }
    assert status == 1 and list(outside.iterdir()) == []
    # the oracle: without the refusal, the kernel creates each file where it was placed
    (outside / "missing").mkdir()
    _run(tmp_path, CREATE.format(names=names))
    assert sorted(str(p) for p in outside.rglob("*") if p.is_file()) == sorted(placed)


def test_a_failed_create_through_a_dangling_link_is_at_its_target(outside: Path, tmp_path: Path) -> None:
    """No --enforce: the target's directory is missing, so the create fails (ENOENT) where the
    kernel looked, not at the link; a loop stays at the link (ELOOP)."""
    (tmp_path / "far").symlink_to(outside / "missing" / "h")
    (tmp_path / "loop").symlink_to("loop")
    _, trace = _run(tmp_path, CREATE.format(names=["far", "loop"]))
    placed = [(e["path"], e["errno"]) for e in _writes(trace) if e["op"] == "create"]
    assert placed == [(f"{outside}/missing/h", "ENOENT"), (f"{tmp_path}/loop", "ELOOP")]


def test_openat2_follows_a_dangling_link_inside_its_root(outside: Path, tmp_path: Path) -> None:
    """RESOLVE_IN_ROOT: an absolute link starts at the directory given, not at /; with
    RESOLVE_NO_SYMLINKS no link is followed (ELOOP, at the link)."""
    (outside / "tmp").mkdir()
    (outside / "link").symlink_to("/tmp/missing/f")  # in the root: outside/tmp/missing/f
    code = f"""
        import ctypes, os, struct
        libc = ctypes.CDLL(None, use_errno=True)
        root = os.open({str(outside)!r}, os.O_RDONLY | os.O_DIRECTORY)
        for resolve in (0x10, 0x10 | 0x04):  # RESOLVE_IN_ROOT, then with RESOLVE_NO_SYMLINKS
            how = struct.pack("=QQQ", os.O_WRONLY | os.O_CREAT, 0o644, resolve)
            assert libc.syscall(437, root, b"link", how, len(how)) < 0
    """
    _, trace = _run(tmp_path, code)
    placed = [(e["path"], e["errno"]) for e in _writes(trace) if e["syscall"] == "openat2"]
    assert placed == [(f"{outside}/tmp/missing/f", "ENOENT"), (f"{outside}/link", "ELOOP")]


def test_an_exclusive_create_on_a_link_fails_at_the_link(outside: Path, tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(outside / "f")
    code = "import os\ntry: os.open('link', os.O_WRONLY | os.O_CREAT | os.O_EXCL)\nexcept OSError: pass"
    _, trace = _run(tmp_path, code)
    assert [(e["path"], e["errno"]) for e in _writes(trace)] == [(f"{tmp_path}/link", "EEXIST")]


def test_dev_fd_is_the_commands_own_not_rotraces(outside: Path, tmp_path: Path) -> None:
    """/dev/fd is a link to /proc/self/fd: followed from rotrace, it would be rotrace's fd 3."""
    code = f"""
        import os
        fd = os.open({str(outside)!r}, os.O_RDONLY | os.O_DIRECTORY)
        os.dup2(fd, 3)
        os.mkdir("/dev/fd/3/made")
        os.mkdir("/proc/self/fd/3/made-too")
    """
    status, trace = _run(tmp_path, code)
    assert [e["path"] for e in _writes(trace)] == [f"{outside}/made", f"{outside}/made-too"]
    assert (outside / "made").is_dir() and status == 1


def test_a_link_to_dev_stdout_is_followed_as_the_commands(tmp_path: Path) -> None:
    """A call through a symlink to /dev/stdout reaches the command's fd 1, not rotrace's."""
    (tmp_path / "out").symlink_to("/dev/stdout")
    code = """
        import os
        fd = os.open("cmd.log", os.O_WRONLY | os.O_CREAT, 0o644)
        os.dup2(fd, 1)
        os.truncate("out", 0)
    """
    _, trace = _run(tmp_path, code)
    assert [e["path"] for e in _writes(trace) if e["syscall"] == "truncate"] == [f"{tmp_path}/cmd.log"]


def test_the_commands_own_stdout_is_not_a_place(outside: Path, tmp_path: Path) -> None:
    """rotrace's stdout and stderr redirected to files (a CI log): the command writing them
    through /dev/stdout, /dev/fd/N or /proc/self/fd/N writes its output; by name, a place."""
    log, err = outside / "out.log", outside / "err.log"
    code = f"""
        import os
        for path in ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "/dev/stderr", "/proc/thread-self/fd/2"):
            with open(path, "a") as f:
                f.write(path + "\\n")
        os.dup2(1, 7)
        with open("/dev/fd/7", "w") as f:  # a copy of stdout, opened with O_TRUNC
            f.write("via 7\\n")
        with open({str(log)!r}, "a") as f:  # the same file, by its name
            f.write("by name\\n")
    """
    with log.open("w") as out, err.open("w") as errors:
        trace_path = tmp_path / "t.json"
        argv = [*ROTRACE, "run", "--json", str(trace_path), "--", PY, "-c", textwrap.dedent(code)]
        proc = subprocess.run(argv, cwd=tmp_path, stdout=out, stderr=errors, timeout=60)  # fmt: skip
    trace = json.loads(trace_path.read_text())
    writes = [(e["path"], e["allowed"]) for e in _writes(trace) if e["pid"] == trace["processes"][0]["pid"]]
    assert writes == [
        ("/dev/stdout", True), ("/dev/stdout", True), ("/dev/stdout", True), ("/dev/stderr", True),
        ("/dev/stderr", True), ("/dev/stdout", True), (str(log), False),
    ]  # fmt: skip
    assert proc.returncode == 1 and "by name" in log.read_text()


def test_an_existing_fifo_or_device_is_not_forecast_to_fail(outside: Path, tmp_path: Path) -> None:
    """Opening an existing FIFO for writing (O_CREAT and O_TRUNC too) needs no writable
    filesystem, nor does checking it may be written (access W_OK, EROFS for a regular file, a
    directory or a link alone): the forecast says ok, and the read-only sandbox agrees."""
    os.mkfifo(outside / "fifo")
    code = f"""
        import os
        assert os.access({str(outside / "fifo")!r}, os.W_OK)
        os.close(os.open({str(outside / "fifo")!r}, os.O_RDWR | os.O_CREAT | os.O_TRUNC))
        os.close(os.open("/dev/null", os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
    """
    _, plain = _run(tmp_path, code)
    fifo = [(e["op"], e["ro_forecast"], e["errno"]) for e in _writes(plain) if e["path"] == f"{outside}/fifo"]
    assert fifo == [("access", "ok", None), ("create", "ok", None)], fifo
    if shutil.which("bwrap"):
        _, sandboxed = _run(tmp_path, code, "--read-only", "--allow", str(tmp_path), "--keep-writes")
        outcomes = [(e["path"], e["errno"]) for e in _writes(sandboxed)]
        assert outcomes == [(f"{outside}/fifo", None), (f"{outside}/fifo", None), ("/dev/null", None)]
        assert sandboxed["summary"]["ro_failures"] == 0


def test_o_path_with_o_creat_writes_nothing(outside: Path, tmp_path: Path) -> None:
    """O_PATH ignores O_CREAT, O_TRUNC and the access mode: nothing is created (a missing file
    is ENOENT), nothing emptied; not a write."""
    (outside / "kept").write_text("content")
    code = f"""
        import os
        flags = os.O_PATH | os.O_CREAT | os.O_WRONLY | os.O_TRUNC
        os.close(os.open({str(outside / "kept")!r}, flags, 0o644))
        try:
            os.open({str(outside / "missing")!r}, flags, 0o644)
        except FileNotFoundError:
            pass
    """
    status, trace = _run(tmp_path, code)
    assert status == 0 and (outside / "kept").read_text() == "content" and not (outside / "missing").exists()
    assert [e for e in _writes(trace) if str(outside) in e["path"]] == []
    _, everything = _run(tmp_path, code, "--all-opens")
    opened = [(e["path"], e["write"], e["op"]) for e in everything["events"] if str(outside) in e["path"]]
    assert opened == [(f"{outside}/kept", False, "open"), (f"{outside}/missing", False, "open")]


def test_a_call_on_an_fd_by_an_empty_path_is_placed_at_the_fds_file(tmp_path: Path) -> None:
    """fchownat, utimensat and linkat with AT_EMPTY_PATH act on the file of their fd (the cwd
    for AT_FDCWD), as futimens does: placed there, not unresolved with no path."""
    code = """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        AT_EMPTY_PATH, AT_FDCWD = 0x1000, -100
        f = os.open("f", os.O_WRONLY | os.O_CREAT, 0o644)
        assert libc.fchownat(f, b"", os.getuid(), os.getgid(), AT_EMPTY_PATH) == 0
        assert libc.utimensat(f, b"", None, AT_EMPTY_PATH) == 0
        os.mkdir("d")
        os.chdir("d")
        assert libc.fchownat(AT_FDCWD, b"", os.getuid(), os.getgid(), AT_EMPTY_PATH) == 0
        assert libc.linkat(f, b"", AT_FDCWD, b"linked", AT_EMPTY_PATH) == 0
    """
    code_status, trace = _run(tmp_path, code)
    ops = ("chown", "utime", "link")
    placed = [(e["op"], e["path"], e["unresolved"]) for e in _writes(trace) if e["op"] in ops]
    f, d = str(tmp_path / "f"), str(tmp_path / "d")
    assert placed == [
        ("chown", f, False),
        ("utime", f, False),
        ("chown", d, False),
        ("link", str(tmp_path / "d" / "linked"), False),
    ], placed
    (link,) = [e for e in _writes(trace) if e["op"] == "link"]
    assert link["target"] == f and os.path.samefile(tmp_path / "d" / "linked", f)
    assert code_status == 0


def test_an_open_for_reading_with_o_creat_of_a_file_there_writes_nothing(
    outside: Path, tmp_path: Path
) -> None:
    """open(O_RDONLY|O_CREAT) of a file that is there (lock files: flock(1), libmount's
    utab.lock) makes and writes nothing, and a read-only root lets it through: no write, nor
    EROFS, in a plain run, in the read-only sandbox or under --enforce; one that makes its file
    is a create. Opened for reading, O_APPEND alone writes nothing either. (Each is opened a
    moment after it last changed: a file changed just before may be one made again in its
    place, with the same inode and time: test_a_file_made_again_at_once_in_its_place...)"""
    lock, made = str(outside / "lock"), str(outside / "made")
    (outside / "lock").write_text("")
    code = f"""
        import os, time
        for name in ({lock!r}, {made!r}, {made!r}):
            time.sleep(0.2)
            try:
                os.close(os.open(name, os.O_RDONLY | os.O_CREAT, 0o644))
                print(name, "opened")
            except OSError as exc:
                print(name, exc.strerror)
        os.close(os.open({lock!r}, os.O_RDONLY | os.O_APPEND))
    """
    status, plain = _run(tmp_path, code)
    assert status == 1 and (outside / "made").exists()
    assert [(e["path"], e["op"], e["ro_forecast"]) for e in _writes(plain)] == [(made, "create", "EROFS")]
    _, everything = _run(tmp_path, code, "--all-opens")  # `made` is there now
    opened = [(e["path"], e["write"], e["op"]) for e in everything["events"] if str(outside) in e["path"]]
    assert opened == [(lock, False, "open"), *[(made, False, "open")] * 2, (lock, False, "open")]
    # with another thread (or process) sharing the fd table, which may put another file at the
    # fd the call returned before rotrace reads it, nothing proves the open made nothing: a write
    threaded = f"""
        import os, threading, time
        time.sleep(0.2)
        threading.Thread(target=threading.Event().wait, args=(5,), daemon=True).start()
        os.close(os.open({lock!r}, os.O_RDONLY | os.O_CREAT, 0o644))
    """
    _, shared = _run(tmp_path, threaded)
    assert [(e["path"], e["op"]) for e in _writes(shared)] == [(lock, "create")]
    (outside / "made").unlink()
    confined = [["--enforce"]] if _landlock() else []
    if shutil.which("bwrap"):
        confined.append(["--read-only", "--keep-writes"])
    for options in confined:
        trace_path = tmp_path / "t.json"
        argv = [*ROTRACE, "run", *options, "--json", str(trace_path), "--", PY, "-c", textwrap.dedent(code)]
        proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        trace = json.loads(trace_path.read_text())
        assert f"{lock} opened" in proc.stdout and f"{made} opened" not in proc.stdout, (options, proc.stdout)
        assert not (outside / "made").exists()
        refused = [(e["path"], e["op"], e["errno"]) for e in _writes(trace)]
        assert refused == [(made, "create", "EACCES" if "--enforce" in options else "EROFS")] * 2, options
        assert trace["summary"]["went_through"] == 0, options


# Opens PATH with O_RDONLY|O_CREAT N times, each while a process outside the trace (`helper`)
# removes it after a random pause, and remakes it when it is gone: each open that found PATH
# gone made it again, with the inode number just freed. Prints how many opens made it.
REMADE = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
struct shared { volatile long asked, removed, remake, remade, pause, quit; };
static void spin(long ns) {
    struct timespec s, n;
    clock_gettime(CLOCK_MONOTONIC, &s);
    do clock_gettime(CLOCK_MONOTONIC, &n);
    while ((n.tv_sec - s.tv_sec) * 1000000000L + n.tv_nsec - s.tv_nsec < ns);
}
int main(int argc, char **argv) {
    int fd = open(argv[2], O_RDWR | O_CREAT, 0666);
    if (ftruncate(fd, 4096) != 0) return 2;
    struct shared *m = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    const char *path = argv[3];
    struct stat st;
    if (!strcmp(argv[1], "helper")) {
        long asked = 0, remake = 0;
        while (!m->quit) {
            if (m->remake != remake) {
                remake = m->remake;
                close(open(path, O_WRONLY | O_CREAT, 0666));
                m->remade = remake;
            }
            if (m->asked != asked) { asked = m->asked; spin(m->pause); unlink(path); m->removed = asked; }
        }
        return 0;
    }
    int made = 0, n = atoi(argv[4]);
    srand(getpid());
    for (int i = 1; i <= n; i++) {
        if (stat(path, &st) != 0) { m->remake++; while (m->remade != m->remake) ; }
        m->pause = rand() % 400000;
        m->asked = i;
        int f = open(path, O_RDONLY | O_CREAT, 0644);
        while (m->removed != i) ;
        if (f >= 0) close(f);
        if (stat(path, &st) == 0) made++;  /* removed in this round, yet there: this open made it */
    }
    m->quit = 1;
    printf("%d\n", made);
    return 0;
}
"""


@pytest.fixture
def whole_seconds() -> Iterator[Path]:
    """ext4 with 128-byte inodes: its timestamps keep whole seconds."""
    yield from loop_fs("ext4", "mkfs.ext4", "-q", "-F", "-I", "128")


@pytest.mark.needs("gcc", "mkfs.ext4")
def test_a_file_made_again_at_once_in_its_place_is_a_create(tmp_path: Path, whole_seconds: Path) -> None:
    """open(O_RDONLY|O_CREAT) of a file removed by another process between rotrace's look at the
    call's entry and the kernel's: the file it makes gets the inode number just freed, and on a
    filesystem of whole seconds (ext4 with 128-byte inodes) the same change time; it was taken
    for the file that was there, and the creation went unreported. Every open that made the
    file is a create in the trace."""
    program, source = tmp_path / "remade", tmp_path / "remade.c"
    source.write_text(REMADE)
    subprocess.run(["gcc", "-O1", "-o", str(program), str(source)], check=True)
    shared, path = tmp_path / "shared", whole_seconds / "P"
    helper = subprocess.Popen([str(program), "helper", str(shared), str(path)])
    try:
        while not shared.exists() or shared.stat().st_size < 4096:
            time.sleep(0.01)
        argv = [*ROTRACE, "run", "-q", "--json", str(tmp_path / "t.json"), "--",
                str(program), "tracee", str(shared), str(path), "2000"]  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        helper.wait(timeout=30)  # the tracee told it to stop
    finally:
        helper.kill()
        helper.wait()
    made = int(proc.stdout)
    assert made > 0, proc.stderr
    trace = json.loads((tmp_path / "t.json").read_text())
    creates = [
        e for e in trace["events"] if e["path"] == str(path) and e["op"] == "create" and e["result"] >= 0
    ]
    assert len(creates) >= made, (len(creates), made)
