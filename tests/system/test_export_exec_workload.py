"""A small real Python application, traced once on the host and run read-only from every
export, the way users run them: it imports a module of its own (bytecode written into its
tree, `__pycache__/`), keeps a sqlite database in `data/` (made by itself) and a scratch file
in /tmp. Each export (bwrap as produced, docker flags in podman as Docker runs them, the k8s
fragment in a Pod by `podman kube play`, compose by podman-compose, the policy by rotrace
itself, the AppArmor profile by apparmor_parser) must give the output of the unconfined run,
bytecode written included; with a bare read-only root and no plan the application fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support.containers import (
    import_image,
    kube_wrapper,
    play_pod,
    podman_wrapper,
    python_rootfs,
)
from tests.support.kube import pod
from tests.support.plans import plan_of
from tests.support.tracing import PY, rotrace_cli

PYTHON = "/usr/bin/python3.11"  # the image's Python too (tests/support/containers.py)

HELPER = textwrap.dedent("""\
    WORDS = ["alpha", "beta", "gamma"]


    def shout(words):
        return ",".join(w.upper() for w in words)
    """)
MAIN = textwrap.dedent("""\
    import os
    import sqlite3
    import tempfile

    import helper

    os.makedirs("data", exist_ok=True)
    db = sqlite3.connect("data/app.db")
    db.execute("create table if not exists t (v text)")
    db.execute("delete from t")
    db.executemany("insert into t values (?)", [(w,) for w in helper.WORDS])
    db.commit()
    rows = [r for (r,) in db.execute("select v from t order by rowid")]
    db.close()
    with tempfile.NamedTemporaryFile("w+", dir="/tmp") as f:
        f.write("scratch")
        f.flush()
        f.seek(0)
        scratch = f.read()
    print(helper.shout(rows), scratch, "bytecode" if os.path.exists(helper.__cached__) else "none")
    """)
EXPECTED = "ALPHA,BETA,GAMMA scratch bytecode\n"


def _env() -> dict[str, str]:
    """A user's environment: bytecode written (this machine sets PYTHONDONTWRITEBYTECODE)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "COLUMNS")}


def _clean(app: Path) -> None:
    """What the application writes, removed: each run (and each export) starts from the tree."""
    for name in ("data", "__pycache__"):
        shutil.rmtree(app / name, ignore_errors=True)


def _build_steps(trace: str) -> list[str]:
    """The plan's steps for the image's build (compile the bytecode, say)."""
    return plan_of(trace).build_steps


@dataclass
class Traced:
    app: Path  # the project, where it was traced (a checkout: /app in the image)
    trace: str
    steps: list[str]  # the plan's build steps

    def fresh(self) -> None:
        """The tree as the image holds it: what the runs wrote removed, the build steps run."""
        _clean(self.app)
        self.build()

    def build(self) -> None:
        """Run the plan's build steps in the tree, with the application's interpreter as `python`."""
        tools = self.app.parent / "bin"
        tools.mkdir(exist_ok=True)
        if not (tools / "python").exists():
            (tools / "python").symlink_to(PYTHON)
        env = {**_env(), "PATH": f"{tools}:{os.environ['PATH']}"}
        for step in self.steps:
            subprocess.run(["sh", "-c", step], cwd=self.app, env=env, check=True, timeout=120)

    def export(self, fmt: str, *extra: str) -> str:
        proc = rotrace_cli("allowlist", self.trace, "--format", fmt, *extra, cwd=self.app, env=_env())
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


@pytest.fixture(scope="module")
def traced() -> Iterator[Traced]:
    if not os.path.exists(PYTHON):
        pytest.skip(f"needs {PYTHON}")
    top = Path(tempfile.mkdtemp(prefix="rotrace-exec-workload-", dir="/var/tmp"))
    app = top / "app"
    app.mkdir()
    (app / "helper.py").write_text(HELPER)
    (app / "main.py").write_text(MAIN)
    plain = subprocess.run(
        [PYTHON, "main.py"], cwd=app, env=_env(), capture_output=True, text=True, timeout=60
    )
    assert plain.returncode == 0 and plain.stdout == EXPECTED, plain.stderr  # the functional check holds
    _clean(app)
    trace = str(top / "t.json")
    run = rotrace_cli("run", "-q", "--json", trace, "--", PYTHON, "main.py", cwd=app, env=_env())
    assert run.returncode == 1, run.stderr  # it writes into its tree
    traced = Traced(app, trace, _build_steps(trace))
    traced.fresh()  # a fresh checkout (the mount points do not exist), built as the plan says
    try:
        yield traced
    finally:
        shutil.rmtree(top)


