"""Merge a pod-spec fragment from `rotrace allowlist --format k8s` into a runnable Pod manifest,
the way a user pastes it into theirs (used by scripts/container-test with `podman kube play`).

  python -m tests.support.kube FRAGMENT IMAGE NAME [--no-volumes] [--env K=V ...] -- COMMAND...
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml


def pod(fragment: dict[str, Any], image: str, name: str, command: list[str], env: dict[str, str],
        volumes: bool = True) -> dict[str, Any]:  # fmt: skip
    spec = fragment["spec"]
    (generated,) = spec["containers"]
    container: dict[str, Any] = {
        "name": generated["name"],
        "image": image,
        "command": command,
        "workingDir": "/app",
        "env": [*generated.get("env", []), *({"name": k, "value": v} for k, v in env.items())],
        "securityContext": {**generated["securityContext"], "runAsUser": 1000},
    }
    out: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }
    if volumes and "volumes" in spec:
        container["volumeMounts"] = generated["volumeMounts"]
        out["spec"]["volumes"] = spec["volumes"]
    return out


def own_volumes(manifest: dict[str, Any], prefix: str) -> list[str]:
    """podman 4.3 plays an emptyDir as a named volume of the volume's name (`tmp`), kept after
    the Pod and shared by every Pod on the machine that names one so: what one wrote, the next
    finds (not empty, unlike Kubernetes'). Each emptyDir is renamed `PREFIX-NAME` here; the names
    are returned, for `podman volume rm` once the Pod is down."""
    spec = manifest["spec"]
    renamed = {}
    for volume in spec.get("volumes", []):
        if "emptyDir" in volume:
            renamed[volume["name"]] = volume["name"] = f"{prefix}-{volume['name']}"[:63].rstrip("-")
    for container in spec["containers"]:
        for mount in container.get("volumeMounts", []):
            mount["name"] = renamed.get(mount["name"], mount["name"])
    return list(renamed.values())


def main(argv: list[str]) -> int:
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m tests.support.kube")
    parser.add_argument("fragment")
    parser.add_argument("image")
    parser.add_argument("name")
    parser.add_argument("--no-volumes", action="store_true")
    parser.add_argument("--env", action="append", default=[])
    args = parser.parse_args(argv[:split])
    with open(args.fragment) as f:
        fragment = yaml.safe_load(f)
    env = dict(item.split("=", 1) for item in args.env)
    manifest = pod(fragment, args.image, args.name, argv[split + 1 :], env, volumes=not args.no_volumes)
    yaml.safe_dump(manifest, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
