"""Runs merged into one trace (merge/combine.py)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path

import pytest

from rotrace.errors import BadInput
from rotrace.events import DirState, FileEvent, ProcessInfo
from rotrace.merge.combine import merge
from rotrace.policy.allowlist import build_allowlist
from rotrace.policy.mounts import MountPlan
from rotrace.record import TraceHeader
from rotrace.report.diff import TraceDiff
from rotrace.tracefile import read_trace
from tests.support.places import fixed_name_dir
from tests.support.schema import schema_errors
from tests.unit.factories import classify, event, written_trace

PY = b"/usr/bin/python3.11"


def _merged_plan(
    tmp_path: Path,
    app: Path,
    runs: list[tuple[list[FileEvent], dict[bytes, DirState]]],
    environment: dict[str, str] | None = None,
) -> MountPlan:
    """The plan of the merge of one trace per run (its events, its directories' states)."""
    from rotrace.pipeline import Pipeline

    paths = []
    for run, (events, states) in enumerate(runs):
        env = environment or {}
        header = TraceHeader(["python3", "app.py"], str(app), 0, directories=states, environment=env)
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(header, classify(*events)))
        paths.append(str(path))
    merge(paths, str(tmp_path / "m.json"), [], [])
    header, verdicts = read_trace(str(tmp_path / "m.json"))
    pipeline = Pipeline.of(header)
    for v in verdicts:
        pipeline.add(v)
    return pipeline.mount_plan(verdicts, header)


def _merged_but_last(tmp_path: Path, command: str, runs: list[list[FileEvent]]) -> tuple[str, list[str]]:
    """Each run's trace saved (its events as `command` made them in /srv/app), and the merge of
    all but the last: the merged trace's path, and each run's."""
    paths = []
    for run, events in enumerate(runs):
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(TraceHeader([command], "/srv/app", 0), classify(*events)))
        paths.append(str(path))
    merge(paths[:-1], str(tmp_path / "m.json"), [], [])
    return str(tmp_path / "m.json"), paths


def test_every_runs_writer_keeps_its_record_and_its_scripts_name(tmp_path: Path) -> None:
    """The same console script in two runs, two pids: each event keeps its run's pid, and the
    merged trace names both processes by the script (it kept the first run's record alone, and
    the second run's writes were shown as `python3.11 PID`)."""
    paths = []
    for run, pid in enumerate((100, 200)):
        tool = ProcessInfo(pid, 1, 0, PY, ("/srv/app/tool",), b"/srv/app/tool")
        header = TraceHeader(command=["./tool"], cwd="/srv/app", exit_code=0, processes=[tool])
        verdicts = classify(event(f"/srv/app/out/{run}.txt", exe=PY, pid=pid))
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(header, verdicts))
        paths.append(str(path))
    merge(paths, str(tmp_path / "m.json"), [], [])
    header, verdicts = read_trace(str(tmp_path / "m.json"))
    assert sorted(v.event.pid for v in verdicts) == [100, 200]
    assert header.script_names() == {("python3.11", 100): "tool", ("python3.11", 200): "tool"}


def test_a_per_run_name_inside_a_per_run_name_is_one_glob_too(tmp_path: Path) -> None:
    """uv makes `/tmp/.tmpA/.tmpB/python/...`, both names new in each run: the inner one was
    left literal (each run's under its own outer directory, one name each) and each said to
    be in one run only. Grouped under the outer directories' glob, it is one glob too."""
    paths = []
    for run, (outer, inner) in enumerate([("Ab12Cd", "Xy34Zw"), ("Ef56Gh", "Uv78St"), ("Ij90Kl", "Qr12Op")]):
        directory = f"/tmp/.tmp{outer}/.tmp{inner}"
        header = TraceHeader(command=["uv", "run"], cwd="/srv/app", exit_code=0)
        verdicts = classify(
            event(f"/tmp/.tmp{outer}", "mkdir", 0, syscall="mkdir"),
            event(directory, "mkdir", 0, syscall="mkdir"),
            event(f"{directory}/python", "create"),
        )
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(header, verdicts))
        paths.append(str(path))
    merge(paths, str(tmp_path / "m.json"), [], [])
    header, verdicts = read_trace(str(tmp_path / "m.json"))
    one = "[A-Za-z0-9]" * 6  # a glob of one per-run name
    assert sorted({os.fsdecode(v.event.path) for v in verdicts}) == [
        f"/tmp/.tmp{one}",
        f"/tmp/.tmp{one}/.tmp{one}",
        f"/tmp/.tmp{one}/.tmp{one}/python",
    ]
    assert all(v.count == 3 for v in verdicts)


def test_a_path_thousands_of_levels_deep_merges(tmp_path: Path) -> None:
    """`mkdir -p base/d/d/...` 3,000 levels down (6 KB: a path the kernel takes relative to a
    directory): generalising it was a call per level, and Python's stack ran out at ~500."""
    deep = "/srv/app/base" + "/d" * 3000
    paths = []
    for run in range(2):
        header = TraceHeader(command=["mkdir", "-p"], cwd="/srv/app", exit_code=0)
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(header, classify(event(deep, "mkdir", 0, syscall="mkdir"))))
        paths.append(str(path))
    merge(paths, str(tmp_path / "m.json"), [], [])
    (merged,) = read_trace(str(tmp_path / "m.json"))[1]
    assert merged.event.path == deep.encode() and merged.count == 2


def test_a_merged_trace_is_refused_as_an_input(tmp_path: Path) -> None:
    """Counted as one run, with its runs' names already globs, a merged trace would make every
    figure wrong ("merge of 2 runs" for three, "seen in 2 of 2"): its sources are named instead."""
    paths = []
    for run in range(3):
        header = TraceHeader(command=["tool"], cwd="/srv/app", exit_code=0)
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(header, classify(event(f"/srv/app/out/{run}.txt"))))
        paths.append(str(path))
    merge(paths[:2], str(tmp_path / "m.json"), [], [])
    with pytest.raises(
        BadInput, match=r"m\.json is a merged trace \(2 runs\): merge the runs' own traces \(.*t0\.json"
    ):
        merge([str(tmp_path / "m.json"), paths[2]], str(tmp_path / "again.json"), [], [])
    assert not (tmp_path / "again.json").exists()


def test_a_trace_naming_a_directory_filled_merges_as_it_says(tmp_path: Path) -> None:
    """`filled` is a merged trace's state of a directory; a run's trace edited to say it (a
    trace's file is anyone's to edit) made merge fail with an internal error (StopIteration):
    the state is kept."""
    paths = []
    for run, state in enumerate((DirState.FILLED, DirState.EMPTY)):
        header = TraceHeader(["tool"], "/srv/app", 0, directories={b"/srv/app/out": state})
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(header, classify(event(f"/srv/app/out/{run}.txt"))))
        paths.append(str(path))
    for given in (paths[:1], paths):
        merge(given, str(tmp_path / "m.json"), [], [])
        header, _ = read_trace(str(tmp_path / "m.json"))
        assert header.directories[b"/srv/app/out"] == DirState.FILLED


def test_a_directory_absent_before_some_runs_is_said_once_for_all_below_it(tmp_path: Path) -> None:
    """A cold run and a warm one (tox's .tox made by the first, there before the second): the
    merge said "absent before 1 of 2 runs" of every directory below .tox, 18 times for one
    mount. Said of the outermost alone."""
    from rotrace.events import DirState

    paths = []
    tops = ["/srv/app/.tox", "/srv/app/.tox/py", "/srv/app/.tox/py/lib", "/srv/app/other"]
    for run, state in enumerate((DirState.ABSENT, DirState.CONTENT)):
        header = TraceHeader(["tox"], "/srv/app", 0, directories={t.encode(): state for t in tops})
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(header, classify(*[event(f"{t}/f") for t in tops])))
        paths.append(str(path))
    notes: list[str] = []
    merge(paths, str(tmp_path / "m.json"), [], notes)
    said = [n.split(" was absent")[0] for n in notes if "was absent before 1 of 2 runs" in n]
    assert said == ["/srv/app/.tox", "/srv/app/other"], notes


def test_a_directory_absent_before_one_run_and_empty_before_the_other_is_no_question(tmp_path: Path) -> None:
    """kombu's broker/ made by a cold run, there and empty before a warm one: the merge said it
    "was absent before 1 and empty before 1 of 2 runs and was there (empty) before the others",
    of no other run. Neither run found files there: a mount that starts empty is what both had."""
    from rotrace.events import DirState

    paths = []
    for run, state in enumerate((DirState.ABSENT, DirState.EMPTY)):
        header = TraceHeader(["app"], "/srv/app", 0, directories={b"/srv/app/broker": state})
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(header, classify(event("/srv/app/broker/1.msg"))))
        paths.append(str(path))
    notes: list[str] = []
    merge(paths, str(tmp_path / "m.json"), [], notes)
    assert not [n for n in notes if "/srv/app/broker" in n and "before" in n], notes


def test_data_kept_from_one_run_to_the_next_stays_persistent_in_the_merge(tmp_path: Path) -> None:
    """A cold run made index/ and appended to index/log.seg; a warm one appended again, reading
    back what the first left. The warm trace alone planned index/ persistent; merged with the
    cold one, index/ was made by the command (the cold run's mkdir) and the plan an emptyDir:
    the data never accumulated under it."""
    from rotrace.events import DirState
    from rotrace.pipeline import Pipeline

    app = tmp_path / "app"
    (app / "index").mkdir(parents=True)
    (app / "index" / "log.seg").write_text("11")
    index, log = str(app / "index"), str(app / "index" / "log.seg")
    appended = event(log)._replace(flags="O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC")
    paths = []
    for run, (made, state) in enumerate(((0, DirState.ABSENT), ("EEXIST", DirState.CONTENT))):
        states = {str(app).encode(): DirState.CONTENT, index.encode(): state}
        header = TraceHeader(["python3", "app.py"], str(app), 0, directories=states)
        verdicts = classify(event(index, "mkdir", made, syscall="mkdir"), appended)
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(header, verdicts))
        paths.append(str(path))
    merge(paths, str(tmp_path / "m.json"), [], [])
    header, verdicts = read_trace(str(tmp_path / "m.json"))
    pipeline = Pipeline(header.cwd, header.directories)
    for v in verdicts:
        pipeline.add(v)
    plan = pipeline.mount_plan(verdicts, header)
    assert plan.mounts == [index] and plan.persistent == [index], plan
    assert not any("a restart loses them" in n for n in plan.notes), plan.notes  # it keeps them


