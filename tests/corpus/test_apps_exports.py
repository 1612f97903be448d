"""Corpus tier: every export of the applications' plans run as users run them, not only bwrap.

Each application is traced once on the host; its tree, as it was before the trace and with the
plan's build steps run, goes into one image with the applications' venv
(tests/support/corpus_images.py), and the host's paths are mapped with `--map`. Then, as uid
1000: the docker flags with `podman run --read-only-tmpfs=false` (no tmpfs the flags do not ask
for, as Docker), the k8s fragment merged into a Pod played with `podman kube play --network
none`, the compose fragment with podman-compose (a subset: one of each kind of plan), and on the
host the policy with `rotrace run --read-only --policy` and the AppArmor profile compiled by
apparmor_parser. Each must pass the application's own functional check.
"""

from __future__ import annotations

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
from tests.support.corpus_apps import APPS, CHECKED, CI_WHEEL, App, Site, plan_of, site_dir
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
from tests.support.plans import plan_of as plan_from_trace

ROTRACE = [sys.executable, "-m", "rotrace"]
pytestmark = [pytest.mark.corpus, pytest.mark.needs("podman", "catatonit")]

# Not in the image: the commands no read-only root holds (their plans say so; bwrap runs them all)
NOT_IN_IMAGE = {
    "python-build": "no read-only root holds it: its plan says so (test_apps.py)",
    "babel-compile": "no read-only root holds it: its plan says so (test_apps.py)",
}
IN_IMAGE = [a for a in APPS if a.name not in NOT_IN_IMAGE]
WHEELHOUSE = "/wheels"  # the CI job's wheel, as its runner would have it
# compose: one of each kind of plan (a named volume for data, settings only, tmpfs mounts in the tree)
COMPOSE = ("fastapi-sqlite-wal", "numba-cache", "pytest-hypothesis", "mkdocs-build")


@dataclass
class Traced:
    app: App
    trace: Path
    mapping: Mapping


@dataclass
class Corpus:
    site: Site
    traced: dict[str, Traced]
    image: str
    podman: Path
    kube: Path

    def names(self) -> dict[str, str]:
        return {"py": f"{VENV}/bin/python", "bin": f"{VENV}/bin", "wheels": WHEELHOUSE}

    def argv(self, app: App) -> list[str]:
        names = self.names()
        return [a.replace("{port}", "\0").format(**names).replace("\0", "{port}") for a in app.argv]

    def env(self, app: App) -> dict[str, str]:
        env = {"HOME": HOME, "PATH": PATH, "CORPUS_CHECK": app.check or "", "CORPUS_PY": f"{VENV}/bin/python"}
        env.update({k: v.format(**self.names()) for k, v in app.env})
        return env

    def command(self, app: App) -> list[str]:
        return ["sh", "-c", CHECKED, "sh", *self.argv(app)]

    def export(self, name: str, fmt: str) -> str:
        t = self.traced[name]
        argv = [*ROTRACE, "allowlist", str(t.trace), "--format", fmt, *t.mapping.args()]
        proc = subprocess.run(argv, cwd=t.mapping.tree, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "COLUMNS"}


