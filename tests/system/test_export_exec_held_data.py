"""An application whose data directory holds its database before the run (shipped with it, or
left by an earlier run) and updates it there: an empty mount would hide the database, so the
plan makes the directory a persistent mount that starts with what it held. Run the way users
run the exports: bwrap's arguments as produced (the directory bound to itself), Docker's flags
in podman (a named volume, filled from the image on first use). Each gives the unconfined
run's output, the rows shipped with the database included; a bare read-only root fails."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.as_user import invocation, site  # noqa: F401 (fixtures)
from tests.support.containers import import_image, podman_wrapper, python_rootfs
from tests.support.places import fixed_name_dir
from tests.support.plans import plan_of
from tests.support.tracing import NON_ROOT_PYTHON, PY, rotrace_cli

PYTHON = "/usr/bin/python3.11"  # the image's Python too (tests/support/containers.py)
APP = textwrap.dedent("""\
    import sqlite3

    db = sqlite3.connect("data/notes.db")
    db.execute("insert into notes values ('run')")
    db.commit()
    print(",".join(body for (body,) in db.execute("select body from notes order by rowid")))
    """)
EXPECTED = "shipped,run\n"


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
    run = rotrace_cli("run", "-q", "--json", str(trace), "--", PYTHON, "app.py", cwd=app)
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
    bare = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--", python, "app.py"]
    failed = subprocess.run(bare, cwd=traced.app, env=env, capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0 and "readonly database" in failed.stderr
    script = 'py=$1 trace=$2; shift 2; mapfile -t args < <("$@" allowlist "$trace" --format bwrap)'
    script += ' && bwrap "${args[@]}" -- "$py" app.py'
    ran = subprocess.run(["bash", "-c", script, "sh", python, str(traced.trace), *argv], cwd=traced.app,
                         env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert (ran.returncode, ran.stdout) == (0, EXPECTED), ran.stderr


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
        argv = (*argv, "--read-only-tmpfs=false", "--workdir", "/app", name, python, "app.py")
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
