"""rotrace's syscall numbers against the kernel's own headers (linux-libc-dev, which the
compiler's headers come with): a call that makes or changes a mount, missing from one ABI's
table (i386's umount, call 22), was neither trapped nor refused nor said to change the mounts."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from rotrace.tracer.linux.arch import I386, X86_64, SyscallTable
from rotrace.tracer.seccomp import MOUNT_CALLS
from rotrace.tracer.syscalls import MOUNT_NAMES

# Every call of the kernel's that attaches, detaches, moves, configures or picks a mount
_MOUNTING = re.compile(r"mount|^pivot_root$|^fs(?:open|config|pick)$|^open_tree")
_HEADERS = {"x86_64": ("unistd_64.h", X86_64), "i386": ("unistd_32.h", I386)}


def _kernels(header: str) -> dict[str, int]:
    text = Path(f"/usr/include/{os.uname().machine}-linux-gnu/asm/{header}").read_text()
    return {m[1]: int(m[2]) for m in re.finditer(r"^#define __NR_(\w+)\s+(\d+)$", text, re.M)}


@pytest.mark.needs("gcc")
@pytest.mark.parametrize("abi", sorted(_HEADERS))
def test_every_mount_call_of_each_abi_is_known_by_its_number(abi: str) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("x86_64's two ABIs")
    header, table = _HEADERS[abi]
    kernel = _kernels(header)
    mounting = {name: nr for name, nr in kernel.items() if _MOUNTING.search(name)}
    assert {"mount", "pivot_root", "move_mount"} <= set(mounting), mounting  # the header was read
    assert {name: nr for name, nr in mounting.items() if name in MOUNT_CALLS} == mounting, abi
    _known_alike(table, kernel, mounting)
    changing = {n for n in mounting if n not in ("fsopen", "fsconfig", "fspick", "pivot_root")}
    assert changing <= MOUNT_NAMES, sorted(changing - MOUNT_NAMES)  # the tracer's `mounts` family


def _known_alike(table: SyscallTable, kernel: dict[str, int], mounting: dict[str, int]) -> None:
    """Each name the table holds has the kernel's number (where the header, perhaps older than
    the table, has it), and it holds every mount call the tracer watches (the seccomp filter
    traps only what the table numbers)."""
    assert {n: nr for n, nr in table.numbers.items() if kernel.get(n, nr) != nr} == {}, table.name
    watched = {n for n in mounting if n in MOUNT_NAMES or n == "pivot_root"}
    assert watched <= set(table.numbers), sorted(watched - set(table.numbers))
