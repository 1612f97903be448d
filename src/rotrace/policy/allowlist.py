"""The allowlist: directories (each with everything below it) and globs of writable paths.

A policy file (TOML) holds the same rules:

    version = 1
    defaults = true                       # keep DEFAULT_ALLOW
    allow = ["/var/cache/app", "/home/*/.cache/**", "=/srv/app/state.json"]
    allow_bytes = ["/srv/caf%E9"]         # paths that are not UTF-8, percent-encoded

    persistent = ["/var/lib/app"]         # mounts whose data must survive a restart
    [env]                                 # settings the application runs with
    PYTHONPYCACHEPREFIX = "/tmp/pycache"

An entry starting with `=` allows that exact path only, not what is below it. A relative entry
means the project directory: where the policy file lives when a command runs under it, the
traced working directory when `rotrace check` reads a trace with it. The same keys may live in
the application's own pyproject.toml, under `[tool.rotrace]` (PYPROJECT_TABLE).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from rotrace.errors import BadInput, BadOption
from rotrace.inputs import MiB, read_input
from rotrace.pathnames import normal
from rotrace.patterns import Lazy
from rotrace.policy.globcover import Name, covers, samples

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

PYPROJECT = "pyproject.toml"
PYPROJECT_TABLE = ("tool", "rotrace")  # where a pyproject.toml holds the policy
POLICY_LIMIT = 16 * MiB  # a policy file is read whole
POLICY_KEYS = {"version", "defaults", "allow", "allow_bytes", "persistent", "env"}
_ENV_NAME = Lazy(r"[A-Za-z_][A-Za-z0-9_]*")
_GLOB_CHARS = re.compile(r"(?<!\\)[*?\[]")  # not escaped with a backslash
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_META = Lazy(r"([*?\[\]\\])")


def entry_error(entry: str) -> str | None:
    """Why an allowlist entry, as written, cannot be meant (None: it can). wcmatch drops a
    range written backwards (`[z-a]`) without a word, so such a glob would allow less than it
    says, or nothing at all: refused rather than guessed at."""
    if not entry:
        return "needs a path (an empty one would allow the working directory)"
    if "\0" in entry:  # (`\u0000` in TOML, `%00` in allow_bytes): the kernel's paths end there
        return f"{entry!r}: holds a NUL byte, which no path can"
    if any(m.group(1) == "/" for m in _ESCAPE.finditer(entry)):
        return (
            f"{entry!r}: a backslash before `/` escapes nothing a name can hold (`a/..\\/b` is `a/../b`"
            " to the kernel): write the path it means"
        )
    for part in entry.removeprefix("=").split("/"):
        if part not in (".", "..") and _ESCAPE.sub(r"\1", part) in (".", ".."):
            return (
                f"{entry!r}: {part!r} spells `.` or `..` with backslashes, which the kernel takes for the"
                " directory itself or its parent, not a name: write the path it means"
            )
    if entry.startswith("="):
        rest = entry[1:]
        if not rest or rest.startswith("="):
            return f"{entry!r}: an exact entry is '=' and then a path"
        return None  # an exact path is literal: no glob in it
    backwards = _backward_range(entry)
    if backwards is not None:
        low, high = backwards
        return f"{entry!r}: the range {low}-{high} is written backwards (a range is low-high: {high}-{low}?)"
    return None


def _backward_range(pattern: str) -> tuple[str, str] | None:
    """The first `a-b` range in a `[...]` of the glob with b before a, in wcmatch's reading:
    a backslash escapes, `]` first in the set is literal, `[:class:]` is one item, and a
    `[` with no closing `]` (or a `/` before it) is a literal character."""
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] != "[":
            i += 1
            continue
        j = i + 1 + (pattern[i + 1 : i + 2] in ("!", "^"))
        items: list[tuple[str, bool] | None] = []  # (character, escaped); None: a [:class:]
        while j < n and pattern[j] != "/" and (pattern[j] != "]" or not items):
            if pattern.startswith("[:", j) and (end := pattern.find(":]", j + 2)) != -1:
                items.append(None)
                j = end + 2
            elif pattern[j] == "\\" and j + 1 < n:
                items.append((pattern[j + 1], True))
                j += 2
            else:
                items.append((pattern[j], False))
                j += 1
        if j >= n or pattern[j] != "]":
            i += 1  # not a set: the `[` is literal
            continue
        k = 0
        while k < len(items):
            low, dash, high = [*items[k : k + 3], None, None][:3]
            if low is not None and high is not None and dash == ("-", False):
                if ord(high[0]) < ord(low[0]):
                    return low[0], high[0]
                k += 3
            else:
                k += 1
        i = j + 1
    return None


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
    # no brace expansion (no BRACE flag): `limit` would only cap how many entries a policy has
    matcher = glob.compile(expanded, flags=flags, limit=0)
    return matcher.match


class Rule(NamedTuple):
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


def expand(entry: str, base: str | None = None, home: str | None = None) -> str:
    """~ expanded (`~/` to `home` where given: a trace's run's HOME, else this user's),
    relative paths made absolute against base (default: the cwd), normalised. The home
    directory and the base are literal paths, put into the entry with their glob characters
    escaped: `cache` in a project at /srv/app[1] means /srv/app[1]/cache, not a glob that
    misses it and matches /srv/app1/cache."""
    if entry.startswith("="):
        return "=" + expand(entry[1:], base, home)
    if entry.startswith("~"):
        user, sep, rest = entry.partition("/")
        found = home if user == "~" and home else os.path.expanduser(user)
        if found != user and normal(found) == "/" and not rest.strip("/"):
            raise BadInput(
                f"{entry}: the home is /, which {entry} would make the whole tree: write the directory itself"
            )
        if found != user:
            entry = escape_glob(found) + sep + rest
    if not entry.startswith("/"):
        entry = os.path.join(escape_glob(base or os.getcwd()), entry)
    return normal(entry)


class Allowlist:
    def __init__(self, entries: list[str], implicit: frozenset[str] = frozenset()) -> None:
        seen: dict[str, None] = {}
        for entry in entries:
            seen.setdefault(entry, None)
        self.rules = [Rule(e) for e in seen]
        self.implicit = implicit  # the entries there only as defaults, which the user did not name
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
        if self.allows_plainly(path):
            return True
        return self._glob is not None and self._glob_covers(os.fsdecode(path))

    def allows_plainly(self, path: bytes) -> bool:
        """`allows` by the literal rules alone: a directory holding it, or the path itself."""
        return self._everything or path in self._exact or path.startswith(self._below)

    def mount_of(self, path: bytes) -> bytes | None:
        """Which mount `path` would be on under a read-only root with the allowlist's
        directories writable: the deepest directory entry holding it, b"" for the read-only
        root itself; None when a glob or an exact entry allows it (no mount of its own)."""
        if self._everything:
            return b"/"
        holding = [d for d in self._below if path.startswith(d) or path + b"/" == d]
        if holding:
            return max(holding, key=len)
        return None if self.allows(path) else b""

    def allows_from(self, path: bytes, pid: int, tid: int) -> bool:
        """`allows`, for a write by process `pid` (thread `tid`): the tracer records
        /proc/self as /proc/PID, which is /proc/self again when PID is the writer's own."""
        if self.allows(path):
            return True
        own = b"/proc/%d" % pid
        if path != own and not path.startswith(own + b"/"):
            return False
        rest = path[len(own) :]
        thread = b"/task/%d" % tid
        in_thread = rest == thread or rest.startswith(thread + b"/")
        if in_thread and self.allows(b"/proc/thread-self" + rest[len(thread) :]):
            return True
        return self.allows(b"/proc/self" + rest)

    def covers_all(self, path: tuple[Name, ...]) -> bool:
        """A glob of the allowlist allows every path of `path` (a merged trace's glob, as sets
        of characters: globcover.py), as wcmatch confirms on paths drawn from it."""
        if self._glob is None:
            return False
        globs = [r.pattern for r in self.rules if r.is_glob and not r.is_exact]
        if not any(covers(g, path) or (g.endswith("/**") and covers(g[:-3], path)) for g in globs):
            return False
        return all(self._glob_covers(sample) for sample in samples(path))

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


# Entries that name something else in each process, which no Landlock rule (on one inode) can
# stand for: /proc/self is /proc/PID of whichever process looks (a rule on /proc would let the
# command write another process's oom_score_adj, or as root /proc/sys); /dev/stdout and
# /dev/stderr are fds 1 and 2, reopened as the file behind them (which its own place decides).
_PER_PROCESS = ("/proc/self", "/proc/thread-self", "/dev/stdout", "/dev/stderr")
_TERMINALS = "/dev/pts"


class Grants(NamedTuple):
    """What Landlock is asked to grant for an allowlist (landlock.build's paths: `=PATH` for a
    file alone), and what of the allowlist that leaves out."""

    paths: tuple[str, ...]
    notes: tuple[str, ...]


def enforceable(allowlist: Allowlist) -> Grants:
    """The Landlock rules for this allowlist: never wider than it, narrower where a rule cannot
    say the same thing (each left-out part is in the notes; writes there are denied).

    A rule needs an existing path: a glob is expanded to what it matches now (its concrete
    matches: landlock.build refuses any reached through a symbolic link); one that matches
    nothing cannot be enforced, and is refused. The default /dev/pts (every pseudo-terminal on
    the machine: as root, other users' too) is narrowed to rotrace's own terminal.
    """
    paths: list[str] = []
    notes: list[str] = []
    per_process = []
    for rule in allowlist.rules:
        if rule.is_glob and not rule.is_exact:
            from wcmatch import glob

            # `DIR/**` is DIR and everything below it: a rule on each DIR, not on each file below
            # (one walk of every file there, seconds to minutes: `~/.pyenv/**`, `/tmp/**`)
            whole = rule.pattern.endswith("/**")
            pattern = (rule.pattern[:-3] or "/") if whole else rule.pattern
            found = glob.glob(pattern, flags=glob.GLOBSTAR | glob.DOTGLOB)
            if not found:
                raise BadInput(
                    f"--enforce: the glob {rule.pattern!r} matches nothing that exists now, and a"
                    " Landlock rule needs an existing path: name the directories instead"
                )
            paths.extend(sorted(found))
        elif rule.path in _PER_PROCESS:
            per_process.append(rule.path)
        elif rule.path == _TERMINALS and _TERMINALS in allowlist.implicit:
            mine = own_terminals()
            paths.extend("=" + t for t in mine)
            this = f"only this terminal ({', '.join(mine)})" if mine else "none (rotrace runs on no terminal)"
            notes.append(f"enforced: of {_TERMINALS}, {this} is writable (--allow {_TERMINALS}: all of them)")
        else:
            paths.append("=" + rule.path if rule.is_exact else rule.path)
    if "/proc/self" in per_process or "/proc/thread-self" in per_process:
        notes.append(
            "enforced: no Landlock rule for /proc/self (each process has its own /proc/PID, and a rule"
            " on /proc would cover every process and /proc/sys): writes under /proc are denied"
        )
    return Grants(tuple(dict.fromkeys(paths)), tuple(notes))


def own_terminals() -> list[str]:
    """The pseudo-terminals rotrace runs on: its stdin, stdout, stderr, and its controlling
    terminal."""
    found: set[str] = set()
    fds = [0, 1, 2]
    with contextlib.suppress(OSError):  # else there is no controlling terminal
        fds.append(os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC | os.O_NONBLOCK))
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.isatty(fd) and (name := os.ttyname(fd)).startswith(_TERMINALS + "/"):
                found.add(name)
    if len(fds) > 3:
        os.close(fds[3])
    return sorted(found)