def test_a_log_directory_a_cold_run_made_and_warm_runs_appended_to_stays_persistent(tmp_path: Path) -> None:
    """supervisord: each start removes the last start's child logs (mkstemp names), appends to
    supervisord.log and makes new child logs. The warm runs merged planned log/ persistent; with
    the cold run that made it, a tmpfs: the child log left on the machine is a name of the
    merge's glob, which was taken for a file the command did not keep."""
    app = fixed_name_dir("rotrace-cold-warm-", str(tmp_path))
    log = app / "log"
    log.mkdir()
    draws = ["k3x9q2za", "p0w7m4tb", "z8c1v6nd"]
    (log / "supervisord.log").write_text("started\n" * 3)
    (log / f"child-{draws[-1]}.log").write_text("")
    appended = event(str(log / "supervisord.log"))._replace(flags="O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC")

    def child(draw: str) -> FileEvent:
        return event(str(log / f"child-{draw}.log"))._replace(flags="O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC")

    cold = [event(str(log), "mkdir", 0, syscall="mkdir"), appended, child(draws[0])]
    runs = [(cold, {str(app).encode(): DirState.CONTENT, str(log).encode(): DirState.ABSENT})]
    for before, draw in itertools.pairwise(draws):
        removed = event(str(log / f"child-{before}.log"), "delete", 0, syscall="unlink")
        runs.append(([removed, appended, child(draw)], {str(log).encode(): DirState.CONTENT}))
    plan = _merged_plan(tmp_path, app, runs)
    assert plan.persistent == [str(log)] and plan.seeded == [str(log)], plan


@pytest.mark.parametrize("name", ["data", ".mitmproxy"])
def test_files_the_first_run_made_and_the_later_runs_only_read_back_are_kept(
    tmp_path: Path, name: str
) -> None:
    """mitmproxy makes its certificate authority in ~/.mitmproxy once; later starts only read it
    (a trace with the reads: --all-opens). Merged, the later runs had written nothing there, so
    no state said it held files: the plan mounted it empty, no word, and each start under it
    made a new authority. A plain directory is persistent; a hidden one, which the plan never
    makes a volume, is said to lose what the later runs read back."""
    app = fixed_name_dir("rotrace-readback-", str(tmp_path))
    directory, ca = str(app / name), str(app / name / "ca.pem")
    first = [event(directory, "mkdir", 0, syscall="mkdir"), event(ca)]
    read = event(ca, "open", write=False)._replace(flags="O_RDONLY|O_CLOEXEC")
    states = {str(app).encode(): DirState.CONTENT, directory.encode(): DirState.ABSENT}
    plan = _merged_plan(tmp_path, app, [(first, states), ([read], {}), ([read], {})])
    if name == "data":
        assert plan.persistent == [directory], plan
    else:
        assert plan.persistent == [] and directory in plan.mounts, plan
        assert any(n.startswith(f"{directory} held files") and "read them back" in n for n in plan.notes), (
            plan
        )


@pytest.mark.parametrize(
    ("second", "kept"),
    [
        ("met", True),  # it found its earlier upload where it would make one (O_EXCL: EEXIST)
        ("read", True),  # it read the earlier upload back (a trace with the reads, --all-opens)
        ("fresh", False),  # it made a new file by a name of its own: nothing says it uses the old ones
    ],
)
def test_uploads_an_earlier_run_left_are_kept_where_a_later_run_went_on_from_them(
    tmp_path: Path, second: str, kept: bool
) -> None:
    """A cold run made media/uploads and saved an upload; a warm one found it there. Merged, the
    command made media/ (the cold run's mkdir) and its writes were new files, no data kept in
    place: an emptyDir, where the warm trace alone refused an empty mount ("held files"), and a
    restart lost the uploads. Where the later run met or read the earlier run's files again, the
    directory is persistent; else the plan says a restart loses them."""
    from rotrace.events import DirState

    app = tmp_path / "app"
    media, uploads = app / "media", app / "media" / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "up0.txt").write_text("upload 0\n")
    made = event(str(media), "mkdir", 0, syscall="mkdir")
    first = [made, event(str(uploads), "mkdir", 0, syscall="mkdir"), event(str(uploads / "up0.txt"))]
    old = str(uploads / "up0.txt")
    touched = {
        "met": [event(old, "create", "EEXIST")._replace(flags="O_WRONLY|O_CREAT|O_EXCL")],
        "read": [event(old, "open", write=False)._replace(flags="O_RDONLY|O_CLOEXEC")],
        "fresh": [],
    }[second]
    later = [made._replace(result=-17), *touched, event(str(uploads / "up1.txt"))]
    runs = []
    for events, state in ((first, DirState.ABSENT), (later, DirState.CONTENT)):
        states = {os.fsencode(app): DirState.CONTENT, os.fsencode(media): state, os.fsencode(uploads): state}
        runs.append((events, states))
    plan = _merged_plan(tmp_path, app, runs)
    assert plan.mounts == [str(media)] and plan.persistent == ([str(media)] if kept else []), plan
    lost = [n for n in plan.notes if n.startswith(f"{media} held files before some of the merged runs")]
    assert bool(lost) != kept, plan.notes


def test_a_merged_plan_is_the_same_with_or_without_the_runs_output_left_here(tmp_path: Path) -> None:
    """A build's output directory made by the cold run (out/, out/build/ in it, out/app.spec) and
    written over by the warm one: with out/ left on this machine the plan read it (a
    subdirectory: not all data, an empty mount); without it (a fresh checkout) it took the
    warm run's rewrite for data kept and planned a persistent volume. The trace says what the
    runs made there, all their own: the same plan either way, the volume data kept needs."""
    import shutil

    from rotrace.events import DirState
    from rotrace.pipeline import Pipeline

    app = tmp_path / "app"
    out = app / "out"
    (out / "build").mkdir(parents=True)
    (out / "app.spec").write_text("spec\n")
    spec = event(str(out / "app.spec"))._replace(flags="O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC")
    made = event(str(out), "mkdir", 0, syscall="mkdir")
    first = [made, event(str(out / "build"), "mkdir", 0, syscall="mkdir"), spec]
    later = [made._replace(result=-17), event(str(out / "build"), "mkdir", "EEXIST", syscall="mkdir"), spec]
    paths = []
    for run, (events, state) in enumerate(((first, DirState.ABSENT), (later, DirState.CONTENT))):
        states = {os.fsencode(app): DirState.CONTENT, os.fsencode(out): state}
        header = TraceHeader(["python3", "build.py"], str(app), 0, directories=states)
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(header, classify(*events)))
        paths.append(str(path))
    merge(paths, str(tmp_path / "m.json"), [], [])
    plans = []
    for left in ("left here", "and an untraced run's too", "a fresh checkout"):
        if left == "and an untraced run's too":  # (production's next upload, named anew)
            (out / "build").mkdir(parents=True)
            (out / "app.spec").write_text("spec\n")
            (out / "other-3.bin").write_bytes(b"x")
        header, verdicts = read_trace(str(tmp_path / "m.json"))
        pipeline = Pipeline.of(header)
        for v in verdicts:
            pipeline.add(v)
        plans.append(pipeline.mount_plan(verdicts, header))
        shutil.rmtree(out, ignore_errors=True)
    assert [(p.mounts, p.persistent) for p in plans] == [([str(out)], [str(out)])] * 3, plans


def test_files_read_back_deep_below_a_directory_the_later_runs_only_wrote_under(tmp_path: Path) -> None:
    """mlflow's store: runs/1/RUN/artifacts/notes.txt, each run reading back the previous run's
    notes. The later run wrote nothing in runs/ itself (runs/1 was there), so its trace says
    nothing of what runs/ held before it; only runs/1 tells (holding files). The merge planned
    runs/ an emptyDir, without a word, and the second run under the plan failed on the notes
    the first had left."""
    from rotrace.events import DirState

    app = tmp_path / "app"
    runs, one = app / "runs", app / "runs" / "1"
    first_notes = one / "r1" / "artifacts" / "notes.txt"
    first_notes.parent.mkdir(parents=True)
    first_notes.write_text("hello")
    first = [
        event(str(runs), "mkdir", 0, syscall="mkdir"),
        event(str(one), "mkdir", 0, syscall="mkdir"),
        event(str(one / "r1"), "mkdir", 0, syscall="mkdir"),
        event(str(one / "r1" / "artifacts"), "mkdir", 0, syscall="mkdir"),
        event(str(first_notes)),
    ]
    later = [
        event(str(first_notes), "open", write=False)._replace(flags="O_RDONLY|O_CLOEXEC"),
        event(str(one / "r2"), "mkdir", 0, syscall="mkdir"),
        event(str(one / "r2" / "artifacts"), "mkdir", 0, syscall="mkdir"),
        event(str(one / "r2" / "artifacts" / "notes.txt")),
    ]
    absent = DirState.ABSENT
    cold = {os.fsencode(app): DirState.CONTENT, os.fsencode(runs): absent, os.fsencode(one): absent}
    warm = {os.fsencode(app): DirState.CONTENT, os.fsencode(one): DirState.CONTENT}
    plan = _merged_plan(tmp_path, app, [(first, cold), (later, warm)])
    assert plan.mounts == [str(runs)] and plan.persistent == [str(runs)], plan


