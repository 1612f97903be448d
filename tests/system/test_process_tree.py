"""Following a whole process tree: threads, fork, exec chains, exec from a thread, pipelines;
and resolving relative paths the way the kernel does (dirfd, cwd shared by threads, chdir)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from rotrace.tracer.linux import syscall_info
from tests.support.tracing import PY, TracePy, run_traced


def test_threads_share_cwd_and_fds(trace_py: TracePy, tmp_path: Path) -> None:
    events, _ = trace_py(
        """
        import os, threading
        os.mkdir("sub")
        fd = os.open("sub", os.O_RDONLY)
        def worker():
            os.chdir("sub")              # CLONE_FS: changes the cwd of every thread
            open("from_thread", "w").close()
            os.mkdir("via_fd", dir_fd=fd) # CLONE_FILES: the fd is shared
        t = threading.Thread(target=worker); t.start(); t.join()
        open("from_main", "w").close()   # main thread, after the chdir in the worker
        """
    )
    paths = {e.path: e for e in events}
    sub = os.fsencode(tmp_path / "sub")
    assert sub + b"/from_thread" in paths
    assert sub + b"/via_fd" in paths
    assert sub + b"/from_main" in paths  # resolved with the cwd the thread changed
    thread_event = paths[sub + b"/from_thread"]
    assert thread_event.tid != thread_event.pid  # recorded from the worker thread
    assert paths[sub + b"/from_main"].tid == paths[sub + b"/from_main"].pid


def test_fork_chdir_is_private_to_the_child(trace_py: TracePy, tmp_path: Path) -> None:
    events, _ = trace_py(
        """
        import os
        os.mkdir("c")
        pid = os.fork()
        if pid == 0:
            os.chdir("c"); open("child", "w").close(); os._exit(0)
        os.waitpid(pid, 0)
        open("parent", "w").close()
        """
    )
    paths = {e.path: e for e in events}
    child = paths[os.fsencode(tmp_path / "c" / "child")]
    parent = paths[os.fsencode(tmp_path / "parent")]
    assert child.pid != parent.pid


def test_exec_chain_and_exe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    script = "exec sh -c 'touch one; exec env touch two'"
    events, result = run_traced(["sh", "-c", script])
    assert result.exit_code == 0
    by_path = {e.path: e for e in events if e.path.startswith(os.fsencode(tmp_path))}
    one, two = by_path[os.fsencode(tmp_path / "one")], by_path[os.fsencode(tmp_path / "two")]
    assert os.path.basename(one.exe) == b"touch" and os.path.basename(two.exe) == b"touch"
    assert one.pid != two.pid  # `touch one` is a fork of sh; `two` is the exec'd sh itself


def test_a_script_run_by_a_relative_name_through_a_symlink_is_recorded(tmp_path: Path) -> None:
    """`./link/s.sh` where link is a symlink to the script's directory: the #! script the kernel
    ran is recorded where it is (the name execve was given, walked as the process walks it)."""
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "s.sh").write_text("#!/bin/sh\ntrue\n")
    (tmp_path / "real" / "s.sh").chmod(0o755)
    (tmp_path / "link").symlink_to("real")
    trace = tmp_path / "t.json"
    proc = subprocess.run([PY, "-m", "rotrace", "run", "-q", "--json", str(trace), "--", "./link/s.sh"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    scripts = [p.get("script") for p in json.loads(trace.read_text())["processes"]]
    assert scripts == [str(tmp_path / "real" / "s.sh")], scripts


def test_exec_from_a_non_leader_thread(trace_py: TracePy, tmp_path: Path) -> None:
    touch = shutil.which("touch")
    events, result = trace_py(
        f"""
        import os, threading, time
        open("before", "w").close()
        def worker():
            os.execv({touch!r}, ["touch", "after_exec"])
        threading.Thread(target=worker).start()
        time.sleep(30)
        """
    )
    assert result.exit_code == 0
    by_path = {e.path: e for e in events}
    before = by_path[os.fsencode(tmp_path / "before")]
    after = by_path[os.fsencode(tmp_path / "after_exec")]
    assert after.pid == before.pid and after.tid == before.pid  # the tid became the leader's
    assert os.path.basename(after.exe) == b"touch"


def test_shell_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    events, result = run_traced(["sh", "-c", "echo data | tee out.txt | sort > sorted.txt; mkdir -p a/b"])
    assert result.exit_code == 0
    got = {(os.path.basename(e.exe), e.path) for e in events if e.path.startswith(os.fsencode(tmp_path))}
    base = os.fsencode(tmp_path)
    assert (b"tee", base + b"/out.txt") in got
    assert {e.path for e in events if e.op == "mkdir"} >= {base + b"/a", base + b"/a/b"}
    assert any(path == base + b"/sorted.txt" for _, path in got)


def test_symlinked_directory_paths_are_where_the_kernel_put_them(trace_py: TracePy, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    events, _ = trace_py("open('link/../link/f', 'w').close()")
    # link/.. is the parent of real (the kernel follows the link first), then link/f is real/f
    assert [e.path for e in events if e.op == "create"] == [os.fsencode(tmp_path / "real" / "f")]
    assert (tmp_path / "real" / "f").exists()


def test_non_utf8_names_are_kept_as_bytes(trace_py: TracePy, tmp_path: Path) -> None:
    events, _ = trace_py("open(b'bad\\xff\\x1b[31m', 'w').close()")
    assert [e.path for e in events] == [os.fsencode(tmp_path) + b"/bad\xff\x1b[31m"]


def test_exit_status_and_signals_are_reported(tmp_path: Path) -> None:
    _, result = run_traced(["sh", "-c", "exit 7"])
    assert (result.exit_code, result.signal) == (7, None)
    _, result = run_traced(["sh", "-c", "kill -TERM $$"])
    assert (result.exit_code, result.signal) == (128 + signal.SIGTERM, signal.SIGTERM)


def test_signals_are_delivered_to_the_tracee(trace_py: TracePy, tmp_path: Path) -> None:
    """Signal-delivery-stops are forwarded; a stopped and continued child carries on."""
    events, result = trace_py(
        """
        import os, signal, subprocess, sys
        signal.signal(signal.SIGUSR1, lambda *a: open("got_usr1", "w").close())
        os.kill(os.getpid(), signal.SIGUSR1)
        code = "import time; time.sleep(0.2); open('child_ran', 'w')"
        child = subprocess.Popen([sys.executable, "-c", code])
        os.kill(child.pid, signal.SIGSTOP)
        os.kill(child.pid, signal.SIGCONT)
        child.wait()
        """
    )
    assert result.exit_code == 0
    names = {os.path.basename(e.path) for e in events}
    assert {b"got_usr1", b"child_ran"} <= names


def test_killing_rotrace_kills_the_tracee(tmp_path: Path) -> None:
    """PTRACE_O_EXITKILL: SIGKILL to rotrace must not leave the traced command behind."""
    marker = tmp_path / "pid"
    code = f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    proc = subprocess.Popen([PY, "-m", "rotrace", "run", "--", PY, "-c", code], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not (marker.exists() and marker.read_text()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pid = int(marker.read_text())
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline, "the tracee outlived rotrace"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.needs("gcc")
def test_32bit_syscall_from_64bit_process_uses_the_i386_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """int 0x80 with eax=5 is open(2) on i386 but fstat on x86_64: it must decode as open,
    from PTRACE_GET_SYSCALL_INFO and from the registers (the fallback for kernels before 5.3)."""
    if os.uname().machine != "x86_64":
        pytest.skip("x86_64 only")
    src = tmp_path / "int80.c"
    target = tmp_path / "via_int80"
    src.write_text(
        textwrap.dedent(f"""
        static const char path[] = "{target}";
        int main(void) {{
            long ret;
            /* open(path, O_WRONLY|O_CREAT, 0644) through the 32-bit entry */
            __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(5), "b"(path), "c"(0101), "d"(0644) : "memory");
            return ret < 0;
        }}
    """)
    )
    exe = tmp_path / "int80"
    subprocess.run(["gcc", "-O0", "-no-pie", "-static", "-o", exe, src], check=True)
    for seccomp, registers in ((True, False), (False, False), (True, True), (False, True)):
        monkeypatch.setattr(syscall_info.SyscallInfo, "use_registers", registers)  # pre-5.3 fallback too
        events, result = run_traced([str(exe)], seccomp=seccomp)
        assert result.exit_code == 0
        assert [(e.syscall, e.path, e.op) for e in events if e.path == os.fsencode(target)] == [
            ("open", os.fsencode(target), "create")
        ]
        target.unlink()


def test_command_that_keeps_running_children(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A daemonised grandchild is followed to its end, like strace -f does."""
    monkeypatch.chdir(tmp_path)
    events, result = run_traced(["sh", "-c", "(sleep 0.3; touch late) & exit 3"])
    assert result.exit_code == 3
    assert os.fsencode(tmp_path / "late") in {e.path for e in events}


