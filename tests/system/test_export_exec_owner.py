"""A run as a non-root user that makes its own directory and needs to own it (chmod 0700 of a
private state directory, as ssh and gpg want theirs; git refuses a repository another user
owns). The runtime's tmpfs at that place is root's, mode 1777: the chmod fails, EPERM, and the
docker flags that exited 0 broke the app. `allowlist` now says so (exit 1) and gives each
runtime's way to make the mount the user's; podman's, run with the image as that user, holds
with the output the unconfined run gave."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.as_user import rotrace, site  # noqa: F401 - the fixture
from tests.support.containers import app_image, podman_wrapper
from tests.support.places import shipped_app
from tests.support.tracing import NON_ROOT_PYTHON, rotrace_cli

PYTHON = "/usr/bin/python3.11"  # the image's Python too (tests/support/containers.py)
APP = textwrap.dedent("""\
    import os

    os.makedirs("state", exist_ok=True)
    os.chmod("state", 0o700)  # a private directory: its owner's alone
    with open("state/s.txt", "w") as f:
        f.write("x")
    print("ok", oct(os.stat("state").st_mode & 0o777))
    """)
NOBODY_ID = 65534


@pytest.fixture(scope="module")
def traced(site: Path) -> Iterator[tuple[Path, Path]]:  # noqa: F811 - the fixture
    """The application's directory (as its image ships it: no state/) and its trace, made as
    uid 65534."""
    with shipped_app("rotrace-owner-", "/var/tmp", APP, owner=NOBODY_ID) as app:
        trace = app / "t.json"
        run = rotrace(["run", "-q", "--json", str(trace), "--", NON_ROOT_PYTHON, "app.py"], user="nobody",
                      site=site, cwd=app)  # fmt: skip
        assert run.returncode == 1 and run.stdout == "ok 0o700\n", run.stderr
        shutil.rmtree(app / "state")  # as the image ships it
        yield app, trace


def test_the_plan_says_the_mount_is_roots_where_the_run_owned_its_directory(
    traced: tuple[Path, Path],
) -> None:
    app, trace = traced
    state = app / "state"
    ways = {
        "docker": f"`--mount=type=tmpfs,dst={state},U=true`",
        "compose": f"`tmpfs: {state}:exec,uid=65534,gid=65534`",
        "k8s": "chown it to 65534:65534",
    }
    for fmt, way in ways.items():
        for kept in ([], ["--persistent", str(state)]):  # a new claim or named volume is root's too
            made = rotrace_cli("allowlist", str(trace), "--format", fmt, *kept)
            assert made.returncode == 1, (fmt, kept, made.stderr)
            assert f"{state}: the run made it as uid 65534, its owner, and needs to" in made.stderr
            assert way in made.stderr, made.stderr


@pytest.mark.needs("podman")
def test_podmans_way_in_the_note_runs_the_app_as_its_user(traced: tuple[Path, Path], tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("podman here runs as root (a private mount namespace for cgroups)")
    app, trace = traced
    wrapper = podman_wrapper(tmp_path)
    name = f"localhost/rotrace-owner:{os.getpid()}"
    python = app_image(wrapper, tmp_path, APP, name, PYTHON)

    def ran(flags: list[str]) -> subprocess.CompletedProcess[str]:
        argv = [*flags, "--read-only-tmpfs=false", "--user", f"{NOBODY_ID}:{NOBODY_ID}", "--workdir", "/app"]
        return subprocess.run([str(wrapper), "run", "--rm", *argv, name, python, "app.py"],
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    try:
        made = rotrace_cli("allowlist", str(trace), "--format", "docker", "--map", f"{app}=/app")
        flags = made.stdout.splitlines()
        tmpfs = "--tmpfs=/app/state:exec"
        assert tmpfs in flags, flags
        as_given = ran(flags)
        assert as_given.returncode != 0 and "PermissionError" in as_given.stderr  # root's tmpfs: EPERM
        owned = ["--mount=type=tmpfs,dst=/app/state,U=true" if f == tmpfs else f for f in flags]  # the note's
        held = ran(owned)
        assert (held.returncode, held.stdout) == (0, "ok 0o700\n"), held.stderr
    finally:
        subprocess.run([str(wrapper), "rmi", "-f", name], capture_output=True, timeout=120)
