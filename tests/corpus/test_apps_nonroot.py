"""Corpus tier, as users run it: rotrace itself as a non-root user (uid 65534) on a few of the
applications, from the trace to the bwrap replay.

That user cannot run the corpus venv (its Python is root's), so the applications run from a copy
of it on the system's Python (tests/support/corpus_images.py), and rotrace from a copy of itself
(tests/support/tracing.py); the trees and HOME are the user's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.as_user import NOBODY
from tests.support.corpus_apps import APPS, CHECKED, App, apps_venv, held, plan_of
from tests.support.corpus_apps import Result as Outcome
from tests.support.corpus_images import venv_copy
from tests.support.tracing import NON_ROOT_PYTHON, portable_site

pytestmark = [pytest.mark.corpus, pytest.mark.needs("bwrap")]
# applications that import none of rotrace's own dependencies (its copy is on PYTHONPATH)
NON_ROOT = (
    "jinja2-site",
    "pandas-csv-report",
    "matplotlib-agg",
    "joblib-memory",
    "numba-cache",
    "bottle-sqlite",
)
UID = 65534


class Place:
    """A venv, rotrace, and a tree and HOME of the user's, under one directory in /var/tmp."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.venv = root / "venv"
        venv_copy(apps_venv(), self.venv, str(self.venv))
        self.site = portable_site(root / "site")
        self.tree, self.home = root / "app", root / "home"

    def lay(self, app: App) -> None:
        for path in (self.tree, self.home):
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
        for rel, text in app.tree.items():
            path = self.tree / rel
            if rel.endswith("/"):
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(textwrap.dedent(text))
        for path in (self.tree, self.home):
            subprocess.run(["chown", "-R", f"{UID}:{UID}", str(path)], check=True)

    def argv(self, app: App) -> list[str]:
        names = {"py": str(self.venv / "bin/python"), "bin": str(self.venv / "bin"), "wheels": "/nonexistent"}
        return [a.replace("{port}", "\0").format(**names).replace("\0", "{port}") for a in app.argv]

    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "PATH": f"{self.venv}/bin:/usr/bin:/bin",
            "PYTHONPATH": str(self.site),
        }

    def run(self, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*NOBODY, *argv], cwd=self.tree, env=env, capture_output=True, text=True,
                              timeout=600)  # fmt: skip


@pytest.fixture(scope="module")
def place() -> Iterator[Place]:
    if os.geteuid() != 0:
        pytest.skip("switches to uid 65534 (run as root)")
    if not os.path.exists(NON_ROOT_PYTHON):
        pytest.skip(f"needs {NON_ROOT_PYTHON}")
    root = Path(tempfile.mkdtemp(prefix="rotrace-apps-nonroot-", dir="/var/tmp"))
    root.chmod(0o777)  # the traces are written here by the user
    try:
        yield Place(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("app", [a for a in APPS if a.name in NON_ROOT], ids=NON_ROOT)
def test_rotrace_as_a_non_root_user_plans_what_holds(app: App, place: Place) -> None:
    """Traced and exported (right after the trace) by uid 65534; replayed by it from the pre-trace
    tree (the plan's build steps run as the image's build would, as root) under the bwrap export
    verbatim."""
    rotrace = [NON_ROOT_PYTHON, "-m", "rotrace"]
    env = place.env()
    place.lay(app)
    bare_root = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--"]
    bare = place.run([*bare_root, *place.argv(app)], env)
    trace = place.root / f"{app.name}.json"
    traced = place.run([*rotrace, "run", "-q", "--json", str(trace), "--", *place.argv(app)], env)
    assert trace.exists(), traced.stderr[-3000:]
    exported = place.run([*rotrace, "allowlist", str(trace), "--format", "bwrap"], env)  # right after
    assert exported.returncode == 0, exported.stderr
    settings, steps = plan_of(trace)
    place.lay(app)  # the tree as it was before the trace
    build_env = dict(env, PATH=f"{place.venv}/bin:/usr/bin:/bin")
    for step in steps:
        built = subprocess.run(["sh", "-c", step], cwd=place.tree, env=build_env, capture_output=True,
                               timeout=600)  # fmt: skip
        assert built.returncode == 0, built.stderr
    check = dict(env, CORPUS_CHECK=app.check or "", CORPUS_PY=str(place.venv / "bin/python"))
    argv = ["bwrap", *exported.stdout.splitlines(), "--", "sh", "-c", CHECKED, "sh", *place.argv(app)]
    replay = place.run(argv, check)
    out = Outcome(app.name, bare_status=bare.returncode, replay_status=replay.returncode,
                  replay_stdout=replay.stdout, replay_stderr=replay.stderr)  # fmt: skip
    assert held(app, out), f"bare {bare.returncode}; replay {replay.returncode}: {replay.stderr[-3000:]}"
    args = exported.stdout.splitlines()
    for name, value in settings.items():  # the plan's settings are the export's
        assert any(args[i : i + 3] == ["--setenv", name, value] for i in range(len(args))), name
