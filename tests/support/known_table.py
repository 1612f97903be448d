"""The README's table of known writers, made from src/rotrace/explain/known.py.

python -m tests.support.known_table    # print it (tests/unit checks that the README holds it)
"""

from __future__ import annotations

from rotrace.explain import KNOWN

FROM_DOCS = {
    "pip-selfcheck",
    "python-history",
    "pip-cache",
    "hypothesis-db",
    "tox-envs",
    "nox-envs",
    "matplotlib-config",
    "ipython-jupyter",
    "pre-commit-cache",
    "pylint-cache",
    "model-caches",
}


def table() -> str:
    rows = ["| id | what | written by | fix |", "|---|---|---|---|"]
    for k in KNOWN:
        mark = " (†)" if k.id in FROM_DOCS else ""
        rows.append(f"| `{k.id}`{mark} | {k.title} | {k.who} | {k.fix} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(table(), end="")
