"""The seccomp filter that makes the tracee stop only for the syscalls rotrace decodes.

A tiny classic-BPF assembler (labels, forward jumps) builds the program; `install` loads it
in the child just before exec. Calls from an ABI the filter does not know are trapped, never
silently allowed, so a 32-bit `int 0x80` call from a 64-bit process cannot slip past.

A confined run (--enforce, --read-only) also answers the ioctls that push input into a
terminal (TIOCSTI, TIOCLINUX) with EPERM, on every ABI, before anything else: a command that
types `rm -rf ~` into the user's shell gets past any file policy (the shell runs it once
rotrace is gone). A new session (setsid) would not do: it costs ^C at a terminal, and root
may still push input into any terminal.
"""

from __future__ import annotations

import ctypes
import errno
import stat
import struct
import sys
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from rotrace.tracer.linux.arch import IO_URING, O_CREAT, O_TMPFILE_BIT, Machine, SyscallTable
from rotrace.tracer.linux.kernel import libc
from rotrace.tracer.syscalls import (
    CLONE_NEWUSER,
    FS_IOCTL_FAMILIES,
    FS_IOCTLS,
    FS_READ_IOCTLS,
    INODE_FLAG_IOCTLS,
    SPECS,
)

# Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_JSET_K = 0x45
BPF_JA = 0x05  # an unconditional jump, as far as 2**32: the conditional ones reach 255 instructions
BPF_RET_K = 0x06
BPF_ALU_AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K

SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_ERRNO = 0x00050000
RENAME_WHITEOUT = 4

# ioctls that put characters into a terminal's input queue (one number on every ABI rotrace
# knows): TIOCSTI, and TIOCLINUX (its TIOCL_PASTESEL pastes the console's selection as input).
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
TTY_INJECTION = (TIOCSTI, TIOCLINUX)
# ABIs whose calls rotrace does not decode (they trap) but whose ioctl is known: 32-bit ARM on
# aarch64 (AUDIT_ARCH_ARM). x32's ioctl has a number of its own (with the x32 bit).
FOREIGN_IOCTL = {0x40000028: 54}
# seccomp(2)'s flag that asks for a user-notification listener: a filter of the command's own
# answering SECCOMP_RET_USER_NOTIF outranks rotrace's SECCOMP_RET_TRACE, and its supervisor can
# let the call go on (SECCOMP_USER_NOTIF_FLAG_CONTINUE) with no stop: refused, EPERM.
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
# A mode that makes a file run with its owner's or its group's rights (set-user-ID,
# set-group-ID): on the host's files such a file outlives a confined run for any user there to
# use (a root command's set-user-ID shell in /tmp is every user's root shell), so a run whose
# writes land there makes none (`privileged`).
SET_ID_BITS = stat.S_ISUID | stat.S_ISGID
# Every call that makes or changes a mount, refused in a run whose writes land on the host's files
# (_guard's `mounts`), as Docker's default profile refuses them to a container.
MOUNT_CALLS = ("mount", "umount", "umount2", "open_tree", "open_tree_attr", "move_mount", "fsopen",
               "fsconfig", "fsmount", "fspick", "mount_setattr", "pivot_root")  # fmt: skip
X32_IOCTL = 514

# struct seccomp_data offsets.
OFF_NR = 0
OFF_ARCH = 4
OFF_ARGS = 16

_INSN = struct.Struct("=HBBI")


class Insn(NamedTuple):
    """One classic BPF instruction (struct sock_filter)."""

    code: int
    jt: int
    jf: int
    k: int