@pytest.fixture(scope="module")
def corpus() -> Iterator[Corpus]:
    if os.geteuid() != 0:
        pytest.skip("podman here runs as root (a private mount namespace for cgroups)")
    if not os.path.exists("/usr/bin/python3.11"):
        pytest.skip("needs /usr/bin/python3.11 for the image")
    work = Path(tempfile.mkdtemp(prefix="rotrace-apps-image-", dir="/var/tmp"))
    try:
        with site_dir() as site:
            podman, kube = podman_wrapper(work), kube_wrapper(work)
            root = work / "root"
            root.mkdir()
            base_rootfs(root, site.venv)
            (root / WHEELHOUSE.lstrip("/")).mkdir()
            for wheel in site.wheels.glob(CI_WHEEL.replace("==", "-") + "-*.whl"):
                shutil.copy2(wheel, root / WHEELHOUSE.lstrip("/"))
            traced = {}
            for app in IN_IMAGE:
                traced[app.name] = _trace(app, site, work, root)
            image = f"localhost/rotrace-corpus-apps:{os.getpid()}"
            import_tree(podman, root, image)
            shutil.rmtree(root)
            try:
                yield Corpus(site, traced, image, podman, kube)
            finally:
                subprocess.run([str(podman), "rmi", "-f", image], capture_output=True, timeout=300)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _trace(app: App, site: Site, work: Path, root: Path) -> Traced:
    """Trace the application on the host; put its tree, before the trace and built as the plan
    says, into the image."""
    env = site.env(app)
    site.lay(app)
    trace = work / f"{app.name}.json"
    argv = [*ROTRACE, "run", "-q", "--json", str(trace), "--", *site.argv(app)]
    subprocess.run(argv, cwd=site.tree, env=env, capture_output=True, timeout=600, check=False)
    assert trace.exists(), app.name
    mapping = Mapping(str(site.tree), str(site.venv), str(site.root / "home"), app.name)
    site.lay(app)
    dest = root / image_tree(app.name).lstrip("/")
    shutil.copytree(site.tree, dest, symlinks=True)
    for step in plan_from_trace(trace).build:  # the image's build, in the image's paths, by the host's Python
        line = step._replace(
            directories=tuple(str(root) + mapping.path(d) for d in step.directories)
        ).command()
        subprocess.run(["sh", "-c", line], cwd=dest, env=env, check=True, capture_output=True, timeout=600)
    return Traced(app, trace, mapping)


def _volumes(flags: list[str]) -> list[str]:
    return [part[4:] for f in flags if f.startswith("--mount=type=volume") for part in f.split(",")
            if part.startswith("src=")]  # fmt: skip


@pytest.mark.parametrize("app", IN_IMAGE, ids=[a.name for a in IN_IMAGE])
def test_docker_flags_run_the_application_in_podman(app: App, corpus: Corpus) -> None:
    """The flags as Docker runs them (no tmpfs podman would add), as a non-root user."""
    flags = corpus.export(app.name, "docker").splitlines()
    assert flags[0] == "--read-only"
    env = [f"--env={k}={v}" for k, v in corpus.env(app).items()]
    argv = [str(corpus.podman), "run", "--rm", "-i", *flags, "--read-only-tmpfs=false", "--user", str(USER),
            "--workdir", image_tree(app.name), *env, corpus.image, *corpus.command(app)]  # fmt: skip
    try:
        ran = subprocess.run(argv, input="", capture_output=True, text=True, timeout=600)
    finally:
        for volume in _volumes(flags):
            remove = [str(corpus.podman), "volume", "rm", "-f", volume]
            subprocess.run(remove, capture_output=True, timeout=120)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.endswith(app.expected), ran.stdout[-3000:]
    assert "Read-only file system" not in ran.stderr, ran.stderr[-3000:]


@pytest.mark.parametrize("app", IN_IMAGE, ids=[a.name for a in IN_IMAGE])
def test_k8s_fragment_in_a_pod_runs_the_application(app: App, corpus: Corpus, tmp_path: Path) -> None:
    """The fragment merged into a Pod (uid 1000, the fragment's env, volumes and securityContext),
    played with no network; the Pod's output ends with the application's."""
    fragment = yaml.safe_load(corpus.export(app.name, "k8s"))
    name = f"corpus-{app.name}-{os.getpid()}"[:60].rstrip("-")
    manifest = pod(fragment, corpus.image, name, corpus.command(app), corpus.env(app))
    manifest["spec"]["containers"][0]["workingDir"] = image_tree(app.name)
    manifest["spec"]["containers"][0]["securityContext"]["runAsUser"] = USER
    status, output = play_pod(corpus.kube, manifest, tmp_path)
    assert status == 0, output[-3000:]
    assert app.expected in output, output[-3000:]
    assert "Read-only file system" not in output, output[-3000:]


