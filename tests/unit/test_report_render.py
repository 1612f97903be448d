"""The report's words on what a failed write did to the command (report/render.py)."""

from __future__ import annotations

import pytest

from rotrace.events import DirState, FileEvent, ProcessInfo
from rotrace.pipeline import Pipeline
from rotrace.policy.mounts import MountPlan
from rotrace.policy.verdict import Verdict
from rotrace.record import TraceHeader
from rotrace.report.aggregate import Aggregate
from rotrace.report.present import present
from rotrace.report.view import View
from tests.unit.factories import classify, event

VENV = "/srv/app/.venv"


def _presented(
    capsys: pytest.CaptureFixture[str],
    verdicts: list[Verdict],
    header: TraceHeader,
    states: dict[bytes, DirState] | None = None,
) -> tuple[str, MountPlan]:
    """The report of these verdicts of a run (what it says on stderr), and its plan."""
    pipeline = Pipeline("/srv/app", states or {})
    for v in verdicts:
        pipeline.add(v)
    pipeline.know_run(header)
    aggregate, plan = pipeline.group(verdicts, keep_all=False)
    present(header, aggregate, plan, View(github=False), 1)
    return capsys.readouterr().err, plan


def _report(capsys: pytest.CaptureFixture[str], *events: FileEvent, exit_code: int) -> str:
    verdicts = classify(event(f"{VENV}/pyvenv.cfg", "open", 3, write=False), *events)
    header = TraceHeader(command=["python", "-c", "import mod"], cwd="/srv/app", exit_code=exit_code)
    return _presented(capsys, verdicts, header)[0]


def test_refused_bytecode_did_not_stop_a_command_that_failed(capsys: pytest.CaptureFixture[str]) -> None:
    """Python imports a module whose bytecode it could not write and goes on: a command that
    then failed for its own reason was not stopped by that write (the report said it was)."""
    bytecode = event(f"{VENV}/lib/python3.11/site-packages/__pycache__", "mkdir", "EROFS", syscall="mkdir")
    said = _report(capsys, bytecode, exit_code=3)
    assert "this is what stops it" not in said, said
    assert "not what stopped the command" in said, said


def test_a_venv_group_with_some_bytecode_refused_says_how_many(capsys: pytest.CaptureFixture[str]) -> None:
    """Bytecode written for most packages and refused for one another user installed: the
    group's line says how many failed, not that all of them did."""
    site = f"{VENV}/lib/python3.11/site-packages"
    made = [event(f"{site}/{m}/__pycache__", "mkdir", 0, syscall="mkdir") for m in ("a", "b", "c")]
    refused = event(f"{site}/locked/__pycache__", "mkdir", "EACCES", syscall="mkdir")
    said = _report(capsys, *made, refused, exit_code=0)
    assert "1 of these 4 writes failed and their writer carried on" in said, said
    assert "the others succeeded here" in said, said
    alone = _report(capsys, refused, exit_code=0)
    assert "these writes failed and their writer carried on" in alone and "the others" not in alone, alone


def test_a_known_writers_tree_is_one_group_named_from_below(capsys: pytest.CaptureFixture[str]) -> None:
    """pylint makes ~/.cache/pylint and writes its statistics there, which PYLINTHOME moves: the
    directory and its file were two groups (the file under ~/.cache as `pylint/stats`, the
    directory under its own name as `pylint/`, which reads as ~/.cache/pylint/pylint)."""
    home = "/home/u"
    events = [
        event(f"{home}/.cache", "mkdir", 0, syscall="mkdir"),
        event(f"{home}/.cache/pylint", "mkdir", 0, syscall="mkdir"),
        event(f"{home}/.cache/pylint/mod_1.stats"),
    ]
    header = TraceHeader(["pylint", "mod.py"], "/srv/app", 0, environment={"HOME": home})
    said, _ = _presented(capsys, classify(*events, home=home), header)
    (line,) = [line for line in said.splitlines() if line.startswith(f"  {home}/.cache/pylint ")]
    assert "2 writes · mkdir, create" in line and "e.g. mod_1.stats" in line, said
    assert "e.g. pylint/" not in said, said


