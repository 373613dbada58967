"""Dynamic provider: a login role and a database on a project-managed PostgreSQL.

The server is reached as superuser over its Unix socket (trust auth inside a private
directory), so no credential is ever an input. The role's password is generated here
and returned only as a secret output. An existing database or role of the same name is
adopted rather than failing, because a developer's machine often has one from an earlier
run; delete drops both.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider

from providers.declared import Declared, Inputs

SECRET_OUTPUTS = ("password", "url")
_REPLACE_ON = ("admin_socket_dir", "port", "database", "role")


def _connect(props: dict[str, Any]) -> Any:
    import psycopg  # imported here so the module has no import-time dependencies

    return psycopg.connect(
        host=props["admin_socket_dir"],
        port=int(props["port"]),
        user="postgres",
        dbname="postgres",
        autocommit=True,
    )


def _url(props: dict[str, Any], password: str) -> str:
    return (
        f"postgresql://{props['role']}:{quote(password, safe='')}"
        f"@{props['host']}:{int(props['port'])}/{props['database']}"
    )


class LocalDatabaseProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        from psycopg import sql

        password = secrets.token_urlsafe(24)
        role, database = sql.Identifier(props["role"]), sql.Identifier(props["database"])
        with _connect(props) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (props["role"],)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL(verb + " ROLE {} WITH LOGIN PASSWORD {}").format(role, sql.Literal(password)))
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (props["database"],)).fetchone():
                conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(database, role))
            else:
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(database, role))
            # Only the owner (and superusers) may connect: dev databases don't see each other.
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
        outs = {**props, "password": password, "url": _url(props, password)}
        return CreateResult(id_=f"{props['host']}:{int(props['port'])}/{props['database']}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in _REPLACE_ON if olds.get(key) != news.get(key)]
        changes = replaces or [k for k in ("host",) if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        outs = {**olds, **news, "url": _url(news, olds["password"])}
        return pulumi.dynamic.UpdateResult(outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with _connect(props) as conn:
            row = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (props["database"],)
            ).fetchone()
        if row is None:
            # Gone behind our back: an empty id tells the engine to drop it from state.
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, "role": row[0]})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from psycopg import sql

        with _connect(props) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(props["database"])))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(props["role"])))


@dataclass(frozen=True)
class LocalDatabaseInputs(Inputs):
    admin_socket_dir: pulumi.Input[str]
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    database: pulumi.Input[str]
    role: pulumi.Input[str]


class LocalDatabase(Declared, module="local", name="Database"):
    secret_outputs = SECRET_OUTPUTS
    password: pulumi.Output[str]
    url: pulumi.Output[str]
    host: pulumi.Output[str]
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    role: pulumi.Output[str]

    def __init__(self, name: str, inputs: LocalDatabaseInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(LocalDatabaseProvider(), name, inputs, opts)
