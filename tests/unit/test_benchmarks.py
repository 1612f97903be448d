"""The benchmark's own logic, without tracing: its options, the arithmetic and layout of its
tables, and how it finds out that an older rotrace cannot run the report's passes."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from benchmarks import attach, checks, targets, workloads
from benchmarks.__main__ import parse_args
from benchmarks.harness import ROOT, Sample, console_script, has_module, table_lines, variants
from benchmarks.targets import Measured
from benchmarks.workloads import Workload


def _medians(**variants: float) -> dict[str, Sample]:
    """Samples of those medians (three runs each, the median in the middle)."""
    return {key: Sample(seconds=[m * 2, m, m / 2]) for key, m in variants.items()}


def test_the_options_default_to_every_workload_and_no_check() -> None:
    args = parse_args([])
    assert args.rounds == 5
    assert args.only == {"W1", "W2", "W3", "W4", "F", "A"}
    assert args.before is None
    assert not (args.cpu or args.phases or args.report or args.loop or args.memory)
    assert not (args.syscalls or args.per_write)


def test_only_takes_a_list_or_none_for_the_checks_alone() -> None:
    assert parse_args(["--only", "W2,F"]).only == {"W2", "F"}
    assert parse_args(["--only", "NONE", "--loop"]).only == set()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--only", "W2,w5"], "no workload 'w5' (there are W1,W2,W3,W4,F,A)"),
        (["--rounds", "0"], "'0' is not a number of rounds (1 or more)"),
        (["--rounds", "x"], "'x' is not a number of rounds (1 or more)"),
    ],
)
def test_a_bad_option_is_one_line_and_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(message)


BPF = "strace --seccomp-bpf"


def _everything(rotraces: list[str]) -> Measured:
    """A run that measured every target, for each of `rotraces` (the before one 10% slower)."""
    slower = {key: 1.1 if key.endswith("(before)") else 1.0 for key in rotraces}
    workloads = {
        name: _medians(untraced=0.1, **{BPF: 0.4}, **{"rotrace" + mode + key[7:]: 0.3 * slower[key]
                                                     for key in rotraces for mode in ("", " --all-opens")})
        for name in ("W1", "W2", "W3", "W4")
    }  # fmt: skip
    return Measured(
        rotraces,
        results=workloads,
        attach={
            key: attach.Served(seconds=[wall], worker_cpu=[wall / 4], tracer_cpu=[wall / 4])
            for key, wall in {
                "untraced": 0.5, "strace -f -p": 1.4,
                **{f"rotrace run -p{key[7:]}": 1.5 * slower[key] for key in rotraces},
                **{f"rotrace run{key[7:]}": 0.6 for key in rotraces},
            }.items()
        },
        startup={key: (0.059 * slower[key], 0.009) for key in rotraces},
        memory={key: (24 * 1024, 27 * 1024) for key in rotraces},
        phases={"W2": {BPF: (5.0, 300.0, 1.0)} | {key: (40.0, 300.0, 12.0) for key in rotraces}},
        syscalls={"W2": {key: {"all": 11.2, "placement": 5.6 * slower[key]} for key in rotraces}},
        cpu={name: {BPF: 50.0} | {key: 40.0 * slower[key] for key in rotraces} for name in ("W2", "W4")},
    )  # fmt: skip


def test_every_target_is_a_row_with_what_was_measured_its_ratio_and_whether_it_was_met() -> None:
    assert targets.lines(_everything(["rotrace"])) == [
        "",
        "Targets (ratio: to strace --seccomp-bpf, or to the target's own bound)",
        "| target | rotrace | measured | ratio | met |",
        "|---|---|---:|---:|---|",
        *(
            f"| {w} ≤ {most} strace --seccomp-bpf | rotrace | 0.300 s vs 0.400 s | 0.75× | yes |"
            for w, most in (
                ("W2 `rotrace`", "1.0×"),
                ("W4 `rotrace`", "1.0×"),
                ("W3 `rotrace --all-opens`", "1.2×"),
                ("W1 `rotrace`", "1.5×"),
            )
        ),
        "| memory flat in events: peak RSS at 10^6 events ≤ 1.25× at 10^4 | rotrace | 24 MiB → 27 MiB "
        "| 1.12× | yes |",
        "| `rotrace run -q -- /bin/true` ≤ 40 ms over `python -c pass` (same venv's python) | rotrace "
        "| 50 ms over (59 ms vs 9 ms) | 1.25× | no |",
        "| W2 work after the command (JSON, plan, report) ≤ 10 ms | rotrace | 12 ms | 1.20× | no |",
        "| W2 placement ≤ 1 tracer system call per write (all but the ptrace core, tracee memory, "
        "report pipe and runtime) | rotrace | 5.60 per write (11.20 in all) | 5.60× | no |",
        *(
            f"| {w} CPU per write < strace --seccomp-bpf's (rotrace's two processes) | rotrace "
            "| 40 µs vs 50 µs | 0.80× | yes |"
            for w in ("W2", "W4")
        ),
        "| attach: `rotrace run -p` at the filtered cost (the server started under `rotrace run`) | rotrace "
        "| CPU (worker + tracer) 0.75 s vs 0.30 s filtered (0.25 s untraced, 0.70 s strace -f -p); "
        "wall 1.500 s vs 0.600 s | 2.50× "
        f"| {targets.ATTACH_WHY} |",
    ]


def test_with_before_every_target_has_a_row_for_each_rotrace() -> None:
    rows = targets.rows(_everything(["rotrace", "rotrace (before)"]))
    assert [r[1] for r in rows] == ["rotrace", "rotrace (before)"] * 11
    for mine, before in zip(rows[::2], rows[1::2], strict=True):
        assert mine[0] == before[0]  # the same target
    by_target = {r[0]: r for r in rows if r[1] == "rotrace (before)"}
    assert by_target["W2 `rotrace` ≤ 1.0× strace --seccomp-bpf"][2:] == ("0.330 s vs 0.400 s", "0.82×", "yes")
    startup = next(r for t, r in by_target.items() if t.startswith("`rotrace run -q"))
    assert startup[2:] == ("56 ms over (65 ms vs 9 ms)", "1.40×", "no")
    attached = next(r for t, r in by_target.items() if t.startswith("attach"))
    assert attached[2].startswith("CPU (worker + tracer) 0.83 s vs 0.30 s filtered")


def test_a_target_not_measured_says_how_to_measure_it() -> None:
    """Only W2 ran, with --syscalls: every other target says what to add, and no ratio or verdict."""
    m = _everything(["rotrace"])
    m.results = {"W2": m.results["W2"]}
    m.startup = m.memory = m.phases = m.cpu = m.attach = None
    assert [(r[0].split(" ")[0], r[2:]) for r in targets.rows(m) if r[1] == ""] == [
        ("W4", ("not measured: add W4 to --only", "", "")),
        ("W3", ("not measured: add W3 to --only", "", "")),
        ("W1", ("not measured: add W1 to --only", "", "")),
        ("memory", ("not measured: add --memory", "", "")),
        ("`rotrace", ("not measured: add F to --only", "", "")),
        ("W2", ("not measured: add --phases", "", "")),
        ("W2", ("not measured: add --per-write", "", "")),
        ("W4", ("not measured: add W4 to --only and add --per-write", "", "")),
        ("attach:", ("not measured: add A to --only", "", "")),
    ]
    measured = [r[0] for r in targets.rows(m) if r[1] == "rotrace"]
    assert measured == ["W2 `rotrace` ≤ 1.0× strace --seccomp-bpf", targets.placement_rows(m)[0][0]]


def test_the_attach_row_is_met_only_at_the_filtered_cost_in_cpu() -> None:
    m = _everything(["rotrace"])
    assert m.attach is not None  # filtered: 0.15 + 0.15 s
    m.attach["rotrace run -p"] = attach.Served(seconds=[3.0], worker_cpu=[0.15], tracer_cpu=[0.15])
    assert targets.attach_rows(m)[0][3:] == ("1.00×", "yes")  # slower on the clock only
    m.attach["rotrace run -p"] = attach.Served(seconds=[0.6], worker_cpu=[0.15], tracer_cpu=[0.16])
    assert targets.attach_rows(m)[0][3:] == ("1.03×", targets.ATTACH_WHY)  # the tracer's CPU counts


def test_the_tracers_syscalls_are_counted_in_its_loop_by_kind() -> None:
    """Only between the first and the last wait4: Python's start-up and the report are not the
    loop's; placement is what is neither the ptrace core, memory reads, the report's pipe nor
    the Python runtime's own (here poll on mountinfo and readlink of an fd)."""
    output = "\n".join([
        'openat(AT_FDCWD, "/usr/lib/python3.11/os.py", O_RDONLY) = 3',
        "wait4(-1, [...], __WALL, NULL) = 12",
        "ptrace(PTRACE_GET_SYSCALL_INFO, 12, 80, {...}) = 84",
        'pread64(5, "/tmp/x"..., 256, 1234) = 256',
        "poll([{fd=4, events=POLLPRI}], 2, 0) = 0 (Timeout)",
        'readlink("/proc/12/fd/3", "/tmp/x", 4096) = 6',
        "mmap(NULL, 262144, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000",
        "write(7, ..., 100) = 100",
        "--- SIGCHLD {si_signo=SIGCHLD} ---",
        "wait4(-1, [...], __WALL, NULL) = 12",
        'openat(AT_FDCWD, "/tmp/t.json", O_WRONLY|O_CREAT) = 3',
    ])  # fmt: skip
    assert checks.count_syscalls(output) == {
        "ptrace core": 3, "memory": 1, "to the report": 1, "runtime": 1, "placement": 2,
    }  # fmt: skip


