"""Path facts shared by every layer above the tracer: containment, and per-run names made general.

Generalisation works the way the Security Profiles Operator does for its profiles, so that a
policy (or a diff) from one run holds for the next: `.tmpAbC123` -> `.tmp*`, `uv-<hash>.lock`
-> `uv-*.lock`, long runs of digits (pids, timestamps, ids), long hex, a date or a time of day
-> `*`. Other short digit runs stay: they are more often versions or years than per-run names.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable

from rotrace.patterns import Lazy


@functools.lru_cache(maxsize=1 << 14)
def text_of(name: bytes) -> str:
    """os.fsdecode for the names asked for again and again (directories, programs): once each."""
    return os.fsdecode(name)


@functools.lru_cache(maxsize=1 << 10)
def program_name(exe: bytes) -> str:
    """A program's name: the last component of its executable's path (once per program)."""
    return os.fsdecode(os.path.basename(exe))


# The name Rust's tempfile crate (uv) and others give a temporary file: `.tmp` + 6 characters
# (not the first 6 of more: Python's `mkstemp(prefix="KEY.tmp")` draws 8 after it).
TMP_NAME = r"\.tmp[A-Za-z0-9]{6}(?![A-Za-z0-9_])"

# Where a per-run name's random part may end: its suffix, the name's end, or the end of a name
# the kernel gave an unlinked file (`/tmp/wgunicorn-k3x_q9zb (deleted)`: a write through the fd
# of a temporary file removed at once, as gunicorn's workers make theirs).
_ENDS = r"(?:\.|$| \(deleted\)$)"
NAME_END = f"(?={_ENDS})"

# The 8 characters Python's tempfile draws (a-z, 0-9, `_`) after its prefix (`tmp`, the
# caller's: `pytest-cache-files-`, or none) and before its suffix (`.whl`): 8 such characters,
# alone or after a `-` or `.`, with a letter and a digit or `_` among them, nor a Python dunder
# (`__init__.cpython-311.pyc`): `site-packages` and `__pycache__` stay. Alone, not letters then
# digits (`python39`, a version's name) nor snake_case; after a prefix, any draw
# (`pytest-cache-files-uxbllgw2`: 1 draw in 10 is letters then digits).
# A whole name (no prefix before it) in snake_case, words of two letters or more and a digit
# at most after each (`demo_pkg`, `demo_app`, `build_py`, `web_app2`), is a name someone chose: a
# package, a project, a tool's directory. About 1 in 60 of tempfile's draws has that form too,
# and is missed where drawn without a prefix (rare: `tmp`, or the caller's, comes first).
_SNAKE = r"[a-z]{2,}[0-9]?(?:_[a-z]{2,}[0-9]?)+"
_PY_TEMP = (
    r"(?:^(?!" + _SNAKE + _ENDS + r")(?![a-z]+[0-9]+" + _ENDS + r")|(?<=[-.]))"
    r"(?=[a-z0-9_]{0,7}[0-9_])(?=[a-z0-9_]{0,7}[a-z])"
    r"(?!__[a-z]{4}__)"
    r"[a-z0-9_]{8}" + NAME_END
)
# Names known to be drawn afresh in each run, by their makers' own prefixes: the name itself
# says so (`known_run_name`), whatever characters came out
_KNOWN_RULES = (
    (Lazy(TMP_NAME), ".tmp*"),
    # Python's tempfile, by its own prefix (`tmp`; virtualenv's `TmP`, then a suffix of its own)
    (Lazy(r"^([Tt][Mm][Pp])[a-z0-9_]{8}(?=[-.]|$| \(deleted\)$)"), r"\1*"),
    # and after a caller's prefix ending in `.tmp` (litestar's file store: `mkstemp(prefix=KEY +
    # ".tmp")`, then os.replace onto KEY)
    (Lazy(r"(?<=\.tmp)[a-z0-9_]{8}" + NAME_END), "*"),
    # pytest's rewritten bytecode, written as NAME.pyc.PID, then renamed: a pid of any length
    (Lazy(r"(?<=\.pyc\.)[0-9]+" + NAME_END), "*"),
    # mkstemp's 6 characters: git's objects and packs on their way in, glibc's sem_open
    (Lazy(r"^(tmp_(?:obj|pack|idx|midx|rev|bitmap)_|sem\.)[A-Za-z0-9]{6}$"), r"\1*"),
    # Python's multiprocessing semaphores (sem_open of /mp-, then tempfile's 8 characters)
    (Lazy(r"^(sem\.mp-)[a-z0-9_]{8}$"), r"\1*"),
    # cmake: a generated file's `.tmp` and 5 hex, its compiler checks' TryCompile-XXXXXX, cmTC_NNNNN
    (Lazy(r"(?<=\.tmp)[0-9a-f]{5}$"), "*"),
    (Lazy(r"^(TryCompile-)[A-Za-z0-9]{6}$|^(cmTC_)[0-9a-f]{5}(?=$|[._])"), r"\1\2*"),
    # pytest's base temporary directory, numbered one past the last run's (pytest-of-USER/pytest-N)
    (Lazy(r"^(pytest-)[0-9]+$"), r"\1*"),
    # coverage.py's parallel data files (.coverage.HOST.pidN.XrandomX)
    (Lazy(r"(\.pid)[0-9]+\.X[A-Za-z0-9]{6}x(?=$|\.)"), r"\1*"),
    # a UUID (pytest's garbage-UUID, a job's or an upload's id)
    (Lazy(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "*"),
)
# a date or a time of day, with its fraction of a second: hydra's outputs/2026-12-06/13-50-59,
# TensorBoard's runs/Dec06_13-50-59_HOST, a log's app_2026-12-06_13:50:59.123.log, and after an
# ISO 8601 date's `T` with dots or underscores too (kedro's versions, 2026-12-06T13.50.59.123Z;
# npm's logs, 2026-12-06T23_24_16_655Z-debug-0.log); not dotted elsewhere, where it is a
# version's (`18.12.01`). The next run's is another.
_STAMP_RULES = (
    (Lazy(r"(?<![0-9])(?:19|20)[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])(?![0-9])"), "*"),
    (Lazy(r"(?<![0-9])(?:[01][0-9]|2[0-3])([-:])[0-5][0-9]\1[0-5][0-9](?:[.,][0-9]{1,9})?(?![0-9])"), "*"),
    (Lazy(r"(?<=[0-9*]T)(?:[01][0-9]|2[0-3])([._])[0-5][0-9]\1[0-5][0-9](?:[._,][0-9]{1,9})?(?![0-9])"), "*"),
)
_RULES = (
    *_KNOWN_RULES,
    *_STAMP_RULES,
    (Lazy(_PY_TEMP), "*"),
    # a long hex id and the numbers after it (joblib's NAME.<uuid hex>-<pid>-<thread>: a pid of 4
    # digits stays a number of its own otherwise)
    (Lazy(r"[0-9a-f]{16,}(?:-[0-9]+)*"), "*"),
    (Lazy(r"[0-9A-F]{16,}"), "*"),  # upper-case hex: gpg's keygrips
    # a long number and the numbers joined to it (pre-commit's patch<time>-<pid>: a pid of one
    # to four digits, in a container, stays a number of its own otherwise)
    (Lazy(r"[0-9]{5,}(?:[-_][0-9]+)*"), "*"),
    # a long draw of lower-case letters and digits, two of each at least, a word of its own
    # (whoosh's segments, MAIN_w8kq2m1zxv9c0pld.seg): no name of 12 such characters is a word
    (Lazy(r"(?<![A-Za-z0-9])(?=(?:[a-z]*[0-9]){2})(?=(?:[0-9]*[a-z]){2})[a-z0-9]{12,}(?![A-Za-z0-9])"), "*"),
)


def normal(path: str) -> str:
    """os.path.normpath, with a leading `//` read as `/`, as Linux reads it (normpath keeps it:
    POSIX leaves its meaning to the system): a HOME of `//` is the root, not a directory below it."""
    norm = os.path.normpath(path)
    return "/" + norm.lstrip("/") if norm.startswith("//") else norm


def is_placed(raw: bytes) -> bool:
    """A path as rotrace places a write: absolute and normalised (no `.`, `..`, `//`, trailing
    `/`), and through no magic link of /proc (the tracer names the place those lead to). Any
    other (a hand-made trace's `/srv/cache/../../etc/passwd`, `/proc/self/root/etc/passwd`) is
    no place: never allowed by a prefix of its text, never planned for."""
    if not raw.startswith(b"/") or raw.startswith(b"//") or os.path.normpath(raw) != raw:
        return False
    return not (raw.startswith((b"/proc/", b"/dev/")) and _THROUGH_LINK.match(raw))


# A path through a magic link: a process's root or cwd, or an fd's file (a directory)
_THROUGH_LINK = Lazy(
    rb"/(?:proc/(?:self|thread-self|[0-9]+)(?:/task/[0-9]+)?/(?:(?:root|cwd)(?:/|$)|fd/[0-9]+/)"
    rb"|dev/fd/[0-9]+/|dev/std(?:in|out|err)/)"
)


def names_file(path: str, st: os.stat_result) -> bool:
    """Whether `path`, the name /proc gives an open file (whose stat is `st`), is one of the
    file's names: a file on a mount detached since (`umount -l`) is named from that mount's
    root, one whose name was removed while another remains (a hard link elsewhere) is named
    `... (deleted)`, and /proc's names hold no symlink (one planted at the name reaches
    nothing)."""
    try:
        there = os.lstat(path)
    except (OSError, ValueError):
        return False
    return (there.st_dev, there.st_ino) == (st.st_dev, st.st_ino)


def is_under(path: str, top: str) -> bool:
    """path is top or lies below it (lexically)."""
    return path == top or path.startswith(top.rstrip("/") + "/")


def is_within(path: str, tops: Iterable[str]) -> bool:
    """path is one of `tops` or lies below one (is_under)."""
    return any(is_under(path, top) for top in tops)


def directory_of(path: str) -> str:
    """The directory a name is in, lexically (`/` for a name at the top, "" for a bare one)."""
    return path.rpartition("/")[0] or ("/" if path.startswith("/") else "")


def holder(tops: Iterable[str]) -> Callable[[str], str | None]:
    """The deepest of `tops` (normalised absolute directories) that each path is or lies below,
    as is_under decides, else None: looked up once per directory, which the many names of a run
    share (a venv's thousands of files are in a few hundred)."""
    points = set(tops)
    by_depth = sorted(points, key=len, reverse=True)
    holding: dict[str, str | None] = {}

    def holder_of(path: str) -> str | None:
        if path in points:
            return path
        directory = directory_of(path)
        if directory not in holding:
            holding[directory] = next((top for top in by_depth if is_under(directory, top)), None)
        return holding[directory]

    return holder_of


def outermost(paths: set[str]) -> list[str]:
    """The paths not below another of them, sorted."""
    return sorted(p for p in paths if not any(p != o and is_under(p, o) for o in paths))


def known_run_name(name: str) -> bool:
    """The name is one its maker draws afresh in each run, by the maker's own prefix."""
    return any(pattern.search(name) for pattern, _ in _KNOWN_RULES)


@functools.lru_cache(maxsize=1 << 14)  # a run's names repeat (site-packages, its package's): one pass each
def generalise_name(name: str) -> str:
    for pattern, replacement in _RULES:
        name = pattern.sub(replacement, name)
    return name


# names a maker draws afresh, told by their directory: git's probe of the file system (init,
# clone, bare too: a symlink made and removed as .git/tXXXXXX), uv's archive ids in its cache, a
# process's (and its thread's) directory in /proc, of any length (rustc's jobserver pipe through
# /proc/PID/fd/N; a pid of 4 digits in a container)
_PATH_RULES = (
    (Lazy(r"^/proc/[0-9]+(?=/|$)"), "/proc/*"),
    (Lazy(r"(?<=^/proc/\*/task/)[0-9]+(?=/|$)"), "*"),
    (Lazy(r"(?<=\.git/)t[A-Za-z0-9]{6}$"), "t*"),
    (Lazy(r"(?<=/archive-v0/)[A-Za-z0-9_-]{16,}(?=/|$)"), "*"),
)


def known_run_path(path: str) -> bool:
    """The path's name is one its maker draws afresh in each run (`known_run_name`, or one told
    by its directory: _PATH_RULES)."""
    if known_run_name(path.rpartition("/")[2]):
        return True
    return any(pattern.search(path) is not None for pattern, _ in _PATH_RULES)


def generalise(path: bytes | str, cwd: str | None = None) -> str:
    """The path as a glob; with cwd, the working directory becomes `$CWD` (for diffs)."""
    text = os.fsdecode(path)
    if cwd and is_under(text, cwd) and cwd != "/":
        text = "$CWD" + text[len(cwd.rstrip("/")) :]
    general = "/".join(generalise_name(part) for part in text.split("/"))
    for pattern, replacement in _PATH_RULES:
        general = pattern.sub(replacement, general)
    return general


def is_stamped(name: str) -> bool:
    """The name holds a date or a time of day: drawn anew by the next run, even when one run
    finds it there (made earlier the same day)."""
    return any(pattern.search(name) is not None for pattern, _ in _STAMP_RULES)


def is_general(name: str) -> bool:
    """Did generalisation change this name (is it a per-run name)?"""
    return generalise_name(name) != name


def common_prefix(words: list[str]) -> int:
    """How many characters all of `words` begin with in common."""
    first, n = words[0], 0
    while n < len(first) and all(len(w) > n and w[n] == first[n] for w in words):
        n += 1
    return n


def glob_places(glob: str) -> list[str]:
    """A glob `rotrace merge` made of per-run names, place by place: each a literal character
    (without glob meaning) or a `[...]` class."""
    return re.findall(r"\[[^\]]+\]|.", glob, re.DOTALL)


def glob_regex(glob: str) -> re.Pattern[str]:
    """A glob `rotrace merge` made of per-run names as a regular expression."""
    return re.compile("".join(t if len(t) > 1 else re.escape(t) for t in glob_places(glob)))
