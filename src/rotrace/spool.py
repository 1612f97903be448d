"""The on-disk spool: events as the tracer emits them, and their verdicts, read back after the
command is done (for the report's second pass, or to classify again when what the end of the
run knows changed a verdict given while it ran). Memory stays flat however many events there
are.
"""

from __future__ import annotations

import io
import marshal
import os
from collections.abc import Iterable, Iterator
from typing import IO, Any

from rotrace.events import FileEvent


def anonymous_file(directory: str | None = None, buffered: bool = False) -> IO[bytes]:
    """An unnamed temporary file (O_TMPFILE: nothing to clean up, no tempfile import).
    Unbuffered for the spool (its batches are large; a failed write is seen at once), buffered
    for small writes.

    With no writable temporary directory at all (a read-only container without a tmpfs),
    the spool stays in memory.
    """
    directory = directory or os.environ.get("TMPDIR") or "/tmp"
    buffering = -1 if buffered else 0
    try:
        fd = os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_EXCL, 0o600)  # never to be linked in
    except OSError:  # a filesystem without O_TMPFILE, or nowhere writable
        import tempfile

        try:
            return tempfile.TemporaryFile(prefix="rotrace-", dir=directory, buffering=buffering)
        except OSError:
            return io.BytesIO()
    return os.fdopen(fd, "w+b", buffering=buffering)


class Spool:
    """Records (tuples of marshal-able values: FileEvent.astuple(), Verdict.astuple()) on disk
    in batches: fast, bytes-exact, and flat in memory. Iterating gives FileEvents."""

    BATCH = 4096

    def __init__(self, file: IO[bytes] | None = None) -> None:
        self._file: IO[bytes] = file if file is not None else anonymous_file()
        self._batch: list[tuple[object, ...]] = []
        self._sizes: list[int] = []  # bytes of each batch, to read it back in one call
        self._good = 0  # bytes of whole batches in the file
        self.count = 0
        self.warning: str | None = None

    def add(self, e: FileEvent) -> None:
        self.add_record(e.astuple())

    def add_record(self, record: tuple[object, ...]) -> None:
        self._batch.append(record)
        self.count += 1
        if len(self._batch) >= self.BATCH:
            self._flush()

    def extend(self, records: Iterable[tuple[object, ...]]) -> None:
        """Records, such as events as the tracer's process sends them (FileEvent.astuple())."""
        for record in records:
            self.add_record(record)

    def _flush(self) -> None:
        if not self._batch:
            return
        data = marshal.dumps(self._batch)
        try:
            view = memoryview(data)
            while view:
                view = view[self._file.write(view) or 0 :]
        except OSError as exc:  # the disk is full, or RLIMIT_FSIZE: carry on in memory
            self._to_memory(exc)
            self._file.write(data)
        self._good += len(data)
        self._sizes.append(len(data))
        self._batch = []

    def _to_memory(self, exc: OSError) -> None:
        self._file.seek(0)
        kept = self._file.read(self._good)
        self._file.close()
        self._file = io.BytesIO(kept)
        self._file.seek(0, io.SEEK_END)
        self.warning = (
            f"the event spool in $TMPDIR could not be written ({exc.strerror or exc}): "
            f"rotrace kept the events in memory from event {self.count - len(self._batch)} on"
        )

    def __iter__(self) -> Iterator[FileEvent]:
        """Every event so far, in order; may be iterated again."""
        return (FileEvent(*record) for record in self.records())

    def records(self) -> Iterator[tuple[Any, ...]]:
        """Every record so far, in order; may be iterated again."""
        self._flush()
        self._file.seek(0)
        for size in self._sizes:
            yield from marshal.loads(self._file.read(size))  # marshal.load would read piecemeal
        self._file.seek(0, io.SEEK_END)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
