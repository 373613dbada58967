"""`python -m envstack localdb start|stop|status`: the project-managed dev PostgreSQL and its pooler.

Where they listen comes from the stack's ``localdb:`` settings (Pulumi.<stack>.yaml), the
same place the Pulumi program reads, so the two never disagree. The pooler (PgBouncer, in
transaction and in session mode, envstack.db.pgbouncer) starts after the server and stops
before it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from envstack.db.pgbouncer import SESSION, TRANSACTION, DevPooler
from envstack.db.pgserver import PostgresServer
from envstack.ops.stack_config import stack_file_config
from envstack.settings import StackSettings, load_settings


def server_for(settings: StackSettings, project_root: Path) -> PostgresServer:
    local = settings.localdb
    return PostgresServer(project_root / local.directory, host=local.host, port=local.port)


def pooler_for(settings: StackSettings, project_root: Path) -> DevPooler:
    local = settings.localdb
    return DevPooler(server_for(settings, project_root), port=local.pooler_port, session_port=local.session_pooler_port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("--stack", default="dev", help="stack whose localdb: settings to use")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    root: Path = args.root.resolve()
    settings = load_settings(args.stack, stack_file_config(root / f"Pulumi.{args.stack}.yaml"))
    server = server_for(settings, root)
    pooler = pooler_for(settings, root)
    where = f"{server.host}:{server.port}"
    pooled = {TRANSACTION: f"{pooler.host}:{pooler.port}", SESSION: f"{pooler.host}:{pooler.session_port}"}
    if args.action == "start":
        server.start()
        pooler.start()
        print(f"PostgreSQL is running on {where} (data in {server.directory})")
        print(f"PgBouncer is running on {pooled[TRANSACTION]} (transaction mode) and {pooled[SESSION]} (session mode)")
    elif args.action == "stop":
        pooler.stop()
        server.stop()
        print(f"PgBouncer on {pooled[TRANSACTION]} and {pooled[SESSION]} stopped")
        print(f"PostgreSQL on {where} stopped")
    else:
        running = server.initialized() and server.running()
        print(f"PostgreSQL on {where}: {'running' if running else 'stopped'}")
        for mode, up in pooler.running().items():
            print(f"PgBouncer on {pooled[mode]} ({mode} mode): {'running' if up else 'stopped'}")
            running = running and up
        return 0 if running else 3
    return 0
