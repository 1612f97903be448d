"""Names are untrusted (a traced program chooses them): one escaper for every place they reach.

`safe_text` is what a person reads: a terminal, a CI log, a comment in a generated file.
`is_plain` says whether a name can be written as it is, alone on a line (a value written raw,
such as a command-line flag, one per line); a name that is not plain is escaped, quoted by an
emitter that escapes (YAML double quotes), or left out. Both rest on one set of characters:
every line break that a terminal, YAML (`\\n \\r \\x85 \\u2028 \\u2029`), TOML or JSON honours,
every other control character (NUL included), the characters that reorder or hide text
(bidirectional overrides, zero-width characters, the BOM, fillers, tag characters, variation
selectors), and surrogates (not text). And the workflow commands a CI runner acts on: those it
reads anywhere in a line of a step's output (GitHub's legacy `##[command]`, Azure Pipelines'
`##vso[`), whose first `#` is escaped (`\x23` to a reader, `\u0023` in JSON and TOML strings,
an escape in a YAML double-quoted string), and GitHub's `::command::`, read from a line that
starts with it once its leading blanks are trimmed: a name that starts so (`::stop-commands::`
would silence every annotation after it) is not plain, and `safe_text` escapes its first `:`.
What a person reads may be wrapped at a terminal's width before it reaches a log (rotrace in
`docker run -t` in a CI step, where no variable says the log runs commands), so `safe_text`
also escapes the first `:` of each of the runner's own commands wherever it stands in a line
(`x ::error::forged`), leaving other `::` as they are (`tests/test_x.py::test_y`).
"""

from __future__ import annotations

import contextlib
import io
import re
from typing import Any

from rotrace.patterns import Lazy

NOT_PLAIN = Lazy(
    "[\x00-\x1f\x7f-\x9f"  # C0 (\n \r \v \f \x1c-\x1e), DEL, C1 (\x85 NEL)
    "\u2028\u2029"  # line and paragraph separators: line breaks to YAML 1.1, libyaml, JavaScript
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidirectional marks, embeddings, overrides
    "\u200b-\u200d\u2060-\u206f\ufeff"  # zero-width characters, invisible operators, the
    # deprecated format controls and the BOM. The rest of Unicode's default-ignorable code points
    # and others shown as nothing or as a blank: soft hyphen, combining grapheme joiner, Hangul
    # fillers, Khmer and Mongolian vowel marks, braille blank, variation selectors, shorthand
    # format controls, musical symbol formatting, tag characters
    "\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
    # the other format characters (Unicode's Cf): number signs and marks that take the next
    # characters into them, interlinear annotation (text that shows as nothing), hieroglyph
    # format controls
    "\u0600-\u0605\u06dd\u070f\u0890\u0891\u08e2\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\ufdd0-\ufdef\ufffe\uffff"  # noncharacters: no text holds them, and YAML refuses U+FFFE, U+FFFF
    "\ud800-\udfff]"  # surrogates: undecodable bytes (surrogateescape) or a broken string
)


# `##[`, `##vso[` (GitHub, Azure) and `##teamcity[` (TeamCity's service messages), any case: the
# `#` before them is the one escaped
CI_COMMAND = Lazy(r"#(?=#(?:vso|teamcity)?\[)", re.IGNORECASE)


# GitHub's workflow commands (the runner reads their names in any case): `::name` then a blank,
# `::`, or the name's end (what follows it in a line is another field's: a rename's ` -> x::y`);
# the `:` before them is the one escaped
GITHUB_COMMAND = Lazy(
    r":(?=:(?:error|warning|notice|debug|group|endgroup|add-mask|stop-commands|set-output|save-state"
    r"|add-path|set-env|add-matcher|remove-matcher|echo)(?:\s|::|$))",
    re.IGNORECASE,
)


def _starts_command(text: str) -> bool:
    """GitHub's runner trims a line's leading white space (any Unicode blank) before it looks
    for `::`."""
    return text.lstrip().startswith("::")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else code_escape(match.group())


def code_escape(char: str) -> str:
    """`\\uXXXX`, or `\\UXXXXXXXX` past the Basic Multilingual Plane: the escape TOML, YAML,
    JSON-ish and Python strings all read as the character."""
    code = ord(char)
    return f"\\U{code:08x}" if code > 0xFFFF else f"\\u{code:04x}"


