"""Reproducing `docker run --read-only --tmpfs /tmp` with bubblewrap, with the tracer inside."""
