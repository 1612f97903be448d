"""How the user asked to see the report (a module of its own: the tracer's process reads it
without importing the renderers)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _github() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


@dataclass(frozen=True)
class View:
    """How much of the report to show, and where."""

    verbose: bool = False  # every write
    quiet: bool = False  # the verdict line only
    json: bool = False  # the report document on stdout
    github: bool = field(default_factory=_github)
    stdout_taken: bool = False  # stdout carries the trace or an export: annotations go to stderr
