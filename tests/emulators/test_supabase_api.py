"""The local Supabase Management API behaves as the real one: lifecycle, errors, limits,
keys, and projects that are real PostgreSQL databases reached directly and pooled."""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.emulators.common.faults import FaultRule
from tests.emulators.common.openapi import load_spec, specs_dir
from tests.emulators.common.server import Response
from tests.emulators.supabase import tokens
from tests.emulators.supabase.app import SPEC_FILE
from tests.emulators.supabase.fixtures import SupabaseTenant
from tests.emulators.supabase.pooler import SESSION_PORT
from tests.emulators.supabase.routing import HANDLERS, Ctx
from tests.emulators.supabase.testing import (
    can_login,
    create_project,
    healthy_project,
    pg,
    port_open,
    provisioned_pooler,
    wait_status,
)

ROOT = Path(__file__).resolve().parents[2]
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


@pytest.fixture
def client(supabase_api: SupabaseTenant) -> Any:
    with supabase_api.client() as http:
        yield http


@pytest.fixture(autouse=True)
def ipv6(supabase_api: SupabaseTenant) -> None:
    """These tests reach direct hosts as a machine with IPv6 does (the tests below the
    host-names heading show what a machine without it sees), and send off-spec requests
    on purpose, to see them refused."""
    supabase_api.configure(ipv6_route=True)
    supabase_api.sends_off_spec_requests = True


