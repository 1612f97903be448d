"""Per-run names made one glob by evidence (merge/generalise.py): families generated here, at
random; each glob is checked with the allowlist's own glob matching (wcmatch)."""

from __future__ import annotations

import os
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from rotrace.merge.generalise import Siblings
from rotrace.policy.allowlist import Allowlist

ALPHABETS = [string.ascii_lowercase + string.digits + "_", string.hexdigits[:16], string.digits,
             string.ascii_letters + string.digits]  # fmt: skip
prefixes = st.sampled_from(["tmp", ".tmp", "", "uv-", "foo.cpython-311.pyc.", "log-"])
suffixes = st.sampled_from(["", ".lock", ".json", ".part"])


@st.composite
def families(draw: st.DrawFn) -> tuple[str, str, int, list[str]]:
    prefix, suffix = draw(prefixes), draw(suffixes)
    alphabet = draw(st.sampled_from(ALPHABETS))
    length = draw(st.integers(4, 12))
    # (a name that starts with tempfile's `tmp` is a family of its own, apart from the others)
    word = st.text(alphabet, min_size=length, max_size=length).filter(
        lambda w: (prefix + w)[:3].lower() != "tmp"
    )
    names = draw(st.lists(word, min_size=3, max_size=8, unique=True))
    # the random part must differ from run to run: a word of another character set is no member
    return prefix, suffix, length, [prefix + n + suffix for n in names]


def _common(words: list[str]) -> int:
    n = 0
    while all(len(w) > n and w[n] == words[0][n] for w in words):
        n += 1
    return n


def _allows(glob: str, name: str) -> bool:
    return Allowlist([f"/srv/app/cache/{glob}"]).allows(os.fsencode(f"/srv/app/cache/{name}"))


@settings(max_examples=200)
@given(families())
def test_a_family_of_random_names_is_one_glob_that_holds_them_and_no_other_shape(
    family: tuple[str, str, int, list[str]],
) -> None:
    prefix, suffix, length, names = family
    siblings = Siblings()
    for run, name in enumerate(names):
        siblings.add(name, run % 5)
    siblings.add("app.log", 0)  # written once: never evidence of a family on its own
    found = siblings.families(5)
    members = {n for _, f in found for n in f.names}
    for glob, f in found:
        assert "*" not in glob and "/" not in glob
        assert all(_allows(glob, n) for n in f.names)
        assert not _allows(glob, prefix + "x" * (length + 1) + suffix)  # one longer
        assert not _allows(glob, prefix + "-" * length + suffix)  # another character class
        assert not _allows(glob, prefix + "A" * (length - 1) + "." + suffix)
        assert not _allows(glob, "templates") and not _allows(glob, "app.log")
    assert "app.log" not in members
    # a family whose names vary in enough characters is generalised as one glob, unless all
    # they vary by are words: letters in one case (a CI matrix's lint, test, docs)
    words = [n[len(prefix) : len(n) - len(suffix)] for n in names]
    head = _common(words)
    tail = _common([w[head:][::-1] for w in words])
    middles = [w[head : len(w) - tail] for w in words]
    worded = all(m.isalpha() and (m.islower() or m.isupper() or m.istitle()) for m in middles)
    if length - head - tail >= 3:
        assert (len(found) == 1 and members == set(names)) != worded, found


def test_near_misses_stay_literal() -> None:
    siblings = Siblings()
    for run, name in enumerate(["tmpk3j_9x2a", "tmpq8z1m0bd", "tmp_z0pl4kx", "tmpaaa91c_e", "tmp0mm2k3jj"]):
        siblings.add(name, run)
    for run in range(5):
        siblings.add("app.log", run)  # in every run: literal
    siblings.add("templates", 2)
    siblings.add("tmpk3j_9x2", 1)  # one shorter
    ((glob, family),) = siblings.families(5)
    assert glob == "tmp" + "[a-z0-9_]" * 8 and len(family.names) == 5
    for other in ("templates", "tmpk3j_9x2", "app.log", "tmpK3J_9X2A", "tmpk3j-9x2a", "tmpk3j_9x2a.bak"):
        assert not _allows(glob, other), other


