"""Why uv changed a project's virtual environment at run time, where the environment says so: it
was built at another path and moved there (its scripts name the Python where it was built: uv
installs the project into it anew, and its entry points do not start, whatever setting stops
the writes), or for another Python than the project asks for (.python-version: uv looks for,
and downloads, that one to make the environment anew). Read from the environment and the
project when the plan is made, as the plan's other notes on what a directory holds are."""

from __future__ import annotations

import os
import re

_SCRIPTS = 64  # the entries of bin/ read, at most
_PYTHON = re.compile(r"(/.+)/bin/python[0-9.]*")
_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+)*")  # 3.12, 3.12.4: not a request uv reads otherwise (pypy@3.10)


def built_elsewhere(venv: str) -> str | None:
    """The directory `venv` was built as, where one of its scripts starts with `#!` and a Python
    of another environment (uv writes the environment's own, by its absolute path)."""
    directory = os.path.join(venv, "bin")
    try:
        names = sorted(os.listdir(directory))[:_SCRIPTS]
    except OSError:
        return None
    for name in names:
        try:
            with open(os.path.join(directory, name), "rb") as script:
                head = script.read(512)
        except OSError:
            continue
        if not head.startswith(b"#!"):
            continue
        words = head[2:].split(b"\n", 1)[0].split()
        found = _PYTHON.fullmatch(os.fsdecode(words[0])) if words else None
        if found is not None and os.path.normpath(found.group(1)) != os.path.normpath(venv):
            return found.group(1)
    return None


def _first_line(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip() and not line.lstrip().startswith("#"):
                    return line.strip()
    except OSError:
        return None
    return None


def _venv_python(venv: str) -> str | None:
    """The Python version `venv` was made with, as its pyvenv.cfg says (uv: version_info)."""
    try:
        with open(os.path.join(venv, "pyvenv.cfg"), encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition("=")
                if key.strip() in ("version_info", "version"):
                    return value.strip()
    except OSError:
        return None
    return None


def other_python(project: str, venv: str) -> tuple[str, str] | None:
    """(the Python the project asks for in .python-version, the one `venv` has), where the
    environment's is not one of those asked for (a version, as `3.12` or `3.12.4`)."""
    asked = _first_line(os.path.join(project, ".python-version"))
    has = _venv_python(venv)
    if asked is None or has is None or not _VERSION.fullmatch(asked):
        return None
    if has == asked or has.startswith(f"{asked}."):
        return None
    return asked, has


def notes(project: str | None, venvs: set[str], python_wanted: bool) -> list[str]:
    """What the environments uv changed (`venvs`) and the project say of why: built elsewhere,
    or (where uv looked for a Python: `python_wanted`) for another Python than the project asks
    for."""
    said = []
    for venv in sorted(venvs):
        old = built_elsewhere(venv)
        if old is not None:
            said.append(
                f"the environment {venv} was built as {old} and moved (its scripts start with #!{old}/bin/"
                "python): uv installs the project into it again when it starts, and its entry points do not"
                " run, UV_NO_SYNC or not; build it where it runs (`uv sync` in the image's WORKDIR)"
            )
    if project is not None and (python_wanted or venvs):
        venv = os.path.join(project, ".venv")
        found = other_python(project, venv)
        if found is not None:
            asked, has = found
            said.append(
                f"the project asks for Python {asked} (.python-version) and its environment {venv} is"
                f" Python {has}: uv looks for a Python {asked}, downloading one, to make the environment"
                f" anew; make the environment with Python {asked} in the image, or ask for {has}"
            )
    return said
