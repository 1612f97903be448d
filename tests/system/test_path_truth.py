"""Where a write landed is the kernel's answer, not the string the program passed: each case
here was reported at an innocent path (allowed under /tmp) by the code before it."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.support.tracing import PY

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