@pytest.mark.needs("bwrap")
def test_bwrap_export_runs_the_application(traced: Traced) -> None:
    bare = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--", PYTHON, "main.py"]
    failed = subprocess.run(bare, cwd=traced.app, env=_env(), capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0 and "Read-only file system" in failed.stderr
    read = 'mapfile -t args < <("$0" -m rotrace allowlist "$1" --format bwrap)'
    script = read + ' && bwrap "${args[@]}" -- "$2" main.py'
    ran = subprocess.run(["bash", "-c", script, PY, traced.trace, PYTHON], cwd=traced.app, env=_env(),
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == EXPECTED
    assert not (traced.app / "data").exists()  # all of it on tmpfs


def test_policy_export_allows_every_write_of_the_application(traced: Traced, tmp_path: Path) -> None:
    """The policy is committed in the project, whose directories it names relative to it."""
    policy = traced.app / "rotrace.toml"
    policy.write_text(traced.export("policy"))
    again = str(tmp_path / "again.json")
    argv = ["run", "--policy", str(policy), "--json", again, "--", PYTHON, "main.py"]
    try:
        run = rotrace_cli(*argv, cwd=traced.app, env=_env())
    finally:
        policy.rename(tmp_path / "rotrace.toml")
        policy = tmp_path / "rotrace.toml"  # elsewhere, `check` reads it against the traced project
    traced.fresh()
    assert run.returncode == 0, run.stderr
    assert run.stdout == EXPECTED
    checked = rotrace_cli("check", again, "--policy", str(policy), cwd=tmp_path)  # the run under the plan
    assert checked.returncode == 0, checked.stderr


@pytest.mark.needs("apparmor_parser")
def test_apparmor_export_compiles(traced: Traced, tmp_path: Path) -> None:
    profile = tmp_path / "app.profile"
    profile.write_text(traced.export("apparmor"))
    parser = shutil.which("apparmor_parser") or "/usr/sbin/apparmor_parser"
    parsed = subprocess.run([parser, "-Q", "-K", str(profile)], capture_output=True, text=True, timeout=60)
    assert parsed.returncode == 0, parsed.stderr
    text = profile.read_text()
    assert f'"{traced.app}/data/**" rwkl,' in text  # __pycache__ is compiled at build time instead
    assert '__pycache__/**" rwkl' not in text


# -- in containers: the image holds the application at /app; the trace's paths are mapped ---------


@dataclass
class Image:
    name: str
    podman: Path
    kube: Path
    work: Path


@pytest.fixture(scope="module")
def image(traced: Traced, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    if os.geteuid() != 0:
        pytest.skip("podman here runs as root (a private mount namespace for cgroups)")
    if shutil.which("podman") is None:
        pytest.skip("needs podman: apt-get install podman crun catatonit")
    work = tmp_path_factory.mktemp("workload-image")
    wrapper, kube = podman_wrapper(work), kube_wrapper(work)
    root = work / "root"
    root.mkdir()
    python_rootfs(root, PYTHON)
    (root / "app").mkdir()
    for name in ("helper.py", "main.py"):
        shutil.copy2(traced.app / name, root / "app" / name)
    # the image's build runs the plan's build steps, its paths mapped as --map maps the exports'
    steps = [step.replace(str(traced.app), str(root / "app")) for step in traced.steps]
    Traced(root / "app", traced.trace, steps).build()
    name = f"localhost/rotrace-workload:{os.getpid()}"
    import_image(wrapper, root, name)
    try:
        yield Image(name, wrapper, kube, work)
    finally:
        subprocess.run([str(wrapper), "rmi", "-f", name], capture_output=True, timeout=120)


def _podman_run(image: Image, flags: list[str]) -> subprocess.CompletedProcess[str]:
    """As Docker runs it: no tmpfs that the flags do not ask for; a non-root user."""
    argv = [str(image.podman), "run", "--rm", *flags, "--read-only-tmpfs=false", "--user", "1000",
            "--workdir", "/app", image.name, "python3", "main.py"]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


@pytest.mark.needs("podman")
def test_docker_flags_run_the_application_in_podman(traced: Traced, image: Image) -> None:
    bare = _podman_run(image, ["--read-only"])
    assert bare.returncode != 0 and "Read-only file system" in bare.stderr
    flags = traced.export("docker", "--map", f"{traced.app}=/app").splitlines()
    assert flags[0] == "--read-only"
    ran = _podman_run(image, flags)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == EXPECTED


@pytest.mark.needs("podman", "podman-compose")
def test_compose_fragment_runs_the_application(traced: Traced, image: Image, tmp_path: Path) -> None:
    fragment = yaml.safe_load(traced.export("compose", "--map", f"{traced.app}=/app"))
    service = fragment["services"]["app"]
    service.update(image=image.name, command=["python3", "main.py"], working_dir="/app", user="1000")
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(fragment))
    name = f"rotraceworkload{os.getpid()}"
    project = ["podman-compose", "--podman-path", str(image.podman), "-p", name, "-f", "compose.yaml"]
    try:
        ran = subprocess.run([*project, "run", "--rm", "-T", "app"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=300)  # fmt: skip
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert EXPECTED in ran.stdout
    finally:
        subprocess.run([*project, "down"], cwd=tmp_path, capture_output=True, timeout=300)
        subprocess.run([str(image.podman), "network", "rm", "-f", f"{name}_default"], capture_output=True,
                       timeout=120)  # fmt: skip


@pytest.mark.needs("podman", "catatonit")
def test_k8s_fragment_merged_into_a_pod_runs_the_application(
    traced: Traced, image: Image, tmp_path: Path
) -> None:
    fragment = yaml.safe_load(traced.export("k8s", "--map", f"{traced.app}=/app"))
    command = ["/usr/bin/python3", "main.py"]  # an imported image sets no PATH
    name = f"rotrace-workload-{os.getpid()}"
    status, output = play_pod(image.kube, pod(fragment, image.name, name, command, {}), tmp_path, timeout=300)
    assert status == 0, output
    assert output == EXPECTED
    bare = pod(fragment, image.name, name + "-bare", command, {}, volumes=False)
    status, output = play_pod(image.kube, bare, tmp_path, timeout=300)
    assert status != 0 and "Read-only file system" in output


COUNTER = "import os; p = '/app/data/n'; n = int(open(p).read()) + 1 if os.path.exists(p) else 1; " \
    "open(p, 'w').write(str(n)); print(n, os.environ['APP_MODE'])"  # fmt: skip


@pytest.mark.needs("podman")
def test_docker_persistent_mount_keeps_data_across_runs_and_settings_reach_the_app(image: Image) -> None:
    """A plan with a persistent mount and a setting (what the planner fills): the docker flags
    make a named volume, which a second container sees, and pass the setting as it is."""
    from rotrace.export.formats import RENDERERS, Target
    from rotrace.policy.mounts import MountPlan

    volume = f"rotrace-data-{os.getpid()}"
    plan = MountPlan(mounts=["/app/data"], persistent=["/app/data"], env={"APP_MODE": "a b $X"})
    flags = RENDERERS["docker"](plan, Target(["app"])).text.splitlines()
    flags = [f.replace("src=app-data", f"src={volume}") for f in flags]
    argv = [str(image.podman), "run", "--rm", *flags, "--read-only-tmpfs=false", image.name,
            "/usr/bin/python3", "-c", COUNTER]  # fmt: skip
    try:
        runs = [subprocess.run(argv, capture_output=True, text=True, timeout=300) for _ in range(2)]
        assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
        assert [r.stdout for r in runs] == ["1 a b $X\n", "2 a b $X\n"]
    finally:
        subprocess.run([str(image.podman), "volume", "rm", "-f", volume], capture_output=True, timeout=120)
