"""What the commands say of their inputs (commands.py)."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from rotrace.commands import _conclude_policy
from rotrace.events import DirState
from rotrace.explain import READ_ONLY_DATABASE
from rotrace.policy.verdict import Verdict
from rotrace.record import TraceHeader
from rotrace.report.view import View
from tests.unit.factories import classify, event, written_trace


def test_a_policys_settings_are_said_to_move_or_to_avoid_what_they_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`check --policy` on traces made without the policy's [env]: a setting whose value is a
    path moves the writes to a writable place; an off switch (PYTHONDONTWRITEBYTECODE=1)
    avoids them, and moves nothing."""
    avoided = Counter({"PYTHONDONTWRITEBYTECODE=1": 450, "IPYTHONDIR=/tmp/ipython": 4})
    _conclude_policy("rotrace.toml", [], [], View(github=False), avoided)
    said = capsys.readouterr().err.splitlines()
    assert any("450 writes outside it that its [env] PYTHONDONTWRITEBYTECODE=1 avoids:" in s for s in said), (
        said
    )
    assert any("4 writes outside it that its [env] IPYTHONDIR=/tmp/ipython moves to a writable place:" in s
               for s in said), said  # fmt: skip


def _saved(tmp_path: Path, name: str, *verdicts: Verdict) -> str:
    header = TraceHeader(["app"], "/srv/app", 0, allowlist=["/tmp"])
    path = tmp_path / name
    path.write_text(written_trace(header, list(verdicts)))
    return str(path)


def test_report_and_diff_do_not_take_a_saved_trace_at_its_word(tmp_path: Path) -> None:
    """A hand-edited trace's `allowed: true` (or `null`, a read's) on a write its own allowlist
    (/tmp) does not allow, or `harmless` SQLite reading said of a delete: `report` said clean
    and `diff` no new violations (exit 0) where `check` said 1. Each is classified again."""
    from rotrace.commands import diff, report

    clean = _saved(tmp_path, "old.json", *classify(event("/tmp/x")))
    (forged,) = classify(event("/etc/rt-evil"))
    forged = dataclasses.replace(forged, allowed=True)
    (deleted,) = classify(event("/srv/app/data/db", "delete", 0, syscall="unlink"))
    deleted = dataclasses.replace(deleted, harmless=True, explanation=READ_ONLY_DATABASE)
    unsaid = dataclasses.replace(forged, allowed=None)  # `allowed: null`, a read's, on a write
    for verdict in (forged, deleted, unsaid):
        tampered = _saved(tmp_path, "new.json", verdict)
        assert report(tampered, View(github=False, quiet=True)) == 1
        assert diff(clean, tampered, View(github=False, quiet=True)) == 1
    assert report(clean, View(github=False, quiet=True)) == 0


