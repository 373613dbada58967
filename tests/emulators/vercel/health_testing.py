"""Databases with names of their own for the example health app, and a client that trusts the
local edge: what the serving and app-health tests share.

A database here is a scratch database of the session's PostgreSQL cluster, reached through a
name ``db.<ref>.health.test`` that the session's hosts file points at the cluster's address,
so an app reports a Supabase-like host and ref for it (as it would for ``db.<ref>.supabase.co``)
without a Supabase project being made.
"""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from envstack.db.pgserver import PostgresServer
from tests.emulators.common.hostnames import HostsFile

APP = "tests.emulators.vercel.example_health_app"
HEALTH = "/api/health/database"


@dataclass(frozen=True)
class NamedDatabase:
    ref: str
    host: str
    name: str
    url: str = field(repr=False)


@contextmanager
def named_database(server: PostgresServer) -> Iterator[NamedDatabase]:
    """A database (and a login role) of its own at ``db.<ref>.health.test``, dropped after."""
    hosts = HostsFile.of_session()
    assert hosts is not None, "the test session resolves through its own hosts file"
    ref = secrets.token_hex(10)[:20]
    host = f"db.{ref}.health.test"
    hosts.set(host, server.host)
    name = f"h_{ref}"
    password = secrets.token_urlsafe(18)
    with psycopg.connect(server.admin_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(name)))
    try:
        yield NamedDatabase(ref, host, name, f"postgresql://{name}:{password}@{host}:{server.port}/{name}")
    finally:
        with psycopg.connect(server.admin_conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def trusting(ca_file: Path, **options: object) -> httpx.Client:
    """An httpx client that trusts the local edge's CA (and nothing else)."""
    return httpx.Client(verify=ssl.create_default_context(cafile=str(ca_file)), timeout=30, **options)  # type: ignore[arg-type]
