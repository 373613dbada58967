"""How close an environment's database is to its connection limits (NivoStack: "monitor
connection pool usage, read/write ratios, alerts for connection limits").

Everything is read from the database itself, over the connection migrations use (``postgres``,
which sees every session through ``pg_monitor`` on Supabase, as a superuser locally), and from
the pool size the Management API reports:

- connections: client sessions against ``max_connections`` less the slots only superusers may
  take, by role and by application (``application_name``);
- pool: per login role, the sessions busy in a query or a transaction against the pooler's
  pool size. The pooler opens at most that many server connections per role and database, so
  a role whose sessions are all busy makes the next client wait. The pooler's own client
  count is not visible from the database; its limit is shown beside the figures;
- read/write ratio: rows read against rows written in ``pg_stat_database`` since its
  statistics were last reset (or the server started);
- sessions: queries running, or transactions left open, longer than the settings allow.

Thresholds come from ``envstack:monitoring``; a breach fails its check with the numbers. No
query text is ever shown (it may hold data): sessions are named by pid, role and application.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from envstack.db.connect import connect_for_check, secrets_of
from envstack.ops.checks import Check
from envstack.redaction import redact

# Supabase's pooler client limits by compute size (supabase.com/docs/guides/platform/compute-add-ons,
# "Connections: Pooler"); shown when the API reports no max_client_conn of its own.
POOLER_CLIENTS_BY_SIZE = {
    "nano": 200, "micro": 200, "small": 400, "medium": 600, "large": 800, "xlarge": 1000, "2xlarge": 1500,
    "4xlarge": 3000, "8xlarge": 6000, "12xlarge": 9000, "16xlarge": 12000,
}  # fmt: skip


# The checks' names, in the order doctor shows them.
NAMES = ("connections", "pool", "read/write", "sessions")


@dataclass(frozen=True)
class Limits:
    """What the connections are measured against, and when a figure is a breach."""

    connections_percent: float
    pool_percent: float
    pool_size: int | None  # the pooler's pool size per role and database; None: unknown
    pool_clients: int | None  # the pooler's client limit, for the record
    long_query_seconds: float
    idle_in_transaction_seconds: float


@dataclass(frozen=True)
class Session:
    pid: int
    role: str
    application: str
    state: str
    seconds_in_state: float
    seconds_in_query: float


@dataclass(frozen=True)
class Snapshot:
    max_connections: int
    reserved: int  # slots only superusers (and pg_use_reserved_connections) may take
    sessions: tuple[Session, ...]
    rows_read: int
    rows_written: int
    since: str | None  # when the statistics were last reset; None: since the server started


_SESSIONS = """
SELECT pid, coalesce(usename, ''), coalesce(application_name, ''), coalesce(state, ''),
       extract(epoch FROM now() - coalesce(state_change, now()))::float8,
       extract(epoch FROM now() - coalesce(query_start, now()))::float8
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
"""
_ROWS = """
SELECT coalesce(tup_returned + tup_fetched, 0)::bigint,
       coalesce(tup_inserted + tup_updated + tup_deleted, 0)::bigint,
       stats_reset::text
FROM pg_stat_database WHERE datname = current_database()
"""


def _setting(conn: psycopg.Connection[Any], name: str) -> int:
    row = conn.execute("SELECT setting::int FROM pg_settings WHERE name = %s", (name,)).fetchone()
    return int(row[0]) if row else 0


class CannotSeeSessions(Exception):
    """The role cannot see other roles' sessions, so every count would read low."""


def snapshot(url: str) -> Snapshot:
    """One consistent look at the database's sessions and row counts."""
    with connect_for_check(url, autocommit=True) as conn:
        sees_all = conn.execute(
            "SELECT rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') FROM pg_roles "
            "WHERE rolname = current_user"
        ).fetchone()
        if not (sees_all and sees_all[0]):
            role = _one_text(conn.execute("SELECT current_user").fetchone())
            raise CannotSeeSessions(
                f"{role} cannot see other roles' sessions, so the counts would read low: "
                f"grant pg_read_all_stats to {role}"
            )
        sessions = tuple(Session(*row) for row in conn.execute(_SESSIONS).fetchall())
        reads, writes, since = conn.execute(_ROWS).fetchone() or (0, 0, None)
        reserved = _setting(conn, "superuser_reserved_connections") + _setting(conn, "reserved_connections")
        return Snapshot(_setting(conn, "max_connections"), reserved, sessions, int(reads), int(writes), since)


