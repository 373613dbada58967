"""`python -m envstack pr up|down|gc|comment`: one environment per pull request.

``up``, ``down`` and ``gc`` run a pull-request stack's life (``envstack.ops.pr_environments``:
its name, what it takes from staging, when it goes; production is refused). ``comment``
previews staging and production with the pull request's code and posts the result on it
(``envstack.ops.pr_comment``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from envstack.api_urls import GITHUB_API_URL
from envstack.ops import pr_environments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="create or update the pull request's environment")
    up.add_argument("--number", type=int, required=True, help="the pull request's number")
    up.add_argument("--branch", required=True, help="the pull request's head branch")
    up.add_argument("--policy-pack", dest="policy_packs", action="append", type=Path, default=[], help="(repeatable)")
    down = actions.add_parser("down", help="destroy the pull request's environment and remove its stack")
    which = down.add_mutually_exclusive_group(required=True)
    which.add_argument("--number", type=int, help="the pull request's number")
    which.add_argument("--stack", help="a stack name (production is always refused)")
    down.add_argument("--branch", help="the pull request's head branch (to finish creates a killed run left)")
    down.add_argument("--abandon-creates", action="store_true", help="tear down without finishing them")
    gc = actions.add_parser("gc", help="tear down environments of closed or idle pull requests")
    gc.add_argument("--repo", required=True, help="owner/name of the GitHub repository")
    gc.add_argument("--github-api", default=GITHUB_API_URL, help="GitHub API base URL")
    gc.add_argument("--ttl-hours", type=float, help="idle time after which a stack goes (default: staging's)")
    only = gc.add_mutually_exclusive_group()
    only.add_argument("--number", type=int, help="look at this pull request's stack alone")
    only.add_argument("--list", dest="list_to", type=Path, metavar="FILE", help="only list what goes, and its code")
    comment = actions.add_parser(
        "comment", help="preview staging and production and post (or update) one comment on the pull request"
    )
    comment.add_argument("--number", type=int, required=True, help="the pull request's number")
    comment.add_argument("--repo", required=True, help="owner/name of the GitHub repository")
    comment.add_argument("--github-api", default=GITHUB_API_URL, help="GitHub API base URL")
    comment.add_argument(
        "--stack", dest="stacks", action="append", help="a stack to preview (repeatable; default: staging, production)"
    )
    comment.add_argument(
        "--recorded",
        action="append",
        default=[],
        type=lambda item: tuple(item.split("=", 1)) if "=" in item else parser.error(f"--recorded {item}: STACK=FILE"),
        metavar="STACK=FILE",
        help="show STACK without opening it: its migrations against FILE (`migrate record`) (repeatable)",
    )
    comment.add_argument("--trusted", type=Path, help="a checkout of the default branch: settings compared with it")
    packs = "a policy pack to run with each preview (repeatable; default: policy)"
    comment.add_argument("--policy-pack", dest="policy_packs", action="append", type=Path, help=packs)
    for action in (up, down, gc, comment):
        action.add_argument("--root", type=Path, default=Path.cwd(), help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    root: Path = args.root.resolve()
    if args.action == "up":
        return pr_environments.up(root, args.number, args.branch, [root / p for p in args.policy_packs])
    if args.action == "down":
        name = args.stack or pr_environments.stack_name(args.number)
        return pr_environments.down(root, name, args.branch, abandon_creates=args.abandon_creates)
    if args.action == "comment":
        from envstack.ops.pr_comment import DEFAULT_STACKS, comment

        packs = [root / p for p in (args.policy_packs or [Path("policy")])]
        recorded = dict(args.recorded)
        stacks = args.stacks or [s for s in DEFAULT_STACKS if s not in recorded]
        trusted = root / args.trusted if args.trusted else None
        files = {name: root / path for name, path in recorded.items()}
        return comment(root, args.repo, args.number, args.github_api, stacks, packs, files, trusted)
    list_to = root / args.list_to if args.list_to else None
    return pr_environments.gc(root, args.repo, args.github_api, args.ttl_hours, number=args.number, list_to=list_to)
