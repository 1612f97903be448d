"""Settings (env), build steps and persistent mounts in every format, read back by the real
parsers (PyYAML, tomllib, rotrace's own policy loader, bwrap's and docker's argument shapes);
and `--map HOST=IMAGE`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from rotrace.errors import BadInput, BadOption
from rotrace.export.formats import RENDERERS, Target
from rotrace.export.mapping import PathMap, parse_map
from rotrace.policy.allowlist import build_allowlist, load_policy
from rotrace.policy.mounts import MountPlan

VALUE = "a b $HOME ${X} \"q\" 'x' ;`id` #c"
BROKEN = "line\nbreak"  # no line of arguments can hold it


def _plan(**extra: object) -> MountPlan:
    plan = MountPlan(
        mounts=["/app/.cache", "/app/data"],
        persistent=["/app/data"],
        env={"APP_SETTING": VALUE, "PYTHONPYCACHEPREFIX": "/tmp/pycache"},
        build_steps=["python3 -m compileall -q /app"],
    )
    for key, value in extra.items():
        setattr(plan, key, value)
    return plan


def _render(fmt: str, plan: MountPlan | None = None) -> tuple[str, list[str], bool]:
    rendered = RENDERERS[fmt](plan or _plan(), Target(["app"]))
    return rendered.text, rendered.notes, rendered.incomplete


def _kubelet(value: str, env: dict[str, str]) -> str:
    """The kubelet's expansion of a command's or an env value's `$(NAME)` and `$$`
    (k8s.io/kubernetes/third_party/forked/golang/expansion): a defined NAME is its value, `$$`
    is `$`, anything else stays as written."""
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("$(", i) and ")" in value[i:]:
            end = value.index(")", i)
            name = value[i + 2 : end]
            out.append(env.get(name, value[i : end + 1]))
            i = end + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def test_k8s_values_come_back_from_the_kubelet_as_the_run_had_them() -> None:
    """The kubelet expands `$(NAME)` and `$$` in env values and commands: a setting written as
    it is (`/tmp/uv$(HOME)c`) would reach the app as /tmp/uv/rootc; the seed command of a
    directory named `st$$ate` would copy from `st$ate`."""
    values = {"UV_CACHE_DIR": "/tmp/uv$(HOME)c", "PIP_CACHE_DIR": "/tmp/pip$$c", "PLAIN": "/tmp/a$b"}
    data = "/app/st$$ate"
    plan = MountPlan(mounts=[data], persistent=[data], seeded=[data], env=values)
    text, _, _ = _render("k8s", plan)
    (container,) = yaml.safe_load(text)["spec"]["containers"]
    kubelet = {"HOME": "/root"}
    assert {e["name"]: _kubelet(e["value"], kubelet) for e in container["env"]} == values
    (command,) = [line.removeprefix("#   - ") for line in text.splitlines() if "cp -a" in line]
    seed = "ls -A /seed | read -r _ || ! test -d '/app/st$$ate' || cp -a '/app/st$$ate/.' /seed/"
    assert _kubelet(command, kubelet) == seed, command


def test_k8s_env_a_claim_for_the_persistent_mount_and_the_build_step_in_comments() -> None:
    text, notes, incomplete = _render("k8s")
    doc = yaml.safe_load(text)
    (container,) = doc["spec"]["containers"]
    assert container["env"] == [
        {"name": "APP_SETTING", "value": VALUE},
        {"name": "PYTHONPYCACHEPREFIX", "value": "/tmp/pycache"},
    ]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in doc["spec"]["volumes"]}
    assert volumes[mounts["/app/.cache"]]["emptyDir"] == {}
    claim = volumes[mounts["/app/data"]]["persistentVolumeClaim"]["claimName"]
    assert claim == mounts["/app/data"] == "app-data"
    comments = "\n".join(line[2:] for line in text.splitlines() if line.startswith("# "))
    (manifest,) = [d for d in yaml.safe_load_all(comments.split("---", 1)[1]) if d]
    assert manifest["kind"] == "PersistentVolumeClaim" and manifest["metadata"]["name"] == claim
    assert "python3 -m compileall -q /app" in comments
    assert any("/app/data" in n and "emptyDir there would lose it" in n for n in notes) and not incomplete


def test_compose_environment_doubles_dollars_and_a_named_volume_persists() -> None:
    text, notes, _ = _render("compose")
    doc = yaml.safe_load(text)
    service = doc["services"]["app"]
    assert service["environment"]["APP_SETTING"] == VALUE.replace("$", "$$")
    assert {"type": "volume", "source": "app-data", "target": "/app/data"} in service["volumes"]
    assert "/app/.cache:exec" in service["tmpfs"]
    assert doc["volumes"] == {"app-data": {}}
    assert any("named volume" in n for n in notes)
    # a new volume is root's where the image has no such directory: a non-root app cannot write it
    assert any("chown USER DIR" in n for n in notes) and any(
        "chown USER DIR" in n for n in _render("docker")[1]
    )


def test_docker_flags_env_lines_and_a_named_volume() -> None:
    text, notes, _ = _render("docker")
    lines = text.splitlines()
    assert "--mount=type=volume,src=app-data,dst=/app/data" in lines
    assert "--tmpfs=/app/.cache:exec" in lines and not any(
        line.startswith("--tmpfs=/app/data") for line in lines
    )
    assert f"--env=APP_SETTING={VALUE}" in lines
    assert any("compileall" in n for n in notes)


def test_bwrap_setenv_and_a_value_no_line_can_hold_left_out() -> None:
    text, notes, incomplete = _render("bwrap", _plan(env={"OK": VALUE, "BAD": BROKEN}))
    lines = text.splitlines()
    i = lines.index("--setenv")
    assert lines[i : i + 3] == ["--setenv", "OK", VALUE] and "BAD" not in lines
    assert incomplete and any("BAD" in n and "left out" in n for n in notes)


def test_a_setting_on_a_mount_the_format_leaves_out_is_left_out_with_it() -> None:
    """TMPDIR set to the directory the run's temporary files were renamed into, whose name holds
    a `:` (a mount k8s and compose leave out): the env kept TMPDIR, and every temporary file the
    app made was on the read-only root (EROFS), where without it /tmp's mount held them."""
    odd = "/app/a:b"
    plan = _plan(mounts=["/tmp", odd], persistent=[], env={"TMPDIR": odd, "MPLCONFIGDIR": "/tmp/mpl"})
    for fmt in ("k8s", "compose"):
        text, notes, incomplete = _render(fmt, plan)
        assert "TMPDIR" not in text and "/tmp/mpl" in text, text
        assert incomplete and any(n.startswith(f"setting TMPDIR={odd}: a place on {odd}") for n in notes)
    text, _, _ = _render("docker", plan)  # a line of flags holds the name: its mount and its setting
    assert f"--env=TMPDIR={odd}" in text.splitlines(), text
    # bwrap: a mount point whose parent is not on this machine (/app) is left out, so is TMPDIR
    text, notes, _ = _render("bwrap", plan)
    assert "TMPDIR" not in text.splitlines() and any(n.startswith("setting TMPDIR=") for n in notes)


