"""Known writers: who writes a path, why, and the setting that avoids it."""

from rotrace.explain.known import KNOWN, Known, explain

__all__ = ["KNOWN", "Known", "explain"]
