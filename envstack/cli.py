"""`python -m envstack <command>`: the project's command-line tool.

A command is a module with ``add_arguments(parser)`` and ``run(args) -> exit status``; to add
one, write the module and list it in COMMANDS. Errors a command raises as RuntimeError or
ValueError are expected failures: printed as one message (redacted once more), exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from envstack.redaction import redact

# name → (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "migrate": ("envstack.migrate_command", "apply or list database migrations"),
    "seed": ("envstack.seed_command", "load test data (refused on production)"),
    "localdb": ("envstack.localdb", "start, stop or check the project-managed PostgreSQL"),
    "pr": ("envstack.pr_command", "pull-request environments (up, down, gc) and the preview comment"),
    "rotate": ("envstack.rotate_command", "rotate a secret without downtime (bumps its counter, runs up)"),
    "doctor": ("envstack.doctor", "check that one environment is healthy"),
    "diff": ("envstack.diff_command", "compare two environments for drift"),
    "recover": ("envstack.recover_command", "after a killed `pulumi up`: clear its lock and leftovers"),
}


class Command(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def command(name: str) -> Command:
    return cast(Command, importlib.import_module(COMMANDS[name][0]))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m envstack")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, (_, help_text) in COMMANDS.items():
        command(name).add_arguments(subparsers.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(command(args.command).run(args))
    except (RuntimeError, ValueError) as exc:
        # Commands redact what they know is secret; this catches secret-shaped leftovers.
        print(f"envstack {args.command}: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
