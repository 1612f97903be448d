"""Many runs -> one policy, end to end on real runs (tests/support/merge_flow.py, which
scripts/merge-flow runs): random names become one glob per family, the merged policy holds
every run read-only, a run that writes a new place fails `check` until `--update` widens it,
and another application's trace is not merged silently."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.merge_flow import CELLS, flow
from tests.support.policy_flow import Step

pytestmark = pytest.mark.needs("bwrap")  # the read-only replays


@pytest.fixture(scope="module")
def steps() -> Iterator[tuple[Path, dict[str, Step]]]:
    base = Path(tempfile.mkdtemp(prefix="rotrace-merge-flow-", dir="/var/tmp"))
    try:
        project = base / "app"
        yield project, {step.name: step for step in flow(project)}
    finally:
        shutil.rmtree(base)


def test_every_step_exits_as_a_user_expects(steps: tuple[Path, dict[str, Step]]) -> None:
    for step in steps[1].values():
        assert step.ok, (step.name, step.returncode, step.stderr)


def test_random_names_become_one_glob_per_family_and_the_rest_stays_literal(
    steps: tuple[Path, dict[str, Step]],
) -> None:
    project, by_name = steps
    said = [line for line in by_name["merge"].stderr.splitlines() if "generalised" in line]
    assert len(said) == 2, said
    assert any(
        f"{project}/state/job-" in s and s.endswith(".tmp") and f"5 of {CELLS} runs" in s for s in said
    )
    assert any(f"{project}/work/tmp" in s for s in said)
    merged = json.loads((project / "merged.json").read_text())["events"]
    paths = {e["path"] for e in merged} | {e["target"] for e in merged if e["target"]}
    literal = {f"{project}/data/jobs.db", f"{project}/state/latest.json"}
    assert literal <= paths, sorted(paths)
    families = {p for p in paths if p.startswith((f"{project}/state/job-", f"{project}/work/tmp"))}
    assert families and all("[" in p for p in families), families  # no per-run name kept literally
    assert len({re.sub(r"/part$", "", p) for p in families}) == 2, families


def test_the_merged_policy_holds_every_run_read_only(steps: tuple[Path, dict[str, Step]]) -> None:
    project, by_name = steps
    generated = by_name["policy from merged"].stdout
    assert f"{project}/" not in generated  # no machine's checkout in a file to commit
    assert tomllib.loads(generated)["allow"] == ["data", "state", "work"]
    for place in ("data", "state", "work"):
        assert f"# ./{place}: seen in {CELLS} of {CELLS} runs" in generated  # (the project relatively)
    for cell in range(1, CELLS + 1):
        replay = by_name[f"read-only replay of cell {cell}"]
        assert replay.returncode == 0, replay.stderr
        assert f'done {{"cell": "{cell}"}}' in replay.stdout
        assert "Read-only file system" not in replay.stderr


def test_a_new_place_fails_check_until_update_widens_the_policy(steps: tuple[Path, dict[str, Step]]) -> None:
    project, by_name = steps
    failed = by_name["check all runs"]
    assert failed.returncode == 1
    allow_line = (project / "rotrace.toml").read_text().splitlines().index(
        "allow = ["
    ) + 1  # --update kept it
    annotations = [
        s for s in failed.stdout.splitlines() if s.startswith(f"::error file=rotrace.toml,line={allow_line},")
    ]
    assert annotations and "traces/cell6.json" in annotations[0] and f"{project}/exports" in annotations[0]
    update = by_name["check --update"]
    assert '+    "exports",' in update.stdout
    assert tomllib.loads((project / "rotrace.toml").read_text())["allow"] == [
        "data",
        "state",
        "work",
        "exports",
    ]
    assert by_name["check all runs again"].returncode == 0


def test_another_application_is_refused_unless_grouped(steps: tuple[Path, dict[str, Step]]) -> None:
    project, by_name = steps
    refused = by_name["merge two apps"]
    assert refused.returncode == 3 and "different applications" in refused.stderr
    assert not (project / "both.json").exists()
    assert len(list((project / "grouped").glob("*.json"))) == 2