def test_sigterm_to_rotrace_reaches_the_command(tmp_path: Path) -> None:
    """Like strace: a signal sent to rotrace is passed on, and the command's death reported."""
    marker = tmp_path / "ready"
    code = f"import time; open({str(marker)!r}, 'w').close(); time.sleep(60)"
    proc = subprocess.Popen([PY, "-m", "rotrace", "run", "--", PY, "-c", code],
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 20
    while not marker.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 8  # the command failed: killed
    assert "killed by SIGTERM" in err


PIDFD_PROGRAM = """
import os, select
late = 0
for _ in range(30):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    fd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    poller.poll()                      # readable: the child has exited...
    if os.waitid(os.P_PIDFD, fd, os.WEXITED | os.WNOHANG) is None:
        late += 1                      # ...but it cannot be reaped yet
        os.waitid(os.P_PIDFD, fd, os.WEXITED)
    os.close(fd)
print(late)
"""


def test_a_readable_pidfd_means_the_child_can_be_reaped(tmp_path: Path) -> None:
    """tokio (uv) reaps a child as soon as its pidfd is readable and panics if waitid finds
    nothing. rotrace lets exiting processes go (PTRACE_EVENT_EXIT) so that holds when traced."""
    out = tmp_path / "late"
    code = PIDFD_PROGRAM.replace("print(late)", f"open({str(out)!r}, 'w').write(str(late))")
    _, result = run_traced([PY, "-c", code])
    assert result.exit_code == 0
    assert out.read_text() == "0"


def test_group_stop_is_seen_by_the_parent_and_continues(trace_py: TracePy, tmp_path: Path) -> None:
    """Job control under the tracer: a stopped child is reported stopped to its parent (the
    tracer keeps it stopped with PTRACE_LISTEN) and carries on after SIGCONT."""
    events, result = trace_py(
        """
        import os, signal, time
        pid = os.fork()
        if pid == 0:
            os.kill(os.getpid(), signal.SIGSTOP)
            open("after_continue", "w").close()
            os._exit(0)
        _, status = os.waitpid(pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status) and os.WSTOPSIG(status) == signal.SIGSTOP, status
        time.sleep(0.2)
        assert not os.path.exists("after_continue")  # still stopped
        os.kill(pid, signal.SIGCONT)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        """
    )
    assert result.exit_code == 0
    assert [os.path.basename(e.path) for e in events] == [b"after_continue"]
