"""Per-run names made one glob, by evidence: sibling names (one directory, one operation) of
the same shape that differ between runs (tempfile's `tmpk3j_9x2a`, uv's `.tmpAbC123`, pids,
UUIDs, hex digests, timestamps, `.pyc.NNN`).

The shape is derived from the names, not from a list: each name is cut into words (runs of
letters, digits and `_`) and the separators between them; names with the same separators and
word lengths are one family. In each word the family's names share a literal prefix and suffix;
the middle becomes one character class per character, the class of what the names hold there
(digits, hex, lower or upper case letters, and lower case with digits as tempfile's alphabet,
which has `_` too). The glob is as long as the names: it never covers a sibling of another
length or alphabet (`templates` beside `tmpk3j_9x2a`), nor anything below a name (no `*`).

A name written in every run stays literal, and so does a word whose every value is written in
more than one run (a module's name beside its per-run suffix): the family is split by it. A
family is generalised only with enough evidence:
at least MIN_NAMES distinct names (two, where each is a name its maker draws afresh in each run:
`.tmpAbC123`, `tmp_obj_...`), written in at least two runs, each differing in at least
MIN_VARYING characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rotrace.pathnames import common_prefix, known_run_name

MIN_NAMES = 3
MIN_VARYING = 3
_TOKENS = re.compile(r"[A-Za-z0-9_]+|[^A-Za-z0-9_]")
_GLOB_META = re.compile(r"[*?\[\]\\]")
_CLASSES = (  # (characters, glob class), tried in order: the narrowest that holds the evidence
    (frozenset("0123456789"), "[0-9]"),
    (frozenset("0123456789abcdef"), "[0-9a-f]"),
    (frozenset("0123456789ABCDEF"), "[0-9A-F]"),
    (frozenset("abcdefghijklmnopqrstuvwxyz"), "[a-z]"),
    (frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), "[A-Z]"),
    (frozenset("abcdefghijklmnopqrstuvwxyz0123456789_"), "[a-z0-9_]"),  # tempfile's alphabet
    (frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"), "[A-Za-z]"),
    (frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"), "[A-Za-z0-9]"),
    (frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"), "[A-Za-z0-9_]"),
)


def frame(name: str) -> tuple[object, ...]:
    """A name's shape: its separators as they are, each word as its length."""
    return tuple(len(t) if t[0].isalnum() or t[0] == "_" else t for t in _TOKENS.findall(name))


def _number_edge(words: list[str], common: int) -> int:
    """The common prefix of `words` (`common` characters) short of a number that goes on past it
    in one of them: a counter's leading digits in common are chance (kombu's `<ms>_<uuid>`,
    `69772153_...` and `69781207_...`), as a whole number's are."""
    if common and words[0][common - 1].isdigit() and any(w[common : common + 1].isdigit() for w in words):
        while common and words[0][common - 1].isdigit():
            common -= 1
    return common


def _word(middle: str) -> bool:
    """A varying part that reads as a word, not a draw: letters only, in one case (tempfile's
    and mktemp's draws hold a digit, or mix cases: `DMAsDv`)."""
    return middle.isalpha() and (middle.islower() or middle.isupper() or middle.istitle())


def _digits_between(middles: list[str]) -> str | None:
    """Digits apart from separators in the same places (a time of day, `16_655` and `28_820`
    in npm's `T23_24_16_655Z`): the separators kept, each digit `[0-9]`, as the names' form
    compares them (a run's draw seldom is digits alone)."""
    first = middles[0]
    if any(len(m) != len(first) for m in middles):
        return None
    glob = []
    for i, c in enumerate(first):
        column = {m[i] for m in middles}
        if column <= frozenset("0123456789"):
            glob.append("[0-9]")
        elif len(column) == 1 and not c.isalnum():
            glob.append(c)
        else:
            return None
    return "".join(glob) if "[0-9]" in glob and len(glob) > glob.count("[0-9]") else None


def _class_of(chars: set[str]) -> str | None:
    for alphabet, glob in _CLASSES:
        if chars <= alphabet:
            return glob
    return None  # a word's characters are letters, digits and `_`: never here


