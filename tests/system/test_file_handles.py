"""open_by_handle_at(2) opens a file by its handle, with no path: for writing, a write attempt
like open's. It needs CAP_DAC_READ_SEARCH (root). Landlock checks the file it reaches (EACCES
outside the allowlist); the refusal is recorded where the handle leads, and an open that went
through is named by the fd it returned."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.tracing import PY, rotrace_cli

BY_HANDLE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for name in sys.argv[1:]:
    handle = ctypes.create_string_buffer(8 + 128)
    ctypes.c_uint.from_buffer(handle).value = 128
    mount_id = ctypes.c_int()
    assert libc.name_to_handle_at(-100, name.encode(), handle, ctypes.byref(mount_id), 0) == 0
    mount = os.open(os.path.dirname(name), os.O_RDONLY)
    fd = libc.open_by_handle_at(mount, handle, os.O_WRONLY | os.O_APPEND)
    if fd < 0:
        print("refused", name, ctypes.get_errno(), file=sys.stderr)
    else:
        os.write(fd, b"through a handle\\n")
        print("wrote", name, file=sys.stderr)
"""


def _run(work: Path, *mode: str) -> list[dict]:  # type: ignore[type-arg]
    for name in ("in/file", "protected"):
        (work / name).write_text("")
    proc = rotrace_cli("run", *mode, "--allow", f"{work}/in", "--json", "t.json", "--", PY, "-c", BY_HANDLE,
                       f"{work}/protected", f"{work}/in/file", cwd=work)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    trace = json.loads((work / "t.json").read_text())
    return [e for e in trace["events"] if e["syscall"] == "open_by_handle_at"]


def test_a_write_through_a_file_handle_is_recorded(outside: Path) -> None:
    work = Path(os.path.realpath(outside))
    (work / "in").mkdir()
    audit = _run(work)
    assert (work / "protected").read_text() == "through a handle\n"
    assert [(e["op"], e["path"], e["errno"], e["allowed"]) for e in audit] == [
        ("open", f"{work}/protected", None, False),
        ("open", f"{work}/in/file", None, True),
    ]
    enforced = _run(work, "--enforce")
    assert (work / "protected").read_text() == "" and (
        work / "in" / "file"
    ).read_text() == "through a handle\n"
    assert [(e["path"], e["errno"], e["allowed"], e["unresolved"]) for e in enforced] == [
        (f"{work}/protected", "EACCES", False, False),
        (f"{work}/in/file", None, True, False),
    ]
    assert json.loads((work / "t.json").read_text())["summary"]["went_through"] == 0


def test_a_handle_that_names_nothing_is_never_allowed(outside: Path) -> None:
    """A handle rotrace cannot open names no place: the write is unresolved (shown by the
    directory its mount fd is), never allowed, though that directory is in the allowlist."""
    work = Path(os.path.realpath(outside))
    stale = (
        "import ctypes, os, struct\n"
        "handle = ctypes.create_string_buffer(struct.pack('=Ii', 8, 1) + b'\\xff' * 8)\n"
        f"mount = os.open({str(work)!r}, os.O_RDONLY)\n"
        "fd = ctypes.CDLL(None, use_errno=True).open_by_handle_at(mount, handle, os.O_WRONLY)\n"
        "assert fd < 0\n"
    )
    proc = rotrace_cli("run", "--allow", str(work), "--json", "t.json", "--", PY, "-c", stale, cwd=work)
    assert proc.returncode == 1, proc.stderr
    (event,) = [
        e for e in json.loads((work / "t.json").read_text())["events"] if e["syscall"] == "open_by_handle_at"
    ]
    assert (event["path"], event["unresolved"], event["allowed"]) == (str(work), True, False)
    assert event["errno"] in ("ESTALE", "EINVAL")
