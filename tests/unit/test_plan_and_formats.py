"""The mount plan's rules and the formats it is written in (pure: hand-built verdicts)."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from rotrace.events import DirState
from rotrace.export.formats import RENDERERS, Target, volume_name
from rotrace.policy.mounts import plan_mounts
from tests.unit.factories import classify, event

A, E, C = DirState.ABSENT, DirState.EMPTY, DirState.CONTENT
CWD = "/srv/app"


def _plan(*events, states=None, cwd=CWD):  # type: ignore[no-untyped-def]
    return plan_mounts(classify(*events), cwd, {os.fsencode(k): v for k, v in (states or {}).items()})


def test_created_directories_are_mounted_at_their_topmost_created_ancestor() -> None:
    plan = _plan(
        event("/srv/app/docs/_build/.doctrees", "mkdir", 0),
        event("/srv/app/docs/_build/.doctrees/index.doctree", "create"),
        event("/srv/app/.hypothesis", "mkdir", 0),
        event("/srv/app/.hypothesis/examples", "mkdir", 0),
        event("/srv/app/.hypothesis/examples/x", "create"),
        states={"/srv/app": C, "/srv/app/docs/_build": C, "/srv/app/docs/_build/.doctrees": A,
                "/srv/app/.hypothesis": A, "/srv/app/.hypothesis/examples": A},
    )  # fmt: skip
    assert plan.mounts == ["/srv/app/.hypothesis", "/srv/app/docs/_build/.doctrees"]  # not _build/, the app
    assert plan.blocked == []
    assert {k.id for k in plan.settings} == {"sphinx-doctrees", "hypothesis-db"}


def test_a_directory_that_held_files_is_never_mounted() -> None:
    plan = _plan(event("/srv/data/new.txt", "create"), event("/srv/empty/new", "create"),
                 states={"/srv/data": C, "/srv/empty": E})  # fmt: skip
    assert plan.mounts == ["/srv/empty"]
    (blocked,) = plan.blocked
    assert blocked.point == "/srv/data" and "held files" in blocked.reason and blocked.kind == "held"


def test_directories_made_under_a_temporary_name_and_renamed_into_place(tmp_path: Path) -> None:
    """uv's cache: a wheel unpacked into cache/.tmpX, renamed to cache/archive/ID. The
    directories inside keep the states recorded under their first names; on disk (where the
    planner looks after the run) they hold files now, which they did not before. (The app lives
    in tmp_path too, so /tmp is no scratch directory here.)"""
    cache = tmp_path / "cache"
    (cache / "archive" / "ID" / "pkg" / "sub").mkdir(parents=True)
    (cache / "archive" / "ID" / "pkg" / "sub" / "m.py").touch()
    (cache / "CACHEDIR.TAG").touch()
    c = str(cache)
    plan = _plan(
        event(f"{c}/archive", "mkdir", 0),
        event(f"{c}/.tmpX", "mkdir", 0),
        event(f"{c}/.tmpX/pkg", "mkdir", 0),
        event(f"{c}/.tmpX/pkg/sub", "mkdir", 0),
        event(f"{c}/.tmpX/pkg/sub/m.py", "create"),
        event(f"{c}/.tmpX", "rename", 0, target=f"{c}/archive/ID", syscall="rename"),
        states={c: C, f"{c}/archive": A, f"{c}/.tmpX": A, f"{c}/.tmpX/pkg": A, f"{c}/.tmpX/pkg/sub": A},
        cwd=str(tmp_path / "app"),
    )
    assert plan.mounts == [f"{c}/archive"]
    assert plan.blocked == []


def test_the_app_directory_a_venv_and_system_directories_are_blocked() -> None:
    plan = _plan(
        event("/srv/app/out.txt", "create"),
        event("/srv/app/.venv/.lock", "create", exe=b"/usr/bin/uv"),
        event("/etc/motd", "open"),
        event("/srv/new", "mkdir", 0),
        states={"/srv/app": C, "/srv/app/.venv": C, "/etc": C, "/srv": C, "/srv/new": A},
    )
    reasons = {b.point: b.reason for b in plan.blocked}
    assert {b.point: b.kind for b in plan.blocked} == {"/srv/app": "application", "/srv/app/.venv": "venv",
                                                        "/etc": "system"}  # fmt: skip
    assert "application directory" in reasons["/srv/app"]
    assert "virtual environment" in reasons["/srv/app/.venv"]
    assert "system directory" in reasons["/etc"]
    assert plan.mounts == ["/srv/new"]


def test_tmpfile_mkdir_eexist_and_scratch() -> None:
    tmpfile = event("/tmp", "create")
    tmpfile = type(tmpfile)(*[*tmpfile.astuple()[:7], "O_RDWR|O_TMPFILE", 0o600, 3, True])
    plan = _plan(tmpfile, event("/srv/app/x", "mkdir", "EEXIST"), event("/tmp/a/b/.tmpAbc123/f", "create"),
                 states={"/tmp": C})  # fmt: skip
    assert plan.mounts == ["/tmp"] and plan.blocked == []  # O_TMPFILE needs /tmp itself; EEXIST nothing


def test_several_known_writers_in_one_blocked_directory_are_counted() -> None:
    uv = b"/usr/bin/uv"
    writes = [event(f"/srv/app/.venv/lib/m{i}.dist-info/INSTALLER", "create", exe=uv) for i in range(3)]
    writes.append(event("/srv/app/.venv/.lock", "create", exe=uv))
    plan = _plan(*writes, states={"/srv/app/.venv": C})
    (blocked,) = plan.blocked
    text = blocked.describe()
    assert blocked.count == 4 and "(installer metadata, 3)" in text
    assert "(uv's environment lock, 1)" in text and "UV_NO_INSTALLER_METADATA=1" in text


def test_formats_are_machine_readable_and_cannot_be_injected() -> None:
    evil = "/srv/x\nversion = 2\nhostPID: true"
    plan = _plan(event(evil + "/f", "create"), event("/srv/app/.venv/.lock", "create", exe=b"/usr/bin/uv"),
                 states={evil: E, "/srv/app/.venv": C})  # fmt: skip
    target = Target(["sh", "-c", "x\ny"], container="web")
    policy = tomllib.loads(RENDERERS["policy"](plan, target).text)
    assert policy == {"version": 1, "defaults": True, "allow": [evil]}
    pod = yaml.safe_load(RENDERERS["k8s"](plan, target).text)  # a runtime reads options after ':'
    assert pod == {
        "spec": {"containers": [{"name": "web", "securityContext": {"readOnlyRootFilesystem": True}}]}
    }
    docker = RENDERERS["docker"](plan, target)
    assert docker.text.splitlines() == ["--read-only"] and docker.incomplete  # no line holds the name
    assert any("virtual environment" in n for n in docker.notes)
    assert any(n.startswith("/srv/x\\x0aversion") and "left out" in n for n in docker.notes)
    compose = RENDERERS["compose"](plan, target)  # podman-compose would read options after the ':'
    assert yaml.safe_load(compose.text) == {"services": {"web": {"read_only": True}}} and compose.incomplete


def test_every_format_says_how_many_merged_runs_wrote_under_each_mount() -> None:
    """A merged trace's coverage: a comment in the files, a note beside the argument lines (a
    comment line there would be read as an argument); a name in it cannot end the comment."""
    plan = _plan(event("/srv/cache/a", "create"), event("/srv/spool/b", "create"),
                 states={"/srv/cache": E, "/srv/spool": E})  # fmt: skip
    seen = (
        ("/srv/cache", "seen in 5 of 5 runs: web"),
        ("/srv/spool", "seen in 1 of 5 runs: jobs\nallow = ['/']"),
    )
    target = Target(["app"], coverage=seen)
    for fmt in ("policy", "k8s", "compose", "apparmor"):
        text = RENDERERS[fmt](plan, target).text
        assert "# /srv/cache: seen in 5 of 5 runs: web\n" in text, fmt
        assert "# /srv/spool: seen in 1 of 5 runs: jobs\\x0aallow = ['/']\n" in text, fmt
    assert tomllib.loads(RENDERERS["policy"](plan, target).text)["allow"] == ["/srv/cache", "/srv/spool"]
    for fmt in ("docker", "bwrap"):
        rendered = RENDERERS[fmt](plan, target)
        assert "seen in" not in rendered.text
        assert "/srv/cache: seen in 5 of 5 runs: web" in rendered.notes, fmt
    assert "seen in" not in RENDERERS["k8s"](plan, Target(["app"])).text  # one run: nothing to say


def test_non_utf8_mounts() -> None:
    plan = _plan(event(b"/srv/caf\xe9/f", "create"), states={"/srv/caf\udce9": E})
    target = Target(["x"])
    assert "allow_bytes" in tomllib.loads(RENDERERS["policy"](plan, target).text)
    k8s = RENDERERS["k8s"](plan, target)
    assert "volumeMounts" not in k8s.text and any("not valid UTF-8" in n for n in k8s.notes)


@pytest.mark.parametrize("path", ["/tmp", "/a/" + "b" * 80, "/x-/-y", "/Ünï/cödé", "/", "/a/b-", "/a.b/c_d"])
def test_volume_names_are_rfc1123_labels(path: str) -> None:
    import re

    taken: set[str] = set()
    name = volume_name(path, taken)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name), name
    assert volume_name(path, set()) == name  # stable
    assert volume_name(path, taken) != name  # unique


def test_two_paths_never_share_a_volume_name_whatever_the_plan_holds() -> None:
    """Named volumes outlive plans: /srv/x-y's is the same with or without /srv/x/y beside it."""
    alone = volume_name("/srv/x-y", set())
    taken: set[str] = set()
    both = [volume_name("/srv/x/y", taken), volume_name("/srv/x-y", taken)]
    assert both == [volume_name("/srv/x/y", set()), alone] and len(set(both)) == 2
    assert volume_name("/App", set()) != volume_name("/app", set()) == "app"


