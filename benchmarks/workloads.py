"""The workloads the benchmark times (docs/performance.md) and their setup: uv projects and
venvs made in a temporary directory, from wheels downloaded once into a cache, so that every
round starts from the same state (`before_each`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support.uvtools import uv_env

# ~30 pure-Python wheels with many files between them (tzdata alone has ~600): W2's and W4's install.
W2_WHEELS = [
    "attrs==24.2.0", "babel==2.16.0", "certifi==2024.8.30", "click==8.1.7", "colorama==0.4.6",
    "decorator==5.1.1", "docutils==0.21.2", "idna==3.10", "iniconfig==2.0.0", "jinja2==3.1.4",
    "markdown-it-py==3.0.0", "mdurl==0.1.2", "more-itertools==10.5.0", "packaging==24.1",
    "pluggy==1.5.0", "pygments==2.18.0", "pyparsing==3.1.4", "pytest==8.3.3",
    "python-dateutil==2.9.0.post0", "pytz==2024.2", "requests==2.32.3", "rich==13.9.2",
    "six==1.16.0", "sortedcontainers==2.4.0", "toml==0.10.2", "tomli==2.0.2",
    "typing-extensions==4.12.2", "tzdata==2024.2", "urllib3==2.2.3", "wcwidth==0.2.13",
    "zipp==3.20.2", "soupsieve==2.6", "beautifulsoup4==4.12.3",
]  # fmt: skip
W2_NAMES = [w.split("==")[0] for w in W2_WHEELS]

# A's server, from the package index: gunicorn and its one dependency.
ATTACH_WHEELS = ["gunicorn==23.0.0", "packaging==24.1"]

# The workloads in the order they run; F (rotrace's fixed cost) is timed after them, with more
# rounds, and A (attaching to a running server) last.
NAMES = ("W1", "W2", "W3", "W4", "F", "A")

# Modules whose import has side effects (a GUI, a browser, printing) or is not for importing.
_NO_IMPORT = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "__main__", "pydoc_data"}


@dataclass
class Workload:
    name: str
    title: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    before_each: Callable[[], None] = lambda: None


def w1(tmp: Path, uv: str) -> Workload:
    project = tmp / "w1"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "w1"\nversion = "0"\nrequires-python = ">=3.8"\ndependencies = []\n'
    )
    env = uv_env()
    subprocess.run([uv, "sync", "--offline"], cwd=project, env=env, check=True, capture_output=True)
    env.update(UV_FROZEN="true")
    argv = [uv, "run", "python", "--version"]
    subprocess.run(argv, cwd=project, env=env, check=True, capture_output=True)  # warm
    return Workload("W1", "W1 `uv run python --version` (synced project, frozen, warm)", argv, project, env)


def cached_wheel(cache: Path, pin: str) -> bool:
    """Whether the wheel of `pin` (name==version) is in `cache`: wheel file names spell the
    name with underscores (PEP 427), in any case."""
    name, _, version = pin.partition("==")
    prefix = f"{re.sub(r'[-_.]+', '_', name)}-{version}-".lower()
    return any(f.name.lower().startswith(prefix) for f in cache.glob("*.whl"))


def wheelhouse(pins: list[str] = W2_WHEELS) -> Path:
    """The benchmark's wheel cache, with the wheels of `pins` and their dependencies (downloaded
    the first time one is missing)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rotrace" / "bench-wheels"
    missing = [pin for pin in pins if not cached_wheel(cache, pin)]
    if missing:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:",
             "--dest", str(cache), *missing],
            check=True,
        )  # fmt: skip
    return cache


def w2(tmp: Path, uv: str) -> Workload:
    wheels = wheelhouse()
    project = tmp / "w2"
    project.mkdir()
    deps = ", ".join(f'"{n}"' for n in W2_NAMES)
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "w2"\nversion = "0"\nrequires-python = ">=3.11"\ndependencies = [{deps}]\n'
        f'[tool.uv]\nno-index = true\nfind-links = ["{wheels}"]\n'
    )
    env = uv_env()
    env["UV_CACHE_DIR"] = str(tmp / "w2-cache")
    subprocess.run([uv, "lock", "--offline"], cwd=project, env=env, check=True, capture_output=True)
    argv = [uv, "sync", "--offline", "--frozen"]
    subprocess.run(argv, cwd=project, env=env, check=True, capture_output=True)  # warm the cache

    def fresh_venv() -> None:
        shutil.rmtree(project / ".venv", ignore_errors=True)

    title = f"W2 `uv sync --offline` of {len(W2_WHEELS)} local wheels into a fresh .venv (warm cache)"
    return Workload("W2", title, argv, project, env, fresh_venv)


def w3(tmp: Path) -> Workload:
    names = sorted(n for n in sys.stdlib_module_names if not n.startswith("_") and n not in _NO_IMPORT)
    code = (
        "import importlib, warnings\nwarnings.simplefilter('ignore')\nn = 0\n"
        f"for m in {names!r}:\n"
        "    try:\n        importlib.import_module(m); n += 1\n    except Exception:\n        pass\n"
    )
    script = tmp / "w3.py"
    script.write_text(code)
    argv = [sys.executable, "-B", str(script)]
    return Workload(
        "W3", f"W3 read-heavy start-up: import {len(names)} stdlib modules", argv, tmp, dict(os.environ)
    )


def w4(tmp: Path, uv: str) -> Workload:
    """`uv pip install` of the wheels into a fresh venv with an empty cache: uv unpacks every
    wheel into its cache, then links the files into the venv (the heaviest writer here)."""
    wheels = wheelhouse()
    venv = tmp / "w4-venv"
    cache = tmp / "w4-cache"
    env = uv_env()
    env["UV_CACHE_DIR"] = str(cache)
    argv = [uv, "pip", "install", "--python", str(venv / "bin" / "python"), "--offline", "--no-index",
            "--find-links", str(wheels), *W2_WHEELS]  # fmt: skip

    def fresh() -> None:
        shutil.rmtree(venv, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
        subprocess.run([uv, "venv", "--quiet", str(venv)], env=env, check=True, capture_output=True)

    fresh()
    subprocess.run(argv, cwd=tmp, env=env, check=True, capture_output=True)  # it works at all
    title = f"W4 `uv pip install` of {len(W2_WHEELS)} local wheels into a fresh venv (empty cache)"
    return Workload("W4", title, argv, tmp, env, fresh)


def fixed_cost(tmp: Path) -> Workload:
    """F: `true`, nothing to trace: what any run of rotrace costs (its start-up and exit)."""
    return Workload("F", "rotrace's fixed cost: `true`", ["true"], tmp, dict(os.environ))


def make(only: set[str], tmp: Path, uv: str) -> list[Workload]:
    """W1..W4 among `only`, set up in `tmp` (F and A are made apart: F is timed with more rounds,
    A serves requests; neither has the checks)."""
    makers: dict[str, Callable[[], Workload]] = {
        "W1": lambda: w1(tmp, uv),
        "W2": lambda: w2(tmp, uv),
        "W3": lambda: w3(tmp),
        "W4": lambda: w4(tmp, uv),
    }
    return [make_one() for name, make_one in makers.items() if name in only]


def write_opens(target: Path, n: int) -> str:
    """A Python program making n write opens (n recorded events, two stops each)."""
    flags = "os.O_WRONLY | os.O_CREAT"
    return f"import os\nfor _ in range({n}):\n    os.close(os.open({str(target)!r}, {flags}))\n"
