"""`python -m envstack rotate --stack S database|postgres|jwt|api-keys|app-secret [--dry-run] [--no-wait]
[--revoke-previous]`.

Bumps the secret's rotation counter in Pulumi.<stack>.yaml and runs ``pulumi up`` until the
rotation is done, waiting for steps that are due later unless ``--no-wait``; ``--dry-run``
previews it and changes nothing; ``--revoke-previous`` (database, api-keys) also revokes the
credential it replaces once the new one is live (``envstack.ops.rotate_stack`` says how).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from envstack.ops import rotate_stack, rotation


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, help="the stack whose secret to rotate")
    parser.add_argument(
        "secret",
        choices=sorted(rotation.SECRETS),
        help="; ".join(f"{s.name}: {s.what}" for s in rotation.SECRETS.values()),
    )
    parser.add_argument("--dry-run", action="store_true", help="preview the rotation; change nothing")
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="run `pulumi up` once, even when later steps of the rotation are due later (run again then)",
    )
    parser.add_argument(
        "--revoke-previous",
        action="store_true",
        help="database, api-keys: the credential this rotation replaces stops working as soon as the redeploys "
        "carrying the new one are READY (sets rotation:databaseRevoked or rotation:apiKeysRevoked)",
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    return rotate_stack.rotate(
        args.root.resolve(),
        args.stack,
        args.secret,
        dry_run=args.dry_run,
        wait=not args.no_wait,
        revoke=args.revoke_previous,
    )