class Assembler:
    """Classic BPF with symbolic forward jump targets, resolved by `assemble`."""

    def __init__(self) -> None:
        self._code: list[tuple[int, str | None, str | None, int]] = []
        self._labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        self._labels[name] = len(self._code)

    def load(self, offset: int) -> None:
        self._code.append((BPF_LD_W_ABS, None, None, offset))

    def jump(self, code: int, k: int, jt: str | None, jf: str | None) -> None:
        """Conditional jump; a None target means the next instruction."""
        self._code.append((code, jt, jf, k))

    def ret(self, value: int) -> None:
        self._code.append((BPF_RET_K, None, None, value))

    def and_(self, mask: int) -> None:
        """A &= mask."""
        self._code.append((BPF_ALU_AND_K, None, None, mask))

    def goto(self, target: str) -> None:
        """Unconditional jump, to any distance ahead."""
        self._code.append((BPF_JA, target, None, 0))

    def assemble(self) -> list[Insn]:
        out = []
        for pc, (code, jt, jf, k) in enumerate(self._code):
            if code == BPF_JA:
                assert jt is not None
                out.append(Insn(code, 0, 0, self._labels[jt] - pc - 1))
                continue
            out.append(Insn(code, self._offset(pc, jt), self._offset(pc, jf), k))
        return out

    def _offset(self, pc: int, target: str | None) -> int:
        if target is None:
            return 0
        off = self._labels[target] - pc - 1
        if not 0 <= off <= 255:
            raise ValueError(f"BPF jump from {pc} to {target!r} is out of range ({off})")
        return off


def privileged(op: str, mode: int | None, devices: bool) -> bool:
    """A chmod, a create or a mknod whose mode sets a set-ID bit (mkdir keeps neither), and
    (`devices`) a mknod of a character or block device. A device is Landlock's to refuse under
    --enforce, and needs CAP_MKNOD, which such a run's command does not hold
    (hardening.HOST_FILE_CAPABILITIES), but for a whiteout (0:0), which any user may make since
    Linux 5.8: where no Landlock rule mediates it (--read-only --keep-writes), refused here."""
    if mode is None:
        return False
    if devices and op == "mknod" and stat.S_IFMT(mode) in (stat.S_IFCHR, stat.S_IFBLK):
        return True
    return op in ("chmod", "create", "mknod") and bool(mode & SET_ID_BITS)


def _privileged_calls(table: SyscallTable, devices: bool) -> list[tuple[int, int, int | None, bool]]:
    """(number, its mode's argument, its open flags' argument, whether its mode's device type is
    refused) for each call of the table `privileged` decides by a register (openat2's mode is
    in memory, where another thread may change it once read: openat2 is answered ENOSYS, and its
    callers fall back to openat, as on kernels before 5.6)."""
    calls = []
    for name, nr in table.numbers.items():
        spec = SPECS.get(name)
        if spec is not None and spec.mode is not None and spec.op in ("chmod", "create", "open", "mknod"):
            calls.append((nr, spec.mode, spec.flags, devices and spec.op == "mknod"))
    return sorted(calls)


def _arg_low_word(index: int) -> int:
    """Offset of the low 32 bits of syscall argument `index` (flags are ints)."""
    return OFF_ARGS + 8 * index + (4 if sys.byteorder == "big" else 0)


def _table_block(asm: Assembler, table: SyscallTable, all_opens: bool, x32_bit: int | None) -> None:
    tag = table.name
    asm.label(tag)
    asm.load(OFF_NR)
    asm.jump(BPF_JEQ_K, table.numbers["seccomp"], f"{tag}_seccomp", None)
    if x32_bit is not None:
        asm.jump(BPF_JEQ_K, x32_bit | table.numbers["seccomp"], f"{tag}_seccomp", None)
        asm.jump(BPF_JGE_K, x32_bit, f"{tag}_trace", None)
    checked: dict[tuple[int, int, tuple[int, ...]], list[int]] = {}
    for name, nr in sorted(table.numbers.items(), key=lambda item: item[1]):
        spec = SPECS.get(name)
        if spec is None:
            continue
        if spec.family == "clone3":
            asm.jump(BPF_JEQ_K, nr, f"{tag}_nosys", None)
        elif spec.trap_arg is None or (all_opens and spec.family == "open"):
            asm.jump(BPF_JEQ_K, nr, f"{tag}_trace", None)
        else:
            checked.setdefault((spec.trap_arg, spec.trap_mask, spec.trap_values), []).append(nr)
    groups = sorted(checked.items())
    for i, (_, nrs) in enumerate(groups):
        for nr in nrs:
            asm.jump(BPF_JEQ_K, nr, f"{tag}_check{i}", None)
    asm.ret(SECCOMP_RET_ALLOW)
    asm.label(f"{tag}_trace")  # each jump to a return near it: a conditional jump reaches 255 ahead
    asm.ret(SECCOMP_RET_TRACE)
    for i, ((argidx, mask, values), _) in enumerate(groups):
        asm.label(f"{tag}_check{i}")
        asm.load(_arg_low_word(argidx))
        if mask:
            asm.jump(BPF_JSET_K, mask, f"{tag}_check{i}_trace", None)
        for value in values:
            asm.jump(BPF_JEQ_K, value, f"{tag}_check{i}_trace", None)
        asm.ret(SECCOMP_RET_ALLOW)
        asm.label(f"{tag}_check{i}_trace")
        asm.ret(SECCOMP_RET_TRACE)
    asm.label(f"{tag}_seccomp")  # seccomp(op, flags, args): no listener
    asm.load(_arg_low_word(1))
    asm.jump(BPF_JSET_K, SECCOMP_FILTER_FLAG_NEW_LISTENER, f"{tag}_listener", None)
    asm.ret(SECCOMP_RET_ALLOW)
    asm.label(f"{tag}_listener")
    asm.ret(SECCOMP_RET_ERRNO | errno.EPERM)
    _no_clone3(asm, tag)


