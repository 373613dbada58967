"""The emulator answers like the real Supabase Management API, checked two ways:

1. every answer it gave during this module validates against the official spec;
2. for every recorded real exchange (tests/reference/fixtures/supabase-management-recorded/) whose
   operation the emulator implements, the same request against an equivalent state gets
   an answer of the same status and shape: the same keys, recursively, with the same
   JSON types (lists compared by the merged shape of their elements), and the recorded
   headers. Every difference is either listed below with its reason or fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.emulators.common.openapi import load_spec, recorded_dir, specs_dir
from tests.emulators.supabase.app import SPEC_FILE
from tests.emulators.supabase.emulator import SupabaseEmulator
from tests.emulators.supabase.fixtures import SupabaseTenant
from tests.emulators.supabase.routing import HANDLERS
from tests.emulators.supabase.testing import create_project, healthy_project, wait_status

RECORDED = recorded_dir()
PLACEHOLDER = "__PROJECT_REF__"

# Differences from the recordings, each with the reason it is right (folder, where, what).
_GET_AUTH, _PATCH_AUTH = "GET_v1_projects___PROJECT_REF___config_auth", "PATCH_v1_projects___PROJECT_REF___config_auth"
EXPECTED_DIFFERENCES: dict[tuple[str, str, str], str] = {
    ("GET_v1_projects___PROJECT_REF___network_restrictions", "applied_at", "missing key"): (
        "state, not shape: the real API adds applied_at once a configuration was applied (recording 3, not 5); "
        "the replayed project has had none applied yet"
    ),
    **{
        (folder, "nimbus_oauth_email_optional", "extra key"): (
            "AuthConfigResponse in the spec requires it; the recording predates the field"
        )
        for folder in (_GET_AUTH, _PATCH_AUTH)
    },
    (_GET_AUTH, "password_required_characters", "types ['null'] != ['string']"): (
        'state, not shape: nullable in the spec; the real API recorded both "" (default) and null (3)'
    ),
    **{
        (_PATCH_AUTH, field, f"types ['null'] != ['{kind}']"): (
            "state, not shape: nullable in the spec; the recorded project had no such provider set, the "
            "emulator's defaults are those of the recorded GET"
        )
        for field, kind in (
            ("rate_limit_email_sent", "number"),
            ("security_captcha_provider", "string"),
            ("sms_provider", "string"),
        )
    },
}
# Recorded request bodies the sanitizer dropped; the answer shows what was sent.
RECORDED_BODY_REPLACEMENTS = {
    "POST_v1_projects___PROJECT_REF___branches": {"branch_name": "my-branch", "git_branch": "main"},
}


# -- shapes --------------------------------------------------------------------------------------
@dataclass
class Shape:
    types: set[str] = field(default_factory=set)
    keys: dict[str, Shape] = field(default_factory=dict)
    items: Shape | None = None


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def shape_of(value: Any, into: Shape | None = None) -> Shape:
    shape = into or Shape()
    shape.types.add(_type(value))
    if isinstance(value, dict):
        for key, item in value.items():
            shape.keys[key] = shape_of(item, shape.keys.get(key))
    elif isinstance(value, list):
        for item in value:
            shape.items = shape_of(item, shape.items)
    return shape


def differences(recorded: Shape, emulated: Shape, where: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if recorded.types != emulated.types:
        found.append((where or "<body>", f"types {sorted(recorded.types)} != {sorted(emulated.types)}"))
    for key in sorted(recorded.keys.keys() | emulated.keys.keys()):
        at = f"{where}.{key}".lstrip(".")
        if key not in emulated.keys:
            found.append((at, "missing key"))
        elif key not in recorded.keys:
            found.append((at, "extra key"))
        else:
            found += differences(recorded.keys[key], emulated.keys[key], at)
    if recorded.items is not None and emulated.items is not None:  # an empty list shows no shape
        found += differences(recorded.items, emulated.items, f"{where}[]")
    return found


def test_shapes_compare_keys_types_and_list_elements() -> None:
    recorded = shape_of({"a": [{"x": 1}, {"y": None}], "b": "s"})
    assert differences(recorded, shape_of({"a": [{"x": 2, "y": None}], "b": "t"})) == []
    assert differences(recorded, shape_of({"a": [{"x": "2"}], "c": 1})) == [
        ("a[].x", "types ['number'] != ['string']"),
        ("a[].y", "missing key"),
        ("b", "missing key"),
        ("c", "extra key"),
    ]
    assert differences(shape_of({"a": []}), shape_of({"a": [{"x": 1}]})) == [], "an empty list shows no shape"


# -- the module's answers --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def module_start(supabase_emulator: SupabaseEmulator) -> tuple[int, int]:
    """Where the emulator's violation and call logs stood when this module began."""
    return len(supabase_emulator.app.violations()), len(supabase_emulator.app.calls)


