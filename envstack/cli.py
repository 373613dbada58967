"""`python -m envstack <command>`: the project's command-line tool.

Each command lives in its own module with ``add_arguments(parser)`` and ``run(args)``;
this file only lists them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType


def _commands() -> dict[str, tuple[ModuleType, str]]:
    from envstack import localdb, migrate_command, seed_command

    return {
        "migrate": (migrate_command, "apply or list database migrations"),
        "seed": (seed_command, "load test data (refused on production)"),
        "localdb": (localdb, "start, stop or check the project-managed PostgreSQL"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m envstack")
    subparsers = parser.add_subparsers(dest="command", required=True)
    commands = _commands()
    for name, (module, help_text) in commands.items():
        module.add_arguments(subparsers.add_parser(name, help=help_text))
    args = parser.parse_args(argv)
    module, _ = commands[args.command]
    try:
        return int(module.run(args))
    except (RuntimeError, ValueError) as exc:
        # Every error this tool raises is already redacted and says what went wrong.
        print(f"envstack {args.command}: {exc}", file=sys.stderr)
        return 1
