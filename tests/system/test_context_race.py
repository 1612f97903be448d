"""A thread that changes the cwd (or root) it shares with another thread while that one writes:
the kernel walks the write's path from the cwd of that moment, rotrace reads the cwd at the
write's exit stop, which may be the next one. Such a write must be placed where it landed (the
kernel's truth: which directory holds the name at the end) or be unresolved, never placed in
the other directory; with the cache on and off, in both loops. Processes that do not share
their cwd (fork, not clone(CLONE_FS)) are no reason for doubt: their writes stay placed."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.support.tracing import PY, loop_with_and_without_cache, run_traced

loop = loop_with_and_without_cache  # the fixture, under the name the tests take

WRITES = 1500


def _placed_wrong(tmp_path: Path, code: str) -> tuple[int, int, list[str]]:
    """Run `code` traced: (writes placed, unresolved, those placed where the name is not)."""
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    events, result = run_traced([PY, "-c", textwrap.dedent(code)])
    assert result.exit_code == 0
    made = [e for e in events if e.syscall in ("mkdir", "mkdirat") and e.result == 0]
    assert len(made) == WRITES
    wrong = [e.path.decode() for e in made if not e.unresolved and not os.path.isdir(e.path)]
    unresolved = sum(e.unresolved for e in made)
    return len(made) - unresolved, unresolved, wrong


def test_a_thread_that_changes_the_cwd_another_writes_from(loop: str, tmp_path: Path) -> None:
    code = f"""
        import os, threading, time
        os.chdir({str(tmp_path)!r})
        done = []
        def flip():  # now and then, so that some writes overlap a chdir and some do not
            while not done:
                os.chdir({str(tmp_path / "x")!r})
                time.sleep(0.0002)
                os.chdir({str(tmp_path / "y")!r})
                time.sleep(0.0002)
        t = threading.Thread(target=flip)
        t.start()
        for i in range({WRITES}):
            os.mkdir("m%d" % i)
        done.append(1)
        t.join()
    """
    for attempt in range(3):  # on a loaded machine every write may overlap a chdir: again
        run = tmp_path / str(attempt)
        run.mkdir()
        placed, unresolved, wrong = _placed_wrong(run, code.replace(str(tmp_path), str(run)))
        assert not wrong, f"{len(wrong)} of {WRITES} writes placed where they are not: {wrong[:5]}"
        if unresolved > 0 and placed > 0:
            break
    assert unresolved > 0 and placed > 0  # some writes overlapped a chdir, some did not


def test_a_process_that_changes_its_own_cwd_is_no_reason_for_doubt(loop: str, tmp_path: Path) -> None:
    code = f"""
        import os, signal, sys
        os.chdir({str(tmp_path / "x")!r})
        pid = os.fork()
        if pid == 0:  # its own cwd (a copy): nothing the writer walks from
            while True:
                os.chdir({str(tmp_path / "y")!r})
                os.chdir({str(tmp_path)!r})
        for i in range({WRITES}):
            os.mkdir("m%d" % i)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    """
    placed, unresolved, wrong = _placed_wrong(tmp_path, code)
    assert not wrong
    assert unresolved == 0 and placed == WRITES
    assert len(os.listdir(tmp_path / "x")) == WRITES


_HOLDS_THE_DIRECTORY = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static const char *other;
static int delay, exec_away;
/* one getdents64 of the whole directory holds its lock: a mkdir there waits for it, its way
   walked already */
static void *lister(void *a) {
    int fd = open(".", O_RDONLY | O_DIRECTORY);
    size_t size = 64 << 20;
    syscall(SYS_getdents64, fd, malloc(size), size);
    return 0;
}
/* while the mkdir waits: the shared cwd moves, then the process dies (a fatal signal, or
   another thread's execve): the mkdir ends, with no exit stop */
static void *mover(void *a) {
    usleep(delay);
    chdir(other);
    if (exec_away) execl("/bin/true", "true", (char *)0);
    kill(getpid(), SIGKILL);
    return 0;
}
int main(int argc, char **argv) {
    other = argv[2];
    exec_away = atoi(argv[4]);
    for (int i = 0; i < atoi(argv[3]); i++) {
        pid_t pid = fork();
        if (pid == 0) {
            char name[32];
            pthread_t a, b;
            chdir(argv[1]);
            delay = 8000 + (i % 4) * 4000;
            snprintf(name, sizeof name, "x%d", i);
            pthread_create(&a, 0, lister, 0);
            usleep(3000);
            pthread_create(&b, 0, mover, 0);
            mkdir(name, 0755);
            pause();
            _exit(0);
        }
        waitpid(pid, 0, 0);
    }
    return 0;
}
"""


