"""The layout is the pipeline: no import runs back up a layer (read from the source's ASTs)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "rotrace"

# What each part may import from rotrace (besides itself). Bottom: shared facts.
BASE = {"rotrace", "rotrace.errors", "rotrace.events", "rotrace.pathnames", "rotrace.escape"}
ALLOWED = {
    "tracer": BASE,
    "explain": BASE,
    "policy": BASE | {"explain"},
    "tracefile": BASE | {"explain", "policy"},
    "spool": BASE,
    "channel": BASE | {"tracer"},
    "output": BASE,
    "sandbox": BASE | {"tracer", "policy", "channel"},
    "report": BASE | {"explain", "policy", "tracefile"},
    "export": BASE | {"explain", "policy"},
    "environment": BASE,
    # The use cases: `run` in two processes (audit: the tracer's side; handoff: the pipe and
    # the fork; runner: the report process and the other commands).
    "handoff": BASE | {"channel", "runner", "spool", "tracer"},
    "audit": BASE | {"channel", "handoff", "output", "policy", "report", "runner", "sandbox", "tracer"},
    "runner": BASE
    | {"audit", "channel", "explain", "policy", "tracefile", "spool", "report", "export", "environment"}
    | {"output"},
    "cli": BASE | {"audit", "runner", "tracer", "policy", "export", "report"},
    "entry": BASE | {"cli", "handoff", "output"},
    "__main__": BASE | {"entry"},
}


def _part(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "rotrace"
    return module if module in BASE else parts[1]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rotrace"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("rotrace"))
    return found


def test_no_import_runs_back_up_a_layer() -> None:
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        module = ".".join(("rotrace", *path.relative_to(SRC).with_suffix("").parts))
        module = module.removesuffix(".__init__")
        part = _part(module)
        allowed = BASE if module in BASE or part == "rotrace" else ALLOWED[part]
        for imported in _imports(path):
            target = _part(imported)
            if target != part and imported not in allowed and target not in allowed:
                wrong.append(f"{module} imports {imported}")
    assert wrong == []


def test_json_is_written_in_two_places() -> None:
    """The trace's schema in tracefile.py; the report document (`--format json`) in report/."""
    users = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "json.dump" in p.read_text())
    assert users == ["report/document.py", "tracefile.py"]


def test_readme_known_writers_table_is_the_code_s() -> None:
    from tools.known_table import table

    assert table() in (SRC.parents[1] / "README.md").read_text()
