"""A known writer whose setting moves its writes to a scratch place (coverage.py's
COVERAGE_FILE=/tmp/.coverage) where the place already holds its data and the command reads it
back (`coverage run -a` appends to the .coverage there): the setting would start it without
that data, and its output would change. The plan keeps the place instead, a persistent mount
that starts with what it held, and offers no setting; bwrap's arguments, run as users run them,
give the plain run's output. (The app appends to data/.coverage as `coverage run -a` does: an
open for update of the file coverage.py's entry names.)"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.as_user import invocation, site  # noqa: F401 (fixtures)
from tests.support.places import fixed_name_dir
from tests.support.plans import plan_of
from tests.support.tracing import NON_ROOT_PYTHON, PY, rotrace_cli

APP = textwrap.dedent("""\
    with open("data/.coverage", "a+") as f:
        f.write("run\\n")
        f.seek(0)
        print(f.read().replace("\\n", ","))
    """)
EXPECTED = "earlier,run,\n"


def _lay(app: Path) -> None:
    """The app, and data/ holding what an earlier run left."""
    shutil.rmtree(app, ignore_errors=True)
    (app / "data").mkdir(parents=True)
    (app / "app.py").write_text(APP)
    (app / "data" / ".coverage").write_text("earlier\n")
    for path in (app, app / "data"):
        path.chmod(0o777)
    (app / "data" / ".coverage").chmod(0o666)


@pytest.fixture(scope="module")
def traced() -> Iterator[tuple[Path, Path]]:
    top = fixed_name_dir("rotrace-setting-data-", "/srv")
    top.chmod(0o755)
    app, trace = top / "app", top / "t.json"
    _lay(app)
    run = rotrace_cli("run", "-q", "--json", str(trace), "--", PY, "app.py", cwd=app)
    assert run.returncode == 1 and run.stdout == EXPECTED, run.stderr
    try:
        yield app, trace
    finally:
        shutil.rmtree(top)


def test_the_place_is_kept_not_moved_by_the_writers_setting(traced: tuple[Path, Path]) -> None:
    app, trace = traced
    plan = plan_of(trace)
    data = str(app / "data")
    assert (plan.persistent, plan.seeded) == ([data], [data]) and "COVERAGE_FILE" not in plan.env, plan
    report = rotrace_cli("report", str(trace), cwd=app)
    assert "COVERAGE_FILE" not in report.stderr, report.stderr


@pytest.mark.needs("bwrap")
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_bwrap_arguments_give_the_plain_runs_output(
    traced: tuple[Path, Path],
    site: Path,  # noqa: F811
    user: str,
) -> None:
    app, trace = traced
    _lay(app)
    argv, env = invocation(user, site, app)
    python = PY if user == "root" else NON_ROOT_PYTHON
    script = 'py=$1 trace=$2; shift 2; mapfile -t args < <("$@" allowlist "$trace" --format bwrap)'
    script += ' && bwrap "${args[@]}" -- "$py" app.py'
    ran = subprocess.run(["bash", "-c", script, "sh", python, str(trace), *argv], cwd=app, env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert (ran.returncode, ran.stdout) == (0, EXPECTED), ran.stderr
