"""The mount planner's rules on hand-built verdicts: venvs the command made or removed, metadata
of directories, settings instead of mounts, tolerated failures, counts, persistent data, and
which known writer a write is (the fix follows from it)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from rotrace.events import DirState, FileEvent, ProcessInfo
from rotrace.explain import BY_ID, explain
from rotrace.policy.allowlist import build_allowlist
from rotrace.policy.mounts import MountPlan, plan_mounts
from rotrace.policy.verdict import Classifier, Verdict
from rotrace.record import TraceHeader
from tests.support.places import fixed_name_dir, srv_dir
from tests.unit.factories import classify, event

A, E, C = DirState.ABSENT, DirState.EMPTY, DirState.CONTENT
CWD = "/srv/app"
UV = b"/usr/bin/uv"


def _plan(*events, states=None, cwd=CWD, allow=None, home=None, **run):  # type: ignore[no-untyped-def]
    states = {os.fsencode(k): v for k, v in (states or {}).items()}
    return plan_mounts(classify(*events, allow=allow, home=home), cwd, states, **run)


def test_a_venv_the_command_made_is_mounted_where_it_lies() -> None:
    for top in ("/tmp/v", "/srv/envs/v"):
        plan = _plan(
            event(top, "mkdir", 0),
            event(f"{top}/bin", "mkdir", 0),
            event(f"{top}/pyvenv.cfg", "create"),
            event(f"{top}/bin/python", "symlink", 0),
            states={top: A, os.path.dirname(top): C},
        )
        mount = "/tmp" if top.startswith("/tmp") else top  # its topmost created directory
        assert plan.blocked == [] and plan.mounts == [mount]


def test_bytecode_in_a_venv_the_command_made_needs_no_setting_and_no_build_step() -> None:
    """tox's .tox/py: made at run time under the mount it needs for that, so compiling it at
    build time would compile nothing, and no setting avoids the mount."""
    top = "/srv/app/.tox/py"
    plan = _plan(
        event("/srv/app/.tox", "mkdir", 0),
        event(top, "mkdir", 0),
        event(f"{top}/pyvenv.cfg", "create"),
        event(f"{top}/bin/python", "symlink", 0),
        event(f"{top}/lib/python3.11/site-packages/a/__pycache__/x.cpython-311.pyc", "create"),
        states={"/srv/app": C, "/srv/app/.tox": A, top: A},
    )
    assert plan.mounts == ["/srv/app/.tox"] and plan.blocked == []
    assert plan.env == {} and plan.build_steps == []
    assert [k.id for k in plan.settings] == ["tox-envs"]  # `tox --workdir`, for .tox itself
    # every write it would move, the venv tox made in .tox too (it counted the two outside it)
    assert list(plan.settings.values()) == [4], plan.settings  # the bytecode is venv-bytecode


def test_a_venv_renamed_away_and_removed_hides_nothing() -> None:
    venv = "/tmp/pytest-of-u/pytest-3/t0/venv"
    garbage = "/tmp/pytest-of-u/garbage-1"
    plan = _plan(
        event(f"{venv}/pyvenv.cfg", "create"),  # detected as a venv
        event("/tmp/pytest-of-u/pytest-3", "rename", 0, target=garbage),
        event(f"{garbage}/t0/venv/pyvenv.cfg", "delete", 0, syscall="unlinkat"),
        event(f"{garbage}/t0/venv", "delete", 0, syscall="rmdir"),
        states={venv: C, "/tmp/pytest-of-u": C},
    )
    assert plan.blocked == [] and plan.mounts == ["/tmp"]


def test_a_venv_that_was_there_and_stays_is_still_never_mounted_over() -> None:
    plan = _plan(event("/srv/v/pyvenv.cfg", "create"), event("/srv/v/lib/x", "create"), states={"/srv/v": C})
    assert plan.mounts == [] and [b.point for b in plan.blocked] == ["/srv/v"]


def test_a_venv_left_in_a_scratch_place_does_not_keep_it_from_its_mount() -> None:
    """`tox --workdir /tmp/tox` where an earlier run left /tmp/tox/py: a container's /tmp starts
    empty, the plan's too (tox makes the venv again); /tmp was refused and the plan failed. Not
    so where the application itself is in /tmp (a CI checkout). The venv is a real one (a
    directory holding pyvenv.cfg: the planner looks), in a directory of its own under /tmp."""
    with tempfile.TemporaryDirectory(dir="/tmp") as tox:
        os.makedirs(f"{tox}/py")
        Path(f"{tox}/py/pyvenv.cfg").write_text("home = /usr/bin\n")
        writes = [
            event(f"{tox}/py/pyvenv.cfg", "open", 3, write=False),
            event(f"{tox}/py/log/1.log", "create"),
            event(f"{tox}/.lock", "create"),
        ]
        states = {f"{tox}/py": C, tox: C, "/tmp": C}
        plan = _plan(*writes, states=states)
        assert plan.mounts == ["/tmp"] and not plan.blocked, plan
        assert any(f"{tox}/py was there before the run" in n for n in plan.notes), plan.notes
        plan = _plan(*writes, states=states, cwd="/tmp/ci/app")
        assert "/tmp" not in plan.mounts and f"{tox}/py" in [b.point for b in plan.blocked], plan


def test_a_venv_an_entrypoint_script_runs_its_app_from_keeps_its_scratch_place() -> None:
    """`sh -c tool` where tool is a venv's script in /var/tmp (twistd, writing its plugin cache
    into its venv): the venv was taken for one left there by an earlier run, as tox's are, for
    only what the command's own process ran was the application; the plan mounted an empty
    /var/tmp over it and the app was gone. What a shell (or a launcher) that is the command runs
    is the command too; what a program it started runs is not (tox, also as `sh -c "exec
    tox"`)."""
    from rotrace.pipeline import Pipeline

    with tempfile.TemporaryDirectory(dir="/var/tmp") as top:
        venv = f"{top}/venv"
        os.makedirs(f"{venv}/bin")
        Path(f"{venv}/pyvenv.cfg").write_text("home = /usr/bin\n")
        py, dash = b"/usr/bin/python3.11", b"/usr/bin/dash"
        script = f"{venv}/bin/tool"
        tool = ProcessInfo(11, 10, 0, py, (f"{venv}/bin/python", script), script.encode())
        shell = ProcessInfo(10, 1, 0, dash, ("sh", "-c", '"$0"', script))
        tox = ProcessInfo(10, 1, 0, py, ("tox",))
        cases = (([shell, tool], False), ([tox, tool], True), ([shell, tox, tool], True))
        for processes, disposable in cases:
            header = TraceHeader(["sh"], "/", 0, processes=processes, directories={top.encode(): C})
            verdicts = classify(event(f"{venv}/lib/site-packages/plug/x.cache.new", "create", pid=11, exe=py))
            pipeline = Pipeline.of(header)
            for v in verdicts:
                pipeline.add(v)
            plan = pipeline.mount_plan(verdicts, header)
            assert ("/var/tmp" in plan.mounts) is disposable, (processes, plan)


def test_metadata_of_a_directory_changes_that_directory_not_its_parent() -> None:
    for op in ("utime", "chmod", "chown"):
        plan = _plan(
            event("/srv/app/s/g", "mkdir", 0),
            event("/srv/app/s/g", op, 0, syscall=op),
            states={"/srv/app/s": C, "/srv/app/s/g": A},
        )
        assert (plan.mounts, plan.blocked) == (["/srv/app/s/g"], [])
    # a file's metadata is still its directory's business
    plan = _plan(event("/srv/app/s/k", "chmod", 0, syscall="chmod"), states={"/srv/app/s": E})
    assert plan.mounts == ["/srv/app/s"]


def test_a_setting_that_moves_the_writes_replaces_the_mount() -> None:
    plan = _plan(
        event("/root/.ipython", "mkdir", 0),
        event("/root/.ipython/profile_default/history.sqlite", "create"),
        event("/srv/app/pkg/__pycache__", "mkdir", 0),
        event("/srv/app/pkg/__pycache__/m.cpython-311.pyc", "create"),
        event("/root/.cache/pip/http/x", "create"),
        event("/root/.cache/somethingelse/y", "create"),
        states={"/root": C, "/root/.cache": C, "/root/.cache/somethingelse": C, "/srv/app/pkg": C,
                "/srv/app/pkg/__pycache__": A},
        environment={"HOME": "/root"},
    )  # fmt: skip
    # a cache in ~/.cache by a program the table does not name: XDG_CACHE_HOME would hold it only
    # if it follows the XDG directories (Flask-Caching's ~/.cache/flaskcache does not: the
    # hardened Pod died, EROFS); its own directory there is mounted, which holds any program
    assert plan.mounts == ["/root/.cache/somethingelse", "/tmp"] and plan.blocked == [], plan
    assert plan.env == {
        "HOME": "/root",  # (a mount in the run's home: the plan runs the app with it)
        "IPYTHONDIR": "/tmp/ipython",
        "PIP_CACHE_DIR": "/tmp/pip-cache",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    assert plan.build_steps == ["python3 -m compileall -q -l /srv/app/pkg"]  # the writer's interpreter


def test_bytecode_into_a_venv_is_a_setting_and_a_build_step_not_a_blocked_place() -> None:
    plan = _plan(
        event("/srv/app/.venv/lib/python3.11/site-packages/a/__pycache__/x.pyc", "create"),
        event("/srv/app/.venv/lib/python3.11/site-packages/b/__pycache__/y.pyc", "create"),
        states={"/srv/app/.venv": C},
    )
    assert plan.blocked == [] and plan.env == {"PYTHONDONTWRITEBYTECODE": "1"}
    # the venv's own interpreter: its bytecode is that Python's, whatever python3 is in the image
    site = "/srv/app/.venv/lib/python3.11/site-packages"  # one command for the packages it wrote in
    assert plan.build_steps == [f"/srv/app/.venv/bin/python -m compileall -q {site}/a {site}/b"]


def test_pytests_rewritten_modules_are_a_setting_with_no_build_step() -> None:
    """pytest caches the modules whose asserts it rewrites (a plugin in the venv, the tests) as
    NAME.cpython-311-pytest-9.2.0.pyc, written as NAME...pyc.PID and renamed: the plan said to
    compile at build time, which writes no such file. The setting avoids them; no build step."""
    site = "/srv/app/.venv/lib/python3.11/site-packages/pytest_plugin/__pycache__"
    rewritten = f"{site}/plugin.cpython-311-pytest-9.2.0.pyc"
    renamed = event(f"{rewritten}.4242", "rename", 0, target=rewritten, syscall="rename")
    written = [
        event(f"{rewritten}.4242"),
        renamed,
        event("/srv/app/tests/__pycache__/t.cpython-311-pytest-9.2.0.pyc"),
    ]
    assert {v.explanation.id for v in classify(*written) if v.explanation} == {"pytest-bytecode"}
    plan = _plan(*written, states={"/srv/app/.venv": C, "/srv/app/tests": C})
    assert plan.blocked == [] and plan.env == {"PYTHONDONTWRITEBYTECODE": "1"} and plan.build_steps == [], (
        plan
    )


def test_a_setting_is_not_applied_where_a_scratch_mount_does_or_where_it_cannot_go() -> None:
    plan = _plan(event("/tmp/x/.mypy_cache/3.11/a.json", "create"))
    assert (plan.mounts, plan.env) == (["/tmp"], {})  # already in /tmp: nothing to move
    # (/tmp/ipython's state given: a trace without one is planned by what this machine holds there)
    held = {"/root/.ipython": A, "/tmp/ipython": A}
    plan = _plan(event("/root/.ipython/h", "create"), states=held, cwd="/tmp/app")
    assert plan.env == {"IPYTHONDIR": "/tmp/ipython"} and plan.mounts == ["/tmp/ipython"]  # beside the app
    plan = _plan(event("/root/.ipython/h", "create"), states={"/root/.ipython": A}, cwd="/tmp/ipython/app")
    assert plan.env == {} and plan.mounts == ["/root/.ipython"]  # the setting's place holds the app


def test_a_build_step_never_carries_a_name_a_shell_line_cannot_hold() -> None:
    plan = _plan(event("/srv/app/p\nq/__pycache__/m.pyc", "create"), states={"/srv/app/p\nq/__pycache__": A})
    assert plan.build_steps == [] and "PYTHONDONTWRITEBYTECODE" not in plan.env
    plan = _plan(event("/srv/app/it's/__pycache__/m.pyc", "create"), states={"/srv/app/it's/__pycache__": A})
    assert plan.build_steps == ["python3 -m compileall -q -l '/srv/app/it'\"'\"'s'"]


def test_a_build_step_compiles_with_the_version_of_python_that_wrote_the_bytecode() -> None:
    """Bytecode is one Python version's (`cpython-312`): compiled by `python3`, another version
    in the image, it would be written for nothing. A venv's own interpreter, else the writer's
    by its versioned name (the image's PATH finds it; the tracing machine's path says nothing)."""
    pyc = "/srv/app/pkg/__pycache__/m.cpython-312.pyc"
    plan = _plan(event(pyc, exe=b"/root/.local/share/uv/python/cpython-3.12.7/bin/python3.12"))
    assert plan.build_steps == ["python3.12 -m compileall -q -l /srv/app/pkg"], plan


def test_a_build_step_for_the_projects_bytecode_compiles_its_directories_not_its_venv() -> None:
    """Bytecode written for the project's modules (/srv/app, /srv/app/pkg/sub) and into its
    .venv: `python3 -m compileall -q /srv/app` compiled the venv too, with the image's python3,
    where any file there that is not Python 3 fails the build. The project's directories, each
    alone (-l), in one command; the venv's packages with the venv's interpreter, in another."""
    site = "/srv/app/.venv/lib/python3.11/site-packages"
    plan = _plan(
        event("/srv/app/__pycache__/main.cpython-311.pyc"),
        event("/srv/app/pkg/sub/__pycache__/m.cpython-311.pyc"),
        event(f"{site}/a/__pycache__/x.cpython-311.pyc"),
        event(f"{site}/a/inner/__pycache__/y.cpython-311.pyc"),
        states={"/srv/app": C, "/srv/app/.venv": C},
    )
    assert plan.build_steps == [
        "python3 -m compileall -q -l /srv/app /srv/app/pkg/sub",
        f"/srv/app/.venv/bin/python -m compileall -q {site}/a",
    ], plan.build_steps


def test_failures_the_command_carried_on_after_need_no_mount() -> None:
    """A write refused here (EACCES, EPERM) that the command carried on after needs no mount.
    Bytecode refused so (a user's run, a root-owned tree), whose writer never needs it, gets its
    setting and build step as where it was written (root) or refused by a read-only root (a
    hardened Pod's recording): one plan whoever runs the app, and harden converges."""
    pycache = event("/usr/lib/python3/x/__pycache__", "mkdir", "EACCES")
    writes = (pycache, event("/srv/a/b", "create", "EPERM"))
    plan = _plan(*writes)
    assert (plan.mounts, plan.blocked, plan.env) == ([], [], {"PYTHONDONTWRITEBYTECODE": "1"})
    # where, and by whom: gunicorn's ~/.gunicorn went unnamed
    said = "1 write refused here (EPERM) that the command carried on after (/srv/a by python3): no mount"
    assert any(n.startswith(said) for n in plan.notes), plan.notes
    many = _plan(*(event(f"/srv/d{i}/f", "create", "EACCES", exe=b"/usr/bin/gunicorn") for i in range(5)))
    assert any(
        "(/srv/d0 by gunicorn, /srv/d1 by gunicorn, /srv/d2 by gunicorn and 2 more)" in n for n in many.notes
    )
    for refused in ("EACCES", "EROFS", 0):
        again = _plan(event("/usr/lib/python3/x/__pycache__", "mkdir", refused))
        assert (again.env, again.build_steps) == (plan.env, plan.build_steps), (refused, again)
    # but when the command failed (it may have failed on them) or a policy refused them: mounts
    for run in ({"command_failed": True}, {"enforced": True}):
        plan = _plan(*writes, **run)
        assert plan.mounts == ["/srv/a"] and plan.env == {"PYTHONDONTWRITEBYTECODE": "1"}


def test_a_setting_note_counts_one_write_and_does_not_restate_the_setting() -> None:
    plan = _plan(event("/home/u/.cache/pylint/pkg_1.stats", "create"), states={"/home/u/.cache/pylint": C})
    assert plan.env == {"PYLINTHOME": "/tmp/pylint"}
    (note,) = [n for n in plan.notes if n.startswith("pylint's statistics")]
    setting = "set PYLINTHOME=/tmp/pylint instead of a mount (on a writable tmpfs)"
    assert note == f"pylint's statistics (1 write): {setting}"


def test_a_setting_note_whose_fix_goes_on_after_its_parenthesis_has_one_pair() -> None:
    plan = _plan(event("/srv/app/.mypy_cache/3.11/x.meta.json", "create"), states={"/srv/app/.mypy_cache": C})
    (note,) = [n for n in plan.notes if n.startswith("mypy's cache")]
    assert note.endswith(
        "set MYPY_CACHE_DIR=/tmp/mypy-cache instead of a mount (on a writable tmpfs, or --cache-dir=/dev/null"
        " for no cache)"
    ), note


def test_a_writers_setting_is_not_applied_where_it_updates_what_the_place_held() -> None:
    """`coverage run -a` appends to the .coverage an earlier run left: COVERAGE_FILE=/tmp/.coverage
    would start it without that data. In a place that held nothing, the setting moves it."""
    update = event("/srv/app/data/.coverage", "create")._replace(flags="O_RDWR|O_CREAT")
    held = _plan(update, states={"/srv/app/data": C})
    assert "COVERAGE_FILE" not in held.env and not held.settings, held
    assert not any("COVERAGE_FILE" in n for n in held.notes), held.notes
    fresh = _plan(update, states={"/srv/app/data": E})
    assert fresh.env == {"COVERAGE_FILE": "/tmp/.coverage"}, fresh
    written = _plan(event("/srv/app/data/.coverage", "create")._replace(flags="O_WRONLY|O_CREAT|O_TRUNC"),
                    states={"/srv/app/data": C})  # fmt: skip
    assert written.env == {"COVERAGE_FILE": "/tmp/.coverage"}, written  # replaced, not read back
    # `coverage run` without -a erases its data first: nothing is read back from before the run
    for erase in (event("/srv/app/data/.coverage", "delete", "ENOENT", syscall="unlink"),
                  event("/srv/app/data/.coverage", "delete", 0, syscall="unlink")):  # fmt: skip
        erased = _plan(erase, update, states={"/srv/app/data": C})
        assert erased.env == {"COVERAGE_FILE": "/tmp/.coverage"}, erased


def test_a_coverage_html_report_over_the_last_one_is_refused_with_where_to_write_it() -> None:
    """`coverage html` with htmlcov there from the run before: refused (a mount would hide the
    old report), and the refusal said no fix; coverage's option that writes it elsewhere is."""
    report = [event(f"/srv/app/htmlcov/{name}") for name in ("style_cb_4667309f.css", "index.html")]
    plan = _plan(*report, states={"/srv/app/htmlcov": C})
    (blocked,) = plan.blocked
    assert blocked.point == "/srv/app/htmlcov" and [k.id for k in blocked.explanations] == ["coverage-html"]
    assert "coverage html -d /tmp/htmlcov" in blocked.describe()
    # the example is a name the run wrote, not its glob (style_cb_*f.css): one run's trace
    assert "e.g. /srv/app/htmlcov/style_cb_4667309f.css" in blocked.describe(), blocked.describe()


def test_a_file_the_run_made_and_opened_again_to_read_and_write_is_kept() -> None:
    """A dbm store made in the run and opened again O_RDWR (shelve reads it back): data the app
    keeps, a persistent mount, as SQLite's database is; a log made and appended to again is not
    read back (O_WRONLY|O_APPEND): a scratch mount."""
    for flags, persistent in (("O_RDWR", True), ("O_WRONLY|O_APPEND", False), ("O_RDWR|O_TRUNC", False)):
        made = event("/srv/data/notes.dat")._replace(flags="O_RDWR|O_CREAT")
        again = event("/srv/data/notes.dat", "open")._replace(flags=flags)
        plan = _plan(made, again, states={"/srv/data": E})
        assert plan.mounts == ["/srv/data"] and (plan.persistent == ["/srv/data"]) is persistent, (
            flags,
            plan,
        )


def test_a_cache_database_in_the_cache_home_is_a_cache_cold_or_warm() -> None:
    """An SQLite cache in ~/.cache/upapp (diskcache's): cold, the run made ~/.cache, whose mount
    was then persistent (a journal beside a database: data kept), a claim; warm, its directory in
    ~/.cache an empty mount: kube harden did not converge. The cache home's caches are made
    again, cold or warm: never persistent; and the export's note on the mount says the mount is
    its fix, not "to avoid them: a writable mount"."""
    from rotrace.export.formats import _notes

    home = "/home/u"
    db = [event(f"{home}/.cache/upapp/cache.db"), event(f"{home}/.cache/upapp/cache.db-wal")]
    cold = _plan(event(f"{home}/.cache", "mkdir", 0), event(f"{home}/.cache/upapp", "mkdir", 0), *db,
                 states={home: C}, home=home, environment={"HOME": home})  # fmt: skip
    warm = _plan(*db, states={home: C, f"{home}/.cache": C, f"{home}/.cache/upapp": C}, home=home,
                 environment={"HOME": home})  # fmt: skip
    assert (cold.mounts, cold.persistent) == ([f"{home}/.cache"], []), cold
    assert warm.persistent == [], warm
    (said,) = [n for n in _notes(cold) if "a cache in ~/.cache" in n]
    assert "to avoid them" not in said and "mounted): a writable mount" in said, said


def test_a_rename_is_one_write_for_a_known_writer() -> None:
    plan = _plan(
        event("/srv/app/.hypothesis", "mkdir", 0),
        event("/srv/app/.hypothesis/tmp1", "create"),
        event("/srv/app/.hypothesis/tmp1", "rename", 0, target="/srv/app/.hypothesis/db"),
        states={"/srv/app/.hypothesis": A},
    )
    assert plan.mounts == ["/srv/app/.hypothesis"]
    assert {k.id: n for k, n in plan.settings.items()} == {"hypothesis-db": 3}  # mkdir, create, rename


def test_an_sqlite_database_and_data_opened_for_update_are_persistent() -> None:
    plan = _plan(
        event("/var/lib/app", "mkdir", 0),
        event("/var/lib/app/app.db", "create"),
        event("/var/lib/app/app.db-journal", "create"),
        event("/srv/state/old.json", "open"),  # opened O_RDWR below
        event("/srv/fresh/new.log", "create"),
        states={"/var/lib/app": A, "/srv/state": E, "/srv/fresh": E},
    )
    assert plan.mounts == ["/srv/fresh", "/srv/state", "/var/lib/app"]
    assert plan.persistent == ["/var/lib/app"]
    (kept,) = [n for n in plan.notes if "/var/lib/app holds data the program keeps" in n]
    assert "(e.g. /var/lib/app/app.db)" in kept, kept  # the database, not its journal (gone once committed)
    updated = FileEvent(1, 1, b"/usr/bin/python3", "openat", "open", b"/srv/state/old.json", None, "O_RDWR",
                        None, 3, True)  # fmt: skip
    plan = _plan(updated, states={"/srv/state": E})
    assert plan.persistent == ["/srv/state"]


def test_the_example_of_data_kept_is_the_name_an_atomic_save_gives_it(tmp_path: Path) -> None:
    """An atomic save (a draft in the directory, renamed onto state.json) in a directory that
    held it: the plan's note named the draft (`data/tmpk8zyj1u9`), no file the program keeps."""
    app = fixed_name_dir("rotrace-save-", str(tmp_path))
    (app / "data").mkdir()
    (app / "data" / "state.json").write_text("{}")
    draft, saved = f"{app}/data/tmpk8zyj1u9", f"{app}/data/state.json"
    plan = _plan(
        event(draft)._replace(flags="O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC"),
        event(draft, "rename", 0, target=saved, syscall="rename"),
        states={str(app): C, f"{app}/data": C},
        cwd=str(app),
    )
    (note,) = [n for n in plan.notes if "holds data the program keeps" in n]
    assert f"(e.g. {saved})" in note, note


def test_scratch_places_and_lock_files_are_never_persistent() -> None:
    """/tmp is a tmpfs in every container (nobody expects it to survive a restart), and a lock
    file is opened for update to be locked, not to be read back."""

    def updated(path: str) -> FileEvent:
        flags = "O_RDWR|O_CREAT"
        return FileEvent(1, 1, b"/usr/bin/uv", "openat", "open", path.encode(), None, flags, None, 3, True)

    journal = event("/tmp/t.db-journal", "create")
    locks = [updated(p) for p in ("/tmp/uv-cache/sdists-v9/.lock", "/srv/cache/.lock", "/srv/cache/x.lock")]
    plan = _plan(journal, *locks, states={"/srv/cache": E})
    assert plan.mounts == ["/srv/cache", "/tmp"] and plan.persistent == []


def test_an_app_in_an_allowed_place_is_a_note_of_the_plan() -> None:
    plan = _plan(event("/tmp/proj/out.txt", "create"), event("/tmp/x", "create"), cwd="/tmp/proj")
    assert plan.mounts == [] and {b.point for b in plan.blocked} == {"/tmp", "/tmp/proj"}
    assert any("the working directory /tmp/proj is inside /tmp" in n for n in plan.notes)
    (note,) = [n for n in plan.notes if "2 allowed writes cannot be made writable" in n]
    assert "/tmp/proj" in note.split("(", 1)[1], note  # each place with why no mount can go there
    # nothing written in /tmp: where the app is makes no difference to the plan, nothing to say
    plan = _plan(event("/srv/out/r.txt", "create"), states={"/srv/out": A}, cwd="/tmp/proj")
    assert plan.mounts == ["/srv/out"] and not [n for n in plan.notes if "is inside /tmp" in n], plan


def test_uv_cache_writes_are_the_cache_and_mounted_at_its_root() -> None:
    env_dir = "/root/.cache/uv/archive-v0/Ab12/lib/python3.11/site-packages/ruff-0.6.dist-info"
    for path in (f"{env_dir}/INSTALLER", "/root/.cache/uv/archive-v0/Ab12/.lock"):
        e = event(path, "create", exe=UV)
        assert explain(e, b"/root/.cache/uv/archive-v0/Ab12") is BY_ID["uv-cache"]  # not `uv sync`'s
    e = event("/tmp/uvc/wheels-v5/pypi/x/.tmpAb12Cd", "mkdir", 0, exe=UV)
    assert explain(e, None) is BY_ID["uv-cache"]  # a configured UV_CACHE_DIR, not $TMPDIR's
    plan = _plan(
        event("/srv/uvc/wheels-v5/pypi/x.whl", "create", exe=UV),
        event("/srv/uvc/archive-v0/.tmpAb12Cd", "mkdir", 0, exe=UV),
        states={"/srv/uvc": E},
        cwd="/tmp/uv-cache/app",  # the setting's place holds the app: one mount at the cache's root
    )
    assert plan.mounts == ["/srv/uvc"]


def test_pips_isolated_build_environment_is_recognised() -> None:
    runner = ("/usr/bin/python3", "/v/lib/python3.11/site-packages/pip/__pip-runner__.py", "install",
              "--prefix", "/srv/tmp/pip-build-env-abc/overlay", "setuptools")  # fmt: skip
    c = Classifier(build_allowlist([], None), [ProcessInfo(7, 1, 0, b"/usr/bin/python3", runner)])
    e = event("/srv/tmp/pip-build-env-abc/overlay/lib/python3.11/site-packages/setuptools/x.py", pid=7)
    assert c.classify(e).explanation is BY_ID["pip-build-env"]
    into_venv = event("/v/lib/python3.11/site-packages/x.py", pid=7)
    c.learn(event("/v/pyvenv.cfg", pid=7))
    assert c.classify(into_venv).explanation is BY_ID["pip-install"]


def test_a_directory_the_command_makes_and_removes_is_no_mount_point() -> None:
    """A staging directory (setuptools' sdist) made and removed again: a mount there makes its
    removal fail (EBUSY/EROFS), so the mount goes on its parent, or the plan says none can."""
    made = [
        event("/srv/out", "mkdir", 0),
        event("/srv/out/stage", "mkdir", 0),
        event("/srv/out/stage/f", "create"),
    ]
    gone = [
        event("/srv/out/stage/f", "delete", 0, syscall="unlink"),
        event("/srv/out/stage", "delete", 0, syscall="rmdir"),
    ]
    plan = _plan(*made, *gone, states={"/srv": C, "/srv/out": A})
    assert plan.mounts == ["/srv/out"] and plan.blocked == []
    in_app = [event("/srv/app/stage", "mkdir", 0), event("/srv/app/stage", "delete", 0, syscall="rmdir")]
    plan = _plan(*in_app, states={"/srv/app": C})
    assert plan.mounts == [] and [b.point for b in plan.blocked] == ["/srv/app"]
    # said, with what a mount at the directory does: DuckDB's spill directory ./.tmp, made and
    # removed at the end, runs with a tmpfs there (its rmdir's EBUSY ignored); setuptools' does not
    (note,) = [n for n in plan.notes if n.startswith("the command removes /srv/app/stage:")]
    assert "EBUSY" in note and "a tmpfs at /srv/app/stage" in note, note
    # not a per-run name in a scratch place (uv's /tmp/.tmpXXXX, with a CI checkout in /tmp)
    uv = [event("/tmp/.tmpZrTiMs", "mkdir", 0), event("/tmp/.tmpZrTiMs", "delete", 0, syscall="rmdir")]
    plan = _plan(*uv, states={"/tmp": C, "/tmp/app": C}, cwd="/tmp/app")
    assert not [n for n in plan.notes if n.startswith("the command removes")], plan.notes


def test_a_cache_written_under_temporary_names_is_its_writers_not_the_directorys() -> None:
    """Numba writes its index and data as `NAME.tmp.HEX`, renamed into __pycache__ beside the
    source, which Python's bytecode shares: the cache's setting is applied, not the bytecode's
    alone (which leaves Numba no writable place)."""
    cache = "/srv/app/__pycache__"
    nbi = f"{cache}/kernels.moving_sum-5.py311.nbi"
    nbc = f"{cache}/kernels.moving_sum-5.py311.1.nbc"
    pyc = f"{cache}/kernels.cpython-311.pyc"
    events = [
        event(cache, "mkdir", 0),
        event(f"{pyc}.139993609894832"),
        event(f"{pyc}.139993609894832", "rename", 0, target=pyc),
        event(f"{nbi}.tmp.435dc30e91aa4465"),
        event(f"{nbi}.tmp.435dc30e91aa4465", "rename", 0, target=nbi),
        event(f"{nbc}.tmp.0176d30b8fe04cc7"),
        event(f"{nbc}.tmp.0176d30b8fe04cc7", "rename", 0, target=nbc),
    ]
    assert [explain(e, None).id for e in events[3:]] == ["numba-cache"] * 4  # type: ignore[union-attr]
    assert [explain(e, None).id for e in events[:3]] == ["python-bytecode"] * 3  # type: ignore[union-attr]
    plan = _plan(*events, states={"/srv/app": C, cache: A})
    assert plan.env == {"NUMBA_CACHE_DIR": "/tmp/numba-cache", "PYTHONDONTWRITEBYTECODE": "1"}
    assert plan.mounts == ["/tmp"] and plan.blocked == []
    # a temporary name never makes an unrelated writer's: only the names the table knows count
    assert explain(event("/srv/app/data/notes.db.tmp.1234abcd"), None) is None


def test_a_directory_made_only_on_the_way_to_a_moved_place_needs_no_mount() -> None:
    """pre-commit's makedirs of ~/.cache/pre-commit makes ~/.cache: with PRE_COMMIT_HOME set it
    makes neither, so no mount point goes into HOME; a write of another program there keeps it."""
    home = "/srv/home"
    made = [
        event(f"{home}/.cache", "mkdir", 0),
        event(f"{home}/.cache/pre-commit", "mkdir", 0),
        event(f"{home}/.cache/pre-commit/db.db", "create"),
        event(f"{home}/.cache/pre-commit/repo1a2b3c/README", "create"),
    ]
    plan = _plan(*made, states={home: C}, home=home)
    assert (plan.mounts, plan.env, plan.blocked) == (["/tmp"], {"PRE_COMMIT_HOME": "/tmp/pre-commit"}, [])
    plan = _plan(*made, event(f"{home}/.cache/other/x", "create"), states={home: C}, home=home)
    assert plan.mounts == ["/srv/home/.cache", "/tmp"]
    plan = _plan(event(f"{home}/.cache", "mkdir", 0), states={home: C})  # made, nothing in it: still made
    assert plan.mounts == ["/srv/home/.cache"]


def test_writes_into_a_directory_renamed_into_place_are_the_final_names_writer() -> None:
    """pytest builds its cache as pytest-cache-files-XXXX and renames it to .pytest_cache: with
    its setting applied (`-o cache_dir=/tmp/pytest-cache`) it builds neither there, so nothing is
    mounted for it but /tmp, where the setting moves the cache."""
    tmp = "/srv/app/pytest-cache-files-ldinyx3s"
    plan = _plan(
        event(tmp, "mkdir", 0),
        event(tmp, "chmod", 0, syscall="chmod"),
        event(f"{tmp}/README.md"),
        event(f"{tmp}/CACHEDIR.TAG"),
        event(tmp, "rename", 0, target="/srv/app/.pytest_cache"),
        event("/srv/app/.pytest_cache/v", "mkdir", 0),
        event("/srv/app/.pytest_cache/v/cache/nodeids"),
        states={"/srv/app": C},
    )
    assert (plan.mounts, plan.blocked) == (["/tmp"], [])
    assert plan.env == {"PYTEST_ADDOPTS": "-o cache_dir=/tmp/pytest-cache"}


def test_the_run_s_pytest_options_are_kept_before_the_plans_own() -> None:
    """PYTEST_ADDOPTS in the run (`-rA`) and in the plan (the cache moved): the plan's value
    replaced the run's, and the suite ran with other options than traced. Both are kept, the
    run's first; a value with fields a secret may be in (`-o x=y`) is said, not copied."""
    cache = [event("/srv/app/.pytest_cache/v", "mkdir", 0), event("/srv/app/.pytest_cache/v/cache/nodeids")]
    plan = _plan(*cache, states={"/srv/app": C}, environment={"PYTEST_ADDOPTS": "-rA -x"})
    assert plan.env == {"PYTEST_ADDOPTS": "-rA -x -o cache_dir=/tmp/pytest-cache"}, plan
    assert plan.changed == plan.env
    plan = _plan(*cache, states={"/srv/app": C}, environment={"PYTEST_ADDOPTS": "-o token=s3cret"})
    assert plan.env == {"PYTEST_ADDOPTS": "-o cache_dir=/tmp/pytest-cache"}, plan
    assert any("put the run's options before it" in n for n in plan.notes) and "s3cret" not in str(plan)
    own = {"PYTEST_ADDOPTS": "-o cache_dir=/tmp/pytest-cache"}  # a trace made under the plan: kept
    assert _plan(event("/tmp/pytest-cache/v/cache/nodeids"), environment=own).env == own
    joined = {"PYTEST_ADDOPTS": "-rA -x -o cache_dir=/tmp/pytest-cache"}  # and under the joined one
    assert _plan(*cache, states={"/srv/app": C}, environment=joined).env == joined
    assert _plan(event("/tmp/pytest-cache/v/cache/nodeids"), environment=joined).env == joined


def test_a_setting_that_moves_writes_under_the_mount_they_get_is_not_offered_as_avoiding_it() -> None:
    """mypy's cache in /tmp where /tmp is not allowed: /tmp is mounted, and MYPY_CACHE_DIR=/tmp/...
    would avoid no mount, so the report does not offer it as one."""
    classifier = Classifier(build_allowlist([], None, defaults=False))
    e = event("/tmp/x/.mypy_cache/3.11/a.json")
    classifier.learn(e)
    v = classifier.classify(e)
    assert v.violation and v.explanation is BY_ID["mypy-cache"]
    plan = plan_mounts([v], CWD, {})
    assert (plan.mounts, plan.env, plan.settings) == (["/tmp"], {}, {})


def _tree(top: Path, *files: str) -> str:
    """Directories with files in them, as a traced application's tree had (the planner reads
    whether a place to seed holds code when it plans)."""
    for name in files:
        path = top / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"SQLite format 3\0" if name.endswith(".db") else b"x")
        if name.endswith("/tool"):
            path.chmod(0o755)
    return str(top)


def _opened(path: str, flags: str, op: str = "create") -> FileEvent:
    return FileEvent(1, 1, b"/bin/sh", "openat", op, path.encode(), None, flags, 0o666, 3, True)


def test_a_directory_that_held_files_is_a_seeded_persistent_mount_only_where_data_is_kept(
    tmp_path: Path,
) -> None:
    """A database updated where it lay before the run (its journal beside it), a file that was
    there appended to, or saved over atomically (a rename onto its name): a persistent mount
    that starts with what the directory held, which is all data the command keeps. A file
    written anew into a directory that held others, or a directory holding a file the command
    did not keep, is refused: an empty mount would hide the rest, a kept one make it writable."""
    files = ("data/notes.db", "logs/app.log", "state/s.txt", "out/r0.html", "mixed/a.log", "mixed/notes.txt")
    app = _tree(tmp_path / "app", *files)
    held = {f"{app}/{d}": C for d in ("data", "logs", "state", "out", "mixed")}
    plan = _plan(
        _opened(f"{app}/data/notes.db", "O_RDWR|O_CREAT|O_CLOEXEC"),
        event(f"{app}/data/notes.db-journal", "create"),
        _opened(f"{app}/logs/app.log", "O_WRONLY|O_CREAT|O_APPEND"),
        event(f"{app}/state/.s.txt.tmp", "create"),
        event(f"{app}/state/.s.txt.tmp", "rename", 0, target=f"{app}/state/s.txt", syscall="rename"),
        event(f"{app}/out/report.html", "create"),
        _opened(f"{app}/mixed/a.log", "O_WRONLY|O_APPEND", op="open"),
        states={app: C, **held},
        cwd=app,
    )
    data = [f"{app}/{d}" for d in ("data", "logs", "state")]
    assert plan.mounts == plan.persistent == plan.seeded == data
    assert [(b.point, b.kind) for b in plan.blocked] == [(f"{app}/mixed", "held"), (f"{app}/out", "held")]
    assert any(f"{app}/data holds data" in n and "starts with the files" in n for n in plan.notes)
    # what stands between the data kept there and a seeded volume is named, and the ways out
    (said,) = [n for n in plan.notes if "which it did not keep" in n]
    assert said.startswith(f"{app}/mixed: the command keeps data there, beside {app}/mixed/notes.txt"), said
    assert "move it out of the place" in said
    # or it is the data's own (whoosh's segments, read and replaced later): the user says so
    assert f"give `--persistent {app}/mixed`" in said
    fresh = _plan(
        event("/srv/d/x.db", "create"), event("/srv/d/x.db-journal", "create"), states={"/srv/d": E}
    )
    assert fresh.persistent == ["/srv/d"] and fresh.seeded == []  # it held nothing: nothing to start with


def test_a_file_the_command_deleted_is_its_own_data_where_it_keeps_data(tmp_path: Path) -> None:
    """A log directory shipped with a rotated log: the app appends to its log, rotates it and
    deletes the rotated file past its retention. On the tree the run left, the plan seeded logs/;
    on the tree it started from (a fresh checkout, the image's), it refused logs/ "beside
    app.1.log, which it did not keep": the file it deleted is its own, as the volume that starts
    with it finds it. A file it neither kept nor deleted there is still no data of its."""
    app = _tree(tmp_path / "app", "logs/app.log", "logs/app.1.log", "mixed/a.log", "mixed/notes.txt")
    held = {f"{app}/{d}": C for d in ("logs", "mixed")}
    plan = _plan(
        _opened(f"{app}/logs/app.log", "O_WRONLY|O_CREAT|O_APPEND"),
        event(f"{app}/logs/app.log", "rename", 0, target=f"{app}/logs/app.2.log", syscall="rename"),
        event(f"{app}/logs/app.1.log", "delete", 0, syscall="unlink"),
        _opened(f"{app}/mixed/a.log", "O_WRONLY|O_APPEND", op="open"),
        states={app: C, **held},
        cwd=app,
    )
    assert plan.seeded == [f"{app}/logs"], plan
    assert [(b.point, b.kind) for b in plan.blocked] == [(f"{app}/mixed", "held")]


def test_a_directory_of_programs_configuration_or_a_home_is_never_seeded(tmp_path: Path) -> None:
    """Data kept there or not, a directory that held files stays refused outside the
    application's tree and the places for data, in a tree of the system's, a home or a hidden
    directory, where it holds a subdirectory, a program or a hard link, or where it could not
    be read; and a working directory of one level (`/`, /home, /var) makes no application tree."""
    app = _tree(
        tmp_path / "app", "opt/bin/tool", "opt/x.db", "exe/x.db", "exe/tool", "link/x.db", "data/x.db"
    )
    (tmp_path / "app/link/other").hardlink_to(tmp_path / "app/exe/tool")
    held = ["/usr/local/bin", "/etc/ssh", "/home/u", "/home/u/.config/app", "/srv/app", "/srv/missing",
            f"{app}/opt", f"{app}/exe", f"{app}/link", f"{app}/data", f"{app}/.git"]  # fmt: skip
    journals = [e for d in held for e in (_opened(f"{d}/x.db", "O_RDWR|O_CREAT"), event(f"{d}/x.db-journal"))]
    plan = _plan(*journals, states=dict.fromkeys(held, C) | {app: C}, cwd=app)
    assert plan.seeded == [f"{app}/data"]
    refused = {b.point for b in plan.blocked}
    assert refused == set(held) - {f"{app}/data"}, refused
    # a data place that is not on this machine (the plan made elsewhere) says so
    unseen = {b.point for b in plan.blocked if "is not on this machine" in b.reason}
    assert unseen == {d for d in ("/srv/app", "/srv/missing") if not os.path.lexists(d)}, unseen
    # a hidden directory or a home where the command keeps data says why it is never seeded
    hidden = {b.point for b in plan.blocked if "a hidden directory (or a home) is never" in b.reason}
    assert hidden == {"/home/u", "/home/u/.config/app", f"{app}/.git"}, hidden
    for cwd in ("/", "/var"):
        at_root = _plan(event("/var/x/seen-journal", "create"), states={"/var/x": C}, cwd=cwd)
        assert at_root.seeded == [] and [b.point for b in at_root.blocked] == ["/var/x"]


def test_a_directory_the_command_emptied_and_filled_again_takes_an_empty_mount(tmp_path: Path) -> None:
    """A build that deletes its old output and writes it again (mkdocs, sphinx -E): all the
    directory holds when the plan is made was made where nothing old could be left (a name
    deleted first, a directory the run made), so an empty mount hides nothing the command
    needs. Not so where a file it did not make is left, or where a file was rewritten without
    being deleted first (read first, for all the plan knows), even beside a file it deleted (a
    stale pid file); where it appended to one, the directory holds data it keeps, with the rest
    its own: a persistent mount."""
    dirs = ("out", "kept", "log", "same", "conf")
    app = _tree(tmp_path / "app", "out/index.html", "out/assets/app.css", "kept/index.html", "kept/notes.txt",
                "log/index.html", "log/run.log", "same/index.html", "conf/settings.json")  # fmt: skip
    deleted = [f"{app}/{d}/stale.pid" for d in dirs]
    deleted += [f"{app}/{d}/index.html" for d in ("out", "kept", "log")]
    rebuilt = [event(path, "delete", 0, syscall="unlink") for path in deleted] + [
        event(f"{app}/out/assets", "mkdir", 0),
        event(f"{app}/out/index.html", "create"),  # its name deleted first
        event(f"{app}/out/assets/app.css", "create"),  # in a directory the run made
        event(f"{app}/kept/index.html", "create"),
        event(f"{app}/log/index.html", "create"),
        _opened(f"{app}/log/run.log", "O_WRONLY|O_CREAT|O_APPEND"),
        event(f"{app}/same/index.html", "create"),  # rewritten in place
        event(f"{app}/conf/settings.json", "create"),  # rewritten in place
    ]
    plan = _plan(*rebuilt, states={app: C, **{f"{app}/{d}": C for d in dirs}}, cwd=app)
    # log/: the log appended to is data, the page the run's own: a volume that starts with both
    assert (plan.mounts, plan.persistent) == ([f"{app}/log", f"{app}/out"], [f"{app}/log"]), plan
    refused = sorted(b.point for b in plan.blocked)
    assert refused == [f"{app}/{d}" for d in ("conf", "kept", "same")], refused


def test_a_file_saved_atomically_where_nothing_old_could_be_is_the_runs_own(tmp_path: Path) -> None:
    """A cleaned build that saves a file through a temporary name (Sphinx's searchindex.js):
    renamed into a directory the run made, or onto a name it deleted first, the file is as
    fresh as one made there: the directory takes an empty mount. Renamed onto a name it never
    deleted, it may replace one from before the run: data the command keeps, a persistent
    mount that starts with it."""
    app = _tree(tmp_path / "app", "out/index.html", "out/sub/search.js", "old/index.html")
    rebuilt = [
        event(f"{app}/out/sub/search.js", "delete", 0, syscall="unlink"),
        event(f"{app}/out/sub", "delete", 0, syscall="rmdir"),
        event(f"{app}/out/index.html", "delete", 0, syscall="unlink"),
        event(f"{app}/out/sub", "mkdir", 0),
        event(f"{app}/out/sub/search.js.tmp", "create"),
        event(
            f"{app}/out/sub/search.js.tmp", "rename", 0, target=f"{app}/out/sub/search.js", syscall="rename"
        ),
        event(f"{app}/out/index.html.tmp", "create"),
        event(f"{app}/out/index.html.tmp", "rename", 0, target=f"{app}/out/index.html", syscall="rename"),
        event(f"{app}/old/stale.pid", "delete", 0, syscall="unlink"),
        event(f"{app}/old/index.html.tmp", "create"),
        event(f"{app}/old/index.html.tmp", "rename", 0, target=f"{app}/old/index.html", syscall="rename"),
    ]
    plan = _plan(*rebuilt, states={app: C, f"{app}/out": C, f"{app}/out/sub": C, f"{app}/old": C}, cwd=app)
    old, out = f"{app}/old", f"{app}/out"
    assert (plan.mounts, plan.persistent, plan.blocked) == ([old, out], [old], []), plan


def test_an_update_refused_by_a_read_only_root_keeps_data_as_it_would_have(tmp_path: Path) -> None:
    """Traced under --read-only, an append refused with EROFS meant what the plain run's did."""
    app = _tree(tmp_path / "app", "logs/app.log")
    refused = _opened(f"{app}/logs/app.log", "O_WRONLY|O_CREAT|O_APPEND")
    refused = FileEvent(*refused.astuple()[:9], -30, True)  # type: ignore[misc]
    plan = _plan(refused, states={app: C, f"{app}/logs": C}, cwd=app)
    assert plan.seeded == [f"{app}/logs"] and plan.blocked == []


def test_a_journal_name_alone_or_a_rename_onto_itself_keeps_no_data(tmp_path: Path) -> None:
    """A file named like a journal keeps no database the command never opened read-write (a
    module beside it stays refused), and a rename of a name onto itself saves nothing."""
    app = _tree(tmp_path / "app", "plugins/auth.py", "keys/server.key")
    plan = _plan(
        event(f"{app}/plugins/auth.py-journal", "create"),
        event(f"{app}/keys/server.key", "rename", 0, target=f"{app}/keys/server.key", syscall="rename"),
        states={app: C, f"{app}/plugins": C, f"{app}/keys": C},
        cwd=app,
    )
    assert plan.seeded == [] and {b.point for b in plan.blocked} == {f"{app}/plugins", f"{app}/keys"}


def test_directories_made_on_the_way_to_a_known_writers_place_need_no_mount() -> None:
    """jupyter makes ~/.local, ~/.local/share and ~/.local/share/jupyter/runtime for its
    runtime files, which its settings move to /tmp: none of those directories needs a mount,
    unless one is made for its own sake (nothing written in it)."""
    home = "/srv/home"
    made = [f"{home}/.local", f"{home}/.local/share", f"{home}/.local/share/jupyter",
            f"{home}/.local/share/jupyter/runtime"]  # fmt: skip
    writes = [event(d, "mkdir", 0) for d in made]
    writes.append(event(f"{home}/.local/share/jupyter/runtime/jpserver-1.json", "create"))
    states = {home: C, **{d: A for d in made}}
    plan = _plan(*writes, states=states, home=home)
    assert plan.mounts == ["/tmp"] and plan.blocked == []
    assert sorted(plan.env) == ["JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"]  # (the data's, made in the run)
    empty = f"{home}/.local/share/kept-empty"
    plan = _plan(*writes, event(empty, "mkdir", 0), states={**states, empty: A}, home=home)
    assert plan.mounts == ["/srv/home/.local", "/tmp"]


def test_a_cache_keyed_by_hashes_is_mounted_above_its_shards() -> None:
    """Which shard of a hash-keyed cache a run writes depends on what it fetched (scrapy's
    httpcache/SPIDER/80/SHA1/, pip's http-v2/a/b/c/d/e/SHA224, git's objects/ab/SHA1): a mount
    on the shard the trace saw breaks the next run, which writes another. The mount goes above
    the shards, where every run writes."""
    sha1, sha224 = "80" + "3f" * 19, "ab" * 28
    scrapy = "/srv/crawl/cache/pages"
    states = {scrapy: E, f"{scrapy}/80": E, f"{scrapy}/80/{sha1}": A}
    plan = _plan(event(f"{scrapy}/80/{sha1}", "mkdir", 0), event(f"{scrapy}/80/{sha1}/meta"), states=states,
                 cwd="/srv/crawl/app")  # fmt: skip
    assert plan.mounts == [scrapy]
    pip = "/srv/cache/pip/http-v2"
    plan = _plan(event(f"{pip}/a/b/c/d/e/{sha224}"), states={f"{pip}/a/b/c/d/e": E}, cwd="/srv/app")
    assert plan.mounts == [pip]
    git = "/srv/repo/.git/objects"
    plan = _plan(event(f"{git}/ab/{sha1}"), states={f"{git}/ab": E}, cwd="/srv/app")
    assert plan.mounts == [git]
    # a short name that is no shard of a hash-keyed store stays where it is
    plan = _plan(event("/srv/data/2024/01/report.csv"), states={"/srv/data/2024/01": E}, cwd="/srv/app")
    assert plan.mounts == ["/srv/data/2024/01"]
    # the shard the run made itself in a store that held objects (dulwich's mkdir of objects/e6
    # for a loose object): its mkdir was a mount at objects/e6, beside the object refused at
    # objects/ (held files); the next run's object goes to another shard
    made = _plan(event(f"{git}/e6", "mkdir", 0), event(f"{git}/e6/{sha1}.lock"),
                 event(f"{git}/e6/{sha1}.lock", "rename", 0, target=f"{git}/e6/{sha1}", syscall="rename"),
                 states={git: C, f"{git}/e6": A}, cwd="/srv/app")  # fmt: skip
    assert made.mounts == [] and [b.point for b in made.blocked] == [git], made


def test_venv_bytecode_is_one_place_with_its_fix_refused_or_read_only() -> None:
    """Python's __pycache__ writes into a venv: refused with EACCES (a non-root user, the command
    carries on) or EROFS (a read-only root), the report groups them at the venv and names the
    setting that avoids them."""
    from rotrace.pipeline import Pipeline

    venv = "/srv/app/.venv"
    dirs = [f"{venv}/lib/python3.11/site-packages/{p}/__pycache__" for p in ("pa", "pa/sub", "pb")]
    for errno_name in ("EACCES", "EROFS"):
        events = [event(f"{venv}/pyvenv.cfg", "open", 3, write=False)]
        events += [event(d, "mkdir", errno_name, syscall="mkdir") for d in dirs]
        pipeline = Pipeline(CWD, {})
        verdicts = classify(*events)
        for v in verdicts:
            pipeline.add(v)
        aggregate, plan = pipeline.group(verdicts, keep_all=False)
        assert list(aggregate.violations) == [venv], (errno_name, list(aggregate.violations))
        assert any("PYTHONDONTWRITEBYTECODE=1" in n for n in plan.notes), (errno_name, plan.notes)


def test_a_home_made_only_on_the_way_to_a_writers_cache_takes_its_setting() -> None:
    """black run as a user with no home (HOME=/nonexistent, or / in a Pod with no passwd entry):
    its cache's makedirs climbs to the home, each deeper mkdir failing with ENOENT, and the
    home's own mkdir is refused. BLACK_CACHE_DIR moves the cache, and the home with it: no mount
    at the home (which no runtime could make there)."""
    for home, refused in (("/nonexistent", "EROFS"), ("", "EACCES")):
        cache = f"{home}/.cache/black/24.10.0"
        attempts = [event(d, "mkdir", "ENOENT", syscall="mkdir") for d in (cache, os.path.dirname(cache))]
        top = home or "/.cache"
        refusal = event(top, "mkdir", refused, syscall="mkdir")
        known = home or "/"
        plan = _plan(*attempts, refusal, command_failed=True, home=known, environment={"HOME": known})
        assert plan.env == {"BLACK_CACHE_DIR": "/tmp/black-cache"} and top not in plan.mounts, (home, plan)


def test_a_tree_a_setting_moves_is_one_place_and_its_note_counts_every_write() -> None:
    """IPython's profile, made under ~/.ipython by makedirs (each directory a mkdir of the run):
    the report had it in three places (the home, ~/.ipython, profile_default) and its note
    counted the writes the setting was applied for, not the directories made on the way."""
    from rotrace.pipeline import Pipeline

    top = "/srv/home/.ipython"
    made = [top, f"{top}/profile_default", f"{top}/profile_default/startup"]
    events = [event(d, "mkdir", 0, syscall="mkdir") for d in made]
    events += [event(f"{top}/profile_default/startup/README", "create")]
    pipeline = Pipeline(CWD, {b"/srv/home": C})
    verdicts = classify(*events, home="/srv/home")
    for v in verdicts:
        pipeline.add(v)
    aggregate, plan = pipeline.group(verdicts, keep_all=False)
    assert list(aggregate.violations) == [top], list(aggregate.violations)
    (note,) = [n for n in plan.notes if n.startswith("IPython")]
    assert "(4 writes)" in note, note


def test_a_setting_the_run_already_had_is_not_the_plans_fix() -> None:
    """tox clears its children's environment: with PYTHONDONTWRITEBYTECODE=1 set for the run,
    its tests still wrote bytecode, and the plan's fix was that very setting (its replay under
    a read-only root failed). Where the run had it, the writes' place is mounted instead."""
    made = event("/srv/app/tests/__pycache__", "mkdir", 0, syscall="mkdir")
    writes = [made, event("/srv/app/tests/__pycache__/test_a.cpython-311.pyc", "create")]
    states = {"/srv/app/tests": C}
    plan = _plan(*writes, states=states)
    assert plan.env == {"PYTHONDONTWRITEBYTECODE": "1"} and plan.mounts == [], plan
    plan = _plan(*writes, states=states, environment={"PYTHONDONTWRITEBYTECODE": "1", "HOME": "/root"})
    # kept as the run had it (the run's settings made its trace), but not counted on: mounted
    assert plan.env == {"PYTHONDONTWRITEBYTECODE": "1"}, plan
    assert plan.mounts == ["/srv/app/tests/__pycache__"], plan
    assert any("PYTHONDONTWRITEBYTECODE=1 was set for the run" in n for n in plan.notes), plan.notes
    plan = _plan(*writes, states=states, environment={"PYTHONDONTWRITEBYTECODE": ""})
    assert plan.env == {"PYTHONDONTWRITEBYTECODE": "1"}, plan  # set to another value: it did not hold


def test_the_settings_the_run_had_are_kept_where_they_decide_its_writes() -> None:
    """`UV_FROZEN=true UV_NO_CACHE=true UV_NO_SYNC=true uv run`: uv's cache went to a temporary
    directory in /tmp; without UV_NO_CACHE uv writes ~/.cache/uv, which the plan leaves
    read-only. The run's settings are kept, a path wherever it is (UV_PROJECT_ENVIRONMENT=/srv/venv
    read only: dropped, uv made .venv on a read-only root); a masked value is said, not kept."""
    writes = [event("/tmp/.tmpAbC123/lock", "create")]
    environment = {
        "UV_FROZEN": "true",
        "UV_NO_CACHE": "true",
        "UV_NO_SYNC": "true",
        "UV_INDEX_URL": "https://***@pypi.example/simple",  # not a setting of where uv writes
        "XDG_CACHE_HOME": "/home/me/.cache",
        "PIP_CACHE_DIR": "/tmp/pip",
        "UV_PROJECT_ENVIRONMENT": "<redacted>",
        "PIP_NO_CACHE_DIR": "~/.cache/pip",  # a home's, which pip expands
        "HOME": "/home/me",
    }
    plan = _plan(*writes, states={"/tmp": C}, environment=environment)
    assert plan.mounts == ["/tmp"], plan
    kept = {"PIP_CACHE_DIR": "/tmp/pip", "UV_FROZEN": "true", "UV_NO_CACHE": "true", "UV_NO_SYNC": "true",
            "XDG_CACHE_HOME": "/home/me/.cache", "PIP_NO_CACHE_DIR": "~/.cache/pip"}  # fmt: skip
    assert plan.env == kept, plan
    notes = "\n".join(plan.notes)
    assert "UV_PROJECT_ENVIRONMENT, masked in the trace" in notes, notes
    assert "UV_INDEX_URL" not in notes


def test_a_rename_across_two_of_the_plans_mounts_is_noted() -> None:
    """`poetry build`: a wheel made in /tmp and renamed into dist/. The plan mounts both, and
    the kernel refuses a rename across mounts (EXDEV): os.rename failed where the run did not."""
    made = event("/srv/app/dist", "mkdir", 0, syscall="mkdir")
    wheel = event("/tmp/tmpab12.whl", "create")
    moved = event("/tmp/tmpab12.whl", "rename", 0, target="/srv/app/dist/pkg.whl", syscall="rename")
    plan = _plan(made, wheel, moved, states={"/srv/app": C, "/tmp": C})
    assert plan.mounts == ["/srv/app/dist", "/tmp"], plan
    (note,) = [n for n in plan.notes if "EXDEV" in n]
    assert (
        note.startswith("1 rename from /tmp to /srv/app/dist (e.g. /tmp/tmpab12.whl to") and "crosses" in note
    )
    # every rename out of /tmp into another mount goes into dist/: TMPDIR there makes the file there
    assert plan.env == {"TMPDIR": "/srv/app/dist"} and "the plan sets TMPDIR=/srv/app/dist" in note, plan
    assert plan.crossings == [], plan  # held by the setting: `allowlist` exits 0
    sdist = event("/tmp/tmpcd34.tar.gz", "rename", 0, target="/srv/app/out/pkg.tar.gz", syscall="rename")
    out = event("/srv/app/out", "mkdir", 0, syscall="mkdir")
    plan = _plan(made, wheel, moved, out, sdist, states={"/srv/app": C, "/tmp": C})
    assert "TMPDIR" not in plan.env and len([n for n in plan.notes if "EXDEV" in n]) == 2, plan  # two places
    # no one TMPDIR serves both: each rename fails under the plan (os.replace; shutil.move copies),
    # and `allowlist` exits 1 for them as for a place no mount can fix
    assert plan.crossings == ["/tmp -> /srv/app/dist", "/tmp -> /srv/app/out"], plan.crossings
    named = event("/tmp/build/pkg.whl", "rename", 0, target="/srv/app/dist/pkg.whl", syscall="rename")
    plan = _plan(made, named, states={"/srv/app": C, "/tmp": C}, environment={"TMPDIR": "/tmp/build/t"})
    assert "TMPDIR" not in plan.env, plan  # not made in the run's TMPDIR: TMPDIR would not move it
    cleared = event("/srv/app/dist/old.whl", "delete", 0, syscall="unlink")  # it clears dist/ first
    plan = _plan(made, wheel, cleared, moved, states={"/srv/app": C, "/tmp": C})
    assert "TMPDIR" not in plan.env, plan  # its temporary file there would go with the rest
    # a merged trace's rename stands for as many as its runs made (3 here): so many are told
    merged = dataclasses.replace(classify(moved)[0], count=3, runs=(0, 1))
    plan = plan_mounts([*classify(made, wheel), merged], CWD, {b"/srv/app": C, b"/tmp": C})
    assert any(n.startswith("3 renames from /tmp to /srv/app/dist") for n in plan.notes), plan.notes
    # SQLite's own journal, made and removed again beside its database there, clears nothing
    # (persist-queue's worker died on EXDEV in its hardened Pod: no TMPDIR, for that unlink)
    journal = [event("/srv/app/dist/q.db"), event("/srv/app/dist/q.db-journal"),
               event("/srv/app/dist/q.db-journal", "delete", 0, syscall="unlink")]  # fmt: skip
    plan = _plan(made, *journal, wheel, moved, states={"/srv/app": C, "/tmp": C})
    assert plan.env == {"TMPDIR": "/srv/app/dist"}, plan
    deep = "/srv/app/" + "d" * 60  # a Unix socket in TMPDIR would outgrow sun_path
    far = event("/tmp/tmpab12.whl", "rename", 0, target=f"{deep}/pkg.whl", syscall="rename")
    plan = _plan(event(deep, "mkdir", 0, syscall="mkdir"), wheel, far, states={"/srv/app": C, "/tmp": C})
    assert "TMPDIR" not in plan.env, plan
    venv = "/srv/app/env"  # an installer's hard links from its cache in /tmp into a venv it makes
    linked = [
        event(venv, "mkdir", 0, syscall="mkdir"),
        event(f"{venv}/pyvenv.cfg"),
        event("/tmp/.tmpAbC123/m.py"),
    ]
    linked.append(event(f"{venv}/lib/m.py", "link", 0, target="/tmp/.tmpAbC123/m.py", syscall="link"))
    plan = _plan(*linked, states={"/srv/app": C, venv: A})
    assert plan.mounts == [venv, "/tmp"] and "TMPDIR" not in plan.env, plan
    inside = event("/srv/app/dist/tmpab12.whl", "rename", 0, target="/srv/app/dist/pkg.whl", syscall="rename")
    plan = _plan(
        made, event("/srv/app/dist/tmpab12.whl", "create"), inside, wheel, states={"/srv/app": C, "/tmp": C}
    )
    assert not [n for n in plan.notes if "EXDEV" in n], plan.notes  # one mount holds both names
    # a hard link across mounts is refused the same way (os.link('build/w.whl', 'dist/w.whl'))
    build = event("/srv/app/build", "mkdir", 0, syscall="mkdir")
    linked = event("/srv/app/build/w.whl", "link", 0, target="/srv/app/dist/w.whl", syscall="link")
    plan = _plan(made, build, event("/srv/app/build/w.whl", "create"), linked, states={"/srv/app": C})
    assert plan.mounts == ["/srv/app/build", "/srv/app/dist"], plan
    (note,) = [n for n in plan.notes if "EXDEV" in n]
    assert (
        note.startswith("1 hard link from /srv/app/build to /srv/app/dist")
        and "where a hard link fails" in note
    )


def test_a_setting_a_note_names_instead_of_a_mount_is_in_the_plan() -> None:
    """poetry's venv, made by the command under ~/.cache (mounted): the __pycache__ directories
    made in it were left unmounted for PYTHONDONTWRITEBYTECODE=1, which the note named and the
    plan (docker's --env, the policy's [env]) did not carry."""
    venv = "/srv/home/.cache/pypoetry/virtualenvs/app-py3.11"
    site = f"{venv}/lib/python3.11/site-packages"
    writes = [event(d, "mkdir", 0, syscall="mkdir") for d in ("/srv/home/.cache", venv, f"{venv}/lib")]
    writes += [event(f"{venv}/pyvenv.cfg", "create"), event(f"{site}/m.py", "create")]
    writes += [event(f"{site}/__pycache__", "mkdir", 0, syscall="mkdir")]
    writes += [event(f"{site}/__pycache__/m.cpython-311.pyc", "create")]
    plan = _plan(*writes, states={"/srv/home": C, "/srv/home/.cache": A})
    for note in plan.notes:
        if " instead of a mount" in note:
            setting = note.split(": set ", 1)[1].split(" instead of", 1)[0]
            for pair in setting.split(", "):
                name, value = pair.split("=", 1)
                assert plan.env.get(name) == value, (note, plan.env)
    assert "/srv/home/.cache" in plan.mounts, plan


def test_a_directory_of_before_the_run_is_its_own_place_whatever_its_name() -> None:
    """A name tempfile gives (`work-1phx6esh`) is a per-run name, and a mount climbs out of it:
    right for a `stage-files-3mr_f325` the run makes (mkdtemp's, as pytest's cache staging), wrong
    for the application's directory a CI checkout (or a test) was given, whose writes were placed
    in its parent."""
    app = "/srv/work-1phx6esh"
    plan = _plan(event(f"{app}/out.txt", "create"), states={app: C}, cwd=app)
    assert [b.point for b in plan.blocked] == [app], plan  # the app: no mount, and not /srv
    data = "/srv/data-k2x9_q7w"
    plan = _plan(event(f"{data}/state.json", "create"), states={data: C, "/srv": C})
    assert [b.point for b in plan.blocked] == [data], plan  # (it held files), not /srv
    made = "/srv/app/stage-files-3mr_f325"
    plan = _plan(
        event(made, "mkdir", 0, syscall="mkdir"), event(f"{made}/v", "create"), states={"/srv/app": C}
    )
    assert plan.mounts == ["/srv/app"] or [b.point for b in plan.blocked] == ["/srv/app"], plan


def test_a_date_or_a_time_of_day_is_never_a_mount_point() -> None:
    """hydra's outputs/2026-12-06/13-50-59: a run of the same day found the date's directory
    (an earlier run made it) and made the time's: the plan mounted the time's directory, and
    the next run (another second) died on EROFS. A date or a time is the next run's no more."""
    day = "/srv/app/outputs/2026-12-06"
    plan = _plan(
        event(f"{day}/13-50-59", "mkdir", 0, syscall="mkdir"),
        event(f"{day}/13-50-59/run.log", "create"),
        states={"/srv/app": C, "/srv/app/outputs": C, day: C},
    )
    points = plan.mounts + [b.point for b in plan.blocked]
    assert points == ["/srv/app/outputs"], plan  # not the day's or the second's
    plan = _plan(
        event("/srv/app/outputs", "mkdir", 0, syscall="mkdir"),
        event(day, "mkdir", 0, syscall="mkdir"),
        event(f"{day}/13-50-59", "mkdir", 0, syscall="mkdir"),
        event(f"{day}/13-50-59/run.log", "create"),
        states={"/srv/app": C, "/srv/app/outputs": A},
    )
    assert plan.mounts == ["/srv/app/outputs"] and plan.blocked == [], plan  # the first run
    tensorboard = "/srv/app/runs/Dec06_13-50-59_host"
    plan = _plan(event(tensorboard, "mkdir", 0, syscall="mkdir"), event(f"{tensorboard}/events.out"),
                 states={"/srv/app": C, "/srv/app/runs": E})  # fmt: skip
    assert plan.mounts == ["/srv/app/runs"], plan


def test_a_directory_of_earlier_runs_outputs_is_kept_with_the_next_ones(tmp_path: Path) -> None:
    """hydra's second run of the day: outputs/ held the first run's 2026-12-06/, the run made
    2026-12-06/13-50-59/. A mount of the time's directory failed the next run; outputs/ was
    "held files", no mount. All it holds is earlier runs' outputs, per-run names: a persistent
    volume filled with them; anything else there (a template, a file) keeps it refused."""
    app, outputs = tmp_path / "app", tmp_path / "app" / "outputs"
    (outputs / "2026-12-06" / "09-12-44").mkdir(parents=True)
    day = outputs / "2026-12-06"
    made = [event(f"{day}/13-50-59", "mkdir", 0, syscall="mkdir"), event(f"{day}/13-50-59/run.log")]
    states = {str(app): C, str(outputs): C, str(day): C}
    plan = _plan(*made, states=states, cwd=str(app))
    assert plan.mounts == [str(outputs)] and plan.persistent == [str(outputs)] and plan.blocked == [], plan
    assert plan.seeded == [str(outputs)]
    (note,) = [n for n in plan.notes if n.startswith(str(outputs))]  # why: not data the run reads back
    assert note.startswith(f"{outputs} holds the earlier runs' outputs (directories of per-run names)"), note
    (outputs / "README").write_text("the app's own\n")
    plan = _plan(*made, states=states, cwd=str(app))
    assert [b.point for b in plan.blocked] == [str(outputs)] and plan.mounts == [], plan


def test_a_rename_out_of_an_allowed_place_is_grouped_where_it_lands() -> None:
    """hatch build makes its sdist in /tmp (allowed) and renames it into dist/: the violation is
    dist's to fix, and the report groups it there, not at the allowed /tmp it came from, whether
    dist/ was there before the run or the build made it."""
    from rotrace.pipeline import Pipeline

    dist, made = f"{CWD}/dist", "/tmp/tmpab12cd34.tar.gz"
    moved = event(made, "rename", 0, syscall="rename", target=f"{dist}/app-1.tar.gz")
    for before in (True, False):
        events = [event(made, "create"), moved]
        if not before:
            events.insert(0, event(dist, "mkdir", 0, syscall="mkdir"))
        directories = {CWD.encode(): DirState.CONTENT} | ({dist.encode(): DirState.CONTENT} if before else {})
        verdicts = classify(*events)
        assert [v.event.op for v in verdicts if v.violation][-1] == "rename"
        pipeline = Pipeline(CWD, directories, allowlist=build_allowlist([], None))
        for v in verdicts:
            pipeline.add(v)
        aggregate, _ = pipeline.group(verdicts, keep_all=False)
        assert list(aggregate.violations) == [dist], (before, list(aggregate.violations))


def test_a_merged_events_writes_are_each_counted_in_the_plans_notes() -> None:
    """A merged trace's event stands for the writes of every run that made it (`count`): the
    plan's notes count those writes, as the report's groups do (they counted events)."""
    import dataclasses

    from rotrace.pipeline import Pipeline

    venv = "/srv/app/.venv"
    events = [event(f"{venv}/pyvenv.cfg", "open", 3, write=False)]
    events += [event(f"{venv}/lib/python3.11/site-packages/__pycache__", "mkdir", "EACCES", syscall="mkdir")]
    verdicts = [dataclasses.replace(v, count=3, runs=(0, 1, 2)) for v in classify(*events)]
    pipeline = Pipeline(CWD, {})
    for v in verdicts:
        pipeline.add(v)
    aggregate, plan = pipeline.group(verdicts, keep_all=False)
    assert aggregate.violations[venv].count == 3
    said = "bytecode written into the environment (3 writes)"
    assert any(n.startswith(said) for n in plan.notes), plan.notes


def test_a_check_of_writability_is_mounted_for_where_it_can_be_and_else_only_noted() -> None:
    """access(W_OK) with nothing written: an empty directory gets its mount, as a write would
    (a read-only root fails the check); a home holding files no mount may hide is a note, not
    a place refused (pip checks the first directory of its cache's way that exists, and goes on
    without its cache where it may not write). A program that finds its place read-only falls
    back to a temporary directory (matplotlib's MPLCONFIGDIR built into the image, where the run
    wrote nothing): the plan mounts the run's, or the program dies at start."""
    from rotrace.pipeline import Pipeline

    pip = b"/usr/bin/python3.11"
    checks = [event("/srv/app/out", "access", 0, syscall="faccessat2", exe=pip),
              event("/srv/home", "access", 0, syscall="faccessat2", exe=pip)]  # fmt: skip
    verdicts = classify(*checks)
    assert [(v.violation, v.went_through, v.ro_forecast) for v in verdicts] == [(True, False, "EROFS")] * 2
    pipeline = Pipeline(CWD, {b"/srv/app/out": DirState.EMPTY, b"/srv/home": DirState.CONTENT})
    for v in verdicts:
        pipeline.add(v)
    _, plan = pipeline.group(verdicts, keep_all=False)
    assert plan.mounts == ["/srv/app/out", "/tmp"] and plan.blocked == [], plan
    (note,) = [n for n in plan.notes if "access W_OK" in n]
    assert note.startswith("a check that the command may write /srv/home (access W_OK, by python3.11)"), note
    assert "the plan mounts its temporary directory, /tmp, where most fall back" in note
    assert plan.unmet == ["/srv/home"] and "(`rotrace allowlist` exits 1)" in note  # no plan meets it


def test_a_mount_below_a_check_no_mount_meets_is_said_to_be_passed_by() -> None:
    """wandb checks that it may write the working directory, and writes ./wandb where it may,
    else /tmp/wandb: the plan's ./wandb mount is where it wrote here, and under the plan the
    check fails first. Said beside the check, and the plan is no clean one (exit 1)."""
    from rotrace.errors import EXIT_VIOLATIONS
    from rotrace.pipeline import Pipeline, export

    exe = b"/usr/bin/python3.11"
    checked = event(CWD, "access", 0, syscall="access", exe=exe)
    made = event(f"{CWD}/wandb", "mkdir", 0, syscall="mkdir", exe=exe)
    writes = [checked, made, event(f"{CWD}/wandb/run.wandb", exe=exe)]
    verdicts = classify(*writes)
    pipeline = Pipeline(CWD, {CWD.encode(): DirState.CONTENT})
    for v in verdicts:
        pipeline.add(v)
    _, plan = pipeline.group(verdicts, keep_all=False)
    assert f"{CWD}/wandb" in plan.mounts and plan.unmet == [CWD], plan
    (note,) = [n for n in plan.notes if "access W_OK" in n]
    assert f"writes there, not in the plan's mount below {CWD}, {CWD}/wandb" in note, note
    header = TraceHeader(["python3", "train.py"], CWD, 0)
    assert export(header, plan, "docker") == EXIT_VIOLATIONS


def test_a_mount_point_the_command_made_itself_is_noted() -> None:
    """cookiecutter makes its output directory and gives up where it is there: under the plan
    the runtime has made it (the mount point) before the command starts. Said in the plan."""
    from rotrace.pipeline import Pipeline

    out = f"{CWD}/demo"
    events = [event(out, "mkdir", 0, syscall="mkdir"), event(f"{out}/README.md", "create")]
    verdicts = classify(*events)
    pipeline = Pipeline(CWD, {CWD.encode(): DirState.CONTENT})
    for v in verdicts:
        pipeline.add(v)
    _, plan = pipeline.group(verdicts, keep_all=False)
    assert plan.mounts == [out], plan.mounts
    assert any(n.startswith(f"the command made {out} itself, where the plan mounts") for n in plan.notes), (
        plan
    )
    # --read-only: its mkdir refused (EROFS), it did not make it; it tried to, as it will
    events = [event(out, "mkdir", "EROFS", syscall="mkdir")]
    plan = _plan(*events, states={CWD: C, out: A})
    assert plan.mounts == [out], plan.mounts
    (note,) = [n for n in plan.notes if "itself" in n]
    assert note.startswith(f"the command tried to make {out} itself"), note
    # there already (makedirs(exist_ok=True) of a directory the run started with): as the
    # plan's mount point will be; nothing to say
    events = [event(out, "mkdir", "EEXIST", syscall="mkdir"), event(f"{out}/f", "create")]
    plan = _plan(*events, states={CWD: C, out: E}, allow=[out])
    assert not [n for n in plan.notes if "itself" in n], plan.notes


def test_a_directory_made_in_an_empty_one_of_before_the_run_is_mounted_there() -> None:
    """`cookiecutter -o out` with out/ there and empty: the plan mounted out/demo, which the
    runtime makes before the command starts, and cookiecutter gave up ("already exists"). The
    empty out/ holds nothing a mount would hide: mounted there. Not a parent that held files,
    the application's directory, nor a directory the plan may not cover."""
    out = f"{CWD}/out"
    events = [event(f"{out}/demo", "mkdir", 0, syscall="mkdir"), event(f"{out}/demo/README.md", "create")]
    plan = _plan(*events, states={CWD: C, out: E, f"{out}/demo": E})
    assert plan.mounts == [out] and plan.blocked == [], plan
    assert not [n for n in plan.notes if "itself" in n], plan.notes
    plan = _plan(*events, states={CWD: C, out: C, f"{out}/demo": E})  # out/ held files: not over them
    assert plan.mounts == [f"{out}/demo"], plan
    empty_cwd = [event(f"{CWD}/demo", "mkdir", 0, syscall="mkdir"), event(f"{CWD}/demo/README.md", "create")]
    plan = _plan(*empty_cwd, states={CWD: E, f"{CWD}/demo": E})  # never over the application
    assert plan.mounts == [f"{CWD}/demo"] and plan.blocked == [], plan
    plan = _plan(event("/opt/tool", "mkdir", 0, syscall="mkdir"), states={"/opt": E, "/opt/tool": E}, cwd="/")
    assert plan.mounts == ["/opt/tool"], plan  # nor a system directory
    replay = "/home/app/.cookiecutter_replay"  # nor a home (the image's has its owner and files)
    plan = _plan(event(replay, "mkdir", 0, syscall="mkdir"), states={"/home/app": E, replay: E})
    assert plan.mounts == [replay], plan
    replay = "/srv/h/.cookiecutter_replay"  # the run's home, wherever it is
    plan = _plan(
        event(replay, "mkdir", 0, syscall="mkdir"), states={"/srv/h": E}, environment={"HOME": "/srv/h"}
    )
    assert plan.mounts == [replay], plan


def test_state_in_a_home_is_moved_by_its_setting() -> None:
    """~/.local/state (platformdirs' user_state_dir: scrapy's job files), in root's home or
    another's: XDG_STATE_HOME on the plan's /tmp, not a mount of that home."""
    for home in ("/root", "/home/app"):
        made = [f"{home}/.local/state/scrapy", f"{home}/.local/state/scrapy/job_files"]
        plan = _plan(
            *(event(d, "mkdir", 0, syscall="mkdir") for d in made),
            event(f"{made[1]}/j1"),
            states={f"{home}/.local": C, f"{home}/.local/state": C, **{d: A for d in made}},
        )
        assert (plan.mounts, plan.blocked, plan.env) == (["/tmp"], [], {"XDG_STATE_HOME": "/tmp/state"}), plan


def test_a_setting_is_kept_only_where_a_program_that_reads_it_ran() -> None:
    """A machine's PIP_DISABLE_PIP_VERSION_CHECK decides nothing in a run of no pip, nor UV_* in a
    run of no uv; the XDG directories and each known writer's own setting any program may follow."""
    writes = [event("/tmp/x/f", "create")]
    environment = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "UV_NO_CACHE": "1", "PYTHONDONTWRITEBYTECODE": "1",
                   "MPLCONFIGDIR": "/tmp/mpl"}  # fmt: skip
    plan = _plan(*writes, states={"/tmp": C}, environment=environment, ran=frozenset({"sh", "python3.11"}))
    assert plan.env == {"MPLCONFIGDIR": "/tmp/mpl", "PYTHONDONTWRITEBYTECODE": "1"}, plan
    ran = frozenset({"uv", "python3", "pip"})
    plan = _plan(*writes, states={"/tmp": C}, environment=environment, ran=ran)
    assert set(plan.env) == set(environment), plan
    # pytest's options decide nothing where no pytest ran (nor a known Python writer's, where
    # no Python did)
    environment = {"PYTEST_ADDOPTS": "-p evil", "MPLCONFIGDIR": "/tmp/mpl", "XDG_CACHE_HOME": "/tmp/c"}
    plan = _plan(*writes, states={"/tmp": C}, environment=environment, ran=frozenset({"sh"}))
    assert plan.env == {"XDG_CACHE_HOME": "/tmp/c"}, plan
    plan = _plan(*writes, states={"/tmp": C}, environment=environment, ran=frozenset({"python3", "pytest"}))
    assert set(plan.env) == set(environment), plan


