"""Telling a SQLite database only read: the change time against the run's start, allowing for
filesystems that keep whole seconds (policy/databases.py)."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from rotrace.events import FileEvent
from rotrace.policy.allowlist import build_allowlist
from rotrace.policy.databases import MAGIC, before, database_of, now
from rotrace.policy.verdict import Classifier

SECOND = 1_000_000_000


def test_a_time_in_whole_seconds_is_before_only_two_seconds_ahead() -> None:
    """ext4 with 128-byte inodes stamps a change made at 5.3 s with 5 s."""
    since = 5 * SECOND + 300_000_000
    assert not before(5 * SECOND, since)
    assert not before(4 * SECOND, since)  # FAT keeps two seconds
    assert before(3 * SECOND, since)


def test_a_fine_grained_time_is_before_when_it_is_before() -> None:
    assert before(5 * SECOND + 123_456_789, 5 * SECOND + 123_456_790)
    assert not before(5 * SECOND + 123_456_789, 5 * SECOND + 123_456_789)


@given(st.integers(0, 4_000_000_000 * SECOND), st.integers(0, 9), st.integers(0, 4_000_000_000 * SECOND))
def test_no_change_made_after_the_start_is_before_it(made: int, digits: int, since: int) -> None:
    """A change made at or after `since` on a filesystem that truncates to 10^digits ns (or to
    two seconds) is never taken for one made before."""
    step = 2 * SECOND if digits == 9 else 10**digits
    if made >= since:
        assert not before(made - made % step, since)


def test_the_files_beside_a_database() -> None:
    assert [
        database_of(p) for p in (b"/a/x.db-journal", b"/a/x.db-wal", b"/a/x.db-shm", b"/a/x.db", b"-wal")
    ] == [b"/a/x.db", b"/a/x.db", b"/a/x.db", None, None]


def test_a_database_written_otherwise_in_the_run_is_not_only_read(tmp_path: Path) -> None:
    """Its open wrote nothing, but another call of the run changed the file (an ioctl that
    swaps its blocks, a truncate, a rename onto it): that open is no read alone."""
    db = tmp_path / "app.db"
    db.write_bytes(MAGIC + bytes(84))
    os.utime(db, (1_600_000_000, 1_600_000_000))
    opened = FileEvent(
        1, 1, b"/usr/bin/python3", "openat", "create", bytes(db), None, "O_RDWR|O_CREAT", 0o644, 3, True
    )
    swapped = FileEvent(1, 1, b"/usr/bin/python3", "ioctl", "truncate", bytes(db), None, None, None, 0, True)
    for others in ((), (swapped,)):
        classifier = Classifier(build_allowlist([], None), since=now())
        for e in (opened, *others):
            classifier.learn(e)
        assert classifier.classify(opened).harmless is (not others)
