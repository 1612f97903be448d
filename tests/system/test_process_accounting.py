"""acct(2) (root: CAP_SYS_PACCT) opens an existing file for writing and appends a record to it
for every process that exits: a write like an open's, which Landlock checks as one. It went
unseen (a plain run said "no writes" for a protected file written), and a confined run did not
record its refusal. acct(NULL), which turns accounting off, is no write."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.tracing import PY, rotrace_cli

ACCOUNTING = """
import ctypes, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.acct(sys.argv[1].encode()) != 0:
    print("refused", ctypes.get_errno(), file=sys.stderr)
else:
    subprocess.run(["true"])  # one record
    libc.acct(None)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="acct needs CAP_SYS_PACCT")
def test_process_accounting_into_a_file_is_a_write(outside: Path) -> None:
    work = Path(os.path.realpath(outside))
    log = work / "pacct"
    for mode in ([], ["--enforce"]):
        log.write_bytes(b"")
        proc = rotrace_cli("run", *mode, "--json", "t.json", "--", PY, "-c", ACCOUNTING, str(log), cwd=work)
        assert proc.returncode == 1, proc.stderr
        events = [e for e in json.loads((work / "t.json").read_text())["events"] if e["syscall"] == "acct"]
        if mode:
            assert "refused 13" in proc.stderr and log.read_bytes() == b""
            assert [(e["op"], e["path"], e["errno"], e["allowed"]) for e in events] == [
                ("open", str(log), "EACCES", False)
            ]
        else:
            assert log.read_bytes() != b""  # the records were written
            assert [(e["op"], e["path"], e["errno"], e["allowed"]) for e in events] == [
                ("open", str(log), None, False)
            ]