def test_merged_runs_that_differ_on_a_setting_keep_only_what_holds_for_each() -> None:
    """`rotrace merge` of runs with different settings: a place one run's setting sent its writes
    to, which the plan makes writable, is kept (the runs without it write there too); values
    that differ are said, not kept."""
    writes = [event("/srv/app/cache/tool/entry", "create"), event("/tmp/x", "create")]
    states = {"/srv/app": C, "/srv/app/cache": A, "/srv/app/cache/tool": A, "/tmp": C}
    runs = [{"HOME": "/root"}, {"HOME": "/root", "XDG_CACHE_HOME": "/srv/app/cache", "UV_LINK_MODE": "copy"}]
    plan = _plan(*writes, states=states, environment={"HOME": "/root"}, runs=runs)
    assert plan.env == {"XDG_CACHE_HOME": "/srv/app/cache"}, plan
    notes = "\n".join(plan.notes)
    assert "some of the merged runs had XDG_CACHE_HOME=/srv/app/cache, the others none" in notes, notes
    assert "the merged runs had different values of UV_LINK_MODE" in notes, notes


def test_a_plan_that_mounts_in_the_runs_home_sets_that_home() -> None:
    """poetry's cache in the run's HOME (/var/lib/ci/home): the plan mounts it there, and holds
    only where the app's home is that one: it sets HOME as the run had it (an image's user has
    its own: poetry failed there on a read-only root). Not where nothing is mounted there."""
    home = "/var/lib/ci/home"
    made = [f"{home}/.cache/pypoetry", f"{home}/.cache/pypoetry/cache"]
    writes = [*(event(d, "mkdir", 0, syscall="mkdir") for d in made), event(f"{made[1]}/x")]
    states = {home: C, f"{home}/.cache": C, **{d: A for d in made}}
    plan = _plan(*writes, states=states, environment={"HOME": home})
    assert plan.mounts and all(m.startswith(home) for m in plan.mounts), plan
    assert plan.env.get("HOME") == home, plan
    assert any(n.startswith(f"the plan mounts {plan.mounts[0]} in the run's home") for n in plan.notes)
    plan = _plan(event("/tmp/x"), states={"/tmp": C}, environment={"HOME": home})
    assert "HOME" not in plan.env, plan


