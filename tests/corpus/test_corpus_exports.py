"""Corpus tier: the tools' plans (tests/support/corpus.py) run in containers as users run them:
the docker flags with `podman run --read-only-tmpfs=false` and the k8s fragment in a Pod (`podman
kube play --network none`), as uid 1000, from one image holding the tools' venv at /venv and, for
each tool, the project as it was before the trace and built as its plan says, at /apps/NAME.
Each must exit as the unconfined run did, with no write refused; the AppArmor profiles compile.
The policy of every tool is replayed by `rotrace run --read-only --policy` in test_corpus.py.

Not here: the workloads whose plan names a place no mount can fix (venv-install, uv-pip-install,
uv-run: a read-only root must refuse them, test_corpus.py checks the plan says so), and
uv-run-no-sync (uv's project venv links to the host's Python, which the image does not hold).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support.containers import kube_wrapper, play_pod, podman_wrapper
from tests.support.corpus import WORKLOADS, Base, Workload, base_dir, tools_venv
from tests.support.corpus_images import (
    HOME,
    PATH,
    USER,
    VENV,
    Mapping,
    base_rootfs,
    image_tree,
    import_tree,
)
from tests.support.kube import pod
from tests.support.plans import plan_of

ROTRACE = [sys.executable, "-m", "rotrace"]
pytestmark = [pytest.mark.corpus, pytest.mark.needs("podman", "catatonit")]
IN_IMAGE = [w for w in WORKLOADS if w.not_mountable is None and "{uv}" not in " ".join(w.argv)]


@dataclass
class Traced:
    workload: Workload
    trace: Path
    mapping: Mapping
    exit_code: int  # the unconfined run's


@dataclass
class Tools:
    traced: dict[str, Traced]
    image: str
    podman: Path
    kube: Path

    def argv(self, w: Workload) -> list[str]:
        return [a.format(venv=VENV) for a in w.argv]

    def env(self, w: Workload) -> dict[str, str]:
        return {"HOME": HOME, "PATH": PATH, **{k: v.format(venv=VENV, home=HOME) for k, v in w.env}}

    def export(self, name: str, fmt: str) -> str:
        t = self.traced[name]
        argv = [*ROTRACE, "allowlist", str(t.trace), "--format", fmt, *t.mapping.args()]
        proc = subprocess.run(argv, cwd=t.mapping.tree, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


@pytest.fixture(scope="module")
def tools() -> Iterator[Tools]:
    if os.geteuid() != 0:
        pytest.skip("podman here runs as root (a private mount namespace for cgroups)")
    if not os.path.exists("/usr/bin/python3.11"):
        pytest.skip("needs /usr/bin/python3.11 for the image")
    work = Path(tempfile.mkdtemp(prefix="rotrace-tools-image-", dir="/var/tmp"))
    try:
        with base_dir(None) as base:
            podman, kube = podman_wrapper(work), kube_wrapper(work)
            root = work / "root"
            root.mkdir()
            base_rootfs(root, tools_venv())
            traced = {w.name: _trace(w, base, work, root) for w in IN_IMAGE}
            image = f"localhost/rotrace-corpus-tools:{os.getpid()}"
            import_tree(podman, root, image)
            shutil.rmtree(root)
            try:
                yield Tools(traced, image, podman, kube)
            finally:
                subprocess.run([str(podman), "rmi", "-f", image], capture_output=True, timeout=300)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _trace(w: Workload, base: Base, work: Path, root: Path) -> Traced:
    """Trace the tool on the host; put the project, before the trace and built as the plan says,
    into the image."""
    base.lay(w)
    cwd, env = base.root / w.cwd, base.env(w.env)
    trace = work / f"{w.name}.json"
    argv = [*ROTRACE, "run", "-q", "--json", str(trace), "--", *base.argv(w)]
    ran = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=600, check=False)
    assert trace.exists(), ran.stderr
    exit_code = json.loads(trace.read_text())["exit_code"]
    mapping = Mapping(str(cwd), str(tools_venv()), str(base.root / "home"), w.name)
    base.lay(w)
    dest = root / image_tree(w.name).lstrip("/")
    shutil.copytree(cwd, dest, symlinks=True)
    for step in plan_of(trace).build:  # the image's build, its paths as the image has them
        line = step._replace(
            directories=tuple(str(root) + mapping.path(d) for d in step.directories)
        ).command()
        subprocess.run(["sh", "-c", line], cwd=dest, env=env, check=True, capture_output=True, timeout=600)
    return Traced(w, trace, mapping, exit_code)


@pytest.mark.parametrize("workload", IN_IMAGE, ids=[w.name for w in IN_IMAGE])
def test_docker_flags_run_the_tool_in_podman(workload: Workload, tools: Tools) -> None:
    t = tools.traced[workload.name]
    flags = tools.export(workload.name, "docker").splitlines()
    assert flags[0] == "--read-only"
    env = [f"--env={k}={v}" for k, v in tools.env(workload).items()]
    argv = [str(tools.podman), "run", "--rm", "-i", *flags, "--read-only-tmpfs=false", "--user", str(USER),
            "--workdir", image_tree(workload.name), *env, tools.image, *tools.argv(workload)]  # fmt: skip
    ran = subprocess.run(argv, input="", capture_output=True, text=True, timeout=600)
    assert ran.returncode == t.exit_code, (ran.stdout + ran.stderr)[-3000:]
    assert "Read-only file system" not in ran.stdout + ran.stderr, (ran.stdout + ran.stderr)[-3000:]


@pytest.mark.parametrize("workload", IN_IMAGE, ids=[w.name for w in IN_IMAGE])
def test_k8s_fragment_in_a_pod_runs_the_tool(workload: Workload, tools: Tools, tmp_path: Path) -> None:
    t = tools.traced[workload.name]
    fragment = yaml.safe_load(tools.export(workload.name, "k8s"))
    name = f"tools-{workload.name}-{os.getpid()}"[:60].rstrip("-")
    manifest = pod(fragment, tools.image, name, tools.argv(workload), tools.env(workload))
    container = manifest["spec"]["containers"][0]
    container["workingDir"] = image_tree(workload.name)
    container["securityContext"]["runAsUser"] = USER
    status, output = play_pod(tools.kube, manifest, tmp_path)
    assert status == t.exit_code, output[-3000:]
    assert "Read-only file system" not in output, output[-3000:]


@pytest.mark.needs("apparmor_parser")
@pytest.mark.parametrize("workload", IN_IMAGE, ids=[w.name for w in IN_IMAGE])
def test_apparmor_profile_of_the_tool_compiles(workload: Workload, tools: Tools, tmp_path: Path) -> None:
    """The profile compiles (this kernel cannot load one: compiling is what can be checked)."""
    profile = tmp_path / "tool.profile"
    profile.write_text(tools.export(workload.name, "apparmor"))
    parser = shutil.which("apparmor_parser") or "/usr/sbin/apparmor_parser"
    parsed = subprocess.run([parser, "-Q", "-K", str(profile)], capture_output=True, text=True, timeout=60)
    assert parsed.returncode == 0, parsed.stderr
