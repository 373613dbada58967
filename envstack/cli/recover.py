"""`python -m envstack recover --stack NAME`: make a stack usable again after a killed `pulumi up`.

Removes what the killed run left behind (a cut-short metadata file, orphaned plugin
processes, the stack's lock, interrupted operations in the state); ``envstack.ops.recovery``
says what each leftover is, in which order they go and why clearing each is safe. A lock that
may belong to a live run is left alone (exit 1) unless ``--force``.

Then ``pulumi up`` picks up where the killed run stopped. Running it when nothing is left
over changes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from envstack.ops import recovery


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, help="the stack whose `pulumi up` was killed")
    parser.add_argument(
        "--force",
        action="store_true",
        help="also remove a lock of a process that still runs or of another machine (be sure that run is over)",
    )
    parser.add_argument(
        "--if-exists", action="store_true", help="do nothing when the stack does not exist (yet), instead of failing"
    )
    parser.add_argument(
        "--keep-creates",
        action="store_true",
        help="leave interrupted creates in the state, for a `pr down` that comes next to find what they made",
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    return recovery.recover(
        args.root.resolve(), args.stack, force=args.force, if_exists=args.if_exists, keep_creates=args.keep_creates
    )
