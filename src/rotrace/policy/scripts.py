"""The files an interpreter's command line may run (`python app.py`, `sh start.sh`, `node srv.js`).

A program's other arguments are its data (`datasette state/hits.db`, `sqlite3 app.db`): a file
named there is no program, and the directory holding it may be a persistent mount that starts
with it. Where it is an interpreter's script, it is one, whatever its name. Python's and the
shells' options are known, so their script is told exactly; for another interpreter (node,
perl, ruby...), whose options rotrace does not all know, or where an option is not known, every
argument that is no option may be the script: a program is never taken for data.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Sequence

# Interpreters by the name of their executable (a version in it or not).
_INTERPRETER = re.compile(
    r"(python|pypy|perl|ruby|node|nodejs|php|lua|luajit|tclsh|wish|Rscript)[0-9.]*[mtd]?"
    r"|(ba|da|z|k|mk|pdk|c|tc|fi|a|y|le|)sh|bun|deno"
)
# Python's options (3.11-3.13): the letters that take no value, those that take one (attached
# or next), and the long ones.
_PY_FLAGS = set("bBdEhiIOPqRsSuvVx?")
_PY_VALUED = set("WX")
_PY_LONG_VALUED = {"--check-hash-based-pycs"}
_PY_LONG = {"--help", "--help-env", "--help-xoptions", "--help-all", "--version"}
# The shells' (dash, bash): one-letter flags, `-o NAME`/`+o NAME`, bash's long options.
_SH_FLAGS = set("abCefhiklmnprtuvxBEHPT")
_SH_LONG = {"--norc", "--noprofile", "--login", "--posix", "--noediting", "--restricted", "--verbose"}
_SH_LONG_VALUED = {"--rcfile", "--init-file"}


class _Unknown(Exception):
    """An option rotrace does not know: what follows may be its value or the script."""


def _python(args: list[str]) -> tuple[list[str], str | None]:
    """The files Python's arguments may run, and the module it runs with -m (None: none)."""
    it = iter(args)
    for arg in it:
        if arg == "--":
            return [next(it, "")][:1], None
        if arg in ("-", ""):
            return [], None  # its standard input
        if not arg.startswith("-"):
            return [arg], None
        if arg.startswith("--"):
            if arg in _PY_LONG_VALUED:
                next(it, None)
            elif arg.split("=", 1)[0] not in _PY_LONG_VALUED | _PY_LONG:
                raise _Unknown(arg)
            continue
        for i, letter in enumerate(arg[1:], start=1):
            if letter == "c":
                return [], None  # a string
            if letter == "m":  # a module, found from the working directory first
                module = arg[i + 1 :] or next(it, "")
                base = module.replace(".", "/")
                return ([f"{base}.py", f"{base}/__main__.py"], module) if module else ([], None)
            if letter in _PY_VALUED:
                if not arg[i + 1 :]:
                    next(it, None)
                break
            if letter not in _PY_FLAGS:
                raise _Unknown(arg)
    return [], None


def _shell(args: list[str]) -> list[str]:
    it = iter(args)
    for arg in it:
        if arg == "--":
            return [next(it, "")][:1]
        if arg in ("-", ""):
            return []
        if not arg.startswith(("-", "+")):
            return [arg]
        if arg.startswith("--"):
            if arg in _SH_LONG_VALUED:
                next(it, None)
            elif arg not in _SH_LONG:
                raise _Unknown(arg)
            continue
        letters = arg[1:]
        if "c" in letters or "s" in letters:
            return []  # a string, or its standard input (the rest are its parameters)
        for letter in letters:
            if letter in "oO":
                next(it, None)
            elif letter not in _SH_FLAGS:
                raise _Unknown(arg)
    return []


def interpreter_name(exe: bytes | str, cmdline: Sequence[str]) -> str | None:
    """The interpreter a process is, by its executable's name or by the name it was run as
    (busybox and toybox run `sh` as an applet named by argv[0]); None: no interpreter."""
    for name in (os.path.basename(os.fsdecode(exe)), os.path.basename(cmdline[0]) if cmdline else ""):
        if _INTERPRETER.fullmatch(name):
            return name
    return None


def python_module(exe: bytes | str, cmdline: Sequence[str]) -> str | None:
    """The module Python runs with -m (`python -Im pip`: pip), its top package; None: none."""
    name = interpreter_name(exe, cmdline)
    if name is None or not name.startswith(("python", "pypy")):
        return None
    try:
        _files, module = _python(list(cmdline[1:]))
    except _Unknown:
        return None
    return module.split(".")[0] if module else None


def modules_run(exe: bytes | str, cmdline: Sequence[str]) -> list[str]:
    """The modules a Python process may run, top packages: `-m`'s (`python_module`), and those
    a runner it runs is given so, in the same process (`coverage run -m pytest`, `python -m
    cProfile -m app`, `memray run -m app`)."""
    first = python_module(exe, cmdline)
    name = interpreter_name(exe, cmdline)
    if name is None or not name.startswith(("python", "pypy")):
        return []
    pairs = itertools.pairwise(cmdline[1:])
    given = [after for arg, after in pairs if arg in ("-m", "--module") and after[:1].isalpha()]
    return list(dict.fromkeys([*([first] if first else []), *(m.split(".")[0] for m in given)]))


def program_arguments(exe: bytes | str, cmdline: Sequence[str]) -> list[str]:
    """The arguments of `cmdline` (as written: relative or absolute) that may name a file the
    interpreter `exe` runs: its script (a module's files for `python -m`), or for an
    interpreter or an option rotrace cannot read, every argument that is no option; none
    when `exe` is no interpreter or runs no file (a string, its standard input)."""
    name = interpreter_name(exe, cmdline)
    if name is None:
        return []
    args = list(cmdline[1:])
    try:
        if name.startswith(("python", "pypy")):
            return _python(args)[0]
        if name.endswith("sh"):
            return _shell(args)
    except _Unknown:
        pass
    return [arg for arg in args if arg and not arg.startswith("-")]
