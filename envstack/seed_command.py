"""`python -m envstack seed`: load supabase/seed.sql; refused when ENVSTACK_ENVIRONMENT=production."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from envstack.migrate_command import database_url
from envstack.seeding import seed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", type=Path, default=Path("supabase/seed.sql"))


def run(args: argparse.Namespace) -> int:
    environment = os.environ.get("ENVSTACK_ENVIRONMENT", "")
    if environment == "production":
        # Checked before reading any URL, so no connection is even attempted.
        raise RuntimeError("refusing to seed: production never receives test data")
    inserted = seed(database_url(), args.file, environment=environment)
    print(f"seeded {inserted} rows from {args.file}")
    return 0
