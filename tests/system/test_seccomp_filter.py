"""The BPF program rotrace loads: run it in a small classic-BPF interpreter on seccomp_data,
and count real ptrace stops to see the kernel apply it."""

from __future__ import annotations

import errno
import os
import struct
import sys
from pathlib import Path

import pytest

from rotrace.tracer import seccomp
from rotrace.tracer.linux.arch import AARCH64, I386, MACHINES, X86_64, SyscallTable
from rotrace.tracer.syscalls import SPECS
from tests.support.tracing import run_traced

RET_ALLOW, RET_TRACE, RET_ERRNO = (
    seccomp.SECCOMP_RET_ALLOW,
    seccomp.SECCOMP_RET_TRACE,
    seccomp.SECCOMP_RET_ERRNO,
)


def run_bpf(program: list[seccomp.Insn], nr: int, arch: int, args: tuple[int, ...] = (0,) * 6) -> int:
    """Interpret the subset of classic BPF seccomp programs use, on a packed seccomp_data."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, *args)
    acc, pc = 0, 0
    while True:
        insn = program[pc]
        if insn.code == seccomp.BPF_LD_W_ABS:
            acc = struct.unpack_from("=I", data, insn.k)[0]
        elif insn.code == seccomp.BPF_RET_K:
            return insn.k
        elif insn.code == seccomp.BPF_JA:
            pc += insn.k
        else:
            cond = {
                seccomp.BPF_JEQ_K: acc == insn.k,
                seccomp.BPF_JGE_K: acc >= insn.k,
                seccomp.BPF_JSET_K: bool(acc & insn.k),
            }[insn.code]
            pc += insn.jt if cond else insn.jf
        pc += 1


def _nr(table: SyscallTable, name: str) -> int:
    return table.numbers[name]


@pytest.fixture(params=["x86_64", "aarch64"])
def machine_program(request: pytest.FixtureRequest) -> tuple[str, list[seccomp.Insn]]:
    return request.param, seccomp.build_filter(MACHINES[request.param], all_opens=False)


def test_every_decoded_syscall_traps(machine_program: tuple[str, list[seccomp.Insn]]) -> None:
    """Unconditionally, or exactly when its checked argument says so."""
    name, program = machine_program
    machine = MACHINES[name]
    for table in machine.tables():
        for sc, nr in table.numbers.items():
            spec = SPECS.get(sc)
            if spec is None:
                continue
            if spec.family == "clone3":  # its flags in memory another thread may change: refused
                assert run_bpf(program, nr, table.audit_arch) == RET_ERRNO | errno.ENOSYS, table.name
                continue
            if spec.trap_arg is None:
                assert run_bpf(program, nr, table.audit_arch) == RET_TRACE, (table.name, sc)
                continue
            args = [0] * 6
            assert run_bpf(program, nr, table.audit_arch, tuple(args)) == RET_ALLOW, (table.name, sc)
            for value in [*spec.trap_values, *(1 << b for b in range(32) if spec.trap_mask >> b & 1)]:
                args[spec.trap_arg] = value
                assert run_bpf(program, nr, table.audit_arch, tuple(args)) == RET_TRACE, (sc, value)
            args[spec.trap_arg] = 0x5401  # TCGETS for ioctl, a plain flag word for the others
            if not args[spec.trap_arg] & spec.trap_mask:
                assert run_bpf(program, nr, table.audit_arch, tuple(args)) == RET_ALLOW, (sc, "other")


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_clone3_is_refused_by_the_guard_alone_too(machine: str) -> None:
    """--no-seccomp with a confined run loads the guard alone; clone3 is refused there too."""
    program = seccomp.build_filter(MACHINES[machine], all_opens=False, confined=True, trace=False)
    for table in MACHINES[machine].tables():
        assert run_bpf(program, table.numbers["clone3"], table.audit_arch) == RET_ERRNO | errno.ENOSYS
        assert run_bpf(program, table.numbers["clone"], table.audit_arch) == RET_ALLOW


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_a_confined_filter_refuses_a_whiteout_and_traps_other_renames(machine: str) -> None:
    program = seccomp.build_filter(MACHINES[machine], all_opens=False, confined=True)
    for table in MACHINES[machine].tables():
        nr = table.numbers["renameat2"]
        refused = RET_ERRNO | errno.EPERM
        for flags, expected in ((4, refused), (4 | 1, refused), (0, RET_TRACE), (2, RET_TRACE)):
            assert run_bpf(program, nr, table.audit_arch, (0, 0, 0, 0, flags, 0)) == expected, (
                table.name,
                flags,
            )
    plain = seccomp.build_filter(MACHINES[machine], all_opens=False)  # not confined: recorded, not refused
    nr = MACHINES[machine].native.numbers["renameat2"]
    assert run_bpf(plain, nr, MACHINES[machine].native.audit_arch, (0, 0, 0, 0, 4, 0)) == RET_TRACE
    # where the tracer refuses it (and records it), the filter traps it to the tracer
    by_tracer = seccomp.build_filter(MACHINES[machine], False, confined=True, refuse_whiteouts=False)
    for table in MACHINES[machine].tables():
        nr = table.numbers["renameat2"]
        assert run_bpf(by_tracer, nr, table.audit_arch, (0, 0, 0, 0, 4, 0)) == RET_TRACE, table.name


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_an_enforcing_filter_refuses_message_queues_only_where_asked(machine: str) -> None:
    """Landlock mediates neither the making (mq_open with O_CREAT) nor the removal (mq_unlink)
    of a POSIX message queue: where the tracer cannot refuse them itself, the guard does
    (EACCES); else they trap, as in every other run, to be recorded (and refused there)."""
    refused, machine_ = RET_ERRNO | errno.EACCES, MACHINES[machine]
    guarded = seccomp.build_filter(
        machine_, all_opens=False, confined=True, enforced=True, refuse_queues=True
    )
    traced = seccomp.build_filter(machine_, all_opens=False, confined=True, enforced=True)
    for table in machine_.tables():
        mq_open, mq_unlink, arch = table.numbers["mq_open"], table.numbers["mq_unlink"], table.audit_arch
        made = (0, os.O_CREAT | os.O_RDWR, 0o600, 0, 0, 0)
        assert run_bpf(guarded, mq_open, arch, made) == refused, table.name
        assert run_bpf(guarded, mq_unlink, arch) == refused, table.name
        assert run_bpf(guarded, mq_open, arch, (0, os.O_RDWR, 0, 0, 0, 0)) == RET_ALLOW, table.name
        assert run_bpf(traced, mq_open, arch, made) == RET_TRACE, table.name
        assert run_bpf(traced, mq_unlink, arch) == RET_TRACE, table.name


def test_other_syscalls_are_allowed() -> None:
    program = seccomp.build_filter(MACHINES["x86_64"], all_opens=False)
    for nr in (
        0,
        1,
        3,
        4,
        5,
        9,
        202,
        231,
        262,
    ):  # read write close stat fstat mmap futex exit_group newfstatat
        assert run_bpf(program, nr, X86_64.audit_arch) == RET_ALLOW, nr
    assert run_bpf(program, 3, I386.audit_arch) == RET_ALLOW  # i386 read


def test_open_flags_are_checked_in_the_filter() -> None:
    program = seccomp.build_filter(MACHINES["x86_64"], all_opens=False)
    openat, arch = _nr(X86_64, "openat"), X86_64.audit_arch
    read_only = os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECTORY | os.O_NOFOLLOW
    assert run_bpf(program, openat, arch, (0, 0, read_only, 0, 0, 0)) == RET_ALLOW
    for flag in (os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_TRUNC, os.O_APPEND, os.O_TMPFILE):
        assert run_bpf(program, openat, arch, (0, 0, flag | os.O_CLOEXEC, 0, 0, 0)) == RET_TRACE, flag
    # open(2) has its flags in the second argument, not the third
    assert run_bpf(program, _nr(X86_64, "open"), arch, (0, os.O_WRONLY, 0, 0, 0, 0)) == RET_TRACE
    assert run_bpf(program, _nr(X86_64, "open"), arch, (0, 0, os.O_WRONLY, 0, 0, 0)) == RET_ALLOW
    # only the low 32 bits are flags; junk in the upper half of the register does not count
    assert run_bpf(program, openat, arch, (0, 0, 0xFFFF_FFFF_0000_0000, 0, 0, 0)) == RET_ALLOW
    # openat2 keeps flags in memory: always trapped
    assert run_bpf(program, _nr(X86_64, "openat2"), arch) == RET_TRACE


def test_all_opens_traps_every_open() -> None:
    program = seccomp.build_filter(MACHINES["x86_64"], all_opens=True)
    assert run_bpf(program, _nr(X86_64, "openat"), X86_64.audit_arch) == RET_TRACE
    assert run_bpf(program, _nr(I386, "open"), I386.audit_arch) == RET_TRACE


def test_the_arch_is_checked() -> None:
    program = seccomp.build_filter(MACHINES["x86_64"], all_opens=False)
    # i386 open (5) is x86_64 fstat: the filter must use the i386 table for i386 calls
    assert run_bpf(program, 5, X86_64.audit_arch) == RET_ALLOW
    assert run_bpf(program, 5, I386.audit_arch, (0, os.O_WRONLY, 0, 0, 0, 0)) == RET_TRACE
    # an ABI the filter does not know is trapped, never silently allowed
    assert run_bpf(program, 0, AARCH64.audit_arch) == RET_TRACE
    # x32 calls (number | 0x40000000) are trapped for the decoder to sort out
    assert run_bpf(program, 0x40000000 | 0, X86_64.audit_arch) == RET_TRACE


def test_encoding_is_struct_sock_filter() -> None:
    program = seccomp.build_filter(MACHINES["x86_64"], all_opens=False)
    raw = seccomp.encode(program)
    assert len(raw) == 8 * len(program)
    assert struct.unpack_from("=HBBI", raw, 0) == (seccomp.BPF_LD_W_ABS, 0, 0, seccomp.OFF_ARCH)
    assert struct.unpack_from("=HBBI", raw, len(raw) - 8)[:3] == (seccomp.BPF_RET_K, 0, 0)  # ends in a return


READS = """
import os
for _ in range(200):
    os.close(os.open({path!r}, os.O_RDONLY))
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="stop counts measured on x86_64")
def test_read_only_open_does_not_stop_the_tracee(tmp_path: Path) -> None:
    target = tmp_path / "r"
    target.write_text("x")
    argv = [sys.executable, "-c", READS.format(path=str(target))]
    _, quiet = run_traced(argv)
    _, all_opens = run_traced(argv, all_opens=True)
    assert quiet.seccomp and all_opens.seccomp
    # each traced open costs a seccomp stop and an exit stop: 200 opens, >= 400 more stops
    assert all_opens.stops - quiet.stops >= 400
    assert quiet.stops < 100  # process start and exit, a handful of real writes at most
