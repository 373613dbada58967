"""The local Supabase API's read replicas are real: a hot standby that streams from the
project's database, refuses writes, is reached at its own host and through the pooler, and
is gone once removed (tests/emulators/supabase/replicas.py)."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import psycopg
import pytest

from tests.emulators.supabase.fixtures import SupabaseTenant
from tests.emulators.supabase.replicas import Replica
from tests.emulators.supabase.testing import can_login, healthy_project, pg, port_open, wait_status

DEADLINE = 30.0


@pytest.fixture
def client(supabase_api: SupabaseTenant) -> Any:
    supabase_api.configure(ipv6_route=True)  # the direct hosts are reached as from a machine with IPv6
    with supabase_api.client() as http:
        yield http


def listed_replicas(api: SupabaseTenant, client: httpx.Client, ref: str) -> list[dict[str, Any]]:
    """The project's READ_REPLICA databases, as the organization's project list shows them."""
    projects = client.get(f"/v1/organizations/{api.org_slug}/projects").json()["projects"]
    [project] = [p for p in projects if p["ref"] == ref]
    return [d for d in project["databases"] if d["type"] == "READ_REPLICA"]


def wait_replica(api: SupabaseTenant, client: httpx.Client, ref: str, identifier: str, wanted: str | None) -> None:
    """Poll the list until the replica has ``wanted`` (None: until it is no longer listed)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        found = [r["status"] for r in listed_replicas(api, client, ref) if r["identifier"] == identifier]
        status = found[0] if found else None
        if status == wanted:
            return
        assert time.monotonic() < deadline, f"{identifier} still {status}, not {wanted}"
        time.sleep(0.05)


def set_up(api: SupabaseTenant, client: httpx.Client, ref: str, region: str) -> dict[str, Any]:
    before = {r["identifier"] for r in listed_replicas(api, client, ref)}
    answer = client.post(f"/v1/projects/{ref}/read-replicas/setup", json={"read_replica_region": region})
    assert answer.status_code == 201, answer.text
    assert answer.content == b"", "the spec documents no body: the identifier comes from the list"
    [new] = [r for r in listed_replicas(api, client, ref) if r["identifier"] not in before]
    return new


def healthy_replica(api: SupabaseTenant, client: httpx.Client, ref: str, region: str) -> dict[str, Any]:
    replica = set_up(api, client, ref, region)
    api.advance_clock(api.emulator.behaviour.replica_provisioning)
    wait_replica(api, client, ref, replica["identifier"], "ACTIVE_HEALTHY")
    return replica


def state_of(api: SupabaseTenant, identifier: str) -> Replica:
    replica = api.emulator.replicas.find(identifier)
    assert replica is not None
    return replica


def primary_admin(api: SupabaseTenant, ref: str) -> str:
    """The project's PostgreSQL as its superuser (``postgres`` may not read replication state)."""
    server = api.emulator.state.projects[ref].server
    assert server is not None
    return server.admin_conninfo()


