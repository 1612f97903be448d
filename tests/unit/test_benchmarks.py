"""The benchmark's own logic, without tracing: its options, the arithmetic and layout of its
tables, and how it finds out that an older rotrace cannot run the report's passes."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from benchmarks import checks, workloads
from benchmarks.__main__ import parse_args
from benchmarks.harness import ROOT, Sample, console_script, has_module, table_lines, variants
from benchmarks.workloads import Workload


def _medians(**variants: float) -> dict[str, Sample]:
    """Samples of those medians (three runs each, the median in the middle)."""
    return {key: Sample(seconds=[m * 2, m, m / 2]) for key, m in variants.items()}


def test_the_options_default_to_every_workload_and_no_check() -> None:
    args = parse_args([])
    assert args.rounds == 5
    assert args.only == {"W1", "W2", "W3", "W4", "F"}
    assert args.before is None
    assert not (args.cpu or args.phases or args.report or args.loop or args.memory)
    assert not (args.syscalls or args.per_write)


def test_only_takes_a_list_or_none_for_the_checks_alone() -> None:
    assert parse_args(["--only", "W2,F"]).only == {"W2", "F"}
    assert parse_args(["--only", "NONE", "--loop"]).only == set()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--only", "W2,w5"], "no workload 'w5' (there are W1,W2,W3,W4,F)"),
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


def test_the_targets_are_ratios_of_medians_to_strace_seccomp_bpf() -> None:
    bpf = "strace --seccomp-bpf"
    results = {
        "W1": _medians(untraced=0.1, **{bpf: 0.2}, rotrace=0.5),
        "W2": _medians(untraced=0.1, **{bpf: 0.4}, rotrace=0.3),
        "F": _medians(untraced=0.001, rotrace=0.07, **{"python -c pass": 0.02}),
    }
    syscalls = {"W2": {"rotrace": {"all": 10.5, "placement and the rest": 0.9}}}
    cpu = {"W2": {"rotrace": 40.0, "strace --seccomp-bpf": 50.0}}
    assert checks.targets_lines(results, syscalls, cpu) == [
        "",
        "Targets",
        "| target | measured | met | syscalls per write (placement) | CPU per write µs, rotrace / strace |",
        "|---|---:|:---:|---:|---:|",
        "| W1 rotrace ≤ 1.5× strace --seccomp-bpf | 2.50× | no |  |  |",
        "| W2 rotrace ≤ 1.0× strace --seccomp-bpf | 0.75× | yes | 10.50 (0.90) | 40 / 50 |",
        "| W2 placement ≤ 1 syscall per write | 0.90 (0.90×) | yes | 10.50 (0.90) | 40 / 50 |",
        "| W2 CPU per write below strace's | 0.80× | yes | 10.50 (0.90) | 40 / 50 |",
        "| `rotrace run -q -- true` ≤ 40 ms over `python -c pass` | 50 ms (1.25×) | no | | |",
    ]


def test_the_tracers_syscalls_are_counted_in_its_loop_by_kind() -> None:
    """Only between the first and the last wait4: Python's start-up and the report are not the
    loop's; placement is what is neither the ptrace core, memory reads nor the report's pipe."""
    output = "\n".join([
        'openat(AT_FDCWD, "/usr/lib/python3.11/os.py", O_RDONLY) = 3',
        "wait4(-1, [...], __WALL, NULL) = 12",
        "ptrace(PTRACE_GET_SYSCALL_INFO, 12, 80, {...}) = 84",
        'pread64(5, "/tmp/x"..., 256, 1234) = 256',
        "poll([{fd=4, events=POLLPRI}], 2, 0) = 0 (Timeout)",
        'readlink("/proc/12/fd/3", "/tmp/x", 4096) = 6',
        "write(7, ..., 100) = 100",
        "--- SIGCHLD {si_signo=SIGCHLD} ---",
        "wait4(-1, [...], __WALL, NULL) = 12",
        'openat(AT_FDCWD, "/tmp/t.json", O_WRONLY|O_CREAT) = 3',
    ])  # fmt: skip
    assert checks.count_syscalls(output) == {
        "ptrace core": 3, "memory": 1, "to the report": 1, "placement and the rest": 2,
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
