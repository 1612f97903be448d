"""The mount plan of real runs, and where bubblewrap is there, the real outcome: with the plan
applied (its settings in the environment, its mounts writable), the command runs read-only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tracing import rotrace_cli


@pytest.fixture
def app() -> Iterator[Path]:
    """An application directory outside /tmp (a tmpfs on /tmp must not hide it), and a HOME."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-plan-", dir="/var/tmp"))
    try:
        (base / "app").mkdir()
        (base / "home").mkdir()
        yield base / "app"
    finally:
        subprocess.run(["chattr", "-R", "-i", str(base)], capture_output=True)
        shutil.rmtree(base)


def _env(app: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "PYTHONDONTWRITEBYTECODE")}
    return {**env, "HOME": str(app.parent / "home"), **extra}


# The application's interpreter, as an image has it: not the tests' venv, which a clone under
# /tmp puts there (the plan does not make a tmpfs of a place holding the program the command ran)
PYTHON = "/usr/bin/python3.11"


def _run(
    app: Path, code: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return rotrace_cli("run", *extra, "--json", "t.json", "--", PYTHON, "-c", code,
                       cwd=app, env=env or _env(app))  # fmt: skip


def _emit(app: Path, fmt: str) -> tuple[int, str, str]:
    proc = rotrace_cli("allowlist", "t.json", "--format", fmt, cwd=app)
    return proc.returncode, proc.stdout, proc.stderr


def _tmpfs(docker: str) -> list[str]:
    """The tmpfs mounts of the docker flags (the --env settings and volumes aside)."""
    prefix = "--tmpfs="
    return [
        line.removeprefix(prefix).rsplit(":", 1)[0]
        for line in docker.splitlines()[1:]
        if line.startswith(prefix)
    ]


def test_a_venv_the_command_makes_or_removes_is_no_venv_a_mount_hides(app: Path) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="rotrace-plan-"))  # in /tmp, as CI throwaway venvs are
    try:
        made = scratch / "v"
        proc = _run(app, f"import venv; venv.create({str(made)!r}, with_pip=False)")
        assert proc.returncode == 0, proc.stderr
        status, out, err = _emit(app, "docker")
        assert (status, _tmpfs(out)) == (0, ["/tmp"]), err

        # pytest's way: an old directory holding a venv renamed to garbage-* and removed
        old = scratch / "pytest-1" / "test0" / "venv"
        old.mkdir(parents=True)
        (old / "pyvenv.cfg").write_text("home = /usr\n")
        (old / "lib").mkdir()
        code = (
            "import os, shutil;"
            f"os.rename({str(scratch / 'pytest-1')!r}, {str(scratch / 'garbage-1')!r});"
            f"open({str(scratch / 'garbage-1/test0/venv/lib/x')!r}, 'w').close();"
            f"shutil.rmtree({str(scratch / 'garbage-1')!r})"
        )
        proc = _run(app, code)
        assert proc.returncode == 0, proc.stderr
        status, out, err = _emit(app, "docker")
        assert (status, _tmpfs(out)) == (0, ["/tmp"]), err
    finally:
        shutil.rmtree(scratch)


UTIME = "import os; os.makedirs('s/g', exist_ok=True); os.utime('s/g'); os.chmod('s/g', 0o755)"


def test_utime_and_chmod_of_a_directory_the_run_made_change_that_directory(app: Path) -> None:
    (app / "s").mkdir()
    (app / "s" / "k").write_text("kept")  # s held files: no mount may hide them
    proc = _run(app, UTIME)
    assert proc.returncode == 1, proc.stderr  # violations, the command itself fine
    status, out, err = _emit(app, "docker")
    assert (status, _tmpfs(out)) == (0, [str(app / "s" / "g")]), err
    if shutil.which("bwrap"):
        shutil.rmtree(app / "s" / "g")
        again = _run(app, UTIME, "--read-only", "--allow", str(app / "s" / "g"))
        result = json.loads((app / "t.json").read_text())
        assert result["exit_code"] == 0 and result["summary"]["violations"] == 0, again.stderr


