"""The seed (uv issue 14411), on the real binaries: which uv versions write into `.venv` when
`uv run` starts in a read-only root, and does UV_NO_SYNC stop it?

For each version (PyPI wheels, cached in ~/.cache/rotrace/uv) it builds an offline project
with no dependencies, `uv sync`s it, then audits `uv run python --version` under
`rotrace run --read-only` (a read-only root, a tmpfs on /tmp) with each setting.

    scripts/uv-version-matrix 0.7.13 0.7.14 0.7.19
    scripts/uv-version-matrix 0.7.13..0.7.18
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.support.uvtools import SETTINGS, TMP_READ_ONLY, audit_uv


def expand(specs: list[str]) -> list[str]:
    """`0.7.13..0.7.18` is every patch release in between."""
    versions: list[str] = []
    for spec in specs:
        if ".." in spec:
            first, last = spec.split("..")
            major_minor, lo = first.rsplit(".", 1)
            last_mm, hi = last.rsplit(".", 1)
            if major_minor != last_mm:
                raise SystemExit(f"uv-version-matrix: a range stays within one minor version: {spec}")
            versions += [f"{major_minor}.{p}" for p in range(int(lo), int(hi) + 1)]
        else:
            versions.append(spec)
    return versions


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("versions", nargs="+", help="uv versions, or ranges like 0.7.13..0.7.18")
    args = parser.parse_args()
    settings = [*SETTINGS, TMP_READ_ONLY]
    print("| uv | settings | uv exit | writes into .venv (errno) | other writes outside the allowlist |")
    print("|---|---|---:|---|---|")
    with tempfile.TemporaryDirectory(prefix="rotrace-uv-matrix-") as tmp:
        for version in expand(args.versions):
            for setting in settings:
                cell = audit_uv(version, setting, Path(tmp), [sys.executable, "-m", "rotrace"])
                row = (version, setting, cell.exit_code, cell.venv_summary, cell.other_summary)
                print("| " + " | ".join(map(str, row)) + " |")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