def test_a_fix_that_is_the_mount_is_not_offered_to_avoid_it(capsys: pytest.CaptureFixture[str]) -> None:
    """A program's cache in ~/.cache, which only a mount holds for every program: the report
    said "to avoid the mount: a writable mount ..." (its own fix, the mount)."""
    home = "/home/u"
    events = [event(f"{home}/.cache", "mkdir", "EROFS", syscall="mkdir")]
    header = TraceHeader(["tool"], "/srv/app", 1, environment={"HOME": home})
    said, plan = _presented(capsys, classify(*events, home=home), header)
    assert [k.id for k in plan.settings] == ["xdg-cache"], plan.settings
    assert "a cache in ~/.cache (1): a writable mount (tmpfs, emptyDir) at its directory" in said, said
    assert "to avoid the mount" not in said, said


def test_a_mount_no_plan_can_make_is_not_offered_as_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    """`pipx run APP` (warm): the app runs from ~/.cache/pipx/HASH and locks a file beside it.
    The place is refused (it held files: the program itself), and the report, the export's note
    and the CI summary then gave "a writable mount at its directory in ~/.cache" as the fix:
    the mount just refused. A writer whose fix is the mount says what else may do there."""
    from rotrace.report.github import annotation_lines, step_summary

    home, tool = "/home/u", "/home/u/.cache/pipx"  # (its program in pipx/HASH)
    events = [event(f"{tool}/.0f3c.lock", "open", 3, syscall="openat")]
    app = ProcessInfo(100, 1, 0, f"{tool}/0f3c/bin/python".encode(), ("python", "-m", "app"))
    header = TraceHeader(["pipx", "run", "app"], "/srv/app", 0, environment={"HOME": home}, processes=[app])
    said, plan = _presented(capsys, classify(*events, home=home), header, {tool.encode(): DirState.CONTENT})
    assert [b.point for b in plan.blocked] == [tool] and [k.id for k in plan.blocked[0].explanations] == [
        "xdg-cache"
    ], plan
    aggregate, grouped = _grouped(header, events, home)
    texts = (said, plan.blocked[0].describe(), step_summary(header, aggregate, grouped),
             *annotation_lines(aggregate, grouped))  # fmt: skip
    for text in (t.replace("\\", "") for t in texts):  # (Markdown's escapes)
        assert "XDG_CACHE_HOME=/tmp/cache" in text, text
        assert "a writable mount (tmpfs, emptyDir) at its" not in text, text


def _grouped(header: TraceHeader, events: list[FileEvent], home: str) -> tuple[Aggregate, MountPlan]:
    pipeline = Pipeline("/srv/app", {b"/home/u/.cache/pipx": DirState.CONTENT})
    verdicts = classify(*events, home=home)
    for v in verdicts:
        pipeline.add(v)
    pipeline.know_run(header)
    return pipeline.group(verdicts, keep_all=False)


def test_a_refused_venv_write_a_writer_needs_is_what_stopped_it(capsys: pytest.CaptureFixture[str]) -> None:
    """uv's environment lock, refused: uv stops there, and the report says so."""
    lock = event(f"{VENV}/.lock", "create", "EROFS", exe=b"/usr/bin/uv")
    said = _report(capsys, lock, exit_code=2)
    assert "this is what stops it" in said, said


def test_a_fix_with_no_setting_is_not_called_a_setting(capsys: pytest.CaptureFixture[str]) -> None:
    """`pip install` into a venv the command made (what pipx does): the plan mounts the place,
    and the report's advice to install at build time is no setting (it said "a setting avoids
    the mount"), as the exports' notes say too."""
    from rotrace.events import ProcessInfo
    from rotrace.export.formats import _notes
    from rotrace.policy.allowlist import build_allowlist
    from rotrace.policy.verdict import Classifier

    home = "/srv/app/home/venvs/app"
    pip = ProcessInfo(100, 1, 0, b"/usr/bin/python3.11", ("python3.11", "-m", "pip", "install", "six"))
    events = [event(home, "mkdir", 0, syscall="mkdir"), event(f"{home}/pyvenv.cfg", "create")]
    events.append(event(f"{home}/lib/python3.11/site-packages/six.py", "create", exe=pip.exe))
    classifier = Classifier(build_allowlist([], None), [pip])
    for e in events:
        classifier.learn(e)
    verdicts = [classifier.classify(e) for e in events]
    header = TraceHeader(command=["pipx", "install", "six"], cwd="/srv/app", exit_code=0, processes=[pip])
    said, plan = _presented(capsys, verdicts, header, {b"/srv/app": DirState.CONTENT})
    assert [k.id for k in plan.settings] == ["pip-install"], plan.settings
    assert "packages installed at run time (3): to avoid the mount: install at build time" in said, said
    assert "a setting avoids" not in said and not any("a setting avoids" in n for n in _notes(plan))