def test_a_merged_baseline_and_one_of_its_runs_differ_in_nothing(tmp_path: Path) -> None:
    """Three runs each saving uploads/<uuid4 hex>.bin, merged: the merge writes them as a glob of
    hex classes, `diff` generalised the run's name to `*.bin`, and a CI gate comparing a run
    with the merged baseline it belongs to said "1 new violations", exit 1."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    names = [
        "3f2a9c0d8e7b4a1f9c2d3e4f5a6b7c8d",
        "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "0fedcba9876543210fedcba987654321",
    ]
    paths = []
    for run, name in enumerate(names):
        header = TraceHeader(["python3", "app.py"], "/srv/app", 0)
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(header, classify(event(f"/srv/app/uploads/{name}.bin"))))
        paths.append(str(path))
    merge(paths, str(tmp_path / "m.json"), [], [])
    diff = diff_traces(load_changes(str(tmp_path / "m.json")), load_changes(paths[0]))
    assert diff.appeared == diff.disappeared == diff.became == [], diff


def test_a_directory_empty_before_the_cold_run_is_no_ones_files_but_the_runs(tmp_path: Path) -> None:
    """TMPDIR set to a project directory, empty before the cold run, which left a cache
    subdirectory there (ReportLab's ReportLab_tmpUID/) for the warm run to find. Merged, the
    directory was "held files before the run" (the warm run's state won): with the runs' output
    left on this machine the plan refused it, kept it read-only, and the app died in tempfile's
    probe ("No usable temporary directory"). The cold run found it empty: what the warm one
    found there is what the runs left, and the plan mounts it whether that is still here or not."""
    app = fixed_name_dir("rotrace-app-", "/var/tmp")  # outside /tmp, a scratch place mounted whole
    tmpdir, cache = app / "tc", app / "tc" / "Lib_tmp"
    cache.mkdir(parents=True)
    (cache / "fonts.dat").write_bytes(b"cache")  # left by the runs

    def probe(name: str) -> list[FileEvent]:  # tempfile's: is the directory usable
        made = event(str(tmpdir / name))._replace(flags="O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC")
        return [made, event(str(tmpdir / name), "delete", 0, syscall="unlink")]

    unnamed = event(str(tmpdir))._replace(flags="O_RDWR|O_EXCL|O_NOFOLLOW|O_CLOEXEC|O_TMPFILE")
    made = event(str(cache), "mkdir", 0, syscall="mkdir")
    fonts = event(str(cache / "fonts.dat"))._replace(flags="O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC")
    cold = [*probe("8ov2e6bg"), made, fonts, unnamed]
    warm = [*probe("3q5j72lx"), made._replace(result=-17), unnamed]
    found = {os.fsencode(app): DirState.CONTENT}
    runs = [
        (cold, {**found, os.fsencode(tmpdir): DirState.EMPTY, os.fsencode(cache): DirState.ABSENT}),
        (warm, {**found, os.fsencode(tmpdir): DirState.CONTENT, os.fsencode(cache): DirState.CONTENT}),
    ]
    plans = []
    for _ in ("left here", "a fresh checkout"):
        plan = _merged_plan(tmp_path, app, runs, {"TMPDIR": str(tmpdir)})
        plans.append((plan.mounts, [b.point for b in plan.blocked]))
        shutil.rmtree(cache, ignore_errors=True)
    header, _ = read_trace(str(tmp_path / "m.json"))
    shutil.rmtree(app)
    assert plans == [([str(tmpdir)], [])] * 2, plans
    assert header.directories[os.fsencode(tmpdir)] == DirState.FILLED


def test_a_merged_plan_is_the_same_whichever_run_is_named_first(tmp_path: Path) -> None:
    """flit's build: dist/ made by the cold run, the sdist written over and the wheel saved
    over (mkstemp in dist/, renamed onto its name) by the warm one. Merged cold then warm, the
    cold run's mkdir made the warm run's rename look like a save where nothing could be from
    before, and dist/ was an empty mount; warm then cold, a persistent one."""
    app = fixed_name_dir("rotrace-app-", "/var/tmp")
    dist = app / "dist"
    wheel, sdist = dist / "pkg-1.0-py3-none-any.whl", dist / "pkg-1.0.tar.gz"
    dist.mkdir()
    wheel.write_bytes(b"wheel")  # what the runs left
    sdist.write_bytes(b"sdist")

    def build(made: int | str, temporary: str) -> list[FileEvent]:
        return [
            event(str(dist), "mkdir", made, syscall="mkdir"),
            event(str(sdist))._replace(flags="O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC"),
            event(str(dist / temporary))._replace(flags="O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC"),
            event(str(dist / temporary), "rename", 0, target=str(wheel), syscall="rename"),
        ]

    found = {os.fsencode(app): DirState.CONTENT}
    cold = (build(0, "tmpk3j9x2qa.whl"), {**found, os.fsencode(dist): DirState.ABSENT})
    warm = (build("EEXIST", "tmp7hw0d5zc.whl"), {**found, os.fsencode(dist): DirState.CONTENT})
    plans = []
    for _ in ("left here", "a fresh checkout"):
        for runs in ([cold, warm], [warm, cold]):
            plan = _merged_plan(tmp_path, app, runs)
            plans.append((plan.mounts, plan.persistent))
        shutil.rmtree(dist, ignore_errors=True)
    shutil.rmtree(app)
    assert plans == [([str(dist)], [str(dist)])] * 4, plans


def test_a_merged_plans_example_of_a_refused_place_is_the_same_in_either_order(tmp_path: Path) -> None:
    """GNU patch writes FILE.oXXXXXX in the project: the example the plan gives of the writes it
    cannot mount was the first run's name, and the committed policy's comment changed with the
    order the traces were named in."""
    app = fixed_name_dir("rotrace-app-", "/var/tmp")
    found = {os.fsencode(app): DirState.CONTENT}
    runs = [([event(str(app / f"a.txt.o{name}"))], found) for name in ("o5j0tJJ", "obBZBUq")]
    examples = [[b.path for b in _merged_plan(tmp_path, app, order).blocked] for order in (runs, runs[::-1])]
    shutil.rmtree(app)
    assert examples[0] == examples[1] and len(examples[0]) == 1, examples


def test_a_merged_baseline_of_temporary_files_renamed_into_place_matches_its_runs(tmp_path: Path) -> None:
    """litestar's file store: `mkstemp(prefix=KEY + ".tmp")`, then os.replace onto KEY. The
    merge made the temporary names a glob; a run's own temporary names (made and gone) were
    compared as such while the baseline's glob was compared as the glob, and `diff MERGED RUN`
    of one of its own runs said "2 new violations"."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    draws = ["k3uu2kjk", "k902h4kk", "ab_cd9ef"]
    paths = []
    for run, draw in enumerate(draws):
        temporary = f"/srv/app/store/settings.tmp{draw}"
        events = [
            event(temporary)._replace(flags="O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC"),
            event(temporary, "rename", 0, target="/srv/app/store/settings", syscall="rename"),
        ]
        header = TraceHeader(["python3", "app.py"], "/srv/app", 0)
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(header, classify(*events)))
        paths.append(str(path))
    merge(paths, str(tmp_path / "m.json"), [], [])
    for own in paths:
        diff = diff_traces(load_changes(str(tmp_path / "m.json")), load_changes(own))
        assert diff.appeared == diff.disappeared == diff.became == [], diff


def test_a_write_repeated_in_a_run_stays_where_it_came_last(tmp_path: Path) -> None:
    """git init probes the file system: .git/tXXXXXX made (O_EXCL) and removed, then a symlink
    of that name made and removed. Merged, the second removal was folded into the first, so the
    symlink lasted, and `diff MERGED RUN` of an identical run showed it as a new write."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    paths = []
    for run, draw in enumerate(("Ab12Cd", "x9Y8z7", "Qq1Ww2", "Ee3Rr4")):
        probe = f"/srv/app/.git/t{draw}"
        events = [
            event(probe)._replace(flags="O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC"),
            event(probe, "delete", 0, syscall="unlink"),
            event(probe, "symlink", 0, target="testing", syscall="symlink"),
            event(probe, "delete", 0, syscall="unlink"),
        ]
        header = TraceHeader(["git", "init"], "/srv/app", 0)
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(header, classify(*events)))
        paths.append(str(path))
    merge(paths[:3], str(tmp_path / "m.json"), [], [])
    diff = diff_traces(load_changes(str(tmp_path / "m.json")), load_changes(paths[3]))
    assert diff.appeared == diff.disappeared == diff.became == [], diff


def test_virtualenvs_probes_in_tmp_merge_to_what_the_next_run_writes(tmp_path: Path) -> None:
    """virtualenv's probes (poetry's cold install): NamedTemporaryFile(prefix="TmP") and a symlink
    TmPxxxxxxxx-b to it, made and removed, beside tempfile's own tmpxxxxxxxx/. Merged, the `TmP`
    and `tmp` names were one family with no literal part (a glob of the characters seen) and the
    symlinks' contents were each run's own name: a fourth identical run was 5 writes that
    appeared and 8 that disappeared."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    draws = ["pp4mwmhr", "i8d0wgro", "z_n4ghbt", "iaymsjx9"]
    folders = ["hhw7ic3r", "k3j_9x2a", "q8z1m0bd", "w2e4r6t8"]
    paths = []
    for run, (draw, folder) in enumerate(zip(draws, folders, strict=True)):
        probe, link, temp = f"/tmp/TmP{draw}", f"/tmp/TmP{draw}-b", f"/tmp/tmp{folder}"
        events = [
            event(temp, "mkdir", 0, syscall="mkdir"), event(f"{temp}/TmP"),
            event(f"{temp}/TmP", "delete", 0, syscall="unlink"), event(temp, "delete", 0, syscall="rmdir"),
            event(probe)._replace(flags="O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC"),
            event(link, "symlink", 0, target=probe, syscall="symlink"),
            event(link, "delete", 0, syscall="unlink"), event(probe, "delete", 0, syscall="unlink"),
        ]  # fmt: skip
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(TraceHeader(["poetry", "install"], "/srv/app", 0), classify(*events)))
        paths.append(str(path))
    merge(paths[:3], str(tmp_path / "m.json"), [], [])
    diff = diff_traces(load_changes(str(tmp_path / "m.json")), load_changes(paths[3]))
    assert diff.appeared == diff.disappeared == [], diff


def test_a_merged_bare_number_stands_for_the_next_runs(tmp_path: Path) -> None:
    """versions/<epoch>/state.json in three runs: the merge kept only the digits seen at each
    place (`1765012[34][149][159]`), which a fourth identical run's epoch seldom fits: two new
    writes. A glob of a bare number is one of any digits."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    paths = []
    for run, epoch in enumerate((1765012341, 1765012449, 1765012395, 1765019999)):
        events = [event(f"/srv/app/versions/{epoch}", "mkdir", 0, syscall="mkdir"),
                  event(f"/srv/app/versions/{epoch}/state.json")]  # fmt: skip
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(TraceHeader(["app"], "/srv/app", 0), classify(*events)))
        paths.append(str(path))
    merge(paths[:3], str(tmp_path / "m.json"), [], [])
    diff = diff_traces(load_changes(str(tmp_path / "m.json")), load_changes(paths[3]))
    assert diff.new_violations == [], diff


def test_words_are_no_per_run_names_in_a_merge_nor_a_draws_glob_in_diff(tmp_path: Path) -> None:
    """A CI matrix's cells wrote conf/lint.toml, test.toml, docs.toml: merged into
    conf/[a-z]x4.toml, under which a new run's conf/keys.toml was "no change" (and which the
    merged allowlist allows). Three runs keeping mkstemp(prefix="")'s draw (k3j_9x2a.txt...)
    merged into [a-z0-9_]x8.txt, which took a new d/settings.txt in. Words stay names; a glob of
    draws stands for draws."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    def merged(name: str, *names: str) -> Path:
        paths = []
        for run, written in enumerate(names):
            path = tmp_path / f"{name}{run}.json"
            path.write_text(written_trace(TraceHeader(["app"], "/srv/app", 0), classify(event(written))))
            paths.append(str(path))
        merge(paths, str(tmp_path / f"{name}.json"), [], [])
        return tmp_path / f"{name}.json"

    def run(*written: str) -> Path:
        path = tmp_path / "new.json"
        path.write_text(written_trace(TraceHeader(["app"], "/srv/app", 0), classify(*map(event, written))))
        return path

    matrix = merged("matrix", "/srv/app/conf/lint.toml", "/srv/app/conf/test.toml", "/srv/app/conf/docs.toml")
    assert "[a-z]" not in matrix.read_text()
    found = diff_traces(load_changes(str(matrix)), load_changes(str(run("/srv/app/conf/keys.toml"))))
    assert [c.path for c in found.new_violations] == ["$CWD/conf/keys.toml"], found
    draws = merged("draws", "/srv/app/d/k3j_9x2a.txt", "/srv/app/d/q8z1m0bd.txt", "/srv/app/d/w2e4r6t8.txt")
    assert "[a-z0-9_]" in draws.read_text()
    kept = run("/srv/app/d/z9x8c7v6.txt", "/srv/app/d/settings.txt")
    found = diff_traces(load_changes(str(draws)), load_changes(str(kept)))
    assert [c.path for c in found.new_violations] == ["$CWD/d/settings.txt"], found


