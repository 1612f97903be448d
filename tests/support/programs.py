"""Random programs of file operations, for the conformance test against strace.

A program is a list of steps run by the system's Python in a work directory; each step may
fail (a missing parent, an existing name...) and the program goes on. Names include hostile
ones (a newline, a space, a leading dash, bytes that are not UTF-8, 255 bytes) and a deep
directory near PATH_MAX. Concurrency never decides a result: a thread, a forked child and an
exec'd child each work in a directory of their own. Symlinks are made and removed but never
followed (their names are kept apart): strace prints the path a program passed, the kernel
resolves links, and the two would differ by design.
"""

from __future__ import annotations

from hypothesis import strategies as st

FILES = ["f0", "f1", "f\nnl", "f sp", "-f", "f\udce9", "F" * 255]
DIRS = ["d0", "d1", "d0/d2", "deep"]
LINKS = ["l0", "l1"]

Step = tuple[str, ...]

_file = st.sampled_from(FILES)
_dir = st.sampled_from(DIRS)
_in_dir = st.builds(lambda d, f: f"{d}/{f}", _dir, _file) | _file
_link = st.sampled_from(LINKS)

_simple = st.one_of(
    st.tuples(st.just("mkdir"), _dir),
    st.tuples(st.just("rmdir"), _dir),
    st.tuples(st.just("create"), _in_dir),
    st.tuples(st.just("create_excl"), _in_dir),
    st.tuples(st.just("append"), _in_dir),
    st.tuples(st.just("unlink"), _in_dir),
    st.tuples(st.just("rename"), _in_dir, _in_dir),
    st.tuples(st.just("link"), _in_dir, _in_dir),
    st.tuples(st.just("symlink"), _in_dir, _link),
    st.tuples(st.just("unlink"), _link),
    st.tuples(st.just("rename"), _link, _link),
    st.tuples(st.just("chmod"), _in_dir),
    st.tuples(st.just("truncate"), _in_dir),
    st.tuples(st.just("utime"), _in_dir),
    st.tuples(st.just("dirfd_create"), _dir, _file),
    st.tuples(st.just("dirfd_mkdir"), _dir, _file),
    st.tuples(
        st.just("deep"),
    ),
    st.tuples(st.just("read_only_open"), _in_dir),
)
_chdir = st.tuples(st.just("chdir"), st.sampled_from(["d0", "..", "."]))


def programs() -> st.SearchStrategy[list[Step]]:
    body = st.lists(st.one_of(_simple, _chdir), min_size=1, max_size=12)
    nested = st.lists(_simple, min_size=1, max_size=6)
    branch = st.tuples(st.sampled_from(["thread", "fork", "exec"]), nested.map(repr))
    return st.lists(st.one_of(_simple, _chdir, branch), min_size=1, max_size=14).flatmap(
        lambda steps: body.map(lambda tail: [*steps, *tail])
    )


_PRELUDE = """
import os, sys, threading
BRANCHES = [0]
def name(s): return os.fsencode(s)
def attempt(f, *a, **k):
    try:
        r = f(*a, **k)
        if isinstance(r, int) and f is os.open: os.close(r)
    except OSError:
        pass
def run(steps):
    for step in steps:
        op, args = step[0], [name(a) for a in step[1:]]
        if op == "mkdir": attempt(os.mkdir, args[0])
        elif op == "rmdir": attempt(os.rmdir, args[0])
        elif op == "create": attempt(os.open, args[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        elif op == "create_excl": attempt(os.open, args[0], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        elif op == "append": attempt(os.open, args[0], os.O_WRONLY | os.O_APPEND)
        elif op == "read_only_open": attempt(os.open, args[0], os.O_RDONLY)
        elif op == "unlink": attempt(os.unlink, args[0])
        elif op == "rename": attempt(os.rename, args[0], args[1])
        elif op == "link": attempt(os.link, args[0], args[1])
        elif op == "symlink": attempt(os.symlink, args[0], args[1])
        elif op == "chmod": attempt(os.chmod, args[0], 0o640)
        elif op == "truncate": attempt(os.truncate, args[0], 0)
        elif op == "utime": attempt(os.utime, args[0])
        elif op == "chdir": attempt(os.chdir, args[0])
        elif op in ("dirfd_create", "dirfd_mkdir"):
            try: fd = os.open(args[0], os.O_RDONLY | os.O_DIRECTORY)
            except OSError: continue
            if op == "dirfd_create":
                attempt(os.open, args[1], os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            else:
                attempt(os.mkdir, args[1], dir_fd=fd)
            os.close(fd)
        elif op == "deep":
            here = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
            for _ in range(13):  # 13 x 251 bytes: close to PATH_MAX from the work directory
                attempt(os.mkdir, b"D" * 250, dir_fd=here)
                try: nxt = os.open(b"D" * 250, os.O_RDONLY | os.O_DIRECTORY, dir_fd=here)
                except OSError: break
                os.close(here); here = nxt
            attempt(os.open, b"leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=here)
            os.close(here)
        elif op in ("thread", "fork", "exec"):
            BRANCHES[0] += 1
            sub = f"{op}{BRANCHES[0]}".encode()  # the same in every run (no pid)
            attempt(os.mkdir, sub)
            inner = eval(step[1])
            if op == "thread":
                def body(inner=inner, sub=sub):
                    run([(s[0], *[sub.decode() + "/" + a for a in s[1:]]) for s in inner])
                t = threading.Thread(target=body); t.start(); t.join()
            elif op == "fork":
                pid = os.fork()
                if pid == 0:
                    try: os.chdir(sub); run(inner)
                    finally: os._exit(0)
                os.waitpid(pid, 0)
            else:
                pid = os.fork()
                if pid == 0:
                    try:
                        os.chdir(sub)
                        child = PRELUDE + "\\nrun(" + repr(inner) + ")"
                        os.execv(sys.executable, [sys.executable, "-c", child])
                    finally: os._exit(0)
                os.waitpid(pid, 0)
"""


def compile_program(steps: list[Step]) -> str:
    """Python source that runs the steps (surrogate-escaped names become their bytes)."""
    return f"PRELUDE = {_PRELUDE!r}\n{_PRELUDE}\nrun({steps!r})\n"