def test_uvxs_environment_symlinked_into_uvs_cache_is_the_commands_and_moves_with_the_cache() -> None:
    """uvx builds its environment in uv's cache (builds-v0/.tmpX, renamed into archive-v0) and
    links environments-v2/H/E to it: a venv the command made (the link's name is new), inside
    the tree UV_CACHE_DIR moves whole. It was taken for one of before the run, over which no
    mount may go: ~/.cache refused, though the plan's own UV_CACHE_DIR avoided it all."""
    uv = "/home/u/.cache/uv"
    built, archived = f"{uv}/builds-v0/.tmpAbC123", f"{uv}/archive-v0/Xy12Zw"
    linked = f"{uv}/environments-v2/7fe2/cc83"
    events = [
        event("/home/u/.cache", "mkdir", 0, exe=UV),
        event(uv, "mkdir", 0, exe=UV),
        event(f"{uv}/CACHEDIR.TAG", exe=UV),
        event(f"{uv}/builds-v0", "mkdir", 0, exe=UV),
        event(built, "mkdir", 0, exe=UV),
        event(f"{built}/pyvenv.cfg", exe=UV),
        event(f"{uv}/archive-v0", "mkdir", 0, exe=UV),
        event(built, "rename", 0, target=archived, exe=UV, syscall="renameat2"),
        event(f"{uv}/environments-v2", "mkdir", 0, exe=UV),
        event(f"{uv}/environments-v2/7fe2", "mkdir", 0, exe=UV),
        event(linked, "symlink", 0, target=archived, exe=UV, syscall="symlinkat"),
    ]
    verdicts = classify(*events)
    verdicts[-1] = dataclasses.replace(verdicts[-1], venv=linked.encode())  # the link reaches a venv
    plan = plan_mounts(verdicts, CWD, {b"/home/u": DirState.CONTENT})
    assert plan.blocked == [], plan.blocked
    assert plan.env.get("UV_CACHE_DIR") == "/tmp/uv-cache" and plan.mounts == ["/tmp"], plan
    # the tool's Python compiling its bytecode into that environment (and, for `uv run
    # --script` with a warm cache, into one made in environments-v2, which held others): the
    # setting moves those writes with it. They were given a mount in the old cache, or, where
    # the directory held files, "no mount can make it writable" and exit status 1.
    python = b"/usr/bin/python3.11"
    compiled = event(f"{archived}/lib/python3.11/site-packages/__pycache__", "mkdir", 0, exe=python)
    verdicts = [*classify(*events), *classify(compiled)]
    verdicts[-2] = dataclasses.replace(verdicts[-2], venv=linked.encode())
    verdicts[-1] = dataclasses.replace(verdicts[-1], venv=archived.encode())
    plan = plan_mounts(verdicts, CWD, {b"/home/u": DirState.CONTENT})
    assert plan.blocked == [] and plan.mounts == ["/tmp"], plan
    script = f"{uv}/environments-v2/s-79800afa"
    pyc = f"{script}/lib/python3.11/site-packages/__pycache__/six.cpython-311.pyc"
    events = [
        event(script, "mkdir", 0, exe=UV),
        event(f"{script}/pyvenv.cfg", exe=UV),
        event(f"{pyc}.1406", exe=python),
        event(f"{pyc}.1406", "rename", 0, target=pyc, exe=python, syscall="rename"),
    ]
    verdicts = [dataclasses.replace(v, venv=script.encode()) for v in classify(*events)]
    states = {b"/home/u": DirState.CONTENT, uv.encode(): DirState.CONTENT}
    states[f"{uv}/environments-v2".encode()] = DirState.CONTENT
    plan = plan_mounts(verdicts, CWD, states)
    assert plan.blocked == [] and plan.mounts == ["/tmp"], plan
    assert plan.env.get("UV_CACHE_DIR") == "/tmp/uv-cache", plan


