"""Every file rotrace is given to read (a trace, a policy, a manifest), by every command that
reads one: what cannot be read, is not a file (a directory, a device that never ends), or is too
large to take whole is one line and exit 3, never a traceback, a usage message or a wait for
ever; a pipe is read as the file it carries."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import as_user
from tests.support.as_user import site, work  # noqa: F401 - fixtures
from tests.support.tracing import rotrace_cli

MANIFEST = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: app, image: x}\n"

# Each command that reads a file, with BAD where the file goes (GOOD: a real trace, M: a manifest).
USES = {
    "report": ["report", "BAD"],
    "check": ["check", "BAD"],
    "allowlist": ["allowlist", "--format", "k8s", "BAD"],
    "diff": ["diff", "GOOD", "BAD"],
    "merge": ["merge", "-o", "OUT", "BAD"],
    "kube harden --from": ["kube", "harden", "M", "--from", "BAD"],
    "run --baseline": ["run", "--baseline", "BAD", "--", "true"],
    "check --policy": ["check", "--policy", "BAD", "GOOD"],
    "run --policy": ["run", "--policy", "BAD", "--", "true"],
    "kube harden MANIFEST": ["kube", "harden", "BAD", "--from", "GOOD"],
    "kube record MANIFEST": ["kube", "record", "BAD", "--entrypoint", "/app/start"],
}


@pytest.fixture(scope="module")
def files(site: Path) -> Iterator[Path]:  # noqa: F811
    """A real trace (a write outside the allowlist), a manifest, an unreadable file, a directory."""
    base = Path("/var/tmp") / f"rotrace-inputs-{os.getpid()}"
    base.mkdir(mode=0o777)
    base.chmod(0o777)
    try:
        proc = as_user.rotrace(["run", "--json", "good.json", "--", "sh", "-c", f"echo > {base}/written"],
                               user="root", site=site, cwd=base)  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        (base / "good.json").chmod(0o644)
        (base / "pod.yaml").write_text(MANIFEST)
        (base / "pod.yaml").chmod(0o644)
        (base / "secret").write_text("version = 1\n")
        (base / "secret").chmod(0o600)
        (base / "dir").mkdir(mode=0o755)
        yield base
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def _argv(use: str, bad: str, base: Path) -> list[str]:
    names = {"BAD": bad, "GOOD": f"{base}/good.json", "M": f"{base}/pod.yaml", "OUT": f"{base}/out.json"}
    return [names.get(a, a) for a in USES[use]]


@pytest.mark.parametrize("use", list(USES))
@pytest.mark.parametrize(
    ("kind", "user"),
    [("a directory", "root"), ("missing", "root"), ("/dev/zero", "root"), ("unreadable", "nobody")],
)
def test_a_file_that_cannot_be_read_is_one_line(
    files: Path,
    site: Path,  # noqa: F811
    use: str,
    kind: str,
    user: str,
) -> None:
    bad = {"a directory": files / "dir", "missing": files / "none.json", "/dev/zero": Path("/dev/zero"),
           "unreadable": files / "secret"}[kind]  # fmt: skip
    try:
        proc = as_user.rotrace(_argv(use, str(bad), files), user=user, site=site, cwd=files)
    except subprocess.TimeoutExpired:
        pytest.fail(f"rotrace {use} waited for ever on {bad}")
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    if kind == "a directory" and use in ("check", "merge"):  # a directory of traces, one per CI cell
        assert lines == ["rotrace: error: no traces: a directory given holds no *.json"], proc.stderr
        return
    assert len(lines) == 1 and lines[0].startswith("rotrace: error: ") and str(bad) in lines[0], proc.stderr
    reason = {"a directory": "it is a directory", "missing": "No such file or directory",
              "/dev/zero": "not a regular file or a pipe", "unreadable": "Permission denied"}  # fmt: skip
    assert lines[0].endswith(reason[kind]), proc.stderr


@pytest.mark.parametrize("use", ["report", "allowlist", "merge"])
def test_a_trace_too_large_to_read_whole_is_one_line_at_once(files: Path, site: Path, use: str) -> None:  # noqa: F811
    """A file of 2 GiB (sparse: zeros) in no layout the reader streams: refused without reading it."""
    big = files / f"big-{use}.json"
    with open(big, "wb") as f:
        f.truncate(2 << 30)
    try:
        proc = as_user.rotrace(_argv(use, str(big), files), user="root", site=site, cwd=files)
    finally:
        big.unlink()
    assert proc.returncode == 3 and "Traceback" not in proc.stderr, proc.stderr
    too_large = "is larger than 1024 MiB, more than rotrace reads whole"
    assert proc.stderr == f"rotrace: error: trace {big} {too_large}\n"


def test_an_endless_line_in_the_events_is_one_line(files: Path, site: Path) -> None:  # noqa: F811
    """The writer's layout, streamed: a line of the events is read at most 16 MiB at a time."""
    endless = files / "endless.json"
    header = (files / "good.json").read_bytes().split(b"\n", 1)[0]
    endless.write_bytes(header + b"\n" + b"\0" * (20 << 20))
    proc = as_user.rotrace(["report", str(endless)], user="root", site=site, cwd=files)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr == f"rotrace: error: {endless}: a line of its events is longer than 16 MiB\n"


