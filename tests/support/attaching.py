"""`rotrace run -p PID` started and waited for until it says it traces the process: a thread
rotrace has seized runs untraced until its first stop is handled, so a test that lets the
process write before that line may find the write missing."""

from __future__ import annotations

import os
import select
import subprocess
import time
from typing import Any

ATTACHED = b"rotrace: attached to pid "


def attached(argv: list[str], timeout: float = 60, **popen: Any) -> tuple[subprocess.Popen[str], str]:
    """rotrace (argv: a `run -p PID` command line), once it has said it is attached; and what it
    wrote on stderr until then (communicate() returns what follows)."""
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, **popen)
    assert proc.stderr is not None
    fd, seen = proc.stderr.fileno(), b""
    deadline = time.monotonic() + timeout
    while ATTACHED not in seen or b"\n" not in seen[seen.index(ATTACHED) :]:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            proc.kill()
            raise AssertionError(f"rotrace never said it was attached: {seen!r}")
        chunk = os.read(fd, 4096)
        if not chunk:
            proc.wait()
            raise AssertionError(f"rotrace exited {proc.returncode} before it was attached: {seen!r}")
        seen += chunk
    return proc, seen.decode()
