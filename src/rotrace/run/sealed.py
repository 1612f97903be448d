"""In a confined run, no code loaded from where the command may write once it runs.

`--enforce` confines the command, not rotrace, and `--read-only --keep-writes` binds the host's
allowed directories into the sandbox: a module rotrace's own processes import after the
command started (the report's, an export's, a part of rich drawn late) would run what the
command wrote there, unconfined, outside the allowlist. rotrace installed in an allowed
directory is no rare case: a project's `.venv` with `--allow .`, a CI clone under the default
allowlist's /tmp, `python -m rotrace` from the project (its directory first on the module
path), compiled copies under PYTHONPYCACHEPREFIX. So both processes import what the run may
need before the command starts (`preload`), and `seal` then refuses to load a module from a
place the allowlist lets the command write, or from a file with another name (a hard link
the command may reach): a forgotten import is an error of rotrace's (exit 5), never the
command's code run by rotrace. (`--read-only` alone needs none of it: the command writes
into the sandbox's tmpfs, never the host's files.)
"""

from __future__ import annotations

import importlib
import io
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

from rotrace.errors import SandboxError
from rotrace.policy.allowlist import Allowlist

# What the report process may import once the command runs: the report and its passes, the
# exports (--emit), the CI summary, the terminal's rendering and live line, and the parts of
# rich a report draws on first use (found with an audit hook over runs of every option).
REPORT_MODULES: tuple[str, ...] = (
    "rotrace.run.report_side",
    "rotrace.export.formats",
    "rotrace.export.mapping",
    "rotrace.policy.policyfile",
    "rotrace.policy.runtime",
    "rotrace.report.document",
    "rotrace.report.github",
    "rotrace.report.quiet",
    "rotrace.report.render",
    "rotrace.report.diff",
    "select",
    "yaml",
    "tomli_w",
    "rich.align",
    "rich.console",
    "rich.constrain",
    "rich.containers",
    "rich.emoji",
    "rich.highlighter",
    "rich.jupyter",
    "rich.live",
    "rich.markup",
    "rich.pager",
    "rich.region",
    "rich.screen",
    "rich.styled",
    "rich.text",
    "rich._emoji_replace",
    "rich._export_format",
    "rich._log_render",
    "rich._wrap",
)
# What the tracer's side may import once the request is made: its checks before the start (the
# inherited descriptors, a baseline read), the sandbox, a failure said, the report's end waited for.
TRACER_MODULES: tuple[str, ...] = (
    "rotrace.run.tracer_side",
    "rotrace.tracer.session",
    "rotrace.tracer.linux.registers",  # (a refused call's result is set in the registers)
    "rotrace.policy.inherited",
    "rotrace.pipeline",
    "rotrace.report.diff",  # (--baseline: read before the command starts, pipeline.load_changes)
    "rotrace.sandbox.bwrap",
    "rotrace.errors",
    "select",
    "signal",
    "time",
    "traceback",
)


class CodeWritable(SandboxError):
    """A module would be loaded from a place the confined command may write."""


def preload(modules: Iterable[str], draw: bool = False) -> None:
    """Import `modules` now; `draw`: draw a line of every kind the report draws, to nothing, so
    that rich loads what it loads on first use (its width tables, its renderers)."""
    for name in modules:
        importlib.import_module(name)
    if draw:
        from rich.console import Console
        from rich.text import Text

        console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=40)
        console.print(Text.from_markup("[bold red]✗[/] é 漢字 [dim]·[/] …"), soft_wrap=False)


def seal(allowlist: Allowlist) -> None:
    """From now on, this process refuses to import a module found where `allowlist` lets the
    command write (the file, its compiled copy, or a package's directory)."""
    if not any(isinstance(finder, _Sealed) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Sealed(lambda path: allowlist.allows(os.fsencode(path))))


class _Sealed:
    """A finder ahead of the others: asks them, and refuses what they find in a writable place."""

    def __init__(self, writable: Callable[[str], bool]) -> None:
        self._writable = writable

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        spec: ModuleSpec | None = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        if spec is None:
            return None
        for place in _places(spec):
            if self._writable(place) or self._writable(os.path.realpath(place)):
                raise CodeWritable(
                    f"{name} would be loaded from {place} while the command runs, where the confined"
                    " command may write: install rotrace outside the allowlist's directories"
                )
            if _linked(place):
                raise CodeWritable(
                    f"{name} would be loaded from {place} while the command runs, a file with another"
                    " name (a hard link), which the confined command may reach"
                )
        return spec


def _linked(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False  # not there (a compiled copy not made yet): nothing to load from it
    return st.st_nlink > 1 and not os.path.isdir(path)


def _places(spec: ModuleSpec) -> list[str]:
    places = [spec.origin] if spec.has_location and spec.origin else []
    if spec.cached:
        places.append(spec.cached)
    places += spec.submodule_search_locations or []
    return [os.path.abspath(p) for p in places]