def test_a_workload_table_has_ratios_rss_events_and_the_retried_runs() -> None:
    samples = {
        "untraced": Sample(seconds=[0.2, 0.1, 0.3]),
        "strace --seccomp-bpf": Sample(seconds=[0.4]),
        "rotrace": Sample(seconds=[0.8], rss_kb=20 * 1024, events=4400, panics=["uv", "uv"]),
    }
    assert table_lines("W2 title", samples) == [
        "",
        "W2 title",
        "| variant | median s | × untraced | × strace --seccomp-bpf | rotrace peak RSS | events |",
        "|---|---:|---:|---:|---:|---:|",
        "| untraced | 0.200 | 1.00 | 0.50 |  |  |",
        "| strace --seccomp-bpf | 0.400 | 2.00 | 1.00 |  |  |",
        "| rotrace | 0.800 | 4.00 | 2.00 | 20 MiB | 4400 |",
        "",
        "Under rotrace, uv panicked in tokio's pidfd reaper 2 times (runs repeated).",
    ]


def test_a_run_splits_into_start_up_command_and_after() -> None:
    # launched at 1 s, the command from 1.2 s to 1.7 s, exited at 2 s (ns clocks).
    assert checks.split_phases(2_000_000_000, 1.0, 1_200_000_000, 1_700_000_000) == pytest.approx(
        (200.0, 500.0, 300.0)
    )


