"""The database URL of the envstack commands: where it comes from, how to connect with it.

The URL always comes from the environment (``POSTGRES_URL_NON_POOLING``, else
``DATABASE_URL``), never from the command line, where it would show in process lists and
shell history. The URLs envstack hands to apps carry hints for other clients (Prisma's
``pgbouncer=true``, Supabase's ``supa=…``) that libpq rejects, so they are dropped here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from envstack.errors import MissingDatabaseUrl

URL_VARIABLES = ("POSTGRES_URL_NON_POOLING", "DATABASE_URL")

# Query parameters meant for other clients; libpq fails on any parameter it does not know.
_NOT_LIBPQ = frozenset({"pgbouncer", "supa", "connection_limit", "pool_timeout", "schema"})

# libpq waits forever by default; a migration run should fail rather than hang.
_CONNECT_TIMEOUT_SECONDS = 15


def database_url(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    for name in URL_VARIABLES:
        if env.get(name):
            return env[name]
    raise MissingDatabaseUrl(f"set {' or '.join(URL_VARIABLES)} to the database's direct connection URL")


# Supabase's transaction pooler (Supavisor) listens on 6543; the session pooler and the
# database itself on 5432.
TRANSACTION_POOLER_PORT = 6543


def transaction_pooled(url: str) -> str | None:
    """Why ``url`` reaches a transaction-mode pooler (each transaction on whichever server
    session is free, so nothing held by a session lasts), or None when nothing says so."""
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql"):
        if dict(parse_qsl(parts.query)).get("pgbouncer") == "true":
            return "it carries pgbouncer=true, Prisma's mark of a transaction pooler"
        port = parts.port
    else:
        given = conninfo_to_dict(url).get("port")
        port = int(given) if given and str(given).isdigit() else None
    if port == TRANSACTION_POOLER_PORT:
        return f"port {TRANSACTION_POOLER_PORT} is Supabase's transaction pooler"
    return None


def libpq_url(url: str) -> str:
    """The URL without the query parameters libpq does not understand."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        return url  # a key=value conninfo: nothing to strip
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k not in _NOT_LIBPQ]
    if len(kept) == len(pairs):
        return url
    # quote, not quote_plus: libpq decodes %XX but not "+" (options=-c%20key%3Dvalue).
    return urlunsplit(parts._replace(query=urlencode(kept, quote_via=quote)))


def as_role(url: str, role: str, password: str) -> str:
    """The same server and database, logged in as ``role`` (a URL or a key=value conninfo;
    returned as a conninfo). A pooler's ``<user>.<tenant>`` login (Supabase's pooler routes by
    it) keeps its tenant: ``<role>.<tenant>``."""
    conninfo = libpq_url(url)
    tenant = str(conninfo_to_dict(conninfo).get("user") or "").partition(".")[2]
    return make_conninfo(conninfo, user=f"{role}.{tenant}" if tenant else role, password=password)


@contextmanager
def answered_within(conn: psycopg.Connection[Any], seconds: float) -> Iterator[None]:
    """Cancel whatever ``conn`` is running once ``seconds`` have passed (the statement then
    fails with QueryCanceled): a check that waits behind another session's lock must end, and
    a server-side statement_timeout would not do through a transaction pooler, where a SET
    lands on whichever session is free."""

    def cancel() -> None:
        with suppress(Exception):  # already closed, or the server gone: nothing left to cancel
            conn.cancel_safe(timeout=5)

    timer = threading.Timer(seconds, cancel)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


# How long one of doctor's queries may take before it is cancelled.
CHECK_SECONDS = 30.0


def check_seconds() -> float:
    return CHECK_SECONDS


@contextmanager
def connect_for_check(url: str, **kwargs: Any) -> Iterator[psycopg.Connection[Any]]:
    """``connect``, its statements cancelled after ``check_seconds()`` (``answered_within``)."""
    with connect(url, **kwargs) as conn, answered_within(conn, check_seconds()):
        yield conn


def over_socket(url: str) -> bool:
    """Whether the connection goes over a Unix socket (a host that is a directory), where a
    server's local rules may let any password in."""
    host = str(conninfo_to_dict(libpq_url(url)).get("host") or "")
    return not host or all(h.startswith("/") or h.startswith("@") for h in host.split(","))


def login_refused(error: psycopg.OperationalError) -> bool:
    """Whether a failed connection was the server refusing the login itself (a wrong password,
    no such role, a role that may not log in), as opposed to not reaching it. libpq gives a
    failed connection no SQLSTATE, so the server's own words are what there is."""
    text = str(error)
    return any(words in text for words in _REFUSED_LOGIN)


# PostgreSQL's (and PgBouncer's) messages for a login refused after the server was reached.
_REFUSED_LOGIN = (
    "password authentication failed",
    "SASL authentication failed",
    "is not permitted to log in",
)


def secrets_of(url: str) -> list[str]:
    """Every form in which the URL's password could reappear in an error message."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
        if parts.password:
            found += [parts.password, unquote(parts.password)]
        found += [v for k, v in parse_qsl(parts.query) if k == "password"]
    except ValueError:
        pass
    try:
        password = conninfo_to_dict(libpq_url(url)).get("password")
        if isinstance(password, str):
            found.append(password)
    except (psycopg.Error, ValueError):
        pass
    if os.environ.get("PGPASSWORD"):
        found.append(os.environ["PGPASSWORD"])
    return found


def connect(url: str, **kwargs: Any) -> psycopg.Connection[tuple[Any, ...]]:
    conninfo = libpq_url(url)
    if "connect_timeout" not in conninfo_to_dict(conninfo) and "connect_timeout" not in kwargs:
        kwargs["connect_timeout"] = _CONNECT_TIMEOUT_SECONDS
    # prepare_threshold=None: a transaction-mode pooler cannot keep prepared statements.
    return psycopg.connect(conninfo, prepare_threshold=None, **kwargs)
