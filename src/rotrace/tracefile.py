"""The JSON trace (schema 3), the only place that knows its shape: header, events with their
verdicts, summary and explanations; a streaming writer and a validating reader.

Layout (docs/trace-format.md, docs/trace.schema.json): a header, the events array, then the
summary and what each explanation id means. Paths that are not valid UTF-8 are written with Python's
surrogateescape: byte 0xNN becomes the escape \\udcNN, which `os.fsencode` turns back into
the original byte.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import asdict, fields
from json.encoder import encode_basestring_ascii as _encode_string  # json.dumps's own (C)
from typing import IO, Any

from rotrace import __version__
from rotrace.errors import BadInput
from rotrace.escape import ci_safe_json
from rotrace.events import OPS, DirState, FileEvent, ProcessInfo
from rotrace.explain import BY_ID, Known
from rotrace.inputs import MiB, open_input, read_whole
from rotrace.pathnames import glob_regex, text_of
from rotrace.patterns import Lazy
from rotrace.policy.verdict import Summary, Verdict
from rotrace.record import Generalised, Source, TraceHeader
from rotrace.redact import Redactor, redact_text

# 2: summary.went_through; 3: labels, and a merged trace's sources, generalised names and each
# event's count and runs (and, optional, a checkpoint's time: its exit_code is null, which an
# older reader refuses rather than show a run still going as finished). A version adds fields
# only, so older ones are read too.
SCHEMA = 3
READABLE = (1, 2, 3)


# -- to JSON -------------------------------------------------------------------------------------


def _process_json(p: ProcessInfo) -> dict[str, Any]:
    out = {"pid": p.pid, "ppid": p.ppid, "uid": p.uid, "exe": os.fsdecode(p.exe), "cmdline": list(p.cmdline)}
    if p.script is not None:
        out["script"] = os.fsdecode(p.script)
    if p.cwd is not None:
        out["cwd"] = os.fsdecode(p.cwd)
    return out


def header_json(header: TraceHeader) -> dict[str, Any]:
    """The header's object (asdict's, without its deep copy of every process and directory:
    the JSON text is all that is made of it)."""
    out: dict[str, Any] = {"rotrace_version": __version__, "schema": SCHEMA}
    out.update((f.name, getattr(header, f.name)) for f in fields(header))
    out["sources"] = [asdict(s) for s in header.sources]
    out["generalised"] = [_generalised_out(g) for g in header.generalised]
    out["processes"] = [_process_json(p) for p in header.processes]
    out["directories"] = {os.fsdecode(d): s.value for d, s in sorted(header.directories.items())}
    for merged in ("sources", "generalised", "remounted"):  # a merged trace's only, or rare
        if not out[merged]:
            del out[merged]
    for run in (out, *out.get("sources", ())):
        _checkpoint_json(run)
    return out


def _checkpoint_json(run: dict[str, Any]) -> None:
    """A checkpoint, and a process let go still running, have no exit status (null); a run that
    ended has neither key."""
    if not run["let_go"]:
        del run["let_go"]
    if run["stopped"] is None:
        del run["stopped"]
    if run["checkpoint"] is None:
        del run["checkpoint"]
    if "checkpoint" in run or "let_go" in run:
        run["exit_code"] = run["signal"] = None


def explanation_table(used: Iterable[Known]) -> dict[str, dict[str, str]]:
    """What the JSON trace says about each explanation id its events use."""
    return {k.id: {"title": k.title, "who": k.who, "why": k.why, "fix": k.fix} for k in used}


_LITERAL = {None: "null", True: "true", False: "false"}


def _string(value: str | None) -> str:
    return "null" if value is None else _encode_string(value)


def _path(raw: bytes | None) -> str:
    return "null" if raw is None else _encode_string(os.fsdecode(raw))


def _event_line(v: Verdict, first: bool) -> str:
    """One event of the events array, with what separates it from the one before: the text
    json.dumps gives the event's object (its string encoder, separators and key order),
    written out field by field in less than half its time (one per event, while the command
    runs). This is the schema's event object; `_verdict` reads it back."""
    e = v.event
    sep = "\n  " if first else ",\n  "
    mode = "null" if e.mode is None else f'"{e.mode:#o}"'
    result = "null" if e.result is None else e.result
    known = None if v.explanation is None else v.explanation.id
    return ci_safe_json(
        f'{sep}{{"pid": {e.pid}, "tid": {e.tid}, "exe": {_encode_string(text_of(e.exe))}, '
        f'"syscall": {_encode_string(e.syscall)}, "op": {_encode_string(e.op)}, '
        f'"path": {_path(e.path)}, "target": {_path(e.target)}, "flags": {_string(e.flags)}, '
        f'"mode": {mode}, "result": {result}, "errno": {_string(e.errno)}, '
        f'"write": {_LITERAL[e.write]}, "unresolved": {_LITERAL[e.unresolved]}, '
        f'"allowed": {_LITERAL[v.allowed]}, "venv": {_path(v.venv)}, '
        f'"ro_forecast": {_string(v.ro_forecast)}, "explanation": {_string(known)}, '
        f'"harmless": {_LITERAL[v.harmless]}{_merged(v)}}}'
    )


