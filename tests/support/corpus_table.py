"""Audit the corpus of real tools (tests/support/corpus.py) and print a table: what each run wrote,
what the generated allowlist mounts, and whether its read-only replay behaves as the run did; then
the applications (tests/support/corpus_apps.py): the plan each got and whether it held.

  scripts/corpus                      this checkout's rotrace (in the venv: scripts/corpus runs this)
  scripts/corpus --rotrace 'CMD...'   another rotrace (an older checkout's venv, say)
"""

from __future__ import annotations

import argparse
import shlex
import sys

from tests.support import corpus_apps
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
    apps = [a for a in corpus_apps.APPS if not args.names or a.name in args.names]
    failed += _apps_table(apps, rotrace)
    total = len(chosen) + len(apps)
    print(f"\n{total - failed} passed, {failed} failed")
    return 1 if failed else 0


def _apps_table(apps: list[corpus_apps.App], rotrace: list[str]) -> int:
    """The applications (tests/support/corpus_apps.py): bare run, plan, replay; how many failed."""
    if not apps:
        return 0
    print("\n| application | bare exit | mounts and settings | build steps | replay exit | verdict |")
    print("|---|---:|---|---|---:|---|")
    failed = 0
    with corpus_apps.site_dir() as site:
        for app in apps:
            out = corpus_apps.audit(app, site, rotrace)
            held = corpus_apps.held(app, out) if app.refused is None else out.export_status == 1
            failed += not held
            plan = " ".join(out.bwrap_args[7:]).replace(str(site.root), "") or "-"
            steps = "; ".join(out.build_steps).replace(str(site.root), "") or "-"
            verdict = "ok" if held else "WRONG" + (" (known: xfail)" if app.xfail else "")
            print(f"| {app.name} | {out.bare_status} | {plan} | {steps} | {out.replay_status} | {verdict} |")
    return failed


if __name__ == "__main__":
    sys.exit(main())
