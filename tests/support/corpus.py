"""A corpus of real tools on a real project (from the package index, cached for offline runs),
each audited end to end the way a user would: trace it, generate the allowlist, check that the
allowlist hides nothing that existed, that the machine formats parse, and that the read-only
replay with the generated policy behaves exactly as the unconfined run.

Used by tests/corpus (the assertions) and scripts/corpus (a table, also for older rotraces:
it drives only the CLI).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.plans import plan_of

# The tools and the project, pinned: the corpus must be the same on every machine.
TOOLS = (
    "pytest==8.3.3",
    "mypy==1.13.0",
    "ruff==0.7.4",
    "sphinx==7.4.7",
    "sphinx-rtd-theme==3.0.1",
    "black==24.10.0",
    "coverage==7.6.4",
)
PROJECT = "more-itertools==10.5.0"  # a real sdist: package, tests, Sphinx docs
WHEEL_TO_INSTALL = "six==1.16.0"  # what the venv-install workload installs
RFC1123 = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def cache_dir() -> Path:
    base = os.environ.get("ROTRACE_CORPUS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rotrace", "corpus"
    )
    return Path(base)


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check", *args], check=True)


def wheelhouse() -> Path:
    """Every wheel the corpus installs, downloaded once."""
    return pinned_wheels("wheels", [*TOOLS, WHEEL_TO_INSTALL])


def pinned_wheels(name: str, pins: list[str]) -> Path:
    """The wheels of `pins`, downloaded once into the corpus cache's `name` (again when the
    pins change)."""
    dest = cache_dir() / name
    stamp = dest / ("." + hashlib.sha256(" ".join(pins).encode()).hexdigest()[:12])
    if not stamp.exists():
        dest.mkdir(parents=True, exist_ok=True)
        _pip("download", "--only-binary", ":all:", "--dest", str(dest), *pins)
        stamp.touch()
    return dest


def project_sdist() -> Path:
    dest = cache_dir() / "sdists"
    found = sorted(dest.glob("more[-_]itertools-*.tar.gz")) if dest.exists() else []
    if not found:
        dest.mkdir(parents=True, exist_ok=True)
        _pip("download", "--no-deps", "--no-binary", ":all:", "--dest", str(dest), PROJECT)
        found = sorted(dest.glob("more[-_]itertools-*.tar.gz"))
    return found[-1]


def cached_venv(prefix: str, packages: list[str], wheels: Path) -> tuple[Path, bool]:
    """A venv of `packages` from `wheels`, its bytecode compiled as an image's `pip install`
    leaves it (so that the runs write none into it), made once per Python and package list; and
    whether it was made just now (the caller's own set-up then runs before it is marked done)."""
    key = hashlib.sha256(" ".join((sys.version, *packages)).encode()).hexdigest()[:12]
    venv = cache_dir() / f"{prefix}-{key}"
    if (venv / ".complete").exists():
        return venv, False
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index",
                    "--find-links", str(wheels), *packages], check=True)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([py, "-m", "compileall", "-q", str(venv)], check=False, env=env, stdout=subprocess.DEVNULL)
    return venv, True


