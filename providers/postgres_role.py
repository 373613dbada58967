"""Dynamic provider: a read-only login role in a PostgreSQL database.

It backs ``POSTGRES_READ_REPLICA_URL``: a role that can read every table in ``public``
(including tables later migrations create) and cannot write, enforced by privileges, not
by a URL flag. The role's password is generated here and returned as a secret; the admin
URL it connects with is a secret input taken from the project's outputs.
"""

from __future__ import annotations

import secrets
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult


def _grant(props: dict[str, Any], password: str) -> None:
    from psycopg import sql

    from envstack.database_url import connect

    role = sql.Identifier(props["role"])
    with connect(props["admin_url"], autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (props["role"],)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sql.SQL(verb + " ROLE {} WITH LOGIN NOINHERIT PASSWORD {}").format(role, sql.Literal(password)))
        # A read-only session by default, and no privilege that could write anyway.
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(role))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(conn.info.dbname), role))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(role))
        conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {}").format(role))
        # Tables with row level security show a non-owner no rows without a policy. A policy
        # (not BYPASSRLS, which Supabase's postgres role cannot grant) lets this role read all.
        policy = f"{props['role']}_select"
        unpoliced = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relrowsecurity"
            " AND NOT EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = 'public'"
            " AND p.tablename = c.relname AND p.policyname = %s)",
            (policy,),
        ).fetchall()
        for (table,) in unpoliced:
            conn.execute(
                sql.SQL("CREATE POLICY {} ON public.{} FOR SELECT TO {} USING (true)").format(
                    sql.Identifier(policy), sql.Identifier(table), role
                )
            )


class ReadOnlyRoleProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        password = secrets.token_urlsafe(24)
        _grant(props, password)
        return CreateResult(id_=str(props["role"]), outs={**props, "password": password})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = ["role"] if olds.get("role") != news.get("role") else []
        changed = replaces or [k for k in ("admin_url", "grants_version") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # Re-granting picks up tables that migrations created since the last run.
        _grant(news, olds["password"])
        return UpdateResult(outs={**news, "password": olds["password"]})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from psycopg import sql

        from envstack.database_url import connect

        role = sql.Identifier(props["role"])
        with connect(props["admin_url"], autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (props["role"],)).fetchone():
                # DROP OWNED needs membership in the role; Supabase's postgres is no superuser,
                # and before PostgreSQL 16 creating a role does not make its creator a member.
                conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(role))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(role))
                conn.execute(sql.SQL("DROP ROLE {}").format(role))


class ReadOnlyRole(pulumi.dynamic.Resource, module="postgres", name="ReadOnlyRole"):
    password: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        admin_url: pulumi.Input[str],
        role: str,
        grants_version: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "admin_url": pulumi.Output.secret(admin_url),
            "role": role,
            "grants_version": grants_version,
            "password": None,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["password"]))
        super().__init__(ReadOnlyRoleProvider(), name, props, opts)
