"""The Supabase client parses the real API's recorded responses and sends spec-valid bodies."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest

from envstack.clients.supabase import NetworkRestrictions, SupabaseClient
from envstack.errors import ApiError, NotFound
from tests.emulators.common.openapi import recorded_dir, specs_dir

RECORDED = recorded_dir()
REF = "abcdefghijklmnopqrst"


def recorded(folder: str) -> tuple[int, Any]:
    document = json.loads((RECORDED / folder / "default.response.json").read_text())
    text = json.dumps(document["body"]).replace("__PROJECT_REF__", REF)
    return int(document["status"]), json.loads(text)


def serve(routes: dict[tuple[str, str], tuple[int, Any]], seen: list[httpx.Request]) -> SupabaseClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, body = routes[(request.method, request.url.path)]
        return httpx.Response(status, json=body)

    return SupabaseClient(base_url="http://127.0.0.1:9", token="sbp_test", transport=httpx.MockTransport(handler))


def test_parses_recorded_project_pooler_keys_and_jwt_secret() -> None:
    routes = {
        ("GET", f"/v1/projects/{REF}"): recorded("GET_v1_projects___PROJECT_REF__"),
        ("GET", f"/v1/projects/{REF}/config/database/pooler"): recorded(
            "GET_v1_projects___PROJECT_REF___config_database_pooler"
        ),
        ("GET", f"/v1/projects/{REF}/api-keys"): recorded("GET_v1_projects___PROJECT_REF___api_keys"),
        ("GET", f"/v1/projects/{REF}/postgrest"): recorded("GET_v1_projects___PROJECT_REF___postgrest"),
    }
    client = serve(routes, [])
    project = client.get_project(REF)
    assert project.ref == REF
    assert project.database is not None
    assert project.database.host
    pooler = client.get_pooler_config(REF)
    assert (pooler.db_port, pooler.db_user) == (6543, f"postgres.{REF}")
    keys = client.list_api_keys(REF)
    assert {k.name for k in keys if k.type == "legacy"} >= {"anon", "service_role"}
    assert client.get_postgrest_config(REF).jwt_secret


def test_create_body_follows_the_spec() -> None:
    spec = json.loads((specs_dir() / "supabase-management-api.json").read_text())
    seen: list[httpx.Request] = []
    client = serve({("POST", "/v1/projects"): recorded("POST_v1_projects")}, seen)
    client.create_project(
        name="hermes-staging",
        organization_slug="hermes-security",
        db_pass="pw-" + "x" * 20,
        region="eu-central-1",
        desired_instance_size="micro",
    )
    schema = spec["paths"]["/v1/projects"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    resolver_schema = {**schema, "components": spec["components"]}
    jsonschema.validate(json.loads(seen[0].content), resolver_schema)


def test_not_found_and_not_ready() -> None:
    client = serve(
        {
            ("GET", f"/v1/projects/{REF}"): (404, {"message": "Project not found"}),
            ("DELETE", f"/v1/projects/{REF}"): (400, {"message": "Project not ready for deletion."}),
        },
        [],
    )
    with pytest.raises(NotFound):
        client.get_project(REF)
    with pytest.raises(ApiError, match="400 Project not ready for deletion"):
        client.delete_project(REF)


def test_organization_projects_follow_pagination() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        offset = int(request.url.params["offset"])
        projects = [
            {"ref": f"ref{offset + i}", "name": f"p{offset + i}", "status": "ACTIVE_HEALTHY"}
            for i in range(min(100, 150 - offset))
        ]
        return httpx.Response(
            200, json={"projects": projects, "pagination": {"count": 150, "limit": 100, "offset": offset}}
        )

    client = SupabaseClient(base_url="http://127.0.0.1:9", token="t", transport=httpx.MockTransport(handler))
    assert len(client.list_organization_projects("org")) == 150
    assert len(seen) == 2


def test_network_settings_parse_recorded_answers_and_split_the_families() -> None:
    routes = {
        ("GET", f"/v1/projects/{REF}/ssl-enforcement"): recorded("GET_v1_projects___PROJECT_REF___ssl_enforcement"),
        ("PUT", f"/v1/projects/{REF}/ssl-enforcement"): recorded("PUT_v1_projects___PROJECT_REF___ssl_enforcement"),
        ("GET", f"/v1/projects/{REF}/network-restrictions"): recorded(
            "GET_v1_projects___PROJECT_REF___network_restrictions"
        ),
        ("POST", f"/v1/projects/{REF}/network-restrictions/apply"): recorded(
            "POST_v1_projects___PROJECT_REF___network_restrictions_apply"
        ),
    }
    seen: list[httpx.Request] = []
    client = serve(routes, seen)
    assert client.ssl_enforced(REF) is True
    assert client.set_ssl_enforcement(REF, True) is True
    assert client.network_restrictions(REF) == NetworkRestrictions(cidrs=["0.0.0.0/0", "::/0"], status="applied")
    assert client.restrict_network(REF, ["0.0.0.0/0"]) == NetworkRestrictions(cidrs=["0.0.0.0/0"], status="applied")
    assert json.loads(seen[1].content) == {"requestedConfig": {"database": True}}
    client.restrict_network(REF, ["203.0.113.0/24", "2001:db8::/32"])
    assert json.loads(seen[-1].content) == {"dbAllowedCidrs": ["203.0.113.0/24"], "dbAllowedCidrsV6": ["2001:db8::/32"]}


def test_an_answer_that_does_not_validate_is_not_echoed_in_the_error() -> None:
    """A branch still provisioning may answer without db_host; pydantic's error quoted the
    answer's head and tail, and jwt_secret is its last field: the traceback reached `pulumi up`."""
    from pydantic import ValidationError

    from envstack.clients.supabase import BranchConfig

    secret = "jwt-" + "s" * 40
    with pytest.raises(ValidationError) as caught:
        BranchConfig.model_validate({"ref": "abc", "status": "CREATING_PROJECT", "db_port": 5432, "jwt_secret": secret})
    assert "db_host" in str(caught.value)
    assert secret[-12:] not in str(caught.value)
