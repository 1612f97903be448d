"""Hooks shared by every tier (helpers live in tests/support). Imports nothing of the tracer:
the unit tier (`scripts/test --fast`) runs without it."""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import settings

# The suite's commands run piped, as in CI, where a report is never wrapped. A terminal's width
# in the environment wraps it: exported, or set by readline (which pytest imports as it starts,
# _pytest/capture.py) in the C environment alone, which os.environ does not show and every child
# inherits.
for _width in ("COLUMNS", "LINES"):
    os.environ.pop(_width, None)
    os.unsetenv(_width)

# Property tests assert behaviour, never time: hypothesis's default deadline (200 ms an example)
# fails a correct example on a loaded machine (a CI runner, the system tier beside it).
settings.register_profile("rotrace", deadline=None)
settings.load_profile("rotrace")

# What each tool a test needs is called in Debian's packages.
PACKAGES = {"strace": "strace", "bwrap": "bubblewrap", "gcc": "gcc libc6-dev", "apparmor_parser": "apparmor"}


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`@pytest.mark.needs("strace")`: skipped where the tool is missing, but in CI (CI=true)
    a missing tool fails the test: CI must install everything (scripts/test does)."""
    for mark in item.iter_markers("needs"):
        missing = [tool for tool in mark.args if shutil.which(tool) is None]
        if missing:
            install = " ".join(PACKAGES.get(tool, tool) for tool in missing)
            message = f"needs {', '.join(missing)}: apt-get install {install}"
            if os.environ.get("CI"):
                pytest.fail(f"{message} (in CI no test is skipped for a missing tool)", pytrace=False)
            pytest.skip(message)