def _no_clone3(asm: Assembler, tag: str) -> None:
    """At `{tag}_nosys`: clone3 answered ENOSYS (as Docker's default profile does): its flags
    are in the caller's memory, where another thread could set CLONE_UNTRACED after rotrace
    read them; C libraries fall back to clone, whose flags are in a register
    (loop.py, `_keep_traced`)."""
    asm.label(f"{tag}_nosys")
    asm.ret(SECCOMP_RET_ERRNO | errno.ENOSYS)


def _guard(
    asm: Assembler,
    tag: str,
    ioctls: list[int],
    rings: list[int],
    requests: tuple[int, ...],
    renames: Sequence[int] = (),
    queues: tuple[Sequence[int], Sequence[int]] = ((), ()),
    families: tuple[int, ...] = (),
    privileged: Sequence[tuple[int, int, int | None, bool]] = (),
    openat2: Sequence[int] = (),
    userns: Sequence[int] = (),
    mounts: Sequence[int] = (),
    limits: tuple[Sequence[int], Sequence[int]] = ((), ()),
) -> None:
    """At `{tag}_guard`: ioctl(fd, REQUEST, ...) for each of `requests` and the io_uring calls
    answered EPERM (they reach neither the kernel's terminal, filesystem or ring nor the
    tracer); any other call goes on at `tag`, which follows. `families` (--enforce): every other
    ioctl of a filesystem's families ('f', 'v', 'X', btrfs's, f2fs's) is refused too, but those
    known to change nothing (FS_READ_IOCTLS) and those the tracer decides by the policy
    (INODE_FLAG_IOCTLS): a filesystem's request rotrace has not listed is no way out. A ring's
    file operations are no syscalls: Landlock and a read-only root refuse them unseen, so a
    confined command has none (as Docker's default seccomp profile), and does its file work
    through calls rotrace records. So is renameat2 (`renames`) with RENAME_WHITEOUT, which
    leaves a device node (0:0) at the old name: Landlock does not mediate it, and a confined run
    makes no device. And (`queues`: mq_open's numbers, mq_unlink's) making or removing a POSIX
    message queue, answered EACCES: Landlock mediates neither, only the open that follows the
    making (which then fails with the queue made). And (`privileged`: _privileged_calls) a mode
    `privileged` refuses, EPERM, and openat2 (`privileged` given) ENOSYS. And (`userns`: unshare's
    and clone's numbers, whose flags are their first argument) a new user namespace, EPERM, as
    Docker's default profile has it: in one, a command may mount an overlay whose upper
    directory is one of the host's it may write, where the kernel then makes whiteouts (device
    nodes, 0:0) with no system call of the command's to refuse. And (`mounts`) every call that
    makes or changes a mount, old API and new (fsopen, fsconfig, fsmount, fspick, open_tree...):
    building an overlay, the kernel empties its work directory and copies files up (a set-user-ID
    one too) with the mounter's rights, which neither Landlock's rules nor the tracer see. And
    (`limits`: prlimit64's numbers, rotrace's own pids) setting or reading the resource limits
    of rotrace's processes, EPERM: the kernel lets any process of the same user do it, dumpable or
    not, and Landlock has no say (an RLIMIT_CPU of 0 kills the tracer, a low RLIMIT_NOFILE leaves
    every write unplaced)."""
    opens, unlinks = queues
    prlimits, own = limits if limits[1] else ((), ())
    by_args: dict[tuple[int, int | None, bool], list[int]] = {}
    for nr, mode_arg, flags_arg, devices in privileged:
        by_args.setdefault((mode_arg, flags_arg, devices), []).append(nr)
    asm.label(f"{tag}_guard")
    asm.load(OFF_NR)
    for nr in openat2:
        asm.jump(BPF_JEQ_K, nr, f"{tag}_enosys", None)
    for i, nrs in enumerate(by_args.values()):
        for nr in nrs:
            asm.jump(BPF_JEQ_K, nr, f"{tag}_mode{i}", None)
    for nr in renames:
        asm.jump(BPF_JEQ_K, nr, f"{tag}_whiteout", None)
    for nr in userns:
        asm.jump(BPF_JEQ_K, nr, f"{tag}_userns", None)
    for nr in mounts:
        asm.jump(BPF_JEQ_K, nr, f"{tag}_deny", None)
    for nr in prlimits:
        asm.jump(BPF_JEQ_K, nr, f"{tag}_prlimit", None)
    for nr in opens:
        asm.jump(BPF_JEQ_K, nr, f"{tag}_mq_open", None)
    for nr in unlinks:
        asm.jump(BPF_JEQ_K, nr, f"{tag}_refused", None)
    for nr in rings:
        asm.jump(BPF_JEQ_K, nr, f"{tag}_deny", None)
    for i, nr in enumerate(ioctls):
        asm.jump(BPF_JEQ_K, nr, f"{tag}_tty", tag if i == len(ioctls) - 1 else None)
    asm.label(f"{tag}_tty")
    asm.load(_arg_low_word(1))  # the request is an unsigned int
    for i, request in enumerate(requests):
        last = i == len(requests) - 1 and not families
        asm.jump(BPF_JEQ_K, request, f"{tag}_deny", tag if last else None)
    if families:
        for request in (*FS_READ_IOCTLS, *INODE_FLAG_IOCTLS):
            asm.jump(BPF_JEQ_K, request, tag, None)
        asm.and_(0xFF00)  # the request's type: its family
        for i, family in enumerate(families):
            asm.jump(BPF_JEQ_K, family << 8, f"{tag}_deny", tag if i == len(families) - 1 else None)
    if prlimits:
        asm.label(f"{tag}_prlimit")
        asm.load(_arg_low_word(0))  # prlimit64(pid, resource, new, old): a pid_t
        for i, pid in enumerate(own):
            asm.jump(BPF_JEQ_K, pid, f"{tag}_deny", tag if i == len(own) - 1 else None)
    if userns:
        asm.label(f"{tag}_userns")
        asm.load(_arg_low_word(0))
        asm.jump(BPF_JSET_K, CLONE_NEWUSER, f"{tag}_deny", tag)
    if renames:
        asm.label(f"{tag}_whiteout")
        asm.load(_arg_low_word(4))  # renameat2(olddirfd, old, newdirfd, new, flags)
        asm.jump(BPF_JSET_K, RENAME_WHITEOUT, f"{tag}_deny", tag)
    if opens:
        asm.label(f"{tag}_mq_open")
        asm.load(_arg_low_word(1))  # mq_open(name, oflag, mode, attr)
        asm.jump(BPF_JSET_K, O_CREAT, f"{tag}_refused", tag)
    if opens or unlinks:
        asm.label(f"{tag}_refused")
        asm.ret(SECCOMP_RET_ERRNO | errno.EACCES)
    for i, (mode_arg, flags_arg, devices) in enumerate(by_args):
        asm.label(f"{tag}_mode{i}")
        if flags_arg is not None:  # an open's mode says something only where it creates
            asm.load(_arg_low_word(flags_arg))
            asm.jump(BPF_JSET_K, O_CREAT | O_TMPFILE_BIT, None, tag)
        asm.load(_arg_low_word(mode_arg))
        asm.jump(BPF_JSET_K, SET_ID_BITS, f"{tag}_deny", None if devices else tag)
        if devices:  # S_IFCHR (0o020000) and S_IFBLK (0o060000): the 0o020000 bit without 0o100000
            asm.jump(BPF_JSET_K, stat.S_IFCHR, None, tag)
            asm.jump(BPF_JSET_K, stat.S_IFREG, tag, f"{tag}_deny")
    if openat2:
        asm.label(f"{tag}_enosys")
        asm.ret(SECCOMP_RET_ERRNO | errno.ENOSYS)
    asm.label(f"{tag}_deny")
    asm.ret(SECCOMP_RET_ERRNO | errno.EPERM)