def test_a_setting_the_plan_makes_is_said_under_what_to_change(capsys: pytest.CaptureFixture[str]) -> None:
    """`uv run` under --read-only died on its cache (~/.cache/uv): the plan sets UV_CACHE_DIR and
    mounts /tmp for it, but "What to change" said only "writable mounts: /tmp", which alone does
    not fix it. The settings the plan makes are listed there too; those it keeps as the run had
    them are not (nothing to change)."""
    cache = event("/root/.cache/uv/sdists-v9/.git", "create", "EROFS", exe=b"/usr/bin/uv")
    verdicts = classify(cache)
    pipeline = Pipeline("/srv/app", {b"/root/.cache/uv": DirState.CONTENT})
    for v in verdicts:
        pipeline.add(v)
    header = TraceHeader(command=["uv", "run", "app"], cwd="/srv/app", exit_code=2,
                         environment={"HOME": "/root", "PYTHONDONTWRITEBYTECODE": "1"})  # fmt: skip
    pipeline.know_run(header)
    aggregate, plan = pipeline.group(verdicts, keep_all=False)
    assert plan.changed.get("UV_CACHE_DIR") == "/tmp/uv-cache", plan
    present(header, aggregate, plan, View(github=False), 1)
    said = capsys.readouterr().err
    what = said.split("What to change", 1)[1].split("Violations", 1)[0]
    assert "→ settings: UV_CACHE_DIR=/tmp/uv-cache" in what and "PYTHONDONTWRITEBYTECODE" not in what, said


def test_a_venv_write_no_known_writer_explains_gets_a_fix_all_the_same(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """gradio writes hash_seed.txt into its package in the venv: "no mount can make it
    writable", and no fix, where every known writer's venv write has one."""
    seed = event(f"{VENV}/lib/python3.11/site-packages/gradio/hash_seed.txt", exe=b"/usr/bin/python3.11")
    said = _report(capsys, seed, exit_code=0)
    what = said.split("What to change", 1)[1].split("Violations", 1)[0]
    assert "no mount can make it writable" in what, said
    assert "fix: have the file made when the image is built" in what, said


def test_a_merged_traces_lines_each_stand_for_its_runs_writes(capsys: pytest.CaptureFixture[str]) -> None:
    """`report -v` of a merge of three runs ended a place's list with "… and 14 more (-v lists
    them)": its seven lines stood for 21 writes, and -v had listed every line."""
    import dataclasses

    verdicts = [dataclasses.replace(v, count=3, runs=(0, 1, 2)) for v in classify(
        *(event(f"/srv/out/{name}") for name in ("a", "b", "c", "d", "e", "f", "g"))
    )]  # fmt: skip
    pipeline = Pipeline("/srv/app", {})
    for v in verdicts:
        pipeline.add(v)
    header = TraceHeader(command=["tool"], cwd="/srv/app", exit_code=0)
    pipeline.know_run(header)
    aggregate, plan = pipeline.group(verdicts, keep_all=True)
    present(header, aggregate, plan, View(github=False, verbose=True), 1)
    err = capsys.readouterr().err
    assert sum(1 for line in err.splitlines() if line.strip().startswith("create ")) == 7, err
    assert "21 writes" in err and "more (-v lists them)" not in err, err


def test_a_pid_that_exec_d_from_a_script_to_its_interpreter_is_named_by_the_interpreter() -> None:
    """`poetry run python -m app`: poetry's console script exec's the venv's python in its own
    pid, whose writes (the app's bytecode) were blamed on `poetry`: the events do not say which
    image made them, so the pid is named by its executable, as for two scripts."""
    from rotrace.events import ProcessInfo

    py = b"/usr/bin/python3.11"
    poetry = ProcessInfo(100, 1, 0, py, ("/usr/bin/python3.11", "/v/bin/poetry", "run"), b"/v/bin/poetry")
    app = ProcessInfo(100, 1, 0, py, ("/app/.venv/bin/python", "-m", "app"))
    tool = ProcessInfo(200, 1, 0, py, ("/usr/bin/python3.11", "/v/bin/black", "."), b"/v/bin/black")
    header = TraceHeader(["poetry", "run", "python", "-m", "app"], "/app", 0, processes=[poetry, app, tool])
    assert header.script_names() == {("python3.11", 200): "black"}
