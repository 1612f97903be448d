"""How the user asked to see the report (a module of its own: the tracer's process reads it
without importing the renderers)."""

from __future__ import annotations

import os
from typing import NamedTuple


class _Fields(NamedTuple):
    verbose: bool  # every write
    quiet: bool  # the verdict line only
    json: bool  # the report document on stdout
    github: bool  # GitHub Actions: annotations and a step summary
    stdout_taken: bool  # stdout carries the trace or an export: annotations go to stderr


class View(_Fields):
    """How much of the report to show, and where (`github`, unless told: whether this runs in
    GitHub Actions)."""

    __slots__ = ()

    def __new__(
        cls,
        verbose: bool = False,
        quiet: bool = False,
        json: bool = False,
        github: bool | None = None,
        stdout_taken: bool = False,
    ) -> View:
        if github is None:
            github = os.environ.get("GITHUB_ACTIONS") == "true"
        return super().__new__(cls, verbose, quiet, json, github, stdout_taken)
