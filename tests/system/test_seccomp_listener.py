"""A seccomp filter of the command's own that answers a file call with SECCOMP_RET_USER_NOTIF
takes precedence over rotrace's SECCOMP_RET_TRACE: its supervisor (a thread of the command)
let the call go on (SECCOMP_USER_NOTIF_FLAG_CONTINUE) and the kernel ran it without a stop,
so a plain run said "no writes" for files it made, and a confined one recorded none of its
refusals. The listener such a filter needs (SECCOMP_FILTER_FLAG_NEW_LISTENER) is refused,
EPERM, wherever rotrace's filter is loaded; the command's file calls stay rotrace's."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.as_user import NOBODY, rotrace

LISTENER = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile int listener = -1;

static void *supervise(void *unused) {
    while (listener < 0) usleep(1000);
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    for (;;) {
        memset(&req, 0, sizeof req);
        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) return NULL;
        memset(&resp, 0, sizeof resp);
        resp.id = req.id, resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
}

int main(int argc, char **argv) {
    pthread_t thread;
    pthread_create(&thread, NULL, supervise, NULL);  /* before the filter: not under it */
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mkdir, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
    };
    struct sock_fprog prog = {sizeof code / sizeof code[0], code};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    int fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (fd < 0) fprintf(stderr, "listener refused %d\n", errno);
    else listener = fd;
    int file = openat(AT_FDCWD, argv[1], O_WRONLY | O_CREAT, 0644);
    int dir = mkdir(argv[2], 0755);
    fprintf(stderr, "openat %d mkdir %d\n", file < 0 ? -errno : 0, dir < 0 ? -errno : 0);
    return 0;
}
"""


@pytest.mark.needs("gcc", "bwrap")
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="built and run for x86_64")
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_seccomp_listener_cannot_take_the_calls_from_rotrace(user: str, site: Path, work: Path) -> None:
    src, program = work / "listener.c", work / "listener"
    src.write_text(LISTENER)
    subprocess.run(["gcc", "-pthread", "-o", str(program), str(src)], check=True)
    made, directory = work / "made", work / "dir"
    unprivileged_sandbox = subprocess.run([*NOBODY, "bwrap", "--ro-bind", "/", "/", "true"],
                                          capture_output=True).returncode == 0  # fmt: skip
    modes = [[], ["--enforce"]] + ([["--read-only"]] if user == "root" or unprivileged_sandbox else [])
    for mode in modes:
        proc = rotrace(["run", *mode, "--json", "t.json", "--", str(program), str(made), str(directory)],
                       user=user, site=site, cwd=work)  # fmt: skip
        assert "listener refused 1" in proc.stderr, (mode, proc.stderr)  # EPERM
        events = json.loads((work / "t.json").read_text())["events"]
        recorded = {(e["op"], e["path"]): e["errno"] for e in events}
        if mode:  # refused by the kernel, and recorded so
            assert not made.exists() and not directory.exists()
            refusal = "EROFS" if mode == ["--read-only"] else "EACCES"
            assert recorded == {("create", str(made)): refusal, ("mkdir", str(directory)): refusal}, (
                proc.stderr
            )
        else:
            assert made.exists() and directory.exists()
            assert recorded == {("create", str(made)): None, ("mkdir", str(directory)): None}, proc.stderr
            made.unlink()
            directory.rmdir()
