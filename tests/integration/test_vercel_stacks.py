"""Staging and production wire Supabase into Vercel: the real engine, both local APIs."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from pulumi import automation as auto

from tests.integration.workspace import ProjectCopy, local_apis, make_project_copy

pytestmark = pytest.mark.engine

PROJECT = "hermes-web"
# What the app may show anyone (written as plain "encrypted" variables, readable in Vercel).
PUBLIC = {
    "POSTGRES_USER",
    "POSTGRES_HOST",
    "POSTGRES_DATABASE",
    "SUPABASE_URL",
    "NEXT_PUBLIC_SUPABASE_URL",
    "SUPABASE_ANON_KEY",
    "NEXT_PUBLIC_SUPABASE_ANON_KEY",
    "APP_MODE",
}
WRITES = {"POST", "PATCH", "PUT", "DELETE"}
# Variable → the stack output holding the value it must carry.
FROM_OUTPUT = {
    "POSTGRES_URL": "pooled_url",
    "POSTGRES_PRISMA_URL": "prisma_url",
    "POSTGRES_URL_NON_POOLING": "direct_url",
    "POSTGRES_READ_REPLICA_URL": "read_only_url",
    "POSTGRES_USER": "user",
    "POSTGRES_HOST": "host",
    "POSTGRES_PASSWORD": "password",
    "POSTGRES_DATABASE": "database",
    "SUPABASE_URL": "api_url",
    "NEXT_PUBLIC_SUPABASE_URL": "api_url",
    "SUPABASE_ANON_KEY": "anon_key",
    "NEXT_PUBLIC_SUPABASE_ANON_KEY": "anon_key",
    "SUPABASE_SERVICE_ROLE_KEY": "service_role_key",
    "SUPABASE_JWT_SECRET": "jwt_secret",
    "DATABASE_URL": "pooled_url",
}


@pytest.fixture
def project(tmp_path: Path, supabase_api: Any, vercel_api: Any) -> ProjectCopy:
    vercel_api.create_project(PROJECT)
    for target in ("preview", "production"):
        vercel_api.deploy(PROJECT, target=target)
    env = {"SUPABASE_ACCESS_TOKEN": supabase_api.token, "VERCEL_TOKEN": vercel_api.token}
    return make_project_copy(tmp_path, env)


def configure(project: ProjectCopy, name: str, supabase_api: Any, vercel_api: Any, **extra: str) -> auto.Stack:
    return project.stack(
        name,
        {
            **local_apis(supabase_api, vercel_api),
            **extra,
        },
    )


def writes(api: Any) -> list[str]:
    return [f"{c.method} {c.path}" for c in api.calls() if c.method in WRITES]


def api_key_works(supabase_api: Any, ref: str, key: str) -> bool:
    """Whether the project's Data API takes the key (the apikey header)."""
    return httpx.get(f"{supabase_api.project_api_url(ref)}/rest/v1/", headers={"apikey": key}).status_code == 200


def target_values(vercel_api: Any, target: str) -> dict[str, str]:
    return {e.key: e.value for e in vercel_api.env_vars(PROJECT) if target in e.target and e.git_branch is None}