IPYTHON = """
import os
d = os.environ.get("IPYTHONDIR") or os.path.expanduser("~/.ipython")
os.makedirs(os.path.join(d, "profile_default"), exist_ok=True)
open(os.path.join(d, "profile_default", "history.sqlite"), "w").write("h")
import mod
print("ok", mod.X)
"""


def test_a_setting_that_moves_the_writes_beats_a_mount_in_home_or_the_app(app: Path) -> None:
    (app / "mod.py").write_text("X = 1\n")
    proc = _run(app, IPYTHON)
    assert proc.returncode == 1 and "ok 1" in proc.stdout, proc.stderr
    status, out, err = _emit(app, "docker")
    assert (status, _tmpfs(out)) == (0, ["/tmp"]), err  # neither ~/.ipython nor the app's __pycache__
    assert "IPYTHONDIR=/tmp/ipython" in err and "PYTHONDONTWRITEBYTECODE=1" in err
    if shutil.which("bwrap"):  # the plan applied: its settings, its mounts, and nothing else
        shutil.rmtree(app / "__pycache__")
        shutil.rmtree(app.parent / "home" / ".ipython")
        env = _env(app, IPYTHONDIR="/tmp/ipython", PYTHONDONTWRITEBYTECODE="1")
        again = _run(app, IPYTHON, "--read-only", env=env)
        result = json.loads((app / "t.json").read_text())
        assert "ok 1" in again.stdout and result["exit_code"] == 0, again.stderr
        assert result["summary"]["violations"] == 0


# State kept where platformdirs' user_state_dir puts it (scrapy's job files): $XDG_STATE_HOME,
# else ~/.local/state.
STATE = """
import os, pathlib
base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
jobs = pathlib.Path(base, "app", "job_files")
jobs.mkdir(parents=True, exist_ok=True)
(jobs / "j1").write_text("1")
print("ok", len(list(jobs.iterdir())))
"""


@pytest.mark.needs("bwrap")
def test_state_in_a_home_is_moved_by_its_setting_and_the_plan_runs_for_another_user(app: Path) -> None:
    """Traced in root's home (or any /home/NAME), ~/.local/state is written: the plan sets
    XDG_STATE_HOME on its /tmp, not a mount of that home, so the app runs under it with another
    user's home as well (a mount of /root/.local left uid 1000's ~/.local read-only)."""
    home = Path(tempfile.mkdtemp(prefix="rotrace-state-", dir="/home"))
    try:
        proc = _run(app, STATE, env=_env(app, HOME=str(home)))
        assert proc.returncode == 1 and proc.stdout == "ok 1\n", proc.stderr
        status, out, err = _emit(app, "bwrap")
        args = out.splitlines()
        assert status == 0 and [args[i + 1] for i, a in enumerate(args) if a == "--tmpfs"] == ["/tmp"], err
        other = Path(tempfile.mkdtemp(prefix="rotrace-state-", dir="/home"))
        try:
            for user_home in (home, other):  # the system's Python: a checkout in /tmp is under the tmpfs
                env = _env(app, HOME=str(user_home))
                argv = ["bwrap", *args, "--", PYTHON, "-c", STATE]
                ran = subprocess.run(argv, cwd=app, env=env, capture_output=True, text=True, timeout=60)
                assert (ran.returncode, ran.stdout) == (0, "ok 1\n"), ran.stderr
        finally:
            shutil.rmtree(other)
    finally:
        shutil.rmtree(home)


GENERATE = "import os; os.mkdir('out/demo'); open('out/demo/README', 'w').write('hi'); print('generated')"