def _bash(command: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    script = command.replace("ROTRACE", f"{sys.executable} -m rotrace")
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, input=stdin, capture_output=True, timeout=120
    )


def test_a_trace_from_a_pipe_is_read_as_the_file(files: Path) -> None:
    """`<(zcat t.json.gz)` or /dev/stdin from a pipe: one pass over the pipe, whatever the command
    reads twice (merge's two passes, kube harden's)."""
    good = files / "good.json"
    text = good.read_bytes()
    expected = _bash(f"ROTRACE report --format json {good}", files)
    assert expected.returncode == 1, expected.stderr
    piped = _bash("ROTRACE report --format json /dev/stdin", files, stdin=text)
    assert (piped.returncode, piped.stdout) == (1, expected.stdout), piped.stderr
    substituted = _bash(f"ROTRACE allowlist --format k8s <(cat {good})", files)
    direct = _bash(f"ROTRACE allowlist --format k8s {good}", files)
    assert substituted.stdout == direct.stdout, substituted.stderr
    merged = _bash(f"ROTRACE merge -o merged.json <(cat {good}) <(cat {good})", files)
    assert merged.returncode == 0, merged.stderr
    harden = _bash(f"ROTRACE kube harden pod.yaml --from <(cat {good})", files)
    assert harden.returncode == _bash(f"ROTRACE kube harden pod.yaml --from {good}", files).returncode
    assert b"readOnlyRootFilesystem: true" in harden.stdout, harden.stderr
    manifest = _bash(f"ROTRACE kube harden - --from {good}", files, stdin=MANIFEST.encode())
    assert b"readOnlyRootFilesystem: true" in manifest.stdout, manifest.stderr


@pytest.mark.parametrize("use", ["report", "allowlist", "check --policy", "kube harden --from"])
def test_a_named_fifo_whose_writer_is_quick_is_read(files: Path, use: str) -> None:
    """A named FIFO whose writer writes all and closes as soon as a reader opens it: read, as cat
    reads it. (A first open to look at the file, closed, then a second to read, lost what the
    writer had written in between, and the second open waited for another writer for ever.)"""
    good = files / "good.json"
    policy = files / "policy.toml"
    policy.write_text('allow = ["/var/tmp"]\n')
    source = policy if use == "check --policy" else good
    fifo = files / f"fifo-{use.replace(' ', '-')}"
    try:
        for _ in range(5):  # the writer is quick enough to lose the race most times: five chances
            os.mkfifo(fifo)
            argv = [f"{fifo}" if a == "BAD" else a for a in _argv(use, "BAD", files)]
            proc = _bash(f"cat {source} > {fifo} & ROTRACE {' '.join(argv)}", files)
            os.unlink(fifo)
            direct = _bash(f"ROTRACE {' '.join(_argv(use, str(source), files))}", files)
            assert (proc.returncode, proc.stdout) == (direct.returncode, direct.stdout), proc.stderr
            assert proc.returncode in (0, 1), proc.stderr
    finally:
        fifo.unlink(missing_ok=True)
        policy.unlink()


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 100_000,
        "a: " + "{a: " * 50_000,
        "a:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 1500)),
    ],
    ids=["flow sequences", "flow mappings", "block mappings"],
)
@pytest.mark.parametrize("command", ["harden", "record"])
def test_a_manifest_nested_past_reason_is_one_line_at_once(
    files: Path,
    site: Path,  # noqa: F811
    command: str,
    text: str,
) -> None:
    """ruamel.yaml takes time quadratic in the nesting (hours for these): refused before it parses."""
    manifest = files / f"deep-{command}.yaml"
    manifest.write_text(text)
    args = ["--from", f"{files}/good.json"] if command == "harden" else ["--entrypoint", "/app/start"]
    try:
        proc = as_user.rotrace(["kube", command, str(manifest), *args], user="root", site=site, cwd=files)
    except subprocess.TimeoutExpired:
        pytest.fail("rotrace parsed the manifest for ever")
    assert proc.returncode == 3 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("rotrace: error: not YAML: exceeded maximum nesting depth (line ")
    assert proc.stderr.count("\n") == 1, proc.stderr


@pytest.mark.parametrize("use", ["check", "merge"])
def test_a_fifo_in_a_directory_of_traces_is_not_waited_on(files: Path, use: str) -> None:
    """A directory's *.json are its traces: a FIFO among them (nobody writing) is not one."""
    runs = files / f"runs-{use}"
    runs.mkdir()
    (runs / "a.json").write_bytes((files / "good.json").read_bytes())
    os.mkfifo(runs / "b.json")
    argv = ["check", str(runs)] if use == "check" else ["merge", "-o", f"{files}/m-{use}.json", str(runs)]
    try:
        proc = rotrace_cli(*argv, cwd=files, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"rotrace {use} waited for ever on a FIFO in the directory")
    assert proc.returncode == (1 if use == "check" else 0), proc.stderr
    assert "b.json" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
