"""`python -m envstack migrate up|status`: the database URL comes from the environment only."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

from envstack.db import migrations
from envstack.db.connect import URL_VARIABLES, database_url
from envstack.db.stop import cancel_statements_on_stop

# `migrate status` exit status when a file was edited after it was applied, or deleted.
DRIFT_EXIT_STATUS = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = f"The database is the URL in {' or '.join(URL_VARIABLES)} (first one set), never an argument."
    actions = parser.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="apply pending migrations in version order")
    up.add_argument(
        "--include-all",
        action="store_true",
        help="also apply pending files older than the newest applied one (as the Supabase CLI's flag)",
    )
    show = actions.add_parser(
        "status",
        help=f"list applied, pending, edited and missing-file migrations (exit {DRIFT_EXIT_STATUS} "
        "when any is edited or missing)",
    )
    show.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    record = actions.add_parser("record", help="write a stack's migration history to a file (no credential in it)")
    record.add_argument("--stack", required=True, help="the stack whose database history is recorded")
    record.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    record.add_argument("--root", type=Path, default=Path.cwd(), help=argparse.SUPPRESS)
    for action in (up, show, record):
        action.add_argument("--dir", type=Path, default=Path("supabase/migrations"), help="the migrations directory")


def run(args: argparse.Namespace) -> int:
    cancel_statements_on_stop()
    if args.action == "record":
        from envstack.ops.migration_history import record_stack

        count = record_stack(args.root.resolve(), args.stack, args.out)
        print(f"recorded {count} applied migrations of {args.stack} in {args.out}")
        return 0
    if args.action == "status":
        states = migrations.status(database_url(), args.dir)
        print(json.dumps([asdict(s) for s in states]) if args.json else migrations.format_status(states))
        drift = any(s.state in ("edited", "missing-file") for s in states)
        return DRIFT_EXIT_STATUS if drift else 0
    limits = migrations.Limits.from_environment(os.environ)
    result = migrations.apply(database_url(), args.dir, log=print, include_all=args.include_all, limits=limits)
    count = len(result.applied)
    print(f"applied {count} {'migration' if count == 1 else 'migrations'}, {result.already_applied} already applied")
    return 0