def test_bwrap_leaves_out_a_value_that_would_start_a_line_with_a_workflow_command() -> None:
    """One argument per line: a value `::stop-commands::x` would be a GitHub Actions command in
    the step's log (the runner trims the line's blanks first); docker's `--env=` line holds it."""
    plan = _plan(env={"OK": VALUE, "CMD": " ::stop-commands::x"})
    text, notes, incomplete = _render("bwrap", plan)
    assert not any(line.lstrip().startswith("::") for line in text.splitlines()), text
    assert "CMD" not in text.splitlines() and incomplete
    assert any("CMD" in n and "left out" in n for n in notes)
    assert "--env=CMD= ::stop-commands::x" in _render("docker", plan)[0].splitlines()


def test_docker_and_compose_leave_out_what_they_cannot_hold_and_yaml_holds_a_line_break() -> None:
    plan = _plan(env={"BAD": BROKEN, "1NOT_A_NAME": "x"})
    text, notes, incomplete = _render("docker", plan)
    assert "--env" not in text and incomplete and len([n for n in notes if "left out" in n]) == 2
    k8s = yaml.safe_load(_render("k8s", plan)[0])
    assert k8s["spec"]["containers"][0]["env"] == [{"name": "BAD", "value": BROKEN}]


def test_apparmor_names_settings_in_comments_only() -> None:
    text, _, _ = _render("apparmor", _plan(env={"APP": "x\n/** rwx,"}))
    assert "rwx" not in "".join(line for line in text.splitlines() if not line.startswith("#"))
    assert any(line.startswith("# setting: APP=x") for line in text.splitlines())
    assert '"/app/data/" rw,' in text  # a persistent mount is writable too


