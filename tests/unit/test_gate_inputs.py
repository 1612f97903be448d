"""A gate's inputs the traced command wrote (gate_inputs.py): `diff`'s baseline, `check`'s and
`merge`'s other traces. Each was read after a command that could rewrite it had run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rotrace.commands import check, diff
from rotrace.errors import BadInput
from rotrace.events import FileEvent
from rotrace.gate_inputs import TRACE_ADVICE, Input, InputGuard, InputSet
from rotrace.merge.combine import merge, merge_command
from rotrace.record import TraceHeader
from rotrace.report.view import View
from rotrace.tracefile import read_trace
from tests.unit.factories import classify, event, written_trace


def _trace(tmp_path: Path, name: str, *events: FileEvent, cwd: str | None = None) -> str:
    header = TraceHeader(["app"], cwd or str(tmp_path), 0, allowlist=["/tmp"])
    path = tmp_path / name
    path.write_text(written_trace(header, classify(*events)))
    return str(path)


def _ways(target: Path) -> dict[str, FileEvent]:
    """Each way a command puts another file at `target`'s name."""
    return {
        "written": event(str(target)),
        "renamed onto": event(f"{target}.new", "rename", 0, target=str(target), syscall="rename"),
        "removed": event(str(target), "delete", 0, syscall="unlink"),
        "linked": event(str(target), "symlink", 0, target="/srv/forged.json", syscall="symlink"),
        # its directory moved away, the file written there, moved back: no event names the file
        "directory moved": event(
            str(target.parent), "rename", 0, target=f"{target.parent}.x", syscall="rename"
        ),
    }


