"""`rotrace allowlist --format apparmor`: a profile apparmor_parser compiles (-Q -K: compile,
do not load), with the venv denied and no rule a file name could inject."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.as_user import invocation
from tests.support.tracing import rotrace_cli

pytestmark = pytest.mark.needs("apparmor_parser")

WORKLOAD = """
import os
os.makedirs("cache/{odd} \\"quoted\\" [x]*", exist_ok=True)
open("cache/{odd} \\"quoted\\" [x]*/f", "w").close()
os.makedirs("bad\\n/** rwx,\\n", exist_ok=True)
open(".venv/.lock", "w").close()
import json, email.parser  # some reads
"""


@pytest.fixture
def app() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="rotrace-aa-", dir="/var/tmp"))
    try:
        (base / ".venv").mkdir()
        (base / ".venv" / "pyvenv.cfg").write_text("home = /usr\n")
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _parse(profile: Path) -> subprocess.CompletedProcess[str]:
    parser = shutil.which("apparmor_parser") or "/usr/sbin/apparmor_parser"
    return subprocess.run([parser, "-Q", "-K", str(profile)], capture_output=True, text=True)


@pytest.mark.parametrize("all_opens", [True, False], ids=["reads-recorded", "no-reads"])
def test_profile_compiles_and_denies_the_venv(app: Path, all_opens: bool) -> None:
    extra = ["--all-opens"] if all_opens else []
    rotrace_cli("run", *extra, "--json", "t.json", "--", sys.executable, "-c", WORKLOAD, cwd=app)
    proc = rotrace_cli("allowlist", "t.json", "--format", "apparmor", "--container", "web", cwd=app)
    assert proc.returncode == 1  # the venv write cannot be mounted
    (app / "web.profile").write_text(proc.stdout)
    parsed = _parse(app / "web.profile")
    assert parsed.returncode == 0, parsed.stderr + proc.stdout
    text = proc.stdout
    assert "profile rotrace-web " in text and f'deny "{app}/.venv/**" wl,' in text
    assert (
        f'"{app}/cache/\\\\{{odd\\\\}} \\\\"quoted\\\\" \\\\[x\\\\]\\\\*/**" rwkl,' in text or "rwkl" in text
    )
    assert sys.executable.split("/")[-1] in text and "mrix," in text  # the program it ran
    rules = [line for line in text.splitlines() if not line.startswith("#")]
    assert not any("rwx" in line for line in rules) and "left out of the profile" in proc.stderr
    if all_opens:
        assert '"/usr/lib/**" mr,' in text or "/lib" in text
        assert "\n  /** mr," not in text
    else:
        assert "\n  /** mr," in text


def test_names_with_apparmor_syntax_compile(tmp_path: Path) -> None:
    """Quotes, globs, braces, commas and spaces in a mount point are escaped, not syntax."""
    from rotrace.export.formats import RENDERERS, Target
    from rotrace.policy.mounts import MountPlan

    odd = '/srv/a "b" {c,d} [e]*?^\\\\f'
    rendered = RENDERERS["apparmor"](MountPlan(mounts=[odd]), Target(["x"], "odd", ("/usr/bin/env",), ()))
    (tmp_path / "odd.profile").write_text(rendered.text)
    parsed = _parse(tmp_path / "odd.profile")
    assert parsed.returncode == 0, parsed.stderr + rendered.text
    rule = next(line for line in rendered.text.splitlines() if line.startswith('  "/srv/a') and "/**" in line)
    for escaped in (r"\"b\"", r"\{c\,d\}", r"\[e\]", r"\*\?\^", "\\\\\\\\f/**"):
        assert escaped in rule, (escaped, rule)


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_script_the_command_ran_is_a_program_of_the_profile(user: str, site: Path, work: Path) -> None:
    """A #! script a process of the command runs (a console script: `.venv/bin/tool`) is what
    AppArmor checks for exec, not its interpreter: the trace records it (the file execve was
    given, resolved: through a symlink, from a relative name, by `exec`), the profile allows
    it, and apparmor_parser compiles the profile. A script run as an interpreter's argument
    is no exec of it."""
    python = sys.executable if user == "root" else "/usr/bin/python3"
    tool = work / "bin" / 'tool {x} "q"'
    tool.parent.mkdir()
    tool.write_text(f"#!{python}\nprint('ran')\n")
    tool.chmod(0o755)
    (work / "bin" / "link").symlink_to(tool.name)
    explicit = work / "bin" / "explicit.py"
    explicit.write_text("print('ran')\n")
    script = f"cd {work}/bin && './{tool.name}' && {work}/bin/link && {python} explicit.py && exec ./link"
    argv, env = invocation(user, site, work)
    run = subprocess.run([*argv, "run", "-q", "--json", "t.json", "--", "sh", "-c", script],
                         cwd=work, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("ran") == 4
    processes = json.loads((work / "t.json").read_text())["processes"]
    scripts = [p.get("script") for p in processes if p["cmdline"][:1] != ["sh"]]
    assert scripts == [str(tool), str(tool), None, str(tool)], processes
    proc = subprocess.run([*argv, "allowlist", "t.json", "--format", "apparmor"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    programs = [line.strip() for line in proc.stdout.splitlines() if line.strip().endswith("mrix,")]
    assert len(programs) == 3, proc.stdout  # sh, python, the script once
    assert any("tool" in line for line in programs) and not any("explicit" in line for line in programs)
    (work / "app.profile").write_text(proc.stdout)
    parsed = _parse(work / "app.profile")
    assert parsed.returncode == 0, parsed.stderr + proc.stdout
