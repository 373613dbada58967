"""`python -m envstack reset --stack NAME`: a non-production database back to the repository's
migrations and seed data, in place (``envstack.ops.reset`` says how). Refused on production."""

from __future__ import annotations

import argparse
from pathlib import Path

from envstack.db.stop import cancel_statements_on_stop
from envstack.ops import reset
from envstack.ops.stack_view import read_stack
from envstack.redaction import redact


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, help="the stack whose database is reset (never production)")


def run(args: argparse.Namespace) -> int:
    cancel_statements_on_stop()
    view = read_stack(Path.cwd(), args.stack)
    reset.refuse_production(view)

    def say(line: str) -> None:
        print(redact(line, view.secrets), flush=True)

    say(f"resetting the database of {view.name}: public dropped, then migrations and seed data")
    result = reset.reset(view, Path.cwd(), say=say)
    if result.seeded is None:
        say(f"{view.name} does not seed (envstack:seed is false): migrations only")
    else:
        say(f"seeded {view.settings.envstack.seed_file}: {result.seeded} rows inserted")
    how = "in one transaction" if result.one_transaction else "the drop in one transaction, then each migration"
    say(f"reset {view.name}: {len(result.applied)} migrations applied, {how}")
    say(f"The app's login roles keep their grants. Check: python -m envstack doctor --stack {view.name}")
    return 0
