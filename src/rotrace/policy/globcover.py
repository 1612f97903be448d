"""Whether an allowlist glob covers every name a merged trace's glob stands for.

`rotrace merge` writes the per-run names of its runs (`uploads/3f2a...c8d.bin`) as a glob of
character classes (`uploads/[0-9a-f]...[0-9a-f].bin`): a name each run wrote there, and any a
later run will. A policy's `uploads/*.bin` allows every one of them, so it allows the merged
write; `uploads/[!0-9]*` allows some and not others, so it does not. Matching the glob's text
against the policy's glob answers neither (its `[` is no name's character), so the question is
one of languages: is every name of the merged glob one of the policy glob's? Each merged name is
a fixed sequence of character sets; the policy glob, wcmatch's syntax (`*`, `?`, `[...]` with
ranges and `!` or `^`, backslash escapes, `**` for any number of directories), is read as a
small automaton and run over the sets, every character that leads elsewhere followed apart.

A glob with anything else in it (a POSIX class) covers nothing here: a merged write stays a
violation rather than be allowed by a reading of the glob wcmatch may not share. The allowlist
then checks what this module answers against wcmatch itself, on names drawn from the sets.
"""

from __future__ import annotations

from functools import cache

from rotrace.pathnames import glob_places

# a name's characters at each position: a merged glob's class, or one literal character
Name = tuple[frozenset[str], ...]

_LIMIT = 4096  # sets of states followed at once: beyond, not covered (never wrongly allowed)


class _Set:
    """A `[...]` of the policy's glob: its characters, or all others (`[!...]`, `[^...]`)."""

    __slots__ = ("chars", "negated")

    def __init__(self, chars: frozenset[str], negated: bool) -> None:
        self.chars = chars
        self.negated = negated

    def __contains__(self, c: str) -> bool:
        return c != "/" and (c not in self.chars) == self.negated


class _Star:
    """`*`: any characters of one name, none too."""


_STAR = _Star()
_ANY = _Set(frozenset(), negated=True)  # `?`: any one character of a name
_Token = str | _Set | _Star  # a literal character, or one of those


def _bracket(text: str, start: int) -> tuple[_Set, int] | None:
    """The set opening at text[start] (`[`), and the index after it; None: no set (wcmatch
    then reads the `[` as itself: not followed here) or a POSIX class."""
    i = start + 1
    negated = i < len(text) and text[i] in "!^"
    if negated:
        i += 1
    chars: set[str] = set()
    first = True
    while i < len(text):
        c = text[i]
        if c == "]" and not first:
            return _Set(frozenset(chars), negated), i + 1
        if c == "[" and text.startswith("[:", i):
            return None
        if c == "\\" and i + 1 < len(text):
            i += 1
            c = text[i]
        low, i = c, i + 1
        if i + 1 < len(text) and text[i] == "-" and text[i + 1] != "]":
            high = text[i + 1]
            if high == "\\" and i + 2 < len(text):
                high, i = text[i + 2], i + 1
            chars.update(chr(n) for n in range(ord(low), ord(high) + 1))
            i += 2
        else:
            chars.add(low)
        first = False
    return None


def _tokens(component: str) -> tuple[_Token, ...] | None:
    """A component of the policy's glob as tokens; None where it holds what is not followed."""
    out: list[_Token] = []
    i = 0
    while i < len(component):
        c = component[i]
        if c == "\\" and i + 1 < len(component):
            out.append(component[i + 1])
            i += 2
        elif c == "*":
            if not out or out[-1] is not _STAR:
                out.append(_STAR)
            i += 1
        elif c == "?":
            out.append(_ANY)
            i += 1
        elif c == "[":
            found = _bracket(component, i)
            if found is None:
                return None
            out.append(found[0])
            i = found[1]
        else:
            out.append(c)
            i += 1
    return tuple(out)


def _closure(tokens: tuple[_Token, ...], states: frozenset[int]) -> frozenset[int]:
    """States and those a `*` matching nothing leads to."""
    found = set(states)
    for state in states:
        s = state
        while s < len(tokens) and tokens[s] is _STAR:
            s += 1
            found.add(s)
    return frozenset(found)


