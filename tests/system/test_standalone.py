"""The standalone rotrace (scripts/build-standalone) in images that know nothing of it: Debian
bookworm and trixie (minbase: no Python), traced as a non-root user under a read-only root with
no tmpfs (as Docker runs --read-only); bullseye's glibc is too old, and the first thing that runs
refuses in one line. The image that provides it has no shell and copies it out as nobody."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.containers import podman_wrapper
from tests.support.standalone import Standalone, build_standalone, debian_image

pytestmark = pytest.mark.needs("podman", "debootstrap")


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("podman here runs as root (a private mount namespace for cgroups)")
    return podman_wrapper(tmp_path_factory.mktemp("standalone"))


@pytest.fixture(scope="module")
def standalone(podman: Path) -> Standalone:
    return build_standalone(podman)


@pytest.fixture(scope="module")
def images(podman: Path) -> Iterator[dict[str, str]]:
    made = {suite: debian_image(podman, suite) for suite in ("bookworm", "trixie", "bullseye")}
    yield made
    subprocess.run([str(podman), "rmi", "-f", *made.values()], capture_output=True, timeout=300)


def _run(podman: Path, tool: Path, image: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """The one-liner of docs/kubernetes.md: the build mounted read-only, as the entrypoint."""
    return subprocess.run(
        [str(podman), "run", "--rm", "--read-only", "--read-only-tmpfs=false", "--user", "1000:1000",
         "-v", f"{tool}:/rotrace:ro", "--entrypoint", "/rotrace/rotrace", image, *argv],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("suite", ["bookworm", "trixie"])
def test_traces_as_non_root_in_a_read_only_image_without_python(
    podman: Path, standalone: Standalone, images: dict[str, str], suite: str
) -> None:
    script = "echo ok; echo data > /tmp/scratch"
    ran = _run(podman, standalone.directory, images[suite], "run", "--command-status", "--json", "-", "--",
               "/bin/sh", "-c", script)  # fmt: skip
    assert ran.returncode == 2, ran.stderr  # the command's own status: its write was refused
    trace = json.loads(ran.stdout)
    (write,) = [e for e in trace["events"] if e["path"] == "/tmp/scratch"]
    assert write["result"] == -errno.EROFS
    assert "ok" in ran.stderr  # the command's stdout, moved to stderr by --json -


def test_an_image_with_too_old_a_glibc_refuses_in_one_line(
    podman: Path, standalone: Standalone, images: dict[str, str]
) -> None:
    ran = _run(podman, standalone.directory, images["bullseye"], "run", "--", "/bin/true")  # glibc 2.31
    assert ran.returncode != 0
    assert ran.stdout == ""
    assert ran.stderr.count("\n") == 1, ran.stderr
    assert f"GLIBC_{standalone.glibc}' not found" in ran.stderr


def test_the_provider_image_has_no_shell_and_copies_the_build_out(
    podman: Path, standalone: Standalone, images: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "volume"
    out.mkdir()
    out.chmod(0o777)  # an emptyDir
    argv = [str(podman), "run", "--rm", "--entrypoint", "/bin/sh", standalone.image, "-c", "true"]
    shell = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert shell.returncode != 0  # no shell in it
    provided = subprocess.run(
        [str(podman), "run", "--rm", "--read-only", "-v", f"{out}:/rotrace", standalone.image,
         "kube", "provide", "/rotrace"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert provided.returncode == 0, provided.stderr
    assert (out / "rotrace").stat().st_uid == 65534  # the image's user, not root
    # a second Pod's provider, as another user, on the same volume (podman 4.3 plays two Pods'
    # emptyDir of one name as one volume): the copy there is left as it is, not written over
    again = subprocess.run(
        [str(podman), "run", "--rm", "--read-only", "--user", "1000", "-v", f"{out}:/rotrace",
         standalone.image, "kube", "provide", "/rotrace"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0 and (out / "rotrace").stat().st_uid == 65534, again.stderr
    ran = _run(podman, out, images["bookworm"], "--version")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("rotrace, version")
    shutil.rmtree(out)
