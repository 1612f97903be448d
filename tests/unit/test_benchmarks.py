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
    assert checks.targets_lines(results) == [
        "",
        "Targets",
        "| target | measured | met |",
        "|---|---:|:---:|",
        "| W1 rotrace ≤ 2.0× strace --seccomp-bpf | 2.50× | no |",
        "| W2 rotrace ≤ 1.0× strace --seccomp-bpf | 0.75× | yes |",
        "| `rotrace run -- true` ≤ 80 ms | 70 ms (50 ms over `python -c pass`) | yes |",
    ]


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
