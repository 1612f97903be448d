"""Keeping rotrace's own processes out of the traced command's reach.

A process may open another's files through /proc/PID/fd, read and write its memory
(/proc/PID/mem) and ptrace it, if both run as the same user and the other is "dumpable".
rotrace's tracer and report process hold the event pipe, the spool and the trace: a command
that reached them could rewrite what rotrace reports. PR_SET_DUMPABLE 0 gives /proc/PID/*
to root and refuses ptrace to whoever lacks CAP_SYS_PTRACE (root has it: a plain run as root
audits, it does not confine). execve resets the flag, so the command's own processes stay
dumpable (strace, core dumps); the child that becomes the command takes it back before it
stops to be seized, which ptrace checks too.
"""

from __future__ import annotations

import ctypes
import os
import signal

PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_LOWER = 3
CAP_SETPCAP = 8
CAP_SYS_PTRACE = 19
# What a root command could leave on the host's files for any user there to use: a device node
# (CAP_MKNOD) and a program given capabilities (CAP_SETFCAP); the set-ID bits are the filter's
# and the tracer's (seccomp.privileged)
HOST_FILE_CAPABILITIES = (27, 31)
_CAP_LAST = "/proc/sys/kernel/cap_last_cap"


def _prctl(option: int, arg: int, arg3: int = 0) -> int:
    """prctl(option, arg, arg3, 0, 0): 0, or the errno."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
    return 0 if libc.prctl(option, arg, arg3, 0, 0) >= 0 else ctypes.get_errno()


def withhold(capabilities: tuple[int, ...]) -> None:
    """No program this process runs gets `capabilities`: out of the ambient and inheritable sets
    (which any process may lower: a container runtime's root, or an ambient grant, holds them
    across exec) and out of the bounding set, which root's programs get (that needs CAP_SETPCAP:
    `withholding_fails`)."""
    for cap in capabilities:
        _prctl(PR_CAPBSET_DROP, cap)
        _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, cap)
    _drop_inheritable(sum(1 << cap for cap in capabilities))


def withholding_fails(withheld: tuple[int, ...]) -> bool:
    """As root without CAP_SETPCAP, with some of `withheld` in the bounding set: `withhold`
    cannot take them out, and root's programs get them."""
    bounding, effective = capabilities("CapBnd"), capabilities("CapEff")
    if os.geteuid() != 0 or bounding is None or effective is None:
        return False
    held = any(bounding >> cap & 1 for cap in withheld)
    return held and not effective >> CAP_SETPCAP & 1


PR_SET_PDEATHSIG = 1


def die_with_parent(dies: bool = True) -> None:
    """SIGKILL when the parent goes (the read-only sandbox's tracer: when bwrap goes, or rotrace
    with it): never left tracing a command no rotrace reports. `dies=False` undoes it."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL if dies else 0)


def undumpable() -> None:
    """Make this process's /proc files and memory unreachable to the traced command (which runs
    as the same user, or as root without CAP_SYS_PTRACE in the read-only sandbox)."""
    _prctl(PR_SET_DUMPABLE, 0)


def dumpable() -> None:
    """In the child that becomes the command: dumpable again, so that the tracer may seize it
    (only the stopped child runs until execve, which sets the flag for the program itself)."""
    _prctl(PR_SET_DUMPABLE, 1)


def is_dumpable() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1)


def close_on_exec_fds(keep: tuple[int, ...]) -> None:
    """Close now every descriptor that execve would close (but `keep`): in the child between
    fork and exec, the tracer's pipes and files are then out of reach even while it is dumpable."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd in keep:
            continue
        try:
            if not os.get_inheritable(fd):
                os.close(fd)
        except OSError:
            pass  # the listing's own descriptor, gone already


def capabilities(field: str) -> int | None:
    """A capability set of this process, from /proc/self/status (CapPrm, CapBnd...)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return None


def confine_exec(drop: int) -> bool:
    """Keep the capabilities in `drop` (a mask) to this process: no program it runs gets them,
    whatever it is (setuid root, file capabilities): they leave the bounding set and the
    inheritable set (and with it the ambient one), and stay in this process's permitted and
    effective sets. Every other capability leaves the bounding set unless held. Needs
    CAP_SETPCAP; True if the bounding set is now no larger than what a program may get
    (so too when there is nothing to drop: an unprivileged user namespace)."""
    permitted = capabilities("CapPrm")
    if permitted is None:
        return False
    keep = permitted & ~drop
    try:
        with open(_CAP_LAST) as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = 63
    before = capabilities("CapBnd") or 0
    for cap in range(last + 1):
        if before >> cap & 1 and not keep >> cap & 1:
            _prctl(PR_CAPBSET_DROP, cap)
    if drop & permitted:
        _drop_inheritable(drop)
    after, inheritable = capabilities("CapBnd"), capabilities("CapInh")
    return after is not None and after & ~keep == 0 and inheritable is not None and inheritable & drop == 0


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32))  # fmt: skip


_CAPABILITY_V3 = 0x20080522


def _drop_inheritable(drop: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    header = _CapHeader(_CAPABILITY_V3, 0)
    data = (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        return
    for word in range(2):
        data[word].inheritable &= ~(drop >> (32 * word)) & 0xFFFFFFFF
    libc.capset(ctypes.byref(header), data)
