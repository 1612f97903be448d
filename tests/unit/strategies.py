"""Hypothesis strategies for what the JSON trace holds: any value its writer can be given."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from hypothesis import strategies as st

from rotrace.events import OPS, DirState, FileEvent, ProcessInfo
from rotrace.explain import KNOWN
from rotrace.policy.verdict import Verdict
from rotrace.record import Generalised, Source, TraceHeader, signal_name
from rotrace.tracer.flags import at_flags, rename_flags

ids = st.integers(0, 2**32 - 1)
names = st.from_regex(r"[a-z0-9_]{1,40}", fullmatch=True)
paths = st.binary(max_size=40).map(lambda raw: raw.replace(b"\0", b""))  # a kernel path ends at a NUL
texts = st.builds(lambda raw: raw.decode("utf-8", "surrogateescape"), paths)  # as os.fsdecode makes them
# Flags as the tracer names them (tracer/flags.py): names, and the bits it has no name for in hex.
flags = (
    st.sampled_from(["O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC", "O_RDWR|O_CREAT|O_EXCL", "O_WRONLY|__O_SYNC"])
    | st.builds(at_flags, st.integers(0, 2**32 - 1))
    | st.builds(rename_flags, st.integers(0, 2**32 - 1))
)
# What the tracer records as no write is an open without write access (--all-opens)
read_flags = st.sampled_from([None, "O_RDONLY|O_CLOEXEC", "O_RDONLY|O_DIRECTORY", "O_PATH|O_CREAT|O_WRONLY"])
events = st.builds(
    FileEvent,
    ids, ids, paths, names, st.sampled_from(OPS), paths, st.none() | paths,
    st.none() | flags, st.none() | st.integers(0, 2**40),
    st.none() | st.integers(-(2**63), 2**63 - 1), st.booleans(), st.booleans(),
).flatmap(
    lambda e: st.just(e) if e.write else st.builds(
        lambda syscall, flags: e._replace(op="open", syscall=syscall, flags=flags),
        st.sampled_from(["open", "openat", "openat2", "open_by_handle_at"]), read_flags,
    )
)  # fmt: skip
verdicts = st.builds(
    Verdict, events, st.none() | st.booleans(), st.none() | paths,
    st.none() | st.from_regex(r"ok|E[A-Z0-9_]{1,30}", fullmatch=True), st.none() | st.sampled_from(KNOWN),
    st.booleans(), st.integers(1, 2**40), st.lists(st.integers(0, 99), max_size=3).map(tuple),
)  # fmt: skip
processes = st.builds(
    ProcessInfo, ids, ids, st.integers(-1, 2**32 - 1), paths, st.tuples(texts, texts).map(tuple),
    st.none() | paths, st.none() | paths,
)  # fmt: skip
# `run --checkpoint`: when a trace of a run still going was written (UTC)
checkpoint_times = st.datetimes(
    min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2999, 12, 31)
).map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"))
headers = st.builds(
    TraceHeader,
    command=st.lists(texts, min_size=1, max_size=3),
    cwd=texts,
    exit_code=st.integers(0, 255),
    signal=st.none() | st.integers(1, 64).map(signal_name),
    allowlist=st.lists(texts, max_size=3),
    seccomp=st.booleans(),
    all_opens=st.booleans(),
    warnings=st.lists(st.text(max_size=20), max_size=2),
    read_only=st.booleans(),
    sandbox_writable=st.none() | st.lists(texts, max_size=2),
    processes=st.lists(processes, max_size=3),
    directories=st.dictionaries(paths, st.sampled_from(DirState), max_size=3),
    environment=st.dictionaries(st.sampled_from(["HOME", "UV_NO_SYNC", "uid"]), st.text(max_size=10)),
    enforced=st.none() | st.integers(1, 7),
    labels=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2),
    sources=st.lists(
        st.builds(
            Source,
            command=st.lists(texts, max_size=2),
            cwd=texts,
            exit_code=st.integers(0, 255),
            programs=st.lists(texts, max_size=2),
            labels=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2),
            checkpoint=st.none() | checkpoint_times,
        ),
        max_size=2,
    ),
    generalised=st.lists(
        st.builds(Generalised, texts, st.integers(1, 99), st.lists(st.integers(0, 9), max_size=3).map(tuple)),
        max_size=2,
    ),
    checkpoint=st.none() | checkpoint_times,
).map(lambda h: dataclasses.replace(h, generalised=[_fitted(g, len(h.sources)) for g in h.generalised]))


def _fitted(item: Any, sources: int) -> Any:
    """A generalised name or a verdict whose run indices name runs the trace holds: its
    sources (none in a trace of one run)."""
    return dataclasses.replace(item, runs=tuple(sorted({r % sources for r in item.runs})) if sources else ())


@st.composite
def traces(draw: st.DrawFn, max_events: int = 4) -> tuple[TraceHeader, list[Verdict]]:
    """A header and events the writer can be given together: the events' runs are the header's."""
    header: TraceHeader = draw(headers)
    found: list[Verdict] = draw(st.lists(verdicts, max_size=max_events))
    return header, [_fitted(v, len(header.sources)) for v in found]