def _merged(v: Verdict) -> str:
    """A merged trace's event: how many times it was written, and in which runs."""
    if not v.runs and v.count == 1:
        return ""
    return f', "count": {v.count}, "runs": [{", ".join(map(str, v.runs))}]'


class RenderedEvents:
    """Events rendered for the trace before its header is known (while the command runs),
    into a buffered scratch file (the spool's), for TraceWriter.extend once it is."""

    def __init__(self, scratch: IO[bytes]) -> None:
        self._fp = scratch
        self.count = 0

    def add(self, verdict: Verdict) -> None:
        self._fp.write(_event_line(verdict, self.count == 0).encode("ascii"))  # json.dumps escapes the rest
        self.count += 1

    def flush(self) -> None:
        """Everything rendered is in the scratch file (OSError if it could not all be written)."""
        self._fp.flush()

    def copy_to(self, fp: IO[str]) -> None:
        """Everything rendered, after what fp holds: in the kernel (sendfile) when fp is a regular
        file, so that no byte of the events passes through this process again."""
        self._fp.flush()
        if not self._send(fp):
            self._fp.seek(0)
            while chunk := self._fp.read(1 << 20):
                fp.write(chunk.decode("ascii"))

    def _send(self, fp: IO[str]) -> bool:
        """sendfile from the scratch file to fp's file: False, nothing sent, where it cannot be
        (not a regular file, O_APPEND, a filesystem without it); OSError if a write failed."""
        try:
            out = fp.fileno()
            if not stat.S_ISREG(os.fstat(out).st_mode):
                return False
            source = self._fp.fileno()
        except (OSError, ValueError):  # a StringIO, or closed: written as text
            return False
        fp.flush()
        size, offset = os.fstat(source).st_size, 0
        while offset < size:
            try:
                sent = os.sendfile(out, source, offset, size - offset)
            except OSError as exc:
                if offset == 0 and exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
                    return False
                raise
            if sent == 0:  # the scratch file is shorter than it said: what there was is sent
                break
            offset += sent
        return True

    def close(self) -> None:
        """Done with the scratch copy, also after a write to it failed: what is still buffered
        is dropped, not written again (which would fail the same way: EFBIG, ENOSPC)."""
        with contextlib.suppress(OSError):
            self._fp.close()


class TraceWriter:
    """Writes one trace to fp, event by event, so memory does not grow with the trace."""

    def __init__(self, fp: IO[str], header: TraceHeader) -> None:
        self._fp = fp
        self._first = True
        text = ci_safe_json(json.dumps(header_json(header)))
        fp.write(text[:-1] + ', "events": [')

    def add(self, verdict: Verdict) -> None:
        self._fp.write(_event_line(verdict, self._first))
        self._first = False

    def extend(self, rendered: RenderedEvents) -> None:
        """The events rendered before the header was known (as the first events)."""
        assert self._first, "rendered events come first"
        rendered.copy_to(self._fp)
        self._first = rendered.count == 0

    def close(self, summary: Summary, explanations: Iterable[Known] = ()) -> None:
        tail = {"summary": asdict(summary), "explanations": explanation_table(explanations)}
        self._fp.write("\n], " + json.dumps(tail)[1:] + "\n")
        self._fp.flush()


# -- from JSON -----------------------------------------------------------------------------------