def test_a_path_whose_name_ends_like_a_hash_never_shares_a_volume_name() -> None:
    hashed = volume_name("/srv/Data/cache", set())
    digest = hashed.rpartition("-")[2]
    assert volume_name(f"/srv/data/cache/{digest}", set()) != hashed


@given(st.lists(st.text("aA0b-/_", min_size=1, max_size=12), min_size=2, max_size=2, unique=True))
def test_distinct_paths_get_distinct_volume_names(names: list[str]) -> None:
    paths = {"/" + "/".join(part for part in n.split("/") if part) for n in names}
    assume(len(paths) == 2)
    assert len({volume_name(p, set()) for p in paths}) == 2, paths


def test_bwrap_arguments_made_away_from_the_traced_tree_leave_its_mount_points_out(tmp_path: Path) -> None:
    """Traced where srv/app is, exported where it is not: a shadow of srv here would list
    this machine's srv and hide the application where the arguments run."""
    srv = tmp_path / "srv"
    (srv / "other").mkdir(parents=True)
    app = srv / "app"
    plan = _plan(
        event(f"{app}/.tox", "mkdir", 0),
        event(f"{app}/.tox/py/x", "create"),
        states={str(app): C, f"{app}/.tox": A},
        cwd=str(app),
    )
    assert plan.mounts == [f"{app}/.tox"]
    rendered = RENDERERS["bwrap"](plan, Target(["x"]))
    assert str(srv) not in rendered.text and f"{app}/.tox" not in rendered.text
    assert rendered.incomplete
    assert any(n.startswith(f"{app}/.tox: left out: {app}, which held it") for n in rendered.notes), (
        rendered.notes
    )
    (app).mkdir()  # where it is, the same plan holds
    here = RENDERERS["bwrap"](plan, Target(["x"]))
    assert not here.incomplete and f"--tmpfs\n{app}\n" in here.text and f"--dir\n{app}/.tox\n" in here.text


