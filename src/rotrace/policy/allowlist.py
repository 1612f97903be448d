"""The allowlist: directories (each with everything below it) and globs of writable paths.

A policy file (TOML) holds the same rules:

    version = 1
    defaults = true                       # keep DEFAULT_ALLOW
    allow = ["/var/cache/app", "/home/*/.cache/**", "=/srv/app/state.json"]
    allow_bytes = ["/srv/caf%E9"]         # paths that are not UTF-8, percent-encoded

An entry starting with `=` allows that exact path only, not what is below it.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rotrace.errors import BadInput

DEFAULT_ALLOW = (
    "/tmp",
    "/dev/null",
    "/dev/tty",
    "/dev/pts",
    "/dev/shm",
    "/proc/self",
    "/dev/stdout",
    "/dev/stderr",
)

POLICY_KEYS = {"version", "defaults", "allow", "allow_bytes"}
_GLOB_CHARS = re.compile(r"(?<!\\)[*?\[]")  # not escaped with a backslash
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_META = re.compile(r"([*?\[\]\\])")


def escape_glob(path: str) -> str:
    """A literal path written so that no character in it acts as a glob."""
    return _META.sub(r"\\\1", path)


def _glob_matcher(patterns: list[str]) -> Callable[[str], bool]:
    """wcmatch's glob semantics (docs/usage.md, "Globs"): `*`, `?` and `[...]` stay within one name,
    `**` spans any number of directories (`/a/**/b` matches `/a/b`), dot files match, and a
    pattern ending in `/**` matches its directory itself too."""
    from wcmatch import glob  # only when globs are used: it costs start-up time

    flags = glob.GLOBSTAR | glob.DOTGLOB
    expanded = []
    for p in patterns:
        expanded.append(p)
        if p.endswith("/**"):
            expanded.append(p[:-3] or "/")
    matcher = glob.compile(expanded, flags=flags)
    return matcher.match


@dataclass(frozen=True)
class Rule:
    """One allowlist entry, as written (after ~ and relative-path expansion)."""

    pattern: str

    @property
    def is_glob(self) -> bool:
        return bool(_GLOB_CHARS.search(self.pattern))

    @property
    def is_exact(self) -> bool:
        """`=PATH`: this path only."""
        return self.pattern.startswith("=")

    @property
    def path(self) -> str:
        """The literal path of a rule that is not a glob (backslash escapes removed, no `=`)."""
        return _ESCAPE.sub(r"\1", self.pattern.removeprefix("="))


def expand(entry: str, base: str | None = None) -> str:
    """~ expanded, relative paths made absolute against base (default: the cwd), normalised."""
    if entry.startswith("="):
        return "=" + expand(entry[1:], base)
    entry = os.path.expanduser(entry)
    if not entry.startswith("/"):
        entry = os.path.join(base or os.getcwd(), entry)
    norm = os.path.normpath(entry)
    return "/" + norm.lstrip("/")


class Allowlist:
    def __init__(self, entries: list[str]) -> None:
        seen: dict[str, None] = {}
        for entry in entries:
            seen.setdefault(entry, None)
        self.rules = [Rule(e) for e in seen]
        # Literal rules compared as bytes, as the kernel's paths are (one decode per write saved;
        # an entry that no path decodes to matches none)
        exact = [r.path for r in self.rules if r.is_exact]
        dirs = [r.path for r in self.rules if not r.is_glob and not r.is_exact]
        below = _encodable(dirs)
        self._exact = frozenset(_encodable(exact) + below)  # a directory rule allows itself too
        self._below = tuple(p + b"/" for p in below)
        self._everything = "/" in dirs
        globs = [r.pattern for r in self.rules if r.is_glob and not r.is_exact]
        self._glob = _glob_matcher(globs) if globs else None
        self._glob_cache: dict[str, bool] = {}

    def __reduce__(self) -> tuple[type[Allowlist], tuple[list[str]]]:
        return (Allowlist, (self.entries,))  # to the report process: its matchers are rebuilt

    @property
    def entries(self) -> list[str]:
        return [r.pattern for r in self.rules]

    def allows(self, path: bytes) -> bool:
        if self._everything or path in self._exact or path.startswith(self._below):
            return True
        return self._glob is not None and self._glob_covers(os.fsdecode(path))

    def _glob_covers(self, text: str) -> bool:
        """A glob matches the path or one of its directories (a match covers what is below)."""
        if self._glob is None:
            return False
        if self._glob(text):
            return True
        parent = os.path.dirname(text)
        if parent == text:
            return False
        cached = self._glob_cache.get(parent)
        if cached is None:
            if len(self._glob_cache) > 65536:
                self._glob_cache.clear()
            cached = self._glob_cache[parent] = self._glob_covers(parent)
        return cached


def _encodable(paths: list[str]) -> list[bytes]:
    """The paths as bytes; one no bytes decode to (a lone surrogate that surrogateescape does
    not make) is left out, as no path can match it."""
    encoded = []
    for path in paths:
        with contextlib.suppress(UnicodeEncodeError):
            encoded.append(os.fsencode(path))
    return encoded


# Entries that name something else in each process: what Landlock rules stand for them.
_PER_PROCESS = {"/proc/self": "/proc", "/dev/stdout": None, "/dev/stderr": None}


def enforceable(allowlist: Allowlist) -> list[str]:
    """The paths a Landlock ruleset grants writes beneath, for this allowlist.

    A rule needs an existing path: a glob is expanded to what it matches now; one that matches
    nothing cannot be enforced, and is refused. /proc/self becomes /proc (each process has its
    own); /dev/stdout and /dev/stderr name whatever fd 1 and 2 are (a terminal under /dev/pts,
    or a pipe, which Landlock does not restrict).
    """
    paths: list[str] = []
    for rule in allowlist.rules:
        if rule.is_glob and not rule.is_exact:
            from wcmatch import glob

            found = glob.glob(rule.pattern, flags=glob.GLOBSTAR | glob.DOTGLOB)
            if not found:
                raise BadInput(
                    f"--enforce: the glob {rule.pattern!r} matches nothing that exists now, and a"
                    " Landlock rule needs an existing path: name the directories instead"
                )
            paths.extend(found)
        elif rule.path in _PER_PROCESS:
            stands_for = _PER_PROCESS[rule.path]
            if stands_for is not None:
                paths.append(stands_for)
        else:
            paths.append(rule.path)
    return list(dict.fromkeys(paths))


def load_policy_file(path: str) -> tuple[bool, list[str]]:
    """(keep defaults, allow entries) from a policy TOML file; BadInput says where it is wrong."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read policy {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"policy {path} is not UTF-8 text") from None
    import tomllib  # only when a policy file is given: it costs start-up time

    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"policy {path}: invalid TOML: {exc}") from None
    unknown = sorted(set(data) - POLICY_KEYS)
    if unknown:
        raise BadInput(
            f"policy {path}: unknown key {unknown[0]!r} (expected: {', '.join(sorted(POLICY_KEYS))})"
        )
    version = data.get("version", 1)
    if type(version) is not int or version != 1:
        raise BadInput(f"policy {path}: unsupported version {version!r} (this rotrace reads 1)")
    defaults = data.get("defaults", True)
    if not isinstance(defaults, bool):
        raise BadInput(f"policy {path}: 'defaults' must be true or false")
    allow = _entries(data, "allow", path)
    if "allow_bytes" in data:
        from urllib.parse import unquote_to_bytes  # (and ipaddress: 3 ms that most runs need not pay)

        allow += [os.fsdecode(unquote_to_bytes(a)) for a in _entries(data, "allow_bytes", path)]
    base = os.path.dirname(os.path.realpath(path))
    return defaults, [expand(a, base) for a in allow]


