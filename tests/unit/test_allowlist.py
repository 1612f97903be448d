"""Allowlist rules: directories, exact paths, wcmatch globs, policy files (pure: no process)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rotrace.errors import BadInput, BadOption
from rotrace.policy.allowlist import (
    Allowlist,
    build_allowlist,
    enforceable,
    escape_glob,
    load_policy,
    load_policy_file,
    policy_entry,
)


@pytest.mark.parametrize(
    ("pattern", "path", "allowed"),
    [
        ("/app/**/__pycache__", "/app/__pycache__/x.pyc", True),  # **/ matches zero directories
        ("/app/**/__pycache__", "/app/a/b/__pycache__/x.pyc", True),
        ("/app/**/__pycache__", "/app/a/b/x.pyc", False),
        ("/home/*/.cache/**", "/home/u/.cache", True),  # the directory itself (mkdir ~/.cache)
        ("/home/*/.cache/**", "/home/u/.cache/pip/x", True),
        ("/home/*/.cache/**", "/home/u/x/.cache", False),
        ("/tmp/[!x]", "/tmp/a", True),
        ("/tmp/[!x]y", "/tmp/a/y", False),  # [!x] never matches '/'
        ("/tmp/[z-a]", "/tmp/b", False),  # a reversed range matches nothing (build_allowlist refuses it)
        ("/var/log/*.log", "/var/log/app.log", True),
        ("/var/log/*.log", "/var/log/sub/app.log", False),
        ("/srv/*/out", "/srv/a/out/deep/file", True),  # a match covers what is below
        ("/srv/.*", "/srv/.hidden", True),
    ],
)
def test_globs(pattern: str, path: str, allowed: bool) -> None:
    assert Allowlist([pattern]).allows(path.encode()) is allowed


def test_an_allowlist_of_thousands_of_globs_is_no_error() -> None:
    """wcmatch caps the patterns of one matcher (1,000) for brace expansion, which rotrace does
    not use: a generated policy may hold more globs than that."""
    allow = Allowlist([f"/srv/app{i}/cache/**" for i in range(3000)])
    assert allow.allows(b"/srv/app2999/cache/x") and not allow.allows(b"/srv/app3000/cache/x")


def test_directories_and_exact_entries() -> None:
    allow = Allowlist(["/data", "=/srv/state.json"])
    assert allow.allows(b"/data") and allow.allows(b"/data/x/y")
    assert not allow.allows(b"/database")
    assert allow.allows(b"/srv/state.json") and not allow.allows(b"/srv/state.json/x")
    assert not allow.allows(b"/srv")


def test_literal_rules_match_the_kernels_bytes() -> None:
    """Paths that are not UTF-8 match their own bytes (surrogateescape), and nothing else."""
    allow = Allowlist([os.fsdecode(b"/srv/caf\xe9"), "=" + os.fsdecode(b"/x/\xff"), "/bad\ud800"])
    assert allow.allows(b"/srv/caf\xe9") and allow.allows(b"/srv/caf\xe9/menu")
    assert not allow.allows("/srv/café/menu".encode())
    assert allow.allows(b"/x/\xff") and not allow.allows(b"/x/\xff/y")
    assert not allow.allows(b"/bad") and not allow.allows(b"/bad/x")  # no path decodes to \ud800
    assert Allowlist(["/"]).allows(b"/any/thing")


def test_empty_allow_is_refused() -> None:
    with pytest.raises(BadOption, match="--allow needs a path"):
        build_allowlist([""], None)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("", "needs a path"),
        ("=", "an exact entry is '=' and then a path"),
        ("==/srv/x", "an exact entry is '=' and then a path"),
        ("/tmp/[z-a]", "the range z-a is written backwards"),
        ("/tmp/[a-cz-a]", "the range z-a"),  # wcmatch would keep a-c and drop z-a silently
        ("/tmp/[!z-a]", "the range z-a"),  # ... and match everything here
        ("/tmp/[]z-a]", "the range z-a"),  # `]` first in a set is a character
        ("/tmp/[\\z-a]/**", "the range z-a"),  # an escaped character is still a range's end
        ("/srv/[[:digit:]z-a]", "the range z-a"),
        # read as a name everywhere but by the kernel, which takes it for the parent: Landlock's
        # rule and bwrap's bind were on /srv, a wider place than the entry
        ("/srv/a/\\.\\.", "spells `.` or `..` with backslashes"),
        ("=/srv/a/\\./f", "spells `.` or `..` with backslashes"),
        ("a/\\.\\./b", "spells `.` or `..` with backslashes"),
        ("/srv/a/..\\/b", "a backslash before `/`"),  # `..\` is no dot name; unescaped, a/../b
        ("=/srv/a/.\\/f", "a backslash before `/`"),
        ("/srv/a/x\\/*", "a backslash before `/`"),
    ],
)
def test_entries_that_mean_nothing_are_refused(tmp_path: Path, entry: str, message: str) -> None:
    """A usage error for --allow (exit 2), bad input in a policy file (exit 3), one line each."""
    with pytest.raises(BadOption, match=message):
        build_allowlist([entry], None)
    if entry:
        (tmp_path / "p.toml").write_text(f"allow = [{json.dumps(entry)}]\n")
        with pytest.raises(BadInput, match=f"p.toml: allow entry .*{message}"):
            build_allowlist([], load_policy(str(tmp_path / "p.toml")))


@pytest.mark.parametrize(
    "entry",
    [
        "/tmp/[a",
        "/tmp/\\[z-a]",
        "/tmp/[a-]",
        "/tmp/[--0]",
        "/tmp/[[:alpha:]-a]",
        "=/tmp/[z-a]",
        "/tmp/[z/a-]",
        "/tmp/\\.cache",  # an escaped dot in a name, which is no `.` or `..`
    ],
)
def test_entries_that_mean_something_are_kept(entry: str) -> None:
    """A literal `[`, an escaped one, a trailing `-`, a range from `-`, a class then `-`, an
    exact path (never a glob), a `[` closed only past a `/` (literal)."""
    assert build_allowlist([entry], None, defaults=False).entries


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = true", "unsupported version"),
        ("version = 2", "unsupported version"),
        ("allow = 'x'", "'allow' must be a list"),
        ("allow = ['']", "'allow' must be a list"),
        ("defaults = 1", "'defaults' must be true or false"),
        ("colour = 1", "unknown key 'colour'"),
        ("allow = [", "invalid TOML"),
        ("allow_bytes = ['/srv/%zz']", "a % not followed by two hex digits"),  # was taken as `/srv/%zz`
        ("allow_bytes = ['/srv/caf%E']", "a % not followed by two hex digits"),
    ],
)
def test_bad_policy_files(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "p.toml").write_text(text)
    with pytest.raises(BadInput, match=message):
        load_policy_file(str(tmp_path / "p.toml"))


def test_non_utf8_paths_round_trip_through_a_policy(tmp_path: Path) -> None:
    import tomli_w

    name = os.fsdecode(b"/srv/caf\xe9 [1]")
    key, value = policy_entry(escape_glob(name))
    assert key == "allow_bytes"
    (tmp_path / "p.toml").write_text(tomli_w.dumps({key: [value]}))
    _, entries = load_policy_file(str(tmp_path / "p.toml"))
    assert entries == [escape_glob(name)]
    assert Allowlist(entries).allows(b"/srv/caf\xe9 [1]/x")
    assert policy_entry("/srv/ok") == ("allow", "/srv/ok")


def test_escaped_glob_characters_are_literal() -> None:
    allow = Allowlist([escape_glob("/srv/a[1]*")])
    assert allow.allows(b"/srv/a[1]*/x") and not allow.allows(b"/srv/a1x")
    assert allow.rules[0].path == "/srv/a[1]*"


def test_proc_self_is_the_writers_own_proc_entry() -> None:
    """The tracer records /proc/self as /proc/PID; the default /proc/self allows a process its
    own entry (and its threads'), never another process's."""
    allow = build_allowlist([], None)
    assert allow.allows_from(b"/proc/42/oom_score_adj", 42, 42)
    assert allow.allows_from(b"/proc/42/task/43/comm", 42, 43)
    assert not allow.allows_from(b"/proc/41/oom_score_adj", 42, 42)
    assert not allow.allows_from(b"/proc/420/oom_score_adj", 42, 42)
    assert not allow.allows_from(b"/proc/sys/kernel/core_pattern", 42, 42)
    thread_only = Allowlist(["/proc/thread-self/comm"])
    assert thread_only.allows_from(b"/proc/42/task/43/comm", 42, 43)
    assert not thread_only.allows_from(b"/proc/42/task/44/comm", 42, 43)


def test_the_mount_a_path_would_be_on() -> None:
    allow = Allowlist(["/srv/data", "/srv/data/cache", "=/etc/app.conf", "/var/*.log"])
    assert allow.mount_of(b"/srv/data/x") == b"/srv/data/"
    assert allow.mount_of(b"/srv/data/cache/y") == b"/srv/data/cache/"  # the deepest
    assert allow.mount_of(b"/srv/data") == b"/srv/data/"
    assert allow.mount_of(b"/etc/passwd") == b""  # the read-only root
    assert allow.mount_of(b"/etc/app.conf") is None and allow.mount_of(b"/var/a.log") is None
    assert Allowlist(["/"]).mount_of(b"/x") == b"/"


def test_only_the_default_entries_the_user_did_not_name_are_implicit(tmp_path: Path) -> None:
    assert "/dev/pts" in build_allowlist([], None).implicit
    assert "/dev/pts" not in build_allowlist(["/dev/pts"], None).implicit
    (tmp_path / "p.toml").write_text('allow = ["/dev/pts"]')
    assert "/dev/pts" not in build_allowlist([], load_policy(str(tmp_path / "p.toml"))).implicit
    (tmp_path / "p.toml").write_text("defaults = false")
    assert not build_allowlist([], load_policy(str(tmp_path / "p.toml"))).implicit


def test_a_glob_of_a_directory_and_all_below_it_is_enforced_as_that_directory(tmp_path: Path) -> None:
    """`--enforce` with `DIR/**` granted a Landlock rule to each file and directory below DIR, one
    walk of them all (`~/.pyenv/**`: seconds; `/tmp/**`, `/**`: minutes): a rule on DIR says the
    same (it and everything below it, made later too)."""
    for user in ("a", "b"):
        (tmp_path / "home" / user / ".local" / "lib").mkdir(parents=True)
        (tmp_path / "home" / user / ".local" / "lib" / "x.py").write_text("")
    grants = enforceable(Allowlist([f"{tmp_path}/home/*/.local/**", f"{tmp_path}/home/a/**"]))
    assert grants.paths == (f"{tmp_path}/home/a/.local", f"{tmp_path}/home/b/.local", f"{tmp_path}/home/a")
    assert enforceable(Allowlist([f"{tmp_path}/home/*/.local/*"])).paths == (
        f"{tmp_path}/home/a/.local/lib",
        f"{tmp_path}/home/b/.local/lib",
    )