def test_checkouts_in_two_places_mapped_to_one_merge(tmp_path: Path) -> None:
    """docs/ci.md: checkouts in different places merge with `--map HOST=IMAGE`. Two runs from
    /srv/runner1/app and /srv/runner2/app, both mapped to /app, were refused: "their working
    directory differs" was read before the maps; different applications still are."""
    from rotrace.errors import BadInput
    from rotrace.merge.combine import merge_command

    paths = []
    for runner in ("runner1", "runner2"):
        header = TraceHeader(["app"], f"/srv/{runner}/app", 0)
        path = tmp_path / f"{runner}.json"
        path.write_text(written_trace(header, classify(event(f"/srv/{runner}/app/state"))))
        paths.append(str(path))
    maps = [("/srv/runner1/app", "/app"), ("/srv/runner2/app", "/app")]
    assert merge_command(paths, str(tmp_path / "m.json"), maps, None) == 0
    assert '"/app/state"' in (tmp_path / "m.json").read_text()
    with pytest.raises(BadInput, match="working directory differs"):
        merge_command(paths, str(tmp_path / "n.json"), maps[:1], None)


def test_mapped_checkouts_keep_what_each_run_allowed(tmp_path: Path) -> None:
    """Each run allowed its own checkout's out/ (`--allow`) and made no violation; merged with
    `--map` to /app, the events moved to /app/out but the allowlists stayed at the checkouts:
    `report merged.json` said "4 violations", exit 1. The entries move with the paths."""
    from rotrace.merge.combine import merge_command
    from rotrace.tracefile import read_trace

    paths = []
    for runner in ("runner1", "runner2"):
        app = f"/srv/{runner}/app"
        allowed = build_allowlist([f"{app}/out"], None)
        header = TraceHeader(["app"], app, 0, allowlist=allowed.entries)
        path = tmp_path / f"{runner}.json"
        path.write_text(written_trace(header, classify(event(f"{app}/out/r.txt"), allow=[f"{app}/out"])))
        paths.append(str(path))
    maps = [("/srv/runner1/app", "/app"), ("/srv/runner2/app", "/app")]
    assert merge_command(paths, str(tmp_path / "m.json"), maps, None) == 0
    header, stored = read_trace(str(tmp_path / "m.json"))
    assert "/app/out" in header.allowlist and not any(a.startswith("/srv/") for a in header.allowlist)
    assert [(v.event.path, v.violation) for v in stored] == [(b"/app/out/r.txt", False)]


def test_the_containers_of_one_pod_are_not_merged_as_one_application(tmp_path: Path) -> None:
    """`rotrace merge traces/` of a Pod's recording: the app and its sidecar (same image, same
    working directory, `container` labels web and beat) were merged silently into one trace, and
    `kube harden --container web` then mounted the sidecar's places in web. Grouped by the
    label, each is its own."""
    from rotrace.errors import BadInput
    from rotrace.merge.combine import merge_command

    paths = []
    for pod in ("web-1", "web-2"):
        for container in ("web", "beat"):
            header = TraceHeader(["app"], "/srv/app", 0, labels={"pod": pod, "container": container})
            path = tmp_path / f"{pod}-{container}.json"
            path.write_text(written_trace(header, classify(event(f"/srv/app/{container}.log"))))
            paths.append(str(path))
    with pytest.raises(BadInput, match=r"container label differs.*--group-by"):
        merge_command(paths, str(tmp_path / "m.json"), [], None)
    out = tmp_path / "out"
    out.mkdir()
    assert merge_command(paths, str(out), [], "label:container") == 0
    assert sorted(p.name for p in out.iterdir()) == ["beat.json", "web.json"]


def test_a_cold_runs_failed_removal_first_keeps_the_warm_runs_order(tmp_path: Path) -> None:
    """pylint removes its stats file, then makes it anew (O_EXCL); the cold first run's removal
    fails (ENOENT). Merged cold run first, the warm runs' successful removal went after the
    make, as if the file were made and removed again: `diff MERGED RUN` of a fourth warm run
    said its lasting file was a new write (exit 1), and the merge in another order did not."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    stats = "/srv/app/state/pkg_1.stats"
    paths = []
    for run in range(4):
        removed = event(stats, "delete", "ENOENT" if run == 0 else 0, syscall="unlink")
        made = event(stats)._replace(flags="O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC")
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(TraceHeader(["pylint", "pkg"], "/srv/app", 0), classify(removed, made)))
        paths.append(str(path))
    for order in ([0, 1, 2], [1, 0, 2], [1, 2, 0]):
        merge([paths[i] for i in order], str(tmp_path / "m.json"), [], [])
        diff = diff_traces(load_changes(str(tmp_path / "m.json")), load_changes(paths[3]))
        assert diff.appeared == diff.disappeared == [], (order, diff)
        merged = [(v.event.op, v.event.result) for v in read_trace(str(tmp_path / "m.json"))[1]]
        assert merged.index(("delete", 0)) < merged.index(("create", 3)), merged


def test_a_file_in_a_per_run_directory_merged_compares_with_the_next_runs(tmp_path: Path) -> None:
    """pdm's mkdtemp(prefix="pdm-build-") holds a wheel, written (no O_EXCL), removed, and the
    directory removed. Merged, the directory is a glob of tempfile's classes; a next run's
    directory with a digit in its draw is a per-run name already, and its wheel was compared by
    the baseline's glob while the baseline compared its own as `pdm-build-*`: "appeared" and
    "disappeared" in nearly every identical run (new violations outside the allowlist)."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    paths = []
    for run, draw in enumerate(("k3uu2kjk", "x902h4kk", "ab_cd9ef", "m5c37fn5", "qq8wxyz1")):
        folder = f"/srv/app/work/pdm-build-{draw}"
        wheel = f"{folder}/six-1.16.0-py2.py3-none-any.whl"
        events = [
            event(folder, "mkdir", 0, syscall="mkdir"), event(wheel),
            event(wheel, "delete", 0, syscall="unlink"), event(folder, "delete", 0, syscall="rmdir"),
        ]  # fmt: skip
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(TraceHeader(["pdm", "install"], "/srv/app", 0), classify(*events)))
        paths.append(str(path))
    merge(paths[:3], str(tmp_path / "m.json"), [], [])
    for new in paths[3:]:
        diff = diff_traces(load_changes(str(tmp_path / "m.json")), load_changes(new))
        assert diff.appeared == diff.disappeared == diff.became == [], diff


def test_runs_in_different_homes_merge_to_a_baseline_of_their_homes(tmp_path: Path) -> None:
    """A CI matrix run as root and as a user: each run's ~/.cache/tool in its own HOME. The
    merge keeps only the environment the runs share (no HOME), and `diff MERGED RUN` of a next
    run in a fourth home showed every write in the homes as new, where a diff of two of the runs
    compares them as `$HOME`. A merged baseline compares each write by its runs' home; a new
    file in the home is still a new write."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    paths = []
    homes = ("/root", "/home/app", "/root", "/home/ci")
    for run, home in enumerate(homes):
        events = [
            event(f"{home}/.cache/tool", "mkdir", 0, syscall="mkdir"),
            event(f"{home}/.cache/tool/state.json"),
        ]
        if run == 3:
            events.append(event(f"{home}/.ssh/authorized_keys"))
        header = TraceHeader(["tool"], "/srv/app", 0, environment={"HOME": home})
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(header, classify(*events)))
        paths.append(str(path))
    merge(paths[:3], str(tmp_path / "m.json"), [], [])
    diff = diff_traces(load_changes(str(tmp_path / "m.json")), load_changes(paths[3]))
    assert [c.path for c in diff.appeared] == ["$HOME/.ssh/authorized_keys"], diff
    assert diff.disappeared == [], diff


def test_more_names_of_a_per_run_form_that_stay_are_new_writes(tmp_path: Path) -> None:
    """A baseline that left cron.d/app-<pid> and a run that left two such files (the second a
    new, lasting write outside the allowlist) were one key of per-run names: "no change", exit
    0, against one run or a merge of three (app-[0-9]x5). The names past the baseline's number
    a run are new writes; as many as it had are none, whatever their numbers."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    def trace(name: str, *pids: int) -> str:
        events = [event(f"/srv/app/etc/cron.d/app-{pid}") for pid in pids]
        path = tmp_path / f"{name}.json"
        path.write_text(written_trace(TraceHeader(["app"], "/srv/app", 0), classify(*events)))
        return str(path)

    baseline = trace("one", 12345)
    assert diff_traces(load_changes(baseline), load_changes(trace("same", 23456))).appeared == []
    diff = diff_traces(load_changes(baseline), load_changes(trace("two", 23456, 99999)))
    assert [(c.path, c.violation) for c in diff.appeared] == [("$CWD/etc/cron.d/app-99999", True)], diff
    merge(
        [trace(f"r{i}", pid) for i, pid in enumerate((12345, 23456, 31337))], str(tmp_path / "m.json"), [], []
    )
    merged = load_changes(str(tmp_path / "m.json"))
    assert diff_traces(merged, load_changes(trace("next", 4242))).appeared == []
    diff = diff_traces(merged, load_changes(trace("five", 40001, 40002, 40003, 40004, 40005)))
    assert [c.path for c in diff.new_violations] == ["$CWD/etc/cron.d/app-*"], diff  # four, shown as one form
    # a merge of runs that each left two: a run that leaves two is no change, three is one more
    pairs = [trace(f"d{i}", pid, pid + 1) for i, pid in enumerate((12345, 23456, 31337))]
    merge(pairs, str(tmp_path / "m2.json"), [], [])
    merged = load_changes(str(tmp_path / "m2.json"))
    assert diff_traces(merged, load_changes(trace("pair", 5000, 5001))).appeared == []
    assert len(diff_traces(merged, load_changes(trace("three", 5000, 5001, 5002))).new_violations) == 1


