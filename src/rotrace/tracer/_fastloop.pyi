"""The compiled hot path of the tracer's loop (_fastloop.c)."""

from collections.abc import Callable
from typing import Any

def run(
    threads: dict[int, Any],
    kinds: dict[int, bytes],
    on_decode: Callable[[int, Any, int, int, tuple[int, ...]], None],
    on_place: Callable[[int, Any, Any, int], None],
    on_emit: Callable[[int, Any, Any, int], None],
    seccomp: bool,
    started: bool,
    x32_bit: int,
    /,
) -> tuple[int, int, int]: ...
def hand_back() -> None: ...
def arm(fd: int, /) -> None: ...
def take() -> bool: ...
def cstring(fd: int, addr: int, /) -> bytes | None: ...
def statx(
    dirfd: int, path: bytes, flags: int, mask: int, /
) -> tuple[int, int, int, int, int, int] | None: ...
def place(
    base: bytes,
    raw: bytes,
    follow: bool,
    tid: int,
    plain: dict[int, bool],
    cwds: dict[int, bytes],
    real: dict[bytes, tuple[int, int, int, int]],
    unchecked: bool,
    mask: int,
    /,
) -> bytes | int: ...
def directory(
    base: bytes, head: bytes, tid: int, plain: dict[int, bool], cwds: dict[int, bytes], /
) -> bytes | int | None: ...
def lexical(base: bytes, raw: bytes, tid: int, cwds: dict[int, bytes], /) -> bytes | int | None: ...
