"""The applications of the corpus in one container image, to run their exports as users do:
the docker flags with podman (as Docker runs them), the k8s fragment in a Pod (`podman kube
play`), the compose fragment with podman-compose.

The image holds the host's Debian Python (tests/support/containers.py) with ensurepip's wheels,
/bin/sh, git, the
applications' venv at /venv (its packages copied from the corpus venv, its scripts pointed at
/venv/bin/python) and each application's tree at /apps/NAME, owned by the application's user
(uid 1000, as `COPY --chown` leaves it), with the plan's build steps run in it. A trace taken on
the host is exported with `--map` for the tree, the venv and HOME.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.containers import _libraries, python_rootfs

PYTHON = "/usr/bin/python3.11"
VENV = "/venv"
HOME = "/home/app"
USER = 1000
PATH = f"{VENV}/bin:/usr/bin:/bin"
WHEELS = "/usr/share/python-wheels"  # Debian's ensurepip reads pip's wheel from there


def image_tree(path: str) -> str:
    return f"/apps/{path}"


@dataclass(frozen=True)
class Mapping:
    """Where the host's paths of one traced application are in the image."""

    tree: str  # the application's tree on the host
    venv: str  # the corpus venv on the host
    home: str  # HOME on the host
    name: str  # the application's name: its tree is /apps/NAME in the image

    def args(self) -> list[str]:
        maps = ((self.tree, image_tree(self.name)), (self.venv, VENV), (self.home, HOME))
        return [a for host, image in maps for a in ("--map", f"{host}={image}")]

    def path(self, text: str) -> str:
        """A host path (or a line holding some) as the image has it."""
        maps = ((self.tree, image_tree(self.name)), (self.venv, VENV), (self.home, HOME))
        for host, image in sorted(maps, key=lambda m: -len(m[0])):
            text = text.replace(host, image)
        return text


def venv_copy(host_venv: Path, dest: Path, where: str) -> None:
    """The corpus venv again at `dest` (`where` once in place: /venv in the image): a venv of the
    system's Python (the image's, and one every user can run), the packages copied, the console
    scripts' first line pointed at its python, other programs copied as they are."""
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", str(dest)], check=True, timeout=120)
    (site,) = dest.glob("lib/python3*/site-packages")
    shutil.rmtree(site)
    (host_site,) = host_venv.glob("lib/python3*/site-packages")
    shutil.copytree(host_site, site, symlinks=True)
    shebang = re.compile(rb"^#!" + re.escape(os.fsencode(host_venv / "bin" / "python")) + rb"[0-9.]*")
    for script in (host_venv / "bin").iterdir():
        if script.name.startswith(("python", "activate")) or not script.is_file():
            continue
        data, copy = script.read_bytes(), dest / "bin" / script.name
        if shebang.match(data):
            copy.write_bytes(shebang.sub(b"#!" + where.encode() + b"/bin/python", data, 1))
            copy.chmod(0o755)
        else:  # a program of its own (ruff's binary)
            shutil.copy2(script, copy)


def base_rootfs(root: Path, host_venv: Path) -> None:
    """Python, /bin/sh, the venv, and the shared libraries its extension modules and programs load."""
    python_rootfs(root, PYTHON)
    shutil.copy2("/bin/dash", root / "usr/bin/sh")
    (root / "bin").symlink_to("usr/bin")
    programs = ["/bin/dash"]
    git = shutil.which("git")
    if git is not None:  # pre-commit's (its builtin commands are enough)
        shutil.copy2(git, root / "usr/bin/git")
        programs.append(git)
    if os.path.isdir(WHEELS):  # ensurepip's wheels, which Debian keeps outside the standard library
        shutil.copytree(WHEELS, root / WHEELS.lstrip("/"))
    venv_copy(host_venv, root / VENV.lstrip("/"), VENV)
    venv = root / VENV.lstrip("/")
    modules = [str(p) for p in venv.rglob("*.so*") if p.is_file()]
    modules += [str(p) for p in (venv / "bin").iterdir() if p.is_file() and p.read_bytes()[:4] == b"\x7fELF"]
    for lib in _libraries([*programs, *modules]):
        if lib.startswith(str(root)):
            continue
        usr = lib if lib.startswith("/usr/") else "/usr" + lib
        dest = root / usr.lstrip("/")
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(lib, dest)
    (root / HOME.lstrip("/")).mkdir(parents=True)


def import_tree(podman: Path, root: Path, name: str) -> None:
    """`podman import` of a directory: owned by root, as an image's files are, but for /apps
    (the application's user's, as `COPY --chown` leaves it)."""
    buffer = root.with_suffix(".tar")

    def owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
        uid = USER if info.name.startswith("./apps/") else 0
        info.uid = info.gid = uid
        info.uname = info.gname = "app" if uid else "root"
        return info

    with tarfile.open(buffer, "w") as tar:
        tar.add(root, ".", filter=owner)
    try:
        imported = [str(podman), "import", str(buffer), name]
        subprocess.run(imported, check=True, capture_output=True, timeout=600)
    finally:
        buffer.unlink()
