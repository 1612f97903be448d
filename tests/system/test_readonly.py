"""--read-only: the bubblewrap sandbox, and the forecast made without it."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.places import fixed_name_dir
from tests.support.tracing import PY, rotrace_cli

pytestmark = pytest.mark.needs("bwrap")
WORKLOAD = Path(__file__).parent.parent / "support" / "workloads" / "readonly.py"


def _setup(tmp_path: Path, name: str) -> tuple[Path, Path, Path]:
    work, scratch = tmp_path / name, tmp_path / f"{name}-scratch"
    (work / "existing_dir").mkdir(parents=True)
    (work / "existing.txt").write_text("x")
    scratch.mkdir()
    policy = tmp_path / "policy.toml"
    policy.write_text(f'defaults = false\nallow = ["{scratch}", "/dev/null"]\n')
    return work, scratch, policy


def _trace(work: Path, policy: Path, scratch: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    proc = rotrace_cli("run", *extra, "--policy", str(policy), "--json", "t.json", "--",
                       sys.executable, str(WORKLOAD), str(scratch), cwd=work)  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads((work / "t.json").read_text())  # type: ignore[no-any-return]


def _outcomes(trace: dict, field: str) -> list[tuple[str, str, str]]:  # type: ignore[type-arg]
    return [(e["syscall"], e["path"].split("/")[-1], e[field] or "ok") for e in trace["events"] if e["write"]]


def test_forecast_agrees_with_the_sandbox(tmp_path: Path) -> None:
    work, scratch, policy = _setup(tmp_path, "normal")
    forecast = _trace(work, policy, scratch)
    work2, scratch2, policy2 = _setup(tmp_path, "sandboxed")
    sandboxed = _trace(work2, policy2, scratch2, "--read-only")
    assert sandboxed["read_only"] is True
    predicted = _outcomes(forecast, "ro_forecast")
    actual = _outcomes(sandboxed, "errno")
    assert predicted == actual
    by_name = {name: outcome for _, name, outcome in actual}
    assert by_name["new.txt"] == "EROFS" and by_name["existing_dir"] in ("EEXIST", "EROFS")
    assert by_name["missing.txt"] == "EROFS"  # unlink checks writability before the last name
    assert by_name["file"] == "ENOENT"  # a missing parent is found first
    assert by_name["leaf"] == "ENOENT"  # even one the normal run made right after (mkdir -p, pathlib)
    assert by_name["null"] == "ok" and by_name["ok.txt"] == "ok"
    assert {o for _, _, o in actual} >= {"EROFS", "EEXIST", "ENOENT", "ok"}
    # the normal run really wrote; the sandboxed one wrote nothing into its directory
    assert (work / "new.txt").exists() and not (work2 / "new.txt").exists()
    assert not (scratch2 / "ok.txt").exists()  # a tmpfs: gone with the sandbox


def test_keep_writes_binds_the_allowed_directories(tmp_path: Path) -> None:
    work, scratch, policy = _setup(tmp_path, "kept")
    trace = _trace(work, policy, scratch, "--read-only", "--keep-writes")
    assert trace["sandbox_writable"] == [str(scratch)]
    assert (scratch / "ok.txt").exists() and (scratch / "d").is_dir()
    assert not (work / "new.txt").exists()


def test_tmp_is_a_tmpfs_and_the_checkout_stays_visible(tmp_path: Path) -> None:
    """Under the default allowlist /tmp is a tmpfs: the tmp_path this test runs in (and maybe
    rotrace itself, in a CI clone under /tmp) must still be visible, read-only."""
    (tmp_path / "data.txt").write_text("hello")
    code = "import sys; print(open('data.txt').read()); open('/tmp/scratch-file', 'w').write('x')"
    proc = rotrace_cli(
        "run", "--read-only", "--json", "t.json", "--", sys.executable, "-c", code, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "hello" in proc.stdout
    assert not os.path.exists("/tmp/scratch-file")  # it went to the sandbox's own /tmp
    # t.json is written by rotrace outside the sandbox
    trace = json.loads((tmp_path / "t.json").read_text())
    assert [e["errno"] for e in trace["events"] if e["path"] == "/tmp/scratch-file"] == [None]


def test_missing_bwrap_says_how_to_install(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(tmp_path))  # no bwrap on this PATH
    proc = rotrace_cli("run", "--read-only", "--", sys.executable, "-c", "pass", cwd=tmp_path, env=env)
    assert proc.returncode == 5 and "apt-get install bubblewrap" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_allowed_working_directory_is_an_empty_tmpfs_unless_kept(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("hello")
    code = "import os; print(os.listdir('.')); open('g', 'w').close()"
    proc = rotrace_cli("run", "--read-only", "--allow", ".", "--", sys.executable, "-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "[]" in proc.stdout and "empty tmpfs" in proc.stderr and "--keep-writes" in proc.stderr
    assert not (tmp_path / "g").exists()
    args = ["run", "--read-only", "--keep-writes", "--allow", ".", "--", sys.executable, "-c", code]
    kept = rotrace_cli(*args, cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr
    assert "'f'" in kept.stdout and (tmp_path / "g").exists()


def test_read_only_inside_a_read_only_root_runs_plainly(tmp_path: Path) -> None:
    """In a container whose root is already read-only, --read-only needs no sandbox."""
    bwrap = shutil.which("bwrap")
    assert bwrap is not None
    from rotrace.sandbox.bwrap import runtime_paths

    shown = [
        arg for path in runtime_paths(None) if path.startswith("/tmp") for arg in ("--ro-bind", path, path)
    ]
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", *shown, "--",
            PY, "-m", "rotrace", "run", "--read-only", "--json", "/tmp/t.json", "--", "sh", "-c",
            "touch /tmp/ok; touch /var/tmp/refused-$$ 2>/dev/null; true"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/")
    assert proc.returncode == 1, proc.stderr  # the write into /var/tmp is refused (EROFS): a violation
    assert "already read-only here" in proc.stderr and "(bubblewrap)" not in proc.stderr
    assert "EROFS" in proc.stderr


def test_an_allowed_directory_that_holds_files_is_said_to_be_hidden_by_its_tmpfs() -> None:
    """Replaying a plan whose persistent volume starts with a directory's files: the sandbox's
    tmpfs hides them (the database the app reads is not there), and the report says so."""
    app = fixed_name_dir("rotrace-replay-", "/srv")  # not under /tmp, which the sandbox covers
    try:
        data = app / "data"
        data.mkdir()
        (data / "app.db").write_bytes(b"SQLite format 3\0")
        code = "import os; print(os.listdir('data'))"
        run = ["run", "--read-only", "--allow", str(data), "--", sys.executable, "-c", code]
        proc = rotrace_cli(*run, cwd=app)
        assert proc.stdout == "[]\n"  # indeed hidden
        assert f"{data} holds files, which its tmpfs in the sandbox hides" in proc.stderr, proc.stderr
        assert "a plan's persistent volume there starts with them" in proc.stderr
        with tempfile.NamedTemporaryFile(dir="/tmp"):  # /tmp holds a file: a scratch place, no volume
            scratch = rotrace_cli(*run, cwd=app).stderr
        assert "/tmp holds files, which its tmpfs in the sandbox hides (as a container's does)" in scratch
        assert scratch.count("persistent volume") == 1, scratch  # data's alone
        kept = rotrace_cli(*run[:2], "--keep-writes", *run[2:], cwd=app)
        assert kept.stdout == "['app.db']\n" and "holds files" not in kept.stderr
    finally:
        shutil.rmtree(app)


def test_a_system_directory_listed_persistent_is_never_copied(tmp_path: Path) -> None:
    """A hand-written policy with `persistent = ["/usr"]`: the sandbox copies a persistent place
    that holds files, to start it with them, but never a system directory (it would copy the
    machine); an application's data directory it does."""
    from rotrace.policy.allowlist import Allowlist
    from rotrace.sandbox.bwrap import seeded

    data = tmp_path / "data"
    data.mkdir()
    (data / "app.db").write_bytes(b"rows")
    allowlist = Allowlist(["/usr", "/etc", str(data)])
    assert seeded(allowlist, ("/usr", "/etc", str(data)), keep=False) == [str(data)]