def test_staging_and_production_each_write_their_own_target(
    project: ProjectCopy, supabase_api: Any, vercel_api: Any
) -> None:
    hand_made = secrets.token_urlsafe(12)
    vercel_api.add_env_by_hand(PROJECT, "HAND_MADE", hand_made, target=("preview", "production"))
    mode = '{"add": {"APP_MODE": "blue"}}'
    staging = configure(project, "staging", supabase_api, vercel_api, **{"envstack:variables": mode})
    production = configure(project, "production", supabase_api, vercel_api)

    staging.up(on_output=project.on_output)
    staging_outputs = {k: str(v.value) for k, v in staging.outputs().items()}
    preview = target_values(vercel_api, "preview")
    for name, output in FROM_OUTPUT.items():
        assert preview.get(name) == staging_outputs[output], f"{name} carries staging's {output}"
    assert preview["APP_MODE"] == "blue"
    assert preview["JWT_SECRET"]
    redeploys = [c for c in vercel_api.calls() if c.method == "POST" and c.path == "/v13/deployments"]
    assert len(redeploys) == 1, "one redeploy of the preview target"

    production.up(on_output=project.on_output)
    production_outputs = {k: str(v.value) for k, v in production.outputs().items()}
    live = target_values(vercel_api, "production")
    for name, output in FROM_OUTPUT.items():
        assert live.get(name) == production_outputs[output], f"{name} carries production's {output}"
    assert target_values(vercel_api, "preview") == preview, "production's up leaves preview alone"
    for name in ("POSTGRES_URL", "POSTGRES_PASSWORD", "SUPABASE_SERVICE_ROLE_KEY", "JWT_SECRET"):
        assert live[name] != preview[name], f"production and staging share no {name}"

    before_vercel, before_supabase = len(writes(vercel_api)), len(writes(supabase_api))
    calls_before = len(vercel_api.calls())
    again = staging.up(on_output=project.on_output)
    assert set((again.summary.resource_changes or {}).keys()) == {"same"}
    assert writes(vercel_api)[before_vercel:] == [], "a no-op up writes nothing to Vercel"
    assert writes(supabase_api)[before_supabase:] == [], "nor to Supabase"
    assert vercel_api.calls()[calls_before:] == [], "nor calls it at all, preview included"

    staging.set_config("envstack:variables", auto.ConfigValue('{"add": {"APP_MODE": "green"}}'))
    staging.up(on_output=project.on_output)
    changed = writes(vercel_api)[before_vercel:]
    assert [w.split(" ")[0] for w in changed] == ["POST", "POST"], changed
    assert re.fullmatch(r"POST /v10/projects/[^/]+/env", changed[0]), "the new value in one upsert"
    assert changed[1] == "POST /v13/deployments", "then one redeploy"
    assert target_values(vercel_api, "preview")["APP_MODE"] == "green"

    assert vercel_api.decrypt_calls() == [], "no sensitive value is ever asked for"
    printed = "".join(project.output)
    state = project.export_state("staging") + project.export_state("production")
    secret = [n for n in preview if n not in PUBLIC and n != "HAND_MADE"]
    assert {"POSTGRES_PASSWORD", "POSTGRES_URL", "SUPABASE_SERVICE_ROLE_KEY", "JWT_SECRET"} <= set(secret)
    for name in secret:
        for value in (preview[name], live[name]):
            assert value not in state, f"{name} is in the state in plain text"
            assert value not in printed, f"{name} was printed"

    staging.destroy(on_output=project.on_output)
    assert set(target_values(vercel_api, "preview")) == {"HAND_MADE"}
    with pytest.raises(auto.CommandError, match="protected"):
        production.destroy(on_output=project.on_output)
    unprotected = project.run("pulumi", "state", "unprotect", "--all", "--yes", "--stack", "production")
    assert unprotected.returncode == 0, unprotected.stderr
    production.destroy(on_output=project.on_output)
    remaining = vercel_api.env_vars(PROJECT)
    assert [(e.key, e.value) for e in remaining] == [("HAND_MADE", hand_made)]


def test_a_preview_names_each_changed_variable_without_showing_a_secret(
    project: ProjectCopy, supabase_api: Any, vercel_api: Any
) -> None:
    mode = {"envstack:variables": '{"add": {"MODE": "blue"}}'}
    staging = configure(project, "staging", supabase_api, vercel_api, **mode)
    old_token, new_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    staging.set_config("envstack:secretVariables.API_TOKEN", auto.ConfigValue(old_token, secret=True), path=True)
    staging.up(on_output=project.on_output)

    staging.set_config("envstack:variables", auto.ConfigValue('{"add": {"MODE": "green"}}'))
    staging.set_config("envstack:secretVariables.API_TOKEN", auto.ConfigValue(new_token, secret=True), path=True)
    shown: list[str] = []
    staging.preview(diff=True, on_output=shown.append)
    text = "\n".join(shown)

    digest_lines = [line for line in text.splitlines() if "=>" in line]
    named = {line.split(":")[0].strip(" ~+-") for line in digest_lines}
    assert {"MODE", "API_TOKEN"} <= named, f"each changed variable is named: {digest_lines}"
    assert any('"blue"' in line and '"green"' in line for line in digest_lines), "a plain value shows as it is"
    token_line = next(line for line in digest_lines if "API_TOKEN" in line)
    assert token_line.count("hmac:") == 2, "a secret value shows as a digest before and after"
    assert not named & {"POSTGRES_URL", "POSTGRES_PASSWORD", "JWT_SECRET"}, "unchanged variables are not listed"
    for secret in (old_token, new_token):
        assert secret not in text


