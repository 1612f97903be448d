"""One test per syscall family: a small real program, and what rotrace recorded for it.

Each checks the resolved absolute path, the op, the result and errno, for a success and a
failure, in both the seccomp-filtered and the stop-on-every-syscall mode.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.tracing import TracePy

MODES = [pytest.param(True, id="seccomp"), pytest.param(False, id="no-seccomp")]


def _one(events: list, syscall: str, path: Path | str, **fields: object):  # type: ignore[no-untyped-def]
    found = [e for e in events if e.syscall == syscall and e.path == os.fsencode(path)]
    assert found, f"no {syscall} on {path} in {[(e.syscall, e.path) for e in events]}"
    for key, value in fields.items():
        assert [getattr(e, key) for e in found] == [value] * len(found), (key, found)
    return found[0]


@pytest.mark.parametrize("seccomp", MODES)
def test_open_family(trace_py: TracePy, tmp_path: Path, seccomp: bool) -> None:
    events, result = trace_py(
        """
        import os, ctypes, struct
        fd = os.open("new.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640); os.close(fd)
        try: os.open("new.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError: pass
        os.close(os.open("new.txt", os.O_RDWR | os.O_APPEND))
        os.close(os.open("new.txt", os.O_RDONLY))
        try: os.open("missing/x", os.O_WRONLY | os.O_CREAT)
        except FileNotFoundError: pass
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        # creat(2), by number (x86_64: 85)
        fd = libc.syscall(85, b"creat.txt", 0o600); os.close(fd)
        # openat2(2): struct open_how {flags, mode, resolve}
        how = struct.pack("=QQQ", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, 0)
        fd = libc.syscall(437, -100, b"two.txt", how, len(how)); os.close(fd)
        fd = os.open(".", os.O_TMPFILE | os.O_WRONLY, 0o600); os.close(fd)
        """,
        seccomp=seccomp,
    )
    assert result.exit_code == 0
    new = tmp_path / "new.txt"
    opens = [e for e in events if e.syscall == "openat" and e.path == os.fsencode(new)]
    assert [(e.op, e.errno, e.mode) for e in opens] == [
        ("create", None, 0o640),
        ("create", "EEXIST", 0o777),
        ("open", None, None),
    ]
    assert opens[0].flags == "O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC"
    assert opens[1].result == -17
    assert opens[2].flags == "O_RDWR|O_APPEND|O_CLOEXEC"
    assert all(e.write for e in opens)  # the O_RDONLY open is not recorded by default
    _one(events, "openat", tmp_path / "missing/x", op="create", errno="ENOENT", result=-2)
    creat = _one(events, "creat", tmp_path / "creat.txt", op="create", errno=None)
    assert creat.flags == "O_WRONLY|O_CREAT|O_TRUNC" and creat.mode == 0o600 and creat.result >= 0
    two = _one(events, "openat2", tmp_path / "two.txt", op="create", errno=None)
    assert two.flags == "O_WRONLY|O_CREAT|O_TRUNC" and two.mode == 0o644
    tmpfile = _one(events, "openat", tmp_path, op="create", errno=None)
    assert "O_TMPFILE" in (tmpfile.flags or "")


@pytest.mark.parametrize("seccomp", MODES)
def test_all_opens_records_reads(trace_py: TracePy, tmp_path: Path, seccomp: bool) -> None:
    (tmp_path / "r.txt").write_text("x")
    code = "open('r.txt').read()\ntry: open('nope.txt')\nexcept OSError: pass"
    events, _ = trace_py(code, seccomp=seccomp)
    assert not [e for e in events if e.path.endswith(b"r.txt")]
    events, _ = trace_py(code, seccomp=seccomp, all_opens=True)
    read = _one(events, "openat", tmp_path / "r.txt", op="open", write=False)
    assert read.flags == "O_RDONLY|O_CLOEXEC" and read.result >= 0
    _one(events, "openat", tmp_path / "nope.txt", errno="ENOENT", write=False)


@pytest.mark.parametrize("seccomp", MODES)
def test_mkdir_family(trace_py: TracePy, tmp_path: Path, seccomp: bool) -> None:
    events, _ = trace_py(
        """
        import os
        os.mkdir("d", 0o750)
        try: os.mkdir("d")
        except FileExistsError: pass
        fd = os.open("d", os.O_RDONLY | os.O_DIRECTORY)
        os.mkdir("inner", dir_fd=fd)
        try: os.mkdir("no/such")
        except FileNotFoundError: pass
        """,
        seccomp=seccomp,
    )
    made = [e for e in events if e.op == "mkdir" and e.path == os.fsencode(tmp_path / "d")]
    assert [(e.errno, e.mode) for e in made] == [(None, 0o750), ("EEXIST", 0o777)]
    inner = _one(events, "mkdirat", tmp_path / "d" / "inner", op="mkdir", result=0)
    assert inner.mode == 0o777
    assert [e.errno for e in events if e.path == os.fsencode(tmp_path / "no/such")] == ["ENOENT"]


@pytest.mark.parametrize("seccomp", MODES)
def test_rename_family(trace_py: TracePy, tmp_path: Path, seccomp: bool) -> None:
    events, _ = trace_py(
        """
        import os, ctypes
        open("a", "w").close(); open("b", "w").close()
        os.rename("a", "c")
        try: os.rename("missing", "x")
        except FileNotFoundError: pass
        libc = ctypes.CDLL(None, use_errno=True)
        # renameat2(AT_FDCWD, "c", AT_FDCWD, "b", RENAME_NOREPLACE) fails: b exists
        assert libc.syscall(316, -100, b"c", -100, b"b", 1) == -1
        assert libc.syscall(316, -100, b"c", -100, b"b", 2) == 0  # RENAME_EXCHANGE
        """,
        seccomp=seccomp,
    )
    renames = [e for e in events if e.op == "rename"]
    first = renames[0]
    assert first.path == os.fsencode(tmp_path / "a") and first.target == os.fsencode(tmp_path / "c")
    assert first.result == 0
    assert renames[1].errno == "ENOENT" and renames[1].target == os.fsencode(tmp_path / "x")
    r2 = [e for e in renames if e.syscall == "renameat2"]
    assert [(e.flags, e.errno) for e in r2][-2:] == [
        ("RENAME_NOREPLACE", "EEXIST"),
        ("RENAME_EXCHANGE", None),
    ]


@pytest.mark.parametrize("seccomp", MODES)
def test_delete_family(trace_py: TracePy, tmp_path: Path, seccomp: bool) -> None:
    events, _ = trace_py(
        """
        import os
        os.mkdir("d"); open("d/f", "w").close()
        try: os.rmdir("d")
        except OSError: pass
        os.unlink("d/f"); os.rmdir("d")
        try: os.unlink("gone")
        except FileNotFoundError: pass
        """,
        seccomp=seccomp,
    )
    deletes = [(e.path, e.errno) for e in events if e.op == "delete"]
    d = os.fsencode(tmp_path / "d")
    assert deletes == [
        (d, "ENOTEMPTY"),
        (d + b"/f", None),
        (d, None),
        (os.fsencode(tmp_path / "gone"), "ENOENT"),
    ]


@pytest.mark.parametrize("seccomp", MODES)
def test_link_and_symlink_family(trace_py: TracePy, tmp_path: Path, seccomp: bool) -> None:
    events, _ = trace_py(
        """
        import os
        open("f", "w").close()
        os.link("f", "hard")
        try: os.link("f", "hard")
        except FileExistsError: pass
        os.symlink("../elsewhere/target", "soft")
        """,
        seccomp=seccomp,
    )
    hard = [e for e in events if e.op == "link"]
    assert [(e.path, e.target, e.errno) for e in hard] == [
        (os.fsencode(tmp_path / "hard"), os.fsencode(tmp_path / "f"), None),
        (os.fsencode(tmp_path / "hard"), os.fsencode(tmp_path / "f"), "EEXIST"),
    ]
    soft = _one(events, events[-1].syscall, tmp_path / "soft", op="symlink", result=0)
    assert soft.target == b"../elsewhere/target"  # the link's content, kept verbatim


@pytest.mark.parametrize("seccomp", MODES)
def test_directory_states_are_those_of_the_directories_written(
    trace_py: TracePy, tmp_path: Path, seccomp: bool
) -> None:
    """What a directory held is recorded for the directories a call changes: both ends of a
    rename, the new name's of a hard link, never the directory its source stays in."""
    for d in ("kept", "src", "moved", "linked"):
        (tmp_path / d).mkdir()
    (tmp_path / "kept" / "a").write_text("a")
    (tmp_path / "src" / "b").write_text("b")
    _, result = trace_py(
        """
        import os
        os.link("kept/a", "linked/a")
        os.rename("src/b", "moved/b")
        """,
        seccomp=seccomp,
    )
    mine = {os.fsdecode(d)[len(str(tmp_path)) + 1 :]: s.value for d, s in result.directories.items()
            if d.startswith(os.fsencode(tmp_path))}  # fmt: skip
    assert mine == {"linked": "empty", "src": "content", "moved": "empty"}


@pytest.mark.parametrize("seccomp", MODES)
def test_metadata_families(trace_py: TracePy, tmp_path: Path, seccomp: bool) -> None:
    events, _ = trace_py(
        """
        import os
        open("f", "w").close()
        os.truncate("f", 10)
        os.chmod("f", 0o600)
        fd = os.open("f", os.O_RDONLY); os.fchmod(fd, 0o644); os.fchown(fd, -1, -1)
        os.chown("f", os.getuid(), -1)
        os.utime("f", None)
        os.utime(fd)
        os.mkfifo("fifo", 0o600)
        try: os.chmod("nope", 0o600)
        except FileNotFoundError: pass
        try: os.setxattr("f", "user.rotrace", b"1")
        except OSError: pass
        """,
        seccomp=seccomp,
    )
    f = os.fsencode(tmp_path / "f")
    ops = [(e.op, e.syscall) for e in events if e.path == f]
    assert ("truncate", "truncate") in ops
    assert ("chmod", "chmod") in ops or ("chmod", "fchmodat") in ops
    assert ("chmod", "fchmod") in ops and ("chown", "fchown") in ops
    assert ("utime", "utimensat") in ops
    assert [e.op for e in events if e.path == f and e.syscall.endswith("xattr")] == ["xattr"]
    chmods = [e.mode for e in events if e.path == f and e.op == "chmod"]
    assert chmods == [0o600, 0o644]
    fifo = _one(events, "mknodat", tmp_path / "fifo", op="mknod", result=0)
    assert fifo.mode == 0o010600  # S_IFIFO | 0600
    assert [e.errno for e in events if e.path.endswith(b"/nope")] == ["ENOENT"]


def test_permission_denied_in_a_child_that_drops_privileges(trace_py: TracePy, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    code = """
        import os
        if os.geteuid() == 0:
            os.setgid(65534); os.setuid(65534)
        try: open("locked/x", "w")
        except PermissionError: pass
        try: os.mkdir("locked/d")
        except PermissionError: pass
        """
    os.chmod(tmp_path, 0o755)
    events, result = trace_py(code)
    assert result.exit_code == 0
    assert [(e.op, e.errno) for e in events if e.path.startswith(os.fsencode(locked) + b"/")] == [
        ("create", "EACCES"),
        ("mkdir", "EACCES"),
    ]


@pytest.mark.parametrize("seccomp", MODES)
def test_checks_of_writability(trace_py: TracePy, tmp_path: Path, seccomp: bool) -> None:
    """access, faccessat and faccessat2 with W_OK are what the command asks of a place before
    it writes there (op `access`, nothing written); a check to read or run (R_OK, X_OK, F_OK)
    is none, with the filter and without."""
    events, _ = trace_py(
        """
        import ctypes, os
        os.mkdir("d")
        libc = ctypes.CDLL(None, use_errno=True)
        os.access("d", os.W_OK)  # access(2)
        faccessat = {"x86_64": 269, "aarch64": 48}[os.uname().machine]
        libc.syscall(faccessat, -100, b"d", os.W_OK | os.R_OK)
        libc.syscall(439, -100, b"d", os.W_OK, 0x200)  # faccessat2(..., AT_EACCESS)
        os.access("missing", os.W_OK)
        os.access("d", os.R_OK); os.access("d", os.X_OK); os.access("d", os.F_OK)
        """,
        seccomp=seccomp,
    )
    checks = sorted((e.syscall, os.fsdecode(e.path), e.errno) for e in events if e.op == "access")
    d, missing = str(tmp_path / "d"), str(tmp_path / "missing")
    assert checks == [("access", d, None), ("access", missing, "ENOENT"), ("faccessat", d, None),
                      ("faccessat2", d, None)], checks  # fmt: skip
    assert all(e.write for e in events if e.op == "access")
    assert [e.flags for e in events if e.syscall == "faccessat2"] == [
        "AT_EACCESS"
    ]  # not unlinkat's AT_REMOVEDIR
