"""`python -m envstack doctor --stack NAME [--json]`: is this environment healthy?

One line per check (``envstack.ops.health`` says which), each pass, FAIL or skip; exit status
1 when any check fails. Only reads. The stack and the credentials come from the same
environment as the `pulumi` CLI's. Secrets are never printed, in either form: checks write
no values, and all output is redacted once more with every secret the stack holds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from envstack.ops import checks, health
from envstack.ops.stack_view import read_stack

FAILED_EXIT_STATUS = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, help="the stack to check (staging, production, pr-<n>, dev)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    view = read_stack(Path.cwd(), args.stack)
    results = health.diagnose(view, Path.cwd())
    if args.json:
        print(checks.render_json(view.name, results, view.secrets))
    else:
        print(checks.render_table(f"envstack doctor: {view.name} ({view.settings.environment})", results, view.secrets))
    return FAILED_EXIT_STATUS if checks.failed(results) else 0