def test_up_with_refresh_repairs_what_was_changed_in_vercel_and_redeploys_once(
    project: ProjectCopy, supabase_api: Any, vercel_api: Any
) -> None:
    hand_made = secrets.token_urlsafe(12)
    vercel_api.add_env_by_hand(PROJECT, "HAND_MADE", hand_made, target=("preview",))
    staging = configure(project, "staging", supabase_api, vercel_api)
    staging.up(on_output=project.on_output)
    wanted = target_values(vercel_api, "preview")
    ids = {e.key: e.id for e in vercel_api.env_vars(PROJECT) if set(e.target) == {"preview"} and e.git_branch is None}
    with vercel_api.http() as http:
        project_id = http.get(f"/v9/projects/{PROJECT}").json()["id"]
        envs = f"/v10/projects/{project_id}/env"
        assert http.delete(f"{envs}/{ids['POSTGRES_PASSWORD']}").is_success  # deleted
        assert http.patch(f"{envs}/{ids['POSTGRES_HOST']}", json={"value": "db.example.invalid"}).is_success
        assert http.patch(f"{envs}/{ids['SUPABASE_SERVICE_ROLE_KEY']}", json={"value": "tampered"}).is_success
        # The Vercel CLI's way to change a value: `vercel env rm`, then `vercel env add`.
        assert http.delete(f"{envs}/{ids['POSTGRES_URL']}").is_success
        again = {"key": "POSTGRES_URL", "value": "postgres://hand", "type": "sensitive", "target": ["preview"]}
        assert http.post(envs, json=again).is_success
    changed = {"POSTGRES_PASSWORD", "POSTGRES_HOST", "SUPABASE_SERVICE_ROLE_KEY", "POSTGRES_URL"}
    current = target_values(vercel_api, "preview")
    assert {k for k in wanted if current.get(k) != wanted[k]} == changed
    # The app's secret API key deleted in Supabase's dashboard: the variable still holds it.
    ref = str(staging.outputs()["supabase_project_ref"].value)
    dead_key = wanted["SUPABASE_SECRET_KEY"]
    with supabase_api.client() as client:
        keys = client.get(f"/v1/projects/{ref}/api-keys", params={"reveal": "true"}).json()
        dead = next(k for k in keys if k["api_key"] == dead_key)
        assert client.delete(f"/v1/projects/{ref}/api-keys/{dead['id']}").is_success

    calls_before = len(vercel_api.calls())
    preview = staging.preview(on_output=project.on_output)
    assert preview.change_summary.get(auto.OpType.UPDATE, 0) == 0, "a plain preview does not look for drift"
    assert vercel_api.calls()[calls_before:] == [], "and calls nothing to find it"
    assert target_values(vercel_api, "preview") != wanted

    calls_before = len(vercel_api.calls())
    staging.up(on_output=project.on_output, refresh=True)

    repaired = target_values(vercel_api, "preview")
    made_again = repaired.pop("SUPABASE_SECRET_KEY")
    same = made_again == dead_key  # compared apart: a failed assert shows its operands
    assert not same, "a new secret key, made by the refresh's up"
    assert api_key_works(supabase_api, ref, made_again)
    assert not api_key_works(supabase_api, ref, dead_key)
    del wanted["SUPABASE_SECRET_KEY"]
    assert repaired == wanted, "every variable restored, the hand-made one untouched"
    made = vercel_api.calls()[calls_before:]
    lists = [c for c in made if c.method == "GET" and c.path == envs]
    # The refresh's list, the update's look for drift, and the conflict check before the
    # deleted one is written again: not one per variable.
    assert len(lists) == 3, f"a few list calls, not one per variable: {len(lists)}"
    assert [c for c in made if c.method == "GET" and c.path.startswith(f"{envs}/")] == [], "no value is read"
    redeploys = [c for c in made if c.method == "POST" and c.path == "/v13/deployments"]
    assert len(redeploys) == 1, "the repair is followed by one redeploy"
    assert vercel_api.decrypt_calls() == []

    before = len(writes(vercel_api))
    settled = staging.up(on_output=project.on_output)
    assert set((settled.summary.resource_changes or {}).keys()) == {"same"}
    assert writes(vercel_api)[before:] == [], "once repaired, nothing more to do"
