"""The Vercel checks of `doctor`, against the in-process Vercel stand-in: each way a variable
the stack wrote can be wrong, and the deployment that must be newer than the variables."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from envstack.clients.vercel import VercelClient
from envstack.clients.vercel_scope import value_hash
from envstack.ops.stack_view import VercelVariables
from envstack.ops.vercel_checks import deployment_check, variable_checks
from tests.providers.fake_vercel import FakeVercel, new_token

API = "https://vercel.invalid"


@dataclass
class World:
    fake: FakeVercel
    client: VercelClient
    project_id: str
    values: dict[str, str]
    stack: VercelVariables

    def check(self) -> dict[str, tuple[str, str]]:
        live = self.client.list_env(self.project_id)
        found = [
            *variable_checks(self.client, self.stack, live),
            deployment_check(self.client, self.stack, live, "staging"),
        ]
        return {c.name.removeprefix("vercel web preview "): (c.status, c.detail) for c in found}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """What a staging `up` leaves: a secret and a public variable on preview, then a redeploy."""
    token = new_token()
    monkeypatch.setenv("VERCEL_TOKEN", token)
    fake = FakeVercel(token=token)
    project_id = fake.add_project("web")
    salt = secrets.token_hex(16)
    values = {"POSTGRES_URL": secrets.token_urlsafe(24), "SUPABASE_URL": "https://abc.supabase.co"}
    types = {"POSTGRES_URL": "sensitive", "SUPABASE_URL": "encrypted"}
    ids = {
        key: fake.add_env(project_id, key, value, type_=types[key], target=["preview"]) for key, value in values.items()
    }
    fake.add_deployment(project_id, target=None)
    stack = VercelVariables(
        project="web",
        project_id=project_id,
        api_url=API,
        team=fake.team_id,
        target="preview",
        git_branch=None,
        ids=ids,
        hashes={key: value_hash(salt, key, value) for key, value in values.items()},
        types=types,
        salt=salt,
    )
    with fake.client(API, fake.team_id) as client:
        yield World(fake, client, project_id, values, stack)
    assert fake.problems == []


def record(world: World, key: str) -> dict[str, Any]:
    return world.fake.env_of(world.project_id, key)[0]


def test_what_the_stack_wrote_passes_and_no_sensitive_value_is_asked_for(world: World) -> None:
    results = world.check()
    assert results["POSTGRES_URL"] == ("pass", "exists, value not readable (sensitive)")
    assert results["SUPABASE_URL"] == ("pass", "exists, value is the one the stack wrote (compared by hash)")
    assert results["deployment"][0] == "pass", results["deployment"]
    reads = [r.path for r in world.fake.requests if r.method == "GET" and "/env/" in r.path]
    assert reads, "the readable value was read back"
    assert all(record(world, "POSTGRES_URL")["id"] not in path for path in reads), "never the sensitive one"


def test_a_variable_moved_to_another_target_fails(world: World) -> None:
    record(world, "SUPABASE_URL")["target"] = ["preview", "production"]
    status, detail = world.check()["SUPABASE_URL"]
    assert (status, detail) == (
        "fail",
        "moved outside the stack: applies to preview, production (`pulumi up` restores it)",
    )


def test_a_secret_stored_readable_fails(world: World) -> None:
    record(world, "POSTGRES_URL")["type"] = "encrypted"
    status, detail = world.check()["POSTGRES_URL"]
    assert (status, detail) == ("fail", "stored as encrypted, not sensitive: its value can be read in Vercel")


def test_a_variable_deleted_and_made_again_by_hand_is_not_the_stacks(world: World) -> None:
    world.fake.envs[world.project_id].remove(record(world, "SUPABASE_URL"))
    world.fake.add_env(world.project_id, "SUPABASE_URL", world.values["SUPABASE_URL"], target=["preview"])
    status, detail = world.check()["SUPABASE_URL"]
    assert status == "fail"
    assert detail.startswith("replaced outside the stack")


def test_a_deployment_older_than_a_change_fails_and_none_at_all_is_skipped(world: World) -> None:
    record(world, "POSTGRES_URL")["updatedAt"] = world.fake._tick()
    status, detail = world.check()["deployment"]
    assert status == "fail"
    assert "predates the last variable change (POSTGRES_URL, " in detail
    world.fake.deployments.clear()
    assert world.check()["deployment"][0] == "skip"


def test_development_has_no_deployment_to_check(world: World) -> None:
    stack = VercelVariables(**{**world.stack.__dict__, "target": "development"})
    check = deployment_check(world.client, stack, world.client.list_env(world.project_id), "staging")
    assert check.status == "skip"
