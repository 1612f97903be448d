"""What rotrace writes after the command ran, where the command could prepare the ground: the
GitHub step summary ($GITHUB_STEP_SUMMARY) replaced by a FIFO (no reader: rotrace would wait
forever, and the CI job with it) or by a symbolic link (rotrace would append where it points,
outside what the command itself may write); and the grace period at its limits."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from rotrace.escape import safe_text
from tests.support.places import fixed_name_dir
from tests.support.terminal import stderr_on_a_terminal

ROTRACE = [sys.executable, "-m", "rotrace"]


def _github_env(summary: Path) -> dict[str, str]:
    dropped = ("COLUMNS", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary))
    return env


def test_a_fifo_put_at_the_step_summary_does_not_hang_rotrace(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("")
    argv = [*ROTRACE, "run", "--", "sh", "-c", f"rm {summary}; mkfifo {summary}"]
    proc = subprocess.Popen(argv, cwd=tmp_path, env=_github_env(summary), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        # release whichever rotrace process waits on the FIFO for a reader, then fail
        os.close(os.open(summary, os.O_RDONLY | os.O_NONBLOCK))
        proc.kill()
        proc.communicate()
        pytest.fail("rotrace waited for a reader of the FIFO the command put at $GITHUB_STEP_SUMMARY")
    assert proc.returncode == 0, err
    assert f"cannot write the step summary {summary}: not a regular file" in out, out + err
    assert "Traceback" not in err


def test_a_symlink_put_at_the_step_summary_is_not_followed() -> None:
    """Under --enforce the command cannot write `victim`; rotrace must not append there for it."""
    work = Path(tempfile.mkdtemp(prefix="rotrace-summary-", dir="/var/tmp"))  # not in the default allowlist
    try:
        _symlink_at_the_summary(work)
    finally:
        shutil.rmtree(work)


def _symlink_at_the_summary(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("kept\n")
    summary = allowed / "summary.md"
    summary.write_text("")
    script = f"rm {summary}; ln -s {victim} {summary}; echo x > {victim}"
    proc = subprocess.run([*ROTRACE, "run", "--enforce", "--allow", str(allowed), "--", "sh", "-c", script],
                          cwd=tmp_path, env=_github_env(summary), capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert victim.read_text() == "kept\n", proc.stderr
    assert f"cannot write the step summary {summary}: a symbolic link" in proc.stdout, proc.stdout


@pytest.mark.parametrize("grace", ["inf", "1e300"])
def test_a_grace_period_without_end_waits_for_the_command(tmp_path: Path, grace: str) -> None:
    """`--grace inf` (or one past what a timer holds) was an internal error (exit 70) at the
    first signal: it means no end, so the command is waited for, and a second signal kills it."""
    code = (
        "import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(tmp_path / 'ready')!r}, 'w').close()\ntime.sleep(60)"
    )
    argv = [*ROTRACE, "run", "--grace", grace, "--", sys.executable, "-c", code]
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "ready").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the command did not start"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=2)  # still waiting for the command, which ignores SIGTERM
        proc.send_signal(signal.SIGTERM)  # the second: killed now
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 8, err
    assert "internal error" not in err and "signalled twice" in err, err


# Directory names a traced program can choose: every kind of line break, characters that reorder
# text, YAML and shell syntax, bytes that are not UTF-8.
HOSTILE_DIRS = [b"a\xe2\x80\xaebc", b"l\xe2\x80\xa8s", b"n\xc2\x85l", b"c\rr", b"k: #x", b"$(id) $$", b"---",
                b"q\"'{", b"bad\xff"]  # fmt: skip
# what no generated YAML may hold raw (a newline ends its own lines; comments and values escape the rest)
RAW_FORBIDDEN = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)
MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: app
        image: shop:1
        command: ["/bin/sh", "-c", "echo $(HOME) $$(HOME) 'a\\nb' '#: {a}'", "x\\u2028y\\x85z\\u202e"]
"""


def _outside_the_allowlist(prefix: str) -> Path:
    """A new directory in /srv: no default allowlist entry, no scratch place a plan mounts whole."""
    if not os.access("/srv", os.W_OK):
        pytest.skip("needs a writable /srv")
    return fixed_name_dir(prefix, "/srv")