@pytest.mark.needs("bwrap")
def test_a_directory_the_command_makes_in_an_empty_one_runs_under_its_plan(app: Path) -> None:
    """`cookiecutter -o out` with out/ there and empty: it makes out/demo and gives up where it
    is there already. The plan mounted out/demo, which bwrap (as any runtime) makes before the
    command starts: FileExistsError under the plan. The empty out/ is mounted instead."""
    (app / "out").mkdir()
    proc = _run(app, GENERATE)
    assert proc.returncode == 1 and proc.stdout == "generated\n", proc.stderr
    shutil.rmtree(app / "out" / "demo")
    status, out, err = _emit(app, "bwrap")
    args = out.splitlines()
    assert status == 0 and [args[i + 1] for i, a in enumerate(args) if a == "--tmpfs"] == [
        str(app / "out")
    ], err
    argv = ["bwrap", *args, "--", PYTHON, "-c", GENERATE]
    ran = subprocess.run(argv, cwd=app, env=_env(app), capture_output=True, text=True, timeout=60)
    assert (ran.returncode, ran.stdout) == (0, "generated\n"), ran.stderr
    assert os.listdir(app / "out") == []  # the host's out/ untouched


ATOMIC = (
    "import os, tempfile; fd, tmp = tempfile.mkstemp(suffix='.json'); os.write(fd, b'{}'); os.close(fd);"
    " os.replace(tmp, 'state/current.json'); print('saved')"
)


@pytest.mark.needs("bwrap")
def test_an_atomic_write_from_tmp_into_the_apps_state_runs_under_its_plan(app: Path) -> None:
    """tempfile.mkstemp() in /tmp, then os.replace into state/: the plan mounts both, and a
    rename across two mounts fails (EXDEV): the app died under its own plan, which exited 0
    with a note. The plan sets TMPDIR on state/'s mount, where the file is then made."""
    (app / "state").mkdir()
    proc = _run(app, ATOMIC)
    assert proc.returncode == 1 and proc.stdout == "saved\n", proc.stderr
    (app / "state" / "current.json").unlink()
    status, out, err = _emit(app, "bwrap")
    args = out.splitlines()
    assert status == 0 and args[args.index("--setenv") :].count("TMPDIR") == 1, out + err
    assert f"the plan sets TMPDIR={app / 'state'}" in err, err
    argv = ["bwrap", *args, "--", PYTHON, "-c", ATOMIC]
    ran = subprocess.run(argv, cwd=app, env=_env(app), capture_output=True, text=True, timeout=60)
    assert (ran.returncode, ran.stdout) == (0, "saved\n"), ran.stderr


CARRIES_ON = (
    "import sys; sys.path.insert(0, 'lib'); import mod; print(mod.X)\n"
    "try:\n    open('lib/seen', 'w')\nexcept OSError:\n    print('unseen')"
)


def test_writes_refused_here_that_the_command_carried_on_after_need_no_mount(app: Path) -> None:
    """An immutable lib/ (EPERM): the command's own file there refused and carried on after,
    no mount for it; its bytecode, refused alike, gets its setting and build step, as where it
    is written (one plan whoever runs the app)."""
    lib = app / "lib"
    lib.mkdir()
    (lib / "mod.py").write_text("X = 2\n")
    if subprocess.run(["chattr", "+i", str(lib)], capture_output=True).returncode:
        pytest.skip("no immutable directories here (chattr)")
    proc = _run(app, CARRIES_ON)
    assert proc.stdout == "2\nunseen\n", proc.stderr
    trace = json.loads((app / "t.json").read_text())
    assert any(e["path"].endswith("lib/__pycache__") and e["errno"] == "EPERM" for e in trace["events"])
    status, out, err = _emit(app, "docker")
    assert status == 0 and _tmpfs(out) == [], out + err
    assert "1 write refused here (EPERM) that the command carried on after" in err, err
    assert "--env=PYTHONDONTWRITEBYTECODE=1" in out.splitlines() and f"compileall -q -l {lib}" in err, err


def test_a_failing_mkdir_of_what_exists_is_not_an_allowed_write(app: Path) -> None:
    proc = _run(app, "import os; os.makedirs('/usr', exist_ok=True); os.makedirs('/tmp', exist_ok=True)")
    assert proc.returncode == 0, proc.stderr
    assert "allowed write" not in proc.stderr, proc.stderr


