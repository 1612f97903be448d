"""`rotrace merge`: one trace (and so one plan) from many runs of one application.

Beside the commands (commands.py), above the pipeline: it reads traces, writes one in the same
schema (tracefile.py), and leaves the plan to the pipeline, which every command runs on the
merged trace as on any other.
"""