@pytest.fixture
def client(supabase_api: SupabaseTenant, module_start: tuple[int, int]) -> Iterator[httpx.Client]:
    with supabase_api.client() as http:
        yield http


# -- replaying the recordings ----------------------------------------------------------------------
@dataclass
class Replay:
    api: SupabaseTenant
    client: httpx.Client
    targets: dict[str, str] = field(default_factory=dict)  # what __PROJECT_REF__ stands for, by role

    def target(self, role: str, make: Callable[[], str]) -> str:
        if role not in self.targets:
            self.targets[role] = make()
        return self.targets[role]


def _main_project(replay: Replay) -> str:
    return str(healthy_project(replay.api, replay.client, "cli-e2e-test")["ref"])


def _provisioning_project(replay: Replay) -> str:
    replay.api.configure(provisioning_delay=120)
    ref = str(create_project(replay.api, replay.client, "still-coming-up")["ref"])
    replay.api.configure(provisioning_delay=0)
    return ref


def _deletable_project(replay: Replay) -> str:
    ref = str(create_project(replay.api, replay.client, "cli-e2e-test")["ref"])
    wait_status(replay.client, ref)
    return ref


def _branch(replay: Replay) -> str:
    parent = replay.target("project", lambda: _main_project(replay))
    listed = replay.client.get(f"/v1/projects/{parent}/branches/my-branch")
    if listed.status_code == 404:
        body = RECORDED_BODY_REPLACEMENTS["POST_v1_projects___PROJECT_REF___branches"]
        listed = replay.client.post(f"/v1/projects/{parent}/branches", json=body)
    return str(listed.json()["project_ref"])


def _postgres_config_project(replay: Replay, name: str) -> str:
    """The main project with the overrides each recorded GET saw: none for "3" (a project
    nobody configured), those the recorded PUT set for the others."""
    ref = replay.target("project", lambda: _main_project(replay))
    put = RECORDED / "PUT_v1_projects___PROJECT_REF___config_database_postgres" / "default.request.json"
    overrides = {} if name == "3" else json.loads(put.read_text())["body"]
    project = replay.api.emulator.state.project_of(replay.api.tenant, ref)
    assert project is not None
    with project.lock:
        project.postgres_config = dict(overrides)
    return ref


