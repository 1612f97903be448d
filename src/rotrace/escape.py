"""Names are untrusted (a traced program chooses them): one escaper for every place they reach.

`safe_text` is what a person reads: a terminal, a CI log, a comment in a generated file.
`is_plain` says whether a name can be written as it is, alone on a line (a value written raw,
such as a command-line flag, one per line); a name that is not plain is escaped, quoted by an
emitter that escapes (YAML double quotes), or left out. Both rest on one set of characters:
every line break that a terminal, YAML (`\\n \\r \\x85 \\u2028 \\u2029`), TOML or JSON honours,
every other control character (NUL included), the characters that reorder or hide text
(bidirectional overrides, zero-width characters, the BOM), and surrogates (not text).
"""

from __future__ import annotations

import contextlib
import re

NOT_PLAIN = re.compile(
    "[\x00-\x1f\x7f-\x9f"  # C0 (\n \r \v \f \x1c-\x1e), DEL, C1 (\x85 NEL)
    "\u2028\u2029"  # line and paragraph separators: line breaks to YAML 1.1, libyaml, JavaScript
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidirectional marks, embeddings, overrides
    "\u200b-\u200d\u2060-\u2064\ufeff"  # zero-width characters and the BOM: invisible
    "\ud800-\udfff]"  # surrogates: undecodable bytes (surrogateescape) or a broken string
)


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value: bytes | str) -> str:
    """Printable text on one line: invalid UTF-8 bytes as \\xNN, every character of the set
    above as \\xNN or \\uNNNN. Idempotent: what it returns it leaves as it is."""
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
    # bytes kept by surrogateescape that together are UTF-8 are that text; a surrogate that no
    # byte stands for (a hand-made trace) is escaped below
    with contextlib.suppress(UnicodeEncodeError):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return NOT_PLAIN.sub(_escape_char, text)


def is_plain(text: str) -> bool:
    """Nothing in `text` needs escaping: written as it is, it stays one line, shows what it is,
    and is valid UTF-8."""
    return NOT_PLAIN.search(text) is None
