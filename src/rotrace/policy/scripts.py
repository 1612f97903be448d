"""The file an interpreter's command line runs (`python app.py`, `sh start.sh`, `node srv.js`).

A program's other arguments are its data (`datasette state/hits.db`, `sqlite3 app.db`): a file
named there is no program, and the directory holding it may be a persistent mount that starts
with it. Only the script an interpreter is asked to run is one, whatever its name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

# Interpreters by the name of their executable (a version in it or not).
_INTERPRETER = re.compile(
    rb"(python|pypy|perl|ruby|node|nodejs|php|lua|luajit|tclsh|wish|Rscript)[0-9.]*[mtd]?"
    rb"|(ba|da|z|k|mk|pdk|c|tc|fi|a|y|le|)sh|bun|deno"
)
# The options that take the next argument as their value, per family; an option that makes
# the command a string or a module (`python -c`, `-m`, `sh -c`, `perl -e`) runs no file.
_TAKES_VALUE = {
    "python": {b"-W", b"-X", b"--check-hash-based-pycs"},
    "sh": {b"-o", b"+o", b"-O", b"+O", b"--rcfile", b"--init-file"},
    "perl": {b"-I", b"-M", b"-m", b"-x"},
    "other": {b"-r", b"--require", b"-I", b"--import"},
}
_NO_FILE = {
    "python": {b"-c", b"-m"},
    "sh": {b"-c"},
    "perl": {b"-e", b"-E"},
    "other": {b"-e", b"--eval", b"-p", b"--print"},
}


def _family(exe_name: bytes) -> str | None:
    if not _INTERPRETER.fullmatch(exe_name):
        return None
    if exe_name.startswith((b"python", b"pypy")):
        return "python"
    if exe_name.startswith(b"perl"):
        return "perl"
    if exe_name.endswith(b"sh"):
        return "sh"
    return "other"


def _python_flags(raw: bytes) -> str:
    """What a cluster of Python's one-letter options (`-uB`, `-Bc`, `-Werror`) does: "file"
    (they make the command a string or a module: no file), "value" (the last takes the next
    argument), "" (flags only)."""
    for i, letter in enumerate(raw[1:].decode("ascii", "replace"), start=1):
        if letter in "cm":
            return "file"
        if letter in "WX":
            return "" if raw[i + 1 :] else "value"
    return ""


def script_argument(exe: bytes | str, cmdline: Sequence[str]) -> str | None:
    """The argument of `cmdline` naming the file the interpreter `exe` runs (as written:
    relative or absolute); None when `exe` is no interpreter or runs no file (a string, a
    module, its standard input)."""
    family = _family(os.path.basename(os.fsencode(exe)))
    if family is None:
        return None
    takes_value, no_file = _TAKES_VALUE[family], _NO_FILE[family]
    args = iter(cmdline[1:])
    for arg in args:
        raw = os.fsencode(arg)
        if raw == b"--":
            return next(args, None)
        if raw in (b"-", b""):
            return None  # its standard input
        if not (raw.startswith(b"-") or (family == "sh" and raw.startswith(b"+"))):
            return arg
        if raw in no_file:
            return None
        if family == "python" and not raw.startswith(b"--"):
            kind = _python_flags(raw)
            if kind == "file":
                return None
            if kind == "value":
                next(args, None)
            continue
        if raw in takes_value:
            next(args, None)
    return None