def test_the_policy_says_which_directories_enforce_needs_made_first() -> None:
    """Landlock grants only what exists when the run starts: a mount point the command made
    is to be created before `run --enforce --policy`."""
    plan = _plan(
        event("/srv/app/out", "mkdir", 0),
        event("/srv/app/out/x", "create"),
        event("/srv/app/data/y", "create"),
        states={"/srv/app": C, "/srv/app/out": A, "/srv/app/data": C},
    )
    text = RENDERERS["policy"](plan, Target(["x"], project="/srv/app")).text
    (line,) = [line for line in text.splitlines() if "--enforce" in line]
    assert line.startswith("# ") and line.endswith("the command made out: create them first")
    assert "out" in tomllib.loads(text)["allow"] and "data" not in line


def test_bwrap_arguments_for_a_persistent_place_the_command_made_and_absent_here_are_incomplete(
    tmp_path: Path,
) -> None:
    """mlflow's mlruns/, made by the traced run and persistent: exported on a fresh checkout
    (no mlruns yet) the arguments give it a tmpfs until it is made, and each restart lost the
    runs, while `allowlist` exited 0 with a note. Where it is, it is bound to itself."""
    app = tmp_path / "app"
    app.mkdir()
    store = app / "mlruns"
    plan = _plan(
        event(f"{store}", "mkdir", 0),
        event(f"{store}/0/meta.yaml", "create"),
        states={str(app): C, str(store): A},
        cwd=str(app),
    )
    plan = dataclasses.replace(plan, persistent=[str(store)])
    absent = RENDERERS["bwrap"](plan, Target(["x"]))
    assert absent.incomplete and any(
        n.startswith(f"{store}: its data must survive a restart, but the command made it")
        for n in absent.notes
    )
    store.mkdir()
    here = RENDERERS["bwrap"](plan, Target(["x"]))
    assert not here.incomplete and f"--bind-try\n{store}\n{store}\n" in here.text, here.text


def test_a_policys_comments_name_the_project_relatively() -> None:
    """usage.md: the policy names no machine paths; its comments did (the build step, a merged
    trace's coverage), so the same project regenerated from another checkout gave another file."""
    plan = _plan(
        event("/srv/ci1/app/out/r.txt"), states={"/srv/ci1/app": C, "/srv/ci1/app/out": E}, cwd="/srv/ci1/app"
    )
    plan = dataclasses.replace(plan, build_steps=["python3.11 -m compileall -q -l /srv/ci1/app/pkg"])
    seen = (("/srv/ci1/app/out", "seen in 2 of 2 runs: python3"),)
    text = RENDERERS["policy"](
        plan, Target(["python3", "/srv/ci1/app/main.py"], project="/srv/ci1/app", coverage=seen)
    ).text
    assert "/srv/ci1" not in text, text
    assert "# ./out: seen in 2 of 2 runs: python3" in text and "compileall -q -l ./pkg" in text
    other = Target(["app"], project="/srv/ci1/ap")  # a prefix of the name is no project
    assert "/srv/ci1/app/out" in RENDERERS["policy"](plan, dataclasses.replace(other, coverage=seen)).text
