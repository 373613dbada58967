"""`python -m envstack seed [--file supabase/seed.sql]`: load test data; refused on production, and
wherever ENVSTACK_ENVIRONMENT does not name the environment."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from envstack.db import migrations
from envstack.db.connect import database_url
from envstack.db.seeding import REFUSAL, is_production, seed, unnamed_environment_problem
from envstack.db.stop import cancel_statements_on_stop
from envstack.errors import SeedRefused


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", type=Path, default=Path("supabase/seed.sql"), help="the seed file")


def run(args: argparse.Namespace) -> int:
    cancel_statements_on_stop()
    environment = os.environ.get("ENVSTACK_ENVIRONMENT", "")
    if is_production(environment):
        # Before the URL is even read: no connection can be attempted.
        raise SeedRefused(REFUSAL)
    problem = unnamed_environment_problem(environment)
    if problem is not None:
        raise SeedRefused(problem)
    # The migrations' bounds (the stack sets them for both): a seed that waits on a lock or a
    # row fails within them instead of holding `pulumi up`, and the stack's lock, for ever.
    limits = migrations.Limits.from_environment(os.environ)
    inserted = seed(database_url(), args.file, environment=environment, limits=limits)
    print(f"seeded {args.file}: {inserted} {'row' if inserted == 1 else 'rows'} inserted")
    return 0
