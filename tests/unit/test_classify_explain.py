"""Classification, the read-only forecast, explanations that fit the command, diff, aggregate."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from rotrace.events import DirState, FileEvent, ProcessInfo
from rotrace.explain import BY_ID, explain
from rotrace.pathnames import generalise
from rotrace.policy.allowlist import build_allowlist
from rotrace.policy.forecast import forecast
from rotrace.policy.mounts import MountPlanner
from rotrace.policy.verdict import Classifier, Verdict
from rotrace.report.aggregate import Aggregate
from rotrace.report.diff import Changes, changes_of, diff_traces
from tests.unit.factories import classify, event


def test_forecast_by_call() -> None:
    assert forecast(event("/etc/x", "create", 3), writable=False) == "EROFS"
    assert forecast(event("/etc/x", "mkdir", "EEXIST"), writable=False) == "EEXIST"
    assert forecast(event("/no/such/dir/x", "chmod", "ENOENT"), writable=False) == "ENOENT"
    assert forecast(event("/etc/x", "create", 3), writable=True) == "ok"
    assert forecast(event("/dev/tty", "open", 3), writable=False) == "ok"  # a device needs no fs
    assert forecast(event("/x", "open", write=False), writable=False) is None


def test_a_name_made_under_a_missing_parent_stays_enoent_though_the_parent_is_there_now(
    tmp_path: Path,
) -> None:
    """pathlib's mkdir(parents=True) tries the leaf first (ENOENT), then makes the parent: when
    the trace is classified the parent is there, yet under a read-only root that first call
    fails as it did here, before the filesystem is checked for writing."""
    (tmp_path / "made-later").mkdir()
    for op in ("mkdir", "symlink", "mknod", "link", "create"):
        missing = event(str(tmp_path / "made-later" / "leaf"), op, "ENOENT")
        assert forecast(missing, writable=False) == "ENOENT", op
    # removing a name that is not there, in a directory that is: EROFS comes first
    assert (
        forecast(event(str(tmp_path / "made-later" / "gone"), "delete", "ENOENT"), writable=False) == "EROFS"
    )


def test_harmless_failures_are_not_violations() -> None:
    made, exists, erofs = classify(
        event("/srv/d", "mkdir", 0), event("/srv/d", "mkdir", "EEXIST"), event("/srv/e", "mkdir", "EROFS")
    )
    assert made.violation and not made.harmless
    assert exists.harmless and not exists.violation and exists.ro_forecast == "EEXIST"
    assert erofs.violation and not erofs.harmless  # EROFS is the failure rotrace is here for


def test_a_name_not_made_is_no_violation_wherever_it_was_to_be() -> None:
    """virtualenv's threads make its app-data directories with makedirs, racing: a mkdir that
    failed with ENOENT (or EEXIST) while another thread made the parent was unresolved, and a
    violation in an allowed directory (2 runs in 4 exited 1). It made nothing, anywhere, and
    fails alike under a read-only root, whatever string it passed (MLflow's mkdir("data"),
    EEXIST, while a thread changed the cwd: `diff` of two identical runs said a violation
    appeared), as a placed one outside the allowlist does. A refusal unresolved (EACCES: a
    policy's) and a success unresolved stay violations."""

    def unresolved(result: int | str, path: str = "/srv/app/d") -> FileEvent:
        return event(path, "mkdir", result, syscall="mkdir")._replace(unresolved=True)

    allow = ["/srv/app"]
    verdicts = classify(
        unresolved("ENOENT"), unresolved("EEXIST"), unresolved("EACCES"), unresolved(0), allow=allow
    )
    assert [(v.violation, v.harmless) for v in verdicts] == [
        (False, True),
        (False, True),
        (True, False),
        (True, False),
    ]
    assert verdicts[3].unplaced and not verdicts[2].went_through
    outside = classify(
        unresolved("ENOENT", "/srv/other/d"), unresolved("EEXIST", "data"), unresolved(0, "data"), allow=allow
    )
    assert [(v.violation, v.harmless) for v in outside] == [(False, True), (False, True), (True, False)]
    placed = classify(event("/srv/other/d", "mkdir", "EEXIST", syscall="mkdir"), allow=allow)
    assert [(v.violation, v.harmless) for v in placed] == [(False, True)]  # as a placed one


def test_venv_created_during_the_trace_and_harmless_venv_writes() -> None:
    _, lib, again = classify(
        event("/srv/new-env/pyvenv.cfg"),
        event("/srv/new-env/lib/x.py"),
        event("/srv/new-env/lib", "mkdir", "EEXIST"),
    )
    assert lib.venv == b"/srv/new-env" and lib.venv_write
    assert again.venv == b"/srv/new-env" and not again.venv_write  # it wrote nothing


def test_explanations_follow_the_command_line() -> None:
    lock = event("/app/.venv/.lock", exe=b"/usr/bin/uv", pid=7)
    classifier = Classifier(build_allowlist([], None))
    classifier.learn(event("/app/.venv/pyvenv.cfg", result="EEXIST"))
    for argv, expected in [
        (("uv", "run", "python", "main.py"), "uv-venv-lock"),
        (("uv", "sync"), "uv-sync-command"),  # UV_NO_SYNC avoids none of its writes
        (("uv", "pip", "install", "rich"), "uv-pip-install"),
        ((), "uv-venv-lock"),  # no command line known: the path and program decide
    ]:
        classifier.know([ProcessInfo(7, 1, 0, b"/usr/bin/uv", argv)])
        known = classifier.classify(lock, b"/app/.venv", known_venv=True).explanation
        assert known is not None and known.id == expected, argv
    pyc = event("/app/.venv/lib/python3.11/site-packages/rich/__pycache__/x.pyc", exe=b"/usr/bin/python3.11")
    assert explain(pyc, b"/app/.venv", "python -m pip install rich").id == "pip-install"  # type: ignore[union-attr]
    # `uv venv` (hatch's environments) makes a venv: no sync UV_NO_SYNC would stop
    made = event("/app/env/pyvenv.cfg", exe=b"/usr/bin/uv")
    for argv in ("uv venv /app/env", "/usr/bin/uv -q venv /app/env", "uv pip install rich"):
        assert getattr(explain(made, b"/app/env", argv), "id", None) != "uv-sync-at-run-time", argv
    assert getattr(explain(made, b"/app/env", "uv run app"), "id", None) == "uv-sync-at-run-time"
    assert getattr(explain(made, b"/app/env", "uv sync"), "id", None) == "uv-sync-command"
    # pip-compile (pip-tools) is no pip: PIP_CACHE_DIR does not move its ~/.cache/pip-tools
    way = event("/root/.cache", "mkdir", 0, syscall="mkdir", exe=b"/usr/bin/python3.11")
    for argv, ident in (
        ("/v/bin/python /v/bin/pip-compile -o r.txt", "xdg-cache"),
        ("/v/bin/python /v/bin/pip wheel x", "pip-cache-way"),
    ):
        assert getattr(explain(way, None, argv), "id", None) == ident, argv
    assert explain(pyc, b"/app/.venv", "python main.py").id == "venv-bytecode"  # type: ignore[union-attr]
    for path, ident in [
        ("/app/.pytest_cache/v/cache/nodeids", "pytest-cache"),
        ("/app/.mypy_cache/3.11/x.json", "mypy-cache"),
        ("/app/.dmypy.json", "dmypy-status"),
        ("/app/.ruff_cache/0.6/x", "ruff-cache"),
        ("/root/.cache/black/24/cache.pickle", "black-cache"),
        ("/root/.cache/pip/http/x", "pip-cache"),
        ("/home/ci/.local/share/virtualenv/py_info/1/x.json", "virtualenv-app-data"),
        ("/root/.cache/virtualenv/wheel/house/pip.whl", "virtualenv-app-data"),
        ("/app/docs/_build/.doctrees/index.doctree", "sphinx-doctrees"),
        ("/app/pkg/__pycache__/m.pyc", "python-bytecode"),
        ("/app/.pdm-python", "pdm-python"),
    ]:
        known = explain(event(path), None, "")
        assert known is not None and known.id == ident, path
    # git's optional index refresh (status, describe, diff): GIT_OPTIONAL_LOCKS=0 avoids it; a
    # commit's index lock is no optional one
    lock = event("/app/.git/index.lock", exe=b"/usr/bin/git")
    refresh = "git-optional-index-lock"
    for argv, ident in [("git status --porcelain", refresh), ("/usr/bin/git -C /app diff", refresh),
                        ("git commit -m x", None), ("git add status", None)]:  # fmt: skip
        assert getattr(explain(lock, None, argv), "id", None) == ident, argv


def test_a_diff_pairs_temporary_names_of_any_letters() -> None:
    """Python's tempfile names with no digit (`qwzkfhtb`, 6% of them) are no glob (generalise
    keeps 8 letters: `packages`): two identical builds still differed by them. A write that
    went and one that appeared, of one op in one directory, with names of that shape, pair."""
    old = classify(
        event("/tmp/qwzkfhtb", "mkdir", 0), event("/app/dist/tmpxkcdqwer.whl"), event("/tmp/a/keep")
    )
    new = classify(
        event("/tmp/hjklmnop", "mkdir", 0), event("/app/dist/tmpabcdzzzz.whl"), event("/tmp/a/keep")
    )
    diff = diff_traces(changes_of("/app", old), changes_of("/app", new))
    assert diff.appeared == [] and diff.disappeared == [], diff
    other = classify(event("/tmp/hjklmnop", "create"), event("/srv/settings"), event("/tmp/a/keep"))
    diff = diff_traces(changes_of("/app", old), changes_of("/app", other))
    assert [(c.op, c.path) for c in diff.appeared] == [
        ("create", "/srv/settings"),
        ("create", "/tmp/hjklmnop"),
    ]
    assert [c.path for c in diff.new_violations] == ["/srv/settings"]


def test_a_diff_of_atomic_saves_onto_hashed_names_is_no_change() -> None:
    """A file cache: mkstemp(dir="cache", prefix=".part-"), then os.replace onto cache/<sha1>.bin.
    A draw with no digit (`.part-imxmxoyb`) was settled as a temporary name, and the name its
    rename left was dropped from the names counted: the next run, whose draws all had digits,
    left "one more" file, a new violation for an identical run (about 1 pair of runs in 3)."""

    def saves(*draws: str) -> list[Verdict]:
        hashes = ("77de68daecd823ba", "1b6453892473a467", "ac3478d69a3c81fa")
        events = [event("/app/cache", "mkdir", 0)]
        for draw, digest in zip(draws, hashes, strict=True):
            part = f"/app/cache/.part-{draw}"
            made = event(part)._replace(flags="O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC")
            events += [made, event(part, "rename", 0, target=f"/app/cache/{digest}.bin", syscall="rename")]
        return classify(*events)

    diff = diff_traces(
        changes_of("/app", saves("fwi7i42z", "imxmxoyb", "wjv5onaz")),
        changes_of("/app", saves("yynrg6db", "o01ru9ps", "36onhxmq")),
    )
    assert diff.new_violations == [] and diff.appeared == [], diff


def test_a_diff_pairs_temporary_names_after_a_prefix_of_the_callers() -> None:
    """NamedTemporaryFile(prefix="upl"): `upl` and the 8 characters, which pair as the same
    write in two runs; another prefix is another write."""
    old = classify(event("/tmp/uplk3x_q9zb"), event("/tmp/cache-abck3x_q9zb.json"), event("/tmp/abck3x_q9zb"))
    new = classify(event("/tmp/uplqwzkfhtb"), event("/tmp/cache-abc0_zzzz9a.json"), event("/tmp/xyz0_zzzz9a"))
    diff = diff_traces(changes_of("/app", old), changes_of("/app", new))
    assert [c.path for c in diff.appeared] == ["/tmp/xyz0_zzzz9a"], diff
    assert [c.path for c in diff.disappeared] == ["/tmp/abck3x_q9zb"], diff


def test_a_diff_pairs_a_temporary_name_with_a_pid_after_a_word_of_eight_letters() -> None:
    """wandb points debug-internal.log at the run's log with a symbolic link made as
    debug-internal.log.PID and renamed over it: `internal` was read as tempfile's 8 after a
    prefix, the pid kept, and two identical runs differed by both writes. A number after the
    8 is no tempfile caller's suffix: the name is its directory's `*`."""

    def run(pid: int) -> list[Verdict]:
        made = f"/srv/app/wandb/debug-internal.log.{pid}"
        return classify(
            event(made, "symlink", 0, target="run/logs/debug-internal.log", syscall="symlink"),
            event(made, "rename", 0, target="/srv/app/wandb/debug-internal.log", syscall="rename"),
        )

    diff = diff_traces(changes_of("/app", run(2344)), changes_of("/app", run(2369)))
    assert diff.appeared == diff.disappeared == [], diff
    kept = classify(
        event("/srv/app/wandb/debug-internal.log.2369", "symlink", 0, target="x", syscall="symlink")
    )
    diff = diff_traces(changes_of("/app", run(2344)), changes_of("/app", kept))  # one that stays: new
    assert [c.path for c in diff.new_violations] == ["/srv/app/wandb/debug-internal.log.2369"], diff


def test_a_diff_pairs_segments_made_without_o_excl_and_removed() -> None:
    """whoosh writes an index segment's files with a plain open (no O_EXCL), removes some and
    keeps the segment: two identical runs said "14 new violations", each drawn name new. A
    draw of 16 letters and digits is a per-run name: no change; a new file still shows."""

    def run(draw: str, extra: str | None = None) -> list[Verdict]:
        made = [event(f"/srv/app/index/MAIN_{draw}.{ext}") for ext in ("trm", "pst", "col", "seg")]
        removed = [
            event(f"/srv/app/index/MAIN_{draw}.{ext}", "delete", 0, syscall="unlink")
            for ext in ("trm", "pst")
        ]
        return classify(*made, *removed, *([event(f"/srv/app/index/{extra}")] if extra else []))

    diff = diff_traces(
        changes_of("/app", run("w8kq2m1zxv9c0pld")), changes_of("/app", run("ab12cd34ef56gh78"))
    )
    assert diff.appeared == diff.disappeared == [], diff
    diff = diff_traces(
        changes_of("/app", run("w8kq2m1zxv9c0pld")), changes_of("/app", run("ab12cd34ef56gh78", "evil.pth"))
    )
    assert [c.path for c in diff.new_violations] == ["/srv/app/index/evil.pth"], diff


def test_a_diff_pairs_a_temporary_directorys_tree_whatever_its_draw() -> None:
    """`pip install --target`: mkdtemp(prefix="pip-target-") in /tmp, lib/python/pkg made in it,
    pkg renamed into the project (refused there), the rest removed. A draw of letters only (1 in
    17) is no per-run form, a draw with a digit is: two identical runs differed by every name
    below it ("1 new violation"). A new name written below such a directory is still new."""

    def run(draw: str, name: str = "__init__.py", base: str = "/tmp") -> list[Verdict]:
        top = f"{base}/pip-target-{draw}"
        return classify(
            event(top, "mkdir", 0, syscall="mkdir"),
            event(f"{top}/lib", "mkdir", 0, syscall="mkdir"),
            event(f"{top}/lib/python", "mkdir", 0, syscall="mkdir"),
            event(f"{top}/lib/python/pkg", "mkdir", 0, syscall="mkdir"),
            event(f"{top}/lib/python/pkg/{name}"),
            event(f"{top}/lib/python/pkg", "rename", 0, target="/srv/app/vendor/pkg", syscall="rename"),
            event(f"{top}/lib/python", "delete", 0, syscall="rmdir"),
            event(f"{top}/lib", "delete", 0, syscall="rmdir"),
            event(top, "delete", 0, syscall="rmdir"),
        )

    for base in ("/tmp", "/srv/app/build"):  # a scratch place, the project (refused)
        for a, b in (("xxvqqnfy", "k3x_q9zb"), ("k3x_q9zb", "asbvcbnk"), ("asbvcbnk", "fmzoelaj")):
            diff = diff_traces(changes_of("/app", run(a, base=base)), changes_of("/app", run(b, base=base)))
            assert diff.appeared == diff.disappeared == diff.became == [], (a, b, diff)
        old, new = run("xxvqqnfy", base=base), run("k3x_q9zb", "evil.py", base=base)
        diff = diff_traces(changes_of("/app", old), changes_of("/app", new))
        assert [c.path for c in diff.appeared] == [f"{base}/pip-target-*/*/*/*/evil.py"], diff

    # a temporary directory whose per-run form (job-*) is that of one the run keeps: the kept
    # one's writes are compared by that form, whether a run made the temporary one or not
    def jobs(kept: str, gone: str | None) -> list[Verdict]:
        made = [event(f"/srv/app/out/job-{kept}", "mkdir", 0, syscall="mkdir"),
                event(f"/srv/app/out/job-{kept}/result.txt")]  # fmt: skip
        if gone is not None:
            made += [event(f"/srv/app/out/job-{gone}", "mkdir", 0, syscall="mkdir"),
                     event(f"/srv/app/out/job-{gone}", "delete", 0, syscall="rmdir")]  # fmt: skip
        return classify(*made)

    diff = diff_traces(changes_of("/app", jobs("67890", "12345")), changes_of("/app", jobs("24680", None)))
    assert not [c for c in diff.disappeared if c.path.endswith("result.txt")], diff
    kept = classify(event("/srv/app/build/pip-target-abcdefgh", "mkdir", 0, syscall="mkdir"))  # left
    diff = diff_traces(changes_of("/app", run("xxvqqnfy", base="/srv/app/build")), changes_of("/app", kept))
    assert [c.path for c in diff.new_violations] == ["/srv/app/build/pip-target-abcdefgh"], diff


def test_a_diff_pairs_mktemps_six_characters_after_a_prefix() -> None:
    """`mktemp data/cache.XXXXXX` (and node's fs.mkdtemp) left in the app's directory: six of
    [A-Za-z0-9], no digit one draw in three: two identical runs differed ("1 new violations").
    Two words of six letters (`cache.Backup`, `cache.Config`) are no draw. Django saves an upload
    beside one of its name as `NAME_` and seven of [A-Za-z0-9] (`hello_PLmxIMd.txt`)."""
    for a, b in (("cache.DMAsDv", "cache.a9kMtj"), ("cache.w5PuQC", "cache.kQzwRb"), ("x-TK7jl1", "x-xYzWvq"),
                 ("tmp.k3XqP0aZ7m", "tmp.QqB7Lw2nXa"), ("cfg.aB3dEf.json", "cfg.Zx9QwE.json"),
                 ("hello_Gh3Gmfg.txt", "hello_PLmxIMd.txt")):  # fmt: skip
        old, new = classify(event(f"/srv/data/{a}")), classify(event(f"/srv/data/{b}"))
        diff = diff_traces(changes_of("/app", old), changes_of("/app", new))
        assert diff.appeared == diff.disappeared == [], (a, b, diff)
    # words, and names with no prefix of a caller's: new writes
    for a, b in (("cache.Backup", "cache.Config"), ("config.apiKey", "config.dbConn"), ("apiKey", "sshKey"),
                 ("admin1", "alice1"), ("user.admin1", "user.alice1"),
                 ("user_JohnDoe.json", "user_JaneDoe.json"), ("db_Backup.sql", "db_Config.sql")):  # fmt: skip
        old, new = classify(event(f"/srv/data/{a}")), classify(event(f"/srv/data/{b}"))
        diff = diff_traces(changes_of("/app", old), changes_of("/app", new))
        assert [c.path for c in diff.new_violations] == [f"/srv/data/{b}"], (a, b, diff)


def test_a_diff_pairs_the_temporary_names_of_unlinked_files() -> None:
    """gunicorn's worker heartbeat: mkstemp(prefix="wgunicorn-") unlinked at once, then written
    through its fd, whose name the kernel ends with ` (deleted)`: two identical runs differed by
    it in `rotrace diff`; a name of letters then digits stays what it is."""
    old = classify(event("/tmp/wgunicorn-k3x_q9zb (deleted)"), event("/tmp/tmpab12cd34 (deleted)"))
    new = classify(event("/tmp/wgunicorn-qwzkfhtb (deleted)"), event("/tmp/tmp0_zzzz9a (deleted)"))
    diff = diff_traces(changes_of("/app", old), changes_of("/app", new))
    assert diff.appeared == [] and diff.disappeared == [], diff
    assert generalise("/tmp/wgunicorn-k3x_q9zb (deleted)") == "/tmp/wgunicorn-* (deleted)"
    assert generalise("/tmp/python39 (deleted)") == "/tmp/python39 (deleted)"


def test_a_write_in_both_traces_that_became_a_violation_is_a_new_violation() -> None:
    """Writes are folded by (op, path): a write of /proc/2/oom_score_adj by its own process
    (allowed: /proc/self) and, in the new run, by a child (a violation) were one key, and `diff`
    said "no change", exit 0. A key that is a violation now and was not is a new violation."""
    own = classify(event("/proc/2/oom_score_adj", pid=2))
    child = classify(event("/proc/2/oom_score_adj", pid=3))
    assert not own[0].violation and child[0].violation
    diff = diff_traces(changes_of("/app", own), changes_of("/app", child))
    assert [c.path for c in diff.new_violations] == ["/proc/*/oom_score_adj"] and diff.appeared == []
    assert diff_traces(changes_of("/app", child), changes_of("/app", own)).new_violations == []


def test_a_diff_pairs_pytests_bytecode_of_another_pid() -> None:
    """pytest writes its rewritten bytecode as `NAME.pyc.PID`, then renames it: two identical
    runs differed by a pid of four digits (a long number was generalised, a short one not)."""
    pyc = "/app/tests/__pycache__/test_g.cpython-311-pytest-9.2.0.pyc"
    old = classify(event(f"{pyc}.1234"), event(f"{pyc}.1234", "rename", 0, target=pyc, syscall="rename"))
    new = classify(event(f"{pyc}.987"), event(f"{pyc}.987", "rename", 0, target=pyc, syscall="rename"))
    diff = diff_traces(changes_of("/app", old), changes_of("/app", new))
    assert diff.appeared == [] and diff.disappeared == [], diff
    assert generalise("/app/version.2024") == "/app/version.2024"  # a number after no .pyc stays


def test_a_diff_pairs_a_pid_of_four_digits_with_one_of_five_beside_a_draw() -> None:
    """Scrapy's job file, `PID-UUID.json` made as `.PID-UUID.json.tmp`, renamed, removed: a pid
    of five digits is folded with the uuid (`*-*.json`), one of four kept (`9958-*.json`), and
    two identical runs differed by three writes. A word beside a draw is still a new name."""
    home = "/root/.local/state/scrapy/job_files"

    def job(pid: str) -> list[Verdict]:
        name = f"{pid}-{uuid.uuid4().hex}.json"
        return classify(event(f"{home}/.{name}.tmp"),
                        event(f"{home}/.{name}.tmp", "rename", 0, target=f"{home}/{name}", syscall="rename"),
                        event(f"{home}/{name}", "delete", 0, syscall="unlink"))  # fmt: skip

    diff = diff_traces(changes_of("/app", job("9958")), changes_of("/app", job("10234")))
    assert diff.appeared == [] and diff.disappeared == [], diff
    diff = diff_traces(changes_of("/app", job("9958")), changes_of("/app", job("settings")))
    assert diff.appeared != [], diff


def test_a_path_that_is_not_a_place_is_never_allowed() -> None:
    """A hand-made trace's `/srv/app/cache/../../../etc/passwd` (or `//`, `.`, relative): `check
    --allow /srv/app/cache` called it an allowed write, its text starting with the entry's; it
    names /etc/passwd, as a rename's or a link's target would. A symlink's target is only text."""
    allow = ["/srv/app/cache"]
    odd = ["/srv/app/cache/../../../etc/passwd", "/srv/app/cache/./x", "//srv/app/cache/x", "srv/app/cache/x"]
    assert [v.allowed for v in classify(*[event(p) for p in odd], allow=allow)] == [False] * len(odd)
    moves = [
        event("/srv/app/cache/a", op, 0, target="/srv/app/cache/../b", syscall=op)
        for op in ("rename", "link")
    ]
    assert [v.allowed for v in classify(*moves, allow=allow)] == [False, False]
    fine = [
        event("/srv/app/cache/x"),
        event("/srv/app/cache/l", "symlink", 0, target="../../etc", syscall="symlink"),
    ]
    assert [v.allowed for v in classify(*fine, allow=allow)] == [True, True]
    # through a magic link of /proc (the tracer names where it leads): /proc/self is allowed by default
    links = ["/proc/self/root/etc/x", "/proc/self/cwd/x", "/proc/123/task/124/root", "/proc/self/fd/3/x",
             "/dev/fd/3/x", "/dev/stdout/x"]  # fmt: skip
    assert [v.allowed for v in classify(*[event(p) for p in links])] == [False] * len(links)
    assert [v.allowed for v in classify(event("/proc/self/fd/1"), event("/proc/self/attr/current"))] == [
        True,
        True,
    ]
    # a rename or a link without its other name (a hand-made trace's) is no place
    bare = [event("/srv/app/cache/a", op, 0, syscall=op) for op in ("rename", "link")]
    assert [v.allowed for v in classify(*bare, allow=allow)] == [False, False]


def test_a_merged_traces_glob_is_allowed_by_no_glob_of_the_allowlist() -> None:
    """`rotrace merge` wrote three runs' `/srv/app/1700000001-log`... as `/srv/app/[0-9]...-log`:
    matched as text against the policy's `/srv/app/[!0-9]*` (names not starting with a digit),
    the glob's own `[` matched, and the merged trace passed where each run failed. A merged
    name is allowed by a directory rule holding it, never by a glob matched against its text."""
    from rotrace.policy.verdict import Classifier

    merged = "/srv/app/[0-9][0-9]-log"
    writes = [event(merged), event(f"{merged}/inner"), event("/srv/app/other")]
    by_glob = Classifier(build_allowlist(["/srv/app/[!0-9]*"], None, defaults=False), generalised=[merged])
    assert [by_glob.classify(e).allowed for e in writes] == [False, False, True]
    by_directory = Classifier(build_allowlist(["/srv/app"], None, defaults=False), generalised=[merged])
    assert [by_directory.classify(e).allowed for e in writes] == [True, True, True]
    # a merge whose list of globs was emptied: any path with a glob's characters is read as one
    unlisted = Classifier(build_allowlist(["/srv/app/[!0-9]*"], None, defaults=False), merged=True)
    assert [unlisted.classify(e).allowed for e in writes] == [False, False, True]


def test_diff_and_aggregate() -> None:
    old = classify(event("/app/.venv/.tmpAbC123", exe=b"/usr/bin/uv"), event("/tmp/x"))
    new = classify(event("/app/.venv/.tmpXyZ987", exe=b"/usr/bin/uv"), event("/srv/state.json"))
    diff = diff_traces(changes_of("/app", old), changes_of("/app", new))
    assert [c.path for c in diff.appeared] == ["/srv/state.json"]
    assert [c.path for c in diff.disappeared] == ["/tmp/x"]  # the temp name is generalised away
    assert [c.path for c in diff.new_violations] == ["/srv/state.json"]
    planner = MountPlanner("/app", {})
    for v in new:
        planner.learn(v)
    agg = Aggregate()
    for v in new:
        agg.add(v, planner.place(v))
    assert set(agg.violations) == {"/app/.venv", "/srv"}  # where the fix applies
    assert agg.violations["/app/.venv"].venv and agg.violations["/app/.venv"].blocked
    assert agg.violations["/srv"].processes == {("python3", 100): 1}
    assert {k.id: n for k, n in agg.explanations.items()} == {"uv-venv-lock": 1}


def test_a_check_of_an_allowed_directorys_writability_is_counted_there() -> None:
    """access("/tmp", W_OK) (tempfile, Jupyter, IPython check so): the allowed writes' summary
    counted it under `/`, which no allowlist allows ("✓ 8 allowed writes: /dev (6), / (2)")."""
    agg = Aggregate()
    for v in classify(event("/tmp", "access", 0, syscall="access"), event("/tmp/x")):
        assert v.allowed
        agg.add(v, [])
    assert {where: g.count for where, g in agg.allowed.items()} == {"/tmp": 2}


def _as_they_come(*events: FileEvent) -> tuple[Classifier, list[Verdict]]:
    """Classified one by one as `rotrace run` does while the command runs (with a journal)."""
    classifier = Classifier(build_allowlist([], None), journal=True)
    verdicts = []
    for e in events:
        classifier.learn(e)
        verdicts.append(classifier.classify(e))
    return classifier, verdicts


def test_verdicts_given_as_events_come_hold_when_nothing_later_changes_them() -> None:
    classifier, verdicts = _as_they_come(
        event("/srv/app/.venv/.lock", "create", exe=b"/usr/bin/uv"),
        event("/srv/app/out.txt", "create"),
        event("/srv/app/sub", "mkdir", 0),
    )
    assert [v.venv for v in verdicts] == [b"/srv/app/.venv", None, None]
    assert classifier.holds()
    classifier.know([ProcessInfo(100, 1, 0, b"/usr/bin/uv", ("uv", "run"))])
    assert not classifier.holds()  # the .lock write was explained without knowing it was `uv run`


def test_a_venv_made_after_writes_into_it_voids_the_early_verdicts() -> None:
    early, cfg = event("/srv/env/lib/early.txt", "create"), event("/srv/env/pyvenv.cfg", "create")
    classifier, verdicts = _as_they_come(early, cfg)
    assert verdicts[0].venv is None and not classifier.holds()
    assert classifier.settled().classify(early).venv == b"/srv/env"  # what the end of the run says


def test_a_process_explained_before_its_last_exec_voids_the_early_verdicts() -> None:
    write = event("/srv/env/.venv/lib/x.py", "create", exe=b"/usr/bin/python3", pid=7)
    classifier, verdicts = _as_they_come(write)
    assert verdicts[0].explanation is None
    classifier.know([ProcessInfo(7, 1, 0, b"/usr/bin/python3", ("python3", "-m", "pip", "install", "x"))])
    assert not classifier.holds()
    assert classifier.settled().classify(write).explanation == BY_ID["pip-install"]


def test_a_cache_moved_by_a_setting_is_one_place_in_the_report() -> None:
    """Writes a setting moves (VIRTUALENV_OVERRIDE_APP_DATA) need no mount: the directories made
    on their way are grouped where the writer's fix applies (~/.cache/virtualenv), not one
    place per directory (a virtualenv seeding made 53 of them)."""
    cache = "/home/u/.cache/virtualenv/wheel/3.11/image/1/CopyPipInstall-ab12/pip"
    made = [f"{cache}/_vendor", f"{cache}/_vendor/rich", f"{cache}/_internal", f"{cache}/_internal/cli"]
    verdicts = classify(*(event(d, "mkdir", 0) for d in made), event(f"{cache}/_internal/cli/main.py"))
    planner = MountPlanner("/app", {os.fsencode(d): DirState.ABSENT for d in made})
    for v in verdicts:
        planner.learn(v)
    agg = Aggregate()
    for v in verdicts:
        agg.add(v, planner.place(v))
    assert set(agg.violations) == {"/home/u/.cache/virtualenv"}, set(agg.violations)
    assert agg.violations["/home/u/.cache/virtualenv"].count == 5


def test_a_home_elsewhere_is_read_as_a_home_for_writers_named_by_their_program() -> None:
    """Containers give their user a home elsewhere (/app, /var/lib/app, `/`). pip's check of
    that home, where ~/.cache/pip is not there yet, is pip's cache, as it is in /root; a cache
    in ~/.cache at large is not taken for one that follows XDG_CACHE_HOME there (a mount holds
    whichever program wrote it: the setting holds only one that follows it); a venv in the home
    keeps its own writers."""
    pip = ProcessInfo(
        7, 1, 0, b"/usr/bin/python3.11", ("/app/.venv/bin/python", "/app/.venv/bin/pip", "download", "x")
    )
    for home in ("/var/lib/app", "/"):
        classifier = Classifier(build_allowlist([], None), [pip], home=home)
        probe = event(home, "access", 0, syscall="faccessat2", pid=7)
        assert classifier.classify(probe).explanation is BY_ID["pip-cache-way"], home
        assert Classifier(build_allowlist([], None), [pip]).classify(probe).explanation is None, home
        assert classifier.classify(event(f"{home.rstrip('/')}/.cache/tool/x")).explanation is None, home
    uv = b"/usr/bin/uv"
    classifier = Classifier(build_allowlist([], None), home="/app")
    lock = [event("/app/.venv/pyvenv.cfg", "open", 3, write=False), event("/app/.venv/.lock", exe=uv)]
    for e in lock:
        classifier.learn(e)
    assert classifier.classify(lock[1]).explanation is BY_ID["uv-venv-lock"]


def test_an_unnamed_file_made_to_check_pycache_is_numbas_not_bytecode() -> None:
    """Numba (`@jit(cache=True)`) with its cache in __pycache__ already checks it may write there
    with an unnamed temporary file (O_TMPFILE) and writes nothing else: that was taken for
    Python's bytecode, the place refused ("held files") and no fix given, where NUMBA_CACHE_DIR
    moves Numba's cache. Python's own writes there (its mkdir, a .pyc) stay bytecode."""
    probe = event("/srv/app/__pycache__")._replace(flags="O_RDWR|O_EXCL|O_NOFOLLOW|O_CLOEXEC|O_TMPFILE")
    assert explain(probe, None) == BY_ID["numba-cache-check"]
    assert ("NUMBA_CACHE_DIR", "/tmp/numba-cache") in BY_ID["numba-cache-check"].env
    made = event("/srv/app/__pycache__", "mkdir", 0, syscall="mkdir")
    pyc = event("/srv/app/__pycache__/app.cpython-311.pyc.140")
    assert explain(made, None) == explain(pyc, None) == BY_ID["python-bytecode"]


def test_a_diff_keeps_apart_two_names_that_only_look_temporary() -> None:
    """`app_data` and `job_lock`, 8 characters with a `_`, were both the glob `*`: a new run's
    write of data/job_lock (a violation) beside the data/app_data both runs write was "no change
    in what is written", exit 0. A name both traces write is no per-run name."""
    old = classify(event("/app/data/app_data"))
    new = classify(event("/app/data/app_data"), event("/app/data/job_lock"))
    diff = diff_traces(changes_of("/app", old), changes_of("/app", new))
    assert [c.path for c in diff.new_violations] == ["$CWD/data/job_lock"], diff


def test_a_diff_tells_renames_and_links_apart_by_their_other_name() -> None:
    """A rename into the cache in the old run, out of the allowlist in the new one, were one
    key (op, path): "no change". The other name is part of what is written."""
    old = classify(event("/tmp/x", "rename", 0, target="/tmp/cache/x", syscall="rename"))
    new = classify(event("/tmp/x", "rename", 0, target="/srv/elsewhere", syscall="rename"))
    diff = diff_traces(changes_of("/app", old), changes_of("/app", new))
    assert [(c.path, c.target) for c in diff.new_violations] == [("/tmp/x", "/srv/elsewhere")], diff
    assert [(c.path, c.target) for c in diff.disappeared] == [("/tmp/x", "/tmp/cache/x")], diff


def test_a_diff_pairs_two_names_of_eight_characters_only_where_they_are_temporary() -> None:
    """settings.json gone and password.json new, both violations in the application's directory:
    paired as one temporary name (8 characters before the suffix), "no change"."""
    old = classify(event("/srv/w/settings.json"), event("/srv/w/job_lock"))
    new = classify(event("/srv/w/password.json"), event("/srv/w/app_data"))
    diff = diff_traces(changes_of("/app", old), changes_of("/app", new))
    assert sorted(c.path for c in diff.new_violations) == ["/srv/w/app_data", "/srv/w/password.json"], diff


def test_a_diff_of_two_identical_runs_pairs_the_names_their_makers_draw_afresh() -> None:
    """git's objects on their way in (`tmp_obj_HflDu4`, linked into place), glibc's semaphores
    (`sem.uO4xYw`, linked to `sem.mp-...`), virtualenv's `TmPs3q9si6o-b`: two identical runs of
    `git add` differed by "3 new violations", the gate failing."""
    runs = []
    for obj, sem, tmp in (("HflDu4", "t6igd6", "s3q9si6o"), ("FkqIxw", "uO4xYw", "bacezanu")):
        runs.append(
            classify(
                event(f"/app/.git/objects/ce/tmp_obj_{obj}"),
                event(
                    f"/app/.git/objects/ce/tmp_obj_{obj}",
                    "link",
                    0,
                    target="/app/.git/objects/ce/0a1b",
                    syscall="link",
                ),
                event(f"/dev/shm/sem.{sem}"),
                event(f"/srv/v/TmP{tmp}-b", "symlink", 0, syscall="symlink"),
            )
        )
    diff = diff_traces(changes_of("/app", runs[0]), changes_of("/app", runs[1]))
    assert diff.appeared == diff.disappeared == diff.became == [], diff
    assert generalise("/app/.git/objects/ce/tmp_obj_HflDu4") == "/app/.git/objects/ce/tmp_obj_*"
    assert generalise("/srv/v/config.AbCdEf") == "/srv/v/config.AbCdEf"  # no maker's prefix


def test_a_diff_pairs_a_rename_out_of_a_temporary_name_and_gits_probe() -> None:
    """GitPython's loose objects: mkstemp(prefix="obj") renamed into place; `git init`'s probe of
    symlinks (.git/tXXXXXX, made and removed): two identical runs differed by "1 new violation"."""
    runs = []
    for obj, probe in (("k3x_q9zb", "RrxhWx"), ("q8z1m0bd", "T9m5rw")):
        runs.append(
            classify(
                event(f"/app/d/obj{obj}"),
                event(f"/app/d/obj{obj}", "rename", 0, target="/app/d/final", syscall="rename"),
                event(f"/app/.git/t{probe}", "symlink", 0, syscall="symlink"),
            )
        )
    diff = diff_traces(changes_of("/app", runs[0]), changes_of("/app", runs[1]))
    assert diff.appeared == diff.disappeared == diff.became == [], diff


def test_a_diff_of_identical_runs_pairs_names_made_and_gone_again_whatever_they_are() -> None:
    """sed -i's sedXXXXXX, rsync's .NAME.XXXXXX (a utime, a chmod before its rename), zip's
    ziXXXXXX, gcc's ccXXXXXX.s, perl -pi's 8 characters: each made in the run and gone again
    (renamed into place, deleted), by names no form tells; and gpg's upper-case keygrips, uv's
    archive ids, cmake's .tmpXXXXX, TryCompile-XXXXXX and cmTC_XXXXX by their form. Two identical
    runs made the gate fail ("new violations")."""

    def made(path: str) -> FileEvent:  # as mkstemp makes a temporary file: O_EXCL
        return event(path)._replace(flags="O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC")

    def run(t: str, grip: str, archive: str, cm: str) -> list[Verdict]:
        return classify(
            made(f"/app/sed{t}"), event(f"/app/sed{t}", "xattr", 0, syscall="fsetxattr"),
            event(f"/app/sed{t}", "rename", 0, target="/app/conf.ini", syscall="rename"),
            made(f"/app/.m.py.{t}"), event(f"/app/.m.py.{t}", "utime", 0, syscall="utimensat"),
            event(f"/app/.m.py.{t}", "rename", 0, target="/app/m.py", syscall="rename"),
            made(f"/app/out/cc{t}.s"), event(f"/app/out/cc{t}.s", "delete", 0, syscall="unlink"),
            event(f"/app/gnupg/private-keys-v1.d/{grip}.key"),
            event(f"/app/home/.cache/uv/archive-v0/{archive}/pkg/__init__.py"),
            event(f"/app/b/CMakeFiles/progress.marks.tmp{cm}", "delete", "ENOENT", syscall="unlink"),
            event(f"/app/b/TryCompile-{t}/cmTC_{cm}"),
        )  # fmt: skip

    old = run("AbCdEf", "A17BEE3BE9C509F3BB2723F6254A26D30A4A0011", "KASZU9pXqOPmMWVh", "cbebf")
    new = run("QwErTy", "0FF3D2A8C1B7E6D5C4B3A29180F7E6D5C4B3A291", "zZ_-9aBcDeFgHiJk", "4a0f1")
    diff = diff_traces(changes_of("/app", old), changes_of("/app", new))
    assert diff.appeared == diff.disappeared == diff.became == [], diff
    kept = run("AbCdEf", "A17BEE3BE9C509F3BB2723F6254A26D30A4A0011", "KASZU9pXqOPmMWVh", "cbebf")
    kept += classify(made("/app/sedZzZzZz"))  # made, never gone: a name like any other
    assert [c.path for c in diff_traces(changes_of("/app", old), changes_of("/app", kept)).appeared] == [
        "$CWD/sedZzZzZz"
    ]


def test_a_diff_misses_no_new_write_dressed_as_a_temporary_one() -> None:
    """A symlink pointed elsewhere; a temporary file renamed onto password.json, not settings.json;
    a temporary name made again and left, with O_EXCL or without; an existing file truncated,
    removed and written anew (not made: no O_EXCL); a RENAME_EXCHANGE, which leaves a file at the
    name; a write rotrace could not place (a bind mount in a namespace of the command's own took
    it elsewhere) by the very string of a placed one: each said "no change", exit 0."""

    def made(path: str) -> FileEvent:
        return event(path)._replace(flags="O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC")

    def rename(source: str, target: str, flags: str = "") -> FileEvent:
        return event(source, "rename", 0, target=target, syscall="renameat2")._replace(flags=flags or None)

    base = [made("/srv/etc/.lockAb1"), event("/srv/etc/.lockAb1", "delete", 0, syscall="unlink")]
    link = event("/srv/etc/.lockAb1", "link", 0, target="/srv/etc/ca.pem", syscall="link")

    def chmod(path: str) -> FileEvent:
        return event(path, "chmod", 0, syscall="chmod")

    cases = [
        ([event("/srv/app/cur", "symlink", 0, target="v1", syscall="symlink")],
         [event("/srv/app/cur", "symlink", 0, target="/etc/shadow", syscall="symlink")]),
        ([made("/srv/etc/tmpk3x_q9zb"), rename("/srv/etc/tmpk3x_q9zb", "/srv/etc/settings.json")],
         [made("/srv/etc/tmpq8z1m0bd"), rename("/srv/etc/tmpq8z1m0bd", "/srv/etc/password.json")]),
        ([made("/srv/etc/tmpk3x_q9zb"), rename("/srv/etc/tmpk3x_q9zb", "/srv/etc/app_data")],
         [made("/srv/etc/tmpq8z1m0bd"), rename("/srv/etc/tmpq8z1m0bd", "/srv/etc/ssh_keys")]),
        (base, [*base, made("/srv/etc/.lockAb1")]),
        (base, [*base, event("/srv/etc/.lockAb1")._replace(flags="O_WRONLY|O_CREAT|O_TRUNC")]),
        ([event("/app/etc/app.conf")], [event("/app/etc/app.conf")._replace(unresolved=True)]),
        (base, [*base, event("/srv/etc/sudoers.conf"), event("/srv/etc/sudoers.conf", "delete", 0,
                syscall="unlink"), event("/srv/etc/sudoers.conf")]),
        ([], [made("/srv/etc/evil"), rename("/srv/etc/evil", "/srv/etc/app.conf", "RENAME_EXCHANGE"),
              rename("/srv/etc/evil", "/srv/etc/app.conf", "RENAME_EXCHANGE")]),
    ]  # fmt: skip
    for old, new in cases:
        diff = diff_traces(changes_of("/app", classify(*old)), changes_of("/app", classify(*new)))
        assert diff.new_violations, (old, new, diff)
    # a hard link makes a temporary name again (the link's path is its new name): what is done
    # to it then is done to the file it names (ca.pem's mode), compared by that name
    relinked = changes_of("/app", classify(*base, link, chmod("/srv/etc/.lockAb1")))
    assert ("chmod", "/srv/etc/.lockAb1", None) in relinked.by_key, relinked.by_key


def test_a_merged_traces_globs_fold_its_own_names_and_a_baselines_only() -> None:
    """Three new runs writing data/key1.json, pwd2.json, abc3.json, merged (a glob of four
    characters), against a baseline that wrote data/conf.json: the new trace's glob took in the
    baseline's name, "no change". A file named as the baseline's glob spells it (`x[0-9][0-9]`,
    brackets and all) is none of its names. Two per-run names in two directories (app_data/,
    ssh_keys/: eight characters with a `_`) are no one write."""

    def changes(*paths: str, globs: tuple[str, ...] = ()) -> Changes:
        made = Changes("/app", generalised=globs)
        for v in classify(*(event(p) for p in paths)):
            made.add(v)
        return made

    glob = "/srv/data/[a-z0-9_][a-z0-9_][a-z0-9_][a-z0-9_].json"
    old = changes("/srv/data/conf.json")
    new = changes(glob, globs=(glob,))
    assert [c.path for c in diff_traces(old, new).new_violations] == [glob]
    family = "/srv/data/x[0-9][0-9]"
    baseline = changes(family, globs=(family,))
    assert diff_traces(baseline, changes("/srv/data/x42")).new_violations == []  # one of its names
    spelt = diff_traces(baseline, changes(family))
    assert [c.path for c in spelt.new_violations] == [f"literal:{family}"], spelt
    moved = diff_traces(changes("/srv/app_data/.tmpAbC123"), changes("/srv/ssh_keys/.tmpXyZ789"))
    assert [c.path for c in moved.new_violations] == ["/srv/ssh_keys/.tmp*"], moved


def test_a_merged_glob_of_bare_drawn_names_stands_for_the_next_runs_draw() -> None:
    """Three runs each leaving `mkstemp(prefix="")` in data/ (eight characters, no literal
    part) merge into a glob of the characters seen at each place: a fourth identical run's draw
    rarely fits, and `diff merged run4` failed where `diff run1 run4` passed. Such a glob stands
    for any draw of its length and alphabet that shows it drawn; not a word (`settings`), nor a
    name of another length."""
    from rotrace.merge.generalise import Family

    family = Family({"k3j_9x2a": 1, "ab_d9fgh": 2, "zz1q2w3e": 4})
    made = family.glob()
    assert made is not None and "[" in made[0]
    glob = f"/srv/data/{made[0]}"

    def changes(*paths: str, globs: tuple[str, ...] = ()) -> Changes:
        made = Changes("/app", generalised=globs)
        for v in classify(*(event(p) for p in paths)):
            made.add(v)
        return made

    baseline = changes(glob, globs=(glob,))
    cases = (("q7w_e8r9", True), ("settings", False), ("q7w_e8r9x", False), ("Q7W_E8R9", False),
             ("id_rsa_2", False), ("db_pass1", False))  # fmt: skip
    for name, fits in cases:
        found = diff_traces(baseline, changes(f"/srv/data/{name}")).new_violations
        assert (found == []) is fits, (name, found)


def test_a_directory_named_with_a_star_holds_per_run_names_like_any_other() -> None:
    """mktemp's names in a directory named `st*r`: a name spelt with `*` is compared as it is
    (never a per-run form), which took in every path below the directory too; `diff` of the
    merge of three runs against one of them, and `run --baseline` of the same command, said
    the run's temporary name was a new violation."""
    from rotrace.merge.generalise import Family

    made = Family({"tmp.k3JQ9xAa": 1, "tmp.ZbD9fgh2": 2, "tmp.zz1Q2w3e": 4}).glob()
    assert made is not None
    glob = f"/srv/st*r/{made[0]}"

    def changes(path: str, globs: tuple[str, ...] = ()) -> Changes:
        found = Changes("/app", generalised=globs)
        for v in classify(event(path)):
            found.add(v)
        return found

    assert diff_traces(changes(glob, (glob,)), changes("/srv/st*r/tmp.q7W8e9R0")).new_violations == []
    named = changes("/srv/app-*")  # a name with `*` of its own is still what it is
    assert diff_traces(named, changes("/srv/app-12345")).new_violations != []


def test_a_stamped_directory_pairs_with_the_next_runs_and_with_a_merged_glob_of_them() -> None:
    """kedro's versioned datasets write summary.txt/2026-12-06T19.41.21.137Z/summary.txt (an ISO
    8601 time with dots and milliseconds): two identical runs differed. Against a merged glob of
    three runs (`2026-12-06T19.41.[0-9][0-9].[0-9][0-9][0-9]Z`) the baseline was compared by its
    glob's per-run form and the run's name by the glob's text: they never paired. A version's
    dotted numbers (`18.12.01`) are no time."""
    from rotrace.merge.generalise import Family

    def changes(*paths: str, globs: tuple[str, ...] = ()) -> Changes:
        made = Changes("/app", generalised=globs)
        for v in classify(*(event(p) for p in paths)):
            made.add(v)
        return made

    def run(stamp: str) -> Changes:
        return changes(f"/srv/out/{stamp}/summary.txt", f"/srv/log/app_{stamp}.log")

    for one, two in (("2026-12-06T19.41.21.137Z", "2026-12-06T19.42.02.005Z"),
                     ("2026-12-06T19:41:21.137Z", "2026-12-07T08:00:59.9Z")):  # fmt: skip
        assert diff_traces(run(one), run(two)).new_violations == [], (one, two)
    stamps = ("2026-12-06T19.41.21.137Z", "2026-12-06T19.41.33.402Z", "2026-12-06T19.41.48.911Z")
    glob = Family({stamp: 1 << i for i, stamp in enumerate(stamps)}).glob()
    assert glob is not None
    merged = f"/srv/out/{glob[0]}/summary.txt"
    baseline = changes(merged, globs=(f"/srv/out/{glob[0]}",))
    fourth = changes("/srv/out/2026-12-06T19.41.52.720Z/summary.txt")
    assert diff_traces(baseline, fourth).new_violations == []
    # three runs within one hour: the merged glob keeps the hour (13-[0-9][0-9]-[0-9][0-9]); a run
    # on another day at another hour pairs with it all the same
    hours = Family({"13-41-21": 1, "13-47-35": 2, "13-52-48": 4}).glob()
    assert hours is not None
    hydra = f"/srv/outputs/2026-12-06/{hours[0]}"
    merged_hours = changes(f"{hydra}/.hydra/config.yaml", globs=(hydra,))
    later = changes("/srv/outputs/2026-12-08/09-12-44/.hydra/config.yaml")
    assert diff_traces(merged_hours, later).new_violations == []
    versions = diff_traces(changes("/srv/pkg-18.12.01/x"), changes("/srv/pkg-18.13.02/x")).new_violations
    assert [c.path for c in versions] == ["/srv/pkg-18.13.02/x"], versions


def test_a_file_there_before_the_run_and_replaced_twice_is_no_temporary_name() -> None:
    """git (pre-commit's stash) removes a tracked file and makes it again with O_EXCL, twice: a
    run's second removal took the name for one made and gone again (a temporary name, `*`),
    while its merged trace, which folds each write once, never saw it removed after it was made:
    `diff merged run` showed `+ create *` and `+ delete *`. A name removed before the run made
    it was there before: its writes are that name's."""

    def delete(path: str) -> FileEvent:
        return event(path, "delete", 0, syscall="unlink")

    def made(path: str) -> FileEvent:
        return event(path)._replace(flags="O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC")

    # virtualenv's pyvenv.cfg: made with O_EXCL, removed, made again (a merge folds the two
    # makes into one, after the removal): it stays, so it is no temporary name either
    venv = changes_of("/app", classify(made("/app/v/pyvenv.cfg"), delete("/app/v/pyvenv.cfg"),
                                       made("/app/v/pyvenv.cfg")))  # fmt: skip
    folded = changes_of("/app", classify(delete("/app/v/pyvenv.cfg"), made("/app/v/pyvenv.cfg")))
    assert diff_traces(folded, venv).appeared == [] and diff_traces(venv, folded).appeared == [], venv.by_key
    run = changes_of("/app", classify(*[delete("/app/a.txt"), made("/app/a.txt")] * 2))
    assert sorted(run.by_key) == [("create", "$CWD/a.txt", None), ("delete", "$CWD/a.txt", None)], run.by_key
    merged = changes_of("/app", classify(delete("/app/a.txt"), made("/app/a.txt")))
    assert diff_traces(merged, run).new_violations == [] and diff_traces(run, merged).new_violations == []
    # a name the run made first, then removed, is still a temporary one
    lock = changes_of("/app", classify(made("/app/x/index.lock"), delete("/app/x/index.lock")))
    assert ("create", "$CWD/x/*", None) in lock.by_key, lock.by_key


def test_a_pid_joined_to_a_per_run_number_is_per_run_whatever_its_length() -> None:
    """pre-commit's ~/.cache/pre-commit/patch<time>-<pid>: a run in a container (pid 5) against
    one on a host (pid 25644) was a new write: the short pid stayed a number of its own."""

    def run(name: str) -> Changes:
        return run_in("/srv/cache", name)

    def run_in(directory: str, name: str) -> Changes:
        return changes_of("/app", classify(event(f"{directory}/{name}")))

    assert diff_traces(run("patch1796586596-25644"), run("patch1796586600-5")).new_violations == []
    other = diff_traces(run("patch1796586596-25644"), run("stash1796586600-5")).new_violations
    assert [c.path for c in other] == ["/srv/cache/stash*"], other
    # against a merged baseline of three runs on a host: a glob of 10 and 4 digits, which the
    # container's pid does not fit; compared by its names' form, as they are
    from rotrace.merge.generalise import Family

    made = Family({"patch1796586596-4330": 1, "patch1796586601-4391": 2, "patch1796586607-4420": 4}).glob()
    assert made is not None
    glob = f"/srv/cache/{made[0]}"
    merged = Changes("/app", generalised=(glob,))
    for v in classify(event(glob)):
        merged.add(v)
    assert diff_traces(merged, run("patch1796586650-5")).new_violations == []
    stash = diff_traces(merged, run("stash1796586650-5")).new_violations
    assert [c.path for c in stash] == ["/srv/cache/stash*"], stash
    # scrapy's <pid>-<uuid hex>.json, three host runs with 5-digit pids, merged: a glob of five
    # digits and 32 hex; a run whose pid has four fits it (a number of any length)
    names = ("25644-3f2a9c0d8e7b4a1f9c2d3e4f5a6b7c8d.json", "25911-a1b2c3d4e5f60718293a4b5c6d7e8f90.json",
             "26302-0fedcba9876543210fedcba987654321.json")  # fmt: skip
    jobs = Family({name: 1 << i for i, name in enumerate(names)}).glob()
    assert jobs is not None
    scrapy = Changes("/app", generalised=(f"/srv/jobs/{jobs[0]}",))
    for v in classify(event(f"/srv/jobs/{jobs[0]}")):
        scrapy.add(v)
    draw = "5e0f4d2c9b8a7f6e5d4c3b2a1f0e9d8c"
    assert diff_traces(scrapy, run_in("/srv/jobs", f"3004-{draw}.json")).new_violations == []
    other = diff_traces(scrapy, run_in("/srv/jobs", f"3004-{draw}.yaml")).new_violations
    assert len(other) == 1, other


def test_a_name_that_stays_is_never_the_same_write_as_a_temporary_one() -> None:
    """The baseline saves settings.json atomically (mkstemp in the directory, renamed onto it);
    the run does the same and leaves an executable `12345678` (a date, a UUID) there: its per-run
    form and the temporary file's were one key, "no change". A name that stays is a new write
    where the baseline's names of that form were all made and gone again."""

    def made(path: str) -> FileEvent:
        return event(path)._replace(flags="O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC")

    def saved(draw: str) -> list[FileEvent]:
        return [made(f"/srv/etc/app/tmp{draw}"),
                event(f"/srv/etc/app/tmp{draw}", "rename", 0, target="/srv/etc/app/settings.json",
                      syscall="rename")]  # fmt: skip

    base = changes_of("/app", classify(*saved("k3x_q9zb")))
    assert diff_traces(base, changes_of("/app", classify(*saved("q8z1m0bd")))).new_violations == []
    for name in ("12345678", "2026-12-06", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"):
        run = changes_of("/app", classify(*saved("q8z1m0bd"), event(f"/srv/etc/app/{name}")))
        found = diff_traces(base, run).new_violations
        assert [c.path for c in found] == [f"/srv/etc/app/{name}"], (name, found)
    # the temporary name first, of the same form (a bare draw: mkstemp(prefix="")), the name that
    # stays after it (cron.d/12345678): the key's first name was the temporary one
    bare = [made("/srv/etc/app/q8z1m0bd"), event("/srv/etc/app/12345678"),
            event("/srv/etc/app/q8z1m0bd", "rename", 0, target="/srv/etc/app/settings.json",
                  syscall="rename")]  # fmt: skip
    found = diff_traces(base, changes_of("/app", classify(*bare))).new_violations
    assert [c.path for c in found] == ["/srv/etc/app/12345678"], found

    # a socket removed before it is bound (stale, left by a killed run) or not (ENOENT): both
    # remove it again at the end, a temporary name each
    def served(first: int | str) -> Changes:
        sock = "/srv/run/app.sock"
        return changes_of("/app", classify(event(sock, "delete", first, syscall="unlink"),
                                           event(sock, "mknod", 0, syscall="bind"),
                                           event(sock, "delete", 0, syscall="unlink")))  # fmt: skip

    assert diff_traces(served("ENOENT"), served(0)).new_violations == []
    assert diff_traces(served(0), served("ENOENT")).new_violations == []


def test_a_symbolic_links_content_is_never_taken_for_the_working_directory() -> None:
    """`current` retargeted from /app/releases/v1 to the text `$CWD/releases/v1` (which the kernel
    reads from the link's directory: /app/$CWD/releases/v1, a directory a change can commit)
    compared as the same write: the working directory is written `$CWD`."""

    def linked(target: str) -> Changes:
        link = event("/app/current", "symlink", 0, target=target, syscall="symlink")
        return changes_of("/app", classify(link))

    found = diff_traces(linked("/app/releases/v1"), linked("$CWD/releases/v1")).new_violations
    assert [c.target for c in found] == ["$$CWD/releases/v1"], found


def test_a_name_both_traces_write_is_no_per_run_name_and_a_word_is_no_draw() -> None:
    """A baseline wrote data/tmpab12cd34; the new run wrote it and data/tmpzz99yy88 (a key):
    both folded to one key of per-run names, "no change". The name both wrote is no per-run
    name: the other is a new write. Two runs' own per-run names still pair. A bare draw
    (`k3j_9x2a`) pairs with another (`p0q_7zzb`), not with words (`id_rsa_2`, `db_pass1`)."""

    def changes(*paths: str) -> Changes:
        return changes_of("/app", classify(*(event(p) for p in paths)))

    old = changes("/srv/data/tmpab12cd34")
    new = changes("/srv/data/tmpab12cd34", "/srv/data/tmpzz99yy88")
    assert [c.path for c in diff_traces(old, new).new_violations] == ["/srv/data/tmpzz99yy88"]
    assert diff_traces(old, changes("/srv/data/tmpqq11rr22")).new_violations == []
    assert diff_traces(old, changes("/srv/data/tmpab12cd34")).new_violations == []
    two = changes("/srv/data/tmpab12cd34", "/srv/data/tmpcd34ef56")
    assert diff_traces(two, changes("/srv/data/tmpxx11yy22", "/srv/data/tmpab12cd34")).new_violations == []
    bare = changes("/srv/data/k3j_9x2a")
    assert diff_traces(bare, changes("/srv/data/p0q_7zzb")).new_violations == []
    for word in ("id_rsa_2", "db_pass1"):
        found = diff_traces(bare, changes(f"/srv/data/{word}")).new_violations
        assert [c.path for c in found] == [f"/srv/data/{word}"], found


def test_a_scratch_place_the_allowlist_refuses_pairs_names_by_their_form_alone() -> None:
    """/var/tmp is a scratch place, not an allowed one: a new file there under another name of
    letters (report.json, not notes.json) was paired away as a per-run name."""
    old = classify(event("/var/tmp/app/notesxyz.json"))
    new = classify(event("/var/tmp/app/reportab.json"))
    diff = diff_traces(changes_of("/app", old), changes_of("/app", new))
    assert [c.path for c in diff.new_violations] == ["/var/tmp/app/reportab.json"], diff


def test_a_known_writers_place_moved_by_the_runs_setting_is_still_that_writers() -> None:
    """A warm uv cache at UV_CACHE_DIR=/opt/uv-cache (an image's ENV): its root's .lock was "no
    mount can make it writable: held files before the run", where the same cache in ~/.cache/uv
    is uv's cache (a setting moves it). The run's setting says whose place it is."""
    from rotrace.policy.mounts import plan_mounts

    lock = event("/opt/uv-cache/.lock", exe=b"/usr/bin/uv")
    for environment, expected in (({"UV_CACHE_DIR": "/opt/uv-cache"}, "uv-cache"), ({}, None)):
        classifier = Classifier(build_allowlist([], None), environment=environment)
        classifier.know([ProcessInfo(100, 1, 0, b"/usr/bin/uv", ("uv", "run", "app"))])
        classifier.learn(lock)
        verdict = classifier.classify(lock)
        assert getattr(verdict.explanation, "id", None) == expected, environment
        if expected:
            plan = plan_mounts(
                [verdict], "/srv/app", {b"/opt/uv-cache": DirState.CONTENT}, environment=environment
            )
            assert plan.blocked == [] and plan.env.get("UV_CACHE_DIR") == "/tmp/uv-cache", plan
    pip = event("/opt/uv-cache/x", exe=b"/usr/bin/pip")  # another program there is not uv's cache
    classifier = Classifier(build_allowlist([], None), environment={"UV_CACHE_DIR": "/opt/uv-cache"})
    classifier.learn(pip)
    assert classifier.classify(pip).explanation is None


def test_uvx_of_an_installed_tool_is_told_to_run_its_entry_point() -> None:
    """`uv tool install cowsay` at build time, then `uvx cowsay` under a read-only root: uvx
    still takes its lock in ~/.local/share/uv/tools (EROFS), and the only fix given was to
    install the tool at build time, done already. The entry point runs with no such lock."""
    (v,) = classify(event("/home/app/.local/share/uv/tools/.lock", exe=b"/usr/bin/uv"))
    assert v.explanation is not None and v.explanation.id == "uv-tools"
    assert "entry point" in v.explanation.fix and "`uvx`" in v.explanation.fix, v.explanation.fix
    # the tools installed where UV_TOOL_DIR put them (an image's ENV): the same lock, the same fix
    # (it was told as uv's temporary directories in $TMPDIR: a tmpfs on /tmp, there already)
    for name in (".lock", ".tmpAbC123"):
        moved = event(f"/opt/tools/{name}", exe=b"/usr/bin/uv")
        classifier = Classifier(build_allowlist([], None), environment={"UV_TOOL_DIR": "/opt/tools"})
        classifier.know([ProcessInfo(100, 1, 0, b"/usr/bin/uv", ("uvx", "cowsay"))])
        classifier.learn(moved)
        assert getattr(classifier.classify(moved).explanation, "id", None) == "uv-tools", name


def test_a_temporary_decoy_of_one_form_hides_no_name_that_stays() -> None:
    """The baseline made and removed 12345/out (a per-run directory, a temporary file); the new
    run wrote 22222/.bashrc, which stays, and made and removed 33333/.bashrc: the decoy's form
    (`*/.bashrc`, compared as a temporary name) took the lasting name with it, "no change". A
    form that holds a name which stays is that name's. And a key of more per-run names than a
    trace keeps (a flood of them) is a new write where the baseline's were all kept."""
    from rotrace.report import diff as diff_module

    def excl(path: str) -> FileEvent:  # mkstemp's create: O_EXCL, a name made anew
        return event(path)._replace(flags="O_WRONLY|O_CREAT|O_EXCL")

    base = changes_of("/app", classify(
        event("/srv/app/12345", "mkdir", 0, syscall="mkdir"),
        excl("/srv/app/12345/out"),
        event("/srv/app/12345/out", "delete", 0, syscall="unlink"),
    ))  # fmt: skip
    new = changes_of("/app", classify(
        event("/srv/app/22222", "mkdir", 0, syscall="mkdir"),
        event("/srv/app/22222/.bashrc"),
        event("/srv/app/33333", "mkdir", 0, syscall="mkdir"),
        excl("/srv/app/33333/.bashrc"),
        event("/srv/app/33333/.bashrc", "delete", 0, syscall="unlink"),
    ))  # fmt: skip
    found = [c.path for c in diff_traces(base, new).new_violations]
    assert "/srv/app/*/.bashrc" in found, found
    old = changes_of("/app", classify(event("/srv/app/job-1234567")))
    many = [event(f"/srv/app/job-{n}") for n in range(1000000, 1000000 + 40)]
    keep = diff_module._KEY_NAMES
    diff_module._KEY_NAMES = 16
    try:
        flooded = changes_of("/app", classify(event("/srv/app/job-1234567"), *many))
    finally:
        diff_module._KEY_NAMES = keep
    assert [c.path for c in diff_traces(old, flooded).new_violations] == ["/srv/app/job-*"]


def test_a_temporary_directorys_form_hides_no_file_in_a_directory_that_stays() -> None:
    """A release staged in mkdtemp(dir=APP) (`tmpAbCd1234/config.json`) and renamed into place:
    the new run also wrote `tmpq1w2e3r4/config.json` into a directory the checkout held, which
    stays; the temporary directory's form (`app/tmp*`) compared it as `app/*/config.json`, "no
    change". A merged baseline's glob of mktemp's draws stood for a word (`cache.apiKey`), where
    `diff` of two runs does not pair them; and its glob of tempfile's draws after a caller's
    prefix (`data.json.` + 8) was compared as `*` made and removed, a run's own as `data.json.*`."""

    def staged(draw: str) -> list[FileEvent]:
        d = f"/srv/app/tmp{draw}"
        return [
            event(d, "mkdir", 0, syscall="mkdir"),
            event(f"{d}/config.json"),
            event(d, "rename", 0, target="/srv/app/release", syscall="rename"),
        ]

    base = changes_of("/app", classify(*staged("abcd1234")))
    new = changes_of("/app", classify(*staged("wxyz9876"), event("/srv/app/tmpq1w2e3r4/config.json")))
    found = [c.path for c in diff_traces(base, new).new_violations]
    assert "/srv/app/tmp*/config.json" in found, found  # (with the form's own mkdir: compared as it)
    assert diff_traces(base, changes_of("/app", classify(*staged("wxyz9876")))).new_violations == []

    glob = "/srv/app/cache." + "[A-Za-z0-9]" * 6
    merged = Changes("/app", generalised=(glob,))
    for v in classify(event(glob)):
        merged.add(v)
    for name, fits in (("cache.DMAsDv", True), ("cache.k3X9aQ", True), ("cache.apiKey", False)):
        found = diff_traces(merged, changes_of("/app", classify(event(f"/srv/app/{name}")))).new_violations
        assert (found == []) is fits, (name, found)

    prefixed = "/srv/app/data.json." + "[a-z0-9_]" * 8
    made = [event(prefixed)._replace(flags="O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC"),
            event(prefixed, "rename", 0, target="/srv/app/data.json", syscall="rename")]  # fmt: skip
    merged = Changes("/app", generalised=(prefixed,))
    for v in classify(*made):
        merged.add(v)
    run = "/srv/app/data.json.k3x_q9zb"
    own = [event(run)._replace(flags="O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC"),
           event(run, "rename", 0, target="/srv/app/data.json", syscall="rename")]  # fmt: skip
    diff = diff_traces(merged, changes_of("/app", classify(*own)))
    assert diff.appeared == diff.disappeared == [], diff


def test_a_write_in_the_root_is_listed_under_one_slash() -> None:
    """`diff` listed a new write in / under `//`."""
    import io

    from rich.console import Console

    from rotrace.report.diff import render_diff

    diff = diff_traces(changes_of("/app", classify()), changes_of("/app", classify(event("/evil"))))
    out = io.StringIO()
    render_diff(diff, Console(file=out, width=200, no_color=True))
    assert "\n  /\n" in out.getvalue() and "//" not in out.getvalue(), out.getvalue()


def test_a_diff_of_a_cold_run_and_a_warm_one_lists_a_few_changes_per_directory() -> None:
    """`diff` of a cold tox run against a warm one printed each of 1,033 vanished writes. Without
    -v it lists a few per directory and a few directories, each cut said, violations always
    (where they are); -v lists every one."""
    import io

    from rich.console import Console

    from rotrace.report.diff import SHOWN_CHANGES, SHOWN_DIRECTORIES, render_diff

    cache = [f"/tmp/cache/d{d:02}/f{i:02}" for d in range(SHOWN_DIRECTORIES + 10) for i in range(12)]
    new = classify(event("/srv/app/.tox/evil"), *(event(p) for p in cache[:3]), allow=["/tmp"])
    diff = diff_traces(
        changes_of("/srv/app", classify(*map(event, cache), allow=["/tmp"])), changes_of("/srv/app", new)
    )
    shown: dict[bool, str] = {}
    for verbose in (False, True):
        out = io.StringIO()
        render_diff(diff, Console(file=out, width=200, no_color=True), verbose)
        shown[verbose] = out.getvalue()
    assert (
        all(f"d{d:02}/" in shown[True] for d in range(SHOWN_DIRECTORIES + 10)) and "more" not in shown[True]
    )
    lines = [line for line in shown[False].splitlines() if line.lstrip().startswith("- ")]
    assert len(lines) == SHOWN_DIRECTORIES * SHOWN_CHANGES, shown[False]
    assert f"… and {12 - SHOWN_CHANGES} more (-v lists them)" in shown[False]
    assert "… and 120 more in 10 other directories (-v lists them)" in shown[False], shown[False]
    assert "evil" in shown[False] and "violation" in shown[False]


def test_a_diff_with_changes_and_no_new_violation_says_so() -> None:
    """`diff` without -q ended on the changes' list alone where none was a new violation: the
    verdict the exit status gives (0) was said only by -q."""
    import io

    from rich.console import Console

    from rotrace.report.diff import render_diff

    for new, said in (("/tmp/other", "✓ no new violations"), ("/srv/app/evil", "✗ 1 new violation")):
        diff = diff_traces(
            changes_of("/srv/app", classify(event("/tmp/a"))), changes_of("/srv/app", classify(event(new)))
        )
        out = io.StringIO()
        render_diff(diff, Console(file=out, width=200, no_color=True))
        assert out.getvalue().rstrip().endswith(said), out.getvalue()


def test_a_run_as_another_user_writes_its_home_as_the_baselines_user_did() -> None:
    """`diff` of a run as root (HOME=/root) against one as a user (HOME=/home/app) showed every
    write in the home as new: ~/.cache/pip is the same write in both. A write in a home that is
    not the run's stays what it is."""

    def home_run(home: str, *paths: str) -> Changes:
        return changes_of("/srv/app", classify(*map(event, paths)), {"HOME": home})

    root = home_run("/root", "/root/.cache/pip/http/x")
    user = home_run("/home/app", "/home/app/.cache/pip/http/x")
    assert diff_traces(root, user).new_violations == [] and diff_traces(user, root).new_violations == []
    other = home_run("/home/app", "/home/app/.cache/pip/http/x", "/root/.ssh/authorized_keys")
    found = diff_traces(root, other).new_violations
    assert [c.path for c in found] == ["/root/.ssh/authorized_keys"], found
    # a HOME in the system's trees (HOME=/etc) is no home: its writes are what they are
    etc = home_run("/etc", "/etc/.cache/pip/http/x")
    assert [c.path for c in diff_traces(root, etc).new_violations] == ["/etc/.cache/pip/http/x"]


def test_builds_isolated_environment_is_no_install_at_run_time() -> None:
    """`python -m build` installs the build requirements with pip into a venv it made in
    /tmp/build-env-*: "packages installed at run time, install at build time" was the wrong
    advice (thousands of writes, all in the tmpfs the plan mounts anyway)."""
    venv = b"/tmp/build-env-k3uu2kjk"
    write = event(
        venv + b"/lib/python3.11/site-packages/setuptools/__init__.py",
        exe=b"/tmp/build-env-k3uu2kjk/bin/python",
    )
    known = explain(
        write, venv, "/tmp/build-env-k3uu2kjk/bin/python -m pip install --use-pep517 setuptools>=61"
    )
    assert known is not None and known.id == "build-env", known


def test_a_write_that_was_a_violation_and_is_not_now_is_said() -> None:
    """makedirs' mkdir of a directory: made on a cold run (a violation), found there on a warm
    one (EEXIST: harmless). The diff said "no change in what is written"."""
    cold = classify(event("/srv/data/sub", "mkdir", 0, syscall="mkdir"))
    warm = classify(event("/srv/data/sub", "mkdir", "EEXIST", syscall="mkdir"))
    assert cold[0].violation and not warm[0].violation
    diff = diff_traces(changes_of("/app", cold), changes_of("/app", warm))
    assert [(c.op, c.path, c.errnos) for c in diff.ceased] == [("mkdir", "/srv/data/sub", {"EEXIST"})], diff
    assert diff.appeared == diff.disappeared == diff.became == [] and not diff.new_violations
    back = diff_traces(changes_of("/app", warm), changes_of("/app", cold))
    assert [c.path for c in back.became] == ["/srv/data/sub"] and back.ceased == []


def test_a_directory_on_a_known_writers_way_is_that_writers() -> None:
    """uv making ~/.local/share/uv/python in a home with no ~/.local (a fresh image user): it
    tries the deepest first (ENOENT), then each parent, and under a read-only root the first
    refused is ~/.local, which named no writer and no fix. It is on uv's way, for that process."""
    uv = b"/usr/bin/uv"
    home = "/home/app/.local"
    tried = [event(f"{home}/share/uv/python", "mkdir", "ENOENT", syscall="mkdir", exe=uv),
             event(f"{home}/share/uv", "mkdir", "ENOENT", syscall="mkdir", exe=uv),
             event(f"{home}/share", "mkdir", "ENOENT", syscall="mkdir", exe=uv),
             event(home, "mkdir", "EROFS", syscall="mkdir", exe=uv)]  # fmt: skip
    other = event(home, "mkdir", "EROFS", syscall="mkdir", exe=b"/bin/mkdir", pid=200)
    *_, refused, elsewhere = classify(*tried, other)
    assert getattr(refused.explanation, "id", None) == "uv-python-downloads", refused
    assert elsewhere.explanation is None  # another process's mkdir there is not on uv's way


def test_a_project_built_by_uv_run_at_start_is_the_images_build() -> None:
    """An image synced with `uv sync --no-install-project`: `uv run` builds the project at
    start, its build backend (setuptools, started by uv) and the compiler it runs writing into
    the source tree. No writer was named, and the plan mounted src/app.egg-info, past which the
    build died in src/app. It is uv's build of the project at run time: refused with the fix
    (install it at build time), never mounted; a `uv build` asked for is no such thing."""
    from rotrace.policy.mounts import plan_mounts

    backend = "import sys\n\nimport setuptools.build_meta as backend\n\nbackend.build_editable()"
    events = [
        event("/srv/app/src/app.egg-info", "mkdir", 0, exe=b"/usr/bin/python3.11", pid=10),
        event("/srv/app/src/app/_fast.so", exe=b"/usr/bin/x86_64-linux-gnu-gcc", pid=11),
    ]
    builder = ProcessInfo(10, 2, 0, b"/usr/bin/python3.11", ("/tmp/b/bin/python", "-c", backend))
    compiler = ProcessInfo(11, 10, 0, b"/usr/bin/x86_64-linux-gnu-gcc", ("gcc", "-c", "_fast.c"))
    for parent, expected in ((("uv", "run", "app"), "uv-project-build"), (("uv", "build"), None)):
        classifier = Classifier(build_allowlist([], None))
        classifier.know([ProcessInfo(2, 1, 0, b"/usr/bin/uv", parent), builder, compiler])
        for e in events:
            classifier.learn(e)
        settled = classifier.settled()  # (a second pass: it knows the programs as the first did)
        for c in (classifier, settled):
            assert [getattr(c.classify(e).explanation, "id", None) for e in events] == [expected] * 2, parent
    classifier = Classifier(build_allowlist([], None))
    classifier.know([ProcessInfo(2, 1, 0, b"/usr/bin/uv", ("uv", "run", "app")), builder])
    plan = plan_mounts([classifier.classify(events[0])], "/srv/app", {b"/srv/app/src": DirState.CONTENT})
    assert plan.mounts == [] and [b.point for b in plan.blocked] == ["/srv/app/src/app.egg-info"], plan
    assert "install the project at build time" in plan.blocked[0].describe()
