"""The report's second pass made while the command runs (Pipeline.place_early): whatever the
run, the report, the mount plan and every export are byte for byte those of the second pass
made after the run over the same verdicts (the reference: `Pipeline.group`), which is also
what a run falls back to when the end of the run answers otherwise than the run did."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from rich.console import Console

from rotrace.export.formats import FORMATS
from rotrace.pipeline import Pipeline, render
from rotrace.policy import mounts
from rotrace.policy.mounts import MountPlan
from rotrace.policy.verdict import Verdict
from rotrace.record import TraceHeader
from rotrace.report.aggregate import Aggregate
from rotrace.report.document import report_document
from rotrace.report.render import render as render_text
from rotrace.report.view import View
from rotrace.tracefile import read_trace
from tests.support.places import srv_dir
from tests.support.tracing import PY
from tests.support.uvtools import installed_uv

ROTRACE = [PY, "-m", "rotrace"]

# Writes of most kinds the plan tells apart: directories made as Rust's create_dir_all makes
# them (the whole path first: ENOENT, then the parents), files in them, a chmod of a directory,
# data opened for update and a journal beside it (persistent), a venv made in the run, a
# directory made and removed, a write into a directory that held files, a failed write, a
# temporary file in /tmp.
TREE = textwrap.dedent(
    """
    import os, sys, tempfile
    base = sys.argv[1]

    def create_dir_all(path):
        try:
            os.mkdir(path)
        except FileNotFoundError:
            create_dir_all(os.path.dirname(path))
            os.mkdir(path)
        except FileExistsError:
            pass

    create_dir_all(f"{base}/out/a/b/c")
    for i in range(150):
        with open(f"{base}/out/a/b/c/f{i}.txt", "w") as f:
            f.write("x")
    os.chmod(f"{base}/out/a", 0o755)
    with open(f"{base}/data.db", "r+b") as f:
        f.write(b"y")
    open(f"{base}/data.db-journal", "w").close()
    create_dir_all(f"{base}/env/lib")
    open(f"{base}/env/pyvenv.cfg", "w").close()
    for i in range(20):
        open(f"{base}/env/lib/m{i}.py", "w").close()
    os.mkdir(f"{base}/gone")
    open(f"{base}/gone/x", "w").close()
    os.unlink(f"{base}/gone/x")
    os.rmdir(f"{base}/gone")
    open(f"{base}/held/new", "w").close()
    try:
        open(f"{base}/missing/x", "w")
    except FileNotFoundError:
        pass
    with tempfile.NamedTemporaryFile(dir="/tmp"):
        pass
    for i in range(100):
        open(f"{base}/seen{i}", "w").close()
    """
)

# A directory built under a temporary name and renamed into place (pytest's cache): the writes
# placed before the rename were placed under the temporary name, so the end places them again.
MOVED = textwrap.dedent(
    """
    import os, sys
    base = sys.argv[1]
    os.mkdir(f"{base}/cache-tmp1234")
    for i in range(80):
        open(f"{base}/cache-tmp1234/v{i}", "w").close()
    os.rename(f"{base}/cache-tmp1234", f"{base}/.cache_final")
    for i in range(80):
        open(f"{base}/.cache_final/w{i}", "w").close()
    """
)

# Files saved into a directory that was there and empty (`out`), as ansible's copy module saves
# them: made in a staging directory, renamed into place, then chmod and chown. Early, with no
# directory's state known yet, `out` looked like one holding data (a volume seeded from it).
SAVED = textwrap.dedent(
    """
    import os, sys
    base = sys.argv[1]
    for name in ("copied.txt", "templated.txt"):
        stage = f"{base}/stage-{name}"
        os.mkdir(stage)
        with open(f"{stage}/.source.txt", "w") as f:
            f.write("x")
        os.rename(f"{stage}/.source.txt", f"{base}/out/{name}")
        os.chmod(f"{base}/out/{name}", 0o644)
        os.chown(f"{base}/out/{name}", os.getuid(), os.getgid())
        os.rmdir(stage)
    for i in range(100):  # placed before the run ends, `out`'s among them
        open(f"{base}/seen{i}", "w").close()
    """
)

# A known writer's directories made on its way, in a HOME that is neither /root nor /home/NAME
# (Matplotlib's Path.mkdir(parents=True): ENOENT for the whole path, then ~/.config, then its
# own): read by the run's HOME, those made on the way are its writes too, its setting avoids.
HOME = textwrap.dedent(
    """
    import os, pathlib
    home = pathlib.Path(os.environ["HOME"])
    for place in (".config/matplotlib", ".cache/matplotlib"):
        (home / place).mkdir(parents=True, exist_ok=True)
    (home / ".cache/matplotlib/fontlist-v390.json").write_text("{}")
    """
)

# Whether the placements made while the command ran stand at its end (else they are made again).
STANDS = {"tree": True, "moved": False, "uv venv": True, "saved": False, "home": False}


def _command(name: str, work: Path) -> list[str]:
    if name == "uv venv":  # a real writer's own order of writes: uv's venv, made in Rust
        uv = installed_uv()
        if uv is None:
            pytest.skip("uv is not installed")
        return [uv, "venv", "--quiet", "--python", sys.executable, str(work / ".venv")]
    return [PY, "-c", {"tree": TREE, "moved": MOVED, "saved": SAVED, "home": HOME}[name], str(work)]


def _traced(
    request: pytest.FixtureRequest, tmp_path: Path, name: str, *options: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`rotrace run` of the scenario in a fresh working directory: its output, and its trace."""
    work = tmp_path / "app"
    work.mkdir()
    (work / "data.db").write_bytes(b"x")
    (work / "held").mkdir()
    (work / "held" / "old").write_text("old")
    if name == "saved":
        (work / "out").mkdir()
    trace = tmp_path / "trace.json"
    home: dict[str, str] = {}
    if name == "home":  # outside the default allowlist and the scratch places, as a user's home is
        stack = contextlib.ExitStack()
        request.addfinalizer(stack.close)
        home = {"HOME": str(stack.enter_context(srv_dir("rotrace-home-")))}
    proc = subprocess.run(
        [*ROTRACE, "run", "--json", str(trace), *options, "--", *_command(name, work)],
        cwd=work, env=dict(os.environ, UV_CACHE_DIR=str(tmp_path / "uv-cache"), UV_OFFLINE="1", **home),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return proc, trace


def _pipeline(header: TraceHeader, verdicts: list[Verdict], early: bool, keep_all: bool) -> Pipeline:
    """The verdicts added as `run`'s report process adds them (placed early, the directories'
    states known at the end, its environment from the start), or as the commands over a saved
    trace do."""
    if not early:
        pipeline = Pipeline.of(header)
        for verdict in verdicts:
            pipeline.add(verdict)
        return pipeline
    pipeline = Pipeline(header.cwd)
    pipeline.planner.know_environment(header.environment)
    pipeline.place_early(keep_all=keep_all, enforced=False)
    for verdict in verdicts:
        pipeline.add(verdict)
    pipeline.planner.know_directories(header.directories)
    return pipeline


def _shown(
    header: TraceHeader, verdicts: list[Verdict], agg: Aggregate, plan: MountPlan, keep_all: bool
) -> dict[str, str]:
    """What a run shows of its second pass: the report as text and as a document, the plan,
    and every export."""
    console = Console(file=io.StringIO(), width=200, no_color=True, highlight=False)
    render_text(agg, header, plan, console, keep_all)
    shown = {"text": console.file.getvalue(), "plan": repr(plan)}  # type: ignore[attr-defined]
    shown["document"] = json.dumps(report_document(header, agg, plan, 1), indent=2)
    for fmt in FORMATS:
        rendered = render(header, plan, fmt, verdicts=verdicts)
        shown[fmt] = rendered.text + "\n".join(rendered.notes)
    return shown


@pytest.mark.parametrize("keep_all", [False, True], ids=["report", "verbose"])
@pytest.mark.parametrize("name", list(STANDS))
def test_the_second_pass_placed_early_is_the_one_placed_after(
    request: pytest.FixtureRequest, tmp_path: Path, name: str, keep_all: bool
) -> None:
    """Over a real run's verdicts: placed while they come (64 behind the last one learnt), and
    checked at the end, the grouping and the plan are those of the pass made after the run
    (the pure reference), when they stand and when the run's end makes them again."""
    _, trace = _traced(request, tmp_path, name)
    header, stored = read_trace(str(trace))
    verdicts = list(stored)
    reference = _pipeline(header, verdicts, early=False, keep_all=keep_all)
    expected = _shown(header, verdicts, *reference.second_pass(header, verdicts, keep_all), keep_all)
    assert not reference.placed_early
    early = _pipeline(header, verdicts, early=True, keep_all=keep_all)
    shown = _shown(header, verdicts, *early.second_pass(header, verdicts, keep_all), keep_all)
    assert early.placed_early == STANDS[name]
    for what, text in expected.items():
        assert shown[what] == text, what
    assert expected["plan"] != repr(MountPlan())  # a pass with something to place


@pytest.mark.parametrize("fmt", ["report", *FORMATS])
@pytest.mark.parametrize("name", list(STANDS))
def test_a_run_shows_what_its_trace_shows(
    request: pytest.FixtureRequest, tmp_path: Path, name: str, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rotrace run` itself, whose second pass went on while the command ran: its report (-v,
    every write) and its export are, byte for byte, those the same verdicts give after the run
    in a pipeline that placed nothing early."""
    monkeypatch.delenv("COLUMNS", raising=False)
    options = ["-v"] if fmt == "report" else ["--emit", fmt]
    proc, trace = _traced(request, tmp_path, name, *options)
    header, stored = read_trace(str(trace))
    verdicts = list(stored)
    reference = _pipeline(header, verdicts, early=False, keep_all=fmt == "report")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = reference.conclude(
            header, verdicts, View(verbose=fmt == "report"), None if fmt == "report" else fmt
        )
    assert not reference.placed_early
    assert (proc.stdout, proc.stderr, proc.returncode) == (out.getvalue(), err.getvalue(), status)
    if fmt == "report":  # and `rotrace report` of the trace, as a user reads it again
        again = subprocess.run(
            [*ROTRACE, "report", "-v", str(trace)], capture_output=True, text=True, timeout=60
        )
        assert (again.stderr, again.returncode) == (proc.stderr, proc.returncode)


def test_past_what_it_notes_the_second_pass_is_made_after_the_run(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the answers an early placing notes (memory stays flat), it stops, and the end
    places every write again: the same report, plan and exports."""
    monkeypatch.setattr(mounts, "_EARLY_LIMIT", 4)
    _, trace = _traced(request, tmp_path, "tree")
    header, stored = read_trace(str(trace))
    verdicts = list(stored)
    reference = _pipeline(header, verdicts, early=False, keep_all=False)
    expected = _shown(header, verdicts, *reference.second_pass(header, verdicts, False), False)
    early = _pipeline(header, verdicts, early=True, keep_all=False)
    assert not early.planner.placing_early  # it stopped on the way
    shown = _shown(header, verdicts, *early.second_pass(header, verdicts, False), False)
    assert not early.placed_early and shown == expected
