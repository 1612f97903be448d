"""Audit the corpus of real tools (tests/support/corpus.py) and print a table: what each run wrote,
what the generated allowlist mounts, and whether its read-only replay behaves as the run did.

  scripts/corpus                      this checkout's rotrace (in the venv: scripts/corpus runs this)
  scripts/corpus --rotrace 'CMD...'   another rotrace (an older checkout's venv, say)
"""

from __future__ import annotations

import argparse
import shlex
import sys

from tests.support.corpus import WORKLOADS, audit, base_dir, problems
from tests.support.uvtools import installed_uv


def main() -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--rotrace", default=f"{sys.executable} -m rotrace", help="how to run rotrace")
    parser.add_argument("names", nargs="*", help="only these workloads")
    args = parser.parse_args()
    rotrace = shlex.split(args.rotrace)
    chosen = [w for w in WORKLOADS if not args.names or w.name in args.names]
    print("| workload | exit | violations | mounts | not mountable | replay exit / violations | verdict |")
    print("|---|---:|---:|---|---|---|---|")
    failed = 0
    with base_dir(installed_uv()) as base:
        for w in chosen:
            out = audit(w, base, rotrace)
            wrong = problems(out, w, base)
            failed += bool(wrong)
            mounts = ", ".join(m.replace(str(base.root), "") for m in out.mounts) or "-"
            blocked = len({line.split(": ", 2)[1].split(" (")[0] for line in out.blocked if ": " in line})
            verdict = "ok" if not wrong else "WRONG: " + "; ".join(wrong).replace(str(base.root), "")
            print(f"| {w.name} | {out.exit_code} | {out.violations} | {mounts} | {blocked} | "
                  f"{out.replay_exit_code} / {out.replay_violations} | {verdict[:300]} |")  # fmt: skip
    print(f"\n{len(chosen) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
