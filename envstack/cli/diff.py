"""`python -m envstack diff STACK STACK [--json]`: what differs between two environments that
should not (envstack.ops.parity). Exit status 3 on drift, or when something could not be compared;
differences listed as expected (region, instance size) leave it 0. Only reads; never prints a
value of a variable or any other secret."""

from __future__ import annotations

import argparse
from pathlib import Path

from envstack.errors import Refused
from envstack.ops import parity
from envstack.ops.stack_view import read_stack

DRIFT_EXIT_STATUS = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stacks", nargs=2, metavar="STACK", help="the two stacks to compare, e.g. staging production")
    parser.add_argument("--json", action="store_true", help="print the differences as JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    root = Path.cwd()
    first, second = args.stacks
    if first == second:
        raise Refused("name two different stacks")
    views = [read_stack(root, name) for name in (first, second)]
    differences = parity.compare(*(parity.gather(view, root) for view in views))
    secrets = [s for view in views for s in view.secrets]
    render = parity.render_json if args.json else parity.render_table
    print(render(first, second, differences, secrets))
    return DRIFT_EXIT_STATUS if parity.drifted(differences) else 0