def test_a_setting_that_would_move_a_configuration_that_held_files_is_not_offered() -> None:
    """IPYTHONDIR moves all of ~/.ipython: where the profile held files before the run (startup
    scripts, a configuration), the app would run without them. The setting is neither set nor
    given as the fix; a note says why. Where the run made the tree, the setting is the plan."""
    history = "/home/u/.ipython/profile_default/history.sqlite"
    held = _plan(event(history), states={"/home/u/.ipython/profile_default": C, "/home/u/.ipython": C})
    assert "IPYTHONDIR" not in held.env
    (blocked,) = held.blocked
    assert blocked.point == "/home/u/.ipython/profile_default" and not blocked.explanations, blocked
    moved = "IPYTHONDIR=/tmp/ipython would move /home/u/.ipython, which held"
    (note,) = [n for n in held.notes if moved in n]
    # IPython ignores a ~/.ipython it cannot write (startup scripts and all): shipping it read-only
    # in the image is no fix; a writable copy, or a volume that starts with it, is
    assert "as it must be in the image" not in note
    assert "ignores /home/u/.ipython where it cannot write" in note, note
    assert "cp -a /home/u/.ipython /tmp/ipython && export IPYTHONDIR=/tmp/ipython" in note, note
    # a Jupyter kernel's only event there, its check of ~/.ipython's writability: the note named
    # the home, as though IPYTHONDIR moved it
    check = event("/home/u/.ipython", "access", "EROFS", syscall="access")
    checked = _plan(check, states={"/home/u/.ipython": C, "/home/u": C})
    notes = [n for n in checked.notes if "would move" in n]
    assert notes and all("would move /home/u/.ipython," in n for n in notes), checked.notes
    made = _plan(
        event("/home/u/.ipython", "mkdir", 0),
        event("/home/u/.ipython/profile_default", "mkdir", 0),
        event(history),
        states={"/home/u": C},
    )
    assert made.env.get("IPYTHONDIR") == "/tmp/ipython" and made.blocked == [], made


