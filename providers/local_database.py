"""Dynamic provider: a login role and a database on a project-managed PostgreSQL.

The server is reached as superuser over its Unix socket (trust auth inside a private
directory), so no credential is ever an input. The role's password is generated here
and returned only as a secret output. An existing database or role of the same name is
adopted rather than failing, because a developer's machine often has one from an earlier
run; delete drops both.

``groups`` are NOLOGIN roles that must exist before the migrations run: the app's group roles
(``<app>_app``, ``<app>_reader``), which its migrations' row-level-security policies name. On
Supabase those migrations create them (postgres may create roles); here the migrations run as
the database's owner, which may not (CREATEROLE would let the app's dev credential alter every
role of the server), so the superuser creates them first. Roles belong to the whole server, so
delete drops a group only when nothing in any database still names it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider

from providers.declared import Declared, Inputs

SECRET_OUTPUTS = ("password", "url")
# Not the port: the server is the one in the socket's directory, and a new localdb:port moves
# that same cluster (envstack.db.pgserver). Replacing would drop the dev database, and its old
# port has nothing listening any more.
_REPLACE_ON = ("admin_socket_dir", "database", "role")


def _connect(props: dict[str, Any]) -> Any:
    import psycopg  # imported here so the module has no import-time dependencies

    from envstack.db.pgserver import socket_port

    return psycopg.connect(
        host=props["admin_socket_dir"],
        # A delete or read with the props recorded before a new localdb:port moved the cluster.
        port=socket_port(props["admin_socket_dir"], int(props["port"])),
        user="postgres",
        dbname="postgres",
        autocommit=True,
    )


def _groups(props: dict[str, Any]) -> list[str]:
    # Stacks created before groups existed have none in their state.
    return [str(g) for g in props.get("groups") or [] if g != props["role"]]


def _ensure_groups(conn: Any, groups: list[str]) -> None:
    from psycopg import sql

    for group in groups:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (group,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(group)))


def _drop_unused_groups(conn: Any, groups: list[str]) -> None:
    """Drop each group no object, privilege, policy or membership of any database names (another
    dev database of the same app on this server may still use it)."""
    from psycopg import sql

    for group in groups:
        used = conn.execute(
            "SELECT r.oid IS NULL OR EXISTS (SELECT 1 FROM pg_shdepend d WHERE d.refclassid ="
            " 'pg_authid'::regclass AND d.refobjid = r.oid) OR EXISTS (SELECT 1 FROM pg_auth_members m"
            " WHERE r.oid IN (m.roleid, m.member)) FROM (SELECT %s::name AS rolname) n"
            " LEFT JOIN pg_roles r USING (rolname)",
            (group,),
        ).fetchone()
        if used is not None and not used[0]:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(group)))


def _url(props: dict[str, Any], password: str) -> str:
    return (
        f"postgresql://{props['role']}:{quote(password, safe='')}"
        f"@{props['host']}:{int(props['port'])}/{props['database']}"
    )


class LocalDatabaseProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        from psycopg import sql

        from envstack.db.scram import scram_verifier

        password = secrets.token_urlsafe(24)
        role, database = sql.Identifier(props["role"]), sql.Identifier(props["database"])
        with _connect(props) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (props["role"],)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            # Its SCRAM verifier, never the password: a statement that fails is written to the
            # server's log, and the password with it.
            verifier = sql.Literal(scram_verifier(password))
            conn.execute(sql.SQL(verb + " ROLE {} WITH LOGIN PASSWORD {}").format(role, verifier))
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (props["database"],)).fetchone():
                conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(database, role))
            else:
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(database, role))
            # Only the owner (and superusers) may connect: dev databases don't see each other.
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
            _ensure_groups(conn, _groups(props))
        outs = {**props, "password": password, "url": _url(props, password)}
        return CreateResult(id_=f"{props['host']}:{int(props['port'])}/{props['database']}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in _REPLACE_ON if olds.get(key) != news.get(key)]
        changes = replaces or [k for k in ("host", "port") if olds.get(k) != news.get(k)]
        if _groups(olds) != _groups(news):
            changes.append("groups")
        return DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        if _groups(news):
            with _connect(news) as conn:
                _ensure_groups(conn, _groups(news))
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
            _drop_unused_groups(conn, _groups(props))


@dataclass(frozen=True)
class LocalDatabaseInputs(Inputs):
    admin_socket_dir: pulumi.Input[str]
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    database: pulumi.Input[str]
    role: pulumi.Input[str]
    groups: list[str] = field(default_factory=list)  # NOLOGIN roles the migrations name


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