def test_a_trace_made_with_the_policys_setting_is_not_said_to_lack_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The policy's [env] PYTHONDONTWRITEBYTECODE=1, and a trace made with it where bytecode was
    written all the same (tox 4 does not pass it to its commands): `check` said the trace was made
    without it, and to trace the app with it set, which it was. Such a write is outside the
    policy, as any other."""
    from rotrace.commands import check

    (tmp_path / "rotrace.toml").write_text(
        'version = 1\nallow = ["/tmp"]\n[env]\nPYTHONDONTWRITEBYTECODE = "1"\n'
    )
    verdicts = classify(event("/srv/app/pkg/__pycache__/m.cpython-311.pyc"))
    for had, said in (
        ({}, "avoids: the traces were made without it"),
        ({"PYTHONDONTWRITEBYTECODE": "1"}, ""),
    ):
        header = TraceHeader(["tox"], "/srv/app", 0, allowlist=["/tmp"], environment=had)
        (tmp_path / "t.json").write_text(written_trace(header, verdicts))
        status = check([str(tmp_path / "t.json")], [], str(tmp_path / "rotrace.toml"), None, View(quiet=True))
        err = capsys.readouterr().err
        assert status == 1 and (said in err if said else "avoids" not in err), err
        assert ("1 place written outside it" in err) == bool(had), err


@pytest.mark.parametrize("value", ["true", "1"])
def test_a_policys_setting_that_avoids_uvs_sync_is_said_to_avoid_its_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest, value: str
) -> None:
    """The policy's [env] UV_NO_SYNC (what the trace it was made from had) and a run traced
    without it, where `uv run` locked the environment (.venv/.lock): the lock's setting is not
    one a plan applies (it changes what uv does), and `check` called the write a plain breach no
    allow entry covers. The policy's setting avoids it: said apart; a run traced with it set
    that wrote there all the same is the policy's breach."""
    from rotrace.commands import check

    app = Path(tempfile.mkdtemp(prefix="rotrace-uv-app-", dir="/var/tmp"))  # outside /tmp, allowed
    request.addfinalizer(lambda: shutil.rmtree(app))
    venv = app / ".venv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / "rotrace.toml").write_text(f'version = 1\nallow = ["/tmp"]\n[env]\nUV_NO_SYNC = "{value}"\n')
    verdicts = classify(event(str(venv / ".lock"), exe=b"/usr/local/bin/uv"))
    assert verdicts[0].explanation is not None and verdicts[0].explanation.id == "uv-venv-lock"
    for had, said in (({}, f"its [env] UV_NO_SYNC={value} avoids"), ({"UV_NO_SYNC": "1"}, "")):
        header = TraceHeader(["uv", "run", "app"], str(app), 0, allowlist=["/tmp"], environment=had)
        (tmp_path / "t.json").write_text(written_trace(header, verdicts))
        status = check([str(tmp_path / "t.json")], [], str(tmp_path / "rotrace.toml"), None, View(quiet=True))
        err = capsys.readouterr().err
        assert status == 1 and (said in err if said else "its [env]" not in err), err
        assert ("outside the policy" in err) == bool(had), err


def test_a_database_only_read_stays_harmless_in_the_plan_of_its_saved_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A read-write open of an SQLite database that was only read: harmless in the run's report
    (exit 0), but `allowlist` checked the saved `allowed` against the trace's allowlist, which
    does not hold the database, classified the open again as a plain write, and planned a
    persistent writable volume over data/. Checked again, it is the same harmless read."""
    from rotrace.commands import allowlist, report

    (opened,) = classify(event("/srv/app/data/app.db", "open"))
    opened = dataclasses.replace(
        opened,
        event=opened.event._replace(flags="O_RDWR|O_CREAT|O_CLOEXEC"),
        allowed=True,
        harmless=True,
        explanation=READ_ONLY_DATABASE,
    )
    trace = _saved(tmp_path, "t.json", opened)
    assert report(trace, View(github=False, quiet=True)) == 0
    capsys.readouterr()
    assert allowlist(trace, "policy", "app") == 0
    policy = capsys.readouterr().out
    assert "allow = []" in policy and "persistent" not in policy, policy


def test_directories_made_on_the_way_to_a_place_the_policys_setting_moves_are_moved_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Jupyter's makedirs of ~/.local, ~/.local/share on its way to ~/.local/share/jupyter in a
    fresh home: the plan puts them all on JUPYTER_DATA_DIR, but `check --policy` with that
    setting called ~/.local and ~/.local/share places outside it no allow entry covers."""
    from rotrace.commands import check

    home = "/root"
    made = [
        event(f"{home}/{d}", "mkdir", 0, syscall="mkdir")
        for d in (".local", ".local/share", ".local/share/jupyter")
    ]
    verdicts = classify(*made, event(f"{home}/.local/share/jupyter/nbsignatures.db"))
    settings = 'JUPYTER_DATA_DIR = "/tmp/jupyter/data"\nJUPYTER_RUNTIME_DIR = "/tmp/jupyter/runtime"\n'
    (tmp_path / "rotrace.toml").write_text(f'version = 1\nallow = ["/tmp"]\n[env]\n{settings}')
    header = TraceHeader(["python3", "app.py"], "/srv/app", 0, allowlist=["/tmp"], environment={"HOME": home})
    (tmp_path / "t.json").write_text(written_trace(header, verdicts))
    status = check([str(tmp_path / "t.json")], [], str(tmp_path / "rotrace.toml"), None, View(quiet=True))
    err = capsys.readouterr().err
    assert status == 1 and "4 writes outside it that its [env]" in err and "outside the policy" not in err, (
        err
    )


