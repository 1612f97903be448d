"""Why uv changed a project's environment at run time, read from the environment and the
project: built at another path and moved (uv installs the project anew; its entry points do not
start, UV_NO_SYNC or not), or for another Python than .python-version asks for (uv downloads
one to make the environment anew)."""

from __future__ import annotations

from pathlib import Path

from rotrace.policy.environments import built_elsewhere, notes, other_python


def _venv(root: Path, shebang: str, version: str = "3.11.7") -> Path:
    venv = root / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text("# no #! line\n")
    (venv / "bin" / "app").write_text(f"#!{shebang}\nimport app\n")
    (venv / "pyvenv.cfg").write_text(f"home = /usr/bin\nimplementation = CPython\nversion_info = {version}\n")
    return venv


def test_an_environment_whose_scripts_name_another_one_was_built_there(tmp_path: Path) -> None:
    moved = _venv(tmp_path / "run", "/build/app/.venv/bin/python3")
    assert built_elsewhere(str(moved)) == "/build/app/.venv"
    here = _venv(tmp_path / "here", f"{tmp_path}/here/.venv/bin/python")
    assert built_elsewhere(str(here)) is None
    assert built_elsewhere(str(tmp_path / "none")) is None
    (said,) = notes(None, {str(moved)}, False)
    assert f"{moved} was built as /build/app/.venv and moved" in said and "uv sync" in said


def test_an_environment_of_another_python_than_the_project_asks_for(tmp_path: Path) -> None:
    _venv(tmp_path, f"{tmp_path}/.venv/bin/python", "3.11.7")
    (tmp_path / ".python-version").write_text("# pinned\n3.12\n")
    assert other_python(str(tmp_path), str(tmp_path / ".venv")) == ("3.12", "3.11.7")
    (said,) = notes(str(tmp_path), set(), True)
    assert "asks for Python 3.12 (.python-version)" in said and "is Python 3.11.7" in said
    assert notes(str(tmp_path), set(), False) == []  # uv looked for no Python, changed no environment
    for asked in ("3.11", "3.11.7", "pypy@3.10"):  # the environment's, or a request read otherwise
        (tmp_path / ".python-version").write_text(f"{asked}\n")
        assert other_python(str(tmp_path), str(tmp_path / ".venv")) is None, asked


def test_the_plan_of_a_run_where_uv_changed_a_moved_environment_says_why(tmp_path: Path) -> None:
    """The image syncs the project in a builder's /build/app and runs it from /app: `uv run`
    installs the project anew there (UV_FROZEN or not), and the fix given, UV_NO_SYNC, left an
    entry point that does not start; the report never said the environment had moved."""
    from rotrace.policy.mounts import plan_mounts
    from tests.unit.factories import classify, event

    venv = _venv(tmp_path, "/build/app/.venv/bin/python3")
    written = event(f"{venv}/lib/python3.11/site-packages/app.pth", exe=b"/usr/bin/uv")
    plan = plan_mounts(classify(written), str(tmp_path), {})
    assert any(n.startswith(f"the environment {venv} was built as /build/app/.venv") for n in plan.notes), (
        plan.notes
    )