@pytest.mark.parametrize("keep", [False, True])
def test_an_allowed_directory_through_a_symlink_stays_read_only(keep: bool) -> None:
    """`--allow W/link` where link -> protected: bubblewrap would mount where the link points
    (a tmpfs over protected/, or with --keep-writes a bind of it: the write landed there), while
    the allowlist and the report name W/link, and a write in protected/ read as outside it."""
    work = Path(tempfile.mkdtemp(prefix="rotrace-symallow-", dir="/var/tmp"))
    try:
        (work / "protected").mkdir()
        (work / "link").symlink_to("protected")
        kept = ["--keep-writes"] if keep else []
        script = f"echo x > {work}/link/x; echo rc=$?"
        argv = ["run", "--read-only", *kept, "--allow", str(work / "link"), "--json", str(work / "t.json"),
                "--", "sh", "-c", script]  # fmt: skip
        done = rotrace_cli(*argv, cwd=work)
        assert not (work / "protected" / "x").exists()
        assert "rc=2" in done.stdout, done
        said = (
            f"{work}/link goes through the symbolic link {work}/link: a mount there would be where it points"
        )
        assert said in done.stderr, done.stderr
        (event,) = [e for e in json.loads((work / "t.json").read_text())["events"] if e["op"] == "create"]
        assert (event["path"], event["errno"], event["allowed"]) == (f"{work}/protected/x", "EROFS", False)
    finally:
        shutil.rmtree(work)


