"""`python -m envstack localdb start|stop|status`: the project-managed dev PostgreSQL.

Where it listens comes from the stack's ``localdb:`` settings (Pulumi.<stack>.yaml), the
same place the Pulumi program reads, so the two never disagree.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from envstack.db.pgserver import PostgresServer
from envstack.ops.stack_config import stack_file_config
from envstack.settings import StackSettings, load_settings


def server_for(settings: StackSettings, project_root: Path) -> PostgresServer:
    local = settings.localdb
    return PostgresServer(project_root / local.directory, host=local.host, port=local.port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("--stack", default="dev", help="stack whose localdb: settings to use")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    root: Path = args.root.resolve()
    settings = load_settings(args.stack, stack_file_config(root / f"Pulumi.{args.stack}.yaml"))
    server = server_for(settings, root)
    where = f"{server.host}:{server.port}"
    if args.action == "start":
        server.start()
        print(f"PostgreSQL is running on {where} (data in {server.directory})")
    elif args.action == "stop":
        server.stop()
        print(f"PostgreSQL on {where} stopped")
    else:
        running = server.initialized() and server.running()
        print(f"PostgreSQL on {where}: {'running' if running else 'stopped'}")
        return 0 if running else 3
    return 0