def test_the_report_names_the_failed_write_closest_before_the_failing_exit_first(app: Path) -> None:
    if not shutil.which("bwrap"):
        pytest.skip("needs bubblewrap")
    (app / ".venv").mkdir()
    (app / ".venv" / "pyvenv.cfg").write_text("home = /usr\n")
    (app / "logs").mkdir()
    code = (
        "import os\n"
        "for i in range(5):\n"
        "    try: open(f'.venv/.lock{i}', 'w').close()\n"
        "    except OSError: pass\n"
        "open('logs/app.log', 'a').write('started')\n"
    )
    proc = _run(app, code, "--read-only")
    assert proc.returncode != 0
    lines = proc.stderr.splitlines()
    first = lines[lines.index("Violations, by where the fix applies (2)") + 1]
    assert first.split()[0].endswith("/app/logs"), proc.stderr
    assert "the last write that failed before the exit was in" in proc.stderr


def test_an_app_inside_an_allowed_place_is_warned_about(app: Path) -> None:
    where = Path(tempfile.mkdtemp(prefix="rotrace-plan-"))  # cloned under /tmp
    try:
        proc = _run(where, "open('out.txt', 'w').write('x')")
        assert proc.returncode == 0 and "no violations" in proc.stderr
        assert f"the working directory {where} is inside /tmp" in proc.stderr, proc.stderr
        status, _, err = _emit(where, "k8s")
        assert status == 1 and "is inside /tmp" in err and "allowed write cannot be made writable" in err
    finally:
        shutil.rmtree(where)


SQLITE = """
import os, sqlite3
os.makedirs("data", exist_ok=True)
db = sqlite3.connect("data/app.db")
db.execute("create table if not exists t (x)"); db.execute("insert into t values (1)"); db.commit()
print(db.execute("select count(*) from t").fetchone()[0])
"""


def test_a_database_gets_a_persistent_mount(app: Path) -> None:
    proc = _run(app, SQLITE)
    assert proc.returncode == 1 and "1" in proc.stdout, proc.stderr
    status, out, err = _emit(app, "docker")
    volumes = [line for line in out.splitlines() if line.startswith("--mount=type=volume,")]
    assert (status, _tmpfs(out)) == (0, []), err  # no tmpfs over the data: a volume keeps it
    assert len(volumes) == 1 and volumes[0].endswith(f",dst={app / 'data'}"), out
    assert f"{app / 'data'} holds data the program keeps" in err and "persistent volume" in err


SHELF = (
    "import dbm.dumb, shelve, sys\n"
    "with shelve.Shelf(dbm.dumb.open('data/notes', 'c')) as db:\n"
    "    if sys.argv[1:] == ['add']:\n"
    "        db['n%d' % len(db)] = 'note'\n"
    "    print(len(db))"
)


def test_a_store_the_app_makes_and_reads_back_lasts_under_its_plan(app: Path) -> None:
    """shelve over dbm.dumb: the store's files made in data/, then opened again to read and
    write. A file opened for update counted as data the app keeps only where it was there before
    the run: the plan gave data/ an empty tmpfs (an emptyDir), and a restarted Pod had lost every
    note, where SQLite's database got a volume. The store is kept: under the bwrap export's
    arguments, a second run finds what the first added."""
    (app / "data").mkdir()
    code = (
        SHELF.replace("sys.argv[1:] == ['add']", "True")
        + "\nwith shelve.Shelf(dbm.dumb.open('data/notes', 'w')) as db:\n    print(len(db))"
    )
    proc = _run(app, code)
    assert proc.stdout == "1\n1\n", proc.stderr
    for name in os.listdir(app / "data"):
        (app / "data" / name).unlink()  # the tree as the image has it: data/ empty
    status, out, err = _emit(app, "docker")
    volumes = [line for line in out.splitlines() if line.startswith("--mount=type=volume,")]
    assert status == 0 and len(volumes) == 1 and volumes[0].endswith(f",dst={app / 'data'}"), out + err
    if shutil.which("bwrap"):
        status, out, err = _emit(app, "bwrap")
        args = out.splitlines()
        for expected in ("1\n", "2\n"):  # two starts of the app: the second finds the first's note
            argv = ["bwrap", *args, "--", PYTHON, "-c", SHELF, "add"]
            ran = subprocess.run(argv, cwd=app, env=_env(app), capture_output=True, text=True, timeout=60)
            assert (ran.returncode, ran.stdout) == (0, expected), ran.stderr


