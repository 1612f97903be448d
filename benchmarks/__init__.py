"""The benchmark against strace (`scripts/bench`, `python -m benchmarks`): workloads (what is
timed and its setup), harness (how a run is timed and measured), checks (the optional tables),
report_passes (the report's passes, run under each rotrace's own Python)."""
