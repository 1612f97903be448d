"""Writes made by calls that are not file calls: `bind()` of a Unix socket to a path creates
the socket file (what mknod(S_IFSOCK) would), a write like any other. Landlock refuses it
outside the allowlist (LANDLOCK_ACCESS_FS_MAKE_SOCK) and a read-only root with EROFS: each
refusal is recorded, and a plain run forecasts it. An abstract socket makes no file."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.as_user import rotrace
from tests.support.tracing import NON_ROOT_PYTHON, rotrace_cli

BIND = """
import socket, sys
for where in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(where.replace("@", "\\0"))
        print("bound", where, file=sys.stderr)
    except OSError as exc:
        print("refused", where, exc.errno, file=sys.stderr)
"""


def _binds(work: Path, args: list[str], user: str, site: Path, *where: str) -> tuple[str, list[dict]]:  # type: ignore[type-arg]
    proc = rotrace(["run", *args, "--json", "t.json", "--", NON_ROOT_PYTHON, "-c", BIND, *where],
                   user=user, site=site, cwd=work)  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    trace = json.loads((work / "t.json").read_text())
    return proc.stderr, [e for e in trace["events"] if e["syscall"] == "bind"]


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_socket_bound_outside_the_allowlist_is_refused_and_recorded(
    user: str, site: Path, work: Path
) -> None:
    (work / "in").mkdir()
    (work / "in").chmod(0o777)
    outside, inside = f"{work}/out.sock", f"{work}/in/ok.sock"
    stderr, binds = _binds(work, ["--enforce", "--allow", f"{work}/in"], user, site,
                           outside, inside, "@rotrace-abstract", "in/rel.sock")  # fmt: skip
    assert f"refused {outside} 13" in stderr and f"bound {inside}" in stderr, stderr
    assert not os.path.lexists(outside) and os.path.lexists(inside)
    assert [(e["op"], e["path"], e["errno"], e["allowed"]) for e in binds] == [
        ("mknod", outside, "EACCES", False),
        ("mknod", inside, None, True),
        ("mknod", f"{work}/in/rel.sock", None, True),  # relative to the cwd, as the kernel places it
    ]
    assert json.loads((work / "t.json").read_text())["summary"]["went_through"] == 0


def test_a_plain_run_forecasts_a_bound_socket_and_the_sandbox_agrees(site: Path, work: Path) -> None:
    where = f"{work}/app.sock"
    _, audit = _binds(work, [], "root", site, where, "@rotrace-abstract")
    assert [(e["path"], e["errno"], e["allowed"], e["ro_forecast"]) for e in audit] == [
        (where, None, False, "EROFS")
    ]
    _, again = _binds(work, [], "root", site, where)  # it is there now: EADDRINUSE, not EROFS
    assert [(e["errno"], e["ro_forecast"]) for e in again] == [("EADDRINUSE", "EADDRINUSE")]
    os.unlink(where)


@pytest.mark.needs("bwrap")
def test_the_read_only_sandbox_records_a_refused_bind(site: Path, work: Path) -> None:
    where = f"{work}/app.sock"
    stderr, sandboxed = _binds(work, ["--read-only"], "root", site, where, "/tmp/ok.sock")
    assert f"refused {where} 30" in stderr, stderr
    assert [(e["path"], e["errno"], e["allowed"]) for e in sandboxed] == [
        (where, "EROFS", False),
        ("/tmp/ok.sock", None, True),
    ]
    assert not os.path.lexists(where)


@pytest.mark.needs("gcc")
def test_a_32_bit_bind_is_recorded_too(tmp_path: Path) -> None:
    """i386 programs bind through socketcall(SYS_BIND, args) (or, since Linux 4.3, bind as
    call 361): both through `int $0x80` from a 64-bit process, with their 32-bit pointers."""
    if os.uname().machine != "x86_64":
        pytest.skip("x86_64 only")
    src, program = tmp_path / "bind80.c", tmp_path / "bind80"
    src.write_text(f"""
#include <sys/socket.h>
#include <sys/un.h>
static struct sockaddr_un a = {{AF_UNIX, "{tmp_path}/via-socketcall"}};
static struct sockaddr_un b = {{AF_UNIX, "{tmp_path}/via-bind"}};
static unsigned int args[3];
int main(void) {{
    long ret;
    args[0] = socket(AF_UNIX, SOCK_STREAM, 0), args[1] = (unsigned int)(unsigned long)&a, args[2] = sizeof a;
    __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(102), "b"(2), "c"(args) : "memory");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(361), "b"(s), "c"(&b), "d"(sizeof b) : "memory");
    return 0;
}}
""")
    subprocess.run(["gcc", "-static", "-no-pie", "-o", str(program), str(src)], check=True)
    for mode in ([], ["--no-seccomp"]):
        for name in ("via-socketcall", "via-bind"):
            (tmp_path / name).unlink(missing_ok=True)
        proc = rotrace_cli("run", *mode, "--json", "t.json", "--", str(program), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr  # under /tmp: the default allowlist
        assert (tmp_path / "via-socketcall").exists() and (tmp_path / "via-bind").exists()
        events = json.loads((tmp_path / "t.json").read_text())["events"]
        assert [(e["syscall"], e["op"], e["path"]) for e in events] == [
            ("socketcall", "mknod", f"{tmp_path}/via-socketcall"),
            ("bind", "mknod", f"{tmp_path}/via-bind"),
        ]


# A second thread flips the address's family between AF_INET and AF_UNIX while the first binds
# new Unix sockets to argv[1]/sN: what rotrace read at the entry may be AF_INET, what the kernel
# copied AF_UNIX.
FLIPPED = r"""
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
static struct sockaddr_un address;
static volatile int done;
static void *flip(void *unused) {
    volatile sa_family_t *family = &address.sun_family;
    while (!done) *family = *family == AF_UNIX ? AF_INET : AF_UNIX;
    return unused;
}
int main(int argc, char **argv) {
    pthread_t flipper;
    address.sun_family = AF_UNIX;
    pthread_create(&flipper, NULL, flip, NULL);
    int bound = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(address.sun_path, sizeof address.sun_path, "%s/s%d", argv[1], i);
        bound += bind(socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&address, sizeof address) == 0;
    }
    done = 1;
    pthread_join(flipper, NULL);
    printf("%d\n", bound);
    return 0;
}
"""


@pytest.mark.needs("gcc")
def test_a_bind_whose_address_became_a_unix_path_while_it_ran_is_recorded(tmp_path: Path) -> None:
    """A bind whose address read as AF_INET at its entry made no event, though the kernel, which
    copied it a moment later, bound a Unix socket to a file: another thread had rewritten the
    family. Such a bind is asked of the kernel at its exit (/proc/PID/net/unix): every socket
    file made is a write in the trace, placed or not."""
    source, program = tmp_path / "flip.c", tmp_path / "flip"
    source.write_text(FLIPPED)
    subprocess.run(["gcc", "-O1", "-pthread", "-o", str(program), str(source)], check=True)
    made = tmp_path / "made"
    made.mkdir()
    proc = rotrace_cli("run", "-q", "--json", "t.json", "--", str(program), str(made), cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr  # 1: a bind with no place (a violation)
    files = {str(made / name) for name in os.listdir(made)}
    assert files and int(proc.stdout) == len(files), proc.stdout
    events = json.loads((tmp_path / "t.json").read_text())["events"]
    binds = [e for e in events if e["syscall"] == "bind" and e["result"] == 0]
    placed = {e["path"] for e in binds if not e["unresolved"]}
    assert placed <= files and len(binds) == len(files), (len(binds), len(files), len(placed))
