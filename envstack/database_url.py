"""Connecting with the URLs envstack hands to apps, which carry pooler hints psycopg rejects."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import psycopg

# Hints meant for other clients: Prisma's `pgbouncer=true`, Supabase's `supa=…`.
_NOT_LIBPQ = frozenset({"pgbouncer", "supa", "connection_limit", "pool_timeout", "schema"})


def libpq_url(url: str) -> str:
    """The URL without query parameters that libpq does not understand."""
    parts = urlsplit(url)
    if not parts.scheme:
        return url  # a key=value conninfo: nothing to strip
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in _NOT_LIBPQ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def password_of(url: str) -> str | None:
    parts = urlsplit(url)
    return unquote(parts.password) if parts.password else None


def connect(url: str, **kwargs: Any) -> psycopg.Connection[tuple[Any, ...]]:
    # prepare_threshold=None: a transaction-mode pooler cannot keep prepared statements.
    return psycopg.connect(libpq_url(url), prepare_threshold=None, **kwargs)
