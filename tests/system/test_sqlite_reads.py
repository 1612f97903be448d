"""SQLite (the real library, through Python's sqlite3) opens a database O_RDWR|O_CREAT even to
read it, and opens it read-only where it cannot write it. A run that only read an existing
database (no journal, WAL or index written, its change time older than the run) is not a
violation, and its plan, run under bubblewrap's read-only root, gives the same rows. A run
that changed the database in any way SQLite can, or made it, is one; so is an open refused
(`--read-only`, a user who may not write the file), explained, since what the program meant to
do next is not known."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.as_user import invocation, site  # noqa: F401 (fixtures)
from tests.support.loopfs import loop_fs
from tests.support.places import fixed_name_dir
from tests.support.tracing import NON_ROOT_PYTHON, PY

ROWS = "[(1,), (2,)]\n"
READ = "import sqlite3; print(sqlite3.connect('app.db').execute('select x from t order by x').fetchall())"
# Each changes app.db (or makes it) as SQLite does: a rollback journal, no journal at all, a
# write-ahead log (whose readers write its index), a database that was not there.
CHANGES = {
    "journal": "import sqlite3; c = sqlite3.connect('app.db'); c.execute('insert into t values (3)');"
    " c.commit()",
    "no-journal": "import sqlite3; c = sqlite3.connect('app.db'); c.execute('pragma journal_mode=off');"
    " c.execute('update t set x = x + 10'); c.commit()",
    "wal-reader": READ,
    "made": "import sqlite3; c = sqlite3.connect('new.db'); c.execute('create table t(x)'); c.commit()",
}


@pytest.fixture
def work() -> Iterator[Path]:
    """An application directory both users may write in, outside the allowlist and the scratch
    places a container makes a tmpfs (/tmp, /var/tmp)."""
    path = fixed_name_dir("rotrace-sqlite-", "/srv")
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _database(where: Path, wal: bool = False, mode: int = 0o666) -> Path:
    db = where / "app.db"
    with sqlite3.connect(db) as c:
        if wal:
            c.execute("pragma journal_mode=wal")
        c.execute("create table t(x)")
        c.executemany("insert into t values (?)", [(1,), (2,)])
    c.close()
    db.chmod(mode)
    return db


def _run(
    user: str,
    site: Path,  # noqa: F811
    where: Path,
    source: str,
    *flags: str,
) -> tuple[int, str, list[dict[str, object]]]:
    argv, env = invocation(user, site, where)
    python = PY if user == "root" else NON_ROOT_PYTHON
    trace = where / "t.json"
    run = subprocess.run([*argv, "run", *flags, "--json", str(trace), "--", python, "-c", source],
                         cwd=where, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    return run.returncode, run.stdout, json.loads(trace.read_text())["events"]


def _of(events: list[dict[str, object]], name: str) -> list[dict[str, object]]:
    return [e for e in events if str(e["path"]).endswith("/" + name) and e["write"]]


@pytest.mark.needs("bwrap")
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_database_only_read_is_no_violation_and_its_plan_holds(work: Path, site: Path, user: str) -> None:  # noqa: F811
    _database(work)
    status, out, events = _run(user, site, work, READ)
    assert (status, out) == (0, ROWS)
    opens = _of(events, "app.db")
    assert opens and all("O_RDWR" in str(e["flags"]) and e["errno"] is None for e in opens), opens
    assert [(e["allowed"], e["harmless"], e["explanation"]) for e in opens] == [
        (True, True, "sqlite-read-only")
    ] * len(opens)
    argv, env = invocation(user, site, work)
    assert subprocess.run([*argv, "check", "t.json"], cwd=work, env=env, timeout=60).returncode == 0
    script = 'py=$1 src=$2; shift 2; mapfile -t args < <("$@" allowlist t.json --format bwrap)'
    script += ' && bwrap "${args[@]}" -- "$py" -c "$src"'
    python = PY if user == "root" else NON_ROOT_PYTHON
    ran = subprocess.run(["bash", "-c", script, "sh", python, READ, *argv], cwd=work, env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert (ran.returncode, ran.stdout) == (0, ROWS), ran.stderr
    bare = [
        "bwrap",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--",
        python,
        "-c",
        CHANGES["journal"],
    ]
    refused = subprocess.run(bare, cwd=work, capture_output=True, text=True, timeout=60)
    assert "readonly database" in refused.stderr  # read-only indeed: a change fails there


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_database_changed_or_made_is_a_violation(work: Path, site: Path, change: str) -> None:  # noqa: F811
    _database(work, wal=change == "wal-reader")
    status, _, events = _run("root", site, work, CHANGES[change])
    name = "new.db" if change == "made" else "app.db"
    opens = _of(events, name)
    assert opens and status == 1
    assert [(e["allowed"], e["harmless"]) for e in opens] == [(False, False)] * len(opens), opens


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_refused_open_stays_a_violation_explained(work: Path, site: Path, user: str) -> None:  # noqa: F811
    """Under --read-only the open fails with EROFS; for a user who may not write the file, with
    EACCES. SQLite reads on, read-only: the rows are there, and the violation is explained."""
    _database(work, mode=0o644 if user == "nobody" else 0o666)
    flags = ("--read-only",) if user == "root" else ()
    status, out, events = _run(user, site, work, READ, *flags)
    assert (status, out) == (1, ROWS)
    opens = [e for e in _of(events, "app.db") if e["result"] is not None and int(str(e["result"])) < 0]
    assert opens and {e["errno"] for e in opens} == {"EROFS" if user == "root" else "EACCES"}
    assert [(e["allowed"], e["explanation"]) for e in opens] == [(False, "sqlite-read-only")] * len(opens)


@pytest.fixture
def whole_seconds() -> Iterator[Path]:
    """ext4 with 128-byte inodes: its timestamps keep whole seconds."""
    yield from loop_fs("ext4", "mkfs.ext4", "-q", "-F", "-I", "128")


# On a filesystem of whole seconds a change made in the run's first second is stamped with a
# time before the run's start: each way SQLite changes a database without a file beside it,
# and a database made (O_EXCL) with its header.
COARSE = {
    "memory-journal": "import sqlite3; c = sqlite3.connect('app.db');"
    " c.execute('pragma journal_mode=memory'); c.execute('insert into t values (3)'); c.commit()",
    "made": "import os; fd = os.open('new.db', os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666);"
    " os.write(fd, b'SQLite format 3\\0' + bytes(84))",
}


@pytest.mark.parametrize("change", list(COARSE))
def test_a_change_on_a_filesystem_of_whole_seconds_is_a_violation(
    whole_seconds: Path,
    site: Path,  # noqa: F811
    change: str,
) -> None:
    _database(whole_seconds)
    while time.time() % 1 > 0.2:  # the run then starts, and writes, within one second
        time.sleep(0.02)
    status, _, events = _run("root", site, whole_seconds, COARSE[change])
    opens = _of(events, "new.db" if change == "made" else "app.db")
    assert opens and status == 1
    assert [(e["allowed"], e["harmless"]) for e in opens] == [(False, False)] * len(opens), opens


# Open the database, let the report process see it unchanged, change it, then bind a database
# older than the run over its name: the name then reaches another file.
SWAP = """
import os, subprocess, time
fd = os.open("app.db", os.O_RDWR)
time.sleep(1)
os.pwrite(fd, b"changed", 200)
subprocess.run(["mount", "--bind", "decoy.db", "app.db"], check=True)
"""


def test_another_file_mounted_over_a_database_is_no_answer(work: Path, site: Path) -> None:  # noqa: F811
    if os.geteuid() != 0:
        pytest.skip("a bind mount needs root")
    decoy = _database(work)
    decoy.rename(work / "decoy.db")
    _database(work)
    time.sleep(0.05)
    try:
        status, _, events = _run("root", site, work, SWAP)
    finally:
        subprocess.run(["umount", str(work / "app.db")], check=False)
    assert b"changed" in (work / "app.db").read_bytes()
    opens = _of(events, "app.db")
    assert opens and status == 1
    assert [(e["allowed"], e["harmless"]) for e in opens] == [(False, False)] * len(opens), opens


@pytest.fixture
def overlay(work: Path) -> Iterator[Path]:
    """A container's root as podman and Docker make it: overlayfs, the image's files below."""
    if os.geteuid() != 0:
        pytest.skip("mounting an overlay needs root")
    lower, upper, scratch, merged = (work / n for n in ("lower", "upper", "scratch", "merged"))
    for d in (lower, upper, scratch, merged):
        d.mkdir()
    _database(lower)
    options = f"lowerdir={lower},upperdir={upper},workdir={scratch}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)], check=True)
    try:
        yield merged
    finally:
        subprocess.run(["umount", "-l", str(merged)], check=False)


def test_a_database_only_read_on_an_overlay_root_is_no_violation(overlay: Path, site: Path) -> None:  # noqa: F811
    """The read-write open copies the file up (a new change time, the same modification time)."""
    status, out, events = _run("root", site, overlay, READ)
    assert (status, out) == (0, ROWS)
    assert (overlay.parent / "upper" / "app.db").exists()  # copied up by the open
    opens = _of(events, "app.db")
    assert opens and [(e["allowed"], e["harmless"]) for e in opens] == [(True, True)] * len(opens), opens


def test_a_database_only_read_in_an_allowed_place_needs_no_mount_either(work: Path, site: Path) -> None:  # noqa: F811
    """Allowed, it is still no write: the plan has nothing to say of it (no "allowed writes
    that no mount can make writable"), whether the run allowed it or a `check` does."""
    _database(work)
    status, out, events = _run("root", site, work, READ, "--allow", str(work))
    assert (status, out) == (0, ROWS)
    assert [(e["allowed"], e["harmless"]) for e in _of(events, "app.db")] == [(True, True)]
    _run("root", site, work, READ)
    argv, env = invocation("root", site, work)
    checked = subprocess.run([*argv, "check", "t.json", "--allow", str(work)], cwd=work, env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert checked.returncode == 0 and "cannot be made writable" not in checked.stderr, checked.stderr
