"""The whole Kubernetes flow, played by `podman kube play` (docs/kubernetes.md): a small uv web app
(examples/kube-shop: an SQLite database, a log, temporary files; an image with NO rotrace in it)
and its team's one-replica Deployment. `kube record` of the Deployment is played twice (two Pods,
two names), a bounded client on the Pod's loopback makes three requests, the Pod is stopped with
SIGTERM; the traces are taken from the volume that outlives the Pods, merged, and `kube harden`
writes the team's manifest back. The hardened manifest, played with a read-only root, answers the
same; recorded again and played once more, no write fails.

What podman 4.3 needs besides (the test is the cluster here): each play gets its own Deployment
name (a cluster's ReplicaSet names Pods at random), and the pod template restartPolicy OnFailure:
under Always podman restarts an init container that exited and then fails removing it."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.containers import kube_cleanup, kube_wrapper, podman_wrapper
from tests.support.standalone import ROOT, Standalone, build_standalone, debian_image
from tests.support.tracing import rotrace_cli
from tests.support.uvtools import installed_uv

pytestmark = [pytest.mark.needs("podman", "catatonit", "debootstrap"), pytest.mark.uv]

SHOP = ROOT / "examples/kube-shop"
ANSWERS = "stored /apple\nstored /pear\nstored /plum\n"
PROBE = """
try:
    open("/app/probe", "w")
    print("written")
except OSError as exc:
    print(exc.strerror)
