"""Never harm what the stack does not own, seen through the real engine and the local APIs.

- A project of the stack's name that someone else made is refused by `pulumi preview` and by
  `pulumi up`, with one sentence naming it, its ref and the two ways out, and nothing written:
  its owner's password still opens it.
- Where an API lives is not what exists: a trailing slash on either API's URL, and a Vercel team
  given by its id instead of its slug, make zero writes and replace nothing.
"""

from __future__ import annotations

import secrets

import pytest
from pulumi import automation as auto

from envstack.db.connect import connect
from tests.integration.convergence import PROJECT_NAME, Staging, assert_converged, assert_noop

pytestmark = pytest.mark.engine


def someone_elses_project(staging: Staging) -> tuple[str, str]:
    """A project named as the stack would name its own, made by someone else with their password."""
    password = secrets.token_urlsafe(24)
    body = {"name": PROJECT_NAME, "organization_slug": staging.supabase.org_slug, "db_pass": password}
    made = staging.supabase.client().post("/v1/projects", json=body)
    assert made.status_code == 201
    ref = str(made.json()["ref"])
    assert staging.supabase.wait_for_status(ref) == "ACTIVE_HEALTHY"
    return ref, password


def test_a_foreign_project_with_the_stacks_name_is_never_taken(fresh_staging: Staging) -> None:
    staging = fresh_staging
    ref, password = someone_elses_project(staging)
    before = staging.writes()
    sentence = (
        f"Supabase project '{PROJECT_NAME}' ({ref}) already exists in organization {staging.supabase.org_slug} and "
        "is not provably this stack's"
    )
    with pytest.raises(auto.CommandError) as previewed:
        staging.stack.preview(on_output=staging.copy.on_output)
    staging.failures.append(str(previewed.value))
    assert sentence in str(previewed.value), "the preview reports the collision before any up"
    assert f"set supabase:projectRef {ref}" in str(previewed.value)
    assert "or choose another supabase:projectName" in str(previewed.value)
    assert sentence in staging.up_failing()
    assert staging.writes() == before, "zero writes to either API"
    info = staging.supabase.project(ref)
    assert info is not None
    host = info.db_host
    url = f"postgresql://postgres:{password}@{host}:5432/postgres?sslmode=require"
    with connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,), "its owner's password still opens it"
    assert password not in "".join(staging.copy.output), "the owner's password is never printed"

    # The first way out: a name of the stack's own.
    staging.stack.set_config("supabase:projectName", auto.ConfigValue("hermes-staging-2"))
    staging.up()
    projects = {p.name: p.ref for p in staging.supabase.emulator.state.projects_of(staging.supabase.tenant)}
    assert projects == {PROJECT_NAME: ref, "hermes-staging-2": projects["hermes-staging-2"]}


def test_where_the_apis_live_is_not_what_exists(fresh_staging: Staging) -> None:
    staging = fresh_staging
    staging.stack.set_config("vercel:team", auto.ConfigValue(staging.vercel.team_slug))
    staging.up()
    assert_converged(staging)
    before = len(staging.writes())
    staging.stack.set_config("supabase:apiUrl", auto.ConfigValue(staging.supabase.url + "/"))
    staging.stack.set_config("vercel:apiUrl", auto.ConfigValue(staging.vercel.url + "/"))
    staging.stack.set_config("vercel:team", auto.ConfigValue(staging.vercel.team))
    result = staging.up()
    changes = result.summary.resource_changes or {}
    assert not {"create", "delete", "replace", "create-replacement", "delete-replaced"} & set(changes), changes
    assert staging.writes()[before:] == [], "a slug for the team's id and a trailing slash write nothing"
    assert_converged(staging)
    assert_noop(staging)
