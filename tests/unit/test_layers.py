"""The layout is the pipeline: cli -> use cases (run/, commands) -> pipeline -> tracer / policy /
report / export. No import runs back up a layer and no import makes a cycle, at a module's top
or inside a function (read from the source's ASTs)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "rotrace"

# Each part and the parts it may import (besides itself). Bottom: shared facts, and pure
# helpers (redact: secrets out of what is recorded).
BASE = {
    "rotrace",
    "rotrace.errors",
    "rotrace.events",
    "rotrace.pathnames",
    "rotrace.escape",
    "rotrace.patterns",
    "rotrace.inputs",
    "rotrace.redact",
    "rotrace.mountinfo",
}
ALLOWED: dict[str, set[str]] = {
    "rotrace.tracer.linux": set(),  # the kernel interface: nothing of the tracer's logic
    "rotrace.tracer": {"rotrace.tracer.linux"},
    "rotrace.explain": set(),
    "rotrace.policy": {"rotrace.explain"},
    "rotrace.record": set(),
    "rotrace.environment": set(),
    "rotrace.spool": set(),
    "rotrace.output": set(),
    "rotrace.tracefile": {"rotrace.explain", "rotrace.policy", "rotrace.record"},
    "rotrace.report": {"rotrace.explain", "rotrace.policy", "rotrace.record"},
    "rotrace.export": {"rotrace.explain", "rotrace.policy"},
    "rotrace.sandbox": {"rotrace.tracer", "rotrace.tracer.linux", "rotrace.policy"},
    "rotrace.pipeline": {
        "rotrace.explain",
        "rotrace.policy",
        "rotrace.record",
        "rotrace.tracefile",
        "rotrace.spool",
        "rotrace.output",
        "rotrace.report",
        "rotrace.export",
    },
    # the files a gate reads after the command ran (`diff`, `check`, `merge`)
    "rotrace.gate_inputs": set(),
    "rotrace.commands": {
        "rotrace.gate_inputs",
        "rotrace.explain",
        "rotrace.pipeline",
        "rotrace.record",
        "rotrace.policy",
        "rotrace.output",
        "rotrace.report",
        "rotrace.tracefile",
    },
    # `rotrace merge`: beside the commands, above the pipeline
    "rotrace.merge": {
        "rotrace.gate_inputs",
        "rotrace.pipeline",
        "rotrace.policy",
        "rotrace.export",
        "rotrace.record",
        "rotrace.report",
        "rotrace.tracefile",
        "rotrace.output",
    },
    # `rotrace kube`: manifests, beside the commands, above the pipeline
    "rotrace.kube": {
        "rotrace.explain",
        "rotrace.pipeline",
        "rotrace.policy",
        "rotrace.export",
        "rotrace.record",
        "rotrace.tracefile",
    },
    # `rotrace run` in two processes; within run/, each module only below itself.
    "rotrace.run.request": {"rotrace.policy", "rotrace.report", "rotrace.tracer"},
    "rotrace.run.handoff": {"rotrace.tracer", "rotrace.tracer.linux", "rotrace.spool"},
    "rotrace.run.tracer_side": {
        "rotrace.run.request",
        "rotrace.run.handoff",
        "rotrace.tracer",
        "rotrace.tracer.linux",
        "rotrace.policy",
        "rotrace.sandbox",
        "rotrace.output",
        "rotrace.pipeline",
    },
    "rotrace.run.report_side": {
        "rotrace.run.request",
        "rotrace.run.handoff",  # its inbox: the messages, and the clock the live line is drawn on
        "rotrace.tracer.linux",  # procfs: what /proc says of the process `run -p` attached to
        "rotrace.pipeline",
        "rotrace.policy",
        "rotrace.record",
        "rotrace.report",
        "rotrace.spool",
        "rotrace.output",
        "rotrace.tracefile",
        "rotrace.tracer",
        "rotrace.environment",
        "rotrace.explain",
    },
    "rotrace.run.init": set(),
    # what the run needs, loaded before the command starts (by name), then nothing from where it writes
    "rotrace.run.sealed": {"rotrace.policy"},
    "rotrace.run.launch": {
        "rotrace.run.init",
        "rotrace.run.sealed",
        "rotrace.report",
        "rotrace.run.handoff",
        "rotrace.run.request",
        "rotrace.run.tracer_side",
        "rotrace.run.report_side",
        "rotrace.tracer",
    },
    "rotrace.run": set(),
    "rotrace.cli": {
        "rotrace.export",
        "rotrace.policy",
        "rotrace.report",
        "rotrace.tracer",
        "rotrace.run.launch",
        "rotrace.run.request",
        "rotrace.commands",
        "rotrace.merge",
        "rotrace.kube",
    },
    "rotrace.entry": {"rotrace.cli", "rotrace.output", "rotrace.run.handoff", "rotrace.run.launch"},
    "rotrace.__main__": {"rotrace.entry"},
}


def _module_of(path: Path) -> str:
    return ".".join(("rotrace", *path.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__")


def _part(module: str) -> str:
    """The longest part named in ALLOWED that holds the module (or the module itself)."""
    if module in BASE:
        return module
    pieces = module.split(".")
    for n in range(len(pieces), 0, -1):
        candidate = ".".join(pieces[:n])
        if candidate in ALLOWED:
            return candidate
    return module


def _imports(path: Path) -> Iterator[str]:
    """Every rotrace module the file imports, anywhere in it (functions and TYPE_CHECKING too)."""
    package = _module_of(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module_of(path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base])
            if base.startswith("rotrace"):
                for alias in node.names:
                    full = f"{base}.{alias.name}"  # `from rotrace.tracer import seccomp` is a module
                    yield full if _is_module(full) else base
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("rotrace"))


def _is_module(name: str) -> bool:
    where = SRC.parent / name.replace(".", "/")
    return any(where.with_suffix(s).exists() for s in (".py", ".pyi")) or (where / "__init__.py").exists()


def _graph() -> dict[str, set[str]]:
    return {_module_of(p): set(_imports(p)) for p in sorted(SRC.rglob("*.py"))}


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = [m for m in _graph() if _part(m) not in ALLOWED and m not in BASE]
    assert unplaced == []


def test_no_import_runs_back_up_a_layer() -> None:
    wrong = []
    for module, imported in _graph().items():
        part = _part(module)
        allowed = BASE if module in BASE else ALLOWED[part] | BASE
        for target in imported:
            target_part = _part(target)
            if target_part != part and target not in allowed and target_part not in allowed:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_import_cycle_between_modules() -> None:
    graph = _graph()
    modules = set(graph)
    cycles = []

    def visit(module: str, path: list[str], on_path: set[str], done: set[str]) -> None:
        for target in sorted(graph[module] & modules):
            if target in (module, "rotrace"):
                continue
            if target in on_path:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in done:
                visit(target, [*path, target], on_path | {target}, done)
        done.add(module)

    done: set[str] = set()
    for module in sorted(modules):
        if module not in done:
            visit(module, [module], {module}, done)
    assert cycles == []


def test_json_is_written_in_two_places() -> None:
    """The trace's schema in tracefile.py; the report document (`--format json`) in report/."""
    users = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "json.dump" in p.read_text())
    assert users == ["report/document.py", "tracefile.py"]


def test_the_stages_are_assembled_in_the_pipeline_module_only() -> None:
    """Classifier, mount planner, aggregate, JSON writer and diff changes are built in one place:
    pipeline.py (and the modules that define them); the commands, `run`'s report side and the
    benchmarks go through it."""
    stages = {"Classifier", "MountPlanner", "Aggregate", "TraceWriter", "Changes", "Summary"}
    defined_in = {
        "policy/verdict.py", "policy/mounts.py", "report/aggregate.py", "tracefile.py", "report/diff.py",
    }  # fmt: skip
    builders = set()
    for path in [*SRC.rglob("*.py"), *(SRC.parents[1] / "benchmarks").rglob("*.py")]:
        rel = str(path.relative_to(SRC)) if path.is_relative_to(SRC) else path.name
        if rel in defined_in:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in stages:
                builders.add(rel)
    assert builders == {"pipeline.py"}


def test_known_writers_table_in_the_docs_is_the_code_s() -> None:
    from tests.support.known_table import table

    assert table() in (SRC.parents[1] / "docs" / "known-writers.md").read_text()