@pytest.fixture
def hostile_trace() -> Iterator[tuple[Path, list[str]]]:
    """A real trace of a program writing a file in each of HOSTILE_DIRS (made before, so that each
    is a mount of its own), outside every place the default allowlist has."""
    base = _outside_the_allowlist("rotrace-names-")
    try:
        for name in HOSTILE_DIRS:
            os.mkdir(os.path.join(os.fsencode(base), name))
        trace = base.with_suffix(".json")
        script = 'for d in "$0"/*; do echo x > "$d/f"; done'
        proc = subprocess.run([*ROTRACE, "run", "--json", str(trace), "--", "sh", "-c", script, str(base)],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert trace.exists(), proc.stderr
        paths = [os.fsdecode(os.path.join(os.fsencode(base), n)) for n in HOSTILE_DIRS]
        yield trace, [p for p in paths if os.fsencode(p).decode("utf-8", "replace") == p]
        trace.unlink()
    finally:
        shutil.rmtree(os.fsencode(base))


def _strict_yaml(text: str) -> list[object]:
    """The documents of `text` by PyYAML (and libyaml), with nothing raw that is not plain text."""
    assert not RAW_FORBIDDEN.findall(text), text
    docs = list(yaml.safe_load_all(text))
    if yaml.__with_libyaml__:
        assert list(yaml.load_all(text, Loader=yaml.CSafeLoader)) == docs
    return docs


@pytest.mark.parametrize("fmt", ["k8s", "compose"])
def test_hostile_names_in_a_yaml_export_are_escaped_and_come_back_as_themselves(
    hostile_trace: tuple[Path, list[str]], fmt: str
) -> None:
    trace, paths = hostile_trace
    argv = [*ROTRACE, "allowlist", str(trace), "--format", fmt]
    proc = subprocess.run(argv, capture_output=True, timeout=60)
    (doc,) = _strict_yaml(proc.stdout.decode())
    assert isinstance(doc, dict)
    if fmt == "k8s":  # a runtime reads what follows a ':' as mount options: left out
        (container,) = doc["spec"]["containers"]
        assert set(container) == {"name", "securityContext", "volumeMounts"}
        assert sorted(m["mountPath"] for m in container["volumeMounts"]) == sorted(
            p for p in paths if ":" not in p
        )
        assert b"k: #x: holds ':'" in proc.stderr
    else:
        (service,) = doc["services"].values()
        assert set(service) == {"read_only", "tmpfs"}
        assert all(t.endswith(":exec") for t in service["tmpfs"])  # Docker's tmpfs is noexec by default
        # compose interpolates `$`: `$$` is a `$`; podman-compose reads a ':' as mount options
        expected = sorted(p for p in paths if ":" not in p)
        assert sorted(t.removesuffix(":exec").replace("$$", "$") for t in service["tmpfs"]) == expected
        assert b"k: #x: holds ':'" in proc.stderr


def test_kube_harden_writes_hostile_names_escaped_and_as_themselves(
    hostile_trace: tuple[Path, list[str]], tmp_path: Path
) -> None:
    trace, paths = hostile_trace
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(MANIFEST)
    proc = subprocess.run([*ROTRACE, "kube", "harden", str(manifest), "--from", str(trace)],
                          capture_output=True, timeout=60)  # fmt: skip
    # the name that is not UTF-8 is left out, said in one line: the plan is incomplete (exit 1)
    assert proc.returncode == 1 and b"bad\\xff: not valid UTF-8" in proc.stderr, proc.stderr
    assert b"Traceback" not in proc.stderr
    (doc,) = _strict_yaml(proc.stdout.decode())
    (original,) = yaml.safe_load(MANIFEST)["spec"]["template"]["spec"]["containers"]
    assert isinstance(doc, dict) and set(doc) == {"apiVersion", "kind", "metadata", "spec"}
    spec = doc["spec"]["template"]["spec"]
    assert set(spec) == {"containers", "volumes"}
    (container,) = spec["containers"]
    assert set(container) == {"name", "image", "command", "securityContext", "volumeMounts"}
    assert container["command"] == original["command"]
    assert container["securityContext"] == {"readOnlyRootFilesystem": True}
    mounted = sorted(p for p in paths if ":" not in p)  # ':' starts mount options: left out, said
    assert sorted(m["mountPath"] for m in container["volumeMounts"]) == mounted
    assert b"k: #x: holds ':'" in proc.stderr
    assert [v["name"] for v in spec["volumes"]] == [m["name"] for m in container["volumeMounts"]]
    assert all(set(v) == {"name", "emptyDir"} for v in spec["volumes"])
    comments = [line for line in proc.stdout.decode().splitlines() if "# rotrace: written by" in line]
    assert len(comments) == len(mounted)


def test_a_hostile_sibling_cannot_add_bwrap_arguments() -> None:
    """A mount point the command made is made again in a tmpfs over its parent, each entry of
    the parent bound again: an entry named `x<newline>--bind<newline>.<newline>.` (made by the
    same command) written as lines would add arguments of its choosing (a writable bind, an
    LD_PRELOAD). Every line is plain, and a parent that holds such a name is not shadowed: said
    in a note."""
    base = fixed_name_dir("rotrace-shadow-", "/srv" if os.access("/srv", os.W_OK) else None)
    try:
        (base / "kept").write_text("")  # not empty: the mount points the command made are its own
        trace = base.with_suffix(".json")
        hostile = "x\n--setenv\nLD_PRELOAD\nevil.so\n--bind\n.\n.\u2028"
        script = 'mkdir -- "$0/$1" "$0/new" && echo x > "$0/new/f"'
        argv = [*ROTRACE, "run", "-q", "--json", str(trace), "--", "sh", "-c", script, str(base), hostile]
        subprocess.run(argv, capture_output=True, timeout=120, check=False)
        proc = subprocess.run([*ROTRACE, "allowlist", str(trace), "--format", "bwrap"],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        trace.unlink()
    finally:
        shutil.rmtree(base)
    lines = proc.stdout.splitlines()
    assert not [line for line in lines if RAW_FORBIDDEN.search(line)], lines
    assert lines[:3] == ["--ro-bind", "/", "/"] and not {"--bind", "--setenv"} & set(lines), lines
    assert f"{base}/new" not in lines
    assert f"{base}/new does not exist" in proc.stderr and "x\\x0a--setenv" in proc.stderr, proc.stderr


def test_an_error_naming_a_hostile_container_is_one_escaped_line(tmp_path: Path) -> None:
    """Every error line is escaped where it is printed: here a container's name from the
    manifest (not yet checked to be an RFC 1123 label) in the message that asks which one,
    which would start a workflow command of its own in a CI log."""
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(
        MANIFEST.replace(
            "- name: app", '- name: "a\\n::error::pwn\\u2028\\u202e"\n        image: x\n      - name: b'
        )
    )
    trace = tmp_path / "trace.json"
    subprocess.run(
        [*ROTRACE, "run", "-q", "--json", str(trace), "--", "true"], capture_output=True, timeout=120
    )
    proc = subprocess.run([*ROTRACE, "kube", "harden", str(manifest), "--from", str(trace)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 3 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and not RAW_FORBIDDEN.search(proc.stderr.rstrip("\n")), proc.stderr
    assert "a\\x0a\\x3a:error::pwn\\u2028\\u202e" in proc.stderr  # the command escaped wherever it is


# Paths no write is placed at: an unplaced call's own string (`unresolved`: its path changed
# while the call ran, which a program can make happen), or a trace not as rotrace writes it.
UNPLACED = ["~", "..", "relative/dir/f", "-rf", "~/.ssh/authorized_keys"]
NOT_NORMAL = ["/srv/../etc/f", "/srv/a/./b/f", "/srv//c/f", "/srv/t/"]


@pytest.mark.parametrize("fmt", ["policy", "k8s", "docker", "compose", "bwrap", "apparmor"])
def test_a_path_that_is_no_place_never_becomes_a_mount_or_an_allow_entry(tmp_path: Path, fmt: str) -> None:
    """Where a write was not placed, no mount and no allow entry can be made for it: `~` in a
    policy would allow the home directory, `..` and a relative path wherever the file is used,
    `/srv/../etc` a mount over /etc. They are said (not mountable), and the export is complete
    otherwise, at once (a relative path once sent bwrap's layout climbing its parents for ever)."""
    base = _outside_the_allowlist("rotrace-unplaced-")
    try:
        trace = tmp_path / "t.json"
        script = f"echo > {base}/real"
        proc = subprocess.run([*ROTRACE, "run", "--json", str(trace), "--", "sh", "-c", script],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        doc = json.loads(trace.read_text())
        (event,) = (e for e in doc["events"] if e["path"] == f"{base}/real")
        forged = [{**event, "path": p, "unresolved": True} for p in UNPLACED]
        forged += [{**event, "path": p, "unresolved": False} for p in NOT_NORMAL]
        doc["events"] = [event, *forged]
        trace.write_text(json.dumps(doc))
        try:
            out = subprocess.run([*ROTRACE, "allowlist", "--format", fmt, str(trace)], capture_output=True,
                                 text=True, timeout=60)  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail(f"allowlist --format {fmt} did not end")
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert "cannot be made writable by a mount: writes rotrace could not place" in out.stderr
        body = "\n".join(line for line in out.stdout.splitlines() if not line.lstrip().startswith("#"))
        assert str(base) in body, out.stdout  # the write that was placed: mounted
        for path in UNPLACED + NOT_NORMAL:
            for part in {path, os.path.dirname(path)} - {"", "/srv"}:
                assert part not in body.replace(str(base), ""), (part, out.stdout)
    finally:
        shutil.rmtree(base)


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
@pytest.mark.parametrize(
    "log",
    [("GITHUB_ACTIONS", "true", "::"), ("TF_BUILD", "True", "##vso["), ("", "", "::")],
    ids=["github", "azure", "undetected"],
)
@pytest.mark.parametrize("command", [["report"], ["report", "-v"], ["check"]])
def test_a_name_wrapped_onto_a_line_of_its_own_is_no_ci_command(
    tmp_path: Path, log: tuple[str, str, str], command: list[str], terminal: bool
) -> None:
    """A CI runner runs any line that starts, after its spaces, with its command marker (GitHub's
    `::`, Azure's `##vso[`). With COLUMNS set the report wrapped a long file name the command
    made, and a piece of it (` ::stop-commands::TOKEN`) began a line: the runner then hid every
    annotation after it; so did a report on a terminal (a step under `script`), at its width.
    Under such a runner the report is not wrapped, COLUMNS, terminal or not. A runner rotrace
    cannot see (rotrace in `docker run -t` in a GitHub step: no GITHUB_ACTIONS) got a wrapped
    report: a workflow command in a name is escaped wherever it stands."""
    name, value, marker = log
    base = _outside_the_allowlist("rotrace-wrap-")
    try:
        made = base / f"x {marker}stop-commands::{'Z' * 110}"
        made.mkdir()
        trace = tmp_path / "t.json"
        argv = [*ROTRACE, "run", "-q", "--json", str(trace), "--", "sh", "-c", 'echo > "$0/f"', str(made)]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1, proc.stderr
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "TF_BUILD")
        }
        env.update({name: value, "COLUMNS": "120"} if name else {"COLUMNS": "120"})
        if terminal:
            stdout, stderr = (
                "",
                stderr_on_a_terminal([*ROTRACE, *command, str(trace)], env, 30)
                .decode(errors="replace")
                .replace("\r\n", "\n"),
            )
        else:
            out = subprocess.run(
                [*ROTRACE, *command, str(trace)], capture_output=True, text=True, env=env, timeout=60
            )
            assert out.returncode == 1, out.stderr
            stdout, stderr = out.stdout, out.stderr
        # the name is reported (wrapped and cut short on a terminal where no runner is seen), on
        # lines that start with rotrace's own text
        assert re.sub(r"\s+", "", safe_text(made.name))[:40] in re.sub(r"\s+", "", stderr), stderr
        commands = [
            line.lstrip() for line in (stdout + stderr).splitlines() if line.lstrip().startswith(marker)
        ]
        assert all(
            line.startswith(("::error title=rotrace", "::warning title=rotrace")) for line in commands
        ), commands
    finally:
        shutil.rmtree(base)


# Workflow commands a runner acts on anywhere in a line (GitHub's legacy form, Azure's), spelt
# as a traced program may spell them in a file name
CI_COMMANDS = ["x##[stop-commands]tok1", "y##[error]forged", "z##vso[task.setvariable variable=A]1",
               "w##VsO[task.complete result=Succeeded]"]  # fmt: skip
ANY_CI_COMMAND = re.compile(r"##(vso)?\[", re.IGNORECASE)


@pytest.mark.parametrize("log", [("GITHUB_ACTIONS", "true"), ("TF_BUILD", "True")])
def test_a_ci_command_in_a_file_name_reaches_no_output_raw(tmp_path: Path, log: tuple[str, str]) -> None:
    """GitHub's runner acts on `##[command]` anywhere in a line of a step's output, Azure's on
    `##vso[`: a file name holding one, printed raw by the report, stopped the runner reading
    rotrace's own annotations (`##[stop-commands]`) or forged one. Every output escapes the
    first `#`, and each document still reads the name back as itself."""
    base = _outside_the_allowlist("rotrace-ci-")
    try:
        for name in CI_COMMANDS:
            (base / name).mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "TF_BUILD", "COLUMNS")}
        env.update({log[0]: log[1], "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")})
        trace = tmp_path / "t.json"
        script = 'for d in "$0"/*; do echo x > "$d/f"; done'
        argv = [*ROTRACE, "run", "-v", "--json", str(trace), "--", "sh", "-c", script, str(base)]
        run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 1, run.stderr
        summary = tmp_path / "summary.md"
        outputs = {"run": run.stdout + run.stderr, "trace": trace.read_text(),
                   "summary": summary.read_text() if summary.exists() else ""}  # fmt: skip
        for args in (["report", "-v"], ["report", "--format", "json"], ["check"],
                     *(["allowlist", "--format", f] for f in ("k8s", "compose", "docker", "bwrap", "policy",
                                                              "apparmor"))):  # fmt: skip
            proc = subprocess.run([*ROTRACE, *args, str(trace)], capture_output=True, text=True, env=env,
                                  timeout=60)  # fmt: skip
            outputs[" ".join(args)] = proc.stdout + proc.stderr
            if args[-1] == "json":
                document = proc.stdout
        raw = {what: ANY_CI_COMMAND.findall(text) for what, text in outputs.items()}
        assert not any(raw.values()), raw
        written = {
            os.path.basename(os.path.dirname(e["path"])) for e in json.loads(outputs["trace"])["events"]
        }
        assert set(CI_COMMANDS) <= written  # the JSON reads each name back as itself
        report = json.dumps(json.loads(document), ensure_ascii=False)
        assert all(name in report for name in CI_COMMANDS)
        k8s = subprocess.run([*ROTRACE, "allowlist", "--format", "k8s", str(trace)], capture_output=True,
                             text=True, env=env, timeout=60)  # fmt: skip
        (doc,) = _strict_yaml(k8s.stdout)
        mounts = {m["mountPath"] for m in doc["spec"]["containers"][0]["volumeMounts"]}
        assert {str(base / n) for n in CI_COMMANDS} <= mounts  # YAML reads each back as itself
    finally:
        shutil.rmtree(base)


