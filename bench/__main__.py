"""`python -m bench`: run envstack's benchmarks, print the table, write docs/benchmarks.md.

    python -m bench                       # everything, the test suite last (about half an hour on 2 CPUs)
    python -m bench --only noop --runs 3  # one section; docs/benchmarks.md is left alone

Needs what the tests need (`. scripts/bootstrap.sh`, and scripts/install-node-tools.sh for
the local Vercel API; `make bench` does both).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import from_scratch, migration_runner, noop, pull_requests, suite, variables
from bench.local_apis import local_apis
from bench.report import Section, markdown, text_table

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("noop", "scratch", "variables", "prs", "migrations", "suite")
OUTPUT = ROOT / "docs" / "benchmarks.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure; the median is reported")
    parser.add_argument("--pr-runs", type=int, default=3, help="runs of the twenty pull-request stacks")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run only this section (repeatable)")
    parser.add_argument("--output", type=Path, help=f"where to write the results (default {OUTPUT}, full runs only)")
    args = parser.parse_args(argv)
    chosen = args.only or list(SECTIONS)
    sections: list[Section] = []
    with local_apis() as apis:
        for key in chosen:
            print(f"bench: {key} …", file=sys.stderr, flush=True)
            if key == "noop":
                sections.append(noop.measure(apis, args.runs))
            elif key == "scratch":
                sections.append(from_scratch.measure(apis, args.runs))
            elif key == "variables":
                sections.append(variables.measure(apis, args.runs))
            elif key == "prs":
                sections.append(pull_requests.measure(apis, args.pr_runs))
            elif key == "migrations":
                sections.append(migration_runner.measure(args.runs))
            else:
                sections.append(suite.measure())
    print(text_table(sections))
    output = args.output or (OUTPUT if not args.only else None)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(markdown(sections))
        print(f"bench: wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