def test_a_name_made_again_in_each_run_keeps_its_place_after_the_runs_other_writes(tmp_path: Path) -> None:
    """Each run makes cron.d/job (O_EXCL), removes it, makes it again, writes another file, and
    removes job: made and gone. Merged, a run's place went back to the other write (placed
    first by the runs before) and the second make went after the last removal: the baseline
    read as leaving job, and a run that leaves it was "no change"."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    job = "/srv/app/etc/cron.d/job"
    made = event(job)._replace(flags="O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC")
    removed = event(job, "delete", 0, syscall="unlink")
    paths = []
    for run in range(4):
        events = [made, removed, made, event("/srv/app/out/other.txt"), *([] if run == 3 else [removed])]
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(TraceHeader(["app"], "/srv/app", 0), classify(*events)))
        paths.append(str(path))
    merge(paths[:3], str(tmp_path / "m.json"), [], [])
    diff = diff_traces(load_changes(str(tmp_path / "m.json")), load_changes(paths[3]))
    assert ("create", "$CWD/etc/cron.d/job") in [(c.op, c.path) for c in diff.new_violations], diff
    assert diff_traces(load_changes(str(tmp_path / "m.json")), load_changes(paths[0])).appeared == []


def test_a_log_each_run_rotates_further_merges_to_a_baseline_of_its_runs(tmp_path: Path) -> None:
    """certbot rotates its log at each start, the oldest first (log.2 -> log.3, log.1 -> log.2,
    log -> log.1), one more each run. Merged, the one order of all runs put log.1 -> log.2 (every
    run's) before log.2 -> log.3 (the later runs'), and log.2 read as removed at the end: `diff`
    of the merge against its own last run said two renames appeared (exit 1). A name some run
    put there and never removed stays; one every run removed is still gone."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    log = "/srv/app/log/letsencrypt.log"

    def rotated(kept: int) -> list[FileEvent]:  # (the log opened, rotated, made again)
        names = [log] + [f"{log}.{n}" for n in range(1, kept + 2)]
        down = reversed(range(kept + 1))
        renames = [event(names[n], "rename", 0, target=names[n + 1], syscall="rename") for n in down]
        return [event(log), *renames, event(log)]

    merged_path, paths = _merged_but_last(tmp_path, "certbot", [rotated(run + 1) for run in range(4)])
    merged = load_changes(merged_path)
    assert diff_traces(merged, load_changes(paths[2])).appeared == []
    diff = diff_traces(load_changes(merged_path), load_changes(paths[3]))  # one more
    assert [(c.op, c.path, c.target) for c in diff.appeared] == [
        ("rename", "$CWD/log/letsencrypt.log.4", "$CWD/log/letsencrypt.log.5")
    ], diff


def test_a_heartbeat_on_files_with_no_name_left_is_no_lasting_write(tmp_path: Path) -> None:
    """gunicorn's workers touch a mkstemp file they unlinked at once (/proc names it `NAME
    (deleted)`); their runs left none of those names. Against the merge of three runs, a fourth
    identical one said two writes appeared: its own such names were taken for names that stay."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    draws = ["athhwejo", "tu3gmi58", "k3x9q2za", "p0w7m4tb", "z8c1v6nd", "q5r2m8xk", "c7v1b3nz", "h2j4k6l8"]
    runs = []
    for run in range(4):
        events = []
        for draw in draws[2 * run : 2 * run + 2]:
            name = f"/dev/shm/wgunicorn-{draw}"
            events += [event(name)._replace(flags="O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC"),
                       event(name, "delete", 0, syscall="unlink"),
                       event(f"{name} (deleted)", "utime", 0, syscall="utimensat")]  # fmt: skip
        runs.append(events)
    merged, paths = _merged_but_last(tmp_path, "gunicorn", runs)
    diff = diff_traces(load_changes(merged), load_changes(paths[3]))
    assert diff.appeared == diff.disappeared == [], diff


def test_per_run_names_a_run_only_wrote_to_are_names_it_left(tmp_path: Path) -> None:
    """Each run appends to its own log, named by its pid, that its launcher made (an open with
    no O_CREAT: no name made in the run): the merged glob's `most` counted names made, none,
    and a fourth identical run's log was one more name than the baseline's runs left."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    flags = "O_WRONLY|O_APPEND|O_CLOEXEC"
    runs = [
        [event(f"/srv/app/logs/app-{pid}.log", "open")._replace(flags=flags)]
        for pid in (48213, 51977, 60341, 73112)
    ]
    merged, paths = _merged_but_last(tmp_path, "app", runs)
    header, _ = read_trace(merged)
    assert [g.most for g in header.generalised] == [1], header.generalised
    diff = diff_traces(load_changes(merged), load_changes(paths[3]))
    assert diff.appeared == diff.disappeared == [], diff


def test_a_later_runs_many_new_writes_keep_their_order_among_the_first_runs(tmp_path: Path) -> None:
    """A later run's new writes go between the first run's where that run had them, however many
    (each halves the gap between two labels, which are all made afresh when one is used up)."""
    first = [event(f"/srv/app/a{i}") for i in range(3)]
    later = [first[0], *(event(f"/srv/app/n{i:03}") for i in range(200)), first[1], first[2]]
    paths = []
    for run, events in enumerate((first, later)):
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(TraceHeader(["app"], "/srv/app", 0), classify(*events)))
        paths.append(str(path))
    merge(paths, str(tmp_path / "m.json"), [], [])
    order = [os.fsdecode(v.event.path) for v in read_trace(str(tmp_path / "m.json"))[1]]
    assert order == [os.fsdecode(e.path) for e in later], order


def test_names_installed_by_an_atomic_rename_are_counted_and_compared_by_their_form(tmp_path: Path) -> None:
    """mkstemp in cron.d, renamed onto app-<pid>: the rename's target is what stays. A merge of
    three runs that each installed one against a fourth identical run was noise (the baseline's
    target kept as its glob, the run's as `app-*`); a run that installed three was "no change"
    (only a name's path was asked whether it stays, and a rename's is its temporary source)."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    def trace(name: str, *installs: tuple[str, int]) -> str:
        events = []
        for draw, pid in installs:
            temporary = f"/srv/app/etc/cron.d/tmp{draw}"
            events += [
                event(temporary)._replace(flags="O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC"),
                event(temporary, "rename", 0, target=f"/srv/app/etc/cron.d/app-{pid}", syscall="rename"),
            ]
        path = tmp_path / f"{name}.json"
        path.write_text(written_trace(TraceHeader(["app"], "/srv/app", 0), classify(*events)))
        return str(path)

    installs = (("k3uu2kjk", 28912), ("x9_2h4kk", 31337), ("ab1cd9ef", 40001))
    runs = [trace(f"r{i}", install) for i, install in enumerate(installs)]
    merge(runs, str(tmp_path / "m.json"), [], [])
    merged = load_changes(str(tmp_path / "m.json"))
    same = diff_traces(merged, load_changes(trace("same", ("q8z1m0bd", 29999))))
    assert same.appeared == same.disappeared == [], same
    more = (("q8z1m0bd", 29999), ("w2e4r6t8", 30001), ("zz9yy8xx", 30002))
    three = diff_traces(merged, load_changes(trace("three", *more)))
    assert three.new_violations and {c.op for c in three.new_violations} == {"rename"}, three  # two, one form
    assert diff_traces(load_changes(runs[0]), load_changes(trace("two", *more[:2]))).new_violations


def test_a_run_that_fails_is_newly_failed_against_a_merge_of_runs_that_succeeded(tmp_path: Path) -> None:
    """`diff` said so against one run (exit 8) and nothing against a merge of three: a merged
    baseline ends as its runs all did; runs that ended otherwise leave nothing to compare."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    def trace(name: str, status: int) -> str:
        path = tmp_path / f"{name}.json"
        header = TraceHeader(["tool"], "/srv/app", status)
        path.write_text(written_trace(header, classify(event("/srv/app/out/result.txt"))))
        return str(path)

    merge([trace(f"ok{i}", 0) for i in range(3)], str(tmp_path / "m.json"), [], [])
    failed = diff_traces(load_changes(str(tmp_path / "m.json")), load_changes(trace("failed", 1)))
    assert failed.newly_failed and failed.outcome == ("exit status 0", "exit status 1"), failed
    assert not diff_traces(load_changes(str(tmp_path / "m.json")), load_changes(trace("ok", 0))).outcome
    merge([trace("a", 0), trace("b", 1), trace("c", 0)], str(tmp_path / "mixed.json"), [], [])
    assert not diff_traces(
        load_changes(str(tmp_path / "mixed.json")), load_changes(trace("f", 1))
    ).newly_failed


