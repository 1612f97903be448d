"""Shared path facts and terminal escaping."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from rotrace.escape import ci_safe_json, is_plain, safe_text
from rotrace.export.formats import _toml, yaml_document
from rotrace.pathnames import generalise, holder, is_general, is_stamped, is_under, known_run_path


def test_is_under_is_by_component() -> None:
    assert is_under("/a/b", "/a") and is_under("/a", "/a") and is_under("/x", "/")
    assert not is_under("/ab", "/a") and not is_under("/a", "/a/b")


_SEGMENTS = st.sampled_from(["a", "b", "ab", ".x", "a b"])
_ABSOLUTE = st.lists(_SEGMENTS, max_size=5).map(lambda parts: "/" + "/".join(parts))


@given(
    st.lists(_ABSOLUTE, max_size=6),
    st.lists(_ABSOLUTE | st.lists(_SEGMENTS, min_size=1, max_size=3).map("/".join), max_size=40),
)
def test_the_holder_of_a_path_is_the_deepest_top_it_is_under(tops: list[str], paths: list[str]) -> None:
    holder_of = holder(tops)
    for path in paths:  # asked in any order, each directory's answer reused
        deepest = max((top for top in tops if is_under(path, top)), key=len, default=None)
        assert holder_of(path) == deepest, path


def test_the_holder_of_a_path_is_itself_where_it_is_a_top() -> None:
    holder_of = holder(["/", "/a", "/a/b"])
    assert [holder_of(p) for p in ("/a/b", "/a/b/c", "/a/bc", "/x", "/", "rel")] == [
        "/a/b",
        "/a/b",
        "/a",
        "/",
        "/",
        None,
    ]


def test_generalise_per_run_names_only() -> None:
    assert generalise("/app/.venv/.tmpAbC123") == "/app/.venv/.tmp*"
    assert generalise("/tmp/tmpab_cd123") == "/tmp/tmp*"
    assert generalise("/run/user/1000/x") == "/run/user/1000/x"  # short numbers stay
    assert generalise("/proc/123456/fd") == "/proc/*/fd"
    assert generalise("/c/" + "ab12" * 5) == "/c/*"
    assert generalise("/srv/app/out", cwd="/srv/app") == "$CWD/out"
    assert generalise("/srv/application", cwd="/srv/app") == "/srv/application"
    assert is_general(".tmpXyZ987") and not is_general("python3.11")


def test_tempfiles_draw_after_a_callers_dot_tmp_is_one_per_run_name() -> None:
    """litestar's file store: `mkstemp(prefix=KEY + ".tmp")`, then os.replace onto KEY. Rust's
    `.tmp` and 6 characters took the draw's first 6 and left its last 2 (`KEY.tmp*fb`): two
    identical runs differed ("3 new violations"). Its 8 characters are one per-run name; Rust's
    six still are, before a suffix or a directory's end."""
    names = {generalise(f"/s/settings.tmp{d}") for d in ("k3uu2kfb", "abcdefgh", "x_9y8z7w")}
    assert names == {"/s/settings.tmp*"}, names
    assert generalise("/app/.venv/.tmpAbC123/x") == "/app/.venv/.tmp*/x"
    assert generalise("/app/.venv/.tmpAbC123.lock") == "/app/.venv/.tmp*.lock"
    assert not is_general("settings.tmpab")


def test_pytests_numbered_base_and_a_uuid_are_per_run_names() -> None:
    """pytest's tmp_path base (pytest-of-USER/pytest-N, one past the last run's) and the
    garbage-UUID it renames the oldest to before removing it: two identical test runs differed
    by them in `rotrace diff`, every write appeared and disappeared."""
    import uuid

    assert generalise("/tmp/pytest-of-root/pytest-17/test_a0/x") == "/tmp/pytest-of-root/pytest-*/test_a0/x"
    assert known_run_path("/tmp/pytest-of-root/pytest-4") and known_run_path(f"/t/garbage-{uuid.uuid4()}")
    assert {generalise(f"/t/garbage-{uuid.uuid4()}") for _ in range(50)} == {"/t/garbage-*"}
    assert generalise("/srv/pytest-of-root") == "/srv/pytest-of-root"  # no number: kept
    # multiprocessing's semaphores: tempfile's 8 characters, a digit among them or not
    assert {generalise(f"/dev/shm/sem.mp-{n}") for n in ("idexpjpi", "k3x_q9zb")} == {"/dev/shm/sem.mp-*"}
    assert known_run_path("/dev/shm/sem.mp-idexpjpi")
    # coverage.py's parallel data files; joblib's NAME.<uuid hex>-<pid>-<thread> with a short pid
    assert generalise("/a/.coverage.vm.pid7959.XFu43X4x") == "/a/.coverage.vm.pid*"
    assert generalise("/a/.coverage.vm.pid12.XFu43X4x.HDeNF") == "/a/.coverage.vm.pid*.HDeNF"
    joblib = "/a/out/func_code.py.{}-{}-140213"
    assert {generalise(joblib.format(uuid.uuid4().hex, pid)) for pid in (963, 9663)} == {
        "/a/out/func_code.py.*"
    }