def poll(check: Any, what: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_replica_streams_from_the_primary_refuses_writes_and_is_gone_once_removed(
    supabase_api: SupabaseTenant, client: httpx.Client
) -> None:
    project = healthy_project(supabase_api, client, "replicated", desired_instance_size="small")
    ref, password, primary_host = project["ref"], project["db_pass"], project["database"]["host"]
    with pg(primary_host, 5432, "postgres", password) as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        conn.execute("INSERT INTO notes VALUES (1, 'before the replica')")
        conn.execute("CREATE ROLE app_reader LOGIN PASSWORD 'reader-secret-1'")
        conn.execute("GRANT SELECT ON notes TO app_reader")

    replica = set_up(supabase_api, client, ref, "eu-west-2")
    identifier = replica["identifier"]
    assert re.fullmatch(rf"{ref}-rr-eu-west-2-[a-z]{{5}}", identifier), identifier
    assert (replica["status"], replica["region"], replica["infra_compute_size"]) == (
        "INIT_READ_REPLICA",
        "eu-west-2",
        "small",
    )
    host = primary_host.replace(f"db.{ref}.", f"db.{identifier}.", 1)
    state = state_of(supabase_api, identifier)
    assert state.host_name == host, "the replica's host follows the project's: db.<identifier>.<domain>"
    # The base backup is copied at once, but nothing listens until the deployment's time passed.
    poll(lambda: (state.root_dir / "data" / "standby.signal").exists(), "the base backup was never copied")
    assert listed_replicas(supabase_api, client, ref)[0]["status"] == "INIT_READ_REPLICA"
    assert not port_open(host, 5432), "a replica being deployed answers nobody"

    supabase_api.advance_clock(supabase_api.emulator.behaviour.replica_provisioning)
    wait_replica(supabase_api, client, ref, identifier, "ACTIVE_HEALTHY")
    admin_url = f"{supabase_api.url}/_emulator/replicas/{identifier}"
    info = httpx.get(admin_url).json()  # what a standalone emulator tells about it
    assert (info["status"], info["postgres_running"], info["host_name"]) == ("ACTIVE_HEALTHY", True, host)

    with pg(host, 5432, "postgres", password) as standby, pg(primary_host, 5432, "postgres", password) as primary:
        assert standby.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        assert standby.execute("SELECT body FROM notes").fetchall() == [("before the replica",)]
        primary.execute("INSERT INTO notes VALUES (2, 'after')")
        poll(
            lambda: standby.execute("SELECT body FROM notes WHERE id = 2").fetchall() == [("after",)],
            "a row written on the primary never reached the replica",
        )
        with psycopg.connect(primary_admin(supabase_api, ref), autocommit=True) as admin:
            streaming = admin.execute("SELECT application_name, state FROM pg_stat_replication").fetchall()
        assert streaming == [(identifier, "streaming")], "it follows the primary by streaming replication"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="cannot execute INSERT in a read-only"):
            standby.execute("INSERT INTO notes VALUES (3, 'on the replica')")

    # A physical copy: the project's login roles log in with their passwords, directly and pooled.
    with pg(host, 5432, "app_reader", "reader-secret-1") as reader:
        assert reader.execute("SELECT count(*) FROM notes").fetchone() == (2,)
    poolers = client.get(f"/v1/projects/{ref}/config/database/pooler").json()
    [entry] = [p for p in poolers if p["database_type"] == "READ_REPLICA"]
    assert (entry["identifier"], entry["db_user"]) == (identifier, f"postgres.{identifier}")
    assert re.fullmatch(r"aws-0-eu-west-2\.pooler\.s\d+\.supabase\.test", entry["db_host"]), entry["db_host"]
    with pg(entry["db_host"], 5432, f"app_reader.{identifier}", "reader-secret-1") as pooled:
        assert pooled.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)

    answer = client.post(f"/v1/projects/{ref}/read-replicas/remove", json={"database_identifier": identifier})
    assert answer.status_code == 201
    wait_replica(supabase_api, client, ref, identifier, None)
    assert not port_open(state.address, 5432), "its PostgreSQL is stopped"
    assert not can_login(host, 5432, "postgres", password), "its host refuses connections"
    assert not can_login(entry["db_host"], 5432, f"app_reader.{identifier}", "reader-secret-1"), "and its pooler route"
    assert not state.root_dir.exists(), "its files are gone"
    with pg(primary_host, 5432, "postgres", password) as primary:
        assert primary.execute("SELECT slot_name FROM pg_replication_slots").fetchall() == [], "no WAL kept for it"
        assert primary.execute("SELECT count(*) FROM notes").fetchone() == (2,), "the primary is untouched"
    gone = client.post(f"/v1/projects/{ref}/read-replicas/remove", json={"database_identifier": identifier})
    assert gone.status_code == 404
    assert httpx.get(admin_url).status_code == 404