def test_apparmor_says_a_build_step_is_the_image_builds_not_a_runtime_setting() -> None:
    text, _, _ = _render("apparmor")
    comments = [line for line in text.splitlines() if line.startswith("# ")]
    (step,) = [line for line in comments if "compileall" in line]
    build = "# image build step (Dockerfile RUN): python3 -m compileall -q /app"
    assert step == f"{build} (the image build runs it; a profile cannot)"
    assert "runtime sets it" not in step
    setting = next(line for line in comments if line.startswith("# setting: PYTHONPYCACHEPREFIX="))
    assert setting.endswith("(the runtime sets it; a profile cannot)")


def test_policy_carries_settings_and_persistent_mounts_and_reads_back(tmp_path: Path) -> None:
    text, _, incomplete = _render("policy")
    doc = tomllib.loads(text)
    assert doc["env"] == {"APP_SETTING": VALUE, "PYTHONPYCACHEPREFIX": "/tmp/pycache"}
    assert doc["persistent"] == ["/app/data"] and set(doc["allow"]) == {"/app/.cache", "/app/data"}
    assert "# image build step (Dockerfile RUN): python3 -m compileall -q /app" in text and not incomplete
    path = tmp_path / "p.toml"
    path.write_text(text)
    policy = load_policy(str(path))
    assert policy.env == doc["env"] and policy.persistent == ["/app/data"]
    assert {"/app/.cache", "/app/data"} <= set(build_allowlist([], load_policy(str(path))).entries)


