"""Human-readable output: the aggregate of a trace and its rich rendering."""
