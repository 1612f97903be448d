"""Corpus tier: poetry installing a project's dependencies into its in-project environment
(`virtualenvs.in-project`) when the app starts, then running the app in it. The plan's mount
at .venv (a directory the command made) left an empty directory there, which poetry takes for
a broken environment: it removed it and failed on the read-only project. The plan moves the
environment instead, with poetry's own settings, and the app runs under it as it did."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.corpus import cached_venv, pinned_wheels
from tests.support.corpus import wheelhouse as tools_wheelhouse

pytestmark = [pytest.mark.corpus, pytest.mark.needs("bwrap")]

# poetry and every distribution it needs, pinned
POETRY = (
    "poetry==2.5.1", "poetry-core==2.5.0", "anyio==4.16.0", "backports.tarfile==1.2.0",
    "backports.zstd==1.8.1", "build==1.6.1", "cachecontrol==0.14.4", "certifi==2026.10.19.post1",
    "cffi==2.1.1", "charset-normalizer==3.5.3", "cleo==2.1.0", "crashtest==0.4.1",
    "cryptography==51.0.1", "distlib==0.4.4", "dulwich==1.2.21", "fastjsonschema==2.22.3",
    "filelock==4.3.2", "findpython==0.8.0", "h11==0.16.0", "httpcore2==2.17.0", "httpx2==2.17.0",
    "idna==3.21", "importlib-metadata==10.2.0", "installer==1.1.0", "jaraco.classes==3.4.0",
    "jaraco.context==6.1.2", "jaraco.functools==4.6.0", "jeepney==0.9.0", "keyring==25.7.0",
    "lazy-importer==0.1.0", "more-itertools==11.2.1", "msgpack==1.2.4", "packaging==26.4",
    "pbs-installer==2026.10.25", "pkginfo==1.13.3", "platformdirs==4.14.9", "pycparser==3.12",
    "pyproject-hooks==1.3.3", "python-discovery==1.9.9", "rapidfuzz==3.14.6", "requests==2.34.2",
    "requests-toolbelt==1.0.0", "secretstorage==3.5.0", "shellingham==1.5.4", "tomlkit==0.15.3",
    "trove-classifiers==2026.9.21.13", "truststore==0.10.5", "typing-extensions==4.16.0",
    "urllib3==2.8.0", "virtualenv==21.15.14", "zipp==4.1.2",
)  # fmt: skip
ROTRACE = [sys.executable, "-m", "rotrace"]
APP = "import six\nprint('six', six.__version__)\n"


@pytest.fixture(scope="module")
def poetry() -> Path:
    venv, made = cached_venv("poetry-venv", list(POETRY), pinned_wheels("poetry-wheels", list(POETRY)))
    if made:
        (venv / ".complete").touch()
    return venv / "bin" / "poetry"


@pytest.fixture
def project() -> Iterator[Path]:
    """A project whose one dependency is a local wheel (no index needed), locked, with a home
    of its own; outside /tmp, which the plan's tmpfs covers."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-poetry-", dir="/var/tmp"))
    try:
        (base / "home").mkdir()
        (base / "app").mkdir()
        yield base / "app"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _env(project: Path) -> dict[str, str]:
    # (an activated venv, the test run's own: poetry would install into it, not make .venv)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POETRY_", "VIRTUALENV_", "VIRTUAL_ENV", "CONDA_"))
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's machine writes bytecode
    return {**env, "HOME": str(project.parent / "home"), "POETRY_VIRTUALENVS_IN_PROJECT": "true"}


def test_poetrys_in_project_environment_is_moved_by_its_settings_and_the_app_runs(
    poetry: Path, project: Path
) -> None:
    six = next(tools_wheelhouse().glob("six-*.whl"))
    (project / "pyproject.toml").write_text(
        '[project]\nname = "hello"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        f'dependencies = ["six @ {six.as_uri()}"]\n[tool.poetry]\npackage-mode = false\n'
    )
    (project / "main.py").write_text(APP)
    env = _env(project)
    subprocess.run([str(poetry), "lock"], cwd=project, env=env, check=True, capture_output=True, timeout=300)
    home = project.parent / "home"
    shutil.rmtree(home)
    home.mkdir()
    start = f"{poetry} install && {poetry} run python main.py"

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, timeout=600)

    traced = run(*ROTRACE, "run", "-q", "--json", "t.json", "--", "sh", "-c", start)
    assert traced.stdout.endswith("six 1.16.0\n"), traced.stderr[-3000:]
    shutil.rmtree(project / ".venv")
    shutil.rmtree(home)
    home.mkdir()
    bare = run("bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
               "--", "sh", "-c", start)  # fmt: skip
    assert bare.returncode != 0, "poetry wrote nothing a read-only root refuses"
    export = run(*ROTRACE, "allowlist", "t.json", "--format", "bwrap")
    args = export.stdout.splitlines()
    assert export.returncode == 0, export.stderr
    assert str(project / ".venv") not in args, export.stdout  # no mount point where poetry makes it
    assert "POETRY_VIRTUALENVS_PATH" in args, export.stdout
    replay = run("bwrap", *args, "--", "sh", "-c", start)
    assert (replay.returncode, replay.stdout.endswith("six 1.16.0\n")) == (0, True), replay.stderr[-3000:]
    assert "Read-only file system" not in replay.stderr
    assert sorted(os.listdir(project)) == ["main.py", "poetry.lock", "pyproject.toml", "t.json"]