def test_matplotlibs_setting_keeps_reading_a_matplotlibrc_the_home_held() -> None:
    """MPLCONFIGDIR moves Matplotlib's configuration with its font cache: under the plan a
    matplotlibrc in ~/.config/matplotlib was ignored (figure.dpi 42 became 100). Where that
    directory held a matplotlibrc alone, the plan also sets MATPLOTLIBRC to it; where it held
    none, not. Where it held a style library (which only MPLCONFIGDIR names: `plt.style.use`
    failed under the plan), or what it holds cannot be read, the setting is not offered, the
    mkdir of ~/.cache on its way included, and a note says how to keep it (a writable copy:
    Matplotlib drops a configuration directory it cannot write, as a read-only root makes it)."""
    with srv_dir("rotrace-mpl-") as top:  # (a home in /tmp would be a scratch place, mounted whole)
        _matplotlib_plans(top)


def _matplotlib_plans(top: Path) -> None:
    home = top / "home"
    config = home / ".config" / "matplotlib"
    config.mkdir(parents=True)
    (config / "matplotlibrc").write_text("figure.dpi: 42\n")

    def plan(states: dict[str, DirState], home: Path = home) -> MountPlan:
        cache_dir = f"{home}/.cache/matplotlib"
        made = (event(f"{home}/.cache", "mkdir", 0), event(cache_dir, "mkdir", 0), event(f"{cache_dir}/f"))
        return _plan(*made, states={f"{home}": C, **states}, home=str(home), environment={"HOME": str(home)})

    held = plan({str(config): C})
    assert held.env.get("MPLCONFIGDIR") == "/tmp/matplotlib", held
    assert held.env.get("MATPLOTLIBRC") == str(config), held
    bare = plan({str(config): A})
    assert bare.env.get("MPLCONFIGDIR") == "/tmp/matplotlib" and "MATPLOTLIBRC" not in bare.env, bare
    (config / "stylelib").mkdir()
    (config / "stylelib" / "house.mplstyle").write_text("lines.linewidth: 5\n")
    styles = plan({str(config): C})
    assert "MPLCONFIGDIR" not in styles.env and "MATPLOTLIBRC" not in styles.env, styles
    assert f"{home}/.cache" in styles.mounts, styles
    (note,) = [n for n in styles.notes if "MPLCONFIGDIR=/tmp/matplotlib would move" in n]
    assert f"cp -a {config} /tmp/matplotlib && export MPLCONFIGDIR=/tmp/matplotlib" in note, note
    elsewhere = top / "traced-elsewhere"  # a trace planned on another machine: not here to read
    unread = plan({f"{elsewhere}/.config/matplotlib": C}, home=elsewhere)
    assert "MPLCONFIGDIR" not in unread.env and "MATPLOTLIBRC" not in unread.env, unread


