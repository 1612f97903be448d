"""The table of known writers in docs/known-writers.md, made from src/rotrace/explain/known.py.

python -m tests.support.known_table    # print it (tests/unit checks that docs/known-writers.md holds it)
"""

from __future__ import annotations

import re

from rotrace.explain import KNOWN

FROM_DOCS = {
    "pip-selfcheck",
    "python-history",
    "pip-cache",
    "hypothesis-db",
    "tox-envs",
    "nox-envs",
    "matplotlib-config",
    "ipython",
    "jupyter-data",
    "jupyter-config",
    "numba-cache",
    "xdg-cache",
    "virtualenv-app-data",
    "pip-build-env",
    "pre-commit-cache",
    "pylint-cache",
    "huggingface-cache",
    "torch-cache",
}


_CODE_SPAN = re.compile(r"(`[^`]*`)")
# Outside code spans: what Markdown would read as markup (emphasis, HTML, links, a cell's end).
# An underscore inside a word (UV_NO_SYNC) is never emphasis and is left as written.
_MARKUP = re.compile(r"[\\*|<\[\]]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _cell(text: str) -> str:
    """Prose for a table cell: shown as written (__pycache__ is a name, not bold; a `|`, even in
    code, does not end the cell)."""
    parts = _CODE_SPAN.split(text)
    return "".join(
        p.replace("|", "\\|") if p.startswith("`") else _MARKUP.sub(lambda m: "\\" + m.group(0), p)
        for p in parts
    )


def table() -> str:
    rows = ["| id | what | written by | fix |", "|---|---|---|---|"]
    for k in KNOWN:
        mark = " (†)" if k.id in FROM_DOCS else ""
        rows.append(f"| `{k.id}`{mark} | {_cell(k.title)} | {_cell(k.who)} | {_cell(k.fix)} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(table(), end="")
