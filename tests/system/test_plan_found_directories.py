"""The plan of a trace that holds no state for a directory (an older trace, made before the
states of directories were recorded) looks at the directory as it is on this machine, to be
safe: an empty mount over a directory that holds files would hide them. Not below a directory
the run made: nothing was there before the run, whatever a later run left."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rotrace.events import DirState
from rotrace.policy.mounts import plan_mounts
from tests.support.places import srv_dir
from tests.unit.factories import classify, event


@pytest.fixture
def home() -> Iterator[Path]:
    """A home in /srv: a directory no scratch mount covers."""
    with srv_dir("rotrace-home-") as top:
        yield top


def test_below_a_directory_the_run_made_nothing_was_held_before_it(home: Path) -> None:
    """IPython's history below ~/.ipython, which the run made: a later run had left
    profile_default/history.sqlite on this machine, and the plan blocked IPython's setting as
    one that would move a directory holding files before the run."""
    profile = home / ".ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "history.sqlite").write_bytes(b"left by a later run")
    made = [event(f"{home}/.ipython", "mkdir", 0), event(f"{profile}/history.sqlite", "create")]
    verdicts = classify(*made, home=str(home))  # (a home elsewhere: read as /root, as a run's is)
    plan = plan_mounts(verdicts, "/srv", {bytes(home): DirState.CONTENT}, environment={"HOME": str(home)})
    assert not [b for b in plan.blocked if b.kind == "held"], plan.blocked
    assert plan.env.get("IPYTHONDIR"), plan
