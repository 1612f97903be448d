"""Ways out of a confined run that are not file writes, beyond those of test_confinement.py: an
abstract Unix socket a host process listens on (an X server's `@/tmp/.X11-unix/X0` types into
any window, the user's terminal included; a session bus starts programs outside), reached
from the read-only sandbox, which shares the host's network namespace."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.support.as_user import NOBODY, rotrace
from tests.support.tracing import NON_ROOT_PYTHON


def _userns_works() -> bool:
    probe = subprocess.run([*NOBODY, "bwrap", "--ro-bind", "/", "/", "true"], capture_output=True)
    return probe.returncode == 0


def _landlock_abi() -> int:
    from rotrace.tracer.linux import landlock

    try:
        return landlock.abi_version()
    except landlock.LandlockUnavailable:
        return 0


# Connects to the host's listener, then to one of its own (a server and its client, both in the
# sandbox: what a program's own abstract sockets are for).
REACH = """
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect("\\0{name}")
    print("connected", file=sys.stderr)
except OSError as exc:
    print("connect refused", exc.errno, file=sys.stderr)
own = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
own.bind("\\0{name}-own")
own.listen(1)
if os.fork() == 0:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect("\\0{name}-own")
    c.sendall(b"hi")
    os._exit(0)
conn, _ = own.accept()
print("own", conn.recv(2).decode(), file=sys.stderr)
"""


@pytest.mark.needs("bwrap")
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_the_read_only_sandbox_cannot_reach_a_hosts_abstract_socket(
    user: str, site: Path, work: Path
) -> None:
    """`docker run --read-only` has a network namespace of its own, so no abstract socket of the
    host; --read-only shares the host's (the command keeps the network), and scopes the
    command with Landlock instead, as --enforce does."""
    if _landlock_abi() < 6:
        pytest.skip("abstract Unix socket scoping needs Landlock ABI 6 (Linux >= 6.12)")
    if user == "nobody" and not _userns_works():
        pytest.skip("bubblewrap needs unprivileged user namespaces")
    name = f"rotrace-reach-{os.getpid()}-{user}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + name)
    listener.listen(1)
    try:
        proc = rotrace(["run", "--read-only", "--", NON_ROOT_PYTHON, "-c", REACH.format(name=name)],
                       user=user, site=site, cwd=work)  # fmt: skip
    finally:
        listener.close()
    assert "connect refused 1" in proc.stderr, proc.stderr  # EPERM: Landlock's scope
    assert "own hi" in proc.stderr  # its own sockets work
