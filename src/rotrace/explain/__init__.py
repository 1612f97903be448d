"""Known writers: who writes a path, why, and the setting that avoids it."""

from rotrace.explain.known import BY_ID, KNOWN, READ_ONLY_DATABASE, Known, explain, offline_writers

__all__ = ["BY_ID", "KNOWN", "READ_ONLY_DATABASE", "Known", "explain", "offline_writers"]