def test_a_symlink_made_in_devs_tmpfs_went_through_and_is_no_erofs(tmp_path: Path) -> None:
    """/dev is the sandbox's own tmpfs (as a container's): a symlink made there goes through.
    Its target is the text it holds, not a place: text outside /dev was taken for a place on
    the read-only root, and the report said "read-only root: EROFS" of a write that went
    through."""
    script = "ln -s some-text /dev/rt_text && ln -s ../elsewhere /dev/rt_relative"
    proc = rotrace_cli("run", "--read-only", "--json", "t.json", "--", "/bin/sh", "-c", script, cwd=tmp_path)
    trace = json.loads((tmp_path / "t.json").read_text())
    made = [(e["op"], e["errno"], e["ro_forecast"]) for e in trace["events"] if e["op"] == "symlink"]
    assert made == [("symlink", None, "ok")] * 2, proc.stderr
    assert trace["summary"]["ro_failures"] == 0 and "EROFS" not in proc.stderr, proc.stderr


def _persistent_run(base: Path, user: str, script: str, made: str = "data/f") -> tuple[Path, Path, Any]:
    """An app under `base` whose policy keeps `data` persistent, holding `made` ("hello"), run
    under `run --read-only --policy` as `user` (root, or nobody through a copy of the tree):
    (the app, its TMPDIR, the finished process)."""
    from tests.support.as_user import NOBODY
    from tests.support.tracing import NON_ROOT_PYTHON, portable_site

    site = portable_site(base / "site")
    app, scratch = base / "app", base / "tmp"
    (app / made).parent.mkdir(parents=True)
    scratch.mkdir()
    (app / made).write_text("hello\n")
    (app / "p.toml").write_text('version = 1\nallow = ["data"]\npersistent = ["data"]\n')
    subprocess.run(["chmod", "-R", "a+rwX", str(base)], check=True)  # data: 777, not a tmpfs's 755
    as_user = NOBODY if user == "nobody" else []
    env = {"PYTHONPATH": str(site), "PATH": os.defpath, "HOME": str(app), "TMPDIR": str(scratch)}
    argv = [*as_user, NON_ROOT_PYTHON, "-m", "rotrace", "run", "-q", "--read-only", "--policy", "p.toml"]
    proc = subprocess.run([*argv, "--", "/bin/sh", "-c", script], cwd=app, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    return app, scratch, proc


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_the_seeded_copy_is_removed_whatever_the_command_left_in_it(user: str) -> None:
    """A persistent place starts with a copy of what it holds (under $TMPDIR), removed after the
    run. The command left a directory there it made unreadable (the copy stayed, its files on
    the host, while the warnings said it was removed), and a chain of directories deeper than
    Python's recursion (shutil.rmtree raised: exit 70, no verdict)."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-seed-left-", dir="/var/tmp"))
    try:
        script = (
            "mkdir data/shut && echo x > data/shut/x && chmod 000 data/shut && cd data"
            " && i=0 && while [ $i -lt 1100 ]; do mkdir d && cd d || exit 1; i=$((i+1)); done"
        )
        app, scratch, proc = _persistent_run(base, user, script)
        assert proc.returncode == 0 and "no violations" in proc.stdout + proc.stderr, proc.stderr
        assert list(scratch.iterdir()) == [], proc.stderr  # the copy removed
        assert sorted(p.name for p in (app / "data").iterdir()) == ["f"]  # the host's data untouched
    finally:
        subprocess.run(["chmod", "-R", "u+rwX", str(base)], check=False)
        subprocess.run(["rm", "-rf", str(base)], check=False)


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_persistent_places_copy_is_the_sandboxs_own(user: str) -> None:
    """The copy a persistent place starts with was made in a directory on the host ($TMPDIR)
    and bound there: a process outside the run could rename a directory of its own choosing to
    the copy's name before it was filled and bound, and back after (the command's writes landed
    in it, reported as kept in the copy), or leave it there for rotrace's clean-up to remove. It
    is the place's own tmpfs, filled inside the sandbox: nothing is made on the host."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-seed-own-", dir="/var/tmp"))
    try:
        script = (
            "cat data/sub/f && echo new > data/new && stat -c %a data"
            ' && awk -v d="$PWD/data" \'$5 == d { for (i = 7; $i != "-"; i++); print $(i + 1) }\''
            " /proc/self/mountinfo"
        )
        app, scratch, proc = _persistent_run(base, user, script, made="data/sub/f")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["hello", "777", "tmpfs"], proc.stdout  # its data, its mode, no bind
        assert list(scratch.iterdir()) == [], proc.stderr  # nothing made on the host
        assert sorted(p.name for p in (app / "data").iterdir()) == ["sub"]  # the host's data untouched
    finally:
        subprocess.run(["chmod", "-R", "u+rwX", str(base)], check=False)
        subprocess.run(["rm", "-rf", str(base)], check=False)


