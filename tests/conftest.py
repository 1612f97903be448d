"""Fixtures shared by every tier (helpers live in tests/support)."""

from tests.support.tracing import trace_py

__all__ = ["trace_py"]