def test_policy_relative_entries_mean_the_given_project_else_the_file_directory(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('defaults = false\nallow = ["data", "=state.json", "/abs"]\npersistent = ["data"]\n')
    assert build_allowlist(["x"], load_policy(str(path)), defaults=False, project="/app").entries == [
        "/app/data", "=/app/state.json", "/abs", "/app/x"
    ]  # fmt: skip
    assert build_allowlist([], load_policy(str(path)), defaults=False).entries[0] == str(tmp_path / "data")
    # persistent places read as the allow entries are: against the project a trace names, where
    # `check` read them against the policy's directory (a trace checked elsewhere: not allowed)
    assert load_policy(str(path)).places() == [str(tmp_path / "data")]
    assert load_policy(str(path)).places("/app") == ["/app/data"]


def test_policy_names_a_setting_in_the_project_as_the_project_s_place(tmp_path: Path) -> None:
    """TMPDIR on a mount in the project (a build's staging renamed into dist/, no EXDEV): the
    policy held the checkout's path (`/srv/ci/123/app/dist`), which every other checkout was
    told to set. It is `./dist`, read back against the project (or the policy's directory)."""
    plan = MountPlan(mounts=["/srv/ci/app/dist"], env={"TMPDIR": "/srv/ci/app/dist", "HOME": "/srv/home"})
    text = RENDERERS["policy"](plan, Target(["app"], project="/srv/ci/app")).text
    assert tomllib.loads(text)["env"] == {"HOME": "/srv/home", "TMPDIR": "./dist"}, text
    assert "/srv/ci/app" not in text.split("\n", 1)[1], text  # (the first line is the traced command's)
    path = tmp_path / "p.toml"
    path.write_text(text)
    policy = load_policy(str(path))
    assert policy.settings("/work/other/app")["TMPDIR"] == "/work/other/app/dist"
    assert policy.settings() == {"HOME": "/srv/home", "TMPDIR": str(tmp_path / "dist")}


@pytest.mark.parametrize(
    "bad", ["env = [1]", 'env = {"1X" = "v"}', "env = {A = 1}", 'persistent = ["[z-a]"]', "persistent = 1"]
)
def test_policy_with_a_malformed_env_or_persistent_is_one_clear_error(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(bad + "\n")
    with pytest.raises(BadInput, match="policy"):
        load_policy(str(path))


def test_map_longest_prefix_wins_on_whole_components() -> None:
    where = PathMap([parse_map("/srv/ci/app=/app"), parse_map("/srv/ci/app/instance=/var/lib/app")])
    assert where("/srv/ci/app") == "/app"
    assert where("/srv/ci/app/data/x") == "/app/data/x"
    assert where("/srv/ci/app/instance/s") == "/var/lib/app/s"
    assert where("/srv/ci/app2/data") == "/srv/ci/app2/data"  # another directory, not below
    plan = where.plan(_plan(env={"P": "/srv/ci/app/.pyc", "Q": "srv/ci/app"}, persistent=["/srv/ci/app/d"]))
    assert plan.env == {"P": "/app/.pyc", "Q": "srv/ci/app"} and plan.persistent == ["/app/d"]
    assert parse_map("/a=b=/c") == ("/a=b", "/c")
    # the image side as a runtime reads it: `//app` is `/app` (POSIX's normpath keeps two slashes)
    assert parse_map("//srv//ci=//app/./") == ("/srv/ci", "/app")


def test_map_rewrites_the_build_steps_directories_in_every_export() -> None:
    """A plan traced in a CI checkout: its build step compiles the image's tree, not the checkout."""
    from rotrace.policy.mounts import plan_mounts
    from tests.unit.factories import classify, event

    pyc = "/srv/ci/my app/pkg/__pycache__"
    verdicts = classify(event(pyc, "mkdir", 0), event(f"{pyc}/m.cpython-311.pyc"))
    plan = PathMap([parse_map("/srv/ci/my app=/app")]).plan(plan_mounts(verdicts, "/srv/ci/my app", {}))
    assert plan.build_steps == ["python3 -m compileall -q -l /app/pkg"]
    for fmt in ("k8s", "docker", "compose", "bwrap", "policy"):
        text, notes, _ = _render(fmt, plan)
        assert "/srv/ci" not in text + "".join(notes), fmt
        assert "compileall -q -l /app/pkg" in text + "".join(notes), fmt
    # in a venv: the venv's own interpreter, mapped too
    venv = "/srv/ci/my app/.venv"
    pyc = f"{venv}/lib/python3.12/site-packages/pkg/__pycache__"
    verdicts = classify(event(pyc, "mkdir", 0), event(f"{pyc}/m.cpython-312.pyc"))
    plan = plan_mounts(verdicts, "/srv/ci/my app", {})
    assert plan.build_steps == [
        f"'{venv}/bin/python' -m compileall -q '{venv}/lib/python3.12/site-packages/pkg'"
    ]
    plan = PathMap([parse_map("/srv/ci/my app=/app")]).plan(plan)  # the venv's interpreter mapped too
    assert plan.build_steps == [
        "/app/.venv/bin/python -m compileall -q /app/.venv/lib/python3.12/site-packages/pkg"
    ]


def test_map_writes_the_notes_for_the_image() -> None:
    """Traced from a checkout under /var/tmp, mapped to /app: the notes spoke of the checkout,
    and said that the working directory, in a scratch place, would be hidden by the plan, of a
    plan that mounts nothing there."""
    from rotrace.policy.mounts import plan_mounts
    from tests.unit.factories import classify, event

    app = "/var/tmp/ci/app"
    verdicts = classify(event(f"{app}/data", "mkdir", 0), event(f"{app}/data/out.txt"))
    here = plan_mounts(verdicts, app, {})
    assert any("the working directory /var/tmp/ci/app is inside" in n for n in here.notes), here.notes
    mapped = PathMap([parse_map(f"{app}=/app")]).plan(here)
    assert mapped.mounts == ["/app/data"] and mapped.notes, mapped
    assert not any(app in n or "working directory" in n for n in mapped.notes), mapped.notes
    assert any("/app/data" in n for n in mapped.notes), mapped.notes
    elsewhere = PathMap([parse_map("/var/tmp/ci/app2=/app")]).plan(here)  # not the app's: said as it was
    assert elsewhere.notes == here.notes


@pytest.mark.parametrize("bad", ["app=/app", "/app", "/app=", "=/app"])
def test_map_that_is_not_two_absolute_paths_is_a_usage_error(bad: str) -> None:
    with pytest.raises(BadOption, match="HOST=IMAGE"):
        parse_map(bad)


def test_a_k8s_claim_for_a_run_as_another_user_sets_its_fsgroup() -> None:
    """A new claim is root's: a run as uid 1000 gets the Pod's fsGroup (its group's), so that
    the app can write there; a run as root needs none."""
    import yaml

    for user, group in (((1000, 1001), {"fsGroup": 1001}), ((0, 0), None), (None, None)):
        text = RENDERERS["k8s"](_plan(), Target(["app"], user=user)).text
        spec = yaml.safe_load(text)["spec"]
        assert spec.get("securityContext") == group, (user, text)


def test_a_run_at_the_root_has_no_project_to_name_places_against() -> None:
    """Traced from `/` (a container's default working directory), every place is "below the
    project": the policy said `UV_CACHE_DIR = "./tmp/uv-cache"` and `allow = ["srv/data"]`,
    which a check or a run reads against the policy's own directory. They stay absolute."""
    plan = MountPlan(mounts=["/srv/data", "/tmp/uv-cache"], env={"UV_CACHE_DIR": "/tmp/uv-cache"})
    doc = tomllib.loads(RENDERERS["policy"](plan, Target(["uvx", "tool"], project="/")).text)
    assert doc["env"] == {"UV_CACHE_DIR": "/tmp/uv-cache"} and doc["allow"] == ["/srv/data"], doc
