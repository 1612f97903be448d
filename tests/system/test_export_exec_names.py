"""A name a traced program chose, in a k8s export played for real (`podman kube play`): a
runtime that turns a mount into SOURCE:TARGET:OPTIONS reads what follows a ':' in the mount
path as options, so a directory the program names `app:rw` would put the emptyDir over `app`
(the application, hidden) and `data:ro` a read-only one at `data`. Such a name is left out of
the manifest, with a note; the Pod mounts nothing but where the plan says."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.containers import import_image, kube_wrapper, play_pod, podman_wrapper, python_rootfs
from tests.support.kube import pod
from tests.support.places import fixed_name_dir
from tests.support.tracing import rotrace_cli

IMAGE = "localhost/rotrace-names:test"


@pytest.fixture(scope="module")
def traced() -> Iterator[tuple[Path, Path, Path]]:
    """(the directory in /srv, the trace, a work directory): `app` holds the application's file,
    and the program wrote in `app:rw` and in `data:ro`, both empty before the run."""
    if shutil.which("podman") is None or not os.access("/srv", os.W_OK):
        pytest.skip("needs podman and a writable /srv")
    base = fixed_name_dir("rotrace-colon-", "/srv")
    work = Path(tempfile.mkdtemp(prefix="rotrace-colon-work-", dir="/var/tmp"))
    try:
        for name in ("app", "app:rw", "data", "data:ro"):
            (base / name).mkdir()
        (base / "app" / "keep").write_text("the application\n")
        trace = work / "t.json"
        script = f'echo x > "{base}/app:rw/f"; echo x > "{base}/data:ro/f"'
        proc = rotrace_cli("run", "--json", str(trace), "--", "sh", "-c", script)
        assert proc.returncode == 1, proc.stderr
        yield base, trace, work
    finally:
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def test_a_name_with_a_colon_mounts_nothing_elsewhere(traced: tuple[Path, Path, Path]) -> None:
    base, trace, work = traced
    exported = rotrace_cli("allowlist", "--format", "k8s", str(trace))
    fragment = yaml.safe_load(exported.stdout)
    root = work / "root"
    python = python_rootfs(root)
    shutil.copytree(base, root / str(base).lstrip("/"))
    podman = podman_wrapper(work)
    import_image(podman, root, IMAGE)
    check = (
        "import os, sys\n"
        f"base = {str(base)!r}\n"
        "mounts = [line.split()[4] for line in open('/proc/self/mountinfo')]\n"
        "print(open(base + '/app/keep').read().strip())\n"
        "print('mounted:', sorted(m for m in mounts if m.startswith(base)))\n"
        "try:\n"
        "    open(base + '/data/x', 'w')\n"
        "except OSError as e:\n"
        "    print('data:', e.strerror)\n"
    )
    manifest = pod(fragment, IMAGE, "rotrace-colon", [python, "-c", check], {})
    container = manifest["spec"]["containers"][0]
    container["securityContext"]["runAsUser"], container["workingDir"] = 0, "/"
    try:
        status, output = play_pod(kube_wrapper(work), manifest, work)
    finally:
        subprocess.run([str(podman), "rmi", "-f", IMAGE], capture_output=True, timeout=120)
    assert status == 0, output
    assert output.splitlines() == ["the application", "mounted: []", "data: Read-only file system"], output
    for name in ("app:rw", "data:ro"):
        assert f"rotrace: {base}/{name}: holds ':'" in exported.stderr, exported.stderr
