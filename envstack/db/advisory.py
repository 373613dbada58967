"""Advisory locks that wait a bounded time, and say who holds them when the wait runs out.

A session that died without closing (a killed `pulumi up` behind a pooler, a laptop that
slept) can keep an advisory lock for as long as its connection lives; an unbounded wait then
hangs every later run. So a wait ends after ``wait`` seconds, and the caller gets the holder's
pid, application and times, to end it with ``pg_terminate_backend`` once it is known to be gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psycopg

# Held by every change to the app's login roles and their grants (providers.postgres_login_roles),
# by the dev database's pooler grants (providers.local_database_access: the same database ACL
# row as the roles' CONNECT) and by `envstack reset`, which makes those grants again on a new public schema from what it
# read: a grant made between that read and the DROP would be lost with the old schema.
LOGIN_ROLES = "envstack:login-roles"


def named_key(conn: psycopg.Connection[Any], name: str) -> int:
    """The advisory key (a bigint) of ``name``: PostgreSQL's own hash, so every client agrees."""
    row = conn.execute("SELECT hashtext(%s)::bigint", (name,)).fetchone()
    assert row is not None
    return int(row[0])


def take(conn: psycopg.Connection[Any], key: int, wait: float) -> str | None:
    """Take the advisory lock ``key`` (a bigint), waiting at most ``wait`` seconds: None once
    taken, else who holds it."""
    conn.execute(f"SET lock_timeout = '{int(wait * 1000)}ms'".encode())
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        return None
    except psycopg.errors.LockNotAvailable:
        return holder(conn, key)
    finally:
        conn.execute(b"RESET lock_timeout")


@contextmanager
def held(conn: psycopg.Connection[Any], key: int, wait: float, busy: Callable[[str], Exception]) -> Iterator[None]:
    """The block runs holding advisory lock ``key``, taken as ``take`` takes it; when another
    session keeps it longer than ``wait``, ``busy(who holds it)`` is raised before the block runs.
    A connection that broke or closed lost the lock with its session, so only a live one unlocks."""
    held_by = take(conn, key, wait)
    if held_by is not None:
        raise busy(held_by)
    try:
        yield
    finally:
        if not (conn.closed or conn.broken):
            # A session the block left unusable (mid-COPY, say) cannot unlock, and need not:
            # closing it ends the session and its lock. Its error must not hide the block's.
            with suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def holder(conn: psycopg.Connection[Any], key: int) -> str:
    """The session holding advisory lock ``key``, in words, with how to end it."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    row = conn.execute(
        "SELECT a.pid, a.application_name, a.backend_start, a.state, a.state_change"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::oid AND l.objid = %s::oid"
        " AND l.objsubid = 1",
        (unsigned >> 32, unsigned & 0xFFFFFFFF),
    ).fetchone()
    if row is None:
        return "a session that has since ended"
    return (
        f"session {row[0]} (application {row[1] or 'unnamed'!r}, connected since "
        f"{row[2]:%Y-%m-%d %H:%M:%S %Z}, {row[3] or 'unknown'} since {row[4]:%Y-%m-%d %H:%M:%S %Z}); "
        f"if that run is gone, end its session with SELECT pg_terminate_backend({row[0]})"
    )