@pytest.mark.needs("podman-compose")
@pytest.mark.parametrize("name", COMPOSE)
def test_compose_fragment_runs_the_application(name: str, corpus: Corpus, tmp_path: Path) -> None:
    app = corpus.traced[name].app
    fragment = yaml.safe_load(corpus.export(name, "compose"))
    service = fragment["services"]["app"]
    command = [a.replace("$", "$$") for a in corpus.command(app)]  # compose interpolates $NAME
    service.update(image=corpus.image, command=command, working_dir=image_tree(name), user=str(USER))
    env = {k: v.replace("$", "$$") for k, v in corpus.env(app).items()}
    service["environment"] = {**service.get("environment", {}), **env}
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(fragment))
    project = f"corpus{name.replace('-', '')}{os.getpid()}"
    compose = ["podman-compose", "--podman-path", str(corpus.podman), "-p", project, "-f", "compose.yaml"]
    try:
        # --no-deps: without it podman-compose 1.0 starts every service first (the app twice)
        ran = subprocess.run([*compose, "run", "--rm", "-T", "--no-deps", "app"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=600)  # fmt: skip
    finally:
        subprocess.run([*compose, "down", "-v"], cwd=tmp_path, capture_output=True, timeout=300)
        subprocess.run([str(corpus.podman), "network", "rm", "-f", f"{project}_default"], capture_output=True,
                       timeout=120)  # fmt: skip
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-3000:]
    assert app.expected in ran.stdout, ran.stdout[-3000:]


@pytest.mark.parametrize("app", IN_IMAGE, ids=[a.name for a in IN_IMAGE])
def test_policy_runs_the_application_read_only(app: App, corpus: Corpus) -> None:
    """The policy committed in the project (its entries relative to it), the plan's settings
    and build steps applied, `rotrace run --read-only --policy` from the pre-trace tree."""
    site, t = corpus.site, corpus.traced[app.name]
    policy = _host_export(t, "policy")
    site.lay(app)
    env, steps = plan_of(t.trace)
    run_env = site.env(app)
    for step in steps:
        built = subprocess.run(["sh", "-c", step], cwd=site.tree, env=run_env, capture_output=True,
                               timeout=600)  # fmt: skip
        assert built.returncode == 0, built.stderr
    (site.tree / "rotrace.toml").write_text(policy)
    check_env = dict(run_env, **env, CORPUS_CHECK=app.check or "", CORPUS_PY=site.names()["py"])
    argv = [*ROTRACE, "run", "-q", "--read-only", "--policy", "rotrace.toml", "--", "sh", "-c", CHECKED, "sh",
            *site.argv(app)]  # fmt: skip
    ran = subprocess.run(argv, cwd=site.tree, env=check_env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.endswith(app.expected), ran.stdout[-3000:]


def _host_export(t: Traced, fmt: str) -> str:
    argv = [*ROTRACE, "allowlist", str(t.trace), "--format", fmt]
    proc = subprocess.run(argv, cwd=t.mapping.tree, capture_output=True, text=True, timeout=120, env=_env())
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.needs("apparmor_parser")
@pytest.mark.parametrize("app", IN_IMAGE, ids=[a.name for a in IN_IMAGE])
def test_apparmor_profile_compiles(app: App, corpus: Corpus, tmp_path: Path) -> None:
    """The profile compiles (this kernel cannot load one: compiling is what can be checked)."""
    profile = tmp_path / "app.profile"
    profile.write_text(corpus.export(app.name, "apparmor"))
    parser = shutil.which("apparmor_parser") or "/usr/sbin/apparmor_parser"
    parsed = subprocess.run([parser, "-Q", "-K", str(profile)], capture_output=True, text=True, timeout=60)
    assert parsed.returncode == 0, parsed.stderr