def tools_venv() -> Path:
    """A venv with the tools, its bytecode compiled (so that the tools write nothing into it)."""
    venv, made = cached_venv("venv", list(TOOLS), wheelhouse())
    if made:
        py = str(venv / "bin" / "python")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        # pytest writes assertion-rewritten bytecode for its plugins' modules at first start (into
        # the venv): do it here, as an image build would, so the runs write none there
        with tempfile.TemporaryDirectory() as empty:
            subprocess.run([py, "-m", "pytest", "--collect-only", "-q"], cwd=empty, env=env, check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        (venv / ".complete").touch()
    return venv


@dataclass(frozen=True)
class Workload:
    name: str
    argv: tuple[str, ...]  # {venv} is the tools' venv, {uv} the uv binary, {wheels} the wheelhouse
    cwd: str = "project"  # relative to the base
    env: tuple[tuple[str, str], ...] = ()  # the same names as argv, and {home}
    not_mountable: str | None = None  # the one place no mount can fix (relative to the base), if any


WORKLOADS = (
    Workload("pytest", ("{venv}/bin/python", "-m", "pytest", "-q", "-x", "tests/test_recipes.py")),
    Workload("compileall", ("{venv}/bin/python", "-m", "compileall", "-q", "more_itertools")),
    Workload("mypy", ("{venv}/bin/mypy", "more_itertools/more.pyi", "more_itertools/recipes.pyi")),
    Workload("ruff", ("{venv}/bin/ruff", "check", "more_itertools", "tests")),
    Workload("black", ("{venv}/bin/black", "--check", "-q", "more_itertools")),
    Workload("sphinx", ("{venv}/bin/sphinx-build", "-q", "-b", "html", "docs", "docs/_build/html")),
    Workload(
        "tempfile",
        (
            "{venv}/bin/python",
            "-c",
            "import tempfile\n"
            "with tempfile.TemporaryFile() as f: f.write(b'x')\n"
            "with tempfile.NamedTemporaryFile() as f: f.write(b'y')\n"
            "with tempfile.TemporaryDirectory() as d: open(d + '/z', 'w').close()",
        ),
    ),
    Workload(
        "venv-install",
        (
            "{app_venv}/bin/python",
            "-m",
            "pip",
            "install",
            "--no-index",
            "--find-links",
            "{wheels}",
            WHEEL_TO_INSTALL,
        ),
        env=(("PIP_DISABLE_PIP_VERSION_CHECK", "1"),),
        not_mountable="project/.venv",
    ),
    Workload(
        "uv-pip-install",  # with uv's cache: wheels unpacked under temporary names, renamed into place
        (
            "{uv}",
            "pip",
            "install",
            "--python",
            "{app_venv}/bin/python",
            "--offline",
            "--no-index",
            "--find-links",
            "{wheels}",
            "--no-deps",
            WHEEL_TO_INSTALL,
            TOOLS[0],
        ),  # pytest: subpackages
        env=(("UV_NO_CACHE", "false"), ("UV_CACHE_DIR", "{home}/.cache/uv")),
        not_mountable="project/.venv",
    ),
    Workload(
        "uv-run",
        ("{uv}", "run", "python", "main.py"),
        cwd="uv-app",
        env=(("UV_FROZEN", "true"),),
        not_mountable="uv-app/.venv",
    ),
    Workload(
        "coverage",
        (
            "{venv}/bin/coverage",
            "run",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_recipes.py",
        ),
        # .coverage lands in the project itself: the plan sets COVERAGE_FILE instead of a mount
    ),
    Workload(
        "uv-run-no-sync",
        ("{uv}", "run", "python", "main.py"),
        cwd="uv-app",
        env=(("UV_FROZEN", "true"), ("UV_NO_SYNC", "true")),
    ),
)


@dataclass
class Outcome:
    """What one workload did, unconfined and replayed read-only under its generated policy."""

    name: str
    exit_code: int = -1
    violations: int = -1
    mounts: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # the NOT MOUNTABLE lines
    allowlist_status: int = -1
    hidden: list[str] = field(default_factory=list)  # mounts over directories that held files
    docker_flags: list[str] = field(default_factory=list)
    k8s_names: list[str] = field(default_factory=list)
    replay_exit_code: int = -1
    replay_violations: int = -1
    errors: list[str] = field(default_factory=list)  # rotrace's own failures, verbatim


class Base:
    """A fresh copy of the project (and a HOME) outside /tmp, laid anew for each run."""

    def __init__(self, root: Path, uv: str | None) -> None:
        self.root = root
        self.uv = uv

    def lay(self, w: Workload) -> None:
        for child in ("project", "home", "uv-app"):
            shutil.rmtree(self.root / child, ignore_errors=True)
        with tarfile.open(project_sdist()) as tar:
            tar.extractall(self.root, filter="data")
        (top,) = [p for p in self.root.iterdir() if p.name.lower().startswith("more")]
        top.rename(self.root / "project")
        (self.root / "home").mkdir()
        if "{app_venv}" in " ".join(w.argv):
            venv = self.root / "project" / ".venv"
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
            # pip for the venv-install workload: this Python's own copy, as ensurepip would put it
            pip = next(Path(sys.prefix).glob("lib/python3*/site-packages/pip"))
            shutil.copytree(pip, next(venv.glob("lib/python3*/site-packages")) / "pip")
        if "{uv}" in " ".join(w.argv):
            if self.uv is None:
                raise RuntimeError("this workload needs uv (the test extras install it)")
            example = Path(__file__).resolve().parents[2] / "examples" / "uv-app"
            shutil.copytree(example, self.root / "uv-app")
            env = self.env(())
            sync = [self.uv, "sync", "--frozen", "--quiet", "--compile-bytecode"]  # as an image build does
            subprocess.run(sync, cwd=self.root / "uv-app", env=env, check=True)

    def env(self, extra: tuple[tuple[str, str], ...]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_", "VIRTUAL_ENV"))}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode on, as on a user's machine
        env.update(HOME=str(self.root / "home"), UV_PYTHON_DOWNLOADS="never", UV_NO_CACHE="true")
        env.update({k: v.format(**self.names()) for k, v in extra})
        return env

    def names(self) -> dict[str, str]:
        return {
            "venv": str(tools_venv()),
            "uv": self.uv or "uv",
            "wheels": str(wheelhouse()),
            "app_venv": str(self.root / "project" / ".venv"),
            "home": str(self.root / "home"),
        }

    def argv(self, w: Workload) -> list[str]:
        return [a.format(**self.names()) for a in w.argv]

    def with_content(self) -> set[str]:
        """Every directory under the base that holds an entry."""
        found = set()
        for top, dirs, files in os.walk(self.root):
            if dirs or files:
                found.add(top)
        return found


def _rotrace(
    rotrace: list[str], *args: str, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*rotrace, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def audit(w: Workload, base: Base, rotrace: list[str]) -> Outcome:
    out = Outcome(w.name)
    base.lay(w)
    before = base.with_content()
    cwd = base.root / w.cwd
    env = base.env(w.env)
    trace = base.root / f"{w.name}.json"
    run = _rotrace(rotrace, "run", "--json", str(trace), "--", *base.argv(w), cwd=cwd, env=env)
    if not trace.exists():
        out.errors.append(f"run exited {run.returncode}: {run.stderr.strip()[-400:]}")
        return out
    data = json.loads(trace.read_text())
    out.exit_code, out.violations = data["exit_code"], data["summary"]["violations"]
    policy = _rotrace(rotrace, "allowlist", str(trace), "--format", "policy", cwd=cwd, env=env)
    out.allowlist_status = policy.returncode
    out.blocked = [line for line in (policy.stdout + policy.stderr).splitlines() if "NOT MOUNTABLE" in line
                   or "cannot be made writable" in line]  # fmt: skip
    import tomllib

    try:  # relative entries mean the project directory (where the policy is committed)
        out.mounts = [
            os.path.normpath(os.path.join(cwd, m)) for m in tomllib.loads(policy.stdout).get("allow", [])
        ]
    except tomllib.TOMLDecodeError as exc:
        out.errors.append(f"the policy does not parse: {exc}")
    docker = _rotrace(rotrace, "allowlist", str(trace), "--format", "docker", cwd=cwd, env=env)
    out.docker_flags = docker.stdout.splitlines()  # one per line
    k8s = _rotrace(rotrace, "allowlist", str(trace), "--format", "k8s", cwd=cwd, env=env)
    import yaml

    try:
        spec = yaml.safe_load(k8s.stdout)["spec"]
        out.k8s_names = [v["name"] for v in spec.get("volumes", [])]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        out.errors.append(f"the k8s fragment does not parse: {exc}")
    out.hidden = sorted(m for m in out.mounts if m in before)
    base.lay(w)  # the image as it was before the first run
    committed = Path(cwd) / "rotrace.toml"  # the policy, committed in the project as its users would
    committed.write_text(policy.stdout)
    settings, steps = _plan_settings(trace)
    build_env = dict(env, PATH=f"{Path(base.argv(w)[0]).parent}{os.pathsep}{env.get('PATH', '')}")
    for step in steps:  # as the image's build would run them (its python: the workload's)
        subprocess.run(step, shell=True, cwd=cwd, env=build_env, check=True, capture_output=True)
    env = dict(env, **settings)
    replay_trace = base.root / f"{w.name}-ro.json"
    replay = _rotrace(rotrace, "run", "--read-only", "--policy", str(committed),
                      "--json", str(replay_trace), "--", *base.argv(w), cwd=cwd, env=env)  # fmt: skip
    if replay_trace.exists():
        again = json.loads(replay_trace.read_text())
        out.replay_exit_code, out.replay_violations = again["exit_code"], again["summary"]["violations"]
    else:
        out.errors.append(f"replay exited {replay.returncode}: {replay.stderr.strip()[-400:]}")
    return out


def _plan_settings(trace: Path) -> tuple[dict[str, str], list[str]]:
    """The plan's settings and build steps (what every export carries beside its mounts)."""
    plan = plan_of(trace)
    return plan.env, plan.build_steps


def problems(out: Outcome, w: Workload, base: Base) -> list[str]:
    """What is wrong with the allowlist rotrace generated for this workload (empty: nothing)."""
    found = list(out.errors)
    if out.hidden:
        found.append(f"mounts over directories that held files: {out.hidden}")
    if (
        not out.docker_flags
        or out.docker_flags[0] != "--read-only"
        or not all(
            (f.startswith("--tmpfs=/") and f.endswith(":exec"))
            or f.startswith(
                ("--mount=type=tmpfs,dst=/", '--mount=type=tmpfs,"dst=/', "--mount=type=volume,", "--env=")
            )
            for f in out.docker_flags[1:]
        )
    ):
        found.append(f"docker output is not only flags: {out.docker_flags[:4]}")
    bad = [n for n in out.k8s_names if not RFC1123.fullmatch(n)]
    if bad or len(set(out.k8s_names)) != len(out.k8s_names):
        found.append(f"k8s volume names invalid or repeated: {out.k8s_names}")
    if w.not_mountable is None:
        if out.allowlist_status != 0 or out.blocked:
            found.append(f"not mountable: {out.blocked[:1]}")
        if (out.replay_exit_code, out.replay_violations) != (out.exit_code, 0):
            found.append(
                f"replay exited {out.replay_exit_code} with {out.replay_violations} violations"
                f" (unconfined: exit {out.exit_code})"
            )
    else:
        place = str(base.root / w.not_mountable)
        # the policy's comment names it relatively to the project, as its entries (stderr: as it is)
        project = base.root / w.cwd if w.cwd else base.root
        named = (f" {place} (", f" ./{os.path.relpath(place, project)} (")
        if out.allowlist_status != 1 or not out.blocked:
            found.append(f"{w.not_mountable} was not reported as not mountable")
        elif not all(any(n in line for n in named) and "fix" in line for line in out.blocked):
            found.append(
                f"the not-mountable lines name more than {w.not_mountable}, or no fix: {out.blocked}"
            )
    return found


@contextmanager
def base_dir(uv: str | None) -> Iterator[Base]:
    root = Path(tempfile.mkdtemp(prefix="rotrace-corpus-", dir="/var/tmp"))  # not under a /tmp tmpfs
    try:
        yield Base(root, uv)
    finally:
        shutil.rmtree(root, ignore_errors=True)
