"""Which host each URL goes to, for each supabase:ipv6 setting (envstack/db/supabase_urls.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from envstack.db import supabase_urls

PARTS = supabase_urls.ProjectParts(
    ref="abcdefghijklmnopqrst",
    db_host="db.abcdefghijklmnopqrst.supabase.co",
    db_name="postgres",
    pooler_host="aws-0-eu-central-1.pooler.supabase.com",
    pooler_port=6543,
    pooler_user="postgres.abcdefghijklmnopqrst",
    password="p@ss/word",
)
DIRECT = ("db.abcdefghijklmnopqrst.supabase.co", 5432, "postgres")
SESSION = ("aws-0-eu-central-1.pooler.supabase.com", 5432, "postgres.abcdefghijklmnopqrst")


def where(url: str) -> tuple[str | None, int | None, str | None]:
    parts = urlsplit(url)
    return parts.hostname, parts.port, parts.username


@pytest.mark.parametrize(
    ("ipv6", "candidates"),
    [("auto", [DIRECT, SESSION]), (True, [DIRECT]), (False, [SESSION])],
)
def test_envstacks_own_sessions_try_the_direct_host_first_only_on_auto(
    ipv6: supabase_urls.Ipv6, candidates: list[tuple[str, int, str]]
) -> None:
    assert [where(u) for u in supabase_urls.admin_candidates(PARTS, ipv6)] == candidates


@pytest.mark.parametrize(("ipv6", "host"), [("auto", SESSION[0]), (True, DIRECT[0]), (False, SESSION[0])])
def test_the_app_gets_the_direct_host_only_when_told_ipv6_works(ipv6: supabase_urls.Ipv6, host: str) -> None:
    url = supabase_urls.role_url(PARTS, "hermes_app_a", "pw", supabase_urls.app_route(ipv6))
    assert urlsplit(url).hostname == host
    # Through the pooler a role is <role>.<ref>; on the direct host it is the role itself.
    assert urlsplit(url).username == ("hermes_app_a" if host == DIRECT[0] else "hermes_app_a.abcdefghijklmnopqrst")


def test_passwords_are_quoted_in_every_route() -> None:
    for url in supabase_urls.admin_candidates(PARTS, "auto"):
        assert ":p%40ss%2Fword@" in url
        assert url.endswith("?sslmode=require")