@pytest.mark.needs("gcc")
def test_a_write_whose_thread_dies_in_the_call_is_placed_with_every_exit_check(
    loop: str, tmp_path: Path
) -> None:
    """A mkdir waiting on its directory's lock (another thread lists the directory) while a
    sibling moves the shared cwd and the process is killed, or execs: the call completes in the
    first directory, and the thread's only stop is its PTRACE_EVENT_EXIT. It was placed from the
    new cwd with none of the exit stop's checks: in the allowed directory, `no violations`."""
    src, exe = tmp_path / "race.c", tmp_path / "race"
    src.write_text(_HOLDS_THE_DIRECTORY)
    subprocess.run(["gcc", "-O2", "-pthread", "-o", str(exe), str(src)], check=True)
    out, other = tmp_path / "out", tmp_path / "ok"
    out.mkdir()
    other.mkdir()
    (out / "f").touch()
    for i in range(40000):  # a listing long enough to hold the lock for tens of milliseconds
        os.link(out / "f", out / f"{'a' * 200}{i:08d}")
    for exec_away in ("0", "1"):
        events, _ = run_traced([str(exe), str(out), str(other), "4", exec_away])
        made = [e for e in events if e.op == "mkdir"]
        assert len(made) == 4, [(e.syscall, e.op, e.path) for e in events]
        really = {name for name in os.listdir(out) if name.startswith("x")}
        assert really, "no mkdir completed in the first directory: the race did not happen"
        wrong = [e.path for e in made if not e.unresolved and not os.path.isdir(e.path)]
        assert not wrong, f"placed where no directory is ({sorted(really)} are in {out}): {wrong}"
        for name in really:
            os.rmdir(out / name)


def test_a_path_through_the_cwd_of_a_process_rotrace_does_not_trace(loop: str, tmp_path: Path) -> None:
    """`utime("/proc/PID/cwd/f")` where PID is a process outside the trace that flips its cwd
    between two directories holding the same names: its chdir makes no stop, so rotrace cannot
    tell which directory the kernel walked (half the writes were placed in the other one, and
    reported allowed where they changed a file outside the allowlist). Every such write is
    unresolved; none is placed where the file did not change."""
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        for i in range(WRITES):
            (tmp_path / d / f"f{i}").touch()
            os.utime(tmp_path / d / f"f{i}", (5, 5))
    flipper = textwrap.dedent(f"""
        import os, time
        end = time.monotonic() + 120  # bounded: nothing waits for it, should the test be killed
        while time.monotonic() < end:
            os.chdir({str(tmp_path / "x")!r})
            os.chdir({str(tmp_path / "y")!r})
    """)
    # started apart (no child of this process, whose every child the in-process tracer waits for)
    started = subprocess.run(["sh", "-c", f'{PY} -c "$1" >/dev/null 2>&1 & echo $!', "sh", flipper],
                             capture_output=True, text=True, check=True)  # fmt: skip
    racer = int(started.stdout)
    try:
        touch = f"os.utime('/proc/{racer}/cwd/f%d' % i, (1000 + i,) * 2)"
        code = f"import os\nfor i in range({WRITES}):\n    {touch}\n"
        events, result = run_traced([PY, "-c", code])
    finally:
        os.kill(racer, 9)
    assert result.exit_code == 0
    touched = [e for e in events if e.syscall == "utimensat"]
    assert len(touched) == WRITES
    placed = [e for e in touched if not e.unresolved]
    wrong = [e.path for e in placed if os.stat(e.path).st_mtime != 1000 + int(e.path.rsplit(b"f", 1)[1])]
    assert not wrong, wrong[:5]
    assert not placed, placed[:3]  # none can be told: the process is not traced