def test_a_diff_says_the_command_changed_where_its_runs_agree_on_one(tmp_path: Path) -> None:
    """Two runs with another argument (`-f` added) were compared as if the same command ran: the
    diff says what changed; against a merge of runs of one command too, never of several."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    def trace(name: str, *argv: str) -> str:
        path = tmp_path / f"{name}.json"
        path.write_text(
            written_trace(TraceHeader(list(argv), "/srv/app", 0), classify(event("/srv/app/out/x")))
        )
        return str(path)

    old, new = trace("old", "tool", "build"), trace("new", "tool", "build", "-f")
    assert diff_traces(load_changes(old), load_changes(new)).command == (
        ["tool", "build"],
        ["tool", "build", "-f"],
    )
    assert diff_traces(load_changes(old), load_changes(trace("same", "tool", "build"))).command is None
    merge([old, trace("again", "tool", "build")], str(tmp_path / "m.json"), [], [])
    assert diff_traces(load_changes(str(tmp_path / "m.json")), load_changes(new)).command is not None
    merge([old, new], str(tmp_path / "mixed.json"), [], [])
    assert diff_traces(load_changes(str(tmp_path / "mixed.json")), load_changes(new)).command is None


def test_an_atomic_writers_numbered_temporary_file_merged_compares_with_the_next_runs(tmp_path: Path) -> None:
    """py_compile (PyInstaller's localpycs) writes m.pyc.<id()> (O_EXCL) and renames it onto
    m.pyc. Merged, the draw is a glob of digits, which the baseline compared by its names' form
    (`m.pyc.*`) and a run's own temporary name as its directory's `*`: two new violations in
    every identical run."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    runs = []
    for draw in (139670237082480, 140211998765432, 139881234567890, 140000111222333):
        temporary = f"/srv/app/out/m.pyc.{draw}"
        runs.append(
            [
                event("/srv/app/out", "mkdir", 0, syscall="mkdir"),
                event(temporary)._replace(flags="O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC"),
                event(temporary, "rename", 0, target="/srv/app/out/m.pyc", syscall="rename"),
            ]
        )
    merged, paths = _merged_but_last(tmp_path, "python3", runs)
    diff = diff_traces(load_changes(merged), load_changes(paths[3]))
    assert diff.appeared == diff.disappeared == [], diff


def test_a_merged_globs_most_counts_the_names_a_run_left(tmp_path: Path) -> None:
    """Each run made and removed five lock files app-NNNNN and left one: `most` counted six a
    run, and a run that left five was "no change" against the merge (exit 1 against one run)."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    def trace(name: str, first: int, kept: int, locks: int) -> str:
        events = []
        for i in range(locks):
            lock = f"/srv/app/etc/cron.d/app-{first + i}"
            events += [event(lock), event(lock, "delete", 0, syscall="unlink")]
        events += [event(f"/srv/app/etc/cron.d/app-{first + 100 + i}") for i in range(kept)]
        path = tmp_path / f"{name}.json"
        path.write_text(written_trace(TraceHeader(["app"], "/srv/app", 0), classify(*events)))
        return str(path)

    merge([trace(f"r{i}", 20000 + 1000 * i, 1, 5) for i in range(3)], str(tmp_path / "m.json"), [], [])
    (glob,) = read_trace(str(tmp_path / "m.json"))[0].generalised
    assert glob.most == 1, glob
    merged = load_changes(str(tmp_path / "m.json"))
    assert diff_traces(merged, load_changes(trace("same", 60000, 1, 5))).new_violations == []
    assert diff_traces(merged, load_changes(trace("five", 70000, 5, 0))).new_violations


def test_files_of_a_tree_staged_and_renamed_into_place_are_counted(tmp_path: Path) -> None:
    """Each run stages cron.d/stage-N/ with one job and renames it onto cron.d/app-N: the
    directory was made and gone, and what it held was taken for gone with it; a run whose
    staged tree held three jobs was "no change" against one run or a merge of three."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    def trace(name: str, n: int, jobs: int) -> str:
        stage, final = f"/srv/app/etc/cron.d/stage-{n}", f"/srv/app/etc/cron.d/app-{n}"
        events = [event(stage, "mkdir", 0, syscall="mkdir")]
        events += [event(f"{stage}/job-{n + i}") for i in range(jobs)]
        events.append(event(stage, "rename", 0, target=final, syscall="rename"))
        path = tmp_path / f"{name}.json"
        path.write_text(written_trace(TraceHeader(["app"], "/srv/app", 0), classify(*events)))
        return str(path)

    runs = [trace(f"r{i}", 21000 + 1000 * i, 1) for i in range(3)]
    merge(runs, str(tmp_path / "m.json"), [], [])
    merged = load_changes(str(tmp_path / "m.json"))
    assert diff_traces(merged, load_changes(trace("same", 50000, 1))).new_violations == []
    assert diff_traces(merged, load_changes(trace("three", 60000, 3))).new_violations
    assert diff_traces(load_changes(runs[0]), load_changes(trace("three2", 70000, 3))).new_violations


def test_a_name_spelt_as_a_per_run_form_is_compared_as_itself(tmp_path: Path) -> None:
    """A file named `app-*` beside app-<pid>: its name is the form's key itself, so it was never
    counted among the form's names, and the run was "no change" against one run or a merge."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    def trace(name: str, *files: str) -> str:
        path = tmp_path / f"{name}.json"
        events = [event(f"/srv/app/etc/cron.d/{f}") for f in files]
        path.write_text(written_trace(TraceHeader(["app"], "/srv/app", 0), classify(*events)))
        return str(path)

    runs = [trace(f"r{i}", f"app-{pid}") for i, pid in enumerate((21345, 32456, 43567))]
    merge(runs, str(tmp_path / "m.json"), [], [])
    for baseline in (runs[0], str(tmp_path / "m.json")):
        diff = diff_traces(load_changes(baseline), load_changes(trace("star", "app-54678", "app-*")))
        assert [c.path for c in diff.new_violations] == ["literal:$CWD/etc/cron.d/app-*"], diff


def test_a_time_of_day_joined_by_underscores_merges_to_what_the_next_run_writes(tmp_path: Path) -> None:
    """npm's debug log, `_logs/<date>T23_24_16_655Z-debug-0.log`: a time joined by `_` was no
    stamp, and its merge a glob of tempfile's class, which the next run's digits never fit (a
    draw holds a letter): every identical run was a new violation."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    paths = []
    for run, time in enumerate(("23_24_16_655", "23_24_28_820", "23_25_03_119", "23_25_41_007")):
        events = [event(f"/srv/app/.npm/_logs/2026-12-06T{time}Z-debug-0.log")]
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(TraceHeader(["npm", "install"], "/srv/app", 0), classify(*events)))
        paths.append(str(path))
    merge(paths[:3], str(tmp_path / "m.json"), [], [])
    diff = diff_traces(load_changes(str(tmp_path / "m.json")), load_changes(paths[3]))
    assert diff.appeared == diff.disappeared == [], diff


def test_counts_that_add_up_past_what_a_trace_holds_are_refused(tmp_path: Path) -> None:
    """Two hand-edited traces, each a count of 6e18 (each read): the merge wrote their sum, a
    trace it then could not read (exit 3 from `report` and `diff`). It refuses, one line."""
    import json

    paths = []
    for run in range(2):
        doc = json.loads(
            written_trace(TraceHeader(["app"], "/srv/app", 0), classify(event("/srv/app/out/f")))
        )
        doc["events"][0]["count"] = 6 * 10**18
        path = tmp_path / f"t{run}.json"
        path.write_text(json.dumps(doc))
        read_trace(str(path))  # each is a trace
        paths.append(str(path))
    with pytest.raises(BadInput, match="add up past"):
        merge(paths, str(tmp_path / "m.json"), [], [])


def test_a_processs_own_proc_directory_is_per_run_whatever_its_pids_length(tmp_path: Path) -> None:
    """rustc writes its jobserver pipe through /proc/PID/fd/7: a pid of four digits (a
    container's) was a literal name, appeared and disappeared in every identical cargo build."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    paths = []
    for run, pid in enumerate((1234, 2345, 3456, 4567)):
        events = [event(f"/proc/{pid}/fd/7", "open", 3, syscall="openat")._replace(flags="O_WRONLY")]
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(TraceHeader(["cargo", "build"], "/srv/app", 0), classify(*events)))
        paths.append(str(path))
    merge(paths[:3], str(tmp_path / "m.json"), [], [])
    for baseline in (paths[0], str(tmp_path / "m.json")):
        diff = diff_traces(load_changes(baseline), load_changes(paths[3]))
        assert diff.appeared == diff.disappeared == [], diff


def _diffs(tmp_path: Path, runs: list[list[FileEvent]], new: list[FileEvent]) -> tuple[TraceDiff, TraceDiff]:
    """`diff` of `new` against the first run and against the merge of all `runs`."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    paths = []
    for i, events in enumerate([*runs, new]):
        path = tmp_path / f"d{i}.json"
        path.write_text(written_trace(TraceHeader(["app"], "/srv/app", 0), classify(*events)))
        paths.append(str(path))
    merge(paths[:-1], str(tmp_path / "dm.json"), [], [])
    fresh = load_changes(paths[-1])
    return diff_traces(load_changes(paths[0]), fresh), diff_traces(
        load_changes(str(tmp_path / "dm.json")), fresh
    )


def test_a_rename_onto_itself_leaves_its_name(tmp_path: Path) -> None:
    """rename(app-Q, app-Q) does nothing: the name was counted removed, and a new lasting
    cron.d/app-Q beside a daemon's pid file renamed app-A onto app-B was "no change"; and that
    rename, one glob onto itself in a merge, was noise against identical runs."""
    cron = "/srv/app/etc/cron.d"

    def moved(a: int, b: int) -> FileEvent:
        return event(f"{cron}/app-{a}", "rename", 0, target=f"{cron}/app-{b}", syscall="rename")

    def pid_file(a: int, b: int) -> list[FileEvent]:
        return [event(f"{cron}/app-{a}"), moved(a, b)]

    runs = [pid_file(21000 + i, 31000 + i) for i in range(3)]
    single, merged = _diffs(tmp_path, runs, pid_file(41000, 51000))
    assert single.new_violations == merged.new_violations == [], (single, merged)
    evil = [*pid_file(41000, 51000), event(f"{cron}/app-61000"), moved(61000, 61000)]
    single, merged = _diffs(tmp_path, runs, evil)
    assert single.new_violations and merged.new_violations, (single, merged)


def test_what_a_directory_swapped_in_holds_stays(tmp_path: Path) -> None:
    """A tree staged in stage-N and swapped with cron.d (RENAME_EXCHANGE), the old tree then
    removed: what was written in stage-N is in cron.d, and three more jobs than the baseline
    left were "no change"."""

    def swap(n: int, jobs: int) -> list[FileEvent]:
        stage, cron = f"/srv/app/etc/stage-{n}", "/srv/app/etc/cron.d"
        events = [event(stage, "mkdir", 0, syscall="mkdir")]
        events += [event(f"{stage}/app-{n + i}") for i in range(jobs)]
        events.append(
            event(stage, "rename", 0, target=cron, syscall="renameat2")._replace(flags="RENAME_EXCHANGE")
        )
        return [*events, event(stage, "delete", 0, syscall="rmdir")]

    single, merged = _diffs(tmp_path, [swap(21000 + 1000 * i, 1) for i in range(3)], swap(61000, 4))
    assert single.new_violations and merged.new_violations, (single, merged)


def test_a_globs_most_is_the_most_of_every_family_it_stands_for(tmp_path: Path) -> None:
    """Each run removes two stale pid files of earlier runs and makes its own: the delete's
    family and the create's are one glob, and `most` was the delete family's (0): a run was
    taken to leave as many as its writes allow (each written 8 times: 22), and five more passed."""
    cron = "/srv/app/etc/cron.d"

    def run(n: int, kept: int) -> list[FileEvent]:
        stale = [event(f"{cron}/app-{n + 90 + i}", "delete", 0, syscall="unlink") for i in range(2)]
        return [
            *stale,
            *(event(f"{cron}/app-{n + i}") for i in range(kept) for _ in range(8)),
        ]  # written 8 times

    _single, merged = _diffs(tmp_path, [run(21000 + 1000 * i, 1) for i in range(3)], run(61000, 1))
    assert merged.new_violations == [], merged
    _single, merged = _diffs(tmp_path, [run(21000 + 1000 * i, 1) for i in range(3)], run(61000, 6))
    assert merged.new_violations, merged


def test_a_flood_of_allowed_names_leaves_a_key_of_violations_counted() -> None:
    """33,300 numbered files in /tmp (allowed) used up the bound on the names a trace keeps, and
    the key of cron.d's lock files after them was taken as one name that stays in the baseline
    too, which made and removed them all: a lasting cron entry was "no change"."""
    from rotrace.report.diff import changes_of, diff_traces

    flood = [event(f"/tmp/flood/f{i:06}") for i in range(33_300)]
    cron = "/srv/app/etc/cron.d"

    def locks(first: int) -> list[FileEvent]:
        names = [f"{cron}/app-{first + i}" for i in range(3)]
        made = [event(n)._replace(flags="O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC") for n in names]
        return [e for m in made for e in (m, event(m.path, "delete", 0, syscall="unlink"))]

    old = changes_of("/srv/app", classify(*flood, *locks(21000)))
    new = changes_of("/srv/app", classify(*flood, *locks(31000), event(f"{cron}/app-41000")))
    found = diff_traces(old, new).new_violations
    assert found and all(c.path.startswith("$CWD/etc/cron.d/app-") for c in found), found


def test_a_key_of_more_names_than_are_kept_is_counted_by_what_the_run_left(tmp_path: Path) -> None:
    """4,200 lock files cron.d/app-<n> made and removed in each run (past the 4,096 names a key
    keeps): the key was taken as one name that stays in both traces, so one more left behind was
    "no change" against one run, and identical runs were noise against a merge of three."""
    cron = "/srv/app/etc/cron.d"

    def run(first: int, left: int = 0) -> list[FileEvent]:
        made = [
            event(f"{cron}/app-{first + i}")._replace(flags="O_WRONLY|O_CREAT|O_EXCL") for i in range(4200)
        ]
        churn = [e for m in made for e in (m, event(m.path, "delete", 0, syscall="unlink"))]
        return [*churn, *(event(f"{cron}/app-{first + 9000 + i}") for i in range(left))]

    runs = [run(100000 + 10000 * i) for i in range(3)]
    single, merged = _diffs(tmp_path, runs, run(200000))
    assert single.appeared == merged.appeared == [], (single, merged)
    single, merged = _diffs(tmp_path, runs, run(200000, left=1))
    assert single.new_violations and merged.new_violations, (single, merged)


