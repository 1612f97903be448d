"""Running exports in real runtimes on a host like ours (see the containers doc): podman in a
private mount namespace (cgroup2 only for `podman run`, the v1 hierarchies for `kube play`),
ulimits within the host's, no network; and images without a registry, from files of the host."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import yaml

from tests.support.kube import own_volumes


def _conf(work: Path, name: str, cgroups: str) -> Path:
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    memlock = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)
    ulimits = ", ".join(
        f'"{name}={v}:{v}"'
        for name, v in (("nofile", nofile), ("memlock", memlock), ("nproc", nproc))
        if v != resource.RLIM_INFINITY
    )
    path = work / name
    path.write_text(
        f'[containers]\ncgroups = "{cgroups}"\ndefault_ulimits = [{ulimits}]\n'
        '[engine]\ncgroup_manager = "cgroupfs"\n'
    )
    return path


def podman_wrapper(work: Path) -> Path:
    """`podman` for `run`, `import`, `rmi` and podman-compose: `--network none` on every run, the
    network options podman-compose adds dropped (none can be set up here)."""
    conf = _conf(work, "containers.conf", "disabled")
    wrapper = work / "podman"
    wrapper.write_text(
        textwrap.dedent(f"""\
        #!/bin/sh
        skip=0
        for a do
            shift
            if [ "$skip" = 1 ]; then skip=0; continue; fi
            case "$a" in --net|--network-alias) skip=1; continue ;; esac
            set -- "$@" "$a"
        done
        [ "$1" = run ] && {{ shift; set -- run --network none "$@"; }}
        export CONTAINERS_CONF={conf}
        exec unshare -m --propagation private sh -c 'umount -R /sys/fs/cgroup 2>/dev/null
          mount -t cgroup2 none /sys/fs/cgroup && exec podman "$@"' sh "$@"
        """)
    )
    wrapper.chmod(0o755)
    return wrapper


def kube_wrapper(work: Path) -> Path:
    """`podman` for `kube play` (Pods need cgroups: the v1 hierarchies, cgroups enabled)."""
    conf = _conf(work, "kube-containers.conf", "enabled")
    wrapper = work / "podman-kube"
    wrapper.write_text(
        textwrap.dedent(f"""\
        #!/bin/sh
        export CONTAINERS_CONF={conf}
        exec unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null
          exec podman "$@"' sh "$@"
        """)
    )
    wrapper.chmod(0o755)
    return wrapper


def kube_cleanup() -> None:
    """podman 4.3 leaves an empty cgroup behind each Pod."""
    parent = Path("/sys/fs/cgroup/systemd/libpod_parent")
    if parent.is_dir():
        for child in parent.iterdir():
            if child.is_dir():
                try:
                    child.rmdir()
                except OSError:
                    pass


def play_pod(kube: Path, manifest: dict[str, Any], where: Path, timeout: int = 600) -> tuple[int, str]:
    """The Pod played with no network (`kube`: kube_wrapper's script), its first container's exit
    status and output; then removed, with its claims and its emptyDirs (each named for the Pod
    here: podman 4.3 keeps an emptyDir as a named volume shared by every Pod naming it)."""
    spec = manifest["spec"]
    volumes = [
        v["persistentVolumeClaim"]["claimName"]
        for v in spec.get("volumes", [])
        if "persistentVolumeClaim" in v
    ]
    volumes += own_volumes(manifest, str(manifest["metadata"]["name"]))
    path = where / "pod.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    container = f"{manifest['metadata']['name']}-{spec['containers'][0]['name']}"
    run = str(kube)
    try:
        played = subprocess.run([run, "kube", "play", "--network", "none", str(path)], capture_output=True,
                                text=True, timeout=timeout)  # fmt: skip
        assert played.returncode == 0, played.stderr
        waited = subprocess.run([run, "wait", container], capture_output=True, text=True, timeout=timeout)
        logs = subprocess.run([run, "logs", container], capture_output=True, text=True, timeout=120)
        return int(waited.stdout.strip() or -1), logs.stdout + logs.stderr
    finally:
        subprocess.run([run, "kube", "down", str(path)], capture_output=True, timeout=300)
        if volumes:
            subprocess.run([run, "volume", "rm", "-f", *volumes], capture_output=True, timeout=120)
        kube_cleanup()


def _libraries(binaries: list[str]) -> set[str]:
    found = set()
    for binary in binaries:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            parts = line.split()
            path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
            if path.startswith("/"):
                found.add(path)
    return found


def python_rootfs(root: Path, python: str = "/usr/bin/python3.11") -> str:
    """A root filesystem with the host's Debian Python (its standard library, its extension
    modules and the libraries they load), nothing else; returns the Python's name in it."""
    version = os.path.basename(python)
    stdlib = Path("/usr/lib") / version
    (root / "usr/bin").mkdir(parents=True)
    shutil.copy2(python, root / "usr/bin" / version)
    (root / "usr/bin/python3").symlink_to(version)
    unused = shutil.ignore_patterns("test", "site-packages", "dist-packages", "idlelib", "tkinter")
    shutil.copytree(stdlib, root / stdlib.relative_to("/"), symlinks=True, ignore=unused)
    modules = [str(p) for p in (stdlib / "lib-dynload").glob("*.so")]
    for lib in _libraries([python, *modules]):
        usr = lib if lib.startswith("/usr/") else "/usr" + lib  # /lib and /lib64 are links to usr/
        dest = root / usr.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib, dest)
    for link in ("lib", "lib64"):
        (root / "usr" / link).mkdir(exist_ok=True)
        (root / link).symlink_to(f"usr/{link}")
    for directory in ("tmp", "var/tmp", "proc", "dev", "sys", "etc", "run"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    (root / "var/tmp").chmod(0o1777)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\napp:x:1000:\n")
    return "/usr/bin/python3"


def import_image(podman: Path, root: Path, name: str, base: str | None = None) -> None:
    """`podman import` of a directory (files owned by root, as an image's are), laid over the
    root filesystem in the tar `base` when one is given."""
    buffer = root.with_suffix(".tar")
    if base is not None:
        shutil.copyfile(base, buffer)

    def as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(buffer, "a" if base is not None else "w") as tar:
        for entry in sorted(root.iterdir()):
            tar.add(entry, f"./{entry.name}", filter=as_root)
    subprocess.run([str(podman), "import", str(buffer), name], check=True, capture_output=True, timeout=300)
    buffer.unlink()


def app_image(podman: Path, work: Path, app: str, name: str, python: str = "/usr/bin/python3.11") -> str:
    """An image `name` of this machine's `python` with `app` as /app/app.py (owned by root, as an
    image's files are): the Python to run in it."""
    root = work / "root"
    root.mkdir()
    inside = python_rootfs(root, python)
    (root / "app").mkdir()
    (root / "app" / "app.py").write_text(app)
    import_image(podman, root, name)
    return inside