class Policy(NamedTuple):
    """A policy file as read: its entries (relative ones as written, see `resolve`), the mounts
    whose data must survive a restart (as written too, see `places`), and the settings (env)
    the application runs with."""

    defaults: bool
    allow: list[str]
    persistent: list[str]
    env: dict[str, str]
    home: str  # the directory the file lives in: the project directory, unless told another

    def resolve(self, project: str | None = None, user_home: str | None = None) -> list[str]:
        """The allow entries, relative ones made absolute against `project` (default: the
        directory of the policy file), `~/` read as `user_home` (default: this user's)."""
        return [expand(a, project or self.home, user_home) for a in self.allow]

    def settings(self, project: str | None = None) -> dict[str, str]:
        """The settings, a value `./PATH` (a place in the project, as `allowlist --format policy`
        writes one: no machine's path) made absolute against `project` (default: the directory
        of the policy file), as `resolve` makes the allow entries."""
        base = project or self.home
        return {
            name: os.path.normpath(os.path.join(base, value[2:])) if value.startswith("./") else value
            for name, value in self.env.items()
        }

    def places(self, project: str | None = None, user_home: str | None = None) -> list[str]:
        """The persistent places, as `resolve` makes the allow entries absolute: against the
        same directory (a trace's project for `check`), so that `persistent = ["data"]` is the
        place `allow = ["data"]` allows."""
        return [expand(p, project or self.home, user_home) for p in self.persistent]

    @property
    def relative(self) -> bool:
        return any(not a.removeprefix("=").startswith(("/", "~")) for a in self.allow)