@dataclass
class Family:
    """Names of one shape in one directory, for one operation."""

    names: dict[str, int] = field(default_factory=dict)  # name -> the runs it was written in (bits)

    def glob(self) -> tuple[str, int] | None:
        """The glob for the family's names, and how many characters vary; None when the names
        are not evidence of one per-run name (too few, one run, too little varying)."""
        names = list(self.names)
        runs = 0
        for bits in self.names.values():
            runs |= bits
        # a name its maker draws afresh in each run (`.tmpAbC123`: pathnames.known_run_name) is
        # evidence enough in two runs
        drawn = all(known_run_name(n) for n in names)
        least = 2 if drawn else MIN_NAMES
        if len(names) < least or runs.bit_count() < 2 or any(_GLOB_META.search(n) for n in names):
            return None  # too little evidence; a name with glob characters stays literal
        tokens = [_TOKENS.findall(n) for n in names]
        parts: list[str] = []
        varying = literal = 0
        middles_at: list[list[str]] = []
        for i, first in enumerate(tokens[0]):
            words = [t[i] for t in tokens]
            if all(w == first for w in words):
                parts.append(first)
                literal += len(first)
                continue
            if all(w.isdigit() and len(w) == len(first) for w in words):
                head = tail = 0  # a number that varies (a pid, a counter): its digits in common are chance
            else:
                head = _number_edge(words, common_prefix(words))
                backwards = [w[head:][::-1] for w in words]
                tail = _number_edge(backwards, common_prefix(backwards))
            middles = [w[head : len(w) - tail] for w in words]
            cls = _class_of({c for m in middles for c in m})
            if cls is None:
                return None
            varying += len(middles[0])
            literal += head + tail
            middles_at.append(middles)
            shape = _digits_between(middles)
            parts.append((first[:head]) + (shape or cls * len(middles[0])) + (first[len(first) - tail :]))
        if varying < MIN_VARYING:
            return None
        if not drawn and all(_word(m) for middles in middles_at for m in middles):
            return None  # words (a CI matrix's lint.toml, test.toml, docs.toml), no draws
        if not literal and cls == "[0-9]":  # a bare number (an epoch, a pid): any digits
            return "".join(parts), varying
        if not literal:  # nothing anchors the shape: each position allows what it was seen to hold
            (middles,) = middles_at
            seen = [sorted({m[j] for m in middles}) for j in range(len(middles[0]))]
            return "".join(cs[0] if len(cs) == 1 else "[" + "".join(cs) + "]" for cs in seen), varying
        return "".join(parts), varying


class Siblings:
    """The names written in one directory by one operation, over all runs: which to make one
    glob. Memory: one entry per distinct name."""

    def __init__(self) -> None:
        self.names: dict[str, int] = {}  # name -> runs (bits)

    def add(self, name: str, run: int) -> None:
        self.names[name] = self.names.get(name, 0) | (1 << run)

    def families(self, runs: int) -> list[tuple[str, Family]]:
        """(glob, family) for each family generalised; a name in every run stays literal."""
        every = (1 << runs) - 1
        by_frame: dict[tuple[object, ...], Family] = {}
        for name, bits in self.names.items():
            if bits == every or name in (".", ".."):
                continue
            # tempfile's names are one family per prefix as its caller spelt it (`tmp` beside
            # virtualenv's `TmP`: a family of both, with no literal part, kept only the
            # characters seen at each place)
            maker = name[:3] if name[:3].lower() == "tmp" else None
            by_frame.setdefault((*frame(name), maker), Family()).names[name] = bits
        found = []
        for family in (part for whole in by_frame.values() for part in _by_steady_words(whole)):
            made = family.glob()
            if made is not None:
                found.append((made[0], family))
        return found


def _by_steady_words(family: Family) -> list[Family]:
    """The family split by its steady words: a word each of whose values is written in more
    than one run is no per-run name (`lexer` and `nodes` in `lexer.cpython-311.pyc.NNN`,
    `nodes.cpython-311.pyc.NNN`, both compiled in every run), so names differing there are
    not one per-run name; only the words that change from run to run are made a glob."""
    tokens = {name: _TOKENS.findall(name) for name in family.names}
    width = len(next(iter(tokens.values())))
    runs_of: list[dict[str, int]] = [{} for _ in range(width)]
    for name, bits in family.names.items():
        for i, token in enumerate(tokens[name]):
            runs_of[i][token] = runs_of[i].get(token, 0) | bits
    steady = [
        i
        for i, values in enumerate(runs_of)
        if len(values) > 1 and all(b.bit_count() > 1 for b in values.values())
    ]
    if not steady:
        return [family]
    parts: dict[tuple[str, ...], Family] = {}
    for name, bits in family.names.items():
        parts.setdefault(tuple(tokens[name][i] for i in steady), Family()).names[name] = bits
    return list(parts.values())