def test_a_diff_of_two_commands_says_so_escaped(tmp_path: Path) -> None:
    """Two runs of another command (an argument added, one holding an escape sequence and a
    line break): the diff says the command changed, each argv escaped on one line."""
    hostile = "echo '\x1b[2J\n::error::x' > out"
    for name, script in (("a", "echo > out"), ("b", hostile)):
        traced = subprocess.run([*ROTRACE, "run", "-q", "--json", f"{name}.json", "--", "sh", "-c", script],
                                cwd=tmp_path, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert traced.returncode == 0, traced.stderr
    proc = subprocess.run([*ROTRACE, "diff", "a.json", "b.json"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    at = lines.index("The command changed")
    assert lines[at + 1] == "  - sh -c 'echo > out'", lines
    assert lines[at + 2].startswith("  + sh -c ") and "\\x1b[2J\\x0a" in lines[at + 2], lines
    assert "\x1b" not in proc.stdout and not any(line.startswith("::") for line in lines)


NON_BLOCKING_FILL = """
import fcntl, os
fcntl.fcntl(2, fcntl.F_SETFL, fcntl.fcntl(2, fcntl.F_GETFL) | os.O_NONBLOCK)
try:
    while True:
        os.write(2, b"x" * 4096)
except BlockingIOError:
    pass
try:
    open("/etc/rotrace-nonblocking-probe", "w")  # a violation, refused
except OSError:
    pass
"""


def test_a_pipe_the_command_left_non_blocking_and_full_still_gets_the_report(tmp_path: Path) -> None:
    """`rotrace run ... 2>&1 | tee log` (a CI's capture): the command shares the pipe's open
    file description with rotrace, set O_NONBLOCK on it and filled it; with a reader that lags,
    the report's writes failed with EAGAIN and the report was dropped without a word (only the
    exit status was left). rotrace writes its report in blocking mode."""
    reader, writer = os.pipe()
    argv = [*ROTRACE, "run", "--enforce", "--", sys.executable, "-c", NON_BLOCKING_FILL]
    proc = subprocess.Popen(argv, stdout=writer, stderr=writer, cwd=tmp_path)
    os.close(writer)
    try:
        time.sleep(2)  # the reader lags: the pipe is full when the command ends
        got = b""
        while chunk := os.read(reader, 1 << 16):
            got += chunk
    finally:
        os.close(reader)
        status = proc.wait(timeout=60)
    text = got.replace(b"x", b"").decode(errors="replace")
    assert status == 1 and "✗ 1 violation in 1 place" in text, (status, text[-2000:])
    assert not os.path.exists("/etc/rotrace-nonblocking-probe")