def test_an_off_spec_request_is_refused_and_counted(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    answer = client.post("/v1/projects", json={"name": "x", "organization_slug": supabase_api.org_slug})
    assert answer.status_code == 400
    found = supabase_api.emulator.app.violations()[-1]
    assert found.startswith("POST /v1/projects: request to v1-create-a-project: "), found
    assert "'db_pass' is a required property" in found
    secret = "do-not-print-" + "x" * 3
    client.patch("/v1/projects/abcdefghijklmnopqrst/database/password", json={"password": secret, "extra": 1})
    assert secret not in "".join(supabase_api.emulator.app.violations()), "a password never reaches a report"
    supabase_api.take_violations()


# -- host names --------------------------------------------------------------------------------
def test_hosts_are_dns_names_and_the_direct_host_is_ipv6_only(
    supabase_api: SupabaseTenant, client: httpx.Client
) -> None:
    project = healthy_project(supabase_api, client)
    ref, direct, pooler = project["ref"], project["database"]["host"], project["pooler"]["db_host"]
    assert re.fullmatch(rf"db\.{ref}\.s\d+\.supabase\.test", direct), direct
    assert re.fullmatch(r"aws-0-[a-z0-9-]+\.pooler\.s\d+\.supabase\.test", pooler), pooler
    families = {info[0] for info in socket.getaddrinfo(direct, 5432, type=socket.SOCK_STREAM)}
    assert families == {socket.AF_INET6}, "db.<ref> has an AAAA record only, as on Supabase without the IPv4 add-on"
    assert {info[0] for info in socket.getaddrinfo(pooler, 5432, type=socket.SOCK_STREAM)} == {socket.AF_INET}
    with pg(direct, 5432, "postgres", project["db_pass"]) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("postgres",)


def test_without_an_ipv6_route_the_direct_host_is_unreachable_and_the_pooler_works(
    supabase_api: SupabaseTenant, client: httpx.Client
) -> None:
    project = healthy_project(supabase_api, client)
    supabase_api.configure(ipv6_route=False)
    direct, pooler = project["database"]["host"], project["pooler"]["db_host"]
    assert not port_open(direct, 5432), "an IPv4-only machine cannot reach db.<ref>"
    with pg(pooler, 5432, f"postgres.{project['ref']}", project["db_pass"]) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    supabase_api.configure(ipv6_route=True)
    assert port_open(direct, 5432), "the same name leads to the database once IPv6 routes"


# -- lifecycle ---------------------------------------------------------------------------------
def test_a_project_is_healthy_only_once_its_database_accepts_connections(
    supabase_api: SupabaseTenant, client: httpx.Client
) -> None:
    supabase_api.configure(provisioning_delay=0.6)
    created = create_project(supabase_api, client)
    assert created["status"] == "UNKNOWN", "the create answer is UNKNOWN, as recorded"
    ref = created["ref"]
    host = client.get(f"/v1/projects/{ref}").json()["database"]["host"]
    assert client.get(f"/v1/projects/{ref}").json()["status"] == "COMING_UP"
    assert not can_login(host, 5432, "postgres", created["db_pass"]), "no database while COMING_UP"
    health = client.get(f"/v1/projects/{ref}/health", params={"services": "db,pooler"}).json()
    assert {h["status"] for h in health} == {"COMING_UP"}

    seen: list[str] = []
    deadline = time.monotonic() + 30
    while not seen or seen[-1] != "ACTIVE_HEALTHY":
        assert time.monotonic() < deadline, seen
        status = client.get(f"/v1/projects/{ref}").json()["status"]
        if status == "ACTIVE_HEALTHY":
            # The very first healthy answer already means clients get in.
            assert can_login(host, 5432, "postgres", created["db_pass"])
        if not seen or seen[-1] != status:
            seen.append(status)
        time.sleep(0.05)
    assert seen == ["COMING_UP", "ACTIVE_HEALTHY"]
    health = client.get(f"/v1/projects/{ref}/health", params={"services": "db,pooler,rest"}).json()
    assert [(h["name"], h["status"], h["healthy"]) for h in health] == [
        ("db", "ACTIVE_HEALTHY", True),
        ("pooler", "ACTIVE_HEALTHY", True),
        ("rest", "ACTIVE_HEALTHY", True),
    ]
    assert client.get(f"/v1/projects/{ref}/health").status_code == 400, "services is required"


def test_deleting_while_provisioning_is_refused_then_works(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    supabase_api.configure(provisioning_delay=0.5)
    created = create_project(supabase_api, client)
    ref = created["ref"]
    refused = client.delete(f"/v1/projects/{ref}")
    assert (refused.status_code, refused.json()) == (400, {"message": "Project not ready for deletion."})
    wait_status(client, ref)
    info = supabase_api.project(ref)
    assert info is not None
    assert info.postgres_running
    assert info.data_dir is not None
    assert port_open(info.db_host, 5432)

    deleted = client.delete(f"/v1/projects/{ref}")
    assert deleted.status_code == 200
    body = deleted.json()
    assert isinstance(body["id"], int)
    assert body["ref"] == ref
    assert body["name"] == "app"
    gone = client.get(f"/v1/projects/{ref}")
    assert (gone.status_code, gone.json()) == (404, {"message": "Project not found"})
    assert supabase_api.project_status(ref) is None
    assert not port_open(info.db_host, 5432), "its PostgreSQL is stopped"
    assert not info.data_dir.exists(), "its files are gone"
    assert not can_login(info.pooler_host or "", 6543, f"postgres.{ref}", created["db_pass"])


def test_unknown_and_foreign_refs_are_404_on_every_project_route(
    supabase_api: SupabaseTenant, client: httpx.Client
) -> None:
    mine = create_project(supabase_api, client)["ref"]
    stranger = supabase_api.emulator.add_tenant()
    routes: list[tuple[str, str, dict[str, str] | None]] = [
        ("GET", "", None),
        ("PATCH", "", {"name": "x"}),
        ("DELETE", "", None),
        ("GET", "/health?services=db", None),
        ("GET", "/api-keys", None),
        ("GET", "/api-keys/legacy", None),
        ("GET", "/config/database/pooler", None),
        ("PATCH", "/database/password", {"password": "another-one"}),
        ("GET", "/postgrest", None),
        ("GET", "/config/auth", None),
        ("GET", "/config/auth/signing-keys", None),
        ("GET", "/branches", None),
    ]
    for ref, token in (("abcdefghijklmnopqrst", supabase_api.token), (mine, stranger.token)):
        with supabase_api.client(token) as http:
            for method, suffix, body in routes:
                answer = http.request(method, f"/v1/projects/{ref}{suffix}", json=body)
                assert (answer.status_code, answer.json()) == (404, {"message": "Project not found"}), (method, suffix)
    assert supabase_api.project_status(mine) in ("UNKNOWN", "COMING_UP", "ACTIVE_HEALTHY"), "untouched"


def test_a_missing_or_wrong_token_is_401(supabase_api: SupabaseTenant) -> None:
    for headers in ({}, {"Authorization": "Bearer sbp_wrong"}, {"Authorization": f"Basic {supabase_api.token}"}):
        answer = httpx.get(f"{supabase_api.url}/v1/projects", headers=headers)
        assert (answer.status_code, answer.json()) == (401, {"message": "Unauthorized"})
        assert all(name in answer.headers for name in RATE_HEADERS)
    assert supabase_api.calls() == [], "nothing was done as this tenant"


def test_every_answer_carries_rate_limit_headers(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    answers = [
        client.get("/v1/organizations"),
        client.get("/v1/organizations"),
        client.get("/v1/projects/abcdefghijklmnopqrst"),
        client.post("/v1/projects", json={"name": "x"}),
        client.get("/v1/no-such-thing"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 404, 400, 404]
    for answer in answers:
        assert all(name in answer.headers for name in RATE_HEADERS), answer.headers
        assert int(answer.headers["x-ratelimit-limit"]) == 120
        assert 0 < int(answer.headers["x-ratelimit-reset"]) <= 60
    assert [int(a.headers["x-ratelimit-remaining"]) for a in answers[:2]] == [119, 118]


def test_past_the_limit_answers_429_until_the_window_ends(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    supabase_api.configure(rate_limit=3)
    statuses = [client.get("/v1/organizations").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    throttled = client.get("/v1/organizations")
    assert throttled.json() == {"message": "ThrottlerException: Too Many Requests"}
    assert throttled.headers["x-ratelimit-remaining"] == "0"
    assert client.get("/v1/projects").status_code == 200, "the limit is per endpoint"
    supabase_api.advance_clock(int(throttled.headers["x-ratelimit-reset"]) - 1)
    assert client.get("/v1/organizations").status_code == 429, "the window has not ended"
    supabase_api.advance_clock(1)
    assert client.get("/v1/organizations").status_code == 200, "a new window"


def test_pooler_settings_answer_500_until_the_pooler_is_provisioned(
    supabase_api: SupabaseTenant, client: httpx.Client
) -> None:
    ref = create_project(supabase_api, client)["ref"]
    url = f"/v1/projects/{ref}/config/database/pooler"
    assert client.get(url).status_code == 500, "no pooler tenant before the project is healthy"
    wait_status(client, ref)
    first = client.get(url)
    assert first.status_code == 500, "the first read after create is refused however late it comes"
    assert first.json()["message"].startswith("Failed to retrieve the pooler configuration")
    assert client.patch(url, json={"default_pool_size": 5}).status_code == 500, "for the warm-up"
    supabase_api.advance_clock(supabase_api.emulator.behaviour.pooler_warmup)
    assert client.get(url).status_code == 200
    assert client.patch(url, json={"default_pool_size": 5}).status_code == 200


# -- projects ------------------------------------------------------------------------------------
def test_a_free_project_idle_for_a_week_is_paused_and_restores_with_its_data(supabase_api: SupabaseTenant) -> None:
    free = supabase_api.emulator.add_tenant(plan="free")
    with supabase_api.client(free.token) as http:
        body = {"name": "sleepy", "organization_slug": free.organization.slug, "db_pass": "pw-sleepy-1"}
        ref = http.post("/v1/projects", json=body).json()["ref"]
        wait_status(http, ref)
        info = supabase_api.project(ref)
        assert info is not None
        with pg(info.db_host, info.db_port, "postgres", body["db_pass"]) as conn:
            conn.execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)")
        supabase_api.advance_clock(6 * 24 * 3600)
        assert http.get(f"/v1/projects/{ref}").json()["status"] == "ACTIVE_HEALTHY", "six idle days are fine"
        supabase_api.advance_clock(7 * 24 * 3600)
        assert http.get(f"/v1/projects/{ref}").json()["status"] == "INACTIVE", "a week idle: paused"
        assert not can_login(info.db_host, info.db_port, "postgres", body["db_pass"]), "its database is down"
        assert http.post(f"/v1/projects/{ref}/pause").status_code == 400, "already paused"
        assert http.post(f"/v1/projects/{ref}/restore").status_code == 200
        assert wait_status(http, ref)[-1] == "ACTIVE_HEALTHY"
        with pg(info.db_host, info.db_port, "postgres", body["db_pass"]) as conn:
            assert conn.execute("SELECT id FROM kept").fetchall() == [(7,)], "restored with its data"
        assert http.post(f"/v1/projects/{ref}/restore").status_code == 400, "only a paused project restores"
        assert http.post(f"/v1/projects/{ref}/pause").status_code == 200, "a Free project can be paused by hand"
        assert "INACTIVE" in wait_status(http, ref, "INACTIVE")
        assert http.delete(f"/v1/projects/{ref}").status_code == 200


def test_a_pro_project_never_pauses(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    ref = healthy_project(supabase_api, client, "awake")["ref"]
    supabase_api.advance_clock(30 * 24 * 3600)
    assert client.get(f"/v1/projects/{ref}").json()["status"] == "ACTIVE_HEALTHY"
    assert client.post(f"/v1/projects/{ref}/pause").status_code == 400, "only Free projects pause"


def test_a_free_organization_holds_two_active_projects_and_no_branches(supabase_api: SupabaseTenant) -> None:
    free = supabase_api.emulator.add_tenant(plan="free")
    with supabase_api.client(free.token) as http:
        body = {"organization_slug": free.organization.slug, "db_pass": "pw-free-plan-1"}
        first, second = (http.post("/v1/projects", json={**body, "name": n}) for n in ("one", "two"))
        assert (first.status_code, second.status_code) == (201, 201)
        third = http.post("/v1/projects", json={**body, "name": "three"})
        assert third.status_code == 400
        assert "maximum limits for the number of active free projects" in third.json()["message"]
        wait_status(http, first.json()["ref"])
        branch = http.post(f"/v1/projects/{first.json()['ref']}/branches", json={"branch_name": "feat"})
        assert branch.status_code == 400
        assert "Pro plan" in branch.json()["message"]
        wait_status(http, second.json()["ref"])
        assert http.delete(f"/v1/projects/{second.json()['ref']}").status_code == 200
        third = http.post("/v1/projects", json={**body, "name": "three"})
        assert third.status_code == 201, "a deleted project frees its place"
        wait_status(http, third.json()["ref"])
        for ref in (first.json()["ref"], third.json()["ref"]):
            assert http.delete(f"/v1/projects/{ref}").status_code == 200


def test_organization_projects_are_paginated_and_searchable(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    assert client.get("/v1/organizations").json() == [
        {"id": supabase_api.org_slug, "slug": supabase_api.org_slug, "name": supabase_api.tenant.organization.name}
    ]
    for name in ("alpha", "beta", "gamma"):
        create_project(supabase_api, client, name)
    url = f"/v1/organizations/{supabase_api.org_slug}/projects"
    first = client.get(url, params={"limit": 2}).json()
    assert [p["name"] for p in first["projects"]] == ["alpha", "beta"]
    assert first["pagination"] == {"count": 3, "limit": 2, "offset": 0}
    rest = client.get(url, params={"limit": 2, "offset": 2}).json()
    assert [p["name"] for p in rest["projects"]] == ["gamma"]
    assert [p["name"] for p in client.get(url, params={"search": "et"}).json()["projects"]] == ["beta"]
    newest = client.get(url, params={"sort": "created_desc", "limit": 1}).json()["projects"]
    assert [p["name"] for p in newest] == ["gamma"]
    assert client.get(url, params={"limit": 101}).status_code == 400, "limit is at most 100"
    assert client.get("/v1/organizations/someone-else/projects").status_code == 404
    assert sorted(p["name"] for p in client.get("/v1/projects").json()) == ["alpha", "beta", "gamma"]


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        ({"colour": "red"}, "colour"),
        ({"name": None}, "name"),
        ({"region_selection": {"type": "specific", "code": "us-east-1"}}, "region"),
        ({"region": "mars-1"}, "region"),
        ({"desired_instance_size": "enormous"}, "desired_instance_size"),
    ],
)
def test_create_body_rules(
    supabase_api: SupabaseTenant, client: httpx.Client, change: dict[str, Any], mentions: str
) -> None:
    body: dict[str, Any] = {
        "name": "x",
        "organization_slug": supabase_api.org_slug,
        "db_pass": "pw-1",
        "region": "us-east-1",
    }
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    answer = client.post("/v1/projects", json=body)
    assert answer.status_code == 400
    assert mentions in answer.json()["message"]
    assert client.get("/v1/projects").json() == [], "nothing was created"


def test_regions_refs_renaming_and_compute(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    created = create_project(supabase_api, client, region_selection={"type": "smartGroup", "code": "emea"})
    ref = created["ref"]
    assert created["region"] == "eu-central-1"
    assert len(ref) == 20
    assert ref.isalpha()
    assert ref.islower()
    renamed = client.patch(f"/v1/projects/{ref}", json={"name": "renamed"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "renamed"
    assert isinstance(renamed.json()["id"], int)
    assert client.get(f"/v1/projects/{ref}").json()["name"] == "renamed"
    resized = client.patch(
        f"/v1/projects/{ref}/billing/addons", json={"addon_type": "compute_instance", "addon_variant": "ci_small"}
    )
    assert resized.status_code == 200
    info = supabase_api.project(ref)
    assert info is not None
    assert info.instance_size == "small"
    mismatched = {"addon_type": "compute_instance", "addon_variant": "pitr_7"}
    assert client.patch(f"/v1/projects/{ref}/billing/addons", json=mismatched).status_code == 400
    other_region = healthy_project(supabase_api, client, "other", region="ap-south-1")
    pooler_of = {r: provisioned_pooler(supabase_api, client, r)["db_host"] for r in (ref, other_region["ref"])}
    assert pooler_of[ref] != pooler_of[other_region["ref"]], "one pooler host per region"


# -- keys ----------------------------------------------------------------------------------------
def test_legacy_keys_are_jwts_signed_with_the_projects_jwt_secret(
    supabase_api: SupabaseTenant, client: httpx.Client
) -> None:
    ref = create_project(supabase_api, client)["ref"]
    secret = client.get(f"/v1/projects/{ref}/postgrest").json()["jwt_secret"]
    keys = {k["id"]: k for k in client.get(f"/v1/projects/{ref}/api-keys", params={"reveal": "true"}).json()}
    for role in ("anon", "service_role"):
        assert keys[role]["type"] == "legacy"
        claims = tokens.verify_hs256(keys[role]["api_key"], secret)
        assert claims["iss"] == "supabase"
        assert claims["ref"] == ref
        assert claims["role"] == role
        assert claims["exp"] > claims["iat"] > 0
        with pytest.raises(ValueError, match="signature"):
            tokens.verify_hs256(keys[role]["api_key"], secret + "x")
    other = create_project(supabase_api, client, "other")["ref"]
    assert client.get(f"/v1/projects/{other}/postgrest").json()["jwt_secret"] != secret


def test_publishable_and_secret_keys_are_created_masked_and_deleted(
    supabase_api: SupabaseTenant, client: httpx.Client
) -> None:
    ref = create_project(supabase_api, client)["ref"]
    base = f"/v1/projects/{ref}/api-keys"
    made = client.post(base, json={"type": "secret", "name": "ci_deploy"})
    assert made.status_code == 201
    key = made.json()
    assert key["api_key"] == key["prefix"] + tokens.MASK * 26, "unrevealed secret keys are masked"
    assert key["secret_jwt_template"] == {"role": "service_role"}
    revealed = client.get(f"{base}/{key['id']}", params={"reveal": "true"}).json()["api_key"]
    assert revealed.startswith("sb_secret_")
    assert revealed.startswith(key["prefix"])
    assert tokens.MASK not in revealed
    assert len(revealed) == len(key["api_key"])
    published = client.post(base, json={"type": "publishable", "name": "web_app"}).json()
    assert published["api_key"].startswith("sb_publishable_"), "publishable keys are never masked"
    names = [(k["type"], k["name"]) for k in client.get(base).json()]
    assert names == [
        ("legacy", "anon"),
        ("legacy", "service_role"),
        ("publishable", "default"),
        ("secret", "default"),
        ("secret", "ci_deploy"),
        ("publishable", "web_app"),
    ]
    patched = client.patch(f"{base}/{key['id']}", json={"description": "CI"})
    assert patched.json()["description"] == "CI"
    assert client.delete(f"{base}/{key['id']}").status_code == 200
    assert client.get(f"{base}/{key['id']}").status_code == 404
    assert client.delete(f"{base}/anon").status_code == 400, "legacy keys are disabled, not deleted"
    assert client.post(base, json={"type": "secret", "name": "ab"}).status_code == 400, "names are 4-64 chars"
    assert client.put(f"{base}/legacy", params={"enabled": "false"}).json() == {"enabled": False}
    assert client.get(f"{base}/legacy").json() == {"enabled": False}


def test_signing_key_state_rules(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    ref = create_project(supabase_api, client)["ref"]
    base = f"/v1/projects/{ref}/config/auth/signing-keys"
    assert client.get(f"{base}/legacy").status_code == 404, "not imported yet"
    legacy = client.post(f"{base}/legacy")
    assert legacy.status_code == 201
    assert (legacy.json()["algorithm"], legacy.json()["status"]) == ("HS256", "in_use")
    assert client.post(f"{base}/legacy").status_code == 400, "imported once"
    standby = client.post(base, json={"algorithm": "ES256"}).json()
    assert standby["status"] == "standby"
    assert standby["public_jwk"]["kty"] == "EC"

    def status(key_id: str) -> str:
        return str(client.get(f"{base}/{key_id}").json()["status"])

    assert client.patch(f"{base}/{standby['id']}", json={"status": "in_use"}).status_code == 200
    throttled = client.patch(f"{base}/{legacy.json()['id']}", json={"status": "standby"})
    assert throttled.status_code == 429, "state changes are throttled for about five minutes"
    assert "try again in 300 seconds" in throttled.json()["message"]
    assert throttled.headers["x-ratelimit-reset"] == "300"
    supabase_api.advance_clock(298)
    assert client.patch(f"{base}/{legacy.json()['id']}", json={"status": "standby"}).status_code == 429
    supabase_api.advance_clock(2)
    assert (status(standby["id"]), status(legacy.json()["id"])) == ("in_use", "previously_used")
    in_use = [k for k in client.get(base).json()["keys"] if k["status"] == "in_use"]
    assert [k["id"] for k in in_use] == [standby["id"]], "exactly one key in use"
    assert client.patch(f"{base}/{standby['id']}", json={"status": "revoked"}).status_code == 400
    legacy_id = legacy.json()["id"]
    assert client.patch(f"{base}/{legacy_id}", json={"status": "revoked"}).status_code == 400, "legacy keys still on"
    client.put(f"/v1/projects/{ref}/api-keys/legacy", params={"enabled": "false"})
    assert client.patch(f"{base}/{legacy_id}", json={"status": "revoked"}).status_code == 200
    supabase_api.advance_clock(300)
    assert client.delete(f"{base}/{legacy_id}").status_code == 400, "the legacy secret is never deleted"
    assert client.put(f"/v1/projects/{ref}/api-keys/legacy", params={"enabled": "true"}).status_code == 400

    spare = client.post(base, json={"algorithm": "RS256"}).json()
    assert client.delete(f"{base}/{spare['id']}").status_code == 400, "only revoked keys are deleted"
    assert client.patch(f"{base}/{spare['id']}", json={"status": "previously_used"}).status_code == 200
    throttled = client.patch(f"{base}/{spare['id']}", json={"status": "revoked"})
    assert throttled.status_code == 429
    assert client.patch(f"{base}/{spare['id']}", json={"status": "previously_used"}).status_code == 200, "no-op"
    supabase_api.advance_clock(300)
    assert client.patch(f"{base}/{spare['id']}", json={"status": "revoked"}).status_code == 200
    supabase_api.advance_clock(300)
    assert client.delete(f"{base}/{spare['id']}").status_code == 200
    assert client.get(f"{base}/{spare['id']}").status_code == 404
    assert client.post(base, json={"algorithm": "ES256", "colour": "red"}).status_code == 400


# -- the databases -------------------------------------------------------------------------------
def test_a_password_change_really_changes_the_password(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    project = healthy_project(supabase_api, client)
    ref, host, old = project["ref"], project["database"]["host"], project["db_pass"]
    pooler, user = project["pooler"]["db_host"], project["pooler"]["db_user"]
    assert can_login(host, 5432, "postgres", old)
    assert can_login(pooler, 6543, user, old)
    new = "a-new-password-" + str(time.time_ns())
    answer = client.patch(f"/v1/projects/{ref}/database/password", json={"password": new})
    assert answer.status_code == 200
    assert isinstance(answer.json()["message"], str)
    for port, login in ((5432, "postgres"), (6543, user), (5432, user)):
        target = host if login == "postgres" else pooler
        assert not can_login(target, port, login, old), (port, login)
        assert can_login(target, port, login, new), (port, login)
    assert client.patch(f"/v1/projects/{ref}/database/password", json={"password": "abc"}).status_code == 400


def test_the_pooler_serves_postgres_and_roles_created_later_in_both_modes(
    supabase_api: SupabaseTenant, client: httpx.Client
) -> None:
    project = healthy_project(supabase_api, client)
    ref, pooler = project["ref"], project["pooler"]
    assert (pooler["db_user"], pooler["db_port"], pooler["db_name"]) == (f"postgres.{ref}", 6543, "postgres")
    assert (
        pooler["connection_string"] == f"postgresql://postgres.{ref}:[YOUR-PASSWORD]@{pooler['db_host']}:6543/postgres"
    )
    with pg(project["database"]["host"], 5432, "postgres", project["db_pass"]) as admin:
        roles = dict(
            admin.execute("SELECT rolname, rolsuper FROM pg_roles WHERE rolname IN ('postgres', 'supabase_admin')")
        )
        assert roles == {"postgres": False, "supabase_admin": True}, "postgres is not a superuser"
        admin.execute("CREATE TABLE public.notes (body text)")
        admin.execute("CREATE ROLE app_writer LOGIN PASSWORD 'writer-secret-1'")
        admin.execute("GRANT INSERT, SELECT ON public.notes TO app_writer")
    for port in (6543, 5432):
        for sslmode in ("require", "disable"):
            with pg(pooler["db_host"], port, f"postgres.{ref}", project["db_pass"], sslmode) as conn:
                assert conn.pgconn.ssl_in_use is (sslmode == "require")
                assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        with pg(pooler["db_host"], port, f"app_writer.{ref}", "writer-secret-1") as conn:
            conn.execute("INSERT INTO public.notes VALUES ('pooled')")
            assert conn.execute("SELECT current_user").fetchone() == ("app_writer",)
    with pytest.raises(psycopg.OperationalError, match="Tenant or user not found"):
        pg(pooler["db_host"], 6543, "postgres.abcdefghijklmnopqrst", project["db_pass"])
    with pytest.raises(psycopg.OperationalError, match="Tenant or user not found"):
        pg(pooler["db_host"], 6543, "postgres", project["db_pass"])
    assert not can_login(pooler["db_host"], 6543, f"app_writer.{ref}", "wrong-password")


def test_projects_have_supabases_roles(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    project = healthy_project(supabase_api, client)
    with pg(project["database"]["host"], 5432, "postgres", project["db_pass"]) as conn:
        assert conn.pgconn.ssl_in_use, "the direct host serves TLS"
        roles = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT rolname, rolsuper, rolcanlogin, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls"
                " FROM pg_roles WHERE rolname IN ('supabase_admin', 'postgres', 'anon', 'authenticated',"
                " 'service_role', 'authenticator', 'pgbouncer')"
            )
        }
        assert roles == {
            "supabase_admin": (True, True, True, True, True, True),
            "postgres": (False, True, True, True, True, True),
            "anon": (False, False, False, False, False, False),
            "authenticated": (False, False, False, False, False, False),
            "service_role": (False, False, False, False, False, True),
            "authenticator": (False, True, False, False, False, False),
            "pgbouncer": (False, True, False, False, False, False),
        }
        owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'postgres'").fetchone()
        assert owner == ("postgres",)
        conn.execute("CREATE TABLE public.mine (id int)")  # PostgreSQL 15: only the owner may
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT pgbouncer.get_auth('postgres')")
        definer = conn.execute("SELECT prosecdef FROM pg_proc WHERE proname = 'get_auth'").fetchone()
        assert definer == (True,)


def test_ten_wrong_passwords_open_the_poolers_circuit_breaker_for_that_address(
    supabase_api: SupabaseTenant, client: httpx.Client
) -> None:
    project = healthy_project(supabase_api, client, "breaker")
    ref, host = project["ref"], project["pooler"]["db_host"]
    for attempt in range(10):
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            pg(host, 6543, f"postgres.{ref}", f"stale-password-{attempt}")
    # Ten failures within five minutes: the right password is refused too, on both ports.
    for port in (6543, 5432):
        with pytest.raises(psycopg.OperationalError, match="Circuit breaker open: Too many authentication errors"):
            pg(host, port, f"postgres.{ref}", project["db_pass"])
    assert can_login(project["database"]["host"], 5432, "postgres", project["db_pass"]), "the database is fine"
    supabase_api.advance_clock(599)
    assert not can_login(host, 6543, f"postgres.{ref}", project["db_pass"]), "blocked for ten minutes"
    supabase_api.advance_clock(1)
    assert can_login(host, 6543, f"postgres.{ref}", project["db_pass"])


def test_wrong_passwords_spread_over_time_do_not_open_the_breaker(
    supabase_api: SupabaseTenant, client: httpx.Client
) -> None:
    project = healthy_project(supabase_api, client, "patient")
    ref, host = project["ref"], project["pooler"]["db_host"]
    for attempt in range(12):
        # Refused for the password, not for anything else (a timeout would not be counted when
        # this test thinks it is): each failure shows its own reason.
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            pg(host, 6543, f"postgres.{ref}", f"stale-password-{attempt}")
        supabase_api.advance_clock(35)  # at most nine in any five minutes
    with pg(host, 6543, f"postgres.{ref}", project["db_pass"]) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_ssl_enforcement_refuses_plain_connections_directly_and_pooled(
    supabase_api: SupabaseTenant, client: httpx.Client
) -> None:
    project = healthy_project(supabase_api, client, "tls-only")
    ref, pooler, password = project["ref"], project["pooler"]["db_host"], project["db_pass"]
    info = supabase_api.project(ref)
    assert info is not None
    url = f"/v1/projects/{ref}/ssl-enforcement"
    assert client.get(url).json() == {"currentConfig": {"database": False}, "appliedSuccessfully": True}
    assert can_login(pooler, 6543, f"postgres.{ref}", password, sslmode="disable"), "plain works by default"
    on = client.put(url, json={"requestedConfig": {"database": True}})
    assert on.json() == {"currentConfig": {"database": True}, "appliedSuccessfully": True}
    for host, port, user in (
        (info.db_host, 5432, "postgres"),
        (pooler, 6543, f"postgres.{ref}"),
        (pooler, 5432, f"postgres.{ref}"),
    ):
        assert not can_login(host, port, user, password, sslmode="disable"), f"{host}:{port} needs TLS now"
        assert can_login(host, port, user, password), f"{host}:{port} with TLS"
    assert client.put(url, json={"requestedConfig": {"database": False}}).json()["currentConfig"] == {"database": False}
    assert can_login(pooler, 6543, f"postgres.{ref}", password, sslmode="disable")
    assert can_login(info.db_host, 5432, "postgres", password, sslmode="disable")


def test_network_restrictions_are_kept_and_checked(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    ref = create_project(supabase_api, client, "fenced")["ref"]
    url = f"/v1/projects/{ref}/network-restrictions"
    assert client.get(url).json() == {
        "entitlement": "allowed",
        "config": {"dbAllowedCidrs": ["0.0.0.0/0"], "dbAllowedCidrsV6": ["::/0"]},
        "status": "applied",
    }, "a new project lets every address in"
    applied = client.post(
        f"{url}/apply", json={"dbAllowedCidrs": ["203.0.113.0/24"], "dbAllowedCidrsV6": ["2001:db8::/32"]}
    )
    assert applied.status_code == 201
    assert client.get(url).json()["config"] == {
        "dbAllowedCidrs": ["203.0.113.0/24"],
        "dbAllowedCidrsV6": ["2001:db8::/32"],
    }
    assert client.post(f"{url}/apply", json={"dbAllowedCidrs": ["2001:db8::/32"]}).status_code == 400, "wrong family"
    assert client.post(f"{url}/apply", json={"dbAllowedCidrs": ["not-a-network"]}).status_code == 400


def test_the_pooler_negotiates_like_postgres(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    project = healthy_project(supabase_api, client)
    host = project["pooler"]["db_host"]
    with socket.create_connection((host, 6543), timeout=5) as raw:
        raw.sendall(struct.pack("!II", 8, 80877104))  # GSSENCRequest
        assert raw.recv(1) == b"N"
        raw.sendall(struct.pack("!II", 8, 80877103))  # SSLRequest
        assert raw.recv(1) == b"S"
    before = supabase_api.emulator.pooler.pids()
    other = healthy_project(supabase_api, client, "other")
    assert can_login(host, 6543, other["pooler"]["db_user"], other["db_pass"])
    assert supabase_api.emulator.pooler.pids() == before, "new tenants arrive by reload, not restart"


def test_a_pgbouncer_that_died_is_started_again_and_said_so(
    supabase_api: SupabaseTenant, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Supavisor comes back after a failure; a dead PgBouncer of the stand-in would otherwise fail
    every later project of the session with INIT_FAILED, far from the cause."""
    pooler = supabase_api.emulator.pooler
    dead = pooler.pids()["transaction"]
    assert dead is not None
    os.kill(dead, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pooler.pids()["transaction"] is not None:
        assert time.monotonic() < deadline, "the killed PgBouncer is still seen running"
        time.sleep(0.05)
    project = healthy_project(supabase_api, client, "after-crash")
    assert can_login(project["pooler"]["db_host"], 6543, project["pooler"]["db_user"], project["db_pass"])
    assert pooler.pids()["transaction"] not in (None, dead)
    assert "the transaction PgBouncer had stopped" in caplog.text


def test_a_pgbouncer_that_runs_but_refuses_every_new_login_is_started_again(
    supabase_api: SupabaseTenant,
    client: httpx.Client,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seen once in CI: the session PgBouncer kept answering "server login has been failing"
    to every new project of the worker, so each ended INIT_FAILED after 30 s. Its logins are
    refused here until it is started again, as a wedged one's were."""
    pooler = supabase_api.emulator.pooler
    provisioner = supabase_api.emulator.provisioner
    wedged = pooler.pids()["session"]
    refusal = provisioner.databases.refusal
    wedge = "FATAL:  server login has been failing, try again later (server_login_retry)"

    def refused_by_the_wedged_one(host: str, password: str, *, port: int = 5432, user: str = "postgres") -> str | None:
        if port == SESSION_PORT and user.startswith("postgres.") and pooler.pids()["session"] == wedged:
            return wedge
        return refusal(host, password, port=port, user=user)

    monkeypatch.setattr(provisioner.databases, "refusal", refused_by_the_wedged_one)
    project = healthy_project(supabase_api, client, "after-wedge")
    monkeypatch.undo()
    assert pooler.pids()["session"] not in (None, wedged)
    assert can_login(project["pooler"]["db_host"], SESSION_PORT, project["pooler"]["db_user"], project["db_pass"])
    assert re.search(r"the session PgBouncer \d+ refuses new logins .*server_login_retry", caplog.text)


def test_transaction_mode_pools_per_transaction_and_session_mode_per_session(
    supabase_api: SupabaseTenant, client: httpx.Client
) -> None:
    project = healthy_project(supabase_api, client)
    pooler, password = project["pooler"], project["db_pass"]

    def tag_then_look(port: int) -> str | None:
        """One client tags its server session; a second client asks for the tag."""
        with pg(pooler["db_host"], port, pooler["db_user"], password) as first:
            first.execute("SELECT set_config('emulator.tag', 'first', false)")
            if port == 6543:
                first.close()  # its transaction is over: the server connection goes back to the pool
            with pg(pooler["db_host"], port, pooler["db_user"], password) as second:
                row = second.execute("SELECT current_setting('emulator.tag', true)").fetchone()
        return row[0] if row else None

    assert tag_then_look(6543) == "first", "transaction mode hands the same server session to the next client"
    assert tag_then_look(5432) in (None, ""), "session mode keeps each client's session its own"
    with (
        pg(pooler["db_host"], 6543, pooler["db_user"], password) as one,
        pg(pooler["db_host"], 6543, pooler["db_user"], password) as two,
        one.transaction(),
    ):
        pid = one.execute("SELECT pg_backend_pid()").fetchone()
        assert two.execute("SELECT pg_backend_pid()").fetchone() != pid, "a transaction holds its server"


def test_branches_are_databases_of_their_own(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    parent = healthy_project(supabase_api, client)
    ref = parent["ref"]
    with pg(parent["database"]["host"], 5432, "postgres", parent["db_pass"]) as conn:
        conn.execute("CREATE TABLE public.only_in_parent (id int)")
    made = client.post(f"/v1/projects/{ref}/branches", json={"branch_name": "pr-7", "git_branch": "feature/x"})
    assert made.status_code == 201
    branch = made.json()
    assert (branch["parent_project_ref"], branch["is_default"], branch["persistent"]) == (ref, False, False)
    listed = client.get(f"/v1/projects/{ref}/branches").json()
    assert [(b["name"], b["is_default"]) for b in listed] == [("main", True), ("pr-7", False)]
    assert client.get(f"/v1/projects/{ref}/branches/pr-7").json()["id"] == branch["id"]
    assert client.post(f"/v1/projects/{ref}/branches", json={"branch_name": "pr-7"}).status_code == 400

    config_url = f"/v1/branches/{branch['project_ref']}"
    deadline = time.monotonic() + 30
    while (detail := client.get(config_url).json())["status"] != "ACTIVE_HEALTHY":
        assert time.monotonic() < deadline, detail["status"]
        time.sleep(0.05)
    assert client.get(f"/v1/branches/{branch['id']}").json()["ref"] == branch["project_ref"], "by id too"
    assert detail["db_host"] != parent["database"]["host"]
    assert detail["db_port"] == 5432
    with pg(detail["db_host"], detail["db_port"], detail["db_user"], detail["db_pass"]) as conn:
        found = conn.execute("SELECT to_regclass('public.only_in_parent')").fetchone()
        assert found == (None,), "a branch starts from an empty schema of its own"
    assert detail["jwt_secret"] != client.get(f"/v1/projects/{ref}/postgrest").json()["jwt_secret"]

    assert client.patch(config_url, json={"persistent": True}).json()["persistent"] is True
    refused = client.delete(config_url)
    assert (refused.status_code, refused.json()) == (422, {"message": "Cannot delete persistent branch."})
    client.patch(config_url, json={"persistent": False})
    assert client.delete(config_url).json() == {"message": "ok"}
    assert client.get(config_url).status_code == 404
    assert not port_open(detail["db_host"], 5432), "the branch database is stopped"
    assert [b["name"] for b in client.get(f"/v1/projects/{ref}/branches").json()] == ["main"]
    assert client.delete(f"/v1/branches/{listed[0]['id']}").status_code == 422, "main is persistent"


def test_auth_and_postgrest_settings_are_kept(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    ref = create_project(supabase_api, client)["ref"]
    auth = client.get(f"/v1/projects/{ref}/config/auth").json()
    assert auth["jwt_exp"] == 3600
    assert "jwt_secret" not in auth
    changed = client.patch(f"/v1/projects/{ref}/config/auth", json={"jwt_exp": 7200, "site_url": "https://app.test"})
    assert (changed.json()["jwt_exp"], changed.json()["site_url"]) == (7200, "https://app.test")
    assert client.get(f"/v1/projects/{ref}/config/auth").json()["jwt_exp"] == 7200
    assert client.patch(f"/v1/projects/{ref}/config/auth", json={"jwt_exp": 10**7}).status_code == 400
    postgrest = client.patch(f"/v1/projects/{ref}/postgrest", json={"max_rows": 50}).json()
    assert postgrest["max_rows"] == 50
    assert "jwt_secret" not in postgrest
    assert client.get(f"/v1/projects/{ref}/postgrest").json()["max_rows"] == 50
    wait_status(client, ref)
    provisioned_pooler(supabase_api, client, ref)
    pooler = client.patch(f"/v1/projects/{ref}/config/database/pooler", json={"default_pool_size": 5}).json()
    assert pooler == {"default_pool_size": 5, "pool_mode": "transaction"}


# -- faults --------------------------------------------------------------------------------------
def test_init_failed_projects_leave_no_database(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    supabase_api.configure(fail_next_provisionings=1)
    failed = create_project(supabase_api, client, "doomed")
    seen = wait_status(client, failed["ref"], "INIT_FAILED")
    assert seen[-1] == "INIT_FAILED"
    assert "ACTIVE_HEALTHY" not in seen
    info = supabase_api.project(failed["ref"])
    assert info is not None
    assert not info.postgres_running
    assert not port_open(info.db_host, 5432)
    assert client.delete(f"/v1/projects/{failed['ref']}").status_code == 200
    fine = create_project(supabase_api, client, "fine")
    assert wait_status(client, fine["ref"])[-1] == "ACTIVE_HEALTHY", "only the next one failed"


def test_injected_errors_with_and_without_retry_after(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    supabase_api.faults.add(FaultRule(path="/v1/projects", method="GET", status=503, headers={"Retry-After": "2"}))
    supabase_api.faults.add(
        FaultRule(path="/v1/organizations", status=429, body={"message": "ThrottlerException: Too Many Requests"})
    )
    unavailable = client.get("/v1/projects")
    assert unavailable.status_code == 503
    assert unavailable.headers["retry-after"] == "2"
    throttled = client.get("/v1/organizations")
    assert throttled.status_code == 429
    assert "retry-after" not in throttled.headers
    assert client.get("/v1/projects").status_code == 200
    assert client.get("/v1/organizations").status_code == 200
    supabase_api.faults.add(FaultRule(path="/v1/projects", method="POST", action="drop", when="after"))
    with pytest.raises(httpx.TransportError):
        client.post(
            "/v1/projects", json={"name": "lost", "organization_slug": supabase_api.org_slug, "db_pass": "pw-1"}
        )
    assert [p["name"] for p in client.get("/v1/projects").json()] == ["lost"], "the create took effect"
    assert [(c.status, c.injected) for c in supabase_api.calls()][:3] == [(503, True), (429, True), (200, False)]


def test_dropped_pooler_connections(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    project = healthy_project(supabase_api, client)
    pooler = project["pooler"]
    supabase_api.configure(drop_pooler_connections=2)
    for _ in range(2):
        with pytest.raises(psycopg.OperationalError):
            pg(pooler["db_host"], 6543, pooler["db_user"], project["db_pass"])
    assert can_login(pooler["db_host"], 6543, pooler["db_user"], project["db_pass"])


# -- the harness itself --------------------------------------------------------------------------
def test_query_parameters_are_checked_against_the_spec() -> None:
    spec = load_spec(specs_dir() / SPEC_FILE)
    health = spec.operations["v1-get-services-health"]
    assert spec.validate_query(health, {"services": ["db,pooler"], "timeout_ms": ["100"]}) == []
    assert spec.validate_query(health, {"services": ["db", "rest"]}) == [], "repeated values make an array too"
    assert spec.validate_query(health, {}) == ["services: a required query parameter is missing"]
    assert any("'kettle' is not one of" in p for p in spec.validate_query(health, {"services": ["db,kettle"]}))
    assert any(
        "not of type 'integer'" in p for p in spec.validate_query(health, {"services": ["db"], "timeout_ms": ["x"]})
    )
    keys = spec.operations["v1-get-project-api-keys"]
    assert spec.validate_query(keys, {"reveal": ["true"], "unknown": ["1"]}) == []
    assert spec.validate_query(keys, {"reveal": ["yes"]}) != []


def test_unknown_routes_are_404(client: httpx.Client) -> None:
    answer = client.get("/v2/whatever")
    assert answer.status_code == 404
    assert "message" in answer.json()


def test_an_answer_off_the_spec_is_caught(
    supabase_api: SupabaseTenant, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def off_spec(_ctx: Ctx) -> Response:
        return Response(200, [{"slug": 42}])

    monkeypatch.setitem(HANDLERS, "v1-list-all-organizations", off_spec)
    client.get("/v1/organizations")
    problems = supabase_api.take_violations()
    assert any("'name' is a required property" in p for p in problems), problems
    assert supabase_api.violations() == [], "taken: the fixture will not fail this test for them"


def test_the_standalone_emulator_serves_until_sigterm_and_cleans_up(tmp_path: Path) -> None:
    state, log = tmp_path / "state", tmp_path / "emulator.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators.supabase", "--port", "0", "--state-dir", str(state)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        printed = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(3))
        url = printed["SUPABASE_API_URL"]
        tenant = httpx.post(f"{url}/_emulator/tenants", json={"name": "Bench"}).json()
        headers = {"Authorization": f"Bearer {tenant['token']}"}
        assert httpx.get(f"{url}/v1/organizations", headers=headers).json()[0]["name"] == "Bench"
        config = httpx.post(f"{url}/_emulator/config", json={"rate_limit": 50}).json()
        assert config["rate_limit"] == 50
        assert httpx.post(f"{url}/_emulator/config", json={"colour": 1}).status_code == 400
        body = {"name": "bench", "organization_slug": tenant["org_slug"], "db_pass": "pw-bench-1"}
        ref = httpx.post(f"{url}/v1/projects", json=body, headers=headers).json()["ref"]
        deadline = time.monotonic() + 30
        while (info := httpx.get(f"{url}/_emulator/projects/{ref}").json())["status"] != "ACTIVE_HEALTHY":
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert info["postgres_running"]
        assert port_open(info["db_host"], 5432)
        calls = httpx.get(f"{url}/_emulator/tenants/{tenant['tenant']}/calls").json()
        assert [c["operation_id"] for c in calls] == ["v1-list-all-organizations", "v1-create-a-project"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    assert not port_open(info["db_host"], 5432), "its databases stopped with it"
    assert not port_open(info["pooler_host"], 6543), "and its pooler"
    assert sorted(p.name for p in state.iterdir()) == [], "its files are gone"
    assert not Path(info["data_dir"]).exists(), "its clusters too"