# Folder -> what the placeholder in its path stands for, in the order they are replayed
# (branches are listed while there are none, as recorded; deletions come last).
SCENARIOS: dict[str, Callable[[Replay, str], str]] = {
    "GET_v1_organizations": lambda r, _: r.api.org_slug,
    "POST_v1_projects": lambda r, _: r.api.org_slug,
    "GET_v1_projects": lambda r, _: "",
    "GET_v1_projects___PROJECT_REF__": lambda r, _: r.target("project", lambda: _main_project(r)),
    "GET_v1_projects___PROJECT_REF___api_keys": lambda r, _: r.target("project", lambda: _main_project(r)),
    "GET_v1_projects___PROJECT_REF___config_database_pooler": lambda r, _: r.target(
        "project", lambda: _main_project(r)
    ),
    "GET_v1_projects___PROJECT_REF___config_database_postgres": _postgres_config_project,
    "PUT_v1_projects___PROJECT_REF___config_database_postgres": lambda r, _: r.target(
        "project", lambda: _main_project(r)
    ),
    "GET_v1_projects___PROJECT_REF___postgrest": lambda r, _: r.target("project", lambda: _main_project(r)),
    "GET_v1_projects___PROJECT_REF___config_auth": lambda r, _: r.target("project", lambda: _main_project(r)),
    "PATCH_v1_projects___PROJECT_REF___config_auth": lambda r, _: r.target("project", lambda: _main_project(r)),
    "GET_v1_projects___PROJECT_REF___branches": lambda r, _: r.target("project", lambda: _main_project(r)),
    "GET_v1_projects___PROJECT_REF___ssl_enforcement": lambda r, _: r.target("project", lambda: _main_project(r)),
    "PUT_v1_projects___PROJECT_REF___ssl_enforcement": lambda r, _: r.target("project", lambda: _main_project(r)),
    "GET_v1_projects___PROJECT_REF___network_restrictions": lambda r, _: r.target("project", lambda: _main_project(r)),
    "POST_v1_projects___PROJECT_REF___network_restrictions_apply": lambda r, _: r.target(
        "project", lambda: _main_project(r)
    ),
    "GET_v1_projects___PROJECT_REF___billing_addons": lambda r, _: r.target("project", lambda: _main_project(r)),
    "GET_v1_projects___PROJECT_REF___database_backups": lambda r, _: r.target("project", lambda: _main_project(r)),
    "POST_v1_projects___PROJECT_REF___database_backups_restore_pitr": lambda r, _: r.target(
        "project", lambda: _main_project(r)
    ),
    "POST_v1_projects___PROJECT_REF___branches": lambda r, _: r.target("project", lambda: _main_project(r)),
    "GET_v1_projects___PROJECT_REF___branches_my_branch": lambda r, _: r.target("project", lambda: _main_project(r)),
    "GET_v1_branches___PROJECT_REF__": lambda r, _: r.target("branch", lambda: _branch(r)),
    "DELETE_v1_branches___PROJECT_REF__": lambda r, _: r.target("branch", lambda: _branch(r)),
    "DELETE_v1_projects___PROJECT_REF__": lambda r, name: (
        r.target("provisioning", lambda: _provisioning_project(r))
        if name == "2"
        else r.target("deletable", lambda: _deletable_project(r))
    ),
}


def _implemented(folder: Path) -> bool:
    request = json.loads(next(folder.glob("*.request.json")).read_text())
    matched = load_spec(specs_dir() / SPEC_FILE).match(request["method"], request["path"])
    return matched is not None and matched[0].operation_id in HANDLERS


def _substitute(value: Any, placeholder_for: str, org_slug: str) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, placeholder_for, org_slug) for k, v in value.items()}
    if isinstance(value, str) and PLACEHOLDER in value:
        return value.replace(PLACEHOLDER, org_slug if value == PLACEHOLDER else placeholder_for)
    return value


def test_recorded_folders_are_all_replayed() -> None:
    implemented = sorted(f.name for f in RECORDED.iterdir() if f.is_dir() and _implemented(f))
    assert implemented == sorted(SCENARIOS), "every recorded exchange the emulator can answer is replayed"