def _entries(data: dict[str, Any], key: str, path: str) -> list[str]:
    allow = data.get(key, [])
    if not isinstance(allow, list) or not all(isinstance(a, str) and a for a in allow):
        raise BadInput(f"policy {path}: {key!r} must be a list of non-empty path strings")
    return allow


def policy_entry(entry: str) -> tuple[str, str]:
    """(key, value) that writes the allowlist entry into a policy file: `allow_bytes`,
    percent-encoded, for a path that is not valid UTF-8 (TOML holds only Unicode text), else
    `allow` as it is."""
    raw = os.fsencode(entry)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        from urllib.parse import quote_from_bytes

        return "allow_bytes", quote_from_bytes(raw, safe="/=*?[]!-_.~\\")
    return "allow", entry


def build_allowlist(allow: list[str], policy: str | None, defaults: bool = True) -> Allowlist:
    """The default entries, then the policy file's, then each --allow."""
    entries: list[str] = []
    extra: list[str] = []
    if policy is not None:
        defaults, extra = load_policy_file(policy)
    if defaults:
        entries.extend(DEFAULT_ALLOW)
    entries.extend(extra)
    if any(not a for a in allow):
        raise BadInput("--allow needs a path (an empty one would allow the working directory)")
    entries.extend(expand(a) for a in allow)
    return Allowlist(entries)