@pytest.mark.parametrize("how", list(_ways(Path("/x/y"))))
def test_diff_refuses_a_trace_whose_command_wrote_the_baseline(
    tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command rewrote the committed baseline to list its own new write (`evil.pth`): the
    diff said "no change", exit 0. A trace that shows a write to the baseline is refused (3)."""
    baseline_dir = tmp_path / ".rotrace"
    baseline_dir.mkdir()
    baseline = baseline_dir / "baseline.json"
    evil = event("/srv/app/evil.pth")
    baseline.write_text(
        written_trace(TraceHeader(["app"], str(tmp_path), 0, allowlist=["/tmp"]), classify(evil))
    )
    new = _trace(tmp_path, "new.json", evil, _ways(baseline)[how])
    with pytest.raises(BadInput, match=r"new\.json: the traced command wrote the baseline .*baseline\.json"):
        diff(str(baseline), new, View())
    assert "no change" not in capsys.readouterr().out
    untouched = _trace(tmp_path, "untouched.json", evil, event("/srv/app/other.json"))
    assert diff(str(baseline), untouched, View(quiet=True)) == 1  # other.json is new: still a gate


def test_check_refuses_a_trace_whose_command_wrote_another_checked_trace(tmp_path: Path) -> None:
    """`check T1 T2` (each run's trace, one policy): T2's command rewrote T1 without its
    violation, and the check passed. Each trace is checked against the others' names."""
    (tmp_path / "rotrace.toml").write_text('version = 1\nallow = ["/tmp"]\n')
    first = _trace(tmp_path, "one.json", event("/srv/app/out.txt"))
    second = _trace(tmp_path, "two.json", event(first))
    policy = str(tmp_path / "rotrace.toml")
    with pytest.raises(BadInput, match=r"two\.json: the traced command wrote the trace .*one\.json"):
        check([first, second], [], policy, None, View(quiet=True))
    with pytest.raises(BadInput, match="the traced command wrote the trace"):
        check([first, second], [], None, None, View(quiet=True))  # without a policy too
    alone = _trace(tmp_path, "alone.json", event(str(tmp_path / "three.json")))
    assert check([first, alone], [], policy, None, View(quiet=True)) == 1  # out.txt, as before


def test_merge_refuses_a_run_whose_command_wrote_another_runs_trace(tmp_path: Path) -> None:
    """A baseline merged from runs, one of which rewrote an earlier run's trace, is the
    command's: refused before anything is written."""
    first = _trace(tmp_path, "one.json", event("/srv/app/out.txt"))
    second = _trace(tmp_path, "two.json", event(f"{tmp_path}/x", "rename", 0, target=first, syscall="rename"))
    out = tmp_path / "merged.json"
    with pytest.raises(BadInput, match=r"two\.json: the traced command wrote the trace .*one\.json"):
        merge([first, second], str(out), [], [])
    assert not out.exists()


def test_a_glob_of_a_merged_trace_that_names_an_input_is_a_write_to_it(tmp_path: Path) -> None:
    """A merged trace's name is a glob of its runs' names: one of them may have been the input."""
    guard = InputGuard([Input(str(tmp_path / "one.json"), "the trace", TRACE_ADVICE)])
    written = event(f"{tmp_path}/[a-z]ne.json")
    guard.check(written, "t.json", False)  # a single run's name: that name, no glob
    with pytest.raises(BadInput, match="the traced command wrote the trace"):
        guard.check(written, "merged.json", True)
    for harmless in (
        event(str(tmp_path / "one.json"), "access", 0, syscall="access"),  # a check, nothing written
        event(str(tmp_path / "one.json"))._replace(result=-13),  # refused
        event(str(tmp_path), "chmod", 0, syscall="chmod"),  # its directory's mode: no other file there
        # a symbolic link elsewhere whose content names the input, or its directory: nothing written
        event("/tmp/link", "symlink", 0, target=str(tmp_path / "one.json"), syscall="symlink"),
        event("/tmp/checkout", "symlink", 0, target=str(tmp_path), syscall="symlinkat"),
    ):
        guard.check(harmless, "merged.json", True)


def test_an_input_with_another_name_is_refused(tmp_path: Path) -> None:
    """An earlier step of the job hard-linked the baseline elsewhere, and the traced step wrote
    it through that name, which no trace the gate reads names: the baseline's other names make
    it no input to trust."""
    baseline = tmp_path / "baseline.json"
    baseline.write_text(written_trace(TraceHeader(["app"], "/srv/app", 0), classify(event("/srv/app/x"))))
    new = _trace(tmp_path, "new.json", event("/srv/app/x"), cwd="/srv/app")
    assert diff(str(baseline), new, View(quiet=True)) == 0
    (tmp_path / "elsewhere.json").hardlink_to(baseline)
    with pytest.raises(BadInput, match=r"baseline\.json has 2 names \(hard links\)"):
        diff(str(baseline), new, View(quiet=True))


def test_a_write_rotrace_could_not_place_may_have_been_to_an_input(tmp_path: Path) -> None:
    """A command that binds the policy onto /tmp/x in a mount namespace of its own and writes
    there: the write is unresolved (it landed on no name rotrace reaches), and could have been
    the policy's: the check was a violation (exit 1) of a policy the command may have rewritten."""
    (tmp_path / "rotrace.toml").write_text('version = 1\nallow = ["/"]\n')
    bound = event("/tmp/x")._replace(unresolved=True)
    trace = _trace(tmp_path, "t.json", bound, cwd="/srv/app")
    with pytest.raises(
        BadInput, match=r"wrote where rotrace could not place .* may have been the policy file"
    ):
        check([trace], [], str(tmp_path / "rotrace.toml"), None, View(quiet=True))
    failed = _trace(
        tmp_path, "failed.json", bound._replace(result=-13), cwd="/srv/app"
    )  # refused: nothing written
    assert check([failed], [], str(tmp_path / "rotrace.toml"), None, View(quiet=True)) == 1


@pytest.mark.parametrize("how", ["removed", "moved away", "added", "directory moved away"])
def test_a_directory_or_a_glob_of_traces_is_an_input_in_every_name(tmp_path: Path, how: str) -> None:
    """`check traces/` of a job's runs: the second run's command removed the first run's trace
    (a violation in it), and `check` read the directory as it was left: the second run alone,
    exit 0. Every name a directory or a glob stands for is an input, there or not; a run's
    own trace is not (rotrace writes it once the command has run)."""
    runs = tmp_path / "traces"
    runs.mkdir()
    (tmp_path / "rotrace.toml").write_text('version = 1\nallow = ["/tmp"]\n')
    first = _trace(runs, "a.json", event("/srv/app/out.txt"))
    second = str(runs / "b.json")
    ways = {
        "removed": event(first, "delete", 0, syscall="unlink"),
        "moved away": event(first, "rename", 0, target=f"{tmp_path}/kept", syscall="rename"),
        "added": event(str(runs / "c.json")),  # a trace the gate would read too
        # the directory moved away, a new one made, the run's own trace moved into it
        "directory moved away": event(str(runs), "rename", 0, target=f"{tmp_path}/old", syscall="rename"),
    }
    _trace(runs, "b.json", ways[how], event(second))  # its own name (written by the command too)
    if how != "added":
        os.unlink(first)  # as the command left it
    policy = str(tmp_path / "rotrace.toml")
    for named in ([str(runs)], [f"{runs}/*.json"]):
        refused = r"b\.json: the traced command (wrote .*, one of|moved, removed or replaced a directory)"
        with pytest.raises(BadInput, match=refused):
            check(named, [], policy, None, View(quiet=True))
        with pytest.raises(BadInput, match=refused):
            merge_command(named, str(tmp_path / "merged.json"), [], None)
    assert not (tmp_path / "merged.json").exists()
    _trace(runs, "b.json", event(f"{tmp_path}/other.json"), event(second))  # not one of them
    assert check([str(runs)], [], policy, None, View(quiet=True)) == (1 if how == "added" else 0)
    assert merge_command([str(runs)], str(tmp_path / "merged.json"), [], None) == 0


def test_a_run_that_changed_rotraces_mounts_is_refused_by_the_gates_that_read_a_file(tmp_path: Path) -> None:
    """A bind over the policy (or the baseline, or another run's trace) outlasts the run and no
    write names it: a trace whose command changed rotrace's mounts (`remounted`) is refused by
    a gate that reads a file after it, and kept by one that reads none; a merge of it says so."""
    (tmp_path / "rotrace.toml").write_text('version = 1\nallow = ["/tmp"]\n')
    policy = str(tmp_path / "rotrace.toml")
    header = TraceHeader(["app"], str(tmp_path), 0, allowlist=["/tmp"], remounted=["mount", "umount2"])
    mounted = tmp_path / "mounted.json"
    mounted.write_text(written_trace(header, classify(event("/tmp/x"))))
    plain = _trace(tmp_path, "plain.json", event("/tmp/x"))
    refused = r"mounted\.json: the traced command changed the mounts of rotrace's mount namespace"
    refused += r" \(mount, umount2\)"
    with pytest.raises(BadInput, match=refused):
        check([str(mounted)], [], policy, None, View(quiet=True))
    with pytest.raises(BadInput, match=refused):
        diff(plain, str(mounted), View(quiet=True))
    with pytest.raises(BadInput, match=refused):
        merge([plain, str(mounted)], str(tmp_path / "m.json"), [], [])
    assert check([str(mounted)], ["/tmp"], None, None, View(quiet=True)) == 0  # reads no file of the run's
    assert diff(str(mounted), plain, View(quiet=True)) == 0  # the baseline's own command: read before NEW's
    merge([str(mounted)], str(tmp_path / "m.json"), [], [])
    assert read_trace(str(tmp_path / "m.json"))[0].remounted == ["mount", "umount2"]


def test_a_glob_of_traces_is_guarded_as_pythons_glob_expands_it(tmp_path: Path) -> None:
    """`check 'runs/[^x]*.json'` read runs/x1.json (Python's glob: `[^x]` is `^` or `x`) while
    the guard, another dialect, said `[^x]` is no x: x1.json removed by a later run passed."""
    sets = [InputSet("runs/[^x]*.json", f"{tmp_path}/runs/[^x]*.json", "the traces", TRACE_ADVICE)]
    guard = InputGuard([], sets)
    with pytest.raises(BadInput, match="one of the traces"):
        guard.check(event(f"{tmp_path}/runs/x1.json", "delete", 0, syscall="unlink"), "b.json", False)
    guard.check(event(f"{tmp_path}/runs/a1.json", "delete", 0, syscall="unlink"), "b.json", False)  # not it
    guard.check(event(f"{tmp_path}/runs/.x.json", "delete", 0, syscall="unlink"), "b.json", False)  # hidden


def test_a_glob_through_a_linked_directory_is_guarded_at_the_real_path(tmp_path: Path) -> None:
    """`check 'runs/*/t.json'` with runs/a a link to store/a: a later run's `rm runs/a/t.json` is
    recorded at store/a/t.json, which the glob as written does not stand for."""
    (tmp_path / "store" / "a").mkdir(parents=True)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "a").symlink_to(tmp_path / "store" / "a")
    sets = [InputSet("runs/*/t.json", f"{tmp_path}/runs/*/t.json", "the traces", TRACE_ADVICE)]
    with pytest.raises(BadInput, match="one of the traces"):
        InputGuard([], sets).check(
            event(f"{tmp_path}/store/a/t.json", "delete", 0, syscall="unlink"), "b.json", False
        )
