"""File names are untrusted: make them safe to print on a terminal."""

from __future__ import annotations

import re

# C0/C1 controls, DEL, and bidirectional overrides that can reorder what a terminal shows.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value: bytes | str) -> str:
    """Printable text: invalid UTF-8 bytes as \\xNN, control and bidi characters escaped."""
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _UNSAFE.sub(_escape_char, text)