def build_filter(
    machine: Machine,
    all_opens: bool,
    confined: bool = False,
    trace: bool = True,
    enforced: bool = False,
    refuse_queues: bool = False,
    refuse_whiteouts: bool = True,
    refuse_privileges: bool = False,
    host_files: bool = False,
    refuse_userns: bool = False,
    own_pids: Sequence[int] = (),
) -> list[Insn]:
    """The program: dispatch on arch, then trap rotrace's syscalls, allow the rest.

    In the default (writes-only) mode, open/openat trap only when their flags ask for a
    write; openat2 keeps its flags in memory, so it always traps. `confined`: terminal input
    injection and io_uring are answered EPERM first, on every ABI; `enforced` (Landlock's
    writes, --enforce): so are the filesystem ioctls Landlock does not mediate (FS_IOCTLS:
    making, copying and removing btrfs subvolumes, fscrypt and fs-verity policies...), which
    no path rule could then confine; `refuse_queues`: so are making and removing a POSIX message
    queue, answered EACCES (where the tracer cannot refuse them itself, and record them:
    session.py); `refuse_whiteouts` (confined): so is a renameat2 that leaves a whiteout,
    answered EPERM (False: the tracer refuses it, and records it); `refuse_privileges`
    (confined, the writes on the host's files): so is a set-ID or device mode (`privileged`),
    EPERM, where the tracer does not refuse it; `host_files` (the same runs): openat2 is answered
    ENOSYS (_privileged_calls), and every call that makes or changes a mount EPERM; `refuse_userns`
    (the same runs): a new user namespace is answered EPERM (`_guard`); `own_pids` (confined):
    prlimit64 of rotrace's processes, EPERM. `trace=False`: nothing
    traps (the guard alone, for a tracer that stops on every syscall: --no-seccomp).
    """
    requests = (*TTY_INJECTION, *(FS_IOCTLS if enforced else ()))
    families = FS_IOCTL_FAMILIES if enforced else ()
    asm = Assembler()
    tables = machine.tables()
    foreign = FOREIGN_IOCTL if confined else {}
    # an ABI we cannot decode: trap it, never allow it silently
    unknown = SECCOMP_RET_TRACE if trace else SECCOMP_RET_ALLOW
    asm.load(OFF_ARCH)
    for table in tables:  # each ABI's block is further than a conditional jump reaches
        asm.jump(BPF_JEQ_K, table.audit_arch, None, f"{table.name}_not")
        asm.goto(f"{table.name}_guard" if confined else table.name)
        asm.label(f"{table.name}_not")
    for arch in foreign:
        asm.jump(BPF_JEQ_K, arch, None, f"abi{arch:x}_not")
        asm.goto(f"abi{arch:x}_guard")
        asm.label(f"abi{arch:x}_not")
    asm.ret(unknown)
    for arch, ioctl in foreign.items():
        rings = [machine.native.numbers[name] for name in IO_URING]
        _guard(asm, f"abi{arch:x}", [ioctl], rings, requests, families=families)
        asm.label(f"abi{arch:x}")
        asm.ret(unknown)
    for table in tables:
        x32 = machine.x32_bit if table is machine.native else None
        if confined:
            rings = [table.numbers[name] for name in IO_URING]
            ioctls = [table.numbers["ioctl"]]
            renames = [table.numbers["renameat2"]] if refuse_whiteouts or not trace else []
            opens = [table.numbers["mq_open"]] if refuse_queues else []
            unlinks = [table.numbers["mq_unlink"]] if refuse_queues else []
            modes = _privileged_calls(table, not enforced) if refuse_privileges else []
            openat2 = [table.numbers["openat2"]] if host_files else []
            userns = [table.numbers["unshare"], table.numbers["clone"]] if refuse_userns else []
            mounts = (
                [table.numbers[name] for name in MOUNT_CALLS if name in table.numbers] if host_files else []
            )
            prlimits = [table.numbers["prlimit64"]] if own_pids else []
            if x32:
                modes += [(x32 | nr, mode, flags, devices) for nr, mode, flags, devices in modes]
                openat2 += [x32 | nr for nr in openat2]
                ioctls.append(x32 | X32_IOCTL)
                rings += [x32 | nr for nr in rings]
                renames += [x32 | nr for nr in renames]
                opens += [x32 | nr for nr in opens]
                unlinks += [x32 | nr for nr in unlinks]
                userns += [x32 | nr for nr in userns]
                mounts += [x32 | nr for nr in mounts]
                prlimits += [x32 | nr for nr in prlimits]
            queues = (opens, unlinks)
            _guard(
                asm,
                table.name,
                ioctls,
                rings,
                requests,
                renames,
                queues,
                families,
                modes,
                openat2,
                userns,
                mounts,
                (prlimits, own_pids),
            )
        if trace:
            _table_block(asm, table, all_opens, x32)
        else:  # every call stops for the tracer; clone3 is refused here all the same
            asm.label(table.name)
            asm.load(OFF_NR)
            asm.jump(BPF_JEQ_K, table.numbers["clone3"], f"{table.name}_nosys", None)
            asm.ret(SECCOMP_RET_ALLOW)
            _no_clone3(asm, table.name)
    return asm.assemble()