def test_ssl_enforcement_reaches_the_replicas(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    project = healthy_project(supabase_api, client, "tls", desired_instance_size="small")
    ref, password = project["ref"], project["db_pass"]
    identifier = healthy_replica(supabase_api, client, ref, "us-east-1")["identifier"]
    address = state_of(supabase_api, identifier).address
    assert can_login(address, 5432, "postgres", password, sslmode="disable"), "plain works by default"
    answer = client.put(f"/v1/projects/{ref}/ssl-enforcement", json={"requestedConfig": {"database": True}})
    assert answer.status_code == 200
    assert not can_login(address, 5432, "postgres", password, sslmode="disable"), "the replica needs TLS too"
    assert can_login(address, 5432, "postgres", password, sslmode="require")
    pooler = state_of(supabase_api, identifier).pooler_host
    assert not can_login(pooler, 6543, f"postgres.{identifier}", password, sslmode="disable")
    assert can_login(pooler, 6543, f"postgres.{identifier}", password, sslmode="require")
    # A replica set up while SSL is enforced copies the rule with the data.
    second = healthy_replica(supabase_api, client, ref, "ap-south-1")["identifier"]
    assert not can_login(state_of(supabase_api, second).address, 5432, "postgres", password, sslmode="disable")


def test_deleting_the_project_removes_its_replicas(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    project = healthy_project(supabase_api, client, "doomed", desired_instance_size="small")
    ref = project["ref"]
    ready = state_of(supabase_api, healthy_replica(supabase_api, client, ref, "us-west-1")["identifier"])
    deploying = state_of(supabase_api, set_up(supabase_api, client, ref, "us-west-1")["identifier"])
    assert ready.server is not None
    assert ready.server.running()
    assert client.delete(f"/v1/projects/{ref}").status_code == 200
    for replica in (ready, deploying):
        assert replica.gone.is_set()
        assert not port_open(replica.address, 5432)
        assert not replica.root_dir.exists()
    assert supabase_api.emulator.replicas.of(ref) == []


def test_who_may_have_a_replica(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    supabase_api.sends_off_spec_requests = True
    nano = healthy_project(supabase_api, client, "tiny")["ref"]
    refused = client.post(f"/v1/projects/{nano}/read-replicas/setup", json={"read_replica_region": "us-east-1"})
    assert refused.status_code == 400
    assert "Small compute" in refused.json()["message"]
    bad_region = client.post(f"/v1/projects/{nano}/read-replicas/setup", json={"read_replica_region": "mars-1"})
    assert bad_region.status_code == 400, "the region is one of the spec's"
    unknown = client.post(f"/v1/projects/{nano}/read-replicas/remove", json={"database_identifier": "nope"})
    assert unknown.status_code == 404
    assert listed_replicas(supabase_api, client, nano) == []

    free = supabase_api.emulator.add_tenant(plan="free")
    with supabase_api.client(free.token) as http:
        body = {"name": "free", "organization_slug": free.organization.slug, "db_pass": "pw-free-replica-1"}
        ref = http.post("/v1/projects", json=body).json()["ref"]
        try:
            wait_status(http, ref)
            answer = http.post(f"/v1/projects/{ref}/read-replicas/setup", json={"read_replica_region": "us-east-1"})
            assert answer.status_code == 400
            assert "Pro, Team and Enterprise" in answer.json()["message"]
        finally:
            assert http.delete(f"/v1/projects/{ref}").status_code == 200

    small = healthy_project(supabase_api, client, "capped", desired_instance_size="small")["ref"]
    supabase_api.configure(replica_provisioning=3600)  # none need to come up for this
    for _ in range(4):
        set_up(supabase_api, client, small, "eu-central-1")
    fifth = client.post(f"/v1/projects/{small}/read-replicas/setup", json={"read_replica_region": "eu-central-1"})
    assert fifth.status_code == 400
    assert "at most 4 read replicas" in fifth.json()["message"]