def test_before_adds_its_two_rotraces_after_this_checkouts(tmp_path: Path) -> None:
    w = Workload("W2", "t", ["uv", "sync"], tmp_path, {})
    runs = variants(w, tmp_path / "t.json", "/old/venv/bin/python")
    assert list(runs) == [
        "untraced", "strace", "strace --seccomp-bpf", "rotrace", "rotrace --all-opens",
        "rotrace (before)", "rotrace --all-opens (before)",
    ]  # fmt: skip
    assert runs["rotrace"][0] == console_script(sys.executable)
    assert runs["rotrace --all-opens (before)"][:2] == ["/old/venv/bin/rotrace", "run"]
    assert runs["rotrace (before)"][-3:] == ["--", "uv", "sync"]


def test_a_python_is_asked_whether_it_has_the_pipeline() -> None:
    assert has_module(sys.executable, "rotrace.pipeline")
    assert not has_module(sys.executable, "rotrace.no_such_module")
    assert not has_module(sys.executable, "no_such_package.module")


def test_a_rotrace_without_the_pipeline_reports_n_a(tmp_path: Path) -> None:
    """A Python that cannot import rotrace.pipeline (as a rotrace older than it) gets n/a, not a
    traceback: here a Python that sees no site-packages, so no rotrace at all."""
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} -I -S "$@"\n')
    python.chmod(0o755)
    assert checks.report_passes(str(python), tmp_path / "unread.json", 1) == "n/a"


def test_the_benchmarks_name_their_targets_not_issue_numbers() -> None:
    for path in (ROOT / "benchmarks").glob("*.py"):
        assert not re.search(r"\bissue\s*#?\d", path.read_text(), re.IGNORECASE), path


def test_every_workload_has_a_name_the_options_accept() -> None:
    assert set(workloads.NAMES) == parse_args([]).only