def test_enforce_with_an_allowed_directory_not_granted_is_no_clean_headline(app: Path) -> None:
    target = app / "later"  # allowed, but not there when the rules are made
    code = f"import os; os.makedirs({str(target / 'x')!r})"
    proc = _run(app, code, "--enforce", "--allow", str(target))
    assert proc.returncode != 0
    assert "✓ no violations" not in proc.stderr and "allowed write denied" in proc.stderr, proc.stderr
    # listed as denied by its own path, never under the tick of the allowed writes
    assert f"✗ 1 allowed write denied: {target} (1)" in proc.stderr, proc.stderr
    ticked = [line for line in proc.stderr.splitlines() if line.startswith("✓") and "allowed write" in line]
    assert all(str(app) not in line for line in ticked), proc.stderr


def test_a_policy_checked_on_the_trace_it_was_made_from_says_what_its_settings_avoid(app: Path) -> None:
    """The plan moves the writes to ~/.ipython with a setting (IPYTHONDIR) rather than a mount;
    the policy written from it holds the setting in [env]. `check --policy` on that very trace
    (made without the setting) says those writes are the ones its [env] moves, and to trace
    the app with it; it neither lists them as places to allow nor advises `--update`, which
    has nothing to add."""
    (app / "mod.py").write_text("X = 1\n")
    assert _run(app, IPYTHON).returncode == 1
    status, policy, err = _emit(app, "policy")
    assert status == 0 and 'IPYTHONDIR = "/tmp/ipython"' in policy, err
    (app / "rotrace.toml").write_text(policy)
    check = rotrace_cli("check", "-q", "--policy", "rotrace.toml", "t.json", cwd=app)
    assert check.returncode == 1, check.stderr
    said = [line for line in check.stderr.splitlines() if "[env] IPYTHONDIR=/tmp/ipython" in line]
    assert len(said) == 1 and "trace the app with it set" in said[0], check.stderr
    assert "IPYTHONDIR=/tmp/ipython moves to a writable place" in said[0], said
    assert "--update" not in check.stderr and ".ipython" not in check.stderr.replace(said[0], "")
    update = rotrace_cli("check", "-q", "--update", "--policy", "rotrace.toml", "t.json", cwd=app)
    assert "nothing to add" in update.stderr and "--update` widens" not in update.stderr, update.stderr


MYAPP = (
    "import os; d = os.path.expanduser('~/.myapp'); os.makedirs(d, exist_ok=True);"
    " open(d + '/s', 'w').write('x')"
)


def test_a_policy_that_sets_home_says_a_trace_made_with_another_home_apart(app: Path) -> None:
    """The policy of a run with HOME=A sets HOME=A (its place is in that home); a run of the
    app with HOME=B wrote B/.myapp, which the policy's HOME moves to A: `check` listed it as a
    place outside the policy and `check --update` added another user's home to it."""
    home_a, home_b = app.parent / "home", app.parent / "home-b"
    home_b.mkdir()
    assert _run(app, MYAPP, env=_env(app, HOME=str(home_a))).returncode == 1
    status, policy, err = _emit(app, "policy")
    assert status == 0 and f'HOME = "{home_a}"' in policy, policy + err
    (app / "rotrace.toml").write_text(policy)
    assert _run(app, MYAPP, env=_env(app, HOME=str(home_b))).returncode == 1
    check = rotrace_cli("check", "-q", "--policy", "rotrace.toml", "t.json", cwd=app)
    assert check.returncode == 1 and str(home_b) not in check.stderr, check.stderr
    assert f"[env] HOME={home_a} moves to a writable place" in check.stderr, check.stderr
    update = rotrace_cli("check", "-q", "--update", "--policy", "rotrace.toml", "t.json", cwd=app)
    assert "nothing to add" in update.stderr and str(home_b) not in (app / "rotrace.toml").read_text()


