"""The read replica provider called directly, against the local Management API, whose
replicas are real hot standbys (tests/emulators/supabase/replicas.py)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from envstack.errors import ApiError, ResourceError
from providers.supabase_read_replica import SupabaseReadReplicaProvider
from tests.emulators.common.faults import FaultRule
from tests.emulators.supabase.testing import can_login, healthy_project, pg

SETUP = r"/v1/projects/[a-z]{20}/read-replicas/setup"


@pytest.fixture
def api(supabase_api: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", supabase_api.token)
    # The direct hosts are reached as from a machine with IPv6; a replica's deployment takes no
    # clock time unless a test says otherwise.
    supabase_api.configure(ipv6_route=True, replica_provisioning=0)
    return supabase_api


@pytest.fixture
def project(api: Any) -> dict[str, Any]:
    with api.client() as client:
        return healthy_project(api, client, "replicated", desired_instance_size="small")


def inputs(api: Any, ref: str, **changes: Any) -> dict[str, Any]:
    return {
        "api_url": api.url,
        "project_ref": ref,
        "region": "eu-west-2",
        "adopt_identifier": None,
        "wait_timeout": 60,
        **changes,
    }


def listed(api: Any, ref: str) -> list[dict[str, Any]]:
    with api.client() as client:
        projects = client.get(f"/v1/organizations/{api.org_slug}/projects").json()["projects"]
    [entry] = [p for p in projects if p["ref"] == ref]
    return [d for d in entry["databases"] if d["type"] == "READ_REPLICA"]


def setups(api: Any) -> int:
    return len([c for c in api.calls() if c.method == "POST" and c.path.endswith("/read-replicas/setup")])


def test_create_read_diff_delete(api: Any, project: dict[str, Any]) -> None:
    ref, password = project["ref"], project["db_pass"]
    provider = SupabaseReadReplicaProvider()
    wanted = inputs(api, ref)
    assert provider.check({}, wanted).failures == []
    assert [f.property for f in provider.check({}, {**wanted, "region": "mars-1"}).failures] == ["region"]

    created = provider.create(wanted)
    outs = dict(created.outs or {})
    identifier = created.id
    assert outs["identifier"] == identifier
    assert identifier.startswith(f"{ref}-rr-eu-west-2-")
    assert outs["status"] == "ACTIVE_HEALTHY"
    assert outs["host"] == project["database"]["host"].replace(f"db.{ref}.", f"db.{identifier}.")
    assert outs["port"] == 5432
    assert outs["pooler_user"] == f"postgres.{identifier}"
    with pg(outs["host"], outs["port"], "postgres", password) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,), "the host is the replica"
    with pg(outs["pooler_host"], 5432, f"postgres.{identifier}", password) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,), "and so is its pooler route"

    read = provider.read(identifier, outs)
    assert read.id == identifier
    assert read.outs is not None
    assert read.outs["host"] == outs["host"]
    moved = provider.diff(identifier, outs, inputs(api, ref, region="us-east-1"))
    assert moved.changes
    assert moved.replaces == ["region"]
    assert not moved.delete_before_replace, "the new replica comes up before the old goes"
    assert not provider.diff(identifier, outs, inputs(api, ref, wait_timeout=5)).changes

    provider.delete(identifier, outs)
    assert listed(api, ref) == [], "removed, and waited for until it is no longer listed"
    assert api.emulator.replicas.find(identifier) is None
    assert not can_login(outs["host"], 5432, "postgres", password)
    assert provider.read(identifier, outs).id == "", "a replica removed behind our back leaves the state"
    provider.delete(identifier, outs)  # already gone: a no-op


def test_create_waits_for_the_deployment(api: Any, project: dict[str, Any]) -> None:
    ref = project["ref"]
    api.configure(replica_provisioning=600)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(SupabaseReadReplicaProvider().create, inputs(api, ref))
        deadline = time.monotonic() + 30
        while not listed(api, ref):
            assert time.monotonic() < deadline, "the replica was never set up"
            time.sleep(0.05)
        assert [r["status"] for r in listed(api, ref)] == ["INIT_READ_REPLICA"]
        assert not running.done(), "create waits while the replica is deployed"
        api.advance_clock(600)
        created = running.result(timeout=60)
    assert created.outs is not None
    assert created.outs["status"] == "ACTIVE_HEALTHY"


def test_a_lost_setup_answer_makes_one_replica_and_a_second_run_finds_it(api: Any, project: dict[str, Any]) -> None:
    ref = project["ref"]
    api.faults.add(FaultRule(path=SETUP, method="POST", action="drop", when="after"))
    first = SupabaseReadReplicaProvider().create(inputs(api, ref))
    assert [r["identifier"] for r in listed(api, ref)] == [first.id], "one replica, not two"
    assert setups(api) == 1, "the lost answer was looked up, not repeated"

    # A run that died before recording the replica finds it in its region.
    again = SupabaseReadReplicaProvider().create(inputs(api, ref))
    assert again.id == first.id
    assert setups(api) == 1
    # The one the stack recorded is used; another region gets its own.
    adopted = SupabaseReadReplicaProvider().create(inputs(api, ref, adopt_identifier=first.id))
    assert adopted.id == first.id
    other = SupabaseReadReplicaProvider().create(inputs(api, ref, region="ap-south-1", adopt_identifier=first.id))
    assert other.id != first.id
    assert other.id.startswith(f"{ref}-rr-ap-south-1-")
    assert sorted(r["identifier"] for r in listed(api, ref)) == sorted([first.id, other.id])


def test_in_an_adopted_project_a_replica_already_there_is_not_claimed(api: Any, project: dict[str, Any]) -> None:
    """Another team's replica in the region would be recorded as the stack's, and removed when
    the setting goes or the stack is destroyed."""
    ref = project["ref"]
    theirs = SupabaseReadReplicaProvider().create(inputs(api, ref))  # made by someone else
    with pytest.raises(ResourceError, match=rf"already has a read replica in eu-west-2 \({theirs.id}\) that this"):
        SupabaseReadReplicaProvider().create(inputs(api, ref, claim_existing=False))
    assert setups(api) == 1, "nothing set up in its place either"
    ours = SupabaseReadReplicaProvider().create(inputs(api, ref, region="ap-south-1", claim_existing=False))
    assert ours.id != theirs.id
    assert setups(api) == 2
    assert sorted(r["identifier"] for r in listed(api, ref)) == sorted([theirs.id, ours.id])


def test_in_an_adopted_project_a_replica_a_failed_run_set_up_is_taken_once_named(
    api: Any, project: dict[str, Any]
) -> None:
    """The wait runs out: the replica the run set up is in no state, and the next run cannot
    tell it from someone else's. The error names the setting that says it is the stack's."""
    ref = project["ref"]
    api.configure(replica_provisioning=600)
    with pytest.raises(ResourceError) as caught:
        SupabaseReadReplicaProvider().create(inputs(api, ref, claim_existing=False, wait_timeout=0.5))
    [made] = [r["identifier"] for r in listed(api, ref)]
    assert f'set supabase:readReplica to {{"region": "eu-west-2", "identifier": "{made}"}}' in str(caught.value)
    # A run killed before it recorded the replica gets no such failure: the next run's refusal
    # names the setting too (recover drops the killed run's pending create).
    with pytest.raises(ResourceError, match="that this stack did not record") as refused:
        SupabaseReadReplicaProvider().create(inputs(api, ref, claim_existing=False))
    assert f'set supabase:readReplica to {{"region": "eu-west-2", "identifier": "{made}"}}' in str(refused.value)
    api.advance_clock(600)
    taken = SupabaseReadReplicaProvider().create(inputs(api, ref, claim_existing=False, adopt_identifier=made))
    assert taken.id == made
    assert setups(api) == 1, "set up once"


def test_a_project_without_the_compute_for_it_is_refused(api: Any) -> None:
    with api.client() as client:
        ref = healthy_project(api, client, "tiny")["ref"]  # nano, the default
    with pytest.raises(ApiError, match="Small compute"):
        SupabaseReadReplicaProvider().create(inputs(api, ref))
    assert listed(api, ref) == []
