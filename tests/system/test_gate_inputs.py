"""A gate's inputs rewritten by the traced command, on real runs: a command in the checkout
that holds the committed baseline rewrites it to list its own new write; `diff` then read the
forgery and said "no change". The trace shows the write, and the gate refuses it (exit 3)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.support.places import srv_dir
from tests.support.tracing import PY

ROTRACE = [PY, "-m", "rotrace"]

# With --evil: a new lasting write in the checkout, then the baseline rewritten to hold it.
APP = textwrap.dedent(
    """
    import json, os, sys
    if "--evil" in sys.argv:
        open("evil.pth", "w").write("import os\\n")
        with open(".rotrace/baseline.json") as f:
            trace = json.load(f)
        forged = dict(trace["events"][-1], path=os.path.abspath("evil.pth"))
        trace["events"].append(forged)
        with open(".rotrace/baseline.json", "w") as f:
            json.dump(trace, f)
    open("out.txt", "w").write("ran\\n")
    """
)


def _rotrace(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ROTRACE, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_diff_refuses_a_run_that_rewrote_its_baseline() -> None:
    with srv_dir("rotrace-gate-") as app:  # a checkout outside the default allowlist
        (app / ".rotrace").mkdir()
        (app / "app.py").write_text(APP)
        made = _rotrace(app, "run", "-q", "--json", ".rotrace/baseline.json", "--", PY, "app.py")
        assert made.returncode == 1, made.stderr  # out.txt: a violation, the baseline's own
        run = _rotrace(app, "run", "-q", "--json", "new.json", "--", PY, "app.py", "--evil")
        assert run.returncode == 1 and (app / "evil.pth").exists(), run.stderr
        events = json.loads((app / ".rotrace" / "baseline.json").read_text())["events"]
        assert any(e["path"] == str(app / "evil.pth") for e in events)  # the forgery is in place
        diffed = _rotrace(app, "diff", ".rotrace/baseline.json", "new.json")
        assert diffed.returncode == 3, (diffed.stdout, diffed.stderr)
        assert "new.json: the traced command wrote the baseline .rotrace/baseline.json" in diffed.stderr
        assert "no change" not in diffed.stdout
        # the same two runs, the baseline kept out of the command's reach: the gate sees evil.pth
        (app / "kept.json").write_text((app / "new.json").read_text())
        clean = _rotrace(app, "run", "-q", "--json", str(app / "clean.json"), "--", PY, "app.py")
        assert clean.returncode == 1, clean.stderr
        gated = _rotrace(app, "diff", "clean.json", "kept.json")
        assert gated.returncode == 1 and "evil.pth" in gated.stdout, (gated.stdout, gated.stderr)


MOUNTS_OVER_POLICY = """
printf 'version = 1\\nallow = ["/"]\\n' > /tmp/rotrace-mine.toml
{unshare} mount --bind /tmp/rotrace-mine.toml rotrace.toml
echo ran > out.txt
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="binds a file in rotrace's mount namespace: root's")
@pytest.mark.parametrize(
    "unshare", ["", "unshare -Urm", "unshare -m --propagation private"],
    ids=["rotrace-namespace", "user-namespace", "private-namespace"],
)  # fmt: skip
def test_check_refuses_a_run_that_mounted_over_the_policy(unshare: str) -> None:
    """A command run as root bound its own file (`allow = ["/"]`) over the committed policy and
    wrote outside it: the bind outlasted the run, no write named the policy, and `check` read
    the bound file: exit 0. The trace says the command changed rotrace's mounts (`remounted`),
    and the gate refuses it (3). In a namespace of its own (a user namespace's, or a private
    one: bwrap, podman, a sandbox as root) the bind reaches no file of rotrace's namespace: the
    check reads the policy as committed."""
    own_namespace = bool(unshare)
    with srv_dir("rotrace-gate-") as app:
        (app / "rotrace.toml").write_text('version = 1\nallow = ["/tmp"]\n')
        script = MOUNTS_OVER_POLICY.format(unshare=unshare)
        rotrace = shlex.join(ROTRACE)
        traced = f"{rotrace} run -q --json t.json -- sh -c {shlex.quote(script)}"
        job = f"{traced}; {rotrace} check -q t.json; echo check=$?"
        # the job in a mount namespace of its own (as a CI container is), which the bind dies with
        proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", job], cwd=app,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        trace = json.loads((app / "t.json").read_text())
        if own_namespace:
            assert "remounted" not in trace and "check=1" in proc.stdout, (proc.stdout, proc.stderr)
            return
        assert trace["remounted"] == ["mount"], trace.get("warnings")
        assert "check=3" in proc.stdout, (proc.stdout, proc.stderr)
        assert "changed the mounts of rotrace's mount namespace (mount)" in proc.stderr
        assert "the policy file" in proc.stderr


UMOUNT_I386 = r"""
#include <fcntl.h>
#include <string.h>
static char name[4096];  /* static, -no-pie: below 4 GiB, where int $0x80 reads it */
int main(int argc, char **argv) {
    long ret;
    strcpy(name, argv[1]);
    __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(22), "b"(name) : "memory");  /* i386 umount */
    return ret != 0 || open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644) < 0;
}
"""


@pytest.mark.needs("gcc")
@pytest.mark.skipif(os.geteuid() != 0, reason="unmounts in rotrace's mount namespace: root's")
def test_check_refuses_a_run_that_unmounted_the_policy_through_the_i386_call(tmp_path: Path) -> None:
    """CI binds the committed policy over the checkout's; the command, as root, removed that
    bind with i386's umount (int $0x80, call 22), uncovering a lax policy, and wrote outside the
    committed one: no table numbered that call, so it was not trapped, `remounted` stayed empty
    and `check` read the lax file: exit 0."""
    if os.uname().machine != "x86_64":
        pytest.skip("x86_64's i386 ABI")
    program, source = tmp_path / "umount80", tmp_path / "umount80.c"
    source.write_text(UMOUNT_I386)
    subprocess.run(["gcc", "-static", "-no-pie", "-o", str(program), str(source)], check=True)
    with srv_dir("rotrace-gate-") as app:
        (app / "rotrace.toml").write_text('version = 1\nallow = ["/"]\n')  # the lax one, underneath
        (app / "committed.toml").write_text('version = 1\nallow = ["/tmp"]\n')
        rotrace = shlex.join(ROTRACE)
        traced = f"{rotrace} run -q --json t.json -- {program} {app}/rotrace.toml {app}/outside"
        job = (
            f"mount --bind committed.toml rotrace.toml && {traced}; {rotrace} check -q t.json; echo check=$?"
        )
        proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", job], cwd=app,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert (app / "outside").exists(), proc.stderr  # the kernel's truth: unmounted, then written
        trace = json.loads((app / "t.json").read_text())
        assert trace["remounted"] == ["umount"], trace.get("warnings")
        assert "check=3" in proc.stdout, (proc.stdout, proc.stderr)
        assert "changed the mounts of rotrace's mount namespace (umount)" in proc.stderr