PROBE = """
import os, sys
out = os.path.join(os.getcwd(), "out")
if not os.access(out, os.W_OK):  # click's Path(writable=True), pip-compile's cache directory
    sys.exit(f"Directory {out!r} is not writable")
todo = sys.argv[1:]
for name in todo:  # nothing to write this time
    open(os.path.join(out, name), "w").write("x")
print("ok", len(todo))
"""


def test_a_check_of_writability_is_planned_for_as_a_write_is(app: Path) -> None:
    """The command checks that it may write its output directory (access W_OK), and this
    time has nothing to write there: the check is seen, and the plan makes the place
    writable, which a read-only root would refuse (the command gave up there, with no
    violation to show, and the plan had no mount)."""
    (app / "out").mkdir()
    proc = _run(app, PROBE)
    assert proc.returncode == 1 and "ok 0" in proc.stdout, proc.stderr  # a violation: the check
    (event,) = [e for e in json.loads((app / "t.json").read_text())["events"] if e["op"] == "access"]
    assert (event["path"], event["result"], event["ro_forecast"]) == (str(app / "out"), 0, "EROFS"), event
    status, out, err = _emit(app, "docker")
    assert (status, _tmpfs(out)) == (0, [str(app / "out")]), err
    if shutil.which("bwrap"):  # the plan applied: the command runs read-only, as it did
        again = _run(app, PROBE, "--read-only", "--allow", str(app / "out"))
        assert "ok 0" in again.stdout and again.returncode == 0, again.stderr
        without = _run(app, PROBE, "--read-only")
        assert "is not writable" in without.stderr and without.returncode != 0, without.stderr
        (refused,) = [e for e in json.loads((app / "t.json").read_text())["events"] if e["op"] == "access"]
        assert refused["errno"] == "EROFS" and not refused["allowed"], refused


FALLBACK = """
import os, tempfile
home = os.path.expanduser("~")
base = home if os.access(home, os.W_OK) else tempfile.gettempdir()  # IPython's, wandb's way
print("state in", "home" if base == home else "temp")
"""


def test_a_check_no_mount_meets_is_no_clean_plan_for_allowlist_as_for_check(app: Path) -> None:
    """The command checks that it may write its home, which holds files, and writes nothing
    there: `allowlist` exited 0 (its plan mounts /tmp, where the command falls back), and
    `check` of the very trace under the policy it wrote exited 1 (the check is outside it and
    no entry can cover it). No plan makes the check pass: both say so, exit 1."""
    (app.parent / "home" / ".profile").write_text("held\n")
    assert "state in home" in _run(app, FALLBACK).stdout
    status, policy, err = _emit(app, "policy")
    assert status == 1 and "no plan makes the check pass" in err, err
    (app / "rotrace.toml").write_text(policy)
    check = rotrace_cli("check", "-q", "--policy", "rotrace.toml", "t.json", cwd=app)
    assert check.returncode == 1, check.stderr
    if shutil.which("bwrap"):  # the plan applied: the check fails, the command falls back
        again = _run(app, FALLBACK, "--read-only", "--policy", "rotrace.toml")
        assert "state in temp" in again.stdout and again.returncode == 1, again.stderr


HISTORY = """
import os, sqlite3, uuid, glob
os.makedirs("home/history/runs", exist_ok=True)
db = sqlite3.connect("home/history/runs.db")
db.execute("create table if not exists runs(id text)")
rid = str(uuid.uuid4())
db.execute("insert into runs values (?)", (rid,)); db.commit(); db.close()
sqlite3.connect(f"home/history/runs/{rid}.db").execute("create table e(x)").connection.commit()
for old in glob.glob("home/storage/*/result"):  # what the earlier runs stored, read back
    open(old).read()
os.makedirs(f"home/storage/{rid}")
with open(f"home/storage/{rid}/result", "w") as f:
    f.write("42")
print("runs", len(glob.glob("home/history/runs/*.db")))
"""


