"""Connection URLs for a Supabase project, built from the parts its API reports.

Hosts always come from the API (the project's ``database.host`` and the pooler's
``db_host``): nothing here assumes a host name. Transaction pooling (6543) is what apps
use; Prisma additionally needs ``pgbouncer=true`` behind it.

Sessions (migrations, ``POSTGRES_URL_NON_POOLING``) go either to the direct host, which is
IPv6-only on Supabase unless the IPv4 add-on is bought, or to the session pooler (port 5432
on the pooler host), which takes IPv4 too. ``supabase:ipv6`` chooses:

- ``auto`` (the default): envstack's own sessions try the direct host first and fall back to
  the session pooler (providers/database_route.py); the app gets the session pooler, because
  the networks apps run on (Vercel's functions among them) may have no IPv6.
- ``true``: the direct host for both (every network involved has IPv6, or the add-on is bought).
- ``false``: the session pooler for both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import quote

SESSION_POOLER_PORT = 5432
DIRECT_PORT = 5432

Ipv6 = bool | Literal["auto"]
Route = Literal["direct", "session pooler"]


@dataclass(frozen=True)
class ProjectParts:
    ref: str
    db_host: str
    db_name: str
    pooler_host: str
    pooler_port: int
    pooler_user: str  # postgres.<ref>
    password: str


def _url(user: str, password: str, host: str, port: int, database: str, *extra: str) -> str:
    query = "&".join(("sslmode=require", *extra))
    return f"postgresql://{quote(user, safe='.')}:{quote(password, safe='')}@{host}:{port}/{database}?{query}"


def pooled_url(p: ProjectParts) -> str:
    return _url(p.pooler_user, p.password, p.pooler_host, p.pooler_port, p.db_name)


def prisma_url(p: ProjectParts) -> str:
    return _url(p.pooler_user, p.password, p.pooler_host, p.pooler_port, p.db_name, "pgbouncer=true")


def session_url(p: ProjectParts, route: Route) -> str:
    """A session as postgres: on the direct host, or through the session pooler."""
    if route == "direct":
        return _url("postgres", p.password, p.db_host, DIRECT_PORT, p.db_name)
    return _url(p.pooler_user, p.password, p.pooler_host, SESSION_POOLER_PORT, p.db_name)


def admin_candidates(p: ProjectParts, ipv6: Ipv6) -> list[str]:
    """Where envstack's own sessions may go, in order of preference."""
    if ipv6 == "auto":
        return [session_url(p, "direct"), session_url(p, "session pooler")]
    return [session_url(p, "direct" if ipv6 else "session pooler")]


def app_route(ipv6: Ipv6) -> Route:
    """The session route written into the app's variables: direct only when told IPv6 works."""
    return "direct" if ipv6 is True else "session pooler"


def as_role(p: ProjectParts, role: str, password: str) -> ProjectParts:
    """The same project's parts for another login role: the pooler knows it as ``<role>.<ref>``."""
    return replace(p, pooler_user=f"{role}.{p.ref}", password=password)


def role_url(p: ProjectParts, role: str, password: str, route: Route) -> str:
    """A session URL for another login role."""
    if route == "direct":
        return _url(role, password, p.db_host, DIRECT_PORT, p.db_name)
    return _url(f"{role}.{p.ref}", password, p.pooler_host, SESSION_POOLER_PORT, p.db_name)


@dataclass(frozen=True)
class ReplicaParts:
    """Where a project's read replica answers (its own host, and its own route on the pooler)."""

    identifier: str  # <ref>-rr-<region>-<id>: the pooler knows a login as <role>.<identifier>
    host: str | None
    pooler_host: str | None


def replica_admin_candidates(p: ProjectParts, replica: ReplicaParts, ipv6: Ipv6) -> list[str]:
    """Where envstack's own sessions on the read replica may go (as ``postgres``), in order of preference."""
    routes: list[Route] = ["direct", "session pooler"] if ipv6 == "auto" else ["direct" if ipv6 else "session pooler"]
    return [replica_url(p, replica, "postgres", p.password, route) for route in routes]


def replica_url(p: ProjectParts, replica: ReplicaParts, role: str, password: str, route: Route) -> str:
    """A session URL for ``role`` on the read replica, by the same route the app's sessions take."""
    if route == "direct" and replica.host:
        return _url(role, password, replica.host, DIRECT_PORT, p.db_name)
    return _url(
        f"{role}.{replica.identifier}", password, replica.pooler_host or p.pooler_host, SESSION_POOLER_PORT, p.db_name
    )