def _step(tokens: tuple[_Token, ...], states: frozenset[int], c: str) -> frozenset[int]:
    nxt: set[int] = set()
    for s in states:
        if s == len(tokens):
            continue
        t = tokens[s]
        if t is _STAR:
            if c != "/":
                nxt.add(s)
        elif isinstance(t, _Set):
            if c in t:
                nxt.add(s + 1)
        elif t == c:
            nxt.add(s + 1)
    return _closure(tokens, frozenset(nxt))


def name_covered(name: Name, tokens: tuple[_Token, ...]) -> bool:
    """Every name of the sets `name` matches the component `tokens`."""
    current = {_closure(tokens, frozenset({0}))}
    for chars in name:
        reached: set[frozenset[int]] = set()
        for states in current:
            for c in chars:
                reached.add(_step(tokens, states, c))
        if len(reached) > _LIMIT or frozenset() in reached:
            return False
        current = reached
    return all(len(tokens) in states for states in current)


@cache
def _glob(pattern: str) -> tuple[tuple[_Token, ...] | None, ...] | None:
    """The policy glob's components (None for `**`); None: a component not followed."""
    parts: list[tuple[_Token, ...] | None] = []
    for component in pattern.split("/"):
        if component == "**":
            parts.append(None)
            continue
        tokens = _tokens(component)
        if tokens is None:
            return None
        parts.append(tokens)
    return tuple(parts)


def covers(pattern: str, path: tuple[Name, ...]) -> bool:
    """The policy glob `pattern` matches every path of `path` (its components' sets), or a
    directory above each: a glob's match covers what is below it."""
    glob = _glob(pattern)
    if glob is None:
        return False

    @cache
    def from_(i: int, j: int) -> bool:
        if j == len(glob):
            return True  # the glob matched this path or a directory above it
        part = glob[j]
        if part is None:  # `**`: no component, or one more
            return from_(i, j + 1) or (i < len(path) and from_(i + 1, j))
        return i < len(path) and name_covered(path[i], part) and from_(i + 1, j + 1)

    return from_(0, 0)


def samples(path: tuple[Name, ...]) -> list[str]:
    """Paths of `path`'s sets: each position's first, last and middle character (the allowlist
    asks wcmatch about them, a check on what `covers` answered)."""
    found = []
    for pick in (0, -1, None):
        parts = []
        for name in path:
            parts.append("".join(sorted(s)[len(s) // 2 if pick is None else pick] for s in name))
        found.append("/".join(parts))
    return found


# The classes `rotrace merge` writes of ranges (merge/generalise.py), as sets
_RANGES = {
    spelled: frozenset(chr(c) for pair in pairs for c in range(ord(pair[0]), ord(pair[1]) + 1))
    for spelled, pairs in {
        "0-9": ("09",),
        "0-9a-f": ("09", "af"),
        "0-9A-F": ("09", "AF"),
        "a-z": ("az",),
        "A-Z": ("AZ",),
        "a-z0-9_": ("az", "09", "__"),
        "A-Za-z": ("AZ", "az"),
        "A-Za-z0-9": ("AZ", "az", "09"),
        "A-Za-z0-9_": ("AZ", "az", "09", "__"),
    }.items()
}


def merged_name(component: str, glob: bool) -> Name | None:
    """A component of a merged trace's path as sets: a glob of per-run names (`glob`) read as
    `rotrace merge` writes it (pathnames.glob_regex: each `[...]` one of its classes of ranges,
    or the characters seen there; the rest literal), any other name its characters. None: a
    class merge does not write (a negation, another range, an escape: a hand-made trace's),
    which no set here stands for exactly."""
    if not glob:
        return tuple(frozenset(c) for c in component)
    sets = []
    for token in glob_places(component):
        if not token.startswith("["):
            sets.append(frozenset(token))
            continue
        inside = token[1:-1]
        if inside in _RANGES:
            sets.append(_RANGES[inside])
        elif inside.startswith("^") or "\\" in inside or "[" in inside or "-" in inside[1:-1]:
            return None
        else:
            sets.append(frozenset(inside))
    return tuple(sets)