def test_two_atomic_saves_onto_one_file_leave_one_name(tmp_path: Path) -> None:
    """Django's FileBasedCache saves its key twice in a run, each time mkstemp in the cache
    directory then os.replace onto the key's file: two renames, one name left. Against a
    merged baseline, the run's two (draw, key) pairs counted as two names left where the
    baseline's runs left one: "+ rename tmpXXXXXXXX -> KEY.djcache", a new violation."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    key = "/srv/app/var/cache/6a56e6a0c4ba4c7df9666085587b9983.djcache"
    runs = []
    for draws in (("k3j_9x2a", "p0q_7zzb"), ("ab12cd34", "zz9_y8x7"), ("q1w2e3r4", "t5y6u7i8")):
        events = []
        for draw in draws:
            temporary = f"/srv/app/var/cache/tmp{draw}"
            events += [event(temporary), event(temporary, "rename", 0, target=key, syscall="rename")]
        runs.append(events)
    merged, paths = _merged_but_last(tmp_path, "app", runs)
    diff = diff_traces(load_changes(merged), load_changes(paths[-1]))
    assert diff.appeared == diff.disappeared == diff.became == [], diff
    runs[-1].append(event("/srv/app/var/cache/tmpn3w_f1le", "rename", 0, target=f"{key}.2", syscall="rename"))
    merged, paths = _merged_but_last(tmp_path, "app", runs)
    diff = diff_traces(load_changes(merged), load_changes(paths[-1]))
    (appeared,) = diff.appeared  # another file left: a new write
    assert appeared.op == "rename" and (appeared.target or "").endswith(".djcache.2"), diff


def test_a_place_in_a_directory_a_run_made_never_held_what_the_image_ships(tmp_path: Path) -> None:
    """MLflow's file store: a cold run made store/ and an experiment in it; a warm run, after
    an untraced cold run, wrote into that run's experiment (store/ID, which held files before
    it). Merged, the plan mounted store/ and said store/ID "held files before the run: an empty
    mount over it would hide them" (not mountable, exit 1): what a run found in a directory a
    run made, an earlier run left there, however deep; no image ships it."""
    from rotrace.events import DirState

    app = tmp_path / "app"
    (app / "store" / "835474096051758127").mkdir(parents=True)
    store, old, new = f"{app}/store", f"{app}/store/835474096051758127", f"{app}/store/111111111111111111"
    cold = (
        [event(store, "mkdir", 0, syscall="mkdir"), event(new, "mkdir", 0, syscall="mkdir"),
         event(f"{new}/meta.yaml")],
        {store.encode(): DirState.ABSENT, new.encode(): DirState.ABSENT},
    )  # fmt: skip
    warm = (
        [event(f"{old}/meta.yaml"), event(f"{old}/run1", "mkdir", 0, syscall="mkdir"),
         event(f"{old}/run1/m")],
        {store.encode(): DirState.CONTENT, old.encode(): DirState.CONTENT},
    )  # fmt: skip
    plan = _merged_plan(tmp_path, app, [cold, warm])
    assert plan.mounts == [store] and plan.blocked == [], (plan.mounts, plan.blocked)


def test_a_write_only_some_of_a_merged_baselines_runs_made_is_no_change_when_missing(tmp_path: Path) -> None:
    """A cold run fills a cache, the warm runs find it there: a run that does not fill it again
    is what the baseline's warm runs did, yet `diff` against their merge listed the cache's
    write as disappeared. Not made now, it is intermittent (said apart, no change); a write
    every run of the baseline made still disappears, as against a single run."""
    cache, log = event("/srv/app/cache/index.bin"), event("/srv/app/app.log")
    single, merged = _diffs(tmp_path, [[log, cache], [log]], [log])
    assert [c.path for c in single.disappeared] == ["$CWD/cache/index.bin"], single
    assert merged.disappeared == [] and merged.appeared == [], merged
    assert [(c.path, c.runs) for c in merged.intermittent] == [("$CWD/cache/index.bin", 0b01)], merged
    _, always = _diffs(tmp_path, [[log, cache], [log, cache]], [log])
    assert [c.path for c in always.disappeared] == ["$CWD/cache/index.bin"] and always.intermittent == []


def test_runs_rotrace_stopped_merge_to_a_run_rotrace_stopped(tmp_path: Path) -> None:
    """Servers recorded in Pods end on the SIGTERM rotrace passes on (exit 143, `stopped`). The
    merge dropped `stopped`: the merged run read as failed on its own, and a write refused here
    that the server carried on after got a mount in the merge's plan and none in each run's.
    A run that failed on its own still makes the merge's failure its own."""
    from rotrace.pipeline import Pipeline

    refused = event("/srv/app/ro/cache.txt", result=-13)  # EACCES, and the server ran on
    log = event("/tmp/server.log")

    def saved(name: str, code: int, stopped: str | None) -> str:
        found = {b"/srv/app/ro": DirState.CONTENT, b"/tmp": DirState.EMPTY}
        header = TraceHeader(["python3", "server.py"], "/srv/app", code, stopped=stopped, directories=found)
        (tmp_path / name).write_text(written_trace(header, classify(refused, log)))
        return str(tmp_path / name)

    def plan(path: str) -> tuple[list[str], list[str]]:
        header, verdicts = read_trace(path)
        pipeline = Pipeline.of(header)
        for v in verdicts:
            pipeline.add(v)
        made = pipeline.mount_plan(verdicts, header)
        return made.mounts, [b.point for b in made.blocked]

    runs = [saved("a.json", 143, "SIGTERM"), saved("b.json", 143, "SIGTERM")]
    merge(runs, str(tmp_path / "m.json"), [], [])
    header, _ = read_trace(str(tmp_path / "m.json"))
    assert header.stopped == "SIGTERM" and not header.failed_on_its_own
    assert [s.stopped for s in header.sources] == ["SIGTERM", "SIGTERM"]
    assert schema_errors(json.loads((tmp_path / "m.json").read_text())) == []  # docs/trace.schema.json
    assert plan(str(tmp_path / "m.json")) == plan(runs[0])
    merge([runs[0], saved("c.json", 1, None)], str(tmp_path / "m2.json"), [], [])
    mixed, _ = read_trace(str(tmp_path / "m2.json"))
    assert mixed.failed_on_its_own and mixed.exit_code == 1 and mixed.stopped is None


def test_a_setting_one_of_a_merged_baselines_runs_had_is_no_change(tmp_path: Path) -> None:
    """A CI matrix run as root and as a user, merged: the merge's environment is what both had,
    and a root run diffed against it said "The environment changed: + HOME=/root + uid=0". A
    value one of the runs had is no change; one none had is."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    def saved(name: str, home: str, uid: str) -> str:
        header = TraceHeader(["app"], "/srv/app", 0, environment={"HOME": home, "uid": uid, "LANG": "C"})
        (tmp_path / name).write_text(written_trace(header, classify(event("/srv/app/out.txt"))))
        return str(tmp_path / name)

    runs = [saved("root.json", "/root", "0"), saved("user.json", "/home/ci", "1000")]
    merge(runs, str(tmp_path / "m.json"), [], [])
    baseline = load_changes(str(tmp_path / "m.json"))
    assert diff_traces(baseline, load_changes(saved("again.json", "/root", "0"))).environment == {}
    other = diff_traces(baseline, load_changes(saved("other.json", "/home/x", "1000"))).environment
    assert other == {"HOME": (None, "/home/x")}, other


def test_a_refused_temporary_file_is_the_one_the_baseline_made_and_removed(tmp_path: Path) -> None:
    """mkstemp(prefix=".state-", suffix=".tmp") in state/, then os.replace onto state.json: the
    baseline made and removed its name (compared as `.state-*.tmp`); under --enforce the create
    was refused and made no name, and `diff` called `.state-3kdjx7kw.tmp` a new violation. It is
    the same write (the rename, not made now, disappears); a refused write of another name is
    new, and the same holds the other way round."""
    state, mkstemp = "/srv/app/state", "O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC"
    made = [
        event(f"{state}/.state-0jk59re2.tmp")._replace(flags=mkstemp),
        event(f"{state}/.state-0jk59re2.tmp", "rename", 0, target=f"{state}/state.json", syscall="rename"),
    ]
    refused = [event(f"{state}/.state-3kdjx7kw.tmp", result="EACCES")._replace(flags=mkstemp)]
    single, _ = _diffs(tmp_path, [made], refused)
    assert single.appeared == [] and single.new_violations == [], single
    assert [(c.op, c.path) for c in single.disappeared] == [("rename", "$CWD/state/.state-*.tmp")], single
    back, _ = _diffs(tmp_path, [refused], made)
    assert [(c.op, c.path) for c in back.appeared] == [("rename", "$CWD/state/.state-*.tmp")], back
    other, _ = _diffs(tmp_path, [made], [event(f"{state}/password.json", result="EACCES")])
    assert [(c.op, c.path) for c in other.appeared] == [("create", "$CWD/state/password.json")], other


def test_a_baseline_write_pairs_with_one_new_write_not_every_one_of_its_form(tmp_path: Path) -> None:
    """The baseline wrote out/checkpoint01; a run wrote checkpoint02 to checkpoint10: each new
    name paired with the one baseline name as its twin, and `diff` said "no change". One pairs;
    the others are new writes (shown once, as their form's glob)."""
    new = [event(f"/srv/app/out/checkpoint{i:02d}") for i in range(2, 11)]
    single, _ = _diffs(tmp_path, [[event("/srv/app/out/checkpoint01")]], new)
    assert [c.path for c in single.appeared] == ["$CWD/out/*"] and single.new_violations, single
    same, _ = _diffs(tmp_path, [[event("/srv/app/out/checkpoint01")]], new[:1])
    assert same.appeared == same.disappeared == [], same


def test_a_refused_temporary_write_hides_no_name_that_stays(tmp_path: Path) -> None:
    """The pairing of a refused temporary write with the other trace's made-and-removed form
    is for writes that made nothing: a name refused and then renamed onto (a cron job that
    stays), a baseline's refused create beside a new run's file that stays, and an O_TRUNC open
    of a file that was there (no O_EXCL: it did not fail for want of making a name) are each new."""
    cron, excl = "/srv/app/cron.d", "O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC"

    def made_and_removed(draw: str) -> list[FileEvent]:
        name = f"{cron}/job-{draw}"
        return [event(name)._replace(flags=excl), event(name, "delete", 0, syscall="unlink")]

    staged = event("/tmp/tmpq1w2e3r4")._replace(flags=excl)
    refused_then_renamed = [
        event(f"{cron}/job-k3j9x2a1", result="EMFILE")._replace(flags=excl),
        staged,
        event("/tmp/tmpq1w2e3r4", "rename", 0, target=f"{cron}/job-k3j9x2a1", syscall="rename"),
    ]
    onto, _ = _diffs(tmp_path, [made_and_removed("a8d7c6b5")], refused_then_renamed)
    assert onto.new_violations, onto
    left = [event(f"{cron}/job-p0q7zzb1")._replace(flags=excl)]
    refused = event(f"{cron}/job-settings", result="EMFILE")._replace(flags=excl)
    beside, _ = _diffs(tmp_path, [[refused]], left)
    assert beside.new_violations, beside
    truncated = [event(f"{cron}/job-settings", result="EACCES")._replace(flags="O_WRONLY|O_CREAT|O_TRUNC")]
    trunc, _ = _diffs(tmp_path, [made_and_removed("a8d7c6b5")], truncated)
    assert trunc.new_violations, trunc


def test_a_run_that_fails_is_newly_failed_against_a_baseline_rotrace_stopped(tmp_path: Path) -> None:
    """A server recorded until rotrace stopped it (SIGTERM passed on, exit 143): its ending was
    a failure to `diff`, so an upgrade that died at start on its own (exit 1) was no newly
    failed command (exit 0). A run rotrace stopped did not fail."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    def saved(name: str, code: int, stopped: str | None) -> str:
        header = TraceHeader(["server"], "/srv/app", code, stopped=stopped)
        (tmp_path / name).write_text(written_trace(header, classify(event("/tmp/server.log"))))
        return str(tmp_path / name)

    def newly_failed(old: str, new: str) -> bool:
        return diff_traces(load_changes(old), load_changes(new)).newly_failed

    stopped, died = saved("stopped.json", 143, "SIGTERM"), saved("died.json", 1, None)
    assert newly_failed(stopped, died)
    assert not newly_failed(stopped, saved("again.json", 143, "SIGTERM"))
    merge([stopped, saved("ok.json", 0, None)], str(tmp_path / "m.json"), [], [])
    assert newly_failed(str(tmp_path / "m.json"), died)


def test_a_merged_store_in_a_subdirectory_of_the_mount_is_seeded(tmp_path: Path) -> None:
    """A SQLite store in state/db/, made by the cold run and updated by the warm one, merged:
    the plan's persistent state/ was not seeded from the image (its claim started empty, and
    the count started again), where the store directly in state/ was, as the warm run's own
    plan seeded state/db. Data kept below the mount point is the mount's to keep."""
    app = fixed_name_dir("rotrace-store-", "/var/tmp")
    try:
        plans = []
        for sub in ("db", ""):
            store = app / "state" / sub if sub else app / "state"
            store.mkdir(parents=True, exist_ok=True)
            (store / "counter.sqlite").write_bytes(b"SQLite format 3\0" + bytes(84))  # the runs' output, left
            db = str(store / "counter.sqlite")
            made = [event(str(app / "state"), "mkdir", 0, syscall="mkdir")]
            if sub:
                made.append(event(str(store), "mkdir", 0, syscall="mkdir"))
            cold = [*made, event(db)._replace(flags="O_RDWR|O_CREAT|O_CLOEXEC")]
            warm = [event(db, "open")._replace(flags="O_RDWR|O_CREAT|O_CLOEXEC")]
            found = {os.fsencode(app): DirState.CONTENT}
            held = {os.fsencode(app / "state"): DirState.CONTENT, os.fsencode(store): DirState.CONTENT}
            runs = [(cold, {**found, os.fsencode(app / "state"): DirState.ABSENT}), (warm, {**found, **held})]
            plan = _merged_plan(tmp_path, app, runs)
            plans.append((plan.persistent, plan.seeded))
            shutil.rmtree(app / "state")
        state = str(app / "state")
        assert plans == [([state], [state])] * 2, plans
    finally:
        shutil.rmtree(app)