def test_a_date_and_a_time_of_day_are_per_run_names() -> None:
    """hydra's outputs/DATE/TIME, TensorBoard's runs/MonDD_HH-MM-SS_HOST, a log named by its
    time: two identical runs differed by them ("2 new violations"), and a plan mounted one."""
    for when in ("2026-12-06/13-50-59", "2027-01-31/00-00-01"):
        assert generalise(f"/srv/app/outputs/{when}/run.log") == "/srv/app/outputs/*/*/run.log"
    assert generalise("/srv/runs/Dec06_13-50-59_host") == "/srv/runs/Dec06_*_host"
    assert generalise("/srv/logs/app_2026-12-06_13:50:59.log") == "/srv/logs/app_*_*.log"
    assert is_stamped("2026-12-06") and is_stamped("13-50-59") and not is_stamped("13-50")
    for kept in ("certifi-2024.8.30.dist-info", "tzdata-2024.2", "v1.2.3", "x-2026-13-01", "24-61-00"):
        assert generalise(f"/srv/{kept}") == f"/srv/{kept}", kept


def test_a_long_draw_of_letters_and_digits_is_a_per_run_name() -> None:
    """whoosh's segment files (MAIN_<16 of [a-z0-9]>.seg, its .col and .pst made with a plain
    open and removed): two identical index updates differed by every name. Twelve or more
    lower-case letters and digits, two of each, are a draw; a word with a version is not."""
    for name, general in (
        ("/srv/index/MAIN_w8kq2m1zxv9c0pld.seg", "/srv/index/MAIN_*.seg"),
        ("/srv/index/MAIN_ab12cd34ef56gh78.col", "/srv/index/MAIN_*.col"),
        ("/srv/cache/k3x9q2za7m1p", "/srv/cache/*"),
    ):
        assert generalise(name) == general, name
    for kept in ("python311", "x86_64-linux-gnu", "libpython3.11.so", "abcdefghijklmn", "sha256sums",
                 "Ab12cd34ef56gh78", "a1b2c3", "py311-linux64"):  # fmt: skip
        assert generalise(f"/srv/app/{kept}") == f"/srv/app/{kept}", kept


def test_pythons_temporary_names_are_per_run_names() -> None:
    """tempfile's names: `tmp` + 8 characters + a suffix (a wheel built in /tmp), a prefix of
    the caller's (pytest's `pytest-cache-files-`), or none: two identical builds differed by
    them in `rotrace diff` ("2 new violations")."""
    import tempfile

    names = tempfile._RandomNameSequence()  # what mkstemp and mkdtemp draw from
    drawn = [next(names) for _ in range(2000)]
    assert all(generalise(f"/tmp/tmp{n}.whl") == "/tmp/tmp*.whl" for n in drawn)
    prefixed = sum(generalise(f"/p/pytest-cache-files-{n}") == "/p/pytest-cache-files-*" for n in drawn)
    bare = sum(generalise(f"/tmp/{n}") == "/tmp/*" for n in drawn)
    assert prefixed > 0.85 * len(drawn), prefixed  # with a letter and a digit or `_`: ~90%
    # without a prefix, a draw in snake_case or of letters then digits (1 in 20) is read as a
    # name someone chose (`demo_pkg`, `python39`)
    assert prefixed - 0.08 * len(drawn) < bare <= prefixed, (bare, prefixed)
    kept = ["site-packages", "__pycache__", "python39", "ubuntu22", "x86_64-linux-gnu", "abcdefgh"]
    kept += ["demo_pkg", "demo_pkg.egg-info", "demo_app", "build_py", "web_app2", "my_proj1"]  # chosen
    # after a prefix, letters then digits are a draw too (1 in 10: a diff's false alarm)
    assert generalise("/p/pytest-cache-files-uxbllgw2") == "/p/pytest-cache-files-*"
    assert generalise("/p/.hypothesis/constants/.tmp-vzipgt02") == "/p/.hypothesis/constants/.tmp-*"
    kept += ["cpython-311.pyc", "numpy-1.26.4.dist-info", "pip-24.0"]
    kept += ["__init__.cpython-311.pyc", "__main__.py", "__main__.cpython-312.opt-1.pyc"]  # 8 of [a-z_]
    assert [generalise(f"/x/{k}") for k in kept] == [f"/x/{k}" for k in kept]


