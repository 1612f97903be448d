"""Which argument of a command line is the file an interpreter runs (rotrace.policy.scripts): the one
file of a command line that is a program; every other argument is data."""

from __future__ import annotations

import pytest

from rotrace.policy.scripts import script_argument


@pytest.mark.parametrize(
    ("exe", "cmdline", "script"),
    [
        ("/usr/bin/python3.11", ["python3", "app.py", "data/notes.db"], "app.py"),
        ("/app/.venv/bin/python", ["python", "-u", "-W", "ignore", "run.py"], "run.py"),
        ("/usr/bin/python3", ["python3", "-Wignore::DeprecationWarning", "run.py"], "run.py"),
        ("/usr/bin/python3", ["python3", "-X", "dev", "--", "-odd.py"], "-odd.py"),
        ("/usr/bin/python3.12", ["python3", "-Bc", "print(1)", "x.py"], None),
        ("/usr/bin/python3", ["python3", "-m", "pytest", "tests/test_a.py"], None),
        ("/usr/bin/python3", ["python3", "-"], None),
        ("/usr/bin/pypy3", ["pypy3", "main.py"], "main.py"),
        ("/usr/bin/bash", ["bash", "-e", "-o", "pipefail", "start.sh", "data"], "start.sh"),
        ("/bin/sh", ["sh", "-c", "cat x", "y"], None),
        ("/bin/dash", ["sh", "+e", "start"], "start"),
        ("/usr/bin/perl", ["perl", "-I", "lib", "tool.pl", "in.txt"], "tool.pl"),
        ("/usr/bin/perl", ["perl", "-e", "print 1", "in.txt"], None),
        ("/usr/bin/node", ["node", "-r", "dotenv/config", "server.js"], "server.js"),
        ("/srv/app/.venv/bin/datasette", ["datasette", "state/hits.db", "--create"], None),
        ("/usr/bin/sqlite3", ["sqlite3", "app.db", "vacuum"], None),
        ("/usr/bin/env", ["env", "python3", "app.py"], None),
    ],
)
def test_the_script_an_interpreter_runs_is_the_only_program_argument(
    exe: str, cmdline: list[str], script: str | None
) -> None:
    assert script_argument(exe, cmdline) == script
