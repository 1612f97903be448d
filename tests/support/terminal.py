"""A program's stderr on a pseudo-terminal: as a person at a terminal sees it, or a CI step run
under `script` or `docker run -t`."""

from __future__ import annotations

import os
import pty
import select
import subprocess


def stderr_on_a_terminal(argv: list[str], env: dict[str, str], quiet_for: float = 10) -> bytes:
    """What `argv` writes on stderr, a pseudo-terminal, until it closes it or says nothing for
    `quiet_for` seconds."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    seen = b""
    while select.select([master], [], [], quiet_for)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=30)
    os.close(master)
    return seen