def test_answers_have_the_recorded_status_headers_and_shape(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    replay = Replay(supabase_api, client)
    found: list[str] = []
    seen_expected: set[tuple[str, str, str]] = set()
    replayed = 0
    for folder_name, placeholder_of in SCENARIOS.items():
        folder = RECORDED / folder_name
        # "2" first: in DELETE_v1_projects it is the early (400) attempt.
        for request_file in sorted(folder.glob("*.request.json"), key=lambda p: (p.name != "2.request.json", p.name)):
            name = request_file.name.removesuffix(".request.json")
            recorded_request = json.loads(request_file.read_text())
            recorded = json.loads((folder / f"{name}.response.json").read_text())
            stands_for = placeholder_of(replay, name)
            path = recorded_request["path"].replace(PLACEHOLDER, stands_for)
            body = RECORDED_BODY_REPLACEMENTS.get(folder_name, recorded_request["body"])
            answer = client.request(
                recorded_request["method"],
                path,
                params=recorded_request["query"],
                json=_substitute(body, stands_for, supabase_api.org_slug) if body is not None else None,
            )
            replayed += 1
            where = f"{folder_name}/{name}"
            if answer.status_code != recorded["status"]:
                found.append(f"{where}: status {answer.status_code} != recorded {recorded['status']}: {answer.text}")
                continue
            missing_headers = set(recorded["headers"]) - set(answer.headers)
            if missing_headers:
                found.append(f"{where}: headers missing: {sorted(missing_headers)}")
            for at, what in differences(shape_of(recorded["body"]), shape_of(answer.json())):
                key = (folder_name, at, what)
                if key in EXPECTED_DIFFERENCES:
                    seen_expected.add(key)
                else:
                    found.append(f"{where}: {at}: {what}")
    assert found == [], "\n".join(found)
    assert seen_expected == set(EXPECTED_DIFFERENCES), "a listed difference no longer occurs: drop it from the list"
    assert replayed >= 30


# -- every operation, once -------------------------------------------------------------------------
def test_every_implemented_operation_answers_on_the_spec(supabase_api: SupabaseTenant, client: httpx.Client) -> None:
    """A tour of every operation the emulator implements; the spec check happens on each answer."""
    project = healthy_project(supabase_api, client, "tour")
    ref, base = project["ref"], f"/v1/projects/{project['ref']}"
    calls = [
        ("GET", "/v1/organizations", None, None),
        ("GET", f"/v1/organizations/{supabase_api.org_slug}/projects", {"limit": "1"}, None),
        ("GET", "/v1/projects", None, None),
        ("GET", base, None, None),
        ("PATCH", base, None, {"name": "tour-renamed"}),
        ("GET", f"{base}/health", {"services": "auth,db,pooler,rest,realtime,storage"}, None),
        ("PATCH", f"{base}/billing/addons", None, {"addon_type": "compute_instance", "addon_variant": "ci_micro"}),
        ("GET", f"{base}/config/database/pooler", None, None),
        ("PATCH", f"{base}/config/database/pooler", None, {"default_pool_size": 10}),
        ("PATCH", f"{base}/database/password", None, {"password": "tour-password-2"}),
        ("GET", f"{base}/config/database/postgres", None, None),
        ("PUT", f"{base}/config/database/postgres", None, {"max_connections": 100, "restart_database": False}),
        ("GET", f"{base}/postgrest", None, None),
        ("PATCH", f"{base}/postgrest", None, {"db_schema": "public"}),
        ("GET", f"{base}/config/auth", None, None),
        ("PATCH", f"{base}/config/auth", None, {"site_url": "https://tour.test"}),
        ("GET", f"{base}/api-keys", {"reveal": "false"}, None),
        ("GET", f"{base}/api-keys/legacy", None, None),
        ("PUT", f"{base}/api-keys/legacy", {"enabled": "true"}, None),
        ("GET", f"{base}/config/auth/signing-keys", None, None),
        ("POST", f"{base}/config/auth/signing-keys/legacy", None, None),
        ("GET", f"{base}/config/auth/signing-keys/legacy", None, None),
        ("GET", f"{base}/branches", None, None),
        ("GET", f"{base}/ssl-enforcement", None, None),
        ("PUT", f"{base}/ssl-enforcement", None, {"requestedConfig": {"database": True}}),
        ("GET", f"{base}/network-restrictions", None, None),
        ("POST", f"{base}/network-restrictions/apply", None, {"dbAllowedCidrs": ["0.0.0.0/0"], "dbAllowedCidrsV6": []}),
    ]
    for method, path, params, body in calls:
        answer = client.request(method, path, params=params, json=body)
        assert answer.status_code < 300, (method, path, answer.text)
    key = client.post(f"{base}/api-keys", json={"type": "secret", "name": "tour_key"}).json()
    for method in ("GET", "PATCH", "DELETE"):
        answer = client.request(
            method, f"{base}/api-keys/{key['id']}", json={"name": "tour_key_2"} if method == "PATCH" else None
        )
        assert answer.status_code == 200, answer.text
    signing = client.post(f"{base}/config/auth/signing-keys", json={"algorithm": "ES256"}).json()
    for status in ("previously_used", "revoked"):
        assert (
            client.patch(f"{base}/config/auth/signing-keys/{signing['id']}", json={"status": status}).status_code == 200
        )
        supabase_api.advance_clock(300)  # Supabase throttles key changes for about five minutes
    assert client.get(f"{base}/config/auth/signing-keys/{signing['id']}").status_code == 200
    assert client.delete(f"{base}/config/auth/signing-keys/{signing['id']}").status_code == 200
    branch = client.post(f"{base}/branches", json={"branch_name": "tour-branch"}).json()
    assert client.get(f"{base}/branches/tour-branch").status_code == 200
    assert client.get(f"/v1/branches/{branch['project_ref']}").status_code == 200
    assert client.patch(f"/v1/branches/{branch['project_ref']}", json={"git_branch": "tour"}).status_code == 200
    assert client.delete(f"/v1/branches/{branch['project_ref']}").status_code == 200
    assert client.delete(f"{base}/branches").status_code == 200
    # A read replica (Small compute at least), listed with the project's databases, then removed.
    small = {"addon_type": "compute_instance", "addon_variant": "ci_small"}
    assert client.patch(f"{base}/billing/addons", json=small).status_code == 200
    setup = client.post(f"{base}/read-replicas/setup", json={"read_replica_region": "eu-west-1"})
    assert setup.status_code == 201, setup.text
    listed = client.get(f"/v1/organizations/{supabase_api.org_slug}/projects", params={"search": "tour"}).json()
    [replica] = [d for p in listed["projects"] for d in p["databases"] if d["type"] == "READ_REPLICA"]
    removal = {"database_identifier": replica["identifier"]}
    assert client.post(f"{base}/read-replicas/remove", json=removal).status_code == 201
    # Backups: PITR on (it needs Small compute) and off again; on Pro, restore points, the restore
    # of a listed backup and the schedule are refused, as the real API refuses them.
    backups = f"{base}/database/backups"
    compute = {"addon_type": "compute_instance", "addon_variant": "ci_small"}
    assert client.patch(f"{base}/billing/addons", json=compute).status_code == 200
    assert client.patch(f"{base}/billing/addons", json={"addon_type": "pitr", "addon_variant": "pitr_7"}).is_success
    assert client.get(f"{base}/billing/addons").status_code == 200
    assert client.get(backups).json()["pitr_enabled"] is True
    assert client.post(f"{backups}/restore-pitr", json={"recovery_time_target_unix": 1}).status_code == 400
    assert client.get(f"{backups}/schedule").status_code == 402
    assert client.patch(f"{backups}/schedule", json={"schedule_for": "04:00:00"}).status_code == 402
    assert client.post(f"{backups}/restore-point", json={"name": "tour"}).status_code == 400
    assert client.get(f"{backups}/restore-point", params={"name": "tour"}).status_code == 400
    assert client.post(f"{backups}/undo", json={"name": "tour"}).status_code == 400
    assert client.post(f"{backups}/restore", json={"id": 1}).status_code == 400
    assert client.delete(f"{base}/billing/addons/pitr_7").status_code == 200
    # Pausing is for Free projects, and only a paused project restores (the refusals answer too).
    assert client.post(f"{base}/pause").status_code == 400
    assert client.post(f"{base}/restore").status_code == 400
    assert client.delete(base).status_code == 200
    used = {c.operation_id for c in supabase_api.calls()}
    assert set(HANDLERS) - used == set(), "every implemented operation was called"
    assert ref not in {p["ref"] for p in client.get("/v1/projects").json()}


def test_every_answer_in_this_module_matched_the_spec(
    supabase_emulator: SupabaseEmulator, module_start: tuple[int, int]
) -> None:
    violations_before, calls_before = module_start
    answered = supabase_emulator.app.calls.all(since=calls_before)
    assert len(answered) > 60, "the module exercised the emulator"
    assert supabase_emulator.app.violations()[violations_before:] == []
