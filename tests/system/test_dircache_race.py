"""A directory swapped for a symlink without pause by a process outside the traced tree, while
the traced command writes into it (tracer/dircache.py): the kernel does not order such a swap
against a write, so a write may land in either directory. Each placed write must be where the
file is at the end (the kernel's truth: which directory holds the name), or marked unresolved,
never placed in the other directory. rotrace runs as its own process (the CLI), the swapper is
another: no thread of the tracer's own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.tracing import LOOPS, PY, rotrace_cli

WRITES = 2000

# RENAME_EXCHANGE of d (a directory) and s (a symlink to B), as fast as Python goes; on
# SIGTERM it stops with d the directory again, and prints how many swaps it made.
_SWAPPER = """
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(sys.argv[1])
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
how = sys.argv[2]
n = 0
print("ready", flush=True)
while not stop:
    if how == "exchange":
        if libc.renameat2(-100, b"d", -100, b"s", 2) != 0:
            sys.exit(ctypes.get_errno())
    else:  # the directory moved aside, a symlink elsewhere at its name, then back
        os.rename("d", "d.real"); os.symlink("B", "d"); os.unlink("d"); os.rename("d.real", "d")
    n += 1
if how == "exchange" and n % 2:
    libc.renameat2(-100, b"d", -100, b"s", 2)
print(n, flush=True)
"""


def _env(loop: str) -> dict[str, str]:
    unset = ("COLUMNS", "ROTRACE_DIRCACHE", "ROTRACE_PURE_LOOP")  # the cache's default: on
    env = {k: v for k, v in os.environ.items() if k not in unset}
    if loop == "pure":
        env["ROTRACE_PURE_LOOP"] = "1"
    return env


@pytest.mark.parametrize("how", ["exchange", "rename and symlink"])
@pytest.mark.parametrize("loop", LOOPS)
def test_a_racing_swap_by_another_process_is_placed_right_or_unresolved(
    tmp_path: Path, loop: str, how: str
) -> None:
    (tmp_path / "d").mkdir()  # A
    (tmp_path / "B").mkdir()
    (tmp_path / "s").symlink_to("B")
    writer = textwrap.dedent(f"""
        import os
        for i in range({WRITES}):
            try:
                os.mkdir({str(tmp_path / "d")!r} + "/m%d" % i)
            except OSError:
                pass
    """)
    swapper = subprocess.Popen(
        [sys.executable, "-c", _SWAPPER, str(tmp_path), how.split(maxsplit=1)[0]],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert swapper.stdout is not None and swapper.stdout.readline() == "ready\n"
        trace = str(tmp_path / "t.json")
        run = rotrace_cli("run", "-q", "--json", trace, "--", PY, "-c", writer, env=_env(loop))
    finally:
        swapper.send_signal(signal.SIGTERM)
        out, _ = swapper.communicate(timeout=60)
    assert run.returncode in (0, 1), run.stderr  # 1: writes outside the default allowlist
    assert swapper.returncode == 0 and int(out.split()[-1]) > 0
    assert (tmp_path / "d").is_dir() and not (tmp_path / "d").is_symlink()
    holds = {"A": set(os.listdir(tmp_path / "d")), "B": set(os.listdir(tmp_path / "B"))}
    names = {str(tmp_path / "d"): "A", str(tmp_path / "d.real"): "A", str(tmp_path / "s"): "A"}
    names[str(tmp_path / "B")] = "B"
    events = json.loads((tmp_path / "t.json").read_text())["events"]
    made = [e for e in events if e["op"] == "mkdir" and e["result"] == 0 and "/m" in e["path"]]
    assert len(made) == sum(len(h) for h in holds.values())
    wrong = []
    for e in made:
        if e["unresolved"]:
            continue
        parent, _, name = e["path"].rpartition("/")
        if name not in holds.get(names.get(parent, "?"), set()):
            wrong.append(e["path"])
    assert not wrong, f"{len(wrong)} of {len(made)} writes placed where they are not: {wrong[:5]}"