_NAME = Lazy(r"[a-z0-9_]{1,40}")  # a syscall's name
_ERRNO = Lazy(r"ok|E[A-Z0-9_]{1,30}")  # a forecast: ok or an errno's name
_SIGNAL = Lazy(r"SIG[A-Z0-9+]{1,12}")
_TIME = Lazy(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z")  # a checkpoint's, UTC
# flags as tracer/flags.py names them: strace's names, and the bits without a name in hex
_FLAGS = Lazy(r"(?=.{1,400}\Z)(?:[A-Z_][A-Z0-9_]*|0x[0-9a-f]+)(?:\|(?:[A-Z_][A-Z0-9_]*|0x[0-9a-f]+))*")


def _named(obj: dict[str, Any], key: str, pattern: Lazy[str], default: Any = ...) -> Any:
    value = _field(obj, key, str, default)
    if isinstance(value, str) and not pattern.fullmatch(value):
        raise _Malformed(f"{key!r} is not a valid name: {value[:40]!r}")
    return value


class _Malformed(ValueError):
    """A field of the wrong type or range (turned into BadInput with the file's name)."""


def _field(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if key not in obj:
        if default is ...:
            raise _Malformed(f"missing {key!r}")
        return default
    value = obj[key]
    if value is None and default is None:
        return None
    # bool is an int in Python; JSON true is not a number here
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        raise _Malformed(f"{key!r} must be {_kind_name(kind)}, not {type(value).__name__}")
    return value


def _path_field(obj: dict[str, Any], key: str, default: Any = ...) -> Any:
    """A path field: a string without NUL (the kernel's paths end at one; os and every
    consumer of the path would refuse it)."""
    value = _field(obj, key, str, default)
    if isinstance(value, str) and "\0" in value:
        raise _Malformed(f"{key!r} holds a NUL byte, which no path can")
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in _kinds(kind))


def _generalised_out(g: Generalised) -> dict[str, Any]:
    """A name family as written: `most` only where it is known (absent: not known)."""
    out = asdict(g)
    if g.most is None:
        del out["most"]
    return out


def _int(obj: dict[str, Any], key: str, default: Any = ..., low: int = -(2**63), high: int = 2**63) -> Any:
    value = _field(obj, key, int, default)
    if value is not None and value is not default and not low <= value < high:
        raise _Malformed(f"{key!r} is out of range")
    return value


def _strings(obj: dict[str, Any], key: str, default: Any = ...) -> Any:
    value = _field(obj, key, list, default)
    if value is not None and not all(isinstance(s, str) for s in value):
        raise _Malformed(f"{key!r} must be a list of strings")
    return value


def _process(obj: object) -> ProcessInfo:
    if not isinstance(obj, dict):
        raise _Malformed("a process must be an object")
    return ProcessInfo(
        pid=_int(obj, "pid", low=0, high=2**32),
        ppid=_int(obj, "ppid", 0, low=0, high=2**32),
        uid=_int(obj, "uid", -1, low=-1, high=2**32),
        exe=os.fsencode(_path_field(obj, "exe", "")),
        cmdline=tuple(_strings(obj, "cmdline", [])),
        script=None if (script := _path_field(obj, "script", None)) is None else os.fsencode(script),
        cwd=None if (cwd := _path_field(obj, "cwd", None)) is None else os.fsencode(cwd),
    )


_EVENT_KEYS = frozenset({"events"})  # read event by event, each checked on its own


def _encodable(value: object) -> None:
    """Every string of the header (but the events') is one a run can give: text, or bytes
    escaped as surrogateescape writes them. A lone surrogate of another kind (`\\ud800`) is no
    name, path or value any run had, and no consumer could encode it."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            item.encode("utf-8", "surrogateescape")
        elif isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item


def _header(data: dict[str, Any]) -> TraceHeader:
    _encodable({k: v for k, v in data.items() if k not in _EVENT_KEYS})
    sandbox = _strings(data, "sandbox_writable", None)
    processes = _field(data, "processes", list, [])
    directories = _field(data, "directories", dict, {})
    if any("\0" in d for d in directories):
        raise _Malformed("a key of 'directories' holds a NUL byte, which no path can")
    states = {s.value: s for s in DirState}
    if not all(isinstance(s, str) and s in states for s in directories.values()):
        raise _Malformed(f"'directories' values must be one of {', '.join(states)}")
    checkpoint = _named(data, "checkpoint", _TIME, None)
    let_go = _let_go(data)
    return TraceHeader(
        command=list(_strings(data, "command")),
        cwd=_path_field(data, "cwd", ""),
        exit_code=_exit_code(data, checkpoint is not None or let_go),
        signal=_named(data, "signal", _SIGNAL, None),
        allowlist=list(_strings(data, "allowlist", [])),
        seccomp=_field(data, "seccomp", bool, True),
        all_opens=_field(data, "all_opens", bool, False),
        warnings=list(_strings(data, "warnings", [])),
        read_only=_field(data, "read_only", bool, False),
        sandbox_writable=None if sandbox is None else list(sandbox),
        processes=[_process(p) for p in processes],
        directories={os.fsencode(d): states[s] for d, s in directories.items()},
        environment=_environment(data),
        enforced=_int(data, "enforced", None, low=1, high=1000),
        labels=_labels(data),
        sources=(sources := [_source(s) for s in _field(data, "sources", list, [])]),
        generalised=[_generalised(g, len(sources)) for g in _field(data, "generalised", list, [])],
        checkpoint=checkpoint,
        let_go=let_go,
        stopped=_named(data, "stopped", _SIGNAL, None),
        remounted=list(_strings(data, "remounted", [])),
    )


def _let_go(data: dict[str, Any]) -> bool:
    return bool(_field(data, "let_go", bool, False))


def _exit_code(data: dict[str, Any], running: bool) -> int:
    """The command's status; a checkpoint, or a process let go, has none (null, read as 0:
    header.checkpoint or header.let_go says it)."""
    code = _int(data, "exit_code", None if running else ..., low=-(2**31), high=2**31)
    return 0 if code is None else int(code)


def _labels(data: dict[str, Any]) -> dict[str, str]:
    labels = _field(data, "labels", dict, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise _Malformed("'labels' must map names to strings")
    return dict(labels)


def _source(obj: object) -> Source:
    if not isinstance(obj, dict):
        raise _Malformed("a source must be an object")
    checkpoint = _named(obj, "checkpoint", _TIME, None)
    let_go = _let_go(obj)
    return Source(
        command=list(_strings(obj, "command")),
        cwd=_path_field(obj, "cwd"),
        exit_code=_exit_code(obj, checkpoint is not None or let_go),
        signal=_named(obj, "signal", _SIGNAL, None),
        environment=_environment(obj),
        programs=list(_strings(obj, "programs", [])),
        kernel=_field(obj, "kernel", str, None),
        rotrace_version=_field(obj, "rotrace_version", str, ""),
        labels=_labels(obj),
        path=_path_field(obj, "path", ""),
        checkpoint=checkpoint,
        let_go=let_go,
        stopped=_named(obj, "stopped", _SIGNAL, None),
    )


def _generalised(obj: object, sources: int) -> Generalised:
    if not isinstance(obj, dict):
        raise _Malformed("a generalised name must be an object")
    runs = _field(obj, "runs", list)
    if not all(isinstance(r, int) and not isinstance(r, bool) and 0 <= r < 2**32 for r in runs):
        raise _Malformed("'runs' must be a list of run indices")
    _check_runs(tuple(runs), sources)
    glob = _field(obj, "glob", str)
    try:
        glob_regex(glob)
    except re.error:  # what `merge` writes is literal characters and [...] classes of them
        raise _Malformed(f"a generalised name is no glob `merge` makes: {glob!r}") from None
    return Generalised(glob, _int(obj, "names", low=1), tuple(runs), _int(obj, "most", None, low=0))


def _environment(data: dict[str, Any]) -> dict[str, str]:
    env = _field(data, "environment", dict, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise _Malformed("'environment' must map names to strings")
    return dict(env)


def _verdict(obj: object, masks: Redactor | None = None) -> Verdict:
    """An event of a trace; `masks`: its header's (the secrets its command lines and environment
    show, masked in a symbolic link's content too), else by form alone."""
    if not isinstance(obj, dict):
        raise _Malformed("an event must be an object")
    op = _field(obj, "op", str)
    if op not in OPS:
        raise _Malformed(f"unknown op {op!r}")
    mode = _field(obj, "mode", str, None)
    try:
        mode_value = None if mode is None else int(mode, 8)
    except ValueError:
        raise _Malformed(f"'mode' must be an octal string, not {mode!r}") from None
    target = _path_field(obj, "target", None)
    if op == "symlink" and target:  # what the command gave, no place (a trace anyone may have edited)
        target = masks.text(target) if masks is not None else redact_text(target)
    venv = _path_field(obj, "venv", None)
    explanation = _field(obj, "explanation", str, None)
    event = FileEvent(
        pid=_int(obj, "pid", low=0, high=2**32),
        tid=_int(obj, "tid", low=0, high=2**32),
        exe=os.fsencode(_path_field(obj, "exe", "") or ""),
        syscall=_named(obj, "syscall", _NAME),
        op=op,
        path=os.fsencode(_path_field(obj, "path")),
        target=None if target is None else os.fsencode(target),
        flags=_named(obj, "flags", _FLAGS, None),
        mode=mode_value,
        result=_int(obj, "result", None),
        write=_field(obj, "write", bool),
        unresolved=_field(obj, "unresolved", bool, False),
    )
    if not event.write and not _only_reads(event):
        raise _Malformed(f"'write' is false for a {event.syscall} ({event.op}), which writes")
    runs = _field(obj, "runs", list, [])
    if not all(isinstance(r, int) and not isinstance(r, bool) and 0 <= r < 2**32 for r in runs):
        raise _Malformed("'runs' must be a list of run indices")
    return Verdict(
        event,
        _field(obj, "allowed", bool, None),
        None if venv is None else os.fsencode(venv),
        _named(obj, "ro_forecast", _ERRNO, None),
        None if explanation is None else BY_ID.get(explanation),
        _field(obj, "harmless", bool, False),
        _int(obj, "count", 1, low=1),
        tuple(runs),
    )


