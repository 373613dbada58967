"""`python -m envstack restore --stack NAME --to <time | restore point> [--yes-production]`.

Brings a stack's Supabase database back to a time (ISO-8601 with its zone, or unix seconds)
or a restore point, after checking that it can (``envstack.ops.restore``), waits until the
project is healthy again and says what to run next. On production it prints the API call it
would make and refuses, unless ``--yes-production`` says a person decided.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from envstack.clients.supabase_backups import SupabaseBackupsClient
from envstack.errors import Refused
from envstack.ops import restore
from envstack.ops.stack_view import read_stack
from envstack.redaction import redact


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, help="the stack whose database is restored (staging, production)")
    parser.add_argument(
        "--to",
        required=True,
        metavar="TIME_OR_POINT",
        help="an ISO-8601 time with its zone (2026-12-03T17:40:00Z), unix seconds, or a restore point name",
    )
    parser.add_argument(
        "--yes-production", action="store_true", help="restore production (without it: print the call and stop)"
    )


def run(args: argparse.Namespace) -> int:
    target = restore.parse_target(args.to)
    view = read_stack(Path.cwd(), args.stack)
    # A local database or a preview branch is refused before the token is asked for.
    _, api = restore.project_of(view)

    def say(line: str) -> None:
        print(redact(line, view.secrets), flush=True)

    with SupabaseBackupsClient(base_url=api, token=restore.token()) as client:
        planned = restore.check(view, target, client)
        if view.settings.is_production and not args.yes_production:
            say(f"{view.name}: restoring production is a person's decision. The call it takes:\n")
            say(planned.call.render())
            raise Refused(
                f"nothing was restored: make the call above, or run again with --yes-production "
                f"(writes after {target} are lost)"
            )
        restore.run(planned, client, say=say)
    for line in restore.next_steps(view, Path.cwd(), planned):
        say(line)
    return 0
