"""Plans that leave the machine that traced: `allowlist --map HOST=IMAGE` writes the paths as
the place the export runs names them, and `check` reads a policy's relative entries (and
--allow's) against the project directory recorded in the trace, never its own cwd."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tracing import PY, rotrace_cli

# Writes into its own tree: two directories it makes, and a file in each.
WORKLOAD = """
import os
for d in ("data", "instance/sessions"):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f"), "w") as f:
        f.write(d)
print(open("data/f").read(), open("instance/sessions/f").read())
"""


@pytest.fixture
def places() -> Iterator[dict[str, Path]]:
    """The project where it was traced (a CI checkout), a second checkout of it, a directory
    holding the policy, and an unrelated working directory: all outside /tmp."""
    top = Path(tempfile.mkdtemp(prefix="rotrace-exec-map-", dir="/var/tmp"))
    named = {name: top / name for name in ("ci", "other", "policies", "elsewhere")}
    for path in named.values():
        path.mkdir()
    for checkout in ("ci", "other"):
        (named[checkout] / "app.py").write_text(WORKLOAD)
    traced = rotrace_cli("run", "-q", "--json", "t.json", "--", sys.executable, "app.py", cwd=named["ci"])
    assert traced.returncode == 1, traced.stderr  # writes outside the allowlist
    shutil.rmtree(named["ci"] / "data")
    shutil.rmtree(named["ci"] / "instance")
    yield named
    shutil.rmtree(top)


def test_check_reads_relative_policy_entries_against_the_traced_project(places: dict[str, Path]) -> None:
    trace = str(places["ci"] / "t.json")
    policy = places["policies"] / "rotrace.toml"
    policy.write_text('version = 1\nallow = ["data", "instance"]\n')
    checked = rotrace_cli("check", trace, "--policy", str(policy), cwd=places["elsewhere"])
    assert checked.returncode == 0, checked.stderr
    assert f"relative entries are read against the traced project directory {places['ci']}" in checked.stderr
    allowed = rotrace_cli("check", trace, "--allow", "data", "--allow", "instance", cwd=places["elsewhere"])
    assert allowed.returncode == 0, allowed.stderr
    partial = rotrace_cli("check", trace, "--policy", str(policy.with_name("p2.toml")), cwd=places["ci"])
    assert partial.returncode == 3  # a missing policy file: bad input, not a silent default


@pytest.mark.needs("bwrap")
def test_bwrap_export_mapped_to_another_checkout_runs_there(places: dict[str, Path]) -> None:
    """Traced in one checkout, run in another: `--map CI=OTHER` puts every mount in the other
    checkout, where the workload then runs read-only with the output it has unconfined."""
    plain = subprocess.run([PY, "app.py"], cwd=places["other"], capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    shutil.rmtree(places["other"] / "data")
    shutil.rmtree(places["other"] / "instance")
    script = (
        'mapfile -t args < <("$0" -m rotrace allowlist "$1" --format bwrap --map "$2=$3")'
        ' && bwrap "${args[@]}" -- "$0" app.py'
    )
    trace, ci, other = str(places["ci"] / "t.json"), str(places["ci"]), str(places["other"])
    ran = subprocess.run(["bash", "-c", script, PY, trace, ci, other], cwd=other, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == plain.stdout
    assert not (places["other"] / "data").exists()  # a tmpfs, not the host's directory
    unmapped = subprocess.run(["bash", "-c", script, PY, trace, "/nowhere", "/else"], cwd=other,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    assert unmapped.returncode != 0  # the CI checkout's mounts do not make the other writable


@pytest.mark.parametrize("fmt", ["policy", "k8s", "docker", "compose", "bwrap", "apparmor"])
def test_map_rewrites_every_path_of_the_checkout_in_every_format(places: dict[str, Path], fmt: str) -> None:
    ci = str(places["ci"])
    out = rotrace_cli("allowlist", str(places["ci"] / "t.json"), "--format", fmt, "--map", f"{ci}=/app",
                      "--map", f"{ci}/instance=/var/lib/app", cwd=places["elsewhere"])  # fmt: skip
    # bwrap binds this machine's root, which has no /app to make /app/data in: said, exit 1
    assert out.returncode == (1 if fmt == "bwrap" else 0), out.stderr
    assert ci not in out.stdout
    found = out.stdout + out.stderr
    assert "/app/data" in found and "/var/lib/app" in found  # the longest HOST wins
    bad = rotrace_cli("allowlist", str(places["ci"] / "t.json"), "--format", fmt, "--map", "app=/app")
    assert bad.returncode == 2 and "HOST=IMAGE" in bad.stderr and "Traceback" not in bad.stderr
