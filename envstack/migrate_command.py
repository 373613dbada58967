"""`python -m envstack migrate up|status`: the database URL comes from the environment."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

from envstack import migrations

URL_VARIABLES = ("POSTGRES_URL_NON_POOLING", "DATABASE_URL")


def database_url() -> str:
    # Never a command-line argument: it would show in process lists and shell history.
    for name in URL_VARIABLES:
        if os.environ.get(name):
            return os.environ[name]
    raise RuntimeError(f"set {' or '.join(URL_VARIABLES)} to the database's direct connection URL")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("up", "status"))
    parser.add_argument("--dir", type=Path, default=Path("supabase/migrations"))
    parser.add_argument("--json", action="store_true", help="status as JSON")


def run(args: argparse.Namespace) -> int:
    url = database_url()
    if args.action == "status":
        states = migrations.status(url, args.dir)
        if args.json:
            print(json.dumps([asdict(s) for s in states]))
        else:
            print(migrations.format_status(states))
        return 0 if all(s.state in ("applied", "pending") for s in states) else 2
    result = migrations.apply(url, args.dir, log=print)
    print(f"applied {len(result.applied)} migrations, {result.already_applied} already applied")
    return 0
