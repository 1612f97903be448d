"""Fixtures of the system tier: real processes traced (tests/support/tracing.py)."""

from __future__ import annotations

from tests.support.tracing import trace_py

__all__ = ["trace_py"]