def _one_text(row: tuple[Any, ...] | None) -> str:
    return str(row[0]) if row else "the role"


def _percent(used: int, limit: int) -> float:
    return 100.0 * used / limit if limit > 0 else 100.0


def _counted(counter: Counter[str]) -> str:
    return ", ".join(f"{name or '(none)'} {n}" for name, n in counter.most_common(5)) or "none"


def connections_check(shot: Snapshot, limits: Limits) -> Check:
    available = max(shot.max_connections - shot.reserved, 0)
    used = len(shot.sessions)
    share = _percent(used, available)
    detail = (
        f"{used} of {available} connection slots in use ({share:.0f}%, limit {limits.connections_percent:g}%); "
        f"by role: {_counted(Counter(s.role for s in shot.sessions))}; "
        f"by application: {_counted(Counter(s.application for s in shot.sessions))}"
    )
    return (
        Check.failed("connections", detail)
        if share >= limits.connections_percent
        else Check.passed("connections", detail)
    )


def pool_check(shot: Snapshot, limits: Limits, is_app_role: Callable[[str], bool]) -> Check:
    """The busiest of the login roles apps use against the pool size."""
    clients = f"; the pooler admits {limits.pool_clients} clients" if limits.pool_clients else ""
    if limits.pool_size is None:
        return Check.skipped(
            "pool",
            "the Management API reports no pool size (the compute size's default applies): "
            f"set envstack:monitoring.poolSize to check against it{clients}",
        )
    busy = Counter(s.role for s in shot.sessions if is_app_role(s.role) and s.state not in ("idle", ""))
    role, used = busy.most_common(1)[0] if busy else ("every app role", 0)
    share = _percent(used, limits.pool_size)
    detail = (
        f"{role}: {used} of {limits.pool_size} pooled server connections busy "
        f"({share:.0f}%, limit {limits.pool_percent:g}%){clients}"
    )
    return Check.failed("pool", detail) if share >= limits.pool_percent else Check.passed("pool", detail)


def ratio_check(shot: Snapshot) -> Check:
    since = f"since {shot.since}" if shot.since else "since the server started"
    ratio = f"{shot.rows_read / shot.rows_written:.1f}:1" if shot.rows_written else "no writes"
    return Check.passed("read/write", f"{shot.rows_read} rows read, {shot.rows_written} written ({ratio}) {since}")


def sessions_check(shot: Snapshot, limits: Limits) -> Check:
    slow = [s for s in shot.sessions if s.state == "active" and s.seconds_in_query >= limits.long_query_seconds]
    stuck = [
        s
        for s in shot.sessions
        if s.state.startswith("idle in transaction") and s.seconds_in_state >= limits.idle_in_transaction_seconds
    ]
    if not slow and not stuck:
        return Check.passed(
            "sessions",
            f"no query running {limits.long_query_seconds:g}s or longer, "
            f"no transaction idle {limits.idle_in_transaction_seconds:g}s or longer",
        )
    parts = []
    if slow:
        parts.append(_longest(slow, f"queries running {limits.long_query_seconds:g}s or longer", in_query=True))
    if stuck:
        parts.append(_longest(stuck, f"transactions idle {limits.idle_in_transaction_seconds:g}s or longer"))
    return Check.failed("sessions", "; ".join(parts))


def _longest(found: Sequence[Session], what: str, *, in_query: bool = False) -> str:
    def age(s: Session) -> float:
        return s.seconds_in_query if in_query else s.seconds_in_state

    top = max(found, key=age)
    application = top.application or "no application"
    return f"{len(found)} {what} (longest: pid {top.pid}, {top.role}, {application}, {age(top):.0f}s)"


def pool_checks(url: str | None, limits: Limits, is_app_role: Callable[[str], bool]) -> list[Check]:
    if not url:
        return [Check.skipped(n, "the stack exports no URL to read the database's sessions with") for n in NAMES]
    try:
        shot = snapshot(url)
    except CannotSeeSessions as exc:
        return [Check.failed(n, str(exc)) for n in NAMES]
    except psycopg.Error as exc:
        detail = redact(f"cannot read the database's sessions: {str(exc).strip()}", secrets_of(url))
        return [Check.failed(n, detail) for n in NAMES]
    return [
        connections_check(shot, limits),
        pool_check(shot, limits, is_app_role),
        ratio_check(shot),
        sessions_check(shot, limits),
    ]
