"""Health checks of an environment's database: each exported URL connects and does what it
claims, and the migration history equals the repository's files.

- pooled: the project's transaction pooler (the host, port and user the Management API
  reports for it, in transaction mode), and a query runs through it;
- Prisma: the same, with ``pgbouncer=true``, which Prisma needs behind a transaction
  pooler; it connects with that parameter stripped, as any other driver would;
- non-pooled: a real session (a session setting survives from one transaction to the next
  on the same server process), on the project's database host (or the session pooler);
- read-only: reads every table in ``public``, is refused a write, and holds no privilege or
  attribute that could write.

URLs are never printed; errors are redacted with each URL's secrets.
"""

from __future__ import annotations

import re
import secrets as random_tokens
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import psycopg
from psycopg import sql

from envstack import errors
from envstack.db import migrations
from envstack.db.connect import check_seconds, connect, connect_for_check, login_refused, secrets_of
from envstack.ops.checks import Check
from envstack.redaction import redact

SESSION_PORT = 5432
# Errors a write by a read-only role must end in: a read-only transaction, or no privilege.
_REFUSED = frozenset({"25006", "42501"})
# How a server that requires TLS turns a plain connection away: PostgreSQL's hostssl rules
# ("no pg_hba.conf entry ..., no encryption"; "SSL off" before 14), or a pooler's own words.
_TLS_REFUSAL = re.compile(r"no encryption|SSL off|SSL (?:connection )?(?:is )?required|requires SSL", re.IGNORECASE)
_WRITE_PRIVILEGES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")
_WRITABLE_ATTRIBUTES = ("rolsuper", "rolcreatedb", "rolcreaterole", "rolbypassrls", "rolreplication")
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")


@dataclass(frozen=True)
class Address:
    host: str
    port: int
    user: str | None = None


@dataclass(frozen=True)
class PoolerClaim:
    """What the Management API says the project's pooler is."""

    address: Address
    pool_mode: str | None
    pool_size: int | None = None  # server connections per role and database; None: not reported
    max_clients: int | None = None


def address_of(url: str) -> Address:
    parts = urlsplit(url)
    return Address(parts.hostname or "", parts.port or SESSION_PORT, unquote(parts.username or "") or None)


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


class _Problem(Exception):
    """The check found the URL wrong; the message says how (no secrets in it)."""


def _run(name: str, url: str | None, body: Callable[[str], str]) -> Check:
    """One check: ``body`` returns what passed, or raises what is wrong; a database error fails
    the check too, redacted with the URL's secrets."""
    if not url:
        return Check.failed(name, "the stack exports no such URL")
    try:
        return Check.passed(name, body(url))
    except _Problem as exc:
        return Check.failed(name, str(exc))
    except psycopg.errors.QueryCanceled:
        return Check.failed(
            name,
            f"no answer within {check_seconds():.0f}s: another session's lock or a long statement holds it up "
            "(the sessions line names the sessions)",
        )
    except psycopg.Error as exc:
        said = redact(f"cannot use it: {str(exc).strip()}", secrets_of(url))
        if isinstance(exc, psycopg.OperationalError) and login_refused(exc):
            said += " (a password changed outside the stack: `pulumi up --refresh` sets it back)"
        return Check.failed(name, said)


