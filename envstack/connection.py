"""Connection URLs for a Supabase project, built from the parts its API reports.

Hosts always come from the API (the project's ``database.host`` and the pooler's
``db_host``): nothing here assumes a host name. Transaction pooling (6543) is what apps
use; Prisma additionally needs ``pgbouncer=true`` behind it. Migrations need a session:
the direct host by default, or the session pooler (port 5432 on the pooler host) when the
machine running them has no IPv6, which Supabase's direct hosts require.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import quote

SESSION_POOLER_PORT = 5432
DIRECT_PORT = 5432


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


def direct_url(p: ProjectParts, *, ipv6: bool = True) -> str:
    if ipv6:
        return _url("postgres", p.password, p.db_host, DIRECT_PORT, p.db_name)
    return _url(p.pooler_user, p.password, p.pooler_host, SESSION_POOLER_PORT, p.db_name)


def as_role(p: ProjectParts, role: str, password: str) -> ProjectParts:
    """The same project's parts for another login role: the pooler knows it as ``<role>.<ref>``."""
    return replace(p, pooler_user=f"{role}.{p.ref}", password=password)


def role_url(p: ProjectParts, role: str, password: str, *, ipv6: bool = True) -> str:
    """A URL for another login role, over the same route migrations use."""
    if ipv6:
        return _url(role, password, p.db_host, DIRECT_PORT, p.db_name)
    return _url(f"{role}.{p.ref}", password, p.pooler_host, SESSION_POOLER_PORT, p.db_name)
