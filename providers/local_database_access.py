"""Dynamic provider: what the dev server's superuser grants around a dev database, so it is
reached and watched as a Supabase project's database is.

- The dev pooler (PgBouncer, envstack.db.pgbouncer) may serve it. PgBouncer 1.18 checks a
  client's password with its auth query in the database the client asked for, as the
  ``pgbouncer`` role: so the database needs ``pgbouncer.get_auth`` (what Supabase's own
  databases carry) and must let that role connect (the dev database lets only its owner and the
  app's login roles in).
- Its owner, which migrations run as (``postgres``'s part on Supabase), sees every session's
  statistics through ``pg_read_all_stats``, as ``postgres`` does on Supabase: doctor's
  connection checks read the app's sessions over the migrations' URL.

Reached as superuser over the server's Unix socket, like providers/local_database.py: no
credential is an input. Delete undoes both (the database, when it is being dropped too, may
already be gone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from providers.declared import Declared, Inputs

# Not the port, as in providers/local_database.py: a new one is the same server moved.
_REPLACE_ON = ("admin_socket_dir", "database", "owner")
_STATS_ROLE = "pg_read_all_stats"


def _connect(props: dict[str, Any], database: str | None = None) -> Any:
    import psycopg  # imported here so the module has no import-time dependencies

    from envstack.db.pgserver import socket_port

    return psycopg.connect(
        host=props["admin_socket_dir"],
        # A delete or read with the props recorded before a new localdb:port moved the cluster.
        port=socket_port(props["admin_socket_dir"], int(props["port"])),
        user="postgres",
        dbname=database or props["database"],
        autocommit=True,
    )


def _id(props: dict[str, Any]) -> str:
    return f"{int(props['port'])}/{props['database']}"


def _exists(props: dict[str, Any]) -> bool:
    with _connect(props, "postgres") as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (props["database"],)).fetchone()
    return found is not None


class LocalDatabaseAccessProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        from psycopg import sql

        from envstack.db.pgbouncer import grant_database
        from providers.postgres_login_roles import grants_one_at_a_time

        with _connect(props) as conn, grants_one_at_a_time(conn):
            grant_database(conn, str(props["database"]))
            conn.execute(
                sql.SQL("GRANT {} TO {}").format(sql.Identifier(_STATS_ROLE), sql.Identifier(str(props["owner"])))
            )
        return CreateResult(id_=_id(props), outs=dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in _REPLACE_ON if olds.get(key) != news.get(key)]
        changes = replaces or [key for key in ("port",) if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=dict(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        if not _exists(props):
            return ReadResult(id_="", outs={})  # the database is gone, and the grants with it
        with _connect(props) as conn:
            found = conn.execute(
                "SELECT to_regprocedure('pgbouncer.get_auth(text)') IS NOT NULL AND pg_has_role(%s, %s, 'MEMBER')",
                (props["owner"], _STATS_ROLE),
            ).fetchone()
        if not (found and found[0]):
            return ReadResult(id_="", outs={})  # undone behind our back: the next up grants again
        return ReadResult(id_=id_, outs=dict(props))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from psycopg import sql

        from envstack.db.pgbouncer import revoke_database
        from providers.postgres_login_roles import grants_one_at_a_time

        if not _exists(props):
            return
        with _connect(props) as conn, grants_one_at_a_time(conn):
            revoke_database(conn, str(props["database"]))
            owner = str(props["owner"])
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone() is not None:
                conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(_STATS_ROLE), sql.Identifier(owner)))


@dataclass(frozen=True)
class LocalDatabaseAccessInputs(Inputs):
    admin_socket_dir: pulumi.Input[str]
    port: pulumi.Input[int]
    database: pulumi.Input[str]
    owner: pulumi.Input[str]  # the database's owner, which migrations run as


class LocalDatabaseAccess(Declared, module="local", name="DatabaseAccess"):
    database: pulumi.Output[str]

    def __init__(
        self, name: str, inputs: LocalDatabaseAccessInputs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        self.declare(LocalDatabaseAccessProvider(), name, inputs, opts)
