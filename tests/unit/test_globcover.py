"""Whether an allowlist glob covers every name a merged trace's glob stands for (policy/globcover.py),
with wcmatch, which reads the allowlist's globs, as the oracle: over every name of small sets."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from wcmatch import glob as wcglob

from rotrace.policy.allowlist import build_allowlist
from rotrace.policy.globcover import covers, merged_name
from rotrace.policy.verdict import Classifier
from tests.unit.factories import event

ALPHABET = "ab0.-"
FLAGS = wcglob.GLOBSTAR | wcglob.DOTGLOB

sets = st.frozensets(st.sampled_from(ALPHABET), min_size=1, max_size=3)
names = st.lists(sets, min_size=1, max_size=4).map(tuple)


def _bracket(chars: str, negated: bool) -> str:
    return "[" + ("!" if negated else "") + chars + "]"


tokens = st.one_of(
    st.sampled_from([*ALPHABET, "*", "?", "[a-b]", "[0-9]", "[!a]", "[^.]", "[-a]", "[]a]", "\\*"]),
    st.builds(_bracket, st.text(alphabet="ab0", min_size=1, max_size=2), st.booleans()),
)
globs = st.lists(tokens, min_size=1, max_size=5).map("".join)


@settings(max_examples=400, deadline=None)
@given(name=names, glob=globs)
def test_a_glob_covers_a_name_exactly_when_wcmatch_matches_every_name_it_stands_for(name, glob) -> None:  # type: ignore[no-untyped-def]
    """Exact, not only sound: allowed when every name of the sets is matched, refused when one
    is not (`.` and `..` are no names a run writes)."""
    matcher = wcglob.compile(f"/d/{glob}", flags=FLAGS, limit=0)
    spelled = ["".join(chars) for chars in itertools.product(*name)]
    assume(not {".", ".."} & set(spelled))  # a merged glob never stands for them
    every = all(matcher.match(f"/d/{n}") for n in spelled)
    path = ((), tuple(frozenset(c) for c in "d"), name)
    assert covers(f"/d/{glob}", path) == every, (glob, name)


def test_globstar_and_a_match_above_cover_whats_below() -> None:
    path = tuple(
        merged_name(c, glob=c.startswith("[")) for c in ["", "srv", "app", "[0-9a-f][0-9a-f][0-9a-f]", "log"]
    )
    assert covers("/srv/**/log", path) and covers("/srv/*/[0-9a-f]*", path) and covers("/srv/app/**", path)
    assert not covers("/srv/*/[0-9]*", path) and not covers("/srv/app/[[:xdigit:]]*/log", path)


def test_a_policy_glob_allows_a_merged_write_only_where_it_allows_every_name(tmp_path: Path) -> None:
    """Each of three runs' `uploads/<hex>.bin` passed `check --allow 'uploads/*.bin'`, their merge
    not (a glob was never matched against a merged glob's text). Allowed now where the glob
    allows every name the merged one stands for; `[!0-9]*` allows only some."""
    merged = "/srv/app/uploads/" + "[0-9a-f]" * 32 + ".bin"
    write = event(merged)
    cases = {"/srv/app/uploads/*.bin": True, "/srv/app/uploads/[0-9a-f]*": True, "/srv/app/**": True,
             "/srv/app/uploads/[!0-9]*": False, "/srv/app/uploads/*.txt": False}  # fmt: skip
    for entry, allowed in cases.items():
        classifier = Classifier(build_allowlist([entry], None, defaults=False), generalised=[merged])
        assert classifier.classify(write).allowed == allowed, entry


def test_every_class_merge_writes_is_read_as_its_characters_and_no_other_is_read() -> None:
    """A hand-made merged trace's `[^a]x.bin` stands for `.x.bin` too, which a policy's
    `[!.]x.bin` does not allow: it was read as the letters, digits and `_` but `a`, and allowed."""
    from rotrace.merge.generalise import _CLASSES

    for alphabet, glob in _CLASSES:
        assert merged_name(glob, glob=True) == (frozenset(alphabet),), glob
    assert merged_name("[-09]x", glob=True) == (frozenset("-09"), frozenset("x"))  # the characters seen
    for odd in ("[^a]x", "[+--]", "[\\]]", "[[:digit:]]"):
        assert merged_name(odd, glob=True) is None, odd


def test_a_merged_name_with_a_line_break_keeps_every_character() -> None:
    """A component is read place by place as merge writes it (pathnames.glob_places): a line
    break in a name (any byte is one) was no place at all, and the name read one shorter."""

    name = merged_name("a\nb[0-9]", glob=True)
    assert name is not None and len(name) == 4 and name[1] == frozenset("\n"), name
