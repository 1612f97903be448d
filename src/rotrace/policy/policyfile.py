"""A committed policy file: found from the working directory upward, its entries written as the
project names them (relative to it), and widened in place without losing what a person wrote.

The file is rotrace.toml, or the application's pyproject.toml with a [tool.rotrace] table (the
same keys). `update` edits it through tomlkit, which keeps every comment, the order and the
layout: new entries go at the end of `allow` (or `allow_bytes`), sorted, each string written
with every character that is not plain as an escape (a name chosen by a traced program must not
hide a line break or reorder the text of a file under review).
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any

from rotrace.errors import BadInput
from rotrace.escape import NOT_PLAIN, code_escape, safe_text
from rotrace.pathnames import is_under
from rotrace.policy.allowlist import (
    PYPROJECT,
    PYPROJECT_TABLE,
    escape_glob,
    is_pyproject,
    load_policy,
    policy_entry,
    policy_table,
    read_toml,
)

STANDALONE = "rotrace.toml"


def find_policy(start: str) -> str | None:
    """The policy that governs `start`: in it or the nearest directory above, rotrace.toml
    first, then a pyproject.toml that has a [tool.rotrace] table (one without is the project's
    and says nothing: the search goes on above it). None when there is none up to /."""
    directory = os.path.abspath(start)
    while True:
        standalone = os.path.join(directory, STANDALONE)
        if os.path.isfile(standalone):
            return standalone
        pyproject = os.path.join(directory, PYPROJECT)
        if os.path.isfile(pyproject) and policy_table(read_toml(pyproject)[1], pyproject) is not None:
            return pyproject
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


# What `check --update` never grants by itself, whatever a trace shows written there: the
# system's programs, libraries and configuration (/etc/cron.d, /etc/sudoers.d, /usr/local/bin),
# the kernel's files, the system's state and runtime (/var/lib/systemd, /run/systemd), the mail
# and job spools, a home itself and the keys kept in one (~/.ssh, ~/.gnupg): a write there stays
# a violation with its fix, for a person to decide.
_SYSTEM_TREES = ("/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/proc",
                 "/sys", "/dev", "/var/spool", "/var/mail", "/var/lib/dpkg", "/var/lib/apt",
                 "/var/lib/systemd", "/run/systemd", "/run/user", "/run/dbus", "/run/udev")  # fmt: skip
_SYSTEM_PLACES = frozenset({"/", "/run", "/var", "/var/lib", "/home", "/root", "/srv", "/opt", "/mnt",
                            "/media"})  # fmt: skip
_HOME_KEYS = frozenset({".ssh", ".gnupg", ".pki", ".aws", ".kube", ".docker"})
# sources, not programs: an image's `WORKDIR /usr/src/app` is the application's tree
_SOURCE_TREES = ("/usr/src", "/usr/local/src")


def _under(path: str, trees: tuple[str, ...]) -> bool:
    return any(is_under(path, tree) for tree in trees)


def never_granted(place: str, homes: tuple[str, ...] = ()) -> bool:
    """`place` (absolute) is a system tree or in one (_SYSTEM_TREES, _SYSTEM_PLACES), a home
    (below /home, /root, or a traced run's HOME: `homes`) or a home's keys (_HOME_KEYS); as
    written or where its symbolic links lead on this machine."""
    spelt = "/" + os.path.normpath(place).lstrip("/")  # `//etc` is /etc
    real = os.path.realpath(spelt)
    return any(_system(path, homes) for path in dict.fromkeys((spelt, real)))


def _system(path: str, homes: tuple[str, ...]) -> bool:
    if path in _SYSTEM_PLACES or (_under(path, _SYSTEM_TREES) and not _under(path, _SOURCE_TREES)):
        return True
    parts = path.split("/")
    if parts[1:2] == ["home"] and len(parts) == 3:  # a home itself: it holds its keys
        return True
    for given in ("/root", *(h for h in homes if h not in ("", "/"))):
        home = "/" + os.path.normpath(given).lstrip("/")
        if path == home:
            return True
        if path.startswith(home + "/") and path[len(home) + 1 :].split("/", maxsplit=1)[0] in _HOME_KEYS:
            return True
    return parts[1:2] == ["home"] and len(parts) > 3 and parts[3] in _HOME_KEYS  # /home/U/.ssh


def project_entry(path: str, project: str | None) -> str:
    """An allow entry for the directory `path`, relative when it is the project directory or
    below it (a committed policy names the project as the project, not as the machine that
    traced it named it), its glob characters escaped. A relative entry that would read as
    something else (`~...`, `=...`) starts with `./`. A run at `/` has no project of its own:
    its places stay absolute."""
    if project and project != "/" and (path == project or path.startswith(project.rstrip("/") + "/")):
        relative = os.path.relpath(path, project)
        entry = escape_glob(relative)
        return f"./{entry}" if entry.startswith(("~", "=")) else entry
    return escape_glob(path)


def toml_string(value: str) -> str:
    """A TOML basic string (with its quotes): tomli-w's escapes, and every character that is
    not plain (NEL, U+2028, bidirectional overrides...) as \\uXXXX (\\UXXXXXXXX)."""
    import tomli_w

    written = tomli_w.dumps({"k": value}).removeprefix("k = ").rstrip("\n")
    return NOT_PLAIN.sub(lambda m: code_escape(m.group()), written)


_TABLE_HEADER = re.compile(r"\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_KEY = r"""(?:"allow"|'allow'|allow)"""


def allow_line(path: str) -> int:
    """The line (from 1) of the policy's `allow` key, for an annotation that points at it; else
    its table's header, else line 1."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return 1
    wanted = ".".join(PYPROJECT_TABLE) if is_pyproject(path) else ""
    dotted = re.compile(rf"\s*{re.escape(wanted)}\s*\.\s*{_KEY}\s*=") if wanted else None
    key = re.compile(rf"\s*{_KEY}\s*=")
    table, header = "", 1
    for number, line in enumerate(lines, 1):
        found = _TABLE_HEADER.match(line)
        if found:
            table = re.sub(r"\s*\.\s*", ".", found.group(1).replace('"', ""))
            if table == wanted:
                header = number
            continue
        if (table == wanted and key.match(line)) or (table == "" and dotted and dotted.match(line)):
            return number
    return header


@dataclass(frozen=True)
class Breach:
    """Writes one run made where the policy does not allow: which trace (and the command it
    ran), which program, in which directory (one of the paths as the example), how many."""

    trace: str
    command: str
    program: str
    directory: str
    example: str
    count: int

    def describe(self) -> str:
        more = f" ({self.count} writes in {self.directory})" if self.count > 1 else ""
        return safe_text(
            f"{self.trace} ({self.command}): {self.program} wrote {self.example}{more}, outside the policy"
        )


@dataclass(frozen=True)
class Update:
    """What `update` did: the entries added, and the file's text before and after."""

    added: list[str]
    before: str
    after: str

    def diff(self, name: str) -> str:
        """A unified diff of the file, each line escaped for the terminal or the CI log."""
        lines = difflib.unified_diff(
            self.before.splitlines(), self.after.splitlines(), f"a/{name}", f"b/{name}", lineterm=""
        )
        return "".join(safe_text(line) + "\n" for line in lines)


def update(path: str, entries: list[str], persistent: list[str] | None = None) -> Update:
    """Widen the policy file at `path` with `entries` (allow entries as written in a policy:
    relative ones mean the project): those it does not hold yet go at the end of `allow` (or
    `allow_bytes` for a name that is not UTF-8), sorted, and those of `persistent` (places whose
    data must survive a restart) at the end of `persistent` too (a name that is not UTF-8 has no
    place there); nothing else in the file changes."""
    import tomlkit
    from tomlkit.items import Array, String, StringType, Trivia

    load_policy(path)  # a file it would refuse is not edited
    before, _ = read_toml(path)
    document = tomlkit.parse(before)
    table: Any = document
    if is_pyproject(path):
        for key in PYPROJECT_TABLE:
            table = table[key]
    added: list[str] = []
    wanted = sorted(policy_entry(e) for e in dict.fromkeys(entries))
    keep = dict.fromkeys(persistent or ())
    wanted += sorted(("persistent", e) for e in keep if policy_entry(e)[0] == "allow")
    for key, value in wanted:
        current = table.get(key)
        if current is None:
            current = table[key] = tomlkit.array()
        if not isinstance(current, Array):
            raise BadInput(f"policy {path}: {key!r} must be a list of non-empty path strings")
        if value in [str(v) for v in current]:
            continue
        item = String(StringType.SLB, value, toml_string(value)[1:-1], Trivia())
        if "\n" in current.as_string():
            indent = re.search(r"\n([ \t]*)[^\s\]]", current.as_string())
            current.add_line(item, indent=indent.group(1) if indent else "    ")
        else:
            current.append(item)
        added.append(value)
    after = tomlkit.dumps(document)
    if added:
        _replace(path, after)
        load_policy(path)  # what was written reads back
    return Update(added, before, after)


def _replace(path: str, text: str) -> None:
    """Write the file anew in one step (a reader sees the old text or the new, never half),
    keeping its mode; a symbolic link stays one (its target is written)."""
    real = os.path.realpath(path)
    temporary = None
    try:
        mode = os.stat(real).st_mode & 0o7777
        fd, temporary = tempfile.mkstemp(prefix=".rotrace-", dir=os.path.dirname(real))
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, real)
    except OSError as exc:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)
        raise BadInput(f"cannot write policy {path}: {exc.strerror}") from None
