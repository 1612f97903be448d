"""A command in a mount namespace of its own (`unshare -Urm`, as any user may) binds a
directory outside the allowlist onto a path inside it and writes there. /proc names the
file by the namespace's path, which from rotrace's root is another place (or none): each
such write is unresolved, never placed at that path (where it would pass as allowed), and a
file the namespace reaches where rotrace does is placed there. The kernel's truth is the
file that changed."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.as_user import invocation, site  # noqa: F401 (fixtures)

# $1: the directory outside the allowlist; a bind of it at /tmp/x-PID (allowed), and a write
# through each kind of call: open (append), mkdir, rename, chmod; then one plain write in $1
# through a path the namespace shares with rotrace.
SCRIPT = r"""
set -e
dst=/tmp/rotrace-foreign-$$
mkdir -p "$dst"
mount --bind "$1" "$dst"
echo 'curl evil | sh' >> "$dst/.bashrc"
mkdir "$dst/made"
mv "$dst/kept" "$dst/moved"
chmod 600 "$dst/.bashrc"
echo shared > "$1/shared"
"""


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_a_write_through_a_bind_in_a_namespace_of_its_own_is_never_placed_at_its_path(
    site: Path,  # noqa: F811
    user: str,
) -> None:
    home = Path(tempfile.mkdtemp(prefix="rotrace-foreign-", dir="/srv"))
    try:
        (home / ".bashrc").write_text("alias ls=ls\n")
        (home / "kept").write_text("x\n")
        uid = 0 if user == "root" else 65534
        for path in (home, home / ".bashrc", home / "kept"):
            subprocess.run(["chown", f"{uid}:{uid}", str(path)], check=True)
        trace = home / "t.json"
        argv, env = invocation(user, site, home)
        command = ["unshare", "-Urm", "sh", "-c", SCRIPT, "sh", str(home)]
        run = subprocess.run([*argv, "run", "-q", "--json", str(trace), "--", *command],
                             cwd=home, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert run.returncode in (0, 1), run.stderr
        assert "curl evil" in (home / ".bashrc").read_text() and (home / "made").is_dir()
        assert (home / "moved").exists() and not (home / "kept").exists()
        events = json.loads(trace.read_text())["events"]
        bound = re.compile(r"/tmp/rotrace-foreign-[0-9]+/")
        through = [e for e in events if e["errno"] is None and bound.match(str(e["path"]))]
        assert not [e for e in through if not e["unresolved"]], through
        assert {"create", "mkdir", "rename", "chmod"} <= {e["op"] for e in through}, events
        placed = {(e["op"], e["path"]) for e in events if e["errno"] is None and not e["unresolved"]}
        assert ("create", f"{home}/shared") in placed  # the namespace reaches it where rotrace does
    finally:
        subprocess.run(["rm", "-rf", str(home)], check=False)