@pytest.mark.parametrize("persistent", [False, True])
def test_an_allowed_directory_in_a_working_directory_under_tmp_stays_writable(persistent: bool) -> None:
    """A project under /tmp (a CI clone there): /tmp is the sandbox's tmpfs, the working
    directory is shown again read-only over it, and that read-only bind, made after every
    writable mount, hid the allowed directory inside it: its writes failed with EROFS."""
    work = Path(tempfile.mkdtemp(prefix="rotrace-tmp-cwd-", dir="/tmp"))
    try:
        (work / "data").mkdir()
        (work / "data" / "f").write_text("hello\n")
        kept = 'persistent = ["data"]\n' if persistent else ""
        (work / "p.toml").write_text(f'version = 1\nallow = ["data"]\n{kept}')
        script = "cat data/f 2>/dev/null; echo new > data/g && cat data/g && cat p.toml >/dev/null && echo ok"
        argv = ["run", "-q", "--read-only", "--policy", "p.toml", "--", "sh", "-c", script]
        proc = rotrace_cli(*argv, cwd=work)
        shown = ["hello", "new", "ok"] if persistent else ["new", "ok"]
        assert proc.returncode == 0 and proc.stdout.split() == shown, proc.stdout + proc.stderr
        assert sorted(p.name for p in (work / "data").iterdir()) == ["f"]  # the host's data untouched
        # one the command makes: room for it in the working directory's read-only view
        build = ["run", "-q", "--read-only", "--allow", str(work / "build"), "--", "sh", "-c",
                 "mkdir -p build && echo x > build/o && cat build/o"]  # fmt: skip
        made = rotrace_cli(*build, cwd=work)
        assert made.returncode == 0 and made.stdout == "x\n", made.stdout + made.stderr
        assert not (work / "build").exists()
    finally:
        shutil.rmtree(work)