def check_pooled(name: str, url: str | None, pooler: PoolerClaim | None, *, prisma: bool = False) -> Check:
    """A pooled URL: the project's transaction pooler, and a query runs through it."""

    def body(url: str) -> str:
        where = address_of(url)
        if prisma and _query(url).get("pgbouncer") != "true":
            raise _Problem("has no pgbouncer=true, which Prisma needs behind a transaction pooler")
        if pooler is not None:
            expected = pooler.address
            if (where.host, where.port) != (expected.host, expected.port):
                raise _Problem(
                    f"points at {where.host}:{where.port}, not the project's pooler at {expected.host}:{expected.port}"
                )
            if pooler.pool_mode != "transaction":
                raise _Problem(f"the project's pooler on that port runs in {pooler.pool_mode} mode, not transaction")
            # The pooler routes a login <role>.<project ref> to the project; any role of it may log in.
            tenant = (expected.user or "").rpartition(".")[2]
            if tenant and not (where.user or "").endswith(f".{tenant}"):
                raise _Problem(f"logs in as {where.user}, which the pooler does not route to project {tenant}")
        with connect_for_check(url, autocommit=True) as conn:
            database = _one(conn.execute("SELECT current_database()").fetchone())
        mode = "transaction pooler" if pooler is not None else "database"
        how = "connected with pgbouncer=true stripped, as a driver does" if prisma else "connected"
        return f"{mode} {where.host}:{where.port} as {where.user}: {how}, query ran in {database}"

    return _run(name, url, body)


def check_tls_required(name: str, url: str | None) -> Check:
    """SSL enforcement seen from outside: the URL without TLS is refused."""

    def body(url: str) -> str:
        where = address_of(url)
        try:
            with connect(url, sslmode="disable") as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError as exc:
            # Only a refusal for want of TLS proves it is enforced: a wrong password, a server
            # that is down or a timeout says nothing about TLS (and a password asked for over a
            # plain connection says it is not enforced).
            if _TLS_REFUSAL.search(str(exc)):
                return f"{where.host}:{where.port} refuses a connection without TLS"
            if login_refused(exc):
                raise _Problem(
                    f"{where.host}:{where.port} took a connection without TLS as far as the password: TLS is not "
                    "enforced"
                ) from None
            raise
        raise _Problem(f"{where.host}:{where.port} accepts a connection without TLS")

    return _run(name, url, body)


def check_session(name: str, url: str | None, expected: Address | None) -> Check:
    """A non-pooled URL: a real session on the expected host."""

    def body(url: str) -> str:
        where = address_of(url)
        if expected is not None and (where.host, where.port) != (expected.host, expected.port):
            raise _Problem(f"points at {where.host}:{where.port}, not {expected.host}:{expected.port}")
        marker = random_tokens.token_hex(8)
        with connect_for_check(url, autocommit=True) as conn:
            first = conn.execute("SELECT pg_backend_pid(), set_config('envstack.doctor', %s, false)", (marker,))
            pid = _one(first.fetchone())
            second = conn.execute("SELECT pg_backend_pid(), current_setting('envstack.doctor', true)").fetchone()
        if second is None or second[0] != pid or second[1] != marker:
            raise _Problem("is not a session: a setting did not survive to the next transaction")
        return f"a real session on {where.host}:{where.port} as {where.user}"

    return _run(name, url, body)


def _one(row: tuple[Any, ...] | None) -> Any:
    if row is None:
        raise _Problem("the server answered nothing")
    return row[0]


def check_read_only(name: str, url: str | None) -> Check:
    """Reads every table in public, a write is refused, and nothing it holds could write."""

    def body(url: str) -> str:
        with connect_for_check(url, autocommit=True) as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY 1"
                )
            ]
            unreadable: list[str] = []
            for table in tables:
                try:
                    conn.execute(sql.SQL("SELECT 1 FROM public.{} LIMIT 1").format(sql.Identifier(table)))
                except psycopg.errors.InsufficientPrivilege:
                    unreadable.append(table)
            if unreadable:
                raise _Problem(f"cannot read {', '.join(unreadable)}")
            _refuses_a_write(conn)
            can_write = _write_grants(conn)
        if can_write:
            raise _Problem(f"can write: {'; '.join(can_write)}")
        return f"reads {_tables(len(tables))} in public; a write is refused; no write privilege"

    return _run(name, url, body)


def _tables(count: int) -> str:
    return "its 1 table" if count == 1 else f"all {count} tables"


