"""The tracee's registers, in python-ptrace's layout of each machine's user_regs_struct: for
what no other request does (a refused call's result, a clone's flags cleared, the syscall facts
of a kernel without PTRACE_GET_SYSCALL_INFO). Imported when first needed (its package pulls
logging, traceback and datetime, which a run that needs no register should not wait for), or
before a confined run's command starts (run/sealed.py), which then loads no code."""

from __future__ import annotations

import sys
import types
from typing import Any

from rotrace.tracer.linux.kernel import PtraceError, libc

# python-ptrace's own lookup of the C library (ctypes.util.find_library("c")) imports subprocess
# and tempfile and runs ldconfig: handed the one this process has loaded instead.
if "ptrace.ctypes_libc" not in sys.modules:
    _libc = types.ModuleType("ptrace.ctypes_libc")
    _libc.LIBC_FILENAME = None  # type: ignore[attr-defined]
    _libc.libc = libc  # type: ignore[attr-defined]
    sys.modules["ptrace.ctypes_libc"] = _libc

from ptrace import PtraceError as _Refused
from ptrace.binding import func as _func


def getregs(pid: int) -> Any:
    try:
        return _func.ptrace_getregs(pid)
    except _Refused as exc:
        raise PtraceError(str(exc), errno=exc.errno, pid=pid) from None


def setregs(pid: int, regs: Any) -> None:
    try:
        _func.ptrace_setregs(pid, regs)
    except _Refused as exc:
        raise PtraceError(str(exc), errno=exc.errno, pid=pid) from None