def test_data_the_command_keeps_renamed_to_a_name_it_freed_stays_its_data(tmp_path: Path) -> None:
    """dbm.dumb's commit: store.bak removed, store.dir (appended to) renamed onto it, store.dir
    written anew. store.bak holds kept data again: the directory is the data the command keeps
    (a seeded persistent mount), not one that held a file it did not keep."""
    app = _tree(tmp_path / "app", "db/store.dat", "db/store.dir", "db/store.bak")
    db = f"{app}/db"
    plan = _plan(
        _opened(f"{db}/store.dat", "O_RDWR", op="open"),
        _opened(f"{db}/store.dir", "O_WRONLY|O_APPEND", op="open"),
        event(f"{db}/store.bak", "delete", 0, syscall="unlink"),
        event(f"{db}/store.dir", "rename", 0, target=f"{db}/store.bak", syscall="rename"),
        _opened(f"{db}/store.dir", "O_WRONLY|O_CREAT|O_TRUNC"),
        states={app: C, db: C},
        cwd=app,
    )
    assert plan.blocked == [] and plan.persistent == plan.seeded == [db], plan


def test_a_rename_between_the_read_only_root_and_a_writable_place_gets_its_mount() -> None:
    """os.replace of a temporary file made in /tmp into the app's state/, and a message moved
    out of the app's queue/ into /tmp: under a read-only root each fails with EXDEV, not EROFS,
    and the end on the root was given no mount: the plan said nothing and the app died. It is
    mounted, and the crossing of two mounts noted."""
    plan = _plan(
        event("/tmp/tmpab12cd34", "create"),
        event("/tmp/tmpab12cd34", "rename", 0, target="/srv/app/state/current.json", syscall="rename"),
        event("/srv/app/queue/m1.msg", "rename", 0, target="/tmp/m1.msg", syscall="rename"),
        states={"/srv/app/state": E, "/srv/app/queue": E},
    )
    assert plan.mounts == ["/srv/app/queue", "/srv/app/state", "/tmp"] and plan.blocked == [], plan
    assert any("from /tmp to /srv/app/state" in n and "EXDEV" in n for n in plan.notes), plan.notes


def test_a_hard_link_from_a_file_of_before_the_run_into_a_writable_place_is_noted() -> None:
    """os.link(app/state/shipped, /tmp/x): under the plan a link cannot cross from the read-only
    root to /tmp's mount (EXDEV), and no mount may cover state/ (it would hide the file): git
    copies then, os.link does not. Noted, as a crossing of two mounts is, where the plan said
    nothing; not refused (git clone's plan holds). A file the run made has its directory
    mounted, and the crossing of the two mounts is noted."""
    shipped = event("/tmp/x", "link", 0, target="/srv/app/state/shipped", syscall="link")
    plan = _plan(shipped, states={"/srv/app/state": C})
    assert plan.blocked == [] and plan.mounts == ["/tmp"], plan
    said = "1 hard link between /tmp and a file of the read-only root (e.g. /tmp/x to /srv/app/state/shipped)"
    assert any(said in n and "EXDEV" in n for n in plan.notes), plan.notes
    made = _plan(
        event("/srv/app/state/fresh", "create"),
        event("/tmp/x", "link", 0, target="/srv/app/state/fresh", syscall="link"),
        states={"/srv/app/state": E},
    )
    assert made.blocked == [] and "/srv/app/state" in made.mounts, made
    assert any(
        "hard link from /tmp to /srv/app/state" in n and "two of the plan's mounts" in n for n in made.notes
    )


def test_a_venvs_interpreter_the_command_ran_is_the_applications(tmp_path: Path) -> None:
    """The command was a venv's `bin/python` under /var/tmp: a symlink to the system's
    interpreter, which /proc names as the executable. The plan made /var/tmp an empty tmpfs,
    hiding the interpreter the command runs (bwrap: execvp ENOENT). The name it was run by, as
    argv[0] gives it or PATH finds it, is the application's: /var/tmp is not mounted, with a note."""
    import sys

    from rotrace.pipeline import programs
    from rotrace.record import TraceHeader

    real = os.path.realpath(sys.executable)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").symlink_to(real)
    by_path = ProcessInfo(7, 1, 0, real.encode(), (str(tmp_path / "bin" / "python"), "-c", "x"))
    by_name = ProcessInfo(8, 1, 0, real.encode(), ("python", "-c", "x"))
    header = TraceHeader(
        ["python"], "/", 0, processes=[by_path, by_name], environment={"PATH": f"{tmp_path}/bin"}
    )
    assert {str(tmp_path / "bin" / "python"), real} <= programs(header)
    alone = TraceHeader(["python"], "/", 0, processes=[by_name], environment={"PATH": "/nowhere"})
    assert programs(alone) == {real}


def test_files_written_whole_where_they_were_are_kept_as_an_atomic_save_keeps_them(tmp_path: Path) -> None:
    """setuptools' egg_info writes its .egg-info files whole (open 'w': O_TRUNC) over those of
    the last build: the directory held files, so it was refused ("no mount can make it
    writable"), where the same files saved atomically (a rename over each) were kept data, a
    seeded persistent mount. Both are; a directory that also holds a file not written is not."""
    egg = tmp_path / "src" / "pkg.egg-info"
    egg.mkdir(parents=True)
    for name in ("SOURCES.txt", "top_level.txt"):
        (egg / name).write_text("pkg\n")
    writes = [
        _opened(str(egg / n), "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC") for n in ("SOURCES.txt", "top_level.txt")
    ]
    plan = _plan(*writes, states={str(tmp_path): C, str(egg): C}, cwd=str(tmp_path))
    assert (plan.mounts, plan.persistent, plan.seeded, plan.blocked) == (
        [str(egg)],
        [str(egg)],
        [str(egg)],
        [],
    )
    (egg / "PKG-INFO").write_text("kept from before\n")  # not written by the run: hidden by a mount
    plan = _plan(*writes, states={str(tmp_path): C, str(egg): C}, cwd=str(tmp_path))
    assert plan.mounts == [] and [b.point for b in plan.blocked] == [str(egg)], plan


def test_no_build_step_for_bytecode_of_modules_the_command_generates() -> None:
    """Mako's module_directory: the command makes mako_modules/, writes the templates' modules
    there and their bytecode beside them. The plan mounts mako_modules (a tmpfs) and also said to
    compile it at build time: the image has no such directory, and the mount would hide what a
    build put there. The project's own bytecode still gets its step."""
    made = "/srv/app/mako_modules"
    plan = _plan(
        event(made, "mkdir", 0),
        event(f"{made}/page.html.py", "create"),
        event(f"{made}/__pycache__", "mkdir", 0),
        event(f"{made}/__pycache__/page.html.cpython-311.pyc", "create"),
        event("/srv/app/pkg/__pycache__/m.cpython-311.pyc", "create"),
        states={"/srv/app": C, made: A, "/srv/app/pkg/__pycache__": A},
    )
    assert plan.mounts == [made] and plan.env == {"PYTHONDONTWRITEBYTECODE": "1"}, plan
    assert plan.build_steps == ["python3 -m compileall -q -l /srv/app/pkg"], plan


def test_a_file_deleted_then_written_whole_is_the_builds_own_not_data_it_keeps(tmp_path: Path) -> None:
    """mkdocs' second build: each old file deleted, then written whole (`open(p, "w")`:
    O_TRUNC). A file written whole over one the directory held is data the command keeps
    (setuptools' .egg-info, a report written over: a seeded persistent mount), and so was each
    of these, so site/ was refused ("held files") and the build failed under its plan. Deleted
    first, the file is as fresh as one made in a directory the run made: an empty mount."""
    app = _tree(tmp_path / "app", "site/index.html", "site/404.html", "report/summary.txt")
    written = "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC"
    rebuilt = [
        event(f"{app}/site/index.html", "delete", 0, syscall="unlink"),
        event(f"{app}/site/404.html", "delete", 0, syscall="unlink"),
        _opened(f"{app}/site/index.html", written),
        _opened(f"{app}/site/404.html", written),
        _opened(f"{app}/report/summary.txt", written),  # written over, never deleted
    ]
    plan = _plan(*rebuilt, states={app: C, f"{app}/site": C, f"{app}/report": C}, cwd=app)
    report, site = f"{app}/report", f"{app}/site"
    assert (plan.mounts, plan.persistent, plan.blocked) == ([report, site], [report], []), plan


def test_a_directory_emptied_and_filled_with_a_deep_chain_is_walked_without_recursion(tmp_path: Path) -> None:
    """A command that deletes what a directory held and leaves a chain of directories deeper
    than Python's recursion there: the check of what it holds (os.walk, recursive in 3.11)
    raised RecursionError, and the run's report, and `rotrace report` of its trace, ended in
    an internal error with no verdict."""
    app = _tree(tmp_path / "app", "out/old.html")
    (app_out := Path(app) / "out" / "old.html").unlink()
    chain, made = app_out.parent, []
    for _ in range(1050):  # past the recursion limit (1000)
        chain = chain / "d"
        made.append(event(str(chain), "mkdir", 0))
    subprocess.run(["sh", "-c", "i=0; while [ $i -lt 1050 ]; do mkdir d && cd d || exit 1; i=$((i+1)); done"],
                   cwd=app_out.parent, check=True)  # fmt: skip
    deleted = event(f"{app}/out/old.html", "delete", 0, syscall="unlink")
    try:
        plan = _plan(deleted, *made, states={app: C, f"{app}/out": C}, cwd=app)
    finally:  # removed here: pytest's own removal of tmp_path recurses too
        subprocess.run(["rm", "-rf", str(app_out.parent / "d")], check=True)
    assert plan.mounts == [f"{app}/out"] and plan.blocked == [], plan


