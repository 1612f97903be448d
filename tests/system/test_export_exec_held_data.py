"""An application whose data directory holds its database before the run (shipped with it, or
left by an earlier run) and updates it there: an empty mount would hide the database, so the
plan makes the directory a persistent mount that starts with what it held. Run the way users
run the exports: bwrap's arguments as produced (the directory bound to itself), Docker's flags
in podman (a named volume, filled from the image on first use), the k8s fragment in a Pod with
the initContainer its comment gives (a claim starts empty in Kubernetes). Each gives the
unconfined run's output, the rows shipped with the database included, and keeps what a run
added for the next; a bare read-only root fails."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support.as_user import invocation, site  # noqa: F401 (fixtures)
from tests.support.containers import import_image, kube_cleanup, kube_wrapper, podman_wrapper, python_rootfs
from tests.support.places import fixed_name_dir
from tests.support.plans import plan_of
from tests.support.standalone import ROOT
from tests.support.tracing import NON_ROOT_PYTHON, PY, rotrace_cli

PYTHON = "/usr/bin/python3.11"  # the image's Python too (tests/support/containers.py)
# The database is named on the application's command line (as datasette's is): a file named
# there is the program's data, not a program (a directory holding a program is never seeded).
APP = textwrap.dedent("""\
    import sqlite3
    import sys

    db = sqlite3.connect(sys.argv[1])
    db.execute("insert into notes values ('run')")
    db.commit()
    print(",".join(body for (body,) in db.execute("select body from notes order by rowid")))
    """)
EXPECTED = "shipped,run\n"
ARGS = ("app.py", "data/notes.db")


def _lay(app: Path) -> None:
    """The application as shipped: its code, and data/ holding a database with one row."""
    shutil.rmtree(app, ignore_errors=True)
    (app / "data").mkdir(parents=True)
    (app / "app.py").write_text(APP)
    db = sqlite3.connect(app / "data" / "notes.db")
    with db:
        db.execute("create table notes (body text)")
        db.execute("insert into notes values ('shipped')")
    db.close()
    for path in (app, app / "data"):
        path.chmod(0o777)
    (app / "data" / "notes.db").chmod(0o666)


@dataclass
class Traced:
    app: Path
    trace: Path


@pytest.fixture(scope="module")
def traced() -> Iterator[Traced]:
    top = fixed_name_dir("rotrace-held-data-", "/srv")
    top.chmod(0o755)
    app = top / "app"
    _lay(app)
    trace = top / "t.json"
    run = rotrace_cli("run", "-q", "--json", str(trace), "--", PYTHON, *ARGS, cwd=app)
    assert run.returncode == 1 and run.stdout == EXPECTED, run.stderr
    try:
        yield Traced(app, trace)
    finally:
        shutil.rmtree(top)


def test_the_plan_is_a_persistent_mount_that_starts_with_what_the_directory_held(traced: Traced) -> None:
    plan = plan_of(traced.trace)
    data = str(traced.app / "data")
    assert (plan.mounts, plan.persistent, plan.seeded, plan.blocked) == ([data], [data], [data], [])


@pytest.mark.needs("bwrap")
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_bwrap_arguments_run_the_application_on_its_shipped_data(
    traced: Traced,
    site: Path,  # noqa: F811
    user: str,
) -> None:
    _lay(traced.app)
    argv, env = invocation(user, site, traced.app)
    python = PY if user == "root" else NON_ROOT_PYTHON
    bare = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--", python, *ARGS]
    failed = subprocess.run(bare, cwd=traced.app, env=env, capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0 and "readonly database" in failed.stderr
    script = 'py=$1 trace=$2; shift 2; mapfile -t args < <("$@" allowlist "$trace" --format bwrap)'
    script += ' && bwrap "${args[@]}" -- "$py" app.py data/notes.db'
    ran = subprocess.run(["bash", "-c", script, "sh", python, str(traced.trace), *argv], cwd=traced.app,
                         env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert (ran.returncode, ran.stdout) == (0, EXPECTED), ran.stderr


@pytest.mark.needs("bwrap")
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_the_policy_replayed_read_only_runs_the_application_on_its_shipped_data(
    traced: Traced,
    site: Path,  # noqa: F811
    user: str,
) -> None:
    """`run --read-only --policy` with the plan's policy: the persistent place starts with a copy
    of what it held (as a named volume filled from the image), so the app reads the rows shipped
    with it; what it writes is left in the copy, which is removed: the directory is untouched."""
    _lay(traced.app)
    argv, env = invocation(user, site, traced.app)
    python = PY if user == "root" else NON_ROOT_PYTHON
    policy = traced.app / "rotrace.toml"
    made = subprocess.run([*argv, "allowlist", str(traced.trace), "--format", "policy"], cwd=traced.app,
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert made.returncode == 0, made.stderr
    policy.write_text(made.stdout)
    assert 'persistent = [\n    "data",\n]' in made.stdout, made.stdout
    scratch = Path(tempfile.mkdtemp(prefix="rotrace-tmpdir-", dir="/var/tmp"))  # both users' TMPDIR
    scratch.chmod(0o777)
    try:
        before = (traced.app / "data" / "notes.db").read_bytes()
        ran = subprocess.run([*argv, "run", "--read-only", "--policy", str(policy), "--", python, *ARGS],
                             cwd=traced.app, env={**env, "TMPDIR": str(scratch)}, capture_output=True,
                             text=True, timeout=120)  # fmt: skip
        assert (ran.returncode, ran.stdout) == (0, EXPECTED), ran.stderr
        assert "starts with a copy of what it holds" in ran.stderr
        assert (traced.app / "data" / "notes.db").read_bytes() == before
        assert list(scratch.iterdir()) == []  # the copy removed
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.needs("podman")
def test_docker_flags_run_the_application_on_the_data_its_image_ships(traced: Traced, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("podman here runs as root (a private mount namespace for cgroups)")
    wrapper = podman_wrapper(tmp_path)
    root = tmp_path / "root"
    root.mkdir()
    python = python_rootfs(root, PYTHON)
    _lay(root / "app")
    name = f"localhost/rotrace-held-data:{os.getpid()}"
    import_image(wrapper, root, name)
    flags = rotrace_cli("allowlist", str(traced.trace), "--format", "docker", "--map", f"{traced.app}=/app")
    assert flags.returncode == 0, flags.stderr
    volumes = [f.split("src=")[1].split(",")[0] for f in flags.stdout.splitlines() if "type=volume" in f]
    assert volumes, flags.stdout

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        argv = (*argv, "--read-only-tmpfs=false", "--workdir", "/app", name, python, *ARGS)
        return subprocess.run(
            [str(wrapper), "run", "--rm", *argv], capture_output=True, text=True, timeout=300
        )

    try:
        bare = run("--read-only")
        assert bare.returncode != 0 and "readonly database" in bare.stderr
        runs = [run(*flags.stdout.splitlines()) for _ in range(2)]
        assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
        assert [r.stdout for r in runs] == [EXPECTED, "shipped,run,run\n"]  # and it persists
    finally:
        subprocess.run([str(wrapper), "volume", "rm", "-f", *volumes], capture_output=True, timeout=120)
        subprocess.run([str(wrapper), "rmi", "-f", name], capture_output=True, timeout=120)


def _debian_with_app(work: Path, podman: Path, name: str) -> None:
    """Debian (it has /bin/sh and cp, as the fragment's initContainer needs) with the
    application at /app, imported as `name`."""
    base = subprocess.run([str(ROOT / "scripts/debian-rootfs"), "bookworm", "python3,python3-venv"],
                          capture_output=True, text=True, timeout=900, check=True).stdout.strip()  # fmt: skip
    _lay(work / "image" / "app")
    import_image(podman, work / "image", name, base)


@pytest.mark.needs("podman", "catatonit")
def test_the_k8s_fragment_with_its_seeding_runs_the_application_and_keeps_its_data(
    traced: Traced, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("podman here runs as root (a private mount namespace for cgroups)")
    podman, kube = podman_wrapper(tmp_path), kube_wrapper(tmp_path)
    name = f"localhost/rotrace-held-k8s:{os.getpid()}"
    _debian_with_app(tmp_path, podman, name)
    out = rotrace_cli("allowlist", str(traced.trace), "--format", "k8s", "--map", f"{traced.app}=/app")
    assert out.returncode == 0, out.stderr
    comments = [line[4:] for line in out.stdout.splitlines() if line.startswith("#   ")]
    start = comments.index("command:")  # the initContainer's command, as the comment gives it
    seed = yaml.safe_load("\n".join(comments[start:]))["command"]
    spec = yaml.safe_load(out.stdout)["spec"]
    (claim,) = [v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"]]
    (container,) = spec["containers"]
    container.update(image=name, command=["/usr/bin/python3", *ARGS], workingDir="/app")
    init = {"name": "seed", "image": name, "command": seed,
            "volumeMounts": [{"name": claim, "mountPath": "/seed"}]}  # fmt: skip
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"rotrace-held-{os.getpid()}"},
           "spec": {"restartPolicy": "Never", "initContainers": [init], **spec}}  # fmt: skip
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(yaml.safe_dump(pod, sort_keys=False))
    logs = []
    try:
        for _ in range(2):  # the second start finds the claim filled: nothing copied over its data
            played = subprocess.run([str(kube), "kube", "play", "--network", "none", str(manifest)],
                                    capture_output=True, text=True, timeout=300)  # fmt: skip
            assert played.returncode == 0, played.stderr
            app = f"{pod['metadata']['name']}-{container['name']}"
            waited = subprocess.run([str(kube), "wait", app], capture_output=True, text=True, timeout=300)
            log = subprocess.run([str(kube), "logs", app], capture_output=True, text=True, timeout=120)
            logs.append((waited.stdout.strip(), log.stdout + log.stderr))
            subprocess.run([str(kube), "kube", "down", str(manifest)], capture_output=True, timeout=300)
        assert logs == [("0", EXPECTED), ("0", "shipped,run,run\n")]
    finally:
        subprocess.run([str(kube), "kube", "down", str(manifest)], capture_output=True, timeout=300)
        subprocess.run([str(kube), "volume", "rm", "-f", claim], capture_output=True, timeout=120)
        subprocess.run([str(podman), "rmi", "-f", name], capture_output=True, timeout=120)
        kube_cleanup()


@pytest.mark.parametrize(
    ("program", "command"),
    [
        ("job.py", lambda top: [PYTHON, str(top / "job.py")]),
        ("job.py", lambda top: [PYTHON, "-m", f"{top.name}.job"]),
        ("job.py", lambda top: ["/bin/sh", "-c", f"cd {top.name} && exec {PYTHON} job.py"]),
        ("__main__.py", lambda top: [PYTHON, top.name]),
        ("job.py", lambda top: [PYTHON, f"{top.name}-link.py"]),
    ],
    ids=["by its path", "as a module", "from where a shell went", "its directory", "through a symlink"],
)
def test_a_directory_holding_the_program_the_command_ran_is_never_seeded(
    program: str, command: Callable[[Path], list[str]]
) -> None:
    """A program that appends to itself (all its directory holds is then a file the command
    kept): the directory holds the program the trace saw run, so no volume keeps it, written
    by whatever gets into the app. By its path, run by Python as a module (`python3 -m
    svc.job`), from the directory a shell went to first (`cd svc && exec python3 job.py`), as
    a directory (its __main__.py), or through a symlink elsewhere."""
    top = fixed_name_dir("rotrace_held_program_", "/srv")
    link = top.parent / f"{top.name}-link.py"
    try:
        (top / program).write_text("open(__file__, 'a').write('# ran\\n')\n")
        link.symlink_to(top / "job.py")
        trace = top.parent / f"{top.name}.json"
        run = rotrace_cli("run", "-q", "--json", str(trace), "--", *command(top), cwd=top.parent)
        assert run.returncode == 1 and (top / program).read_text().endswith("# ran\n"), run.stderr
        plan = plan_of(trace)
        assert plan.seeded == [] and [b.point for b in plan.blocked] == [str(top)], plan
    finally:
        shutil.rmtree(top)
        link.unlink(missing_ok=True)
        (top.parent / f"{top.name}.json").unlink(missing_ok=True)


def _root_with_app_at_top(app: Path) -> list[str]:
    """bwrap's arguments for this machine's tree, read-only, with `app` at /app (an image's
    `WORKDIR /app`), which the host does not have: a tmpfs root holding each top directory."""
    args = ["--tmpfs", "/"]
    for name in sorted(os.listdir("/")):
        path = f"/{name}"
        if name in ("proc", "dev", "tmp", "app"):
            continue
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return [*args, "--bind", "/tmp", "/tmp", "--proc", "/proc", "--dev", "/dev", "--bind", str(app), "/app"]


@pytest.mark.needs("bwrap")
def test_data_shipped_in_an_application_directory_at_the_top_is_seeded(tmp_path: Path) -> None:
    """`WORKDIR /app` and a database shipped in /app/data: the application's tree was read as one
    below a working directory at least two levels deep, so /app/data was refused ("held files
    before the run") where /srv/x/app/data got the seeded volume, and the hardened Pod could not
    write its database."""
    _lay(tmp_path / "app")
    root = ["bwrap", *_root_with_app_at_top(tmp_path / "app"), "--chdir", "/app", "--"]
    run = subprocess.run([*root, PY, "-m", "rotrace", "run", "-q", "--json", "t.json", "--", PYTHON, *ARGS],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 1 and run.stdout == EXPECTED, run.stderr
    plan = subprocess.run([*root, PY, "-m", "rotrace", "allowlist", "t.json", "--format", "docker"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    volumes = [line for line in plan.stdout.splitlines() if line.startswith("--mount=type=volume,")]
    assert plan.returncode == 0 and len(volumes) == 1 and volumes[0].endswith(",dst=/app/data"), plan
    assert "/app/data holds data the program keeps" in plan.stderr, plan.stderr


@pytest.mark.needs("bwrap")
@pytest.mark.parametrize("mode", ["--enforce", "--read-only"])
def test_a_run_refused_by_its_mode_plans_the_data_as_a_plain_run_does(mode: str) -> None:
    """The database's update refused, by Landlock under `--enforce` (EACCES) or by the read-only
    root under `--read-only` (EROFS): each refused call counts for what it meant to do, so the
    plan is the plain run's, a persistent mount that starts with what data/ held (from an
    `--enforce` trace, data/ was refused: "held files before the run"), and bwrap's arguments
    made from it run the application on its shipped data."""
    top = fixed_name_dir("rotrace-held-refused-", "/srv")
    top.chmod(0o755)
    app = top / "app"
    _lay(app)
    trace = top / "t.json"
    try:
        run = rotrace_cli("run", "-q", mode, "--json", str(trace), "--", PYTHON, *ARGS, cwd=app)
        assert run.returncode == 9 and "readonly database" in run.stderr, run.stderr
        plan = plan_of(trace)
        data = str(app / "data")
        assert (plan.mounts, plan.persistent, plan.seeded, plan.blocked) == ([data], [data], [data], [])
        args = rotrace_cli("allowlist", str(trace), "--format", "bwrap")
        assert args.returncode == 0, args.stderr
        ran = subprocess.run(["bwrap", *args.stdout.splitlines(), "--", PYTHON, *ARGS], cwd=app,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        assert (ran.returncode, ran.stdout) == (0, EXPECTED), ran.stderr
    finally:
        shutil.rmtree(top)