def test_safe_text_escapes_controls_bidi_and_bad_utf8() -> None:
    assert safe_text(b"a\nb\x1b[31m") == "a\\x0ab\\x1b[31m"
    assert safe_text(b"\xe9t\xe9") == "\\xe9t\\xe9"
    assert safe_text("x\u202ey") == "x\\u202ey"
    assert safe_text("caf\udce9") == "caf\\xe9"  # surrogateescape'd bytes from a JSON trace
    assert safe_text("ünïcode ok") == "ünïcode ok"


def test_safe_text_escapes_what_shows_as_nothing_or_a_blank() -> None:
    """Tag characters (U+E0000-E007F), soft hyphens, Hangul fillers, variation selectors and the
    braille blank: a name holding them reads as another (`cache` + two tags shows as `cache`)."""
    assert safe_text("cache\U000e0061\U000e0062") == "cache\\U000e0061\\U000e0062"
    for hidden in ("\u00ad", "\u034f", "\u115f", "\u1160", "\u180e", "\u2800", "\u3164", "\ufe0f", "\uffa0",
                   "\U000e0100"):  # fmt: skip
        escaped = safe_text(f"a{hidden}b")
        assert escaped != f"a{hidden}b" and escaped.isascii() and safe_text(escaped) == escaped, hidden


_CI_TEXT = st.lists(st.sampled_from([*"#[vsoVOa]\\ :\n\u3000", "teamcity", "TeamCity"]), max_size=30).map(
    "".join
)


def _line_command(text: str) -> bool:
    """GitHub's `::command::`: a line that starts with `::` once its leading blanks are trimmed."""
    return any(line.lstrip().startswith("::") for line in text.splitlines())


@given(_CI_TEXT)
def test_no_ci_command_is_left_in_what_a_runner_reads(text: str) -> None:
    """GitHub's `##[command]`, Azure's `##vso[` and TeamCity's `##teamcity[` act anywhere in a
    line, GitHub's `::command::` at a line's start (after its blanks): the escaped text has none,
    stays as escaped when
    escaped again, and JSON, TOML and YAML read the name back."""
    command = re.compile(r"##(vso|teamcity)?\[", re.IGNORECASE)
    shown = safe_text(text)
    assert not command.search(shown) and not _line_command(shown) and safe_text(shown) == shown
    assert is_plain(text) == (command.search(text) is None and not _line_command(text) and "\n" not in text)
    encoded = ci_safe_json(json.dumps(text))
    assert not command.search(encoded) and json.loads(encoded) == text
    for written, read in ((_toml({"a": text}), lambda t: tomllib.loads(t)["a"]),
                          (yaml_document({"a": text}), lambda t: yaml.safe_load(t)["a"])):  # fmt: skip
        assert not command.search(written) and not _line_command(written) and read(written) == text, written


# GitHub's runner: a line that starts (after its blanks) with `::`, one of its commands, and a
# blank or `::`
_WORKFLOW_COMMAND = re.compile(
    r"::(error|warning|notice|debug|group|endgroup|add-mask|stop-commands|set-output|save-state|add-path"
    r"|set-env|add-matcher|remove-matcher|echo)(\s|::)",
    re.IGNORECASE,
)
_PIECES = [" ", ":", "::", "x", "\t", "error", "Stop-Commands", "add-mask", "warning file=a", ".py"]
_COMMAND_TEXT = st.lists(st.sampled_from(_PIECES), max_size=12).map("".join)


@given(_COMMAND_TEXT)
def test_a_name_wrapped_or_folded_anywhere_starts_no_workflow_command(text: str) -> None:
    """A report wrapped at a terminal's width can start a line at any blank of a name, and one
    folded at any character: rotrace in `docker run -t` in a GitHub step, where no variable says
    the log runs commands, printed `x ::error::forged` over two lines, the second a command. No
    piece of the escaped text, its blanks trimmed, starts with a workflow command, even with
    another field after it in the line (`AAA::stop-commands -> out/x::y`, a rename); `::` that
    starts none is left as it is (a pytest node id)."""
    shown = safe_text(text)
    assert safe_text(shown) == shown
    line = shown + " -> x::y"  # a field after it in the line: a rename's target
    for start in range(len(line)):
        assert not _WORKFLOW_COMMAND.match(line[start:].lstrip()), (text, shown, start)
    if not _WORKFLOW_COMMAND.search(text + " ") and not text.lstrip().startswith("::"):
        assert shown == text.replace("\t", "\\x09")