def test_a_cache_a_run_found_in_its_cache_home_gets_an_empty_mount() -> None:
    """pdm's HTTP cache (an SQLite database updated in place) in ~/.cache of a home the known
    writers' table does not name: "held files, never a persistent volume in a hidden directory",
    no mount at all, where the run before (a cold cache) got one. A cache is made again: a tmpfs,
    not persistent; so below $XDG_CACHE_HOME. The mount is the program's own directory there:
    tldextract's warm run took a lock in its publicsuffix.org-tlds/, and with only that hidden
    it refilled its urls/ beside it (EROFS)."""
    for environment, cache in (
        ({"HOME": "/srv/h"}, "/srv/h/.cache"),
        ({"XDG_CACHE_HOME": "/srv/c"}, "/srv/c"),
    ):
        db = event(f"{cache}/pdm/http/http-cache.db", "create")._replace(flags="O_RDWR|O_CREAT|O_CLOEXEC")
        plan = _plan(db, states={f"{cache}/pdm/http": C, f"{cache}/pdm": C}, environment=environment)
        assert plan.blocked == [] and plan.mounts == [f"{cache}/pdm"] and plan.persistent == [], plan
        tlds = f"{cache}/python-tldextract/3.11.2.final__v__cc6ca1__tldextract-5.4.0/publicsuffix.org-tlds"
        lock = event(f"{tlds}/de84b5ca2167d4c83e38fb162f2e8738.tldextract.json.lock")
        plan = _plan(lock, states={tlds: C, os.path.dirname(tlds): C}, environment=environment)
        assert plan.mounts == [f"{cache}/python-tldextract"] and plan.blocked == [], plan
    elsewhere = event("/srv/h/.config/pdm/db", "create")._replace(flags="O_RDWR|O_CREAT|O_CLOEXEC")
    held = _plan(elsewhere, states={"/srv/h/.config/pdm": C}, environment={"HOME": "/srv/h"})
    assert [b.point for b in held.blocked] == ["/srv/h/.config/pdm"], held  # no cache: kept refused
    data = event("/srv/pp/proj/data/app.db", "create")._replace(flags="O_RDWR|O_CREAT|O_CLOEXEC")
    cache = {"XDG_CACHE_HOME": "/srv/pp"}
    app = _plan(data, states={"/srv/pp/proj/data": C}, cwd="/srv/pp/proj", environment=cache)
    assert [b.point for b in app.blocked] == ["/srv/pp/proj/data"], app  # the app's tree is no cache


def test_a_write_below_a_policys_persistent_place_is_on_that_mount() -> None:
    """`persistent = ["/srv/pp/data"]`, allowed: a write into data/sub, which held files, was
    "an allowed write no mount can make writable (data/sub): they fail there", where the run
    under --read-only --policy had just made it on the policy's persistent mount."""
    from rotrace.policy.mounts import MountPlanner

    verdicts = classify(event("/srv/pp/data/sub/new.txt"), allow=["/srv/pp/data"])
    planner = MountPlanner("/srv/pp/proj", {b"/srv/pp/data/sub": C, b"/srv/pp/data": C})
    planner.know_persistent(["/srv/pp/data"])
    for v in verdicts:
        planner.learn(v)
    for v in verdicts:
        planner.place(v)
    plan = planner.plan()
    assert plan.blocked == [] and plan.mounts == plan.persistent == ["/srv/pp/data"], plan
    assert not [n for n in plan.notes if "fail there" in n or "holds data" in n], plan.notes


def _planned(verdicts, states, cwd, *, environment=None, programs=(), app=(), persistent=()):  # type: ignore[no-untyped-def]
    from rotrace.policy.mounts import MountPlanner

    planner = MountPlanner(cwd, {os.fsencode(k): v for k, v in states.items()})
    planner.know_environment(environment or {})
    planner.know_run(enforced=False, command_failed=False, programs=frozenset(programs), app=frozenset(app))
    planner.know_persistent(persistent)
    for v in verdicts:
        planner.learn(v)
    for v in verdicts:
        planner.place(v)
    return planner.plan()


def test_a_cache_that_holds_a_program_the_run_ran_or_the_app_is_no_cache() -> None:
    """Playwright's browser in ~/.cache/ms-playwright, run by the command: the cache home's empty
    mount hid it (FileNotFoundError under the plan). XDG_CACHE_HOME above the app, started from
    `/`: the app's conf/ got an empty mount. Neither is a cache to lose."""
    lock = classify(event("/srv/h/.cache/ms-playwright/__dirlock"))
    states = {"/srv/h/.cache/ms-playwright": C}
    chrome = "/srv/h/.cache/ms-playwright/chromium-1/chrome"
    plan = _planned(lock, states, "/", environment={"HOME": "/srv/h"}, programs=[chrome])
    assert [b.point for b in plan.blocked] == ["/srv/h/.cache/ms-playwright"], plan
    conf = classify(event("/srv/c/app/conf/new.ini"))
    plan = _planned(conf, {"/srv/c/app/conf": C}, "/", environment={"XDG_CACHE_HOME": "/srv/c"},
                    app=["/srv/c/app/main.py"])  # fmt: skip
    assert [b.point for b in plan.blocked] == ["/srv/c/app/conf"], plan


def test_a_policys_persistent_place_that_would_hide_the_app_or_the_system_is_not_taken() -> None:
    """`persistent = ["/"]` (or the application's directory, or a tree of programs): the plan
    bound / to itself, and a write outside the policy reached the host under the bwrap plan."""
    write = classify(event("/srv/pp/app/data/b.db"), allow=["/srv/pp/app/data"])
    for place in ("/", "/srv/pp/app", "/usr/local", "/srv"):
        plan = _planned(write, {"/srv/pp/app/data": C}, "/srv/pp/app", persistent=[place])
        assert place not in plan.mounts and place not in plan.persistent, (place, plan)


def test_a_venv_made_in_a_directory_found_empty_is_the_commands() -> None:
    """`python -m venv env` under the plan of its own plain run (its mount point env/ made
    first, as the policy asks): re-planned, "a mount over a virtual environment hides the
    environment" (allow = [], exit 1), though env/ held nothing before the run."""
    made = [
        event("/srv/p/env/pyvenv.cfg", "create"),
        event("/srv/p/env/bin", "mkdir", 0),
        event("/srv/p/env/bin/python", "symlink", 0, target="/usr/bin/python3", syscall="symlink"),
    ]
    plan = _plan(*made, states={"/srv/p/env": E, "/srv/p": C}, cwd="/srv/p")
    assert plan.blocked == [] and plan.mounts == ["/srv/p/env"], plan


def test_a_setting_holding_fields_is_not_written_into_a_plan() -> None:
    """PYTEST_ADDOPTS holding an ODBC `PWD=` the masking missed: the plan set it as the run had
    it, into every export (a manifest to commit, a policy's [env], a command line)."""
    addopts = "--dsn DRIVER=x;UID=sa;PWD=hunter2"
    plan = _plan(
        event("/srv/app/out/report.xml", "create"),
        states={"/srv/app": C, "/srv/app/out": E},
        environment={"PYTEST_ADDOPTS": addopts},
        ran=frozenset({"pytest"}),
    )
    assert "PYTEST_ADDOPTS" not in plan.env and not any("hunter2" in n for n in plan.notes), plan


def test_a_data_place_shipped_with_an_empty_directory_for_the_commands_output(tmp_path: Path) -> None:
    """A job keeps its queue's database in data/ and writes its results in data/out/, shipped
    empty in the image: data/ held only that empty directory (and the database), and was
    refused ("an empty mount over it would hide them") where the same app without out/ shipped
    got a persistent volume. A subdirectory holding only what the command keeps or made is
    data too; one holding a file from before the run the command did not keep is not."""
    app = _tree(tmp_path / "app", "data/q.db", "data/out/1.txt")
    (tmp_path / "app/data/empty/deeper").mkdir(parents=True)
    job = [
        event(f"{app}/data/out", "mkdir", "EEXIST", syscall="mkdir"),
        _opened(f"{app}/data/q.db", "O_RDWR|O_CREAT|O_NOFOLLOW|O_CLOEXEC"),
        event(f"{app}/data/q.db-journal", "create"),
        event(f"{app}/data/q.db-journal", "delete", 0, syscall="unlink"),
        _opened(f"{app}/data/out/1.txt", "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC"),
    ]
    states = {app: C, f"{app}/data": C, f"{app}/data/out": E}
    plan = _plan(*job, states=states, cwd=app)
    assert plan.mounts == plan.persistent == [f"{app}/data"] and plan.blocked == [], plan
    (tmp_path / "app/data/empty/deeper/notes.txt").write_text("from before the run, not kept")
    refused = _plan(*job, states=states, cwd=app)
    assert [(b.point, b.kind) for b in refused.blocked] == [(f"{app}/data", "held")], refused


def test_a_cache_read_back_in_place_still_takes_its_setting(tmp_path: Path) -> None:
    """mypy --sqlite-cache's warm run updates .mypy_cache/3.11/cache.db where it lay: read back,
    so the setting that moves it was not counted on (coverage run -a appends to .coverage, which
    its setting would start without), and the plan both set MYPY_CACHE_DIR and refused the
    cache's directory. A cache is built again where it is missing: its setting stands. Data
    read back (coverage's) stays as it was planned."""
    top = fixed_name_dir("rotrace-app-", "/var/tmp")
    app = _tree(top, ".mypy_cache/3.11/cache.db", ".coverage")  # outside the allowlist's /tmp
    cache = f"{app}/.mypy_cache/3.11"
    warm = [
        _opened(f"{cache}/cache.db", "O_RDWR|O_CREAT|O_NOFOLLOW|O_CLOEXEC"),
        _opened(f"{cache}/cache.db-wal", "O_RDWR|O_CREAT|O_NOFOLLOW|O_CLOEXEC"),
        _opened(f"{cache}/cache.db-shm", "O_RDWR|O_CREAT|O_NOFOLLOW|O_CLOEXEC"),
    ]
    plan = _plan(*warm, states={app: C, f"{app}/.mypy_cache": C, cache: C}, cwd=app)
    appended = _plan(_opened(f"{app}/.coverage", "O_RDWR|O_CREAT|O_CLOEXEC"), states={app: C}, cwd=app)
    shutil.rmtree(top)
    assert plan.env == {"MYPY_CACHE_DIR": "/tmp/mypy-cache"} and plan.blocked == [], plan
    assert "COVERAGE_FILE" not in appended.env and appended.blocked, appended


def test_uvs_bytecode_compiled_at_run_time_is_said_so_and_its_setting_left_out() -> None:
    """`UV_COMPILE_BYTECODE=1 uv run`: uv 0.9 compiles the environment with a Python running
    its pip_compileall.py, not itself: the writes were "bytecode written by Python" (the fix
    PYTHONDONTWRITEBYTECODE, which does not stop it), and the plan kept UV_COMPILE_BYTECODE=1,
    the cause, in every export."""
    classifier = Classifier(build_allowlist([], None))
    compiler = ("/srv/app/.venv/bin/python", "-I", "/tmp/.tmpAbC123/pip_compileall.py")
    classifier.know([ProcessInfo(7, 1, 0, b"/usr/bin/uv", ("uv", "run", "app")),
                     ProcessInfo(8, 7, 0, b"/usr/bin/python3.11", compiler)])  # fmt: skip
    pyc = event("/srv/app/.venv/lib/python3.11/site-packages/m/__pycache__/a.cpython-311.pyc", pid=8)
    classifier.learn(pyc)
    verdict = classifier.classify(pyc, b"/srv/app/.venv")
    assert verdict.explanation is BY_ID["uv-compile-bytecode"], verdict.explanation
    run = {"UV_COMPILE_BYTECODE": "1", "UV_FROZEN": "true"}
    plan = plan_mounts([verdict], CWD, {b"/srv/app": C}, environment=run, ran=frozenset({"uv", "python3.11"}))
    assert plan.env == {"UV_FROZEN": "true"}, plan
    python = ("python3.11", "main.py")  # Python importing the environment's modules: not uv's
    assert explain(pyc._replace(pid=9), b"/srv/app/.venv", " ".join(python)) is BY_ID["venv-bytecode"]


def test_a_writers_place_in_the_home_is_only_there() -> None:
    """`huggingface-cli download --local-dir models/tiny` keeps a .cache/huggingface of its own
    beside the files: read as Hugging Face's cache, the plan set HF_HOME (which leaves it where
    it is) and mounted nothing, and the command died EROFS under it. Names of a place in the home
    are that place only in the home: /root, /home/NAME, or the run's HOME elsewhere."""
    local = "/srv/app/models/tiny/.cache/huggingface"
    writes = [event(f"{local}/.gitignore", "create"), event(f"{local}/download/config.json.lock", "create")]
    states = {"/srv/app/models/tiny": C, "/srv/app/models/tiny/.cache": C, local: A}
    plan = _plan(*writes, states=states, home="/root", environment={"HOME": "/root"})
    assert "HF_HOME" not in plan.env and plan.mounts == [local], plan
    for home in ("/root", "/home/app", "/app"):
        cache = event(f"{home}/.cache/huggingface/hub/models--x/blobs/abc", "create")
        plan = _plan(cache, states={home: C}, home=home, environment={"HOME": home})
        assert plan.env.get("HF_HOME") == "/tmp/huggingface" and plan.mounts == ["/tmp"], (home, plan)
    # under a home, below the project: still the project's own
    plan = _plan(event(f"/home/app/proj/{local[9:]}/.gitignore", "create"), states={"/home/app/proj": C})
    assert "HF_HOME" not in plan.env, plan
    # the local directory is the home itself (a container's HOME=/app, WORKDIR=/app): its
    # download/ metadata and .gitignore are no place of the cache's (hub/, token...)
    here = "/app/.cache/huggingface"
    made = [event(d, "mkdir", 0) for d in ("/app/.cache", here, f"{here}/download")]
    writes = [
        *made,
        event(f"{here}/.gitignore", "create"),
        event(f"{here}/download/config.json.lock", "create"),
    ]
    states = {"/app": C, "/app/.cache": A, here: A, f"{here}/download": A}
    plan = _plan(*writes, states=states, home="/app", environment={"HOME": "/app"})
    assert "HF_HOME" not in plan.env and plan.mounts == ["/app/.cache"], plan


def test_jupyters_data_directory_that_held_kernel_specs_is_not_moved() -> None:
    """`jupyter server` writes its runtime files in ~/.local/share/jupyter/runtime; the data
    directory above held the user's kernel specs. JUPYTER_DATA_DIR moved the whole tree to /tmp,
    and the served kernel specs lost the user's: only the runtime directory's setting is kept."""
    data = "/root/.local/share/jupyter"
    writes = [
        event(f"{data}/runtime/jpserver-1.json", "create"),
        event(f"{data}/runtime/kernel-1.json", "create"),
    ]
    plan = _plan(*writes, states={data: C, f"{data}/runtime": C}, home="/root", environment={"HOME": "/root"})
    assert plan.env == {"JUPYTER_RUNTIME_DIR": "/tmp/jupyter/runtime"} and plan.mounts == ["/tmp"], plan
    workspace = event(f"{data}/lab/workspaces/default-37a8.jupyterlab-workspace", "create")
    plan = _plan(*writes, workspace, states={data: C, f"{data}/runtime": C}, environment={"HOME": "/root"})
    assert "JUPYTER_DATA_DIR" not in plan.env, plan


def test_a_directory_holding_only_a_programs_own_bookkeeping_is_mountable(tmp_path: Path) -> None:
    """A warm `uvx`: ~/.local/share/uv/tools held only uv's .lock and .gitignore (no tool), and
    the plan refused it ("held files before the run"), so every plan broke the tool with EROFS;
    an empty mount there hides nothing. Where it holds anything else it stays refused, and a
    place not on this machine says so rather than that its files would be hidden."""
    home = tmp_path / "home"
    _tree(home, ".local/share/uv/tools/.lock", ".local/share/uv/tools/.gitignore")
    tools = f"{home}/.local/share/uv/tools"
    made = event(f"{tools}/.tmpAbC123", "mkdir", 0, syscall="mkdir")
    plan = _plan(made, states={tools: C}, cwd=str(tmp_path / "app"))
    assert plan.mounts == [tools] and plan.blocked == [], (plan.mounts, plan.blocked)
    (home / ".local/share/uv/tools/cowsay").mkdir()
    plan = _plan(made, states={tools: C}, cwd=str(tmp_path / "app"))
    assert [b.point for b in plan.blocked] == [tools]
    elsewhere = "/srv/not-on-this-machine/tools"
    plan = _plan(event(f"{elsewhere}/x", "create"), states={elsewhere: C}, cwd=str(tmp_path / "app"))
    assert [b.point for b in plan.blocked] == [elsewhere]
    assert "is not on this machine" in plan.blocked[0].reason, plan.blocked