def program(
    machine: Machine,
    all_opens: bool,
    trace: bool,
    confined: bool,
    enforced: bool = False,
    refuse_queues: bool = False,
    refuse_whiteouts: bool = True,
    refuse_privileges: bool = False,
    host_files: bool = False,
    refuse_userns: bool = False,
    own_pids: Sequence[int] = (),
) -> bytes | None:
    """The filter a command is started under: rotrace's traps (unless the tracer stops on every
    syscall), and for a confined run the guard; None when there is nothing to load."""
    if not trace and not confined:
        return None
    return encode(
        build_filter(machine, all_opens, confined=confined, trace=trace, enforced=enforced,
                     refuse_queues=refuse_queues, refuse_whiteouts=refuse_whiteouts,
                     refuse_privileges=refuse_privileges, host_files=host_files,
                     refuse_userns=refuse_userns, own_pids=own_pids)
    )  # fmt: skip


def encode(program: Iterable[Insn]) -> bytes:
    return b"".join(_INSN.pack(i.code, i.jt, i.jf, i.k) for i in program)


PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def no_new_privs() -> int:
    """Set no_new_privs (needed by an unprivileged seccomp filter or Landlock): 0, or the errno."""
    return 0 if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 else ctypes.get_errno()


def install(program_bytes: bytes) -> int:
    """Load the filter into the calling process; 0 on success, else the errno.

    NO_NEW_PRIVS is required for an unprivileged process to install a filter (and strace
    sets it too): setuid programs in the trace then run without their privilege.
    """
    libc.prctl.argtypes = (
        ctypes.c_int,
        ctypes.c_ulong,
        ctypes.c_ulong,
        ctypes.c_ulong,
        ctypes.c_ulong,
    )
    buf = ctypes.create_string_buffer(program_bytes, len(program_bytes))
    prog = _SockFprog(len(program_bytes) // _INSN.size, ctypes.addressof(buf))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return ctypes.get_errno()
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
        return ctypes.get_errno()
    return 0


def refused(loaded: bool, err: int, trace: bool, confined: bool) -> list[str]:
    """What the trace lost when the kernel refused the filter (a container's seccomp policy)."""
    if loaded or not (trace or confined):
        return []
    name = errno.errorcode.get(err, str(err))
    lost = ["stopping on every syscall, which is slower"] if trace else []
    if confined:
        lost.append(
            "TIOCSTI and TIOCLINUX are not refused: the command can push input into a terminal; nor is"
            " io_uring, whose file operations rotrace does not see; nor are the filesystem ioctls"
            " Landlock does not confine (btrfs subvolumes, fscrypt and fs-verity policies)"
        )
    return [f"seccomp filter refused ({name}): {'; '.join(lost)}"]
