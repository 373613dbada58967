"""The Vercel checks of `doctor`, against the local Vercel API: each way a variable the stack
wrote can be wrong, and the deployment that must be newer than the variables."""

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
from tests.emulators.vercel.fixtures import VercelApi
from tests.providers.vercel_support import ENV_DECRYPTED, Calls, after, delete_by_hand, edit_by_hand


@dataclass
class World:
    api: VercelApi
    client: VercelClient
    project_id: str
    values: dict[str, str]
    stack: VercelVariables
    deployment: dict[str, Any]

    def check(self) -> dict[str, tuple[str, str]]:
        live = self.client.list_env(self.project_id)
        found = [
            *variable_checks(self.client, self.stack, live, "staging"),
            deployment_check(self.client, self.stack, live, "staging"),
        ]
        return {c.name.removeprefix("vercel web preview "): (c.status, c.detail) for c in found}


@pytest.fixture
def world(vercel_api: VercelApi) -> Iterator[World]:
    """What a staging `up` leaves: a secret and a public variable on preview, then a redeploy."""
    project_id = str(vercel_api.create_project("web")["id"])
    salt = secrets.token_hex(16)
    values = {"POSTGRES_URL": secrets.token_urlsafe(24), "SUPABASE_URL": "https://abc.supabase.co"}
    types = {"POSTGRES_URL": "sensitive", "SUPABASE_URL": "encrypted"}
    ids = {
        key: vercel_api.add_env_by_hand(project_id, key, value, target=["preview"], type=types[key]).id
        for key, value in values.items()
    }
    deployment = vercel_api.deploy(project_id, "preview")
    stack = VercelVariables(
        project="web",
        project_id=project_id,
        api_url=vercel_api.url,
        team=vercel_api.team,
        target="preview",
        git_branch=None,
        ids=ids,
        hashes={key: value_hash(salt, key, value) for key, value in values.items()},
        types=types,
        salt=salt,
    )
    with VercelClient(base_url=vercel_api.url, token=vercel_api.token, team=vercel_api.team) as client:
        yield World(vercel_api, client, project_id, values, stack, deployment)


def test_what_the_stack_wrote_passes_and_no_sensitive_value_is_asked_for(world: World) -> None:
    calls = Calls(world.api)
    results = world.check()
    assert results["POSTGRES_URL"] == ("pass", "exists, value not readable (sensitive)")
    assert results["SUPABASE_URL"] == ("pass", "exists, value is the one the stack wrote (compared by hash)")
    assert results["deployment"][0] == "pass", results["deployment"]
    reads = [c.path for c in calls.matching("GET", ENV_DECRYPTED)]
    assert reads == [f"/v1/projects/{world.project_id}/env/{world.stack.ids['SUPABASE_URL']}"], (
        "the readable value was read back, never the sensitive one"
    )
    assert world.api.decrypt_calls() == []


def test_a_sensitive_value_edited_by_hand_fails_by_its_date(world: World) -> None:
    """Its value cannot be read back, but Vercel's updatedAt moves with every edit: a later one
    than the stack recorded after its write is someone else's (what `up --refresh` repairs)."""
    live = {env.key: env for env in world.client.list_env(world.project_id)}
    stamps = {key: float(env.updated_at or 0.0) for key, env in live.items()}
    world.stack = VercelVariables(**{**world.stack.__dict__, "stamps": stamps})
    assert world.check()["POSTGRES_URL"] == ("pass", "exists, unchanged since the stack wrote it (sensitive: by date)")

    after(stamps["POSTGRES_URL"])
    edit_by_hand(world.api, world.project_id, world.stack.ids["POSTGRES_URL"], value=secrets.token_urlsafe(24))
    status, detail = world.check()["POSTGRES_URL"]
    assert status == "fail"
    assert detail.startswith("edited outside the stack at ")
    assert detail.endswith("(sensitive: seen by Vercel's updatedAt; `pulumi up --refresh --stack staging` restores it)")
    # A write whose answer was lost records no stamp (-1): nothing can be told then.
    unknown = VercelVariables(**{**world.stack.__dict__, "stamps": {**stamps, "POSTGRES_URL": -1.0}})
    world.stack = unknown
    assert world.check()["POSTGRES_URL"] == ("pass", "exists, value not readable (sensitive)")


def test_a_variable_moved_to_another_target_fails(world: World) -> None:
    edit_by_hand(world.api, world.project_id, world.stack.ids["SUPABASE_URL"], target=["preview", "production"])
    status, detail = world.check()["SUPABASE_URL"]
    assert (status, detail) == (
        "fail",
        "moved outside the stack: applies to preview, production (`pulumi up --refresh --stack staging` restores it)",
    )


def test_a_secret_stored_readable_fails(world: World) -> None:
    edit_by_hand(world.api, world.project_id, world.stack.ids["POSTGRES_URL"], type="encrypted")
    status, detail = world.check()["POSTGRES_URL"]
    assert (status, detail) == ("fail", "stored as encrypted, not sensitive: its value can be read in Vercel")


def test_a_variable_deleted_and_made_again_by_hand_is_not_the_stacks(world: World) -> None:
    delete_by_hand(world.api, world.project_id, world.stack.ids["SUPABASE_URL"])
    world.api.add_env_by_hand(world.project_id, "SUPABASE_URL", world.values["SUPABASE_URL"], target=["preview"])
    status, detail = world.check()["SUPABASE_URL"]
    assert status == "fail"
    assert detail.startswith("replaced outside the stack")


def test_a_deployment_older_than_a_change_fails_and_none_at_all_is_skipped(world: World) -> None:
    after(float(world.deployment["createdAt"]))
    edit_by_hand(world.api, world.project_id, world.stack.ids["POSTGRES_URL"], value=secrets.token_urlsafe(24))
    status, detail = world.check()["deployment"]
    assert status == "fail"
    assert "predates the last variable change (POSTGRES_URL, " in detail
    with world.api.http() as http:
        assert http.delete(f"/v13/deployments/{world.deployment['id']}").status_code == 200, "deleted in Vercel"
    assert world.check()["deployment"][0] == "skip"


def test_development_has_no_deployment_to_check(world: World) -> None:
    stack = VercelVariables(**{**world.stack.__dict__, "target": "development"})
    check = deployment_check(world.client, stack, world.client.list_env(world.project_id), "staging")
    assert check.status == "skip"


def test_a_list_that_never_ends_fails_one_line_not_the_run(
    world: World, monkeypatch: pytest.MonkeyPatch, vercel_api: VercelApi
) -> None:
    """The client's guard against pages that never advance raises ResourceError; doctor and
    diff took only ApiError, so the whole run ended there."""
    from envstack.errors import ResourceError
    from envstack.ops import health
    from envstack.ops.stack_view import StackView
    from envstack.settings import load_settings

    def endless(self: VercelClient, project_id: str) -> Any:
        raise ResourceError(f"Vercel project {project_id}: env list did not end after 100 pages")

    monkeypatch.setattr(VercelClient, "list_env", endless)
    monkeypatch.setenv("VERCEL_TOKEN", vercel_api.token)
    settings = load_settings(
        "staging",
        {
            "envstack:app": "hermes",
            "envstack:database": '{"provider": "supabase"}',
            "supabase:organization": "hermes-security",
            "supabase:region": "eu-central-1",
        },
    )
    view = StackView("staging", settings, {}, (), None, (world.stack,))
    [line] = health._vercel_checks(world.stack, view)
    assert (line.status, line.detail) == (
        "fail",
        f"Vercel project {world.project_id}: env list did not end after 100 pages",
    )