def test_too_little_evidence_stays_literal() -> None:
    two = Siblings()
    two.add("k3j_9x2az", 0)
    two.add("q8z1m0bdz", 1)
    assert two.families(2) == []  # two names
    made = Siblings()  # ... but two its maker draws afresh (tempfile's `tmp`, Rust's `.tmp`) are enough
    made.add("tmpk3j_9x2a", 0)
    made.add("tmpq8z1m0bd", 1)
    assert [glob for glob, _ in made.families(2)] == ["tmp" + "[a-z0-9_]" * 8]
    one_run = Siblings()
    for name in ("tmpk3j_9x2a", "tmpq8z1m0bd", "tmp_z0pl4kx"):
        one_run.add(name, 0)
    assert one_run.families(3) == []  # all from one run: nothing says they differ between runs
    short = Siblings()
    for run, name in enumerate(("a.log", "b.log", "c.log", "d.log")):
        short.add(name, run)
    assert short.families(4) == []  # one varying character: names, not per-run names


def test_uuids_pids_and_pyc_suffixes() -> None:
    import uuid

    for names, shape in (
        ([f"{uuid.uuid4()}.json" for _ in range(4)], "[0-9a-f]"),
        ([f"mod.cpython-311.pyc.{n}" for n in (140233, 140871, 152004)], "[0-9]"),
    ):
        siblings = Siblings()
        for run, name in enumerate(names):
            siblings.add(name, run)
        ((glob, _),) = siblings.families(len(names))
        assert shape in glob and all(_allows(glob, n) for n in names)
        assert not _allows(glob, names[0] + "x")


def test_a_number_that_varies_is_all_digits_in_the_glob() -> None:
    """coverage's parallel files name the pid: pids 14129, 14134, 14139 made `141[0-9][0-9]`,
    which the next run's pid (23077) does not match; a varying number keeps no digit."""
    siblings = Siblings()
    for run, pid in enumerate((14129, 14134, 14139)):
        siblings.add(f".coverage.vm.{pid}.XkQwPzRa", run)
    ((glob, _),) = siblings.families(3)
    assert ".[0-9][0-9][0-9][0-9][0-9]." in glob and _allows(glob, ".coverage.vm.23077.XkQwPzRa"), glob


def test_a_counter_joined_to_a_random_part_keeps_none_of_its_digits() -> None:
    """kombu's filesystem broker names a message `<monotonic ms>_<uuid4>.celery.msg`: one word
    (`_` joins them), so the three runs' counters 69772153, 69781207, 69790544 kept `697`
    literal, and the next run's 70412398 was a new write. A number that goes on past the names'
    common prefix keeps none of its digits there (nor a common suffix's, read backwards)."""
    siblings = Siblings()
    uuids = ("083f2a9e", "5c1d77b0", "e9a04f13", "7b2c9d55")
    for run, counter in enumerate((69772153, 69781207, 69790544)):
        siblings.add(f"{counter}_{uuids[run]}.celery.msg", run)
    ((glob, _),) = siblings.families(3)
    assert not glob.startswith("697") and _allows(glob, f"70412398_{uuids[3]}.celery.msg"), glob
    assert not _allows(glob, f"70412398_{uuids[3]}.other.msg"), glob
    siblings = Siblings()
    for run, counter in enumerate((1207, 2207, 3207)):
        siblings.add(f"{uuids[run]}_{counter}.part", run)
    ((glob, _),) = siblings.families(3)
    assert _allows(glob, f"{uuids[3]}_4558.part"), glob


def test_module_names_written_in_every_run_are_not_made_one_glob() -> None:
    """Each module compiled in both runs, under a per-run suffix (`lexer.cpython-311.pyc.NNN`):
    the module names are the same each run, so only the suffix is per-run. `lexer` and
    `nodes` (one length) never share a glob; with a third run, each module has its own."""
    modules = ("lexer", "nodes", "utils", "tests")
    two = Siblings()
    for run in range(2):
        for i, module in enumerate(modules):
            two.add(f"{module}.cpython-311.pyc.1398211{run}{i}070320", run)
    # two names a module, pytest's pid after `.pyc.` (a name drawn afresh): each module its own glob
    assert sorted(glob.split(".")[0] for glob, _ in two.families(2)) == sorted(modules)
    three = Siblings()
    for run in range(3):
        for i, module in enumerate(modules):
            three.add(f"{module}.cpython-311.pyc.1398211{run}{i}0{run}0320", run)
    found = three.families(3)
    assert sorted(glob.split(".")[0] for glob, _ in found) == sorted(modules)
    for glob, family in found:  # each holds its own module's three names, no other module's
        assert len(family.names) == 3 and all(_allows(glob, name) for name in family.names)
        assert {name.split(".")[0] for name in family.names} == {glob.split(".")[0]}