"""


@dataclass
class Cluster:
    podman: Path  # for builds, images and volumes
    kube: Path  # for kube play
    standalone: Standalone
    image: str  # the app's
    suffix: str  # this test run's names
    work: Path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if os.geteuid() != 0:
        pytest.skip("podman here runs as root (a private mount namespace for cgroups)")
    uv = installed_uv()
    if uv is None:
        pytest.skip("needs uv (the test extras)")
    work = tmp_path_factory.mktemp("kube-flow")
    podman, kube = podman_wrapper(work), kube_wrapper(work)
    standalone = build_standalone(podman)
    base = debian_image(podman, "bookworm", "python3,python3-venv")
    context = work / "shop"
    shutil.copytree(SHOP, context)
    shutil.copy2(uv, context / "uv")
    subprocess.run([uv, "lock", "--offline", "-q"], cwd=context, check=True, timeout=120)
    image = f"localhost/kube-shop:{os.getpid()}"
    built = subprocess.run(
        [str(podman), "build", "--isolation", "chroot", "-q", "--build-arg", f"BASE_IMAGE={base}",
         "-t", image, str(context)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    try:
        yield Cluster(podman, kube, standalone, image, str(os.getpid()), work)
    finally:
        subprocess.run([str(podman), "rmi", "-f", image, base], capture_output=True, timeout=300)


@dataclass
class Played:
    answers: str  # the client's
    status: int  # the server container's exit status
    logs: str
    probe: str  # what writing /app/probe in the container said


def _as_played(cluster: Cluster, text: str, name: str) -> str:
    """The manifest as this podman plays it: the Deployment named `name`, the template's
    restartPolicy OnFailure, the claims named for this test run; a claim that exists already
    is left as it is (as `kubectl apply` leaves it: podman refuses to make it again)."""
    suffix = cluster.suffix
    docs = [d for d in yaml.safe_load_all(text) if d]
    for doc in list(docs):
        if doc["kind"] == "Deployment":
            doc["metadata"]["name"] = name
            doc["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
            for volume in doc["spec"]["template"]["spec"].get("volumes", []):
                claim = volume.get("persistentVolumeClaim")
                if claim and not claim["claimName"].endswith(suffix):
                    claim["claimName"] += f"-{suffix}"
        elif doc["kind"] == "PersistentVolumeClaim":
            doc["metadata"]["name"] += f"-{suffix}"
            exists = [str(cluster.kube), "volume", "exists", doc["metadata"]["name"]]
            if subprocess.run(exists, capture_output=True, timeout=120).returncode == 0:
                docs.remove(doc)
    return yaml.safe_dump_all(docs, sort_keys=False)


def _play(cluster: Cluster, text: str, name: str) -> Played:
    """Play, ask the three questions from inside the Pod, stop with SIGTERM, remove."""
    path = cluster.work / f"{name}.yaml"
    path.write_text(_as_played(cluster, text, name))
    kube = str(cluster.kube)
    pod, container = f"{name}-pod-0", f"{name}-pod-0-server"
    null_owner = os.stat("/dev/null").st_uid
    try:
        played = subprocess.run([kube, "kube", "play", "--network", "none", str(path)], capture_output=True,
                                text=True, timeout=300)  # fmt: skip
        assert played.returncode == 0, played.stderr
        # -i with a pipe: `podman exec` without -i gives the process the host's /dev/null as
        # stdin and chowns it to the container's user (podman 4.3, crun)
        client = subprocess.run([kube, "exec", "-i", container, "/app/.venv/bin/python", "/app/client.py"],
                                input="", capture_output=True, text=True, timeout=300)  # fmt: skip
        probe = subprocess.run([kube, "exec", "-i", container, "/app/.venv/bin/python", "-c", PROBE],
                               input="", capture_output=True, text=True, timeout=300)  # fmt: skip
        stopped = subprocess.run([kube, "pod", "stop", "-t", "30", pod], capture_output=True, text=True,
                                 timeout=300)  # fmt: skip
        assert stopped.returncode == 0, stopped.stderr
        status = subprocess.run([kube, "inspect", container, "--format", "{{.State.ExitCode}}"],
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        logs = subprocess.run([kube, "logs", container], capture_output=True, text=True, timeout=120)
        assert client.returncode == 0, client.stderr + logs.stdout + logs.stderr
        assert os.stat("/dev/null").st_uid == null_owner, "the host's /dev/null changed owner"
        return Played(client.stdout, int(status.stdout.strip()), logs.stdout + logs.stderr, probe.stdout)
    finally:
        subprocess.run([kube, "kube", "down", str(path)], capture_output=True, timeout=300)
        kube_cleanup()


def _volume(cluster: Cluster, name: str) -> Path:
    found = subprocess.run([str(cluster.kube), "volume", "inspect", name, "--format", "{{.Mountpoint}}"],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert found.returncode == 0, found.stderr
    return Path(found.stdout.strip())


REFUSED = {-errno.EROFS, -errno.EACCES, -errno.EPERM}


def _refused_writes(trace: dict[str, Any]) -> list[str]:
    """Writes the root or a permission refused (an EEXIST of makedirs is no failure)."""
    return [
        f"{e['path']}: {e['result']}"
        for e in trace["events"]
        if e.get("write") and e.get("result") in REFUSED
    ]


def test_record_two_pods_merge_harden_and_play_read_only(cluster: Cluster, tmp_path: Path) -> None:
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(
        (SHOP / "deployment.yaml").read_text().replace("localhost/kube-shop:latest", cluster.image)
    )
    traces_claim = f"rotrace-traces-{cluster.suffix}"
    volumes = [traces_claim, f"app-data-{cluster.suffix}"]
    try:
        # the image sets no command: its CMD comes from `podman image inspect`
        recorded = rotrace_cli("kube", "record", str(manifest), "--container", "server", "--image",
                               cluster.standalone.image, "--traces", f"pvc:{traces_claim}")  # fmt: skip
        assert recorded.returncode == 0, recorded.stderr
        runs = [_play(cluster, recorded.stdout, f"shop-{cluster.suffix}-{n}") for n in (1, 2)]
        assert [r.answers for r in runs] == [ANSWERS, ANSWERS]
        assert [r.probe for r in runs] == ["written\n", "written\n"]  # the image's root, writable
        collected = tmp_path / "traces"
        shutil.copytree(_volume(cluster, traces_claim), collected)
        traces = sorted(collected.glob("*.json"))
        assert [t.name for t in traces] == [f"shop-{cluster.suffix}-{n}-pod-0-server.json" for n in (1, 2)]
        for run, path in zip(runs, traces, strict=True):
            trace = json.loads(path.read_text())
            assert trace["labels"] == {"pod": path.name.removesuffix("-server.json"), "container": "server"}
            assert trace["exit_code"] == 0, run.logs  # the server stopped cleanly on SIGTERM, traced
            assert run.status == 0, run.logs  # the server's own status, whatever the recording found
        merged = tmp_path / "merged.json"
        proc = rotrace_cli("merge", str(collected), "-o", str(merged))
        assert proc.returncode == 0, proc.stderr

        hardened = rotrace_cli("kube", "harden", str(manifest), "--from", str(merged))
        assert hardened.returncode == 0, hardened.stderr
        docs = list(yaml.safe_load_all(hardened.stdout))
        server = docs[0]["spec"]["template"]["spec"]["containers"][0]
        assert server["securityContext"] == {"readOnlyRootFilesystem": True}
        assert {m["mountPath"] for m in server["volumeMounts"]} == {"/app/data", "/app/logs", "/tmp"}
        assert docs[1]["kind"] == "PersistentVolumeClaim"  # the database survives a restart
        assert "in 2 of 2 runs" in hardened.stdout

        plain = _play(cluster, hardened.stdout, f"shop-{cluster.suffix}-h")
        assert plain.answers == ANSWERS
        assert plain.probe == "Read-only file system\n"
        assert plain.status == 0, plain.logs

        (tmp_path / "hardened.yaml").write_text(hardened.stdout)
        again = rotrace_cli("kube", "record", str(tmp_path / "hardened.yaml"), "--image",
                            cluster.standalone.image, "--traces", f"pvc:{traces_claim}")  # fmt: skip
        assert again.returncode == 0, again.stderr
        checked = _play(cluster, again.stdout, f"shop-{cluster.suffix}-c")
        assert checked.answers == ANSWERS
        last = json.loads(
            (_volume(cluster, traces_claim) / f"shop-{cluster.suffix}-c-pod-0-server.json").read_text()
        )
        assert last["exit_code"] == 0, checked.logs
        assert _refused_writes(last) == []
        assert any(e["path"].startswith("/app/data/") for e in last["events"])  # it did write, where it may
        # on the hardened manifest's own writable volumes, allowed: none a violation that "would fail"
        refused_by_plan = [e["path"] for e in last["events"] if e["allowed"] is False]
        assert last["summary"]["violations"] == 0, refused_by_plan
    finally:
        subprocess.run([str(cluster.kube), "volume", "rm", "-f", *volumes], capture_output=True, timeout=120)
