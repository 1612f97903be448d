"""Reading a stopped tracee's memory: NUL-terminated strings and small structs."""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable

from rotrace.tracer.linux.kernel import WORD, PtraceError, own, peekdata, word_bytes


class _IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


_process_vm_readv = own("process_vm_readv")
_process_vm_readv.argtypes = (
    ctypes.c_int,
    ctypes.POINTER(_IoVec),
    ctypes.c_ulong,
    ctypes.POINTER(_IoVec),
    ctypes.c_ulong,
    ctypes.c_ulong,
)
_process_vm_readv.restype = ctypes.c_ssize_t

PATH_MAX = 4096
_PAGE = os.sysconf("SC_PAGE_SIZE")
_FIRST_READ = 256
# Two strings this close are read by one pread (a rename's or a link's two names, most often
# buffers side by side on one stack): the span stays within two pages.
_PAIR_SPAN = 3 * 1024


class MemoryReader:
    """Reads NUL-terminated strings and small structs out of a stopped tracee.

    The fast path is pread(2) on /proc/PID/mem (one cached fd per process: two system calls
    fewer than ctypes' process_vm_readv per string, and no ctypes marshalling). A stale fd
    (the process exec'd or exited) reads nothing and is reopened once; where /proc/PID/mem is
    refused, process_vm_readv, and then PTRACE_PEEKDATA word by word. `cstring_at(fd, addr)`,
    when given (the compiled loop's), reads a string from that fd as `cstring` does, or says
    None for this loop to read it.
    """

    MAX_FDS = 128

    def __init__(self, cstring_at: Callable[[int, int], bytes | None] | None = None) -> None:
        self._cstring_at = cstring_at
        self._fds: dict[int, int] = {}
        self._buf = ctypes.create_string_buffer(PATH_MAX + _PAGE)
        self._local = _IoVec(ctypes.addressof(self._buf), 0)
        self._remote = _IoVec(0, 0)
        self._use_mem = True
        self._use_readv = True
        # processes whose memory the kernel closes to rotrace (not dumpable, to a tracer that is
        # not root): each alone, until it execs; any other is read the fast way still
        self._closed: set[int] = set()

    def _mem_fd(self, pid: int) -> int | None:
        fd = self._fds.get(pid)
        if fd is None:
            if pid in self._closed:
                return None
            try:
                fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
            except PermissionError:  # this process's memory closed to rotrace: the fallbacks
                self._closed.add(pid)
                return None
            except OSError:  # the process is gone
                return None
            if len(self._fds) >= self.MAX_FDS:
                oldest = next(iter(self._fds))
                os.close(self._fds.pop(oldest))
            self._fds[pid] = fd
        return fd

    def forget(self, pid: int) -> None:
        self._closed.discard(pid)  # (a new program: dumpable again, maybe)
        fd = self._fds.pop(pid, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def _pread(self, pid: int, addr: int, size: int) -> bytes | None:
        for _attempt in (1, 2):
            fd = self._mem_fd(pid)
            if fd is None:
                return None
            try:
                data = os.pread(fd, size, addr)
            except OSError:
                data = b""
            if data:
                return data
            self.forget(pid)  # stale (exec, exit) or unreadable: try a fresh fd once
        return None

    def _readv(self, pid: int, addr: int, size: int) -> int:
        self._local.len = size
        self._remote.base = addr
        self._remote.len = size
        n: int = _process_vm_readv(pid, self._local, 1, self._remote, 1, 0)
        if n < 0:
            err = ctypes.get_errno()
            if err == errno.ENOSYS:
                self._use_readv = False
            elif err == errno.EPERM:
                self._closed.add(pid)
            return -err
        return n

    def _chunk(self, pid: int, addr: int, size: int) -> bytes | None:
        """Up to `size` bytes at addr (fewer at the end of a mapping), None if none readable."""
        if self._use_mem:
            data = self._pread(pid, addr, size)
            if data is not None:
                return data
        if self._use_readv and pid not in self._closed:
            n = self._readv(pid, addr, size)
            if n > 0:
                return ctypes.string_at(self._buf, n)
            if n == 0 or (self._use_readv and pid not in self._closed):
                return None
        return self._peek(pid, addr, size)

    def read(self, pid: int, addr: int, size: int) -> bytes | None:
        """Exactly `size` bytes at `addr`, or None if they are not all readable."""
        data = self._chunk(pid, addr, size)
        return data if data is not None and len(data) == size else None

    def cstring(self, pid: int, addr: int) -> bytes | None:
        """The NUL-terminated string at `addr` (at most PATH_MAX bytes), None if unreadable."""
        if addr == 0:
            return None
        if self._cstring_at is not None and self._use_mem:
            fd = self._mem_fd(pid)
            if fd is not None:
                found = self._cstring_at(fd, addr)
                if found is not None:
                    return found
        out = b""
        size = _FIRST_READ
        while len(out) < PATH_MAX:
            chunk = self._chunk(pid, addr, min(size, _PAGE - addr % _PAGE))
            if not chunk:  # what was read is no string (the kernel may read on: memfd_secret)
                return None
            end = chunk.find(b"\0")
            if end >= 0:
                return out + chunk[:end]
            out += chunk
            addr += len(chunk)
            size = _PAGE
        return out

    def cstrings(self, pid: int, first: int, second: int) -> tuple[bytes | None, bytes | None]:
        """The strings at `first` and `second`, as `cstring` reads each: one read of the span
        between them where they are close, each alone where that read did not end it."""
        if first and second and abs(first - second) <= _PAIR_SPAN and self._use_mem:
            fd = self._mem_fd(pid)
            low = min(first, second)
            try:
                span = os.pread(fd, abs(first - second) + _FIRST_READ, low) if fd is not None else b""
            except OSError:
                span = b""
            ends = (span.find(b"\0", first - low), span.find(b"\0", second - low))
            return (
                span[first - low : ends[0]] if ends[0] >= 0 else self.cstring(pid, first),
                span[second - low : ends[1]] if ends[1] >= 0 else self.cstring(pid, second),
            )
        return self.cstring(pid, first), self.cstring(pid, second)

    @staticmethod
    def _peek(pid: int, addr: int, size: int) -> bytes | None:
        start = addr - addr % WORD
        data = bytearray()
        try:
            for word_addr in range(start, addr + size, WORD):
                word = peekdata(pid, word_addr)
                data += word_bytes(word)
                if b"\0" in data[addr - start :]:
                    break
        except PtraceError:
            if len(data) <= addr - start:
                return None
        return bytes(data[addr - start : addr - start + size])
