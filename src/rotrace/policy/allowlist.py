"""The allowlist: directories (each with everything below it) and globs of writable paths.

A policy file (TOML) holds the same rules:

    version = 1
    defaults = true                       # keep DEFAULT_ALLOW
    allow = ["/var/cache/app", "/home/*/.cache/**", "=/srv/app/state.json"]

An entry starting with `=` allows that exact path only, not what is below it.
"""

from __future__ import annotations

import os
import re
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

POLICY_KEYS = {"version", "defaults", "allow"}
_GLOB_CHARS = re.compile(r"[*?\[]")


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """`**` crosses directories, `*` and `?` stay within one; a match covers what is below."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + "(?:/.*)?", re.DOTALL)


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
        self._exact = frozenset(r.pattern[1:] for r in self.rules if r.is_exact)
        self._dirs = tuple(r.pattern for r in self.rules if not r.is_glob and not r.is_exact)
        self._globs = tuple(_glob_regex(r.pattern) for r in self.rules if r.is_glob and not r.is_exact)

    @property
    def entries(self) -> list[str]:
        return [r.pattern for r in self.rules]

    def allows(self, path: bytes) -> bool:
        text = os.fsdecode(path)
        if text in self._exact:
            return True
        for d in self._dirs:
            if text == d or text.startswith(d + "/") or d == "/":
                return True
        return any(g.fullmatch(text) for g in self._globs)


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
    if version != 1:
        raise BadInput(f"policy {path}: unsupported version {version!r} (this rotrace reads 1)")
    defaults = data.get("defaults", True)
    if not isinstance(defaults, bool):
        raise BadInput(f"policy {path}: 'defaults' must be true or false")
    allow = data.get("allow", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) and a for a in allow):
        raise BadInput(f"policy {path}: 'allow' must be a list of non-empty path strings")
    base = os.path.dirname(os.path.realpath(path))
    return defaults, [expand(a, base) for a in allow]


def build_allowlist(allow: list[str], policy: str | None, defaults: bool = True) -> Allowlist:
    """The default entries, then the policy file's, then each --allow."""
    entries: list[str] = []
    extra: list[str] = []
    if policy is not None:
        defaults, extra = load_policy_file(policy)
    if defaults:
        entries.extend(DEFAULT_ALLOW)
    entries.extend(extra)
    entries.extend(expand(a) for a in allow)
    return Allowlist(entries)
