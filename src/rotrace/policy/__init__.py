"""Policy: which writes are allowed, which land in a virtual environment."""
