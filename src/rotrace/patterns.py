"""Regular expressions compiled the first time they are used.

Most of rotrace's patterns serve one kind of input (a policy file, a trace read back, a secret
of one shape, a name of one tool): compiled as their modules load, they cost every run a few
milliseconds before its command can start, most of them for nothing. A `Lazy` pattern is
compiled on its first call, then each method is the compiled pattern's own.

`decimal` reads a number from text rotrace does not control (an environment, a trace, a file
name): ASCII digits only, where str.isdigit() takes "²" (and int() then fails) and a number of
thousands of digits is past what int() converts.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from typing import AnyStr, Generic


class Lazy(Generic[AnyStr]):
    """`re.compile(source, flags)`, on first use; the methods rotrace calls on patterns."""

    def __init__(self, source: AnyStr, flags: int = 0) -> None:
        self.pattern: AnyStr = source
        self.flags = flags

    def _compiled(self) -> re.Pattern[AnyStr]:
        compiled = re.compile(self.pattern, self.flags)
        for name in ("search", "match", "fullmatch", "sub", "finditer", "findall", "split"):
            setattr(self, name, getattr(compiled, name))  # the next calls go straight there
        return compiled

    def search(self, string: AnyStr, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[AnyStr] | None:
        return self._compiled().search(string, pos, endpos)

    def match(self, string: AnyStr, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[AnyStr] | None:
        return self._compiled().match(string, pos, endpos)

    def fullmatch(self, string: AnyStr, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[AnyStr] | None:
        return self._compiled().fullmatch(string, pos, endpos)

    def sub(
        self, repl: AnyStr | Callable[[re.Match[AnyStr]], AnyStr], string: AnyStr, count: int = 0
    ) -> AnyStr:
        return self._compiled().sub(repl, string, count)

    def finditer(self, string: AnyStr, pos: int = 0, endpos: int = sys.maxsize) -> Iterator[re.Match[AnyStr]]:
        return self._compiled().finditer(string, pos, endpos)

    def findall(self, string: AnyStr, pos: int = 0, endpos: int = sys.maxsize) -> list[AnyStr]:
        return self._compiled().findall(string, pos, endpos)

    def split(self, string: AnyStr, maxsplit: int = 0) -> list[AnyStr]:
        return self._compiled().split(string, maxsplit)


_DECIMAL = re.compile(r"[0-9]{1,19}")


def decimal(text: str | bytes) -> int | None:
    """The number `text` spells in ASCII digits (at most 19: it fits 64 bits), else None."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    return int(text) if _DECIMAL.fullmatch(text) else None
