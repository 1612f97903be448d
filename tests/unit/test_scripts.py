"""Which arguments of a command line may be a file an interpreter runs (rotrace.policy.scripts):
the only files a command line names that are programs; every other argument is data. Where
rotrace cannot read the options, every argument that is no option may be one."""

from __future__ import annotations

import pytest

from rotrace.policy.scripts import modules_run, program_arguments, python_module


@pytest.mark.parametrize(
    ("exe", "cmdline", "scripts"),
    [
        ("/usr/bin/python3.11", ["python3", "app.py", "data/notes.db"], ["app.py"]),
        ("/app/.venv/bin/python", ["python", "-u", "-W", "ignore", "run.py"], ["run.py"]),
        ("/usr/bin/python3", ["python3", "-Wignore::DeprecationWarning", "run.py"], ["run.py"]),
        ("/usr/bin/python3", ["python3", "-X", "dev", "--", "-odd.py"], ["-odd.py"]),
        ("/usr/bin/python3.12", ["python3", "-Bc", "print(1)", "x.py"], []),
        ("/usr/bin/python3", ["python3", "-m", "data.job", "in.db"], ["data/job.py", "data/job/__main__.py"]),
        ("/usr/bin/python3", ["python3", "-mtool", "x"], ["tool.py", "tool/__main__.py"]),
        ("/usr/bin/python3", ["python3", "-"], []),
        ("/usr/bin/python3", ["python3", "--future-option", "a.py", "b.db"], ["a.py", "b.db"]),
        ("/usr/bin/pypy3", ["pypy3", "main.py"], ["main.py"]),
        ("/usr/bin/bash", ["bash", "-e", "-o", "pipefail", "start.sh", "data"], ["start.sh"]),
        ("/usr/bin/bash", ["bash", "-euo", "pipefail", "start.sh"], ["start.sh"]),
        ("/bin/sh", ["sh", "-c", "cat x", "y"], []),
        ("/bin/sh", ["sh", "-s", "x"], []),
        ("/bin/dash", ["sh", "+e", "start"], ["start"]),
        ("/usr/bin/perl", ["perl", "-x", "tool.pl", "in.txt"], ["tool.pl", "in.txt"]),
        ("/usr/bin/node", ["node", "--title", "job", "data/job.js"], ["job", "data/job.js"]),
        ("/usr/bin/node", ["node", "server.js", "data.db"], ["server.js", "data.db"]),
        ("/srv/app/.venv/bin/datasette", ["datasette", "state/hits.db", "--create"], []),
        ("/usr/bin/sqlite3", ["sqlite3", "app.db", "vacuum"], []),
        ("/usr/bin/env", ["env", "python3", "app.py"], []),
        ("/bin/busybox", ["sh", "state/run.sh"], ["state/run.sh"]),  # an applet, named by argv[0]
    ],
)
def test_the_files_an_interpreter_may_run_are_its_program_arguments(
    exe: str, cmdline: list[str], scripts: list[str]
) -> None:
    assert program_arguments(exe, cmdline) == scripts


@pytest.mark.parametrize(
    ("exe", "cmdline", "module"),
    [
        ("/usr/bin/python3", ["python3", "-m", "pip", "list"], "pip"),
        ("/usr/bin/python3", ["python3", "-Im", "pip", "list"], "pip"),
        ("/usr/bin/python3", ["python3", "-mpip"], "pip"),
        ("/usr/bin/python3", ["python3", "-m", "black.__main__"], "black"),
        ("/usr/bin/python3", ["python3", "app.py", "-m", "pip"], None),
        ("/usr/bin/git", ["git", "commit", "-m", "pip"], None),
    ],
)
def test_the_module_python_runs_is_read_from_its_options(
    exe: str, cmdline: list[str], module: str | None
) -> None:
    assert python_module(exe, cmdline) == module


@pytest.mark.parametrize(
    ("exe", "cmdline", "modules"),
    [
        ("/usr/bin/python3", ["python3", "-m", "pip", "list"], ["pip"]),
        # a runner that runs a module in its own process: its settings (PYTEST_ADDOPTS) count
        ("/v/bin/python", ["/v/bin/python", "/v/bin/coverage", "run", "-m", "pytest", "-q"], ["pytest"]),
        ("/v/bin/python", ["python", "-m", "coverage", "run", "-m", "pytest"], ["coverage", "pytest"]),
        ("/v/bin/python", ["python", "-m", "cProfile", "-m", "app.main"], ["cProfile", "app"]),
        ("/v/bin/python", ["python", "app.py", "-m", "-x"], []),
        ("/usr/bin/git", ["git", "commit", "-m", "pytest"], []),
    ],
)
def test_the_modules_a_python_process_runs_include_a_runners(
    exe: str, cmdline: list[str], modules: list[str]
) -> None:
    assert modules_run(exe, cmdline) == modules
