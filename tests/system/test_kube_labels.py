"""`rotrace run` in a recorded Pod: label values and the trace's path name the Pod through
`$(NAME)`, expanded as Kubernetes expands a container's command, by rotrace where the runtime does
not (podman 4.3's `kube play` passes `$(ROTRACE_POD)` as it is)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.tracing import rotrace_cli


def test_run_reads_the_pod_name_from_the_environment(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if k != "COLUMNS"}, "ROTRACE_POD": "web-7f9c"}
    env.pop("UNSET_NAME", None)
    proc = rotrace_cli(
        "run", "-q", "--label", "pod=$(ROTRACE_POD)", "--label", "kept=$$(ROTRACE_POD)",
        "--label", "unset=$(UNSET_NAME)", "--json", f"{tmp_path}/$(ROTRACE_POD)-web.json", "--", "true",
        env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    trace = json.loads((tmp_path / "web-7f9c-web.json").read_text())
    assert trace["labels"] == {"pod": "web-7f9c", "kept": "$(ROTRACE_POD)", "unset": "$(UNSET_NAME)"}
