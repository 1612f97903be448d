"""Arguments the kernel reads but rotrace cannot: memory of memfd_secret (Linux 5.14) is mapped in
the process, so the kernel copies a path or an address from it, while /proc/PID/mem,
process_vm_readv and PTRACE_PEEKDATA fail there. What rotrace reads is then no argument: a
write so made has no place (a violation), never the place of what it could read."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.places import srv_dir
from tests.support.tracing import LOOPS, rotrace_cli

# One ordinary page, and a memfd_secret page mapped right after it. argv[1] ends at the end of
# the ordinary page, argv[2] starts the secret page (one string to the kernel); then
# mkdir(that string); then a Unix socket bound to argv[3], its whole address in the secret page.
SECRET = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
int main(int argc, char **argv) {
    long page = sysconf(_SC_PAGESIZE);
    char *area = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int fd = syscall(447 /* memfd_secret */, 0);
    if (area == MAP_FAILED || fd < 0 || ftruncate(fd, page) != 0) { perror("memfd_secret"); return 3; }
    char *secret = mmap(area + page, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    if (secret == MAP_FAILED) { perror("mmap"); return 3; }
    size_t head = strlen(argv[1]);
    memcpy(area + page - head, argv[1], head);
    strcpy(secret, argv[2]);
    int made = mkdir(area + page - head, 0755);
    memset(secret, 0, page);
    struct sockaddr_un *address = (struct sockaddr_un *)secret;
    address->sun_family = AF_UNIX;
    strncpy(address->sun_path, argv[3], sizeof address->sun_path - 1);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    int bound = bind(s, (struct sockaddr *)address, sizeof *address);
    printf("mkdir %d bind %d\n", made, bound);
    return made != 0 || bound != 0;
}
"""


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory no default allowlist entry covers."""
    with srv_dir("rotrace-secretmem-") as top:
        yield top


@pytest.mark.needs("gcc")
@pytest.mark.parametrize("loop", LOOPS)
def test_a_path_and_an_address_in_memory_rotrace_cannot_read_have_no_place(
    tmp_path: Path, outside: Path, loop: str
) -> None:
    """The path `/tmp/` + `../srv/X/made` (its second part in the secret page) was placed at
    /tmp, read up to where reading failed and read the same at the exit: an allowed mkdir of
    /tmp, "no violations", for a directory made outside the allowlist. A Unix socket bound to
    an address in the secret page was no event at all. Both are writes with no place now."""
    source, program = tmp_path / "secret.c", tmp_path / "secret"
    source.write_text(SECRET)
    subprocess.run(["gcc", "-o", str(program), str(source)], check=True)
    check = subprocess.run([str(program), "/tmp/", f"..{outside}/probe", str(outside / "probe.sock")],
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr  # the kernel reads both (memfd_secret)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "ROTRACE_PURE_LOOP")}
    if loop == "pure":
        env["ROTRACE_PURE_LOOP"] = "1"
    trace = tmp_path / "t.json"
    made, sock = outside / "made", outside / "made.sock"
    argv = ["run", "-q", "--json", str(trace), "--", str(program), "/tmp/", f"..{outside}/made", str(sock)]
    run = rotrace_cli(*argv, env=env)
    assert made.is_dir() and sock.is_socket(), run.stdout + run.stderr
    assert run.returncode == 1, run.stdout + run.stderr  # violations, the command succeeded
    events = json.loads(trace.read_text())["events"]
    writes = {e["syscall"]: e for e in events if e["syscall"] in ("mkdir", "bind")}
    assert set(writes) == {"mkdir", "bind"}, events
    for event in writes.values():
        assert event["unresolved"] and event["result"] == 0, event
        assert event["path"] != "/tmp", event
