"""A mixed file-writing workload: every syscall family, threads, fork, exec, dirfd, chdir,
successes and failures. Run in an empty directory; deterministic names (no random temp files)
so that two runs make the same calls."""

import ctypes
import os
import shutil
import struct
import subprocess
import threading

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def files() -> None:
    with open("a.txt", "w") as f:
        f.write("a")
    with open("a.txt", "a") as f:
        f.write("b")
    try:
        os.open("a.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        pass
    with open("a.txt") as f:
        f.read()
    try:
        open("missing/nope.txt", "w")
    except FileNotFoundError:
        pass
    how = struct.pack("=QQQ", os.O_RDWR | os.O_CREAT, 0o600, 0)
    fd = libc.syscall(437, -100, b"openat2.txt", how, len(how))
    if fd >= 0:
        os.close(fd)
    os.truncate("a.txt", 1)
    os.chmod("a.txt", 0o640)
    os.utime("a.txt", (1, 1))
    os.chown("a.txt", -1, -1)
    os.link("a.txt", "hard.txt")
    os.symlink("a.txt", "soft.txt")
    os.rename("hard.txt", "moved.txt")
    os.unlink("moved.txt")
    os.mkfifo("fifo")


def dirs() -> None:
    os.makedirs("tree/sub/leaf")
    fd = os.open("tree", os.O_RDONLY | os.O_DIRECTORY)
    os.mkdir("by_fd", dir_fd=fd)
    with open(os.open("by_fd/f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w"):
        pass
    os.rename("by_fd/f", "by_fd/g", src_dir_fd=fd, dst_dir_fd=fd)
    os.unlink("by_fd/g", dir_fd=fd)
    os.rmdir("by_fd", dir_fd=fd)
    os.close(fd)
    try:
        os.rmdir("tree")
    except OSError:
        pass


def thread_work() -> None:
    def worker(n: int) -> None:
        with open(f"thread{n}.txt", "w") as f:
            f.write(str(n))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def child_work() -> None:
    pid = os.fork()
    if pid == 0:
        os.chdir("tree/sub")
        open("from_fork.txt", "w").close()
        os._exit(0)
    os.waitpid(pid, 0)
    subprocess.run(["sh", "-c", "echo x > from_sh.txt; mkdir -p sh/dir; rm -r sh"], check=True)
    shutil.rmtree("tree")


files()
dirs()
thread_work()
child_work()