@pytest.mark.needs("bwrap")
def test_a_policys_persistent_places_hold_in_its_read_only_run(app: Path) -> None:
    """dagster's DAGSTER_HOME (a history database, a storage directory per run), two runs merged
    into a policy with its persistent places, run again read-only under it: the run was clean,
    and its report said the writes to those very places "cannot be made writable by a mount":
    the pass made again at the run's end knew nothing of the policy's persistent places."""
    (app / "home").mkdir()
    (app / "home" / "config.yaml").write_text("telemetry: {enabled: false}\n")  # the app's own
    for run in ("t1.json", "t2.json"):
        proc = rotrace_cli("run", "-q", "--all-opens", "--json", run, "--", PYTHON, "-c", HISTORY, cwd=app,
                           env=_env(app))  # fmt: skip
        assert proc.returncode in (0, 1), proc.stderr
    assert rotrace_cli("merge", "t1.json", "t2.json", "-o", "m.json", cwd=app).returncode == 0
    policy = rotrace_cli("allowlist", "m.json", "--format", "policy", cwd=app)
    assert "persistent = [" in policy.stdout, policy.stdout + policy.stderr
    (app / "rotrace.toml").write_text(policy.stdout)
    replay = ["run", "--read-only", "--policy", "rotrace.toml", "--", PYTHON, "-c", HISTORY]
    again = rotrace_cli(*replay, cwd=app, env=_env(app))
    assert again.returncode == 0 and "runs 3" in again.stdout, again.stderr
    assert "cannot be made writable" not in again.stderr, again.stderr
    assert "a tmpfs or emptyDir loses" not in again.stderr, again.stderr  # the policy's own: not said


def test_a_merged_persistent_place_is_not_said_to_lose_what_it_keeps(app: Path) -> None:
    """Two runs merged (a history database, a storage directory per run, in home/): the report
    planned home/ persistent and said of it, too, that the plan mounts it empty and a restart
    loses what the earlier runs left there."""
    (app / "home").mkdir()
    for run in ("t1.json", "t2.json"):
        proc = rotrace_cli("run", "-q", "--json", run, "--", PYTHON, "-c", HISTORY, cwd=app, env=_env(app))
        assert proc.returncode in (0, 1), proc.stderr
    assert rotrace_cli("merge", "t1.json", "t2.json", "-o", "m.json", cwd=app).returncode == 0
    report = rotrace_cli("report", "m.json", cwd=app)
    kept = [line for line in report.stderr.splitlines() if "persistent volumes" in line]
    assert kept and str(app / "home") in kept[0], report.stderr
    assert "a restart loses them" not in report.stderr, report.stderr


COUNTER = (
    "import os; os.makedirs('state', exist_ok=True);"
    " fd = os.open('state/counter.db', os.O_RDWR | os.O_CREAT); n = int(os.read(fd, 32) or b'0') + 1;"
    " os.lseek(fd, 0, 0); os.write(fd, str(n).encode()); print('runs', n)"
)


@pytest.mark.needs("bwrap")
def test_a_merged_cold_and_warm_run_keeps_the_store_persistent_on_a_fresh_tree(app: Path) -> None:
    """A store the app makes in state/ and updates in place (DuckDB's file), traced cold and warm
    and merged, its plan made on a fresh checkout (no state/): state/ was a plain tmpfs, and the
    count started again at each run under the plan. Persistent now: state/ made as the note
    says, bwrap's arguments bind it, and the count goes on from run to run."""
    runs = []
    for name in ("cold", "warm"):
        proc = rotrace_cli("run", "-q", "--json", f"{name}.json", "--", PYTHON, "-c", COUNTER, cwd=app,
                           env=_env(app))  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        runs.append(f"{name}.json")
    merged = rotrace_cli("merge", *runs, "-o", "t.json", cwd=app)
    assert merged.returncode == 0, merged.stderr
    shutil.rmtree(app / "state")
    status, policy, err = _emit(app, "policy")
    assert status == 0 and 'persistent = [\n    "state",\n]' in policy, policy + err
    assert f"(e.g. {app / 'state' / 'counter.db'})" in err, err
    status, out, err = _emit(app, "bwrap")  # a fresh tree: a tmpfs there until state/ is made
    assert status == 1 and "mkdir -p it first" in err, err
    (app / "state").mkdir()
    status, out, err = _emit(app, "bwrap")
    assert status == 0, err
    argv = ["bwrap", *out.splitlines(), "--", PYTHON, "-c", COUNTER]
    seen = [subprocess.run(argv, cwd=app, env=_env(app), capture_output=True, text=True, timeout=60)
            for _ in "12"]  # fmt: skip
    assert [(r.returncode, r.stdout) for r in seen] == [(0, "runs 1\n"), (0, "runs 2\n")], seen[-1].stderr


