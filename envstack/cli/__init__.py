"""`python -m envstack <command>`: the project's command-line tool.

A command is a module with ``add_arguments(parser)`` and ``run(args) -> exit status``; to add
one, write the module and list it in COMMANDS. A command's expected failures are EnvstackError
(envstack.errors): printed as one message (redacted once more), exit 1. Anything else is a
bug, or a failure envstack does not explain (an engine error it lets through, say): it keeps
its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from envstack.errors import EnvstackError
from envstack.redaction import redact

# name → (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "migrate": ("envstack.cli.migrate", "apply or list database migrations"),
    "seed": ("envstack.cli.seed", "load test data (refused on production)"),
    "localdb": ("envstack.cli.localdb", "start, stop or check the project-managed PostgreSQL"),
    "pr": ("envstack.cli.pr", "pull-request environments (up, down, gc) and the preview comment"),
    "rotate": ("envstack.cli.rotate", "rotate a secret without downtime (bumps its counter, runs up)"),
    "doctor": ("envstack.cli.doctor", "check that one environment is healthy"),
    "diff": ("envstack.cli.diff", "compare two environments for drift"),
    "recover": ("envstack.cli.recover", "after a killed `pulumi up`: clear its lock and leftovers"),
    "restore": ("envstack.cli.restore", "bring a Supabase database back to a time or restore point"),
    "reset": ("envstack.cli.reset", "drop a non-production database back to migrations and seed data"),
}


class Command(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def command(name: str) -> Command:
    return cast(Command, importlib.import_module(COMMANDS[name][0]))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser, or with ``only`` just that one's arguments: importing a command
    imports what it runs on, and `pulumi up` starts `migrate` and `seed` as processes of their
    own, so each start pays for one command, not ten."""
    parser = argparse.ArgumentParser(prog="python -m envstack")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, (_, help_text) in COMMANDS.items():
        chosen = subparsers.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            command(name).add_arguments(chosen)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    # The command is the first argument (the tool has no options of its own); anything else
    # (nothing, --help, a typo) gets the full parser and argparse's own answer.
    args = build_parser(given[0] if given and given[0] in COMMANDS else None).parse_args(given)
    try:
        return int(command(args.command).run(args))
    except EnvstackError as exc:
        # Commands redact what they know is secret; this catches secret-shaped leftovers.
        print(f"envstack {args.command}: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