def is_pyproject(path: str) -> bool:
    """A pyproject.toml holds the policy in its [tool.rotrace] table, any other file at its top."""
    return os.path.basename(path) == PYPROJECT


def read_toml(path: str) -> tuple[str, dict[str, Any]]:
    """A policy file's text and what it holds; BadInput says why it cannot be read."""
    try:
        text = read_input(path, "policy", POLICY_LIMIT).decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"policy {path} is not UTF-8 text") from None
    import tomllib  # only when a policy file is given: it costs start-up time

    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"policy {path}: invalid TOML: {exc}") from None
    except ValueError:  # an integer past Python's 4,300 digits (int_max_str_digits)
        raise BadInput(f"policy {path}: invalid TOML: a number too long to convert") from None
    except RecursionError:  # arrays or inline tables nested past the parser's recursion
        raise BadInput(f"policy {path}: invalid TOML: nested too deeply") from None


def policy_table(data: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The table of a parsed file that holds the policy: the whole file, or a pyproject.toml's
    [tool.rotrace] (None when it has none)."""
    if not is_pyproject(path):
        return data
    table: Any = data
    for key in PYPROJECT_TABLE:
        table = table.get(key) if isinstance(table, dict) else None
    return table if isinstance(table, dict) else None


def load_policy(path: str) -> Policy:
    """A policy TOML file (rotrace.toml, or a pyproject.toml's [tool.rotrace]); BadInput says
    where it is wrong."""
    _, parsed = read_toml(path)
    found = policy_table(parsed, path)
    if found is None:
        raise BadInput(f"policy {path}: no [tool.rotrace] table (the policy's keys go there)")
    data, source = found, path
    if not parsed:  # a file with no key at all: most often `rotrace allowlist ... > FILE` that failed
        raise BadInput(f"policy {path} holds nothing (expected: {', '.join(sorted(POLICY_KEYS))})")
    if is_pyproject(path):
        path = f"{path} [tool.rotrace]"  # what the messages name
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

        for entry in _entries(data, "allow_bytes", path):
            if _BAD_ESCAPE.search(entry):  # `%zz`: unquote keeps it as it is, another path than meant
                why = "a % not followed by two hex digits"
                raise BadInput(f"policy {path}: allow_bytes entry {entry!r}: {why}")
            allow.append(os.fsdecode(unquote_to_bytes(entry)))
    persistent = _entries(data, "persistent", path)
    for entry in allow + persistent:
        error = entry_error(entry)
        if error is not None:
            raise BadInput(f"policy {path}: allow entry {error}")
    env = data.get("env", {})
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and _ENV_NAME.fullmatch(k) and isinstance(v, str) and "\0" not in v
        for k, v in env.items()
    ):
        raise BadInput(f"policy {path}: 'env' must be a table of NAME = \"value\" (NAME a shell identifier)")
    home = os.path.dirname(os.path.realpath(source))
    return Policy(defaults, allow, persistent, dict(env), home)


def load_policy_file(path: str) -> tuple[bool, list[str]]:
    """(keep defaults, allow entries, relative ones against the file's directory)."""
    policy = load_policy(path)
    return policy.defaults, policy.resolve()


_BAD_ESCAPE = Lazy(r"%(?![0-9A-Fa-f]{2})")


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


def build_allowlist(
    allow: list[str],
    policy: Policy | None,
    defaults: bool = True,
    project: str | None = None,
    home: str | None = None,
) -> Allowlist:
    """The default entries, then the policy's (a file read once by `load_policy`: a FIFO or a
    file being edited gives one answer), then each --allow. Relative entries mean `project`
    when given (a trace's working directory), else the policy file's directory (its entries)
    and the working directory (--allow); `~/`, `home` when given (a trace's HOME)."""
    entries: list[str] = []
    extra: list[str] = []
    if policy is not None:
        defaults, extra = policy.defaults, policy.resolve(project, home)
    if defaults:
        entries.extend(DEFAULT_ALLOW)
    for entry in allow:
        error = entry_error(entry)
        if error is not None:
            raise BadOption(f"--allow {error}")
    named = [*extra, *(expand(a, project, home) for a in allow)]
    implicit = frozenset(DEFAULT_ALLOW).difference(named) if defaults else frozenset()
    return Allowlist([*entries, *named], implicit)