def safe_text(value: bytes | str) -> str:
    """Printable text on one line: invalid UTF-8 bytes as \\xNN, every character of the set
    above as \\xNN or \\uNNNN. Idempotent: what it returns it leaves as it is."""
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
    # bytes kept by surrogateescape that together are UTF-8 are that text; a surrogate that no
    # byte stands for (a hand-made trace) is escaped below
    with contextlib.suppress(UnicodeEncodeError):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    text = NOT_PLAIN.sub(_escape_char, text)
    if "::" in text:
        text = GITHUB_COMMAND.sub(lambda _: "\\x3a", text)
    if _starts_command(text):
        blanks = len(text) - len(text.lstrip())
        text = f"{text[:blanks]}\\x3a{text[blanks + 1 :]}"
    return CI_COMMAND.sub(lambda _: "\\x23", text) if "#" in text else text


def is_plain(text: str, *, starts_line: bool = True) -> bool:
    """Nothing in `text` needs escaping: written as it is, it stays one line, shows what it is,
    is valid UTF-8, and is no CI command, nor (where it may start a line) GitHub's `::`."""
    return (
        NOT_PLAIN.search(text) is None
        and ("#" not in text or CI_COMMAND.search(text) is None)
        and not (starts_line and _starts_command(text))
    )


def not_plain_because(text: str) -> str:
    """What in `text` keeps it from being written as it is (`is_plain` is False): for a note."""
    if NOT_PLAIN.search(text) is not None:
        return "a line break, a control or invisible character, or bytes that are not UTF-8"
    return (
        "a CI log's command (`##[`, `##vso[`, `##teamcity[`, or `::` where a line starts),"
        " which a CI log would run"
    )


def ci_safe_json(text: str) -> str:
    """JSON text (or TOML: both read `\u0023` in a string as `#`) with no CI command in it: the
    sequences can only be inside its strings."""
    return CI_COMMAND.sub(lambda _: "\\u0023", text) if "##" in text else text


def _may_start_a_line_with_a_command(value: str) -> bool:
    """Whether a scalar written in block, plain or single-quoted style could put `::` at the
    start of a line: one of its own lines starts so, or it is long enough for the emitter to
    fold it (at a blank, which may come before a `::`)."""
    if "::" not in value:
        return False
    return len(value) > _FOLDED or any(_starts_command(line) for line in value.splitlines())


_FOLDED = 1_000  # shorter than any width rotrace's emitters fold at

# Inside a flow collection (`containers: [{name: app}]`, kept as the manifest had it), YAML 1.1
# readers (PyYAML, libyaml before 0.2) end a plain scalar at any of these (and at a `:` before
# one), which YAML 1.2 and ruamel allow inside one: `mountPath: /srv/app/q?m` was no YAML to
# them. Quoted there.
_FLOW_MARKS = frozenset(",?[]{}")


class EscapingEmitter:
    """A mixin for a YAML emitter (PyYAML's or ruamel.yaml's: the same methods) that writes every
    string holding a character of the set above in double quotes, each such character an escape.
    Left to themselves both write bidirectional overrides and zero-width characters raw (text
    reordered in an editor or a diff under review), and ruamel writes U+2028 raw inside single
    quotes, where a reader folds it and the indentation after it into one space: another path.
    A newline or a tab alone is left to the emitter, which writes both faithfully in any style
    (a block scalar stays a block scalar)."""

    event: Any
    allow_unicode: Any
    stream: Any
    flow_level: int

    def choose_scalar_style(self) -> Any:
        value = getattr(self.event, "value", None)
        if isinstance(value, str) and (
            not is_plain(value.replace("\n", "").replace("\t", ""))
            or _may_start_a_line_with_a_command(value)
            or (self.flow_level and _FLOW_MARKS.intersection(value))
        ):
            return '"'
        return super().choose_scalar_style()  # type: ignore[misc]

    def write_double_quoted(self, text: str, split: bool = True) -> None:
        split = split and "::" not in text  # folded, a line could start with it
        # the emitters' own test escapes C0, C1, line breaks and surrogates; with allow_unicode
        # off it escapes every character past ASCII, the rest of the set among them
        allow, self.allow_unicode = self.allow_unicode, self.allow_unicode and is_plain(text)
        stream = self.stream
        if "##" in text:  # what it writes, with the CI commands' first `#` as an escape
            self.stream = io.StringIO()
        try:
            super().write_double_quoted(text, split)  # type: ignore[misc]
        finally:
            self.allow_unicode = allow
            if self.stream is not stream:
                written, self.stream = self.stream.getvalue(), stream
                stream.write(CI_COMMAND.sub(lambda _: "\\x23", written))


_KUBELET_EXPANDED = Lazy(r"\$(?=[$(])")


def kubelet_literal(value: str) -> str:
    """`value` as a container's `command`, `args` or an `env` value must hold it for the kubelet
    to give it back as it is: the kubelet reads `$$` as `$` and `$(NAME)` as NAME's value, so
    each `$` that starts either is doubled (a `$` before anything else it leaves alone)."""
    return _KUBELET_EXPANDED.sub("$$", value)