@pytest.mark.parametrize(
    ("pin", "cached"),
    [
        ("markdown-it-py==3.0.0", True),  # markdown_it_py-3.0.0-py3-none-any.whl
        ("Typing.Extensions==4.12.2", True),
        ("gunicorn==23.0.0", True),
        ("gunicorn==22.0.0", False),
        ("markdown==3.0.0", False),  # a prefix of another name is not that name
    ],
)
def test_a_pinned_wheel_is_found_in_the_cache_by_its_normalised_name(
    tmp_path: Path, pin: str, cached: bool
) -> None:
    for name in ("markdown_it_py-3.0.0-py3-none-any.whl", "typing_extensions-4.12.2-py3-none-any.whl",
                 "gunicorn-23.0.0-py3-none-any.whl"):  # fmt: skip
        (tmp_path / name).touch()
    assert workloads.cached_wheel(tmp_path, pin) is cached


def test_attach_times_untraced_strace_attached_and_started_under_rotrace() -> None:
    runs = attach.variants("/old/venv/bin/python")
    assert runs == {
        "untraced": ("untraced", None),
        "strace -f -p": ("strace", None),
        "rotrace run -p": ("attach", sys.executable),
        "rotrace run": ("under", sys.executable),
        "rotrace run -p (before)": ("attach", "/old/venv/bin/python"),
        "rotrace run (before)": ("under", "/old/venv/bin/python"),
    }


def test_the_attach_table_is_against_untraced_strace_and_the_filtered_run() -> None:
    walls = {"untraced": 0.5, "strace -f -p": 1.0, "rotrace run -p": 1.25, "rotrace run": 0.625}
    samples = {
        k: attach.Served(
            seconds=[m * 2, m, m / 2], worker_cpu=[m / 2, m / 4, m], tracer_cpu=[0.0, m / 4, m / 8]
        )
        for k, m in walls.items()
    }
    samples["rotrace run -p"].events = 747
    samples["rotrace run -p"].resignalled = 1
    assert attach.table_lines(300, samples)[2:] == [
        "| variant | median s | × untraced | × strace -f -p | × filtered | worker CPU s | tracer CPU s "
        "| CPU × filtered | events |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        "| untraced | 0.500 | 1.00 | 0.50 | 0.80 | 0.25 | 0.06 | 0.80 |  |",
        "| strace -f -p | 1.000 | 2.00 | 1.00 | 1.60 | 0.50 | 0.12 | 1.60 |  |",
        "| rotrace run -p | 1.250 | 2.50 | 1.25 | 2.00 | 0.62 | 0.16 | 2.00 | 747 |",
        "| rotrace run | 0.625 | 1.25 | 0.62 | 1.00 | 0.31 | 0.08 | 1.00 |  |",
        "",
        "rotrace run -p did not let the worker go on the first SIGINT in 1 of 3 runs (a later SIGINT did).",
    ]


def test_a_process_counts_as_traced_once_every_thread_has_a_tracer(tmp_path: Path) -> None:
    """A real process: not traced on its own; traced under strace (its child, `sleep`)."""
    err = tmp_path / "strace.err"
    alone = subprocess.Popen(["sleep", "30"])
    with err.open("w") as f:
        under = subprocess.Popen(["strace", "-qq", "-o", "/dev/null", "sleep", "30"], stderr=f)
    sleeps: list[psutil.Process] = []
    try:
        assert not attach.traced(alone.pid)
        # strace's command, not the short-lived children it probes ptrace with first
        assert _eventually(lambda: under.poll() is not None or bool(_sleeping(under.pid)))
        assert under.poll() is None, err.read_text()
        sleeps = _sleeping(under.pid)
        (sleep,) = sleeps
        assert _eventually(lambda: attach.traced(sleep.pid))
    finally:
        for p in (alone, under):
            p.kill()
            p.wait()
        for orphan in sleeps:  # strace killed, its tracee runs on
            with contextlib.suppress(psutil.Error):
                orphan.kill()
    assert not attach.traced(alone.pid)  # gone: not traced


def _sleeping(pid: int) -> list[psutil.Process]:
    """The children of pid running `sleep`."""
    found = []
    for child in psutil.Process(pid).children():
        with contextlib.suppress(psutil.Error):
            if child.name() == "sleep":
                found.append(child)
    return found


def _eventually(check: Callable[[], bool]) -> bool:
    """Whether check holds within 30 s (a process's exec under strace takes a moment)."""
    deadline = time.monotonic() + 30
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
