"""The standalone rotrace and Debian base images for the container tests: built once a session by
the project's own scripts (scripts/build-standalone, scripts/debian-rootfs: debootstrap from the
host's mirror, cached), imported into podman under names of this test run."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Standalone:
    directory: Path  # the one-directory build: directory / "rotrace" is the program
    image: str  # the image that provides it
    glibc: str  # the newest glibc version it needs


_BUILT: list[Standalone] = []


def build_standalone(podman: Path) -> Standalone:
    """scripts/build-standalone --image, with `podman` as the engine: once a test session."""
    if _BUILT:
        return _BUILT[0]
    env = {**os.environ, "ENGINE": str(podman)}
    proc = subprocess.run([str(ROOT / "scripts/build-standalone"), "--image"], env=env, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    directory = ROOT / "build/standalone/rotrace"
    import rotrace

    glibc = (directory / "GLIBC").read_text().strip()
    _BUILT.append(Standalone(directory, f"localhost/rotrace:{rotrace.__version__}", glibc))
    return _BUILT[0]


def debian_image(podman: Path, suite: str, packages: str = "") -> str:
    """A Debian image (minbase, plus `packages`) from the cached root filesystem."""
    argv = [str(ROOT / "scripts/debian-rootfs"), suite, *([packages] if packages else [])]
    tar = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=True).stdout.strip()
    name = (
        f"localhost/rotrace-test-{suite}{'-' + packages.replace(',', '-') if packages else ''}:{os.getpid()}"
    )
    subprocess.run([str(podman), "import", tar, name], check=True, capture_output=True, timeout=300)
    return name