def test_a_long_yaml_value_is_not_folded_where_a_line_would_start_with_a_command() -> None:
    """PyYAML folds a long scalar at a blank: the next line would start with `::`."""
    text = "w " * 5000 + "::stop-commands::x"
    written = yaml_document({"a": text})
    assert not _line_command(written) and yaml.safe_load(written)["a"] == text


def test_every_format_control_and_invisible_character_is_escaped() -> None:
    """U+206F and U+1BCA0 (a shorthand format control) showed as nothing in a report, a summary,
    YAML and TOML: `data\\u206f` and `data` were the same mount to a reader. Every format, control,
    line or paragraph separator and surrogate code point of Unicode's database is escaped, and
    every default-ignorable one."""
    import sys
    import unicodedata

    from rotrace.escape import NOT_PLAIN

    kinds = ("Cc", "Cf", "Zl", "Zp", "Cs")
    shown = [
        hex(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) in kinds and not NOT_PLAIN.match(chr(c))
    ]
    ignorable = [0x115F, 0x1160, 0x17B4, 0x180B, 0x3164, 0xFE0F, 0xFFA0, 0xFFF0, 0x1BCA3, 0x1D17A, 0xE0FFF]
    assert shown + [hex(c) for c in ignorable if not NOT_PLAIN.match(chr(c))] == []
    assert safe_text("data\u206f") != safe_text("data") != safe_text("data\U0001bca0")


def test_every_character_a_yaml_reader_refuses_is_escaped() -> None:
    """A directory named U+FFFE: the comment lines of a compose or k8s export held it raw, and
    both YAML readers refused the whole file ("unacceptable character"). Every code point the
    YAML reader takes for no printable character is escaped wherever rotrace writes a name, and
    so are Unicode's other noncharacters; an export of such a name loads."""
    import sys

    from rotrace.escape import NOT_PLAIN

    refused = [c for c in range(sys.maxunicode + 1) if yaml.reader.Reader.NON_PRINTABLE.match(chr(c))]
    assert [hex(c) for c in refused if not NOT_PLAIN.match(chr(c))] == []
    assert all(NOT_PLAIN.match(chr(c)) for c in range(0xFDD0, 0xFDF0))
    name = "/srv/data\ufffe\uffff"
    written = yaml_document({"a": name}) + f"# {safe_text(name)}\n"
    assert yaml.safe_load(written) == {"a": name}


NOT_ASCII_NUMBERS = ["²", "١٢", "9" * 5000, "-1", " 80", ""]


def test_a_number_rotrace_reads_from_text_is_ascii_digits_and_fits() -> None:
    """str.isdigit() takes "²" and Arabic-Indic digits, which int() then refuses or reads, and
    int() refuses 5,000 digits: a COLUMNS, a trace's uid, a stale copy's pid were each an
    internal error (exit 70). `decimal` reads ASCII digits that fit 64 bits, else nothing."""
    from rotrace.patterns import decimal

    assert [decimal(t) for t in NOT_ASCII_NUMBERS] == [None] * len(NOT_ASCII_NUMBERS)
    assert (decimal("80"), decimal(b"1000"), decimal("0" * 19)) == (80, 1000, 0)


def test_a_size_or_an_id_that_is_no_number_is_none_where_it_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rotrace.record import TraceHeader
    from rotrace.report.render import console_for

    for text in NOT_ASCII_NUMBERS:
        assert TraceHeader(["x"], "/", 0, environment={"uid": text, "gid": "0"}).user is None
        monkeypatch.setenv("COLUMNS", text)
        monkeypatch.setenv("LINES", text)
        console = console_for()
        console.file = io.StringIO()
        console.print("a report line")  # rich reads COLUMNS and LINES as it prints
        assert console.file.getvalue() == "a report line\n"
    assert TraceHeader(["x"], "/", 0, environment={"uid": "1000", "gid": "100"}).user == (1000, 100)


def test_the_mounts_the_sandbox_check_leaves_out_are_those_of_proc_sys_and_dev_alone() -> None:
    """The check of the sandbox's writable mounts left out every mount point starting with
    /dev, /sys or /proc: a stray writable mount at /devel or /system passed unseen."""
    from rotrace.mountinfo import _in_own

    assert all(_in_own(p) for p in (b"/dev", b"/dev/shm", b"/proc/sys", b"/sys/fs/cgroup"))
    assert not any(_in_own(p) for p in (b"/devel", b"/system", b"/processes", b"/srv/dev"))
