"""An application that stores uploads in a directory it makes and serves them back, each run
starting from the image (a Pod's container does): no run finds another's files, so nothing in
the trace says they must outlast a restart. Traced with the reads (--all-opens), the plan says
the run read back what it wrote there and that an empty mount loses it on a restart, and
`--persistent PATH` makes that place a named volume (a claim in Kubernetes). Proven by running
the docker flags in podman twice: the second run serves the first run's upload only with
--persistent."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.containers import app_image, podman_wrapper
from tests.support.places import shipped_app
from tests.support.tracing import rotrace_cli

PYTHON = "/usr/bin/python3.11"  # the image's Python too (tests/support/containers.py)
APP = textwrap.dedent("""\
    import os
    import sys

    os.makedirs("uploads", exist_ok=True)
    with open(os.path.join("uploads", sys.argv[1]), "w") as f:  # an upload stored...
        f.write(sys.argv[1] + "\\n")
    for name in sorted(os.listdir("uploads")):  # ...and every upload served back
        with open(os.path.join("uploads", name)) as f:
            print(f.read(), end="")
    """)
MANIFEST = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata:
      name: web
    spec:
      containers:
      - name: web
        image: example/web:1
    """)


@pytest.fixture(scope="module")
def traced() -> Iterator[tuple[Path, Path]]:
    """The application's directory (as its image ships it: no uploads/) and its trace."""
    with shipped_app("rotrace-uploads-", "/srv", APP) as app:
        trace = app.parent / "t.json"
        argv = ["run", "-q", "--all-opens", "--json", str(trace), "--", PYTHON, "app.py", "a.txt"]
        run = rotrace_cli(*argv, cwd=app)
        assert run.returncode == 1 and run.stdout == "a.txt\n", run.stderr
        shutil.rmtree(app / "uploads")  # as the image ships it
        yield app, trace


def test_the_plan_says_a_restart_loses_what_the_run_read_back_and_persistent_keeps_it(
    traced: tuple[Path, Path],
) -> None:
    app, trace = traced
    uploads = str(app / "uploads")
    plain = rotrace_cli("allowlist", str(trace), "--format", "k8s")
    assert plain.returncode == 0, plain.stderr
    assert yaml.safe_load(plain.stdout)["spec"]["volumes"][-1].get("emptyDir") == {}, plain.stdout
    note = f"{uploads}: the command made it (or found it empty) and read back files it had written there"
    assert note in plain.stderr and f"`--persistent {uploads}`" in plain.stderr, plain.stderr
    kept = rotrace_cli("allowlist", str(trace), "--format", "k8s", "--persistent", "uploads")
    assert kept.returncode == 0, kept.stderr
    claim = yaml.safe_load(kept.stdout)["spec"]["volumes"][-1]["persistentVolumeClaim"]
    assert claim["claimName"], kept.stdout
    assert note not in kept.stderr, kept.stderr


def test_kube_harden_makes_a_claim_of_a_place_given_by_its_image_path(
    traced: tuple[Path, Path], tmp_path: Path
) -> None:
    app, trace = traced
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(MANIFEST)
    given = ("--map", f"{app}=/app", "--persistent", "/app/uploads")
    hardened = rotrace_cli("kube", "harden", str(manifest), "--from", str(trace), *given)
    assert hardened.returncode == 0, hardened.stderr
    documents = list(yaml.safe_load_all(hardened.stdout))
    pod = documents[0]["spec"]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == "/app/uploads"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    name = volume["persistentVolumeClaim"]["claimName"]
    assert [d["metadata"]["name"] for d in documents[1:] if d["kind"] == "PersistentVolumeClaim"] == [name]


@pytest.mark.parametrize(
    ("given", "bad"),
    [
        ("", "expected a path"),
        ("/usr/lib", "a volume there would hide the system"),
        ("/srv/nowhere-written", "no write of the trace lands there"),
    ],
)
def test_a_persistent_place_the_plan_cannot_keep_is_said(
    traced: tuple[Path, Path], given: str, bad: str
) -> None:
    _, trace = traced
    made = rotrace_cli("allowlist", str(trace), "--format", "docker", "--persistent", given)
    assert bad in made.stderr, made.stderr
    assert made.returncode == (2 if not given else 0)
    assert "Traceback" not in made.stderr


@pytest.mark.needs("podman")
def test_docker_flags_with_persistent_keep_the_uploads_for_the_next_run(
    traced: tuple[Path, Path], tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("podman here runs as root (a private mount namespace for cgroups)")
    app, trace = traced
    wrapper = podman_wrapper(tmp_path)
    name = f"localhost/rotrace-uploads:{os.getpid()}"
    python = app_image(wrapper, tmp_path, APP, name, PYTHON)
    volumes: list[str] = []

    def served(flags: list[str]) -> list[str]:
        """Two runs, each a new container of the image: what each served."""
        out = []
        for upload in ("a.txt", "b.txt"):
            argv = [*flags, "--read-only-tmpfs=false", "--workdir", "/app", name, python, "app.py", upload]
            ran = subprocess.run(
                [str(wrapper), "run", "--rm", *argv], capture_output=True, text=True, timeout=300
            )
            assert ran.returncode == 0, ran.stderr
            out.append(ran.stdout)
        return out

    try:
        for persistent in ([], ["--persistent", "uploads"]):
            given = ("--map", f"{app}=/app", *persistent)
            made = rotrace_cli("allowlist", str(trace), "--format", "docker", *given)
            assert made.returncode == 0, made.stderr
            flags = made.stdout.splitlines()
            volumes += [f.split("src=")[1].split(",")[0] for f in flags if "type=volume" in f]
            runs = served(flags)
            if persistent:
                assert runs == ["a.txt\n", "a.txt\nb.txt\n"], flags  # the first run's upload kept
            else:
                assert runs == ["a.txt\n", "b.txt\n"], flags  # a tmpfs: lost with its container
        assert volumes, "no named volume"
    finally:
        subprocess.run([str(wrapper), "volume", "rm", "-f", *volumes], capture_output=True, timeout=120)
        subprocess.run([str(wrapper), "rmi", "-f", name], capture_output=True, timeout=120)