def test_a_check_that_pycache_is_writable_gets_numbas_setting_not_a_refusal(app: Path) -> None:
    """What Numba does with its cache in __pycache__ already (a warm tree): it makes an unnamed
    temporary file there to check it may write, and nothing else. Called bytecode, the place was
    refused (it held files) with no fix, and the app then found no cache location; its setting
    moves the cache to a writable place."""
    (app / "__pycache__").mkdir()
    (app / "__pycache__" / "app.total-4.py311.nbi").write_bytes(b"index")
    proc = _run(app, "import tempfile; tempfile.TemporaryFile(dir='__pycache__').close()",
                env=_env(app, PYTHONDONTWRITEBYTECODE="1"))  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    status, policy, err = _emit(app, "policy")
    assert status == 0 and 'NUMBA_CACHE_DIR = "/tmp/numba-cache"' in policy, policy + err
    assert "allow = []" in policy and "NOT MOUNTABLE" not in policy, policy  # nothing mounted there


def test_a_run_plans_a_file_written_whole_over_held_ones_as_its_saved_trace_does(app: Path) -> None:
    """dist/ held a file the command writes whole again (`tar -cf dist/src.tar`, pip's
    .egg-info): kept data, a seeded persistent mount, by `report` and `allowlist` of the trace;
    but `run` learnt the write before it knew what dist/ held (that comes at the run's end),
    and its own report and `--emit` refused dist/ ("held files")."""
    (app / "dist").mkdir()
    (app / "dist" / "src.tar").write_text("old\n")
    write = "open('dist/src.tar', 'w').write('new')"
    proc = _run(app, write, "--emit", "policy")
    saved = _emit(app, "policy")
    assert proc.returncode == 1 and saved[0] == 0, proc.stderr
    assert 'persistent = [\n    "dist",\n]' in proc.stdout and "NOT MOUNTABLE" not in proc.stdout, proc.stdout
    assert proc.stdout.split("version = 1")[1] == saved[1].split("version = 1")[1], proc.stdout + saved[1]


@pytest.mark.needs("bwrap")
@pytest.mark.parametrize("step", [["-m", "py_compile", "mod.py"], ["-m", "compileall", "-q", "."]])
def test_bytecode_compiled_on_purpose_gets_a_mount_not_the_setting(app: Path, step: list[str]) -> None:
    """A pre-commit hook's `python -m py_compile`, a start-up step's compileall: they write the
    bytecode whatever PYTHONDONTWRITEBYTECODE says. The plan set it "instead of a mount", and the
    step died read-only (EROFS on __pycache__). Now __pycache__ gets its mount."""
    (app / "mod.py").write_text("def f():\n    return 1\n")
    argv = [PYTHON, *step]
    proc = rotrace_cli("run", "--json", "t.json", "--", *argv, cwd=app, env=_env(app))
    assert proc.returncode == 1 and (app / "__pycache__").is_dir(), proc.stderr
    assert "bytecode compiled on purpose" in proc.stderr, proc.stderr
    shutil.rmtree(app / "__pycache__")
    status, out, err = _emit(app, "bwrap")
    args = out.splitlines()
    assert status == 0 and "PYTHONDONTWRITEBYTECODE" not in args, out + err
    ran = subprocess.run(["bwrap", *args, "--", *argv], cwd=app, env=_env(app), capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert not (app / "__pycache__").exists()  # written in the plan's mount, not on the host
