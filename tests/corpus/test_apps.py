"""Corpus tier: real applications nobody here tuned for (Flask under waitress and gunicorn,
Django, alembic, matplotlib, Jinja2, mkdocs, `python -m build`, a CI venv, Babel, joblib), each
on a small project of its own (tests/support/corpus_apps.py does the runs)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.support.corpus_apps import APPS, App, Site, audit, site_dir

ROTRACE = [sys.executable, "-m", "rotrace"]
pytestmark = [pytest.mark.corpus, pytest.mark.needs("bwrap", "git")]


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with site_dir() as s:
        yield s


def _marked(app: App) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=app.xfail)] if app.xfail else []
    return pytest.param(app, id=app.name, marks=marks)


@pytest.mark.parametrize("app", [_marked(a) for a in APPS if a.refused is None])
def test_plan_runs_the_application_read_only(app: App, site: Site) -> None:
    """Bare read-only (no plan), the application fails; from the tree as it was before the
    trace, with the plan's build steps run and the bwrap export's arguments as they are, it
    succeeds, gives what it gives unconfined (checked from its own output and files), and no
    write of it is refused."""
    out = audit(app, site, ROTRACE)
    assert out.bare_status != 0, f"{app.name} wrote nothing a read-only root refuses"
    assert out.bwrap_args, out.export_notes
    assert out.replay_status == 0, out.replay_stderr[-3000:]
    assert out.replay_stdout.endswith(app.expected), out.replay_stdout[-3000:]
    assert "Read-only file system" not in out.replay_stderr, out.replay_stderr[-3000:]


@pytest.mark.parametrize("app", [pytest.param(a, id=a.name) for a in APPS if a.refused is not None])
def test_a_command_no_read_only_root_can_hold_is_said_so(app: App, site: Site) -> None:
    """A build tool writing beside its input in the project: the bare read-only run fails, and
    the plan does not pretend: the export exits 1 and names the place no mount can make
    writable, with why."""
    out = audit(app, site, ROTRACE)
    assert out.bare_status != 0, f"{app.name} wrote nothing a read-only root refuses"
    assert out.export_status == 1, out.export_notes
    place = str(site.tree / app.refused) if app.refused else str(site.tree)
    said = [line for line in out.export_notes.splitlines() if "cannot be made writable by a mount" in line]
    assert any(f"mount: {place} (" in line for line in said), out.export_notes
    assert out.replay_status != 0  # and indeed the plan's mounts alone do not hold it