def test_a_policys_relative_persistent_place_is_the_traces_project_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`allowlist --format policy` writes `allow = ["data"]`, `persistent = ["data"]`; checked
    against a trace of another checkout (a Pod's /app), the allow entry was read against the
    trace's project and the persistent one against the policy's directory: the data kept in
    data/ was said "cannot be made writable by a mount" under the very policy that keeps it."""
    from rotrace.commands import check

    app = "/srv/app-checked-elsewhere"
    appended = event(f"{app}/data/notes.txt")._replace(flags="O_WRONLY|O_CREAT|O_APPEND")
    (tmp_path / "rotrace.toml").write_text('version = 1\nallow = ["data"]\npersistent = ["data"]\n')
    states = {app.encode(): DirState.CONTENT, f"{app}/data".encode(): DirState.CONTENT}
    header = TraceHeader(["python3", "app.py"], app, 0, directories=states)
    (tmp_path / "t.json").write_text(written_trace(header, classify(appended)))
    status = check([str(tmp_path / "t.json")], [], str(tmp_path / "rotrace.toml"), None, View())
    err = capsys.readouterr().err
    assert status == 0 and "cannot be made writable" not in err, err


def test_update_keeps_a_directory_that_held_files_persistent(tmp_path: Path) -> None:
    """A new upload beside earlier ones: `allowlist` refuses uploads/ (an empty mount would hide
    them), and `check --update` added it as a plain entry: under `run --read-only --policy` an
    empty tmpfs, the command saw none of the earlier files. Added as kept (persistent), it
    starts with them."""
    from rotrace.commands import check
    from rotrace.policy.allowlist import load_policy

    app = "/srv/app-with-uploads"  # (the directories' states are the trace's)
    states = {app.encode(): DirState.CONTENT, f"{app}/uploads".encode(): DirState.CONTENT}
    header = TraceHeader(["python3", "app.py"], app, 0, directories=states)
    (tmp_path / "t.json").write_text(written_trace(header, classify(event(f"{app}/uploads/hello_x1.txt"))))
    policy = tmp_path / "rotrace.toml"
    policy.write_text("version = 1\nallow = []\n")
    assert check([str(tmp_path / "t.json")], [], str(policy), None, View(quiet=True), update=True) == 0
    loaded = load_policy(str(policy))
    assert loaded.allow == ["uploads"] and loaded.places(app) == [f"{app}/uploads"], policy.read_text()


def test_update_never_grants_a_system_tree_or_a_homes_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trace that wrote /etc/cron.d, /etc/sudoers.d, /usr/local/bin and ~/.ssh (a root
    `pip install`, a compromised app): `check --update` added each to `allow` (then granted by
    `run --enforce --policy`). They stay violations, with their fix; the app's own place and a
    root home's cache are added."""
    from rotrace.commands import check
    from rotrace.policy.allowlist import load_policy

    app = "/srv/app-updated"
    paths = ["/etc/cron.d/job", "/etc/sudoers.d/x", "/usr/local/bin/tool", "/root/.ssh/authorized_keys",
             "/home/u/.gnupg/x", f"{app}/out/report.txt", "/root/.myapp/state.json",
             "/usr/src/other/out/x"]  # fmt: skip
    header = TraceHeader(["python3", "app.py"], app, 0, environment={"HOME": "/root"})
    (tmp_path / "t.json").write_text(written_trace(header, classify(*(event(p) for p in paths))))
    policy = tmp_path / "rotrace.toml"
    policy.write_text("version = 1\nallow = []\n")
    status = check([str(tmp_path / "t.json")], [], str(policy), None, View(quiet=True), update=True)
    loaded = load_policy(str(policy))
    assert status == 1 and loaded.allow == ["/root/.myapp", "/usr/src/other/out", "out"], policy.read_text()
    err = capsys.readouterr().err
    assert all(p in err for p in ("/etc/cron.d", "/etc/sudoers.d", "/usr/local/bin", "/root/.ssh")), err


def test_update_never_grants_the_traced_runs_home_keys_a_whole_home_nor_the_systems_state(
    tmp_path: Path,
) -> None:
    """A home elsewhere than /home and /root (HOME=/var/lib/jenkins: its .ssh), a home itself
    (/home/bob, which holds its .ssh), the system's state and runtime (/var/lib/systemd, /run):
    `check --update` added each. A daemon's own place in /run and /var/lib is still added."""
    from rotrace.commands import check
    from rotrace.policy.allowlist import load_policy

    app = "/srv/app-updated"
    paths = ["/var/lib/jenkins/.ssh/authorized_keys", "/home/bob/.bashrc", "/var/lib/systemd/linger/x",
             "/run/x.pid", "/run/myapp/app.pid", "/var/lib/myapp/state.db"]  # fmt: skip
    header = TraceHeader(["python3", "app.py"], app, 0, environment={"HOME": "/var/lib/jenkins"})
    (tmp_path / "t.json").write_text(written_trace(header, classify(*(event(p) for p in paths))))
    policy = tmp_path / "rotrace.toml"
    policy.write_text("version = 1\nallow = []\n")
    check([str(tmp_path / "t.json")], [], str(policy), None, View(quiet=True), update=True)
    granted = load_policy(str(policy)).allow
    never = {"/var/lib/jenkins/.ssh", "/var/lib/jenkins", "/home/bob", "/home", "/run", "/var/lib/systemd"}
    assert not never & set(granted), granted
    assert {"/run/myapp", "/var/lib/myapp"} <= set(granted), granted


@pytest.mark.parametrize("how", ["create", "rename", "delete", "symlink", "moved-away-and-back"])
def test_a_policy_the_traced_command_wrote_gates_nothing(
    tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command wrote `allow = ["/"]` into rotrace.toml, then wrote anywhere: `check`, which
    reads the policy after the run, passed it (exit 0). A write to the policy file itself is
    said, and the check fails (3): the input it trusts is the command's."""
    from rotrace.commands import check
    from rotrace.errors import BadInput

    policy = tmp_path / "rotrace.toml"
    policy.write_text('version = 1\nallow = ["/"]\n')
    changed = {
        "create": event(str(policy)),
        "rename": event(str(tmp_path / "new.toml"), "rename", 0, target=str(policy), syscall="rename"),
        "delete": event(str(policy), "delete", 0, syscall="unlink"),
        # the policy replaced by a link to a permissive file in the checkout: the name as given
        "symlink": event(str(policy), "symlink", 0, target="tests/permissive.toml", syscall="symlink"),
        # its directory moved away, the policy written there, moved back: no event names it
        "moved-away-and-back": event(str(tmp_path), "rename", 0, target=f"{tmp_path}.x", syscall="rename"),
    }[how]
    header = TraceHeader(["app"], str(tmp_path), 0, allowlist=["/tmp"])
    (tmp_path / "t.json").write_text(written_trace(header, classify(changed, event("/srv/evil"))))
    with pytest.raises(BadInput, match="the traced command wrote the policy file"):
        check([str(tmp_path / "t.json")], [], str(policy), None, View())
    assert "no violations" not in capsys.readouterr().err  # said before any verdict
    untouched = classify(event(str(tmp_path / "other.toml")), event("/srv/evil"))
    (tmp_path / "t.json").write_text(written_trace(header, untouched))
    assert check([str(tmp_path / "t.json")], [], str(policy), None, View(quiet=True)) == 0


def test_diff_says_the_command_failed_where_it_succeeded_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """uv 0.7.15 dying at start under a read-only root (exit 2) against 0.8.22 (exit 0): its
    writes only disappeared, and `diff` said nothing else, exit 0: a gate passed an app that no
    longer starts. The command's ending is compared: failing now is exit 8 (bit 3)."""
    from rotrace.commands import diff

    writes = classify(event("/tmp/x"))
    for name, code, signal in (("ok", 0, None), ("failed", 2, None), ("killed", 0, "SIGKILL")):
        header = TraceHeader(["uv", "run", "app"], "/srv/app", code, signal=signal)
        (tmp_path / f"{name}.json").write_text(written_trace(header, writes))
    assert diff(str(tmp_path / "ok.json"), str(tmp_path / "ok.json"), View()) == 0
    assert diff(str(tmp_path / "ok.json"), str(tmp_path / "failed.json"), View()) == 8
    out = capsys.readouterr().out
    assert "The command ended otherwise: exit status 0 before, exit status 2 now" in out, out
    assert diff(str(tmp_path / "failed.json"), str(tmp_path / "ok.json"), View()) == 0  # it mends
    assert diff(str(tmp_path / "ok.json"), str(tmp_path / "killed.json"), View(quiet=True)) == 8
    assert "✗ the command failed, where it succeeded before" in capsys.readouterr().out


def test_check_quiet_says_the_verdicts_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`check -q` with a policy found from this directory (relative entries) said three
    `rotrace:` lines before each verdict; -q prints the verdict lines (each trace named where
    there are several)."""
    from rotrace.commands import check

    (tmp_path / "rotrace.toml").write_text('version = 1\nallow = ["data"]\n')
    first = _saved(tmp_path, "one.json", *classify(event("/srv/app/data/x")))
    second = _saved(tmp_path, "two.json", *classify(event("/srv/app/data/y")))
    monkeypatch.chdir(tmp_path)
    assert check([first, second], [], None, None, View(github=False, quiet=True)) == 0
    said = capsys.readouterr().err.splitlines()
    assert said == [f"rotrace: {first}", said[1], f"rotrace: {second}", said[3]], said
    assert all(line.startswith("✓ no violations") for line in (said[1], said[3])), said


def test_check_reads_a_home_entry_as_the_traced_runs_home(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`check --allow '~/.cache'`, and a policy's `~/.cache`, of a trace made in CI as another
    user: `~` was this user's home, so the trace's writes in its own ~/.cache were violations,
    with no word why; relative entries are read against the trace's project, `~` against its HOME."""
    from rotrace.commands import check

    traced_home = "/home/ci-user"
    monkeypatch.setenv("HOME", str(tmp_path / "checker"))
    header = TraceHeader(["tool"], "/srv/app", 0, environment={"HOME": traced_home})
    (tmp_path / "t.json").write_text(written_trace(header, classify(event(f"{traced_home}/.cache/tool/f"))))
    assert check([str(tmp_path / "t.json")], ["~/.cache"], None, None, View()) == 0
    assert f"~ is read as the traced run's home {traced_home}" in capsys.readouterr().err
    (tmp_path / "rotrace.toml").write_text('version = 1\nallow = ["~/.cache"]\n')
    assert check([str(tmp_path / "t.json")], [], str(tmp_path / "rotrace.toml"), None, View(quiet=True)) == 0
    mine = [f"{tmp_path}/checker/.cache"]
    assert check([str(tmp_path / "t.json")], mine, None, None, View(quiet=True)) == 1


def test_a_home_that_makes_the_whole_tree_or_none_is_refused(tmp_path: Path) -> None:
    """A trace whose HOME is / (a process attached to, which rewrote its own environment; a
    container's user with no home): `~` read as it was the whole tree, and `check` passed a
    write anywhere. A merge of runs in several homes has none `~` may mean: it was this user's."""
    from rotrace.commands import check
    from rotrace.errors import BadInput
    from rotrace.merge.combine import merge

    def trace(name: str, home: str, path: str) -> str:
        header = TraceHeader(["tool"], "/srv/app", 0, environment={"HOME": home})
        (tmp_path / f"{name}.json").write_text(written_trace(header, classify(event(path))))
        return str(tmp_path / f"{name}.json")

    for i, root in enumerate(["/", "//", "//.", "/home/.."]):  # (`//` is / to Linux, not to normpath)
        with pytest.raises(BadInput, match="the home is /, which ~ would make the whole tree"):
            check([trace(f"root{i}", root, "/srv/protected/f")], ["~"], None, None, View(quiet=True))
    rooted = trace("rooted", "/", "/srv/protected/f")
    assert check([rooted], ["~/.cache"], None, None, View(quiet=True)) == 1  # /.cache: not the tree
    runs = [trace("a", "/home/a", "/home/a/.cache/x"), trace("b", "/home/b", "/home/a/.cache/evil")]
    merge(runs, str(tmp_path / "m.json"), [], [])
    with pytest.raises(BadInput, match=r"different homes \(/home/a, /home/b\)"):
        check([str(tmp_path / "m.json")], ["~/.cache"], None, None, View(quiet=True))


def test_a_saved_venv_whose_directory_is_itself_is_read_to_its_end(tmp_path: Path) -> None:
    """A hand-edited trace's venv `//x`: os.path.dirname("//") is "//", and the planner's climb
    to the root never ended (report, check, allowlist and kube harden spun at 100% CPU)."""
    import signal

    from rotrace.commands import allowlist, check, report

    made = classify(event("/srv/app/d", "mkdir", 0, syscall="mkdir"), event("/srv/app/d/f"))
    for venv in (b"//x", b"//", b"//srv/app"):
        trace = _saved(tmp_path, "t.json", *(dataclasses.replace(v, venv=venv) for v in made))

        def stuck(_signum: int, _frame: object, venv: bytes = venv) -> None:
            raise AssertionError(f"venv {venv!r}: still planning after 20 s")

        previous = signal.signal(signal.SIGALRM, stuck)
        signal.alarm(20)
        try:
            assert report(trace, View(github=False, quiet=True)) == 1
            assert check([trace], ["/tmp"], None, None, View(quiet=True)) == 1
            assert allowlist(trace, "k8s", "app") == 1
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)


def test_pytests_staging_directory_is_its_cache_which_the_policys_setting_avoids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pytest (>= 8) fills pytest-cache-files-XXXXXXXX and renames it onto .pytest_cache: `check`
    said the policy's PYTEST_ADDOPTS avoided the cache's writes, and blamed the staging
    directory's as places no allow entry can cover."""
    from rotrace.commands import check

    app = "/srv/app-pytest"
    staging = f"{app}/pytest-cache-files-6xtqp6n1"
    events = [event(staging, "mkdir", 0, syscall="mkdir"), event(f"{staging}/README.md"),
              event(staging, "rename", 0, target=f"{app}/.pytest_cache", syscall="rename"),
              event(f"{app}/.pytest_cache/v/cache/nodeids")]  # fmt: skip
    verdicts = classify(*events)
    assert {v.explanation.id for v in verdicts if v.explanation} == {"pytest-cache"}, verdicts
    header = TraceHeader(["python3", "-m", "pytest"], app, 0)
    (tmp_path / "t.json").write_text(written_trace(header, verdicts))
    policy = tmp_path / "rotrace.toml"
    policy.write_text('version = 1\nallow = []\n[env]\nPYTEST_ADDOPTS = "-o cache_dir=/tmp/pytest-cache"\n')
    check([str(tmp_path / "t.json")], [], str(policy), None, View(quiet=True))
    err = capsys.readouterr().err
    assert "4 writes outside it that its [env] PYTEST_ADDOPTS" in err and "outside the policy" not in err, err


def test_check_counts_a_rename_as_one_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Three files written under temporary names and renamed into data/: the report counts 7
    writes there, `check` counted 10 (each rename's two names)."""
    from rotrace.commands import check

    writes = [event("/srv/app/data", "mkdir", 0, syscall="mkdir")]
    for i in range(3):
        made = f"/srv/app/data/f{i}"
        writes += [event(f"{made}.tmp"), event(f"{made}.tmp", "rename", 0, target=made, syscall="rename")]
    (tmp_path / "rotrace.toml").write_text("version = 1\nallow = []\n")
    trace = _saved(tmp_path, "t.json", *classify(*writes))
    assert check([trace], [], str(tmp_path / "rotrace.toml"), None, View(quiet=True)) == 1
    err = capsys.readouterr().err
    assert "(7 writes in /srv/app/data)" in err, err
