"""The one thing pyproject.toml cannot declare stably: the tracer's compiled hot path, an
optional extension (without a C compiler rotrace runs its pure-Python loop)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("rotrace.tracer._fastloop", ["src/rotrace/tracer/_fastloop.c"], optional=True)])
