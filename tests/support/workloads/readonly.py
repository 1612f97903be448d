"""Writes whose outcome under a read-only root differs by kind: run in a directory holding
`existing.txt` and `existing_dir/`, with SCRATCH (argv[1]) writable. Ordered so that a
normal run's successes do not change what later attempts find."""

import contextlib
import os
import sys
from collections.abc import Callable

scratch = sys.argv[1]
attempts: list[Callable[[], object]] = [
    lambda: open("new.txt", "w"),  # EROFS
    lambda: open("existing.txt", "r+"),  # EROFS: write access to an existing file
    lambda: os.open("existing.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL),  # EEXIST first
    lambda: os.mkdir("existing_dir"),  # EEXIST first
    lambda: os.mkdir("new_dir"),  # EROFS
    lambda: os.unlink("missing.txt"),  # EROFS: checked before the name is looked up
    lambda: open("no/such/dir/file", "w"),  # ENOENT first
    lambda: os.chmod("existing.txt", 0o600),  # EROFS
    lambda: os.utime("existing.txt"),  # EROFS
    lambda: os.symlink("existing.txt", "link"),  # EROFS
    lambda: os.rmdir("existing_dir"),  # EROFS
    lambda: open("/dev/null", "w"),  # ok: a device needs no writable filesystem
    lambda: open(os.path.join(scratch, "ok.txt"), "w"),  # ok: allowed and mounted writable
    lambda: os.mkdir(os.path.join(scratch, "d")),  # ok
    lambda: os.mkdir("later/leaf"),  # ENOENT first (its parent, made next in a normal run, is missing)
    lambda: os.mkdir("later"),  # EROFS
    lambda: os.rename("existing.txt", "renamed.txt"),  # EROFS (last: a normal run really renames)
]
for attempt in attempts:
    with contextlib.suppress(OSError):
        attempt()
