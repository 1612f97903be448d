"""Corpus tier: real tools (pytest, mypy, ruff, black, sphinx, compileall, pip, uv) on a real
project from the package index, each audited end to end (tests/support/corpus.py does the runs)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.support.corpus import WORKLOADS, Base, Workload, audit, base_dir, problems
from tests.support.uvtools import installed_uv

ROTRACE = [sys.executable, "-m", "rotrace"]
pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def base() -> Iterator[Base]:
    with base_dir(installed_uv()) as b:
        yield b


@pytest.mark.parametrize("workload", WORKLOADS, ids=[w.name for w in WORKLOADS])
def test_generated_allowlist_hides_nothing_and_replays(workload: Workload, base: Base) -> None:
    """Hides nothing that existed, flags-only docker output, valid k8s names, and a read-only
    replay under the generated policy that exits as the unconfined run with 0 violations (or,
    where no mount can help (a venv, the project itself), an export that names only that place,
    with a fix that fits the writes)."""
    out = audit(workload, base, ROTRACE)
    assert problems(out, workload, base) == []
