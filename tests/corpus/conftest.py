"""The corpus tier checks its traces against docs/trace.schema.json like the system tier."""

from __future__ import annotations

from tests.system.conftest import traces_match_the_schema

__all__ = ["traces_match_the_schema"]
