"""The event loop: one blocking waitpid(-1, __WALL) for every tracee.

Each stop is handled and the tracee resumed at once. With the seccomp filter, a tracee
stops only at the entry of a call rotrace decodes (PTRACE_EVENT_SECCOMP), is resumed with
PTRACE_SYSCALL to catch that call's exit, and with PTRACE_CONT otherwise. Without it
(--no-seccomp), every syscall stops twice and PTRACE_GET_SYSCALL_INFO tells entry from exit.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import signal
import stat
from collections.abc import Callable

from rotrace.events import FileEvent, ProcessInfo
from rotrace.tracer import coredump
from rotrace.tracer.contract import EventSink, ProcessSink, TraceOptions
from rotrace.tracer.decode import SOCKET_CHECK, Decoder, Loc, Moved, Pending
from rotrace.tracer.dircache import DirCache
from rotrace.tracer.dirstate import DirectoryStates
from rotrace.tracer.linux import kernel, procfs
from rotrace.tracer.linux.arch import Machine, SyscallTable
from rotrace.tracer.linux.memory import MemoryReader
from rotrace.tracer.linux.syscall_info import (
    SYSCALL_INFO_ENTRY,
    SYSCALL_INFO_EXIT,
    SyscallInfo,
    clear_first_arg_bits,
    parse_entry,
    parse_exit,
    refuse,
)
from rotrace.tracer.resolve import (
    AT_FDCWD,
    Misplaced,
    base_of,
    mount_changes,
    mount_table_now,
    own_proc,
    resolve,
)
from rotrace.tracer.seccomp import RENAME_WHITEOUT, privileged
from rotrace.tracer.syscalls import CLONE_UNTRACED, EVENT_FAMILIES, MOUNT_NAMES, SPECS, Spec

try:  # the compiled hot path (_fastloop.c); without it, or with ROTRACE_PURE_LOOP=1, pure Python
    from rotrace.tracer import _fastloop
except ImportError:  # built where a C compiler was found
    _fastloop = None  # type: ignore[assignment]

_SYSCALL_TRAP = signal.SIGTRAP | 0x80
_STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})


_REMOUNTS = frozenset({"mount", "umount", "umount2", "move_mount", "pivot_root"})  # attach, detach, move


class _Thread:
    __slots__ = ("fs", "pending", "tgid")

    def __init__(self, tgid: int) -> None:
        self.tgid = tgid
        self.fs = tgid  # whose cwd and root it shares (the threads of a process share theirs)
        self.pending: Pending | None = None


class _Moves:
    """When the cwd, the root or an fd of the threads sharing them last changed (a tick of the
    tracer's count of context calls), and how many calls that may change them are running."""

    __slots__ = ("cwd_at", "cwd_running", "fds_at", "fds_running", "root_at", "root_running")

    def __init__(self) -> None:
        self.cwd_at = self.root_at = self.fds_at = -1
        self.cwd_running = self.root_running = self.fds_running = 0


# unshare(2) flags that give the caller a cwd and root of its own (a copy of them)
_CLONE_FS, _CLONE_NEWNS = 0x200, 0x20000


# What a syscall number's entry stop needs, for the compiled hot path: resume it, decode it
# (a file call), or anything else, which it hands back to Python (clone, io_uring...).
_KIND_RESUME, _KIND_EVENT, _KIND_PYTHON = 0, 1, 2


def _kinds(specs: dict[int, Spec]) -> bytes:
    table = bytearray([_KIND_RESUME]) * (max(specs, default=-1) + 1)
    for nr, spec in specs.items():
        table[nr] = _KIND_EVENT if spec.family in EVENT_FAMILIES else _KIND_PYTHON
    return bytes(table)


def compiled_loop() -> bool:
    """Whether stops are run by the compiled hot path (docs/performance.md)."""
    return _fastloop is not None and os.environ.get("ROTRACE_PURE_LOOP", "") in ("", "0")


class Tracer:
    def __init__(
        self, machine: Machine, options: TraceOptions, sink: EventSink, on_process: ProcessSink | None = None
    ) -> None:
        self.machine = machine
        self.options = options
        self.sink = sink
        self._on_process = on_process
        # The compiled loop's helpers place paths with the same system calls as the pure loop's
        # Python, which stays the reference (docs/testing.md).
        fast = _fastloop if compiled_loop() else None
        self.dircache = DirCache(compiled=fast is not None, aside=not options.confined)
        if os.environ.get("ROTRACE_DIRCACHE", "") == "0":  # off: every path placed by the kernel
            self.dircache.close()
        cstring = fast.cstring if fast is not None else None
        self.decoder = Decoder(options.all_opens, cstring, self.dircache.plain)
        self.info = SyscallInfo()
        self.tables: dict[int, SyscallTable] = {t.audit_arch: t for t in machine.tables()}
        self.specs: dict[int, dict[int, Spec]] = {
            t.audit_arch: {nr: SPECS[n] for nr, n in t.by_number.items() if n in SPECS}
            for t in machine.tables()
        }
        self.threads: dict[int, _Thread] = {}
        self.exe: dict[int, bytes] = {}
        self.seccomp = False
        self.root = 0
        self.started = False
        self.stops = 0
        self.warnings: list[str] = []
        # the calls by which a traced process changed the mounts of rotrace's mount namespace:
        # its table changed while one ran (in that namespace, or propagated from another; a
        # namespace of the command's own, private or a user namespace's, keeps its mounts)
        self.remounted: set[str] = set()
        self._warned: set[str] = set()
        self.processes: list[ProcessInfo] = []
        self.members: dict[int, int] = {}  # tgid -> its threads still traced
        self.detaching = False  # attach mode: let every tracee go at its next stop
        # attach mode: the seized threads not yet resumed under syscall tracing (until then they
        # run untraced), and who is told once none is left
        self._attaching: set[int] = set()
        self.on_attached: Callable[[], None] | None = None
        self.refuses_queues = False  # --enforce: a POSIX message queue made or removed is refused (EACCES)
        self.refuses_whiteouts = False  # confined: a renameat2 that leaves a whiteout is refused (EPERM)
        self.refuses_privileges = False  # host_files: a set-user-ID or set-group-ID mode (EPERM)
        self.refuses_devices = False  # and a device node, where no Landlock rule refuses it
        self.refused_kinds: set[bool] = set()  # warned of: a device (True), a set-ID mode (False)
        self.root_exit: int | None = None  # the root's wait status, read at its PTRACE_EVENT_EXIT
        self.on_root_exit: Callable[[], None] | None = None  # called once the root's threads are gone
        self.directories = DirectoryStates()
        # The tracee's cwd and root are read when a write is placed, at its exit stop: a chdir,
        # chroot... by a thread sharing them while the write ran makes its place unknown.
        self._ticks = 0
        self._moves: dict[int, _Moves] = {}  # by `_Thread.fs`
        # a cwd and root of a process's own (a fork's, an unshare's): a key no other has had, not
        # its pid, which a later process may be given while this one's record stays
        self._own_fs = itertools.count(-1, -1)
        # processes whose fd table another process shares (clone(CLONE_FILES)), or may
        self._files_shared: set[int] = set()
        self._moves_everywhere = _Moves()  # pivot_root: every process's root and cwd
        self._moves_any = _Moves()  # any process's: for paths through another's /proc links
        self._dumped: set[int] = set()  # processes whose core dump is recorded
        self._unknown_arch_warned = False
        self.kinds = {arch: _kinds(specs) for arch, specs in self.specs.items()}

    # -- resuming ---------------------------------------------------------------------------

    def _resume(self, tid: int, thread: _Thread | None, sig: int = 0) -> None:
        try:
            if not self.seccomp or (thread is not None and thread.pending is not None):
                kernel.resume_syscall(tid, sig)
            else:
                kernel.resume_cont(tid, sig)
        except kernel.PtraceError as exc:
            if exc.errno != errno.ESRCH:  # it died meanwhile: its exit is still to come
                raise

    # -- bookkeeping --------------------------------------------------------------------------

    def _adopt(self, tid: int, tgid: int | None = None) -> _Thread:
        thread = _Thread(tgid if tgid is not None else procfs.status_int(tid, b"Tgid", tid))
        self.threads[tid] = thread
        self.members[thread.tgid] = self.members.get(thread.tgid, 0) + 1
        if thread.tgid not in self.exe:
            self.exe[thread.tgid] = readlink_exe(thread.tgid)
        return thread

    def _emit(self, tid: int, thread: _Thread, pending: Pending, result: int | None) -> None:
        if pending.op in ("context", "fds", "ring", SOCKET_CHECK):
            return
        if not pending.write and not self.decoder.all_opens:  # an open found to make nothing
            return
        exe = self.exe.get(thread.tgid, b"")
        event = pending.complete(thread.tgid, tid, exe, result)
        if event.unresolved and "undumpable" not in self._warned and _closed_to_us(tid):
            self._warn_once(
                "undumpable",
                f"pid {thread.tgid} is not dumpable (it runs a program its user may run but not read,"
                " or made itself so, as ssh-agent does): /proc, where rotrace reads where a write"
                " landed, is closed to a tracer that is not root, so its writes are unresolved (run"
                " rotrace as root to place them)",
            )
        self.sink(event)

    # -- stops ----------------------------------------------------------------------------------

    def _on_entry(self, tid: int, thread: _Thread, raw: bytes) -> None:
        arch, nr, args = parse_entry(raw)
        specs = self.specs.get(arch)
        if specs is None:
            if not self._unknown_arch_warned:
                self._unknown_arch_warned = True
                self.warnings.append(f"syscalls of an unsupported ABI (audit arch {arch:#x}) not decoded")
            self._resume(tid, thread)
            return
        if self.machine.x32_bit is not None and nr & self.machine.x32_bit:
            nr &= ~self.machine.x32_bit
        spec = specs.get(nr)
        if spec is not None and self.started:
            if spec.family in EVENT_FAMILIES:
                self._decode(tid, thread, arch, nr, args)
            elif spec.family in ("clone", "clone3"):
                self._keep_traced(tid, thread, arch, spec.family, args)
            elif spec.family == "mounts":
                self.dircache.mounts_apart()
                if spec.name in ("mount", "move_mount") and self.dircache.plain(tid):
                    self._warn_once(
                        f"mount:{thread.tgid}",
                        f"{self._who(thread.tgid)} called {spec.name} in rotrace's mount namespace: a write"
                        " through a bind mount it makes is reported where it is mounted, not at the"
                        " directory bound there",
                    )
                # caught again at its exit: a name a write walked while a mount changed (in a
                # namespace rotrace does not watch) may be in the tree before or after it
                self.dircache.hold(tid)
                table = self.tables[arch]
                thread.pending = Pending(spec, table, "context", Loc(b"", b""), None, None, None, False)
                thread.pending.mounts = mount_table_now()  # (`_remounts`)
                self._context(thread, thread.pending, 1)
            elif spec.family == "context":  # chdir, chroot, unshare...: caught again at its exit
                if spec.name == "setns" or (spec.name == "unshare" and args[0] & _CLONE_NEWNS):
                    self.dircache.mounts_apart()
                self.dircache.hold(tid)
                table = self.tables[arch]
                flags = args[0] & 0xFFFFFFFF if spec.name == "unshare" else None
                thread.pending = Pending(spec, table, "context", Loc(b"", b""), None, flags, None, False)
                if spec.name in _REMOUNTS:  # pivot_root
                    thread.pending.mounts = mount_table_now()
                self._context(thread, thread.pending, 1)
            elif spec.family == "fds":  # dup2, dup3: caught again at its exit
                table = self.tables[arch]
                thread.pending = Pending(spec, table, "fds", Loc(b"", b""), None, None, None, False)
                self._context(thread, thread.pending, 1)
            elif spec.family == "io_uring":  # warned at its exit, if a ring was made (not refused)
                table = self.tables[arch]
                thread.pending = Pending(spec, table, "ring", Loc(b"", b""), None, None, None, False)
        self._resume(tid, thread)

    def _decode(self, tid: int, thread: _Thread, arch: int, nr: int, args: tuple[int, ...]) -> None:
        """At the entry of a file call: its arguments, and the directories it is about to change."""
        pending = self.decoder.decode(tid, thread.tgid, self.tables[arch], self.specs[arch][nr], args)
        thread.pending = pending
        if pending is not None and pending.spec.family == "mqueue" and self.refuses_queues:
            refuse(tid, arch, errno.EACCES)  # Landlock would not stop it: its exit says EACCES
        elif (
            self.refuses_whiteouts
            and pending is not None
            and pending.spec.name == "renameat2"
            and args[4] & RENAME_WHITEOUT
        ):
            refuse(tid, arch, errno.EPERM)  # a device node at the old name: its exit says EPERM
        elif (
            self.refuses_privileges
            and pending is not None
            and pending.spec.family != "openat2"  # the filter's ENOSYS, after this stop (seccomp.py)
            and privileged(pending.op, pending.mode, self.refuses_devices)
        ):
            refuse(tid, arch, errno.EPERM)  # as for a user without the right: its exit says EPERM
            device = not privileged(pending.op, pending.mode, False)
            if device not in self.refused_kinds:
                self.refused_kinds.add(device)
                what = (
                    ("a device node", "no device node")
                    if device
                    else (
                        "a set-user-ID or set-group-ID mode",
                        "no file that runs with its owner's or group's rights",
                    )
                )
                self.warnings.append(
                    f"rotrace refused a {pending.spec.name} with {what[0]} (EPERM), and refuses every"
                    f" other: where the command's writes land on this machine's files it makes {what[1]}"
                    " (-v lists the calls)"
                )
        if pending is not None and self.dircache.enabled:  # the name changes before the call
            # an open that succeeds is named by its fd: no way to watch for it
            opens = pending.spec.family in ("open", "openat2")
            ways = () if opens else (pending.path, pending.target)
            locs = [(loc.base, loc.raw) for loc in ways if loc and loc.base]
            pending.since = self.dircache.entering(tid, locs)
            if opens and pending.write and pending.path.base:  # its file told by its name (decode.py)
                pending.way = self.dircache.open_way(tid, pending.path.base, pending.path.raw)
                pending.mounts = mount_changes()
        if pending is not None and pending.write:
            pending.context = self._context_now(thread)
            pending.dir_states = self.directories.before(pending, tid, self.dircache)
            if pending.op in ("rename", "delete"):  # may rename or remove a directory placed before
                self.dircache.hold(tid)
                pending.note_holder(self.dircache.plain(tid))
                if self.dircache.enabled:  # a name on another write's way, watched or not
                    ways = (pending.path, pending.target)
                    self.dircache.renaming(tid, [(loc.base, loc.raw) for loc in ways if loc and loc.base])
            pending.note_ways(tid, self.dircache)

    def _place(self, tid: int, thread: _Thread, pending: Pending, result: int) -> None:
        """At the exit of a file call, before the tracee runs on: where its paths landed."""
        thread.pending = None
        if pending.op == "ring":
            if result >= 0:
                self._warn_once(
                    f"io_uring:{thread.tgid}",
                    f"{self._who(thread.tgid)} set up io_uring: file operations it submits through the"
                    " ring (IORING_OP_OPENAT, MKDIRAT, RENAMEAT...) are not seen by rotrace",
                )
            return
        if pending.op == "fds":
            self._context(thread, pending, -1)
            return
        if pending.op == SOCKET_CHECK:  # a bind whose address named no file at its entry
            known, name = procfs.unix_socket_name(tid, pending.socket) if result == 0 else (True, None)
            if known and name is None:
                return  # no file made: no write
            # bound to a file all the same (its address rewritten while the call ran): a write
            # with no place
            pending.op = pending.spec.op
            pending.path = Loc(b"", b"", seen=name) if name else Loc.unread()
        if pending.op == "context":  # the tracee's cwd, root or namespace may have changed
            self._remounts(pending)
            self.dircache.contexts_changed()
            self.dircache.release(tid)
            self._context(thread, pending, -1)
            if (
                pending.spec.name == "unshare"
                and result == 0
                and (pending.flags or 0) & (_CLONE_FS | _CLONE_NEWNS)
            ):
                thread.fs = next(self._own_fs)  # a cwd and root of its own now
            return
        self._land(tid, thread, pending, result)

    def _land(self, tid: int, thread: _Thread, pending: Pending, result: int | None) -> None:
        """Where a file call's paths landed, while its cwd and fds hold: at its exit, or (result
        None) where the thread died inside it (a fatal signal, another thread's execve), with
        the same checks: a sibling's chdir meanwhile, a name on the way renamed."""
        if pending.op in ("rename", "delete"):  # its change is in inotify's queue by now; and it
            self.dircache.release(tid)  # changed no directory on its own paths' chains
        if pending.there is not None and (
            self.members.get(thread.tgid, 1) > 1 or thread.tgid in self._files_shared
        ):
            # another thread may put another file at the fd the call returned (close, then an
            # open for reading: neither stopped) before it is read: no proof it made nothing
            pending.there = None
        pending.resolve(self.decoder.memory, tid, result, self.dircache)
        if pending.op in ("rename", "delete"):
            self.dircache.renamed(tid)  # a change for the writes it overlapped, not for itself
        if pending.context is not None:
            moved = self._moved(thread, pending.context)
            pending.unplace_moved(moved, result, thread.tgid, self.threads.__contains__)
        if pending.op == "mkdir" and result == 0 and pending.path.path is not None:
            self.dircache.made(pending.path.path)
        if pending.dir_states:
            self.directories.file(pending.dir_states)

    def _context(self, thread: _Thread, pending: Pending, running: int) -> None:
        """A call that may change the cwd, root or fds of the threads sharing them with `thread`
        began (running=1) or ended (-1, also when the thread died in it). Every such call is
        also counted for all (`_moves_any`): a path through another process's /proc links."""
        self._ticks += 1
        name = pending.spec.name
        for moves in (self._moves_any, self._moves_of(thread, name)):
            if name in ("dup2", "dup3") or name in MOUNT_NAMES:  # a mount: below any fd too
                moves.fds_at = self._ticks
                moves.fds_running += running
                if name not in MOUNT_NAMES:
                    continue
            moves.cwd_at = self._ticks
            moves.cwd_running += running
            if name not in ("chdir", "fchdir"):
                moves.root_at = self._ticks
                moves.root_running += running

    def context_shared(self, fs: int, *, cwd: bool = False, root: bool = False, fds: bool = False) -> None:
        """Attached: the cwd, root or fds of the threads whose `fs` this is are shared with a
        process rotrace does not trace, whose chdir, chroot or dup2 no stop reports: a change
        of them is always running, and every write walked from there is unresolved (decode.py,
        `unplace_moved`). A fork's copy or an unshare's (a key of its own) is free of it."""
        moves = self._moves.get(fs) or self._moves.setdefault(fs, _Moves())
        moves.cwd_running += cwd
        moves.root_running += root
        moves.fds_running += fds

    def _moves_of(self, thread: _Thread, name: str) -> _Moves:
        if name == "pivot_root" or name in MOUNT_NAMES:  # every process's that were the old root;
            return self._moves_everywhere  # any process's of the namespace (which are not known)
        return self._moves.get(thread.fs) or self._moves.setdefault(thread.fs, _Moves())

    def _context_now(self, thread: _Thread) -> tuple[int, Moved]:
        """At a write's entry: the tick, and which changes of its cwd, root and fds (and of any
        process's) are running."""
        moves, everywhere, any_ = self._moves.get(thread.fs), self._moves_everywhere, self._moves_any
        cwd = everywhere.cwd_running > 0 or (moves is not None and moves.cwd_running > 0)
        root = everywhere.root_running > 0 or (moves is not None and moves.root_running > 0)
        fds = everywhere.fds_running > 0 or (moves is not None and moves.fds_running > 0)
        others = any_.cwd_running + any_.root_running + any_.fds_running > 0
        return self._ticks, Moved(cwd, root, fds, others)

    def _moved(self, thread: _Thread, since: tuple[int, Moved]) -> Moved:
        """At its exit: whether the write's cwd, root and fds, and any process's, may have
        changed while it ran."""
        tick, was = since
        moves, everywhere, any_ = self._moves.get(thread.fs), self._moves_everywhere, self._moves_any
        cwd = was.cwd or everywhere.cwd_at > tick or (moves is not None and moves.cwd_at > tick)
        root = was.root or everywhere.root_at > tick or (moves is not None and moves.root_at > tick)
        fds = was.fds or everywhere.fds_at > tick or (moves is not None and moves.fds_at > tick)
        others = was.others or max(any_.cwd_at, any_.root_at, any_.fds_at) > tick
        return Moved(cwd, root, fds, others)

    def _who(self, tgid: int) -> str:
        return f"{os.fsdecode(os.path.basename(self.exe.get(tgid, b''))) or 'a process'} (pid {tgid})"

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.warnings.append(text)

    def _keep_traced(self, tid: int, thread: _Thread, arch: int, family: str, args: tuple[int, ...]) -> None:
        """A clone with CLONE_UNTRACED would make a child no tracer sees, which still carries the
        seccomp filter (its file calls then fail with ENOSYS) and may make its parent its tracer
        (PTRACE_TRACEME), which then lets them run: clear the flag, so it is traced. clone3
        keeps its flags in the tracee's memory, which another thread may change after they are
        read: it is answered ENOSYS (by the filter, or here where none is loaded), as Docker's
        default profile does, and C libraries fall back to clone, whose flags are in a
        register."""
        if family == "clone3":
            if not refuse(tid, arch, errno.ENOSYS):
                self._warn_once(
                    f"clone3:{thread.tgid}",
                    f"{self._who(thread.tgid)} called clone3 with no seccomp filter on an architecture"
                    " where rotrace cannot refuse it: a child it asks to be untraced is not seen",
                )
            return
        if args[0] & _CLONE_NEWNS:
            self.dircache.mounts_apart()
        if not args[0] & CLONE_UNTRACED:
            return
        how = (
            "rotrace cleared the flag, so the child is traced like the others"
            if clear_first_arg_bits(tid, arch, CLONE_UNTRACED)
            else ("rotrace cannot clear it on this architecture: the child's file calls are not recorded")
        )
        self._warn_once(
            f"untraced:{thread.tgid}", f"{self._who(thread.tgid)} asked for CLONE_UNTRACED; {how}"
        )

    def _on_syscall_stop(self, tid: int, thread: _Thread) -> None:
        raw = self.info.read(tid)
        if raw[0] == SYSCALL_INFO_EXIT:
            pending = thread.pending
            result = parse_exit(raw)
            if pending is not None:
                self._place(tid, thread, pending, result)
            self._resume(tid, thread)
            if pending is not None:
                self._emit(tid, thread, pending, result)
        elif raw[0] == SYSCALL_INFO_ENTRY:
            self._on_entry(tid, thread, raw)
        else:
            self._resume(tid, thread)

    def _on_exec(self, tid: int) -> None:
        former = kernel.get_event_msg(tid)
        if former != tid:  # a non-leader thread exec'd and took over the leader's tid
            leader = self.threads.pop(tid, None)
            if leader is not None and leader.pending is not None and leader.pending.op in ("context", "fds"):
                self._context(leader, leader.pending, -1)
            thread = self.threads.pop(former, None) or _Thread(tid)
            self.threads[tid] = thread
            self._attaching.discard(former)  # its tid is gone: no stop of its will come
        thread = self.threads[tid]
        thread.pending = None
        thread.tgid = tid
        self.members[tid] = 1  # exec leaves one thread
        self.decoder.memory.forget(tid)  # a new address space
        self.dircache.forget(tid)  # a non-leader's exec: the leader's tid is another thread now
        self.exe[tid] = readlink_exe(tid)
        if tid == self.root:
            self.started = True
        if self.started:
            info = process_info(
                tid,
                self.exe[tid],
                exec_script(tid, self.exe[tid], self.decoder.memory, self.dircache.plain(tid)),
            )
            self.program_started(info)
            if self.seccomp:
                self._setuid_note(tid, info)
        self._resume(tid, thread)

    def program_started(self, info: ProcessInfo) -> None:
        """`info` to the sink whole; kept for the result without its environment (the sink's
        reader took its secrets: memory stays flat in the programs a run starts)."""
        self.processes.append(info._replace(environment=()))
        if self._on_process is not None:
            self._on_process(info)

    def _setuid_note(self, tid: int, info: ProcessInfo) -> None:
        """The seccomp filter needs no_new_privs, under which a setuid or setgid program runs
        without its privilege: say so when it would have had one."""
        try:
            st = os.stat(f"/proc/{tid}/exe")
            if os.statvfs(f"/proc/{tid}/exe").f_flag & os.ST_NOSUID:
                return  # the bit means nothing there, traced or not
            gid = os.stat(f"/proc/{tid}").st_gid
        except OSError:
            return
        if (st.st_mode & stat.S_ISUID and st.st_uid != info.uid) or (
            st.st_mode & stat.S_ISGID and st.st_gid != gid
        ):
            self._warn_once(
                f"setuid:{info.exe!r}",
                f"{os.fsdecode(info.exe)} is setuid/setgid: under rotrace's seccomp filter (no_new_privs)"
                " it ran without that privilege (--no-seccomp keeps it when rotrace runs as root)",
            )

    def _on_new_child(self, tid: int, thread: _Thread, event: int) -> None:
        child = kernel.get_event_msg(tid)
        made = self.threads.get(child)
        if made is None:  # else its first stop came first and adopted it
            made = self._adopt(child, None if event == kernel.PTRACE_EVENT_CLONE else child)
        shares = kernel.same_fs(tid, child)  # clone(CLONE_FS): the same cwd and root
        if shares is None:  # no kcmp: a thread of the same process shares them
            shares = made.tgid == thread.tgid
        made.fs = thread.fs if shares else next(self._own_fs)
        if made.tgid != thread.tgid and kernel.same_files(tid, child) is not False:  # clone(CLONE_FILES)
            self._files_shared.update((made.tgid, thread.tgid))
        self._resume(tid, thread)

    def _on_exiting(self, tid: int) -> None:
        """PTRACE_EVENT_EXIT: the thread makes no more syscalls; let it go.

        Detaching here, before the thread is a zombie, lets its real parent reap it the
        moment it can see it exited. Otherwise the parent's pidfd turns readable while
        waitid still finds nothing (the tracer holds the exit status), which crashes
        tokio 1.42-1.47.0 programs, uv among them ("pidfd is ready to read").
        """
        thread = self.threads.get(tid)
        pending = None if thread is None else thread.pending
        if thread is not None and pending is not None and pending.op not in ("ring", "fds", "context"):
            self._land(tid, thread, pending, None)  # killed in the call: its fs is still there
        status = kernel.get_event_msg(tid)
        if tid == self.root:
            self.root_exit = status
        if thread is not None and coredump.dumped(status) and thread.tgid not in self._dumped:
            self._core_dumped(tid, thread, status)
        self._on_exit(tid)
        kernel.detach(tid, 0)

    def _core_dumped(self, tid: int, thread: _Thread, status: int) -> None:
        """The kernel wrote the process's core dump (coredump.py): a create at its name, with no
        system call of the command's; once per process (each of its threads exits so)."""
        self._dumped.add(thread.tgid)
        exe = self.exe.get(thread.tgid, b"")
        found = coredump.core_file(tid, thread.tgid, status, exe, not self.dircache.plain(tid))
        if found is None:
            return
        path, resolved = found
        self.sink(FileEvent(thread.tgid, tid, exe, "coredump", "create", path, None, None, None, 0, True,
                            unresolved=not resolved))  # fmt: skip

    def _on_exit(self, tid: int) -> None:
        thread = self.threads.pop(tid, None)
        if thread is not None and thread.pending is not None:
            self._emit(tid, thread, thread.pending, None)
        self._forget(tid, thread)

    def _remounts(self, pending: Pending) -> None:
        """At the end of a call that may change mounts (its exit, or its thread gone inside
        it): whether rotrace's mount table changed since its entry (`_REMOUNTS`)."""
        if pending.spec.name in _REMOUNTS and mount_table_now() != pending.mounts:
            self.remounted.add(pending.spec.name)

    def _forget(self, tid: int, thread: _Thread | None) -> None:
        """A thread that is no longer traced (gone, or let go)."""
        if thread is not None and thread.pending is not None and thread.pending.op in ("context", "fds"):
            self._remounts(thread.pending)  # gone inside it: it may have taken effect
            self._context(thread, thread.pending, -1)
            thread.pending = None
        self.decoder.memory.forget(tid)
        self.dircache.forget(tid)
        if thread is not None:
            left = self.members.get(thread.tgid, 1) - 1
            if left > 0:  # the leader may exit before its threads: they keep the exe
                self.members[thread.tgid] = left
            else:  # the process is gone: keep memory flat
                self.members.pop(thread.tgid, None)
                self.exe.pop(thread.tgid, None)
                self._dumped.discard(thread.tgid)
                if thread.tgid == self.root and self.on_root_exit is not None:
                    self.on_root_exit()

    def processes_alive(self) -> list[int]:
        """The traced processes (thread-group ids) that have not exited."""
        return list(self.members)

    def root_alive(self) -> int | None:
        """The command's top process, while it has not exited."""
        return self.root if self.root in self.members else None

    def abort(self) -> None:
        """Kill every tracee and reap them: never leave a process stopped behind us.

        A killed tracee still stops once more (PTRACE_EVENT_EXIT) before it dies, so every
        stop seen here is resumed; waiting without that would block forever.
        """
        for tid in list(self.threads):
            with contextlib.suppress(ProcessLookupError):
                os.kill(tid, signal.SIGKILL)
        while True:
            try:
                tid, status = os.waitpid(-1, kernel.WALL)
            except ChildProcessError:
                return
            if os.WIFSTOPPED(status):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(tid, signal.SIGKILL)  # a child it made meanwhile, say
                with contextlib.suppress(kernel.PtraceError):
                    kernel.resume_cont(tid, 0)

    def request_detach(self) -> None:
        """Attach mode: stop tracing; each tracee is let go, running, at its next stop."""
        self.detaching = True
        if _fastloop is not None:  # asked from inside a stop the compiled loop is handling
            _fastloop.hand_back()
        for tid in list(self.threads):
            with contextlib.suppress(kernel.PtraceError):
                kernel.interrupt(tid)

    def _let_go(self, tid: int, sig: int = 0) -> None:
        """Stop tracing tid, passing on the signal it was stopped to receive (if any)."""
        self._forget(tid, self.threads.pop(tid, None))
        with contextlib.suppress(kernel.PtraceError):
            kernel.detach(tid, sig)

    def loop(self, root: int, threads: tuple[int, ...] = ()) -> int:
        """Run until no tracee is left; the root's raw wait status. `threads`: the root's
        threads when rotrace attached to a running process (they are seized already)."""
        self.root = root
        self.dircache.arm()  # from the thread that waits for the stops
        for tid in threads or (root,):
            self.threads[tid] = _Thread(root)
        self.members[root] = len(threads) or 1
        if threads:  # attached: a process rotrace never saw made may share its fd table (CLONE_FILES)
            self._files_shared.add(root)
            self._attaching = set(threads)
        root_status = 0
        waitpid = os.waitpid
        fast = _fastloop.run if compiled_loop() else None
        x32_bit = self.machine.x32_bit or 0
        while True:
            try:
                if fast is None or self.detaching or self.info.use_registers:
                    tid, status = waitpid(-1, kernel.WALL)
                else:  # runs the syscall stops of known threads; hands back any other stop
                    tid, status, handled = fast(self.threads, self.kinds, self._decode, self._place,
                                                self._emit, self.seccomp, self.started, x32_bit)  # fmt: skip
                    self.stops += handled
                    if tid == 0:  # a signal handler ran (a detach may have been asked for)
                        continue
            except ChildProcessError:
                return root_status
            except kernel.PtraceError as exc:  # from a stop the compiled path was running
                if exc.errno != errno.ESRCH:
                    raise
                continue
            self.stops += 1
            if self.detaching and os.WIFSTOPPED(status):
                self._let_go(tid, _in_delivery(status))
                continue
            if not os.WIFSTOPPED(status):
                self._on_exit(tid)
                if tid == root:
                    root_status = status
                if self._attaching:
                    self._seized(tid)
                continue
            thread = self.threads.get(tid)
            first_stop = thread is None
            if thread is None:
                thread = self._adopt(tid)
            try:
                self._on_stop(tid, thread, status, first_stop)
            except kernel.PtraceError as exc:
                if exc.errno != errno.ESRCH:
                    raise
            if self._attaching:
                self._seized(tid)

    def _seized(self, tid: int) -> None:
        """Attach mode: a seized thread's first stop was handled (it runs under syscall tracing
        now, or stays stopped, or is gone); once every one's was, the attach is whole."""
        self._attaching.discard(tid)
        if not self._attaching and self.on_attached is not None:
            self.on_attached()

    def _on_stop(self, tid: int, thread: _Thread, status: int, first_stop: bool) -> None:
        sig = os.WSTOPSIG(status)
        if sig == _SYSCALL_TRAP:
            self._on_syscall_stop(tid, thread)
            return
        event = status >> 16
        if event == kernel.PTRACE_EVENT_SECCOMP:
            self._on_entry(tid, thread, self.info.read(tid, seccomp_stop=True))
        elif event == 0:
            self._resume(tid, thread, 0 if first_stop else sig)  # signal-delivery-stop
        elif event == kernel.PTRACE_EVENT_STOP:
            starting = tid == self.root and not self.started
            if sig in _STOP_SIGNALS and not first_stop and not starting:
                kernel.listen(tid)  # group-stop: stay stopped, but traced
                if self.detaching:  # asked meanwhile: an interrupt before the listen is not kept
                    kernel.interrupt(tid)  # (it traps again, and is let go, still stopped)
            else:
                self._resume(tid, thread)
        elif event == kernel.PTRACE_EVENT_EXEC:
            self._on_exec(tid)
        elif event == kernel.PTRACE_EVENT_EXIT:
            self._on_exiting(tid)
        elif event in (
            kernel.PTRACE_EVENT_FORK,
            kernel.PTRACE_EVENT_VFORK,
            kernel.PTRACE_EVENT_CLONE,
        ):
            self._on_new_child(tid, thread, event)
        else:
            self._resume(tid, thread)


def _in_delivery(status: int) -> int:
    """The signal of a signal-delivery-stop (0 for any other stop): detaching with 0 would
    drop it."""
    sig = os.WSTOPSIG(status)
    return sig if status >> 16 == 0 and sig != _SYSCALL_TRAP else 0


# rotrace's own environment, which the report process reads for secrets itself: a program's
# entries beyond it are what it was handed by the command (ProcessInfo.environment)
_OWN_ENVIRONMENT = frozenset(b"%s=%s" % item for item in os.environb.items())


def process_info(pid: int, exe: bytes, script: bytes | None = None) -> ProcessInfo:
    """Who the process is, read while it is stopped at its exec; its working directory where
    /proc names it (not one removed since)."""
    status = procfs.status_fields(pid, b"PPid", b"Uid")
    argv = procfs.cmdline(pid)
    environment = procfs.environ_beyond(pid, _OWN_ENVIRONMENT)
    try:
        cwd: bytes | None = os.readlink(f"/proc/{pid}/cwd".encode())
    except OSError:
        cwd = None
    if cwd is not None and (not cwd.startswith(b"/") or cwd.endswith(b" (deleted)")):
        cwd = None
    try:
        ppid, uid = int(status[b"PPid"]), int(status[b"Uid"])
    except (KeyError, ValueError):
        ppid, uid = 0, -1
    return ProcessInfo(pid, ppid, uid, exe, argv or (), script, cwd, environment)


def exec_script(pid: int, exe: bytes, memory: MemoryReader, plain: bool = False) -> bytes | None:
    """The #! script the kernel ran `exe` for, at the exec stop (None: the process runs the file
    it was exec'd with): the file execve was given (its name, from the process's cwd and root,
    symlinks followed) when that is not the executable. A confinement that checks what a
    process may execute (AppArmor) checks the script, not its interpreter. `plain`: the
    process's root is rotrace's (resolve.resolve)."""
    address = procfs.execfn(pid)
    name = memory.cstring(pid, address) if address else None
    if not name:
        return None
    name = own_proc(name, pid, pid)  # execveat(fd, "", AT_EMPTY_PATH) is named /dev/fd/N
    try:
        found = resolve(base_of(pid, AT_FDCWD, name), name, follow=True, plain=plain)
    except Misplaced:  # by a way through /proc that rotrace cannot take for the process
        return None
    return found if found is not None and found != exe else None


def _closed_to_us(pid: int) -> bool:
    """Whether /proc refuses rotrace the links of a live process (not dumpable, to a tracer
    without CAP_SYS_PTRACE)."""
    try:
        os.readlink(b"/proc/%d/cwd" % pid)
    except PermissionError:
        return True
    except OSError:
        return False
    return False


def readlink_exe(pid: int) -> bytes:
    try:
        return os.readlink(f"/proc/{pid}/exe".encode())
    except OSError:
        return b""