def test_a_write_that_went_through_under_the_read_only_root_is_no_erofs(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The command's stdout is a host file: its chmod and utime of it (through /proc/self/fd/1)
    change that file, and the report said "went through" and "read-only root: EROFS" of the same
    two writes (the summary counted them in both). Under the read-only root itself, what went
    through met no EROFS."""
    import json

    here = Path(tempfile.mkdtemp(prefix="rotrace-ro-stdout-", dir="/var/tmp"))  # outside the allowlist
    request.addfinalizer(lambda: shutil.rmtree(here))
    out = here / "out.log"
    out.write_text("")
    out.chmod(0o644)
    script = "chmod 0604 /proc/self/fd/1; touch -d 2001-01-01 /proc/self/fd/1"
    with out.open("w") as stdout:
        argv = [PY, "-m", "rotrace", "run", "--read-only", "--json", "t.json", "--", "sh", "-c", script]
        proc = subprocess.run(argv, cwd=tmp_path, stdout=stdout, stderr=subprocess.PIPE, text=True,
                              timeout=120)  # fmt: skip
    assert stat.S_IMODE(out.stat().st_mode) == 0o604, proc.stderr  # it went through, on the host
    trace = json.loads((tmp_path / "t.json").read_text())
    changed = [e for e in trace["events"] if e["op"] in ("chmod", "utime") and e["result"] == 0]
    assert changed and all(e["ro_forecast"] == "ok" for e in changed), changed
    assert trace["summary"]["ro_failures"] == 0 and trace["summary"]["went_through"] >= 2, trace["summary"]
    assert "EROFS" not in proc.stderr, proc.stderr


def test_a_persistent_place_holding_tmpdir_is_copied_elsewhere() -> None:
    """A plan that renames temporary files into its output sets TMPDIR there (`dist`, also
    persistent); replayed with that setting, `run --read-only` copied `dist` into a directory
    in $TMPDIR, inside itself: cp refused, exit 5. The copy is made outside it."""
    base = Path(tempfile.mkdtemp(prefix="rotrace-seed-home-", dir="/var/tmp"))  # not under /tmp's tmpfs
    app = base / "app"
    (app / "dist").mkdir(parents=True)
    (app / "dist" / "old.whl").write_text("old\n")
    (app / "p.toml").write_text(
        f'version = 1\nallow = ["dist"]\npersistent = ["dist"]\n[env]\nTMPDIR = "{app}/dist"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"TMPDIR": str(app / "dist")}
    script = "cat dist/old.whl && echo new > $TMPDIR/w && mv $TMPDIR/w dist/new.whl && ls dist"
    try:
        proc = rotrace_cli("run", "-q", "--read-only", "--policy", "p.toml", "--", "/bin/sh", "-c", script,
                           cwd=app, env=env)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["old", "new.whl", "old.whl"], proc.stdout
        assert sorted(p.name for p in (app / "dist").iterdir()) == ["old.whl"]  # the host's untouched
    finally:
        shutil.rmtree(base)


def _rotrace_dirs(pid: int | None = None) -> set[str]:
    """What a sandbox's run made for itself on the host, left: device copies, seeds (of the
    rotrace whose pid is given: other runs on the machine make their own meanwhile)."""
    import glob

    mine = f"{pid}-" if pid is not None else ""
    tops = ("/dev", "/tmp", tempfile.gettempdir())
    found = {p for top in tops for p in glob.glob(f"{top}/rotrace-dev-{mine}*")}
    return found | set(glob.glob(f"{tempfile.gettempdir()}/rotrace-seed-{mine}*"))


def _left_running(mark: str) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in ps.splitlines() if mark in line and "ps -eo" not in line]


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox's own device nodes are made as root")
def test_the_device_copies_are_out_of_the_commands_reach(tmp_path: Path) -> None:
    """As root the sandbox's /dev nodes are copies rotrace makes: under --keep-writes they were
    in /tmp, which the sandbox binds, so the command could link them elsewhere (device nodes
    left on the host) or swap the directory for a symlink that rotrace's clean-up then followed
    (chmod -R of a tree outside the allowlist); on a nodev temporary directory (systemd's /tmp)
    /dev/null did not open at all. They are made in the host's /dev, which the sandbox never
    shows, and removed after the run."""
    before = _rotrace_dirs()
    look = "ls -d /tmp/rotrace-dev-* /dev/rotrace-dev-* 2>/dev/null; echo >/dev/null"
    look += " && head -c3 /dev/zero | wc -c"
    proc = rotrace_cli("run", "--read-only", "--keep-writes", "--", "sh", "-c", look, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["3"], proc.stdout  # no copy seen; the devices work
    nodev = tmp_path / "nodev"
    nodev.mkdir()
    script = (  # a temporary directory on a nodev tmpfs, in a mount namespace of its own
        f"mount -t tmpfs -o nodev none {nodev} && TMPDIR={nodev} {sys.executable} -m rotrace run -q"
        " --read-only -- sh -c 'echo x > /dev/null && head -c 3 /dev/zero | wc -c'"
    )
    inside = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120
    )
    assert inside.returncode == 0 and inside.stdout.split() == ["3"], inside.stderr
    assert _rotrace_dirs() == before


def test_a_sigterm_while_the_sandbox_starts_leaves_nothing_behind(tmp_path: Path) -> None:
    """A SIGTERM to rotrace while it set the sandbox up killed it by the signal's default action:
    the copy of a persistent place it was making (seeded) and its device copies were left, the
    copying `cp` went on filling it, and a SIGTERM passed on to the tracer inside before it
    answered signals was lost (its pid namespace's PID 1), the command running on: rotrace
    waited for it, or with bwrap gone the tracer and the command ran on, orphaned. Now each
    ends in time, as stopped (143) or as a stopped run (8), leaving no process and no copy."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3000):  # a copy that takes a while
        (data / f"f{i}").write_text("x" * 100)
    policy = tmp_path / "p.toml"
    policy.write_text(f'allow = ["{data}"]\npersistent = ["{data}"]\n')
    mark = f"rotrace-sigterm-{os.getpid()}"
    for delay in (0.0, 0.03, 0.06, 0.1, 0.15, 0.25, 0.4, 0.7):
        argv = [PY, "-m", "rotrace", "run", "-q", "--read-only", "--policy", str(policy), "--",
                "sh", "-c", f"exec sleep 97 # {mark}"]  # fmt: skip
        proc = subprocess.Popen(
            argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        time.sleep(delay)
        proc.send_signal(15)
        _, stderr = proc.communicate(timeout=60)  # within the grace period's 8 s, at worst
        assert proc.returncode in (-15, 143, 8), (delay, proc.returncode, stderr)
        assert "Traceback" not in stderr, stderr
        time.sleep(0.3)
        assert _left_running(mark) == [], (delay, _left_running(mark))
        assert _rotrace_dirs(proc.pid) == set(), delay


def test_a_sandbox_ended_any_way_leaves_nothing_and_says_how(tmp_path: Path) -> None:
    """A SIGKILL of rotrace while bwrap started left bwrap running for good (its --die-with-parent
    takes effect once it has started); a SIGTERM after the command ran, during the clean-up,
    was "stopped before the command ran", the trace lost and the copy left; the sandbox's tracer
    killed while the command ran was "the sandbox could not start". Now: nothing is left, a run
    that ended is reported with its trace, and the tracer's end is said as it was."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(2000):
        (data / f"f{i}").write_text("x")
    policy = tmp_path / "p.toml"
    policy.write_text(f'allow = ["{data}"]\npersistent = ["{data}"]\n')
    killed_by_9: list[int] = []
    mark = f"rotrace-ended-{os.getpid()}"
    for signum, delay in [(9, 0.05), (9, 0.1), (9, 0.2), (15, 0.3), (15, 0.5), (15, 0.8), (1, 0.6)]:
        trace = tmp_path / "t.json"
        trace.unlink(missing_ok=True)
        argv = [PY, "-m", "rotrace", "run", "-q", "--read-only", "--policy", str(policy),
                "--json", str(trace), "--", "sh", "-c", f"echo x > {data}/new # {mark}"]  # fmt: skip
        proc = subprocess.Popen(
            argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        time.sleep(delay)
        proc.send_signal(signum)
        if signum == 9:
            killed_by_9.append(proc.pid)
        _, stderr = proc.communicate(timeout=60)
        time.sleep(0.5)
        assert _left_running(mark) == [], (signum, delay, _left_running(mark))
        assert "Traceback" not in stderr, stderr
        if proc.returncode in (0, 1, 8, 9):  # the run ended before the signal: reported, its trace written
            assert trace.exists(), (signum, delay, stderr)
        if signum != 9:  # (-signum: it came before the run began, which it ended as it would)
            ended = (0, 1, 8, 9, 128 + signum, -signum)
            assert proc.returncode in ended, (signum, delay, proc.returncode, stderr)
            assert _rotrace_dirs(proc.pid) == set(), (signum, delay)
    # the tracer inside killed while the command runs: said as such, nothing left
    argv = [
        PY,
        "-m",
        "rotrace",
        "run",
        "-q",
        "--read-only",
        "--",
        "sh",
        "-c",
        f"echo started; exec sleep 97 # {mark}",
    ]
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "started\n"
    running = [line.split() for line in _left_running(mark)]
    (inner,) = [
        int(pid) for pid, program, *args in running if program == PY and "rotrace.sandbox.inner" in args
    ]
    os.kill(inner, 9)
    _, stderr = proc.communicate(timeout=60)
    assert "ended before the command's result" in stderr and "could not start" not in stderr, stderr
    time.sleep(0.3)
    assert _left_running(mark) == [] and _rotrace_dirs(proc.pid) == set()
    killed = [pid for pid in killed_by_9 if _rotrace_dirs(pid)]
    assert killed == [], killed  # a SIGKILLed rotrace's copies: removed by the runs after it


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox's own device nodes are made as root")
def test_a_device_node_the_machine_lacks_is_left_to_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    """A container without /dev/tty: its copy was an error ("No such file"), exit 3, for every
    --read-only run as root there. The nodes the machine has are copied, the others left out
    (bwrap binds none of them either)."""
    from rotrace.sandbox import bwrap

    monkeypatch.setattr(bwrap, "DEVICE_NODES", ("null", "rotrace-no-such-node", "zero"))
    left: list[str] = []
    with bwrap.own_devices(left) as args:
        assert args[2::3] == ["/dev/null", "/dev/zero"], args
        assert all(os.path.exists(a) for a in args[1::3])
    assert left == [] and not [a for a in args[1::3] if os.path.exists(a)]