# The calls the tracer records as no write: an open without write access (--all-opens)
_OPENING = frozenset({"open", "openat", "openat2", "open_by_handle_at"})
_WRITE_ACCESS = frozenset(
    {"O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND", "O_TMPFILE", "__O_TMPFILE"}
)


def _only_reads(event: FileEvent) -> bool:
    """An event the tracer could have recorded with `write` false: an open of one of the
    opening calls, whose flags ask no write access (or O_PATH, which ignores them)."""
    if event.op != "open" or event.syscall not in _OPENING:
        return False
    flags = frozenset((event.flags or "").split("|"))
    if any(f.startswith("0x") for f in flags):
        return False  # bits without a name: any could be a write's
    return "O_PATH" in flags or not flags & _WRITE_ACCESS


_EVENTS_OPEN = ', "events": ['
# What the reader takes in one piece: the writer's header line, one line of its events, and a
# trace in another layout (parsed whole, in memory several times over).
HEADER_LIMIT = 64 * MiB
EVENT_LIMIT = 16 * MiB
WHOLE_LIMIT = 1024 * MiB


def _load(text: str, path: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSON, too many digits, too deep
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise BadInput(f"{path} is not a rotrace JSON trace: {reason}") from None


def _check(data: Any, path: str) -> TraceHeader:
    if not isinstance(data, dict) or "schema" not in data or "events" not in data:
        raise BadInput(f"{path} is not a rotrace JSON trace (no 'schema' and 'events')")
    if data["schema"] not in READABLE or isinstance(data["schema"], bool):
        versions = ", ".join(map(str, READABLE))
        raise BadInput(
            f"{path}: trace schema {data['schema']!r} is not supported (this rotrace reads {versions})"
        )
    try:
        return _header(data)
    except (_Malformed, UnicodeEncodeError) as exc:
        raise BadInput(f"{path}: malformed trace header: {exc}") from None


class Verdicts:
    """A trace's events, read from the file each time they are iterated: memory stays flat.

    The writer puts the header on the first line and each event on a line of its own, so the
    reader parses one line at a time; a trace laid out otherwise (reformatted by jq, say) is
    read whole, and is still validated the same way.
    """

    def __init__(
        self, path: str, runs: int, events: list[Any] | None = None, masks: Redactor | None = None
    ) -> None:
        self.path = path
        self._runs = runs  # a merged trace's sources (0: one run, whose events name none)
        self._events = events  # a trace in another layout, already parsed
        self._masks = masks  # the header's (TraceHeader.masks)

    def _objects(self) -> Iterator[Any]:
        if self._events is not None:
            yield from self._events
            return
        f, _ = open_input(self.path, "trace")
        with f:
            try:
                f.readline(HEADER_LIMIT)  # the header
                while line := f.readline(EVENT_LIMIT + 1):
                    if len(line) > EVENT_LIMIT:
                        too_long = f"a line of its events is longer than {EVENT_LIMIT // MiB} MiB"
                        raise BadInput(f"{self.path}: {too_long}")
                    text = line.decode("utf-8").strip()
                    if text.startswith("]"):
                        return
                    yield _load(text.removesuffix(","), self.path)
            except (OSError, UnicodeDecodeError) as exc:
                raise BadInput(f"cannot read trace {self.path}: {exc}") from None
        raise BadInput(f"{self.path} is not a rotrace JSON trace: it ends inside the events")

    def __iter__(self) -> Iterator[Verdict]:
        for i, obj in enumerate(self._objects()):
            try:
                verdict = _verdict(obj, self._masks)
                _check_runs(verdict.runs, self._runs)
            except (_Malformed, UnicodeEncodeError) as exc:
                raise BadInput(f"{self.path}: event {i} is malformed: {exc}") from None
            yield verdict


def _check_runs(runs: tuple[int, ...], sources: int) -> None:
    """A merged trace's run indices name its sources: one past them would count a run the
    trace does not hold ("seen in 3 of 2 runs")."""
    if runs and max(runs) >= sources:
        held = f"its {sources} sources" if sources else "no sources (not a merged trace)"
        raise _Malformed(f"'runs' names run {max(runs)}, and the trace has {held}")


def read_trace(path: str) -> tuple[TraceHeader, Verdicts]:
    """A trace file's header, and its events to iterate; BadInput with a one-line reason if it
    is not a trace. A trace as the writer lays it out is streamed from the file; in another
    layout (reformatted by jq), or from a pipe, it is read whole; a pipe cannot be read twice, so
    what it held answers each later read of it (`merge` and `kube harden` read a trace twice)."""
    if path in _PIPED:
        return _PIPED[path]
    f, pipe = open_input(path, "trace")
    with f:
        try:
            if not pipe:
                first = f.readline(HEADER_LIMIT).decode("utf-8").rstrip("\n")
                if first.endswith(_EVENTS_OPEN):  # the writer's own layout: stream it
                    head = _load(first[: -len(_EVENTS_OPEN)] + ', "events": []}', path)
                    header = _check(head, path)
                    return header, Verdicts(path, len(header.sources), masks=header.masks)
                f.seek(0)
            text = read_whole(f, path, "trace", WHOLE_LIMIT).decode("utf-8")
        except OSError as exc:
            raise BadInput(f"cannot read trace {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise BadInput(f"{path} is not a rotrace JSON trace: {exc}") from None
    data = _load(text, path)
    header = _check(data, path)
    try:
        events = _field(data, "events", list)
    except _Malformed as exc:
        raise BadInput(f"{path}: malformed trace header: {exc}") from None
    if pipe:
        _PIPED[path] = header, Verdicts(path, len(header.sources), events, header.masks)
    return header, Verdicts(path, len(header.sources), events, header.masks)


_PIPED: dict[str, tuple[TraceHeader, Verdicts]] = {}  # the traces read from pipes, by path


def trace_files(arguments: list[str]) -> list[str]:
    """Trace files from a command's arguments: files, globs, and directories (their *.json):
    a CI job's directory of traces, one per matrix cell, is one argument. What a directory or a
    glob holds is taken when it is a regular file: a FIFO there would be waited on for ever."""
    found: list[str] = []
    for arg in arguments:
        if os.path.isdir(arg):
            found += sorted(
                p for p in glob.glob(os.path.join(glob.escape(arg), "*.json")) if os.path.isfile(p)
            )
        elif not os.path.exists(arg) and glob.has_magic(arg):
            matched = sorted(p for p in glob.glob(arg) if os.path.isfile(p))
            if not matched:
                raise BadInput(f"no trace matches {arg!r}")
            found += matched
        else:
            found.append(arg)
    found = list(dict.fromkeys(found))
    if not found:
        raise BadInput("no traces: a directory given holds no *.json")
    return _once_each(found)


def trace_sets(arguments: list[str]) -> list[tuple[str, str]]:
    """The arguments of `trace_files` that stand for many files (a directory, a glob), each with
    the glob of the names it stands for: (argument, glob)."""
    sets = []
    for arg in arguments:
        if os.path.isdir(arg):  # (as `trace_files` reads it: Python's glob, which the gate matches by)
            sets.append((arg, os.path.join(glob.escape(arg), "*.json")))
        elif not os.path.exists(arg) and glob.has_magic(arg):
            sets.append((arg, arg))
    return sets


def _once_each(paths: list[str]) -> list[str]:
    """Each file once, however it was named (`traces ./traces`, `a.json ./a.json`, a symlink to
    it): a run named twice is one run, not "seen in 2 of 2 runs"."""
    seen: set[tuple[int, int]] = set()
    kept = []
    for path in paths:
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            kept.append(path)  # read (and refused) as it is named
            continue
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            kept.append(path)
    return kept