def test_only_a_refusal_after_the_lookup_says_a_name_was_not_made(tmp_path: Path) -> None:
    """A name refused where it would have made it was not there only where the kernel looked it
    up first (EACCES, EPERM, EROFS, EDQUOT, ENOSPC): a kept mkstemp file, then an O_EXCL create
    of its name refused for want of an fd (EMFILE, before the lookup), or a create that never
    returned (no result), hid the kept file as the baseline's temporary; and a kept draw that
    keeps its own key (`job-kdpqe219`) is no twin of names made and removed again."""
    cron, excl = "/srv/app/cron.d", "O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC"
    baseline = [event(f"{cron}/job-a8d7c6b5")._replace(flags=excl),
                event(f"{cron}/job-a8d7c6b5", "delete", 0, syscall="unlink")]  # fmt: skip
    kept = event(f"{cron}/job-3kdjx7kw")._replace(flags=excl)
    for later in (
        event(f"{cron}/job-3kdjx7kw", result="EMFILE")._replace(flags=excl),
        event(f"{cron}/job-3kdjx7kw")._replace(flags=excl, result=None),
    ):
        diff, _ = _diffs(tmp_path, [baseline], [kept, later])
        assert diff.new_violations, (later, diff)
    never_returned = [event(f"{cron}/job-3kdjx7kw")._replace(flags=excl, result=None)]
    assert _diffs(tmp_path, [baseline], never_returned)[0].new_violations
    drawn, _ = _diffs(tmp_path, [baseline], [event(f"{cron}/job-kdpqe219")._replace(flags=excl)])
    assert drawn.new_violations, drawn


def test_temporary_names_made_and_renamed_away_again_and_again_are_no_change(tmp_path: Path) -> None:
    """uv writes each installer file as `.tmpXXXXXX` (O_EXCL), renames it into place and removes
    the name again (ENOENT), once per file: merged, the one glob's rename came before its create
    (one order for all the runs), so the baseline's glob was never a temporary name, and a run
    identical but for its draws had 4 new violations. A lasting new name is still one."""
    info = "/srv/app/site/pkg-1.0.dist-info"

    def install(draws: tuple[str, str]) -> list[FileEvent]:
        events = []
        for draw, final in zip(draws, ("REQUESTED", "INSTALLER"), strict=True):
            tmp = f"{info}/.tmp{draw}"
            events += [
                event(tmp)._replace(flags="O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC"),
                event(tmp, "rename", 0, target=f"{info}/{final}", syscall="rename"),
                event(tmp, "delete", "ENOENT", syscall="unlink"),
            ]
        return events

    runs = [install(("1EbCXy", "6iN3f2")), install(("9fvO17", "YhUczE"))]
    single, merged = _diffs(tmp_path, runs, install(("2WH8Lx", "6b1I5p")))
    assert single.new_violations == merged.new_violations == [], (single, merged)
    left = [*install(("2WH8Lx", "6b1I5p")), event(f"{info}/.tmpQq7Rr8")]
    single, merged = _diffs(tmp_path, runs, left)
    assert single.new_violations and merged.new_violations, (single, merged)


def test_a_new_write_below_a_merged_glob_names_what_was_written(tmp_path: Path) -> None:
    """A new run's violation in a directory a merged baseline's glob stands for was shown as the
    glob alone (`tmp[a-z0-9_]...[a-z0-9_]/deep/evil.sh`): the reviewer could not tell which
    directory was written. The change keeps one name the run wrote, for the report, the
    summary and the document."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    paths = []
    for run, draw in enumerate(("k3uu2kjk", "x902h4kk")):
        header = TraceHeader(["python3", "app.py"], "/srv/app", 0)
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(header, classify(event(f"/var/lib/app/tmp{draw}/f"))))
        paths.append(str(path))
    merge(paths, str(tmp_path / "m.json"), [], [])
    header = TraceHeader(["python3", "app.py"], "/srv/app", 0)
    new = tmp_path / "new.json"
    new.write_text(written_trace(header, classify(event("/var/lib/app/tmpzzzzzzzz/deep/evil.sh"))))
    diff = diff_traces(load_changes(str(tmp_path / "m.json")), load_changes(str(new)))
    (change,) = diff.new_violations
    assert change.path != "/var/lib/app/tmpzzzzzzzz/deep/evil.sh"  # (a glob of the baseline's)
    assert change.example == "/var/lib/app/tmpzzzzzzzz/deep/evil.sh", change


def test_a_merge_names_twenty_families_and_counts_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tox run's thousand `.pyc.NNN` families printed a thousand lines into a CI log: twenty,
    then how many more (the merged trace lists them all)."""
    from rotrace.merge.combine import merge_command

    paths = []
    for run, draw in enumerate(("k3uu2kjk", "x902h4kk")):
        events = [event(f"/srv/app/c{i:02}/tmp{draw}") for i in range(25)]
        path = tmp_path / f"t{run}.json"
        path.write_text(written_trace(TraceHeader(["app"], "/srv/app", 0), classify(*events)))
        paths.append(str(path))
    assert merge_command(paths, str(tmp_path / "m.json"), [], None) == 0
    err = capsys.readouterr().err
    assert len(json.loads((tmp_path / "m.json").read_text())["generalised"]) == 25
    assert len([line for line in err.splitlines() if line.startswith("rotrace: generalised ")]) == 20, err
    assert "rotrace: ... and 5 more families of per-run names generalised" in err, err


def test_a_file_named_after_its_pod_is_no_new_write_of_a_new_replica(tmp_path: Path) -> None:
    """A replica writes state/<its Pod's name>.json (the host name): a Deployment's Pod names are
    drawn per Pod (`web-7c9d4b8f6c-q8x2m`), and each recording carries its own in its `pod`
    label. The merged baseline of two replicas against a third said "1 new violation". Compared
    as `$POD`, it is the same write; a StatefulSet's `db-2` or a bare Pod's name is a name as
    any other, and a file named after one is a new write."""
    from rotrace.pipeline import load_changes
    from rotrace.report.diff import diff_traces

    def recorded(pod: str, name: str) -> str:
        header = TraceHeader(["python3", "web.py"], "/srv/app", 0, labels={"pod": pod, "container": "web"})
        path = tmp_path / name
        path.write_text(written_trace(header, classify(event(f"/srv/app/state/{pod}.json"))))
        return str(path)

    replicas = [recorded("web-7c9d4b8f6c-q8x2m", "a.json"), recorded("web-7c9d4b8f6c-t5n7p", "b.json")]
    merge(replicas, str(tmp_path / "m.json"), [], [])
    baseline = load_changes(str(tmp_path / "m.json"))
    third = diff_traces(baseline, load_changes(recorded("web-7c9d4b8f6c-z9w4k", "c.json")))
    assert third.appeared == third.disappeared == [], third
    for pod in ("db-2", "web"):  # no draw: their names are each one name
        other = diff_traces(baseline, load_changes(recorded(pod, f"{pod}.json")))
        assert [c.path for c in other.appeared] == [f"$CWD/state/{pod}.json"], other