def _refuses_a_write(conn: psycopg.Connection[Any]) -> None:
    # A temporary table: if the role could write after all, nothing outlives this session.
    try:
        conn.execute("CREATE TEMPORARY TABLE envstack_doctor_probe (id int)")
    except psycopg.Error as exc:
        if exc.sqlstate in _REFUSED:
            return
        raise
    raise _Problem("a write was not refused (its session is not read-only)")


def _write_grants(conn: psycopg.Connection[Any]) -> list[str]:
    """Every way the role could still write: attributes, table privileges, CREATE on schemas."""
    found: list[str] = []
    role = conn.execute(
        sql.SQL("SELECT {} FROM pg_roles WHERE rolname = current_user").format(
            sql.SQL(", ").join(sql.Identifier(a) for a in _WRITABLE_ATTRIBUTES)
        )
    ).fetchone()
    held = [attribute for attribute, on in zip(_WRITABLE_ATTRIBUTES, role or (), strict=False) if on]
    found += [attribute.removeprefix("rol") for attribute in held]
    privileges = conn.execute(
        "SELECT n.nspname, c.relname, string_agg(p.privilege, ', ' ORDER BY p.privilege) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "CROSS JOIN unnest(%s::text[]) AS p(privilege) "
        "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg\\_%%' "
        "AND has_schema_privilege(n.oid, 'USAGE') AND (has_table_privilege(c.oid, p.privilege) "
        # A grant on some columns only (GRANT UPDATE (name) ON t) is a write all the same.
        "OR (p.privilege IN ('INSERT', 'UPDATE') AND has_any_column_privilege(c.oid, p.privilege))) "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        (list(_WRITE_PRIVILEGES), list(_SYSTEM_SCHEMAS)),
    ).fetchall()
    found += [f"{privileges} on {schema}.{table}" for schema, table, privileges in privileges]
    # nextval (USAGE) and setval (UPDATE) change a sequence.
    sequences = conn.execute(
        "SELECT n.nspname, c.relname, string_agg(p.privilege, ', ' ORDER BY p.privilege) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "CROSS JOIN unnest(ARRAY['UPDATE', 'USAGE']) AS p(privilege) "
        "WHERE c.relkind = 'S' AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg\\_%%' "
        "AND has_schema_privilege(n.oid, 'USAGE') AND has_sequence_privilege(c.oid, p.privilege) "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        (list(_SYSTEM_SCHEMAS),),
    ).fetchall()
    found += [f"{privileges} on sequence {schema}.{name}" for schema, name, privileges in sequences]
    schemas = conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname <> ALL(%s) AND nspname NOT LIKE 'pg\\_%%' "
        "AND has_schema_privilege(oid, 'CREATE') ORDER BY 1",
        (list(_SYSTEM_SCHEMAS),),
    ).fetchall()
    found += [f"CREATE on schema {schema}" for (schema,) in schemas]
    return found


def check_migrations(name: str, url: str | None, directory: Path, command: str | None) -> Check:
    """The database's history equals the repository's migration files."""
    if command is not None:
        return Check.skipped(name, f"migrations run through `{command}`, whose history envstack does not read")
    if not url:
        return Check.failed(name, "the stack exports no URL to read the history over")
    try:
        states = migrations.status(url, directory, within=check_seconds())
    except errors.MigrationError as exc:
        return Check.failed(name, str(exc))

    def files(state: str) -> list[str]:
        return [f"{s.version}_{s.name}.sql" for s in states if s.state == state]

    unknown = [f"{s.version} ({s.name})" for s in states if s.state == "missing-file"]
    problems = [
        f"{label}: {', '.join(names)}"
        for label, names in (
            ("not applied", files("pending")),
            ("edited after they were applied", files("edited")),
            ("applied but not in the repository", unknown),
        )
        if names
    ]
    if problems:
        return Check.failed(name, "; ".join(problems))
    return Check.passed(name, f"the history equals the {len(states)} migration files")