def test_a_cache_its_writer_reads_offline_is_not_moved_by_its_setting() -> None:
    """`uv run --offline --with six` from a cache the image holds (UV_CACHE_DIR=/srv/cache):
    the plan set UV_CACHE_DIR=/tmp/uv-cache, an empty cache, where uv offline then found
    nothing to run. Offline (UV_OFFLINE, or --offline on uv's command line) the cache that
    held files is what uv reads: the setting is not made, nor an empty mount there; online,
    uv fetches again what the cache lacks, and the setting stands."""
    from rotrace.pipeline import Pipeline

    cache = "/srv/cache"
    events = [
        # a directory made on the way (uv's fresh interpreter entry, a temporary tree): were it
        # "made for the setting's place", the plan set the setting all the same, and said both
        event(f"{cache}/interpreter-v4/a1b2c3", "mkdir", 0, syscall="mkdir", exe=UV),
        event(f"{cache}/interpreter-v4/a1b2c3/x.msgpack", exe=UV),
        event(f"{cache}/sdists-v9/.git", exe=UV),
        event(f"{cache}/.tmpAbC123", exe=UV),
        event(f"{cache}/.tmpAbC123", "delete", 0, syscall="unlink", exe=UV),
    ]
    states = {cache.encode(): C, f"{cache}/sdists-v9".encode(): C, b"/srv/app": C,
              f"{cache}/interpreter-v4".encode(): E}  # fmt: skip

    def plan(environment: dict[str, str], argv: tuple[str, ...]):  # type: ignore[no-untyped-def]
        pipeline = Pipeline("/srv/app", states)
        verdicts = classify(*events)
        for v in verdicts:
            pipeline.add(v)
        uv = ProcessInfo(10, 1, 0, UV, argv)
        header = TraceHeader(list(argv), "/srv/app", 0, environment=environment, processes=[uv])
        pipeline.know_run(header)
        return pipeline.group(verdicts, keep_all=False)[1]

    online = plan({"UV_CACHE_DIR": cache}, ("uv", "run", "--with", "six", "python"))
    assert online.env.get("UV_CACHE_DIR") == "/tmp/uv-cache", online
    for environment, argv in (
        ({"UV_CACHE_DIR": cache, "UV_OFFLINE": "1"}, ("uv", "run", "--with", "six", "python")),
        ({"UV_CACHE_DIR": cache}, ("uv", "run", "--offline", "--with", "six", "python")),
    ):
        offline = plan(environment, argv)
        assert offline.env.get("UV_CACHE_DIR") == cache and cache not in offline.mounts, offline
        assert any("run offline, reads and cannot fetch again" in n for n in offline.notes), offline.notes
        assert [b.point for b in offline.blocked] == [cache], offline.blocked
        assert not any("UV_CACHE_DIR=/tmp/uv-cache" in b.describe() for b in offline.blocked)
        assert not any("set UV_CACHE_DIR" in n for n in offline.notes), offline.notes
    off = plan({"UV_OFFLINE": "0", "UV_CACHE_DIR": cache}, ("uv", "run"))  # a false value: online
    assert off.env["UV_CACHE_DIR"] == "/tmp/uv-cache"


def test_a_cache_read_offline_where_only_its_lock_was_written_is_not_moved() -> None:
    """uv >= 0.9 locks its cache (<cache>/.lock, made through <cache>/.tmpXXXXXX) before it reads
    it: `uvx cowsay` offline from the cache an image ships (UV_CACHE_DIR=/srv/uvcache) wrote only
    those two names, under a read-only root it died there, and the plan moved the cache to an
    empty /tmp/uv-cache, where uvx offline finds no tool. The run's setting names the cache's
    top where no subdirectory does; the plan keeps it, and keeps UV_OFFLINE, which it counts on."""
    from rotrace.pipeline import Pipeline

    cache = "/srv/uvcache"
    environment = {"UV_CACHE_DIR": cache, "UV_OFFLINE": "true"}
    events = [event(f"{cache}/.tmpAbC123", result="EROFS", exe=UV),
              event(f"{cache}/.lock", "open", "EROFS", exe=UV)]  # fmt: skip
    classifier = Classifier(build_allowlist([], None), environment=environment)
    for e in events:
        classifier.learn(e)
    verdicts = [classifier.classify(e) for e in events]
    assert [getattr(v.explanation, "id", None) for v in verdicts] == ["uv-cache", "uv-cache"], verdicts
    pipeline = Pipeline("/srv/app", {cache.encode(): C, b"/srv/app": C})
    for v in verdicts:
        pipeline.add(v)
    argv = ("uvx", "cowsay", "-t", "hi")
    uv = ProcessInfo(10, 1, 0, UV, argv)
    header = TraceHeader(list(argv), "/srv/app", 0, environment=environment, processes=[uv])
    pipeline.know_run(header)
    plan = pipeline.group(verdicts, keep_all=False)[1]
    assert plan.env.get("UV_CACHE_DIR") == cache and cache not in plan.mounts, plan
    assert plan.env.get("UV_OFFLINE") == "true", plan.env
    assert any("run offline, reads and cannot fetch again" in n for n in plan.notes), plan.notes


def test_uvs_temporary_cache_is_not_its_cache() -> None:
    """UV_NO_CACHE=true: uv's cache is a temporary directory in $TMPDIR, where it builds packages
    in isolated build environments (venvs): their writes were uv's cache, and the plan set
    UV_CACHE_DIR, which UV_NO_CACHE makes moot; read as environments changed at run time, the
    fix would be UV_NO_SYNC. They are uv's temporary cache: a writable $TMPDIR."""
    built = b"/tmp/.tmpQ2xY7z/builds-v0/.tmpAb12Cd"
    writes = [event(built + b"/lib/python3.11/site-packages/setuptools/__init__.py", exe=UV),
              event(b"/tmp/.tmpQ2xY7z/archive-v0/k3J9x/setuptools/__init__.py", exe=UV)]  # fmt: skip
    for e in writes:
        assert getattr(explain(e, built), "id", None) == "uv-no-cache", e
        assert getattr(explain(e, None), "id", None) == "uv-no-cache", e
    cached = event(b"/srv/uv/builds-v0/.tmpAb12Cd/lib/python3.11/site-packages/x.py", exe=UV)  # a cache's
    assert getattr(explain(cached, b"/srv/uv/builds-v0/.tmpAb12Cd"), "id", None) == "uv-cache"
    assert BY_ID["uv-no-cache"].env == () and "UV_CACHE_DIR" not in dict(BY_ID["uv-no-cache"].env)


def test_a_writer_known_offline_before_its_writes_are_placed_keeps_the_early_placements() -> None:
    """The report process places each write as the command runs; a writer seen to run offline
    only at the end (uv sync --offline) made every placement be made again (W2: 112 ms after
    the command, against 30). Known as the run shows it, the early placements stand; learnt
    after them, they are made again, and the plan is the offline one either way."""
    from rotrace.explain import offline_writers
    from rotrace.pipeline import Pipeline

    cache = "/srv/cache"
    events = [event(f"{cache}/sdists-v9/.git", exe=UV), event(f"{cache}/.tmpAbC123", exe=UV)]
    events += [event(f"/tmp/later-{i}") for i in range(Pipeline.LAG + 1)]  # uv's placed before the end
    states = {cache.encode(): C, f"{cache}/sdists-v9".encode(): C, b"/srv/app": C}
    argv = ("uv", "sync", "--offline")
    header = TraceHeader(list(argv), "/srv/app", 0, processes=[ProcessInfo(10, 1, 0, UV, argv)])
    for early in (True, False):
        pipeline = Pipeline("/srv/app", states)
        pipeline.planner.know_environment({})
        if early:  # as the report process does when uv's process starts
            pipeline.planner.know_offline(offline_writers({}, header.processes))
        pipeline.place_early(keep_all=False, enforced=False)
        verdicts = classify(*events)
        for v in verdicts:
            pipeline.add(v)
        _, plan = pipeline.second_pass(header, verdicts, keep_all=False)
        assert pipeline.placed_early == early
        assert "UV_CACHE_DIR" not in plan.env and any("run offline" in n for n in plan.notes), plan


SH = b"/usr/bin/sh"


def _poetry_install(pid: int, exe: bytes, cmdline: tuple[str, ...], check_by: int) -> list[Verdict]:
    """A command making .venv in the project the way poetry (virtualenv) does: the project
    checked for writability (by `check_by`), then the environment made there."""
    venv = f"{CWD}/.venv"
    events = [
        event(CWD, "access", 0, syscall="access", pid=check_by, exe=exe if check_by == pid else SH),
        event(venv, "mkdir", 0, syscall="mkdir", pid=pid, exe=exe),
        event(f"{venv}/bin", "mkdir", 0, syscall="mkdir", pid=pid, exe=exe),
        event(f"{venv}/pyvenv.cfg", pid=pid, exe=exe),
        event(f"{venv}/bin/python", "symlink", 0, syscall="symlink", pid=pid, exe=exe),
        event(f"{venv}/lib/python3.11/site-packages/six.py", pid=pid, exe=exe),
    ]
    classifier = Classifier(build_allowlist([], None))
    checker = [] if check_by == pid else [ProcessInfo(check_by, 1, 0, SH, ("sh", "start"))]
    classifier.know([ProcessInfo(pid, 1, 0, exe, cmdline), *checker])
    for e in events:
        classifier.learn(e)
    return [classifier.classify(e) for e in events]


def test_poetrys_in_project_environment_is_moved_by_its_settings_not_mounted() -> None:
    """`poetry install` with virtualenvs.in-project: a mount at .venv (a directory the command
    made) leaves an empty directory there, which poetry takes for a broken environment, removes,
    and fails. Its settings move the environment to the tmpfs instead, and virtualenv's check of
    the project it was about to make .venv in moves with it: the plan is clean. `python -m venv`
    takes an empty directory: its .venv is still the mount; and a check of the project by
    another program than the one that made the tree is still unmet."""
    python = b"/usr/bin/python3.11"
    poetry = ("/usr/bin/python3.11", "/opt/poetry/bin/poetry", "install")
    states = {CWD: C, f"{CWD}/.venv": A}
    plan = plan_mounts(_poetry_install(7, python, poetry, check_by=7), CWD, _states(states))
    assert plan.mounts == ["/tmp"] and plan.blocked == [] and plan.unmet == [], plan
    moved = {"POETRY_VIRTUALENVS_IN_PROJECT": "false", "POETRY_VIRTUALENVS_PATH": "/tmp/poetry-venvs"}
    assert plan.env == moved, plan
    venv = ("/usr/bin/python3.11", "-m", "venv", ".venv")
    plan = plan_mounts(_poetry_install(7, python, venv, check_by=7), CWD, _states(states))
    assert f"{CWD}/.venv" in plan.mounts and plan.env == {} and plan.unmet == [CWD], plan
    other = plan_mounts(_poetry_install(7, python, poetry, check_by=8), CWD, _states(states))
    assert "POETRY_VIRTUALENVS_PATH" in other.env and other.unmet == [CWD], other


def _states(states: dict[str, DirState]) -> dict[bytes, DirState]:
    return {os.fsencode(k): v for k, v in states.items()}


def test_datasets_cache_is_moved_alone_and_the_models_an_offline_run_reads_stay() -> None:
    """An offline app (HF_HUB_OFFLINE=1, its model in ~/.cache/huggingface/hub from the image)
    whose `datasets` writes ~/.cache/huggingface/datasets: the plan set HF_HOME=/tmp/huggingface,
    which moved the hub too, and the app found no model. The datasets' cache has a setting of its
    own; and offline, the hub that held files is not moved."""
    from rotrace.pipeline import Pipeline

    home = "/home/app"
    hub, data = f"{home}/.cache/huggingface/hub", f"{home}/.cache/huggingface/datasets"
    states = {b"/srv/app": C, hub.encode(): C, f"{home}/.cache/huggingface".encode(): C, data.encode(): A}

    def plan(environment: dict[str, str], *events: FileEvent):  # type: ignore[no-untyped-def]
        pipeline = Pipeline("/srv/app", states)
        verdicts = classify(*events, home=home)
        for v in verdicts:
            pipeline.add(v)
        run = {"HOME": home, **environment}
        header = TraceHeader(["python3", "infer.py"], "/srv/app", 0, environment=run)
        pipeline.know_run(header)
        return pipeline.group(verdicts, keep_all=False)[1]

    prepared = [event(data, "mkdir", 0, syscall="mkdir"), event(f"{data}/csv/cache-1.arrow")]
    moved = plan({"HF_HUB_OFFLINE": "1"}, *prepared)
    assert moved.env.get("HF_DATASETS_CACHE") == "/tmp/huggingface/datasets", moved
    assert "HF_HOME" not in moved.env, moved
    locked = event(f"{hub}/.locks/models--acme--tiny/abc.lock")
    offline = plan({"HF_HUB_OFFLINE": "1"}, locked)
    assert "HF_HOME" not in offline.env, offline  # it would hide the models the offline run reads
    online = plan({}, locked)
    assert online.env.get("HF_HOME") == "/tmp/huggingface", online


def test_a_plan_of_a_run_through_tox_says_its_settings_must_pass_tox() -> None:
    """tox gives its test environments only the variables tox.ini's passenv and setenv name:
    the plan's PYTHONDONTWRITEBYTECODE, set in the container, never reached the tests."""
    written = event("/srv/app/tests/__pycache__/t.cpython-311.pyc", exe=b"/srv/app/.tox/py/bin/python")
    through = _plan(written, states={"/srv/app/tests/__pycache__": C}, ran=frozenset({"tox", "python3.11"}))
    assert through.env.get("PYTHONDONTWRITEBYTECODE") == "1", through
    (said,) = [n for n in through.notes if n.startswith("the run went through tox")]
    assert "add PYTHONDONTWRITEBYTECODE to passenv" in said
    plain = _plan(written, states={"/srv/app/tests/__pycache__": C}, ran=frozenset({"python3.11"}))
    assert not any("tox" in n for n in plain.notes)


def test_pytests_basetemp_made_cold_is_no_mount_point() -> None:
    """`pytest --basetemp=bt` on a cold tree only makes bt; at each run it removes it and makes it
    anew, which a mount point there refuses (EBUSY, then FileExistsError): the plan mounted bt,
    exit 0, and every test using tmp_path failed under it."""
    argv = ("/srv/venv/bin/python3", "/srv/venv/bin/pytest", "-q", "--basetemp=bt", "t.py")
    pytest_run = ProcessInfo(100, 1, 0, b"/srv/venv/bin/python3", argv, None, b"/srv/app")
    made = [
        event("/srv/app/bt", "mkdir", 0, syscall="mkdir"),
        event("/srv/app/bt/test_a0", "mkdir", 0, syscall="mkdir"),
        event("/srv/app/bt/test_a0/x"),
    ]
    classifier = Classifier(build_allowlist([], None))
    classifier.know([pytest_run])
    for e in made:
        classifier.learn(e)
    verdicts = [classifier.classify(e) for e in made]
    assert getattr(verdicts[0].explanation, "id", None) == "pytest-basetemp", verdicts[0]
    plan = plan_mounts(verdicts, "/srv/app", {b"/srv/app": C})
    assert plan.mounts == [] and [b.point for b in plan.blocked] == ["/srv/app"], plan
    assert "--basetemp=/tmp/pytest-basetemp" in plan.blocked[0].describe()
    other = dataclasses.replace(verdicts[0], explanation=None)  # another program's directory: mounted
    assert plan_mounts([other, *verdicts[1:]], "/srv/app", {b"/srv/app": C}).mounts == ["/srv/app/bt"]


def test_a_directory_the_command_made_and_needs_to_own_is_said_in_the_plan() -> None:
    """A runtime's mount is root's where the run's own directory was its user's: a directory it
    made and then changed the mode of (a private state directory), or made a git repository in
    (git refuses one another user owns), is one it needs to own (MountPlan.reowned, which the
    exports say for a non-root run); one it only wrote in is not."""
    plan = _plan(
        event("/srv/work/priv", "mkdir", 0),
        event("/srv/work/priv", "chmod", 0, syscall="chmod"),
        event("/srv/work/store", "mkdir", 0),
        event("/srv/work/store/.git", "mkdir", 0),
        event("/srv/work/store/.git/HEAD", "create"),
        event("/srv/work/out", "mkdir", 0),
        event("/srv/work/out/r.txt", "create"),
        states={"/srv/work": C, "/srv/work/priv": A, "/srv/work/store": A, "/srv/work/out": A},
    )
    assert plan.created == ["/srv/work/out", "/srv/work/priv", "/srv/work/store"], plan
    assert plan.reowned == ["/srv/work/priv", "/srv/work/store"], plan


def test_a_directory_found_empty_and_read_back_loses_its_files_on_a_restart() -> None:
    """optuna's journal: appended to and read back (traced with --all-opens) in data/, which the
    command made, or which the image ships empty (`RUN mkdir -p data`). Made, the plan said a
    restart loses what it read back; found empty, the same tmpfs came with no word of it."""
    journal = "/srv/app/data/journal.log"
    read = FileEvent(1, 1, b"/usr/bin/python3", "openat", "open", journal.encode(), None, "O_RDONLY", None, 3,
                     False)  # fmt: skip
    for made in (True, False):
        events = [event("/srv/app/data", "mkdir", 0)] if made else []
        events += [_opened(journal, "O_WRONLY|O_CREAT|O_APPEND"), read]
        plan = _plan(*events, states={"/srv/app": C, "/srv/app/data": A if made else E}, cwd="/srv/app")
        assert plan.mounts == ["/srv/app/data"], plan
        said = [n for n in plan.notes if "read back files it had written there" in n]
        assert said and "`--persistent /srv/app/data`" in said[0], (made, plan.notes)
