"""A directory swapped for a symlink without pause by a process outside the traced tree, while
the traced command writes into it (tracer/dircache.py): the kernel does not order such a swap
against a write, so a write may land in either directory. Each placed write must be where the
file is at the end (the kernel's truth: which directory holds the name), or marked unresolved,
never placed in the other directory. rotrace runs as its own process (the CLI), the swapper is
another: no thread of the tracer's own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.racing_swap import HOWS, misplaced, swapping, writer
from tests.support.tracing import LOOPS, PY, rotrace_cli


def _env(loop: str) -> dict[str, str]:
    unset = ("COLUMNS", "ROTRACE_DIRCACHE", "ROTRACE_PURE_LOOP")  # the cache's default: on
    env = {k: v for k, v in os.environ.items() if k not in unset}
    if loop == "pure":
        env["ROTRACE_PURE_LOOP"] = "1"
    return env


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("loop", LOOPS)
def test_a_racing_swap_by_another_process_is_placed_right_or_unresolved(
    tmp_path: Path, loop: str, how: str
) -> None:
    with swapping(tmp_path, how):
        trace = str(tmp_path / "t.json")
        run = rotrace_cli("run", "-q", "--json", trace, "--", PY, "-c", writer(tmp_path), env=_env(loop))
    assert run.returncode in (0, 1), run.stderr  # 1: writes outside the default allowlist
    events = json.loads((tmp_path / "t.json").read_text())["events"]
    made = [e for e in events if e["op"] == "mkdir" and e["result"] == 0 and "/m" in e["path"]]
    wrong = misplaced(tmp_path, (None if e["unresolved"] else e["path"] for e in made))
    assert not wrong, f"{len(wrong)} of {len(made)} writes placed where they are not: {wrong[:5]}"
