"""Helpers for tests that drive the emulator through its API and its databases."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import psycopg

from tests.emulators.supabase.fixtures import SupabaseTenant


def pg(host: str, port: int, user: str, password: str, sslmode: str = "require") -> psycopg.Connection[Any]:
    """A connection the way an app makes one (prepared statements off for the pooler)."""
    return psycopg.connect(
        host=host,
        port=port,
        user=user,
        password=password,
        dbname="postgres",
        sslmode=sslmode,
        connect_timeout=5,
        prepare_threshold=None,
        autocommit=True,
    )


def can_login(host: str, port: int, user: str, password: str, sslmode: str = "require") -> bool:
    try:
        with pg(host, port, user, password, sslmode) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def port_open(host: str, port: int) -> bool:
    """Does anything answer at ``host:port``, over whichever family its name resolves to?"""
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def create_project(api: SupabaseTenant, client: httpx.Client, name: str = "app", **extra: Any) -> dict[str, Any]:
    body = {"name": name, "organization_slug": api.org_slug, "db_pass": f"pw-{name}-{time.time_ns()}", **extra}
    answer = client.post("/v1/projects", json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    created["db_pass"] = body["db_pass"]
    return created


def wait_status(client: httpx.Client, ref: str, wanted: str = "ACTIVE_HEALTHY", timeout: float = 45.0) -> list[str]:
    """Poll GET /v1/projects/{ref} until ``wanted``; every distinct status seen, in order."""
    start = time.monotonic()
    seen: list[str] = []
    while True:
        answer = client.get(f"/v1/projects/{ref}")
        assert answer.status_code == 200, f"GET /v1/projects/{ref} answered {answer.status_code}: {answer.text}"
        status = answer.json()["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == wanted:
            return seen
        # The stand-in gives up on a project after 30 s and logs why (provisioning.py).
        assert status != "INIT_FAILED", f"{ref} ended INIT_FAILED (seen {seen}); the captured log says why"
        waited = time.monotonic() - start
        assert waited < timeout, f"{ref} still {status} after {timeout}s (seen {seen})"
        # Fast while a project normally comes up, then slower: the API allows 120 calls a minute.
        time.sleep(0.05 if waited < 1 else 0.5)


def provisioned_pooler(api: SupabaseTenant, client: httpx.Client, ref: str) -> dict[str, Any]:
    """The pooler settings of a project just made healthy: they answer 500 until its pooler
    is provisioned, so the clock is moved past that instead of waiting for it."""
    url = f"/v1/projects/{ref}/config/database/pooler"
    answer = client.get(url)
    if answer.status_code == 500:
        api.advance_clock(api.emulator.behaviour.pooler_warmup)
        answer = client.get(url)
    assert answer.status_code == 200, answer.text
    entry: dict[str, Any] = answer.json()[0]
    return entry


def healthy_project(api: SupabaseTenant, client: httpx.Client, name: str = "app", **extra: Any) -> dict[str, Any]:
    created = create_project(api, client, name, **extra)
    wait_status(client, created["ref"])
    details: dict[str, Any] = client.get(f"/v1/projects/{created['ref']}").json()
    pooler = provisioned_pooler(api, client, created["ref"])
    return {**details, "db_pass": created["db_pass"], "pooler": pooler}
