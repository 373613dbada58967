"""`python -m envstack doctor` and `diff` against stacks brought up by the real engine on the
local Supabase and Vercel APIs: all pass, then things broken one at a time by hand."""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from psycopg import sql
from pulumi import automation as auto

from envstack.db import migrations
from envstack.db.connect import connect
from tests.integration.workspace import ProjectCopy, local_apis, make_project_copy

pytestmark = pytest.mark.engine

PROJECT = "hermes-web"
EXTRA_MIGRATION = "20991231000000_add_lead_source.sql"
WRITES = {"POST", "PATCH", "PUT", "DELETE"}
HEALTH_APP = "tests.emulators.vercel.example_health_app"
APP_HEALTH = "app hermes-web preview health"


@pytest.fixture
def project(tmp_path: Path, supabase_api: Any, vercel_api: Any) -> ProjectCopy:
    vercel_api.create_project(PROJECT)
    # Every deployment serves a real app with the health route of docs/app-health.md.
    vercel_api.configure(serve_app=HEALTH_APP)
    for target in ("preview", "production"):
        vercel_api.deploy(PROJECT, target=target)
    env = {
        "SUPABASE_ACCESS_TOKEN": supabase_api.token,
        "VERCEL_TOKEN": vercel_api.token,
        # The local deployments' certificates chain to a CA of the test's own, trusted the standard way.
        "SSL_CERT_FILE": str(vercel_api.ca_file),
    }
    return make_project_copy(tmp_path, env)


def bring_up(project: ProjectCopy, name: str, supabase_api: Any, vercel_api: Any) -> auto.Stack:
    stack = project.stack(
        name,
        {
            **local_apis(supabase_api, vercel_api),
            # What the API does not report (a new project's pool size is null): the local pooler's.
            "envstack:monitoring": json.dumps({"poolSize": 15}),
            "envstack:health": json.dumps({"path": "/api/health/database", "expect": ["ref", "host", "name"]}),
        },
    )
    stack.up(on_output=project.on_output)
    return stack


def secrets_of(project: ProjectCopy, stacks: list[auto.Stack], vercel_api: Any) -> list[str]:
    """Everything that must never be printed: the stacks' secrets, and the values of sensitive variables."""
    sensitive = [e.value for e in vercel_api.env_vars(PROJECT) if e.type == "sensitive" and len(e.value) >= 8]
    return project.secrets_of(stacks) + sensitive


def run(project: ProjectCopy, *args: str, hidden: list[str]) -> subprocess.CompletedProcess[str]:
    return project.envstack_hiding(*args, hidden=hidden)


def doctor(project: ProjectCopy, hidden: list[str]) -> tuple[int, dict[str, tuple[str, str]], str]:
    """Exit status, check -> (status, detail) from --json, and the table, after checking the
    two modes agree."""
    table = run(project, "doctor", "--stack", "staging", hidden=hidden)
    machine = run(project, "doctor", "--stack", "staging", "--json", hidden=hidden)
    assert table.returncode == machine.returncode, (table.stdout, machine.stdout)
    document = json.loads(machine.stdout)
    results = {c["check"]: (c["status"], c["detail"]) for c in document["checks"]}
    assert document["ok"] == (machine.returncode == 0)
    for name, (status, _) in results.items():
        row = next((line for line in table.stdout.splitlines() if line.startswith(f"{name} ")), None)
        assert row is not None, f"{name} is not in the table:\n{table.stdout}"
        assert {"pass": " pass ", "fail": " FAIL ", "skip": " skip "}[status] in row, row
    return machine.returncode, results, table.stdout


def failures(results: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {name: detail for name, (status, detail) in results.items() if status == "fail"}


def admin_url(outputs: dict[str, str]) -> str:
    """The URL migrations run over (the database owner's), where the stack exports one."""
    return outputs.get("migrations_url") or outputs["direct_url"]


def env_id(vercel_api: Any, key: str) -> str:
    return str(next(e.id for e in vercel_api.env_vars(PROJECT) if e.key == key and e.target == ("preview",)))


def test_doctor_passes_then_names_each_thing_broken_by_hand(
    project: ProjectCopy, supabase_api: Any, vercel_api: Any
) -> None:
    staging = bring_up(project, "staging", supabase_api, vercel_api)
    hidden = secrets_of(project, [staging], vercel_api)
    outputs = {k: str(v.value) for k, v in staging.outputs().items()}
    supabase_before, vercel_before = len(supabase_api.calls()), len(vercel_api.calls())

    status, results, table = doctor(project, hidden)
    assert status == 0, table
    assert failures(results) == {}
    assert {s for s, _ in results.values()} == {"pass"}, table
    expected = {"supabase project", "supabase api keys", "pooled_url", "prisma_url", "direct_url", "read_only_url"}
    expected |= {"migrations"}
    expected |= {"connections", "pool", "read/write", "sessions"}
    assert expected <= set(results)
    variables = {n for n in results if n.startswith("vercel hermes-web preview ") and not n.endswith(" deployment")}
    assert len(variables) >= 16, "a line per variable the stack wrote"
    assert results["vercel hermes-web preview POSTGRES_URL"][1] == (
        "exists, unchanged since the stack wrote it (sensitive: by date)"
    )
    assert "compared by hash" in results["vercel hermes-web preview POSTGRES_HOST"][1]
    assert "ACTIVE_HEALTHY" in results["supabase project"][1]
    assert (
        results["supabase api keys"][1] == "publishable key envstack_staging_0 and secret key envstack_staging_0 exist"
    )
    assert "transaction pooler" in results["pooled_url"][1]
    assert "pgbouncer=true" in results["prisma_url"][1]
    assert "real session" in results["direct_url"][1]
    assert "a write is refused" in results["read_only_url"][1]
    assert "newer than the last variable change" in results["vercel hermes-web preview deployment"][1]
    assert APP_HEALTH in results, "the app's own health route is asked"

    broken: dict[str, str] = {}

    # 1. A sensitive variable deleted in the dashboard.
    with vercel_api.http() as http:
        project_id = http.get(f"/v9/projects/{PROJECT}").json()["id"]
        assert http.delete(f"/v9/projects/{project_id}/env/{env_id(vercel_api, 'POSTGRES_PASSWORD')}").is_success
    broken["vercel hermes-web preview POSTGRES_PASSWORD"] = "missing"
    status, results, table = doctor(project, hidden)
    assert status == 1
    assert failures(results).keys() == broken.keys(), table
    assert "deleted outside the stack" in failures(results)["vercel hermes-web preview POSTGRES_PASSWORD"]

    # 2. A readable variable edited in the dashboard: its value no longer has the stack's hash,
    # and the running deployment predates the edit (it does not have the new value either).
    with vercel_api.http() as http:
        edited = http.patch(
            f"/v9/projects/{project_id}/env/{env_id(vercel_api, 'POSTGRES_HOST')}", json={"value": "db.example.invalid"}
        )
        assert edited.is_success, edited.text
        # A sensitive one too: its value cannot be read back, but its updatedAt moved.
        junk = "postgresql://someone:else@db.example.invalid:5432/postgres"
        sensitive = http.patch(
            f"/v9/projects/{project_id}/env/{env_id(vercel_api, 'POSTGRES_URL_NON_POOLING')}", json={"value": junk}
        )
        assert sensitive.is_success, sensitive.text
    broken["vercel hermes-web preview POSTGRES_HOST"] = "edited"
    broken["vercel hermes-web preview POSTGRES_URL_NON_POOLING"] = "edited"
    broken["vercel hermes-web preview deployment"] = "stale"
    status, results, table = doctor(project, hidden)
    assert status == 1
    assert failures(results).keys() == broken.keys(), table
    assert "value differs" in failures(results)["vercel hermes-web preview POSTGRES_HOST"]
    assert "edited outside the stack at " in failures(results)["vercel hermes-web preview POSTGRES_URL_NON_POOLING"]
    assert "db.example.invalid" not in table, "values are never printed"
    assert "(POSTGRES_URL_NON_POOLING, " in failures(results)["vercel hermes-web preview deployment"]

    # 3. A migration file added to the repository and not applied.
    (project.root / "supabase" / "migrations" / EXTRA_MIGRATION).write_text(
        "ALTER TABLE hermes_leads ADD COLUMN lead_source text;\n"
    )
    broken["migrations"] = "pending"
    status, results, table = doctor(project, hidden)
    assert status == 1
    assert failures(results).keys() == broken.keys(), table
    assert failures(results)["migrations"] == f"not applied: {EXTRA_MIGRATION}"

    # 4. The read-only role given a write grant by hand.
    role = unquote(urlsplit(outputs["read_only_url"]).username or "").split(".")[0]
    with connect(admin_url(outputs), autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT INSERT ON public.hermes_leads TO {}").format(sql.Identifier(role)))
    broken["read_only_url"] = "can write"
    status, results, table = doctor(project, hidden)
    assert status == 1
    assert failures(results).keys() == broken.keys(), table
    assert failures(results)["read_only_url"] == "can write: INSERT on public.hermes_leads"

    # 4b. The app's secret API key deleted in Supabase's dashboard.
    ref = outputs["supabase_project_ref"]
    with supabase_api.client() as client:
        keys = client.get(f"/v1/projects/{ref}/api-keys").json()
        secret_key_id = next(k["id"] for k in keys if k["name"] == "envstack_staging_0" and k["type"] == "secret")
        assert client.delete(f"/v1/projects/{ref}/api-keys/{secret_key_id}").is_success
    broken["supabase api keys"] = "deleted"
    status, results, table = doctor(project, hidden)
    assert status == 1
    assert failures(results).keys() == broken.keys(), table
    assert failures(results)["supabase api keys"] == (
        "secret key envstack_staging_0: deleted outside the stack (`pulumi up --refresh` makes it again and redeploys)"
    )

    # 5. The app's pool nearly exhausted: the pool made 5 in the dashboard, 4 of them held by
    # open transactions through the transaction pooler. It passes again once they end.
    with supabase_api.client() as client:
        resized = client.patch(f"/v1/projects/{ref}/config/database/pooler", json={"default_pool_size": 5})
        assert resized.status_code == 200, resized.text
    with contextlib.ExitStack() as held:
        for _ in range(4):
            held.enter_context(connect(outputs["pooled_url"])).execute("SELECT 1")
        broken["pool"] = "busy"
        status, results, table = doctor(project, hidden)
        assert status == 1
        assert failures(results).keys() == broken.keys(), table
        role = outputs["user"]
        assert failures(results)["pool"].startswith(f"{role}: 4 of 5 pooled server connections busy (80%, limit 80%)")
    del broken["pool"]
    status, results, table = doctor(project, hidden)
    assert failures(results).keys() == broken.keys(), table
    assert results["pool"] == (
        "pass",
        "every app role: 0 of 5 pooled server connections busy (0%, limit 80%); the pooler admits 200 clients",
    )

    # 6. The project paused: staging on the Free plan, untouched for a week. Its database is
    # down, so doctor says so once and skips the checks that would only fail to connect.
    supabase_api.tenant.organization.plan = "free"
    supabase_api.advance_clock(7 * 24 * 3600)
    broken["supabase project"] = "paused"
    broken.pop("supabase api keys")  # a paused project's checks stop at its status
    broken[APP_HEALTH] = "the app cannot reach its database"
    for name in ("pooled_url", "prisma_url", "direct_url", "read_only_url", "migrations"):
        broken.pop(name, None)
    status, results, table = doctor(project, hidden)
    assert status == 1
    assert failures(results).keys() == broken.keys(), table
    assert failures(results)["supabase project"].startswith(f"project {ref} is paused (INACTIVE): Supabase pauses")
    assert f"/v1/projects/{ref}/restore" in failures(results)["supabase project"]
    assert {results[n][0] for n in ("pooled_url", "direct_url", "migrations", "pool", "sessions")} == {"skip"}, table
    assert "answered 503: the app could not reach its database" in failures(results)[APP_HEALTH]

    supabase_writes = [f"{c.method} {c.path}" for c in supabase_api.calls()[supabase_before:] if c.method in WRITES]
    made_by_hand = [
        f"DELETE /v1/projects/{ref}/api-keys/{secret_key_id}",
        f"PATCH /v1/projects/{ref}/config/database/pooler",
    ]
    assert supabase_writes == made_by_hand, "doctor only reads Supabase: the writes are the two made by hand"
    vercel_writes = [c.method for c in vercel_api.calls()[vercel_before:] if c.method in WRITES]
    assert vercel_writes == ["DELETE", "PATCH", "PATCH"], "doctor only reads Vercel: the writes are those made by hand"
    assert vercel_api.decrypt_calls() == [], "no sensitive value is ever asked for"

    # What doctor says to run fixes what it reports: the restore it names, then the
    # `pulumi up --refresh --stack staging` its Vercel lines name.
    for name in ("POSTGRES_PASSWORD", "POSTGRES_HOST", "POSTGRES_URL_NON_POOLING", "deployment"):
        assert "`pulumi up --refresh --stack staging`" in failures(results)[f"vercel hermes-web preview {name}"]
    with supabase_api.client() as client:
        assert client.post(f"/v1/projects/{ref}/restore").status_code == 200
    assert supabase_api.wait_for_status(ref) == "ACTIVE_HEALTHY"
    supabase_api.tenant.organization.plan = "pro"
    staging.up(on_output=project.on_output, refresh=True)
    status, results, table = doctor(project, hidden)
    for name in ("POSTGRES_PASSWORD", "POSTGRES_HOST", "POSTGRES_URL_NON_POOLING", "deployment"):
        assert results[f"vercel hermes-web preview {name}"][0] == "pass", table
    assert results["migrations"][0] == "pass", table
    assert results[APP_HEALTH][0] == "pass", table
    assert results["supabase api keys"][0] == "pass", table


def diff(project: ProjectCopy, hidden: list[str]) -> tuple[int, list[dict[str, str]], str]:
    table = run(project, "diff", "staging", "production", hidden=hidden)
    machine = run(project, "diff", "staging", "production", "--json", hidden=hidden)
    assert table.returncode == machine.returncode, (table.stdout, machine.stdout)
    document = json.loads(machine.stdout)
    assert document["drift"] == (machine.returncode != 0)
    return machine.returncode, document["differences"], table.stdout


def test_diff_lists_expected_differences_and_fails_on_drift(
    project: ProjectCopy, supabase_api: Any, vercel_api: Any
) -> None:
    staging = bring_up(project, "staging", supabase_api, vercel_api)
    production = bring_up(project, "production", supabase_api, vercel_api)
    hidden = secrets_of(project, [staging, production], vercel_api)

    status, differences, table = diff(project, hidden)
    assert status == 0, table
    # Pulumi.staging.yaml and Pulumi.production.yaml: micro and small, same region; PITR on production only.
    assert differences == [
        {"area": "supabase", "item": "instance size", "staging": "micro", "production": "small", "kind": "expected"},
        {
            "area": "supabase",
            "item": "point-in-time recovery",
            "staging": "off",
            "production": "7 days",
            "kind": "expected",
        },
    ], table
    assert "0 drift, 2 expected" in table

    # An extra migration applied to staging only.
    (project.root / "supabase" / "migrations" / EXTRA_MIGRATION).write_text(
        "ALTER TABLE hermes_leads ADD COLUMN lead_source text;\n"
    )
    outputs = {k: str(v.value) for k, v in staging.outputs().items()}
    applied = migrations.apply(admin_url(outputs), project.root / "supabase" / "migrations", log=lambda _: None)
    assert applied.applied == ["20991231000000"]
    status, differences, table = diff(project, hidden)
    assert status == 3, table
    drift = [d for d in differences if d["kind"] != "expected"]
    assert drift == [
        {
            "area": "migrations",
            "item": EXTRA_MIGRATION.removesuffix(".sql"),
            "staging": "applied",
            "production": "not applied",
            "kind": "drift",
        }
    ], table
    assert "DRIFT" in table

    # A variable added to production's target only.
    vercel_api.add_env_by_hand(PROJECT, "FEATURE_FLAGS", secrets.token_urlsafe(12), target=("production",))
    status, differences, table = diff(project, hidden)
    assert status == 3, table
    variable_drift = [d for d in differences if d["area"] == "vercel"]
    assert variable_drift == [
        {"area": "vercel", "item": f"{PROJECT} FEATURE_FLAGS", "staging": "-", "production": "set", "kind": "drift"}
    ], table
    assert vercel_api.decrypt_calls() == []

    # A preview build wired to production's database (its POSTGRES_URL pasted in by hand, then
    # a deployment): every variable check of staging may pass on other keys, but the app itself
    # reports production's project, and doctor names both.
    live = {k: str(v.value) for k, v in production.outputs().items()}
    with vercel_api.http() as http:
        project_id = http.get(f"/v9/projects/{PROJECT}").json()["id"]
        url_id = env_id(vercel_api, "POSTGRES_URL")
        pasted = http.patch(f"/v9/projects/{project_id}/env/{url_id}", json={"value": live["pooled_url"]})
        assert pasted.is_success, pasted.text
    vercel_api.deploy(PROJECT, target="preview")
    _, results, table = doctor(project, hidden)
    wrong = failures(results)[APP_HEALTH]
    theirs, ours = live["supabase_project_ref"], outputs["supabase_project_ref"]
    assert f"the app reports database ref {theirs}; the stack wired {ours}" in wrong, table
    assert live["pooled_url"] not in table


def test_commands_name_a_stack_that_is_not_in_the_backend(project: ProjectCopy) -> None:
    for args, sentence in (
        (("doctor", "--stack", "staging"), "no stack named staging in the backend"),
        (("diff", "staging", "production"), "no stack named staging in the backend"),
        (("rotate", "--stack", "staging", "database"), "there is no stack staging in this backend"),
    ):
        proc = project.envstack(*args)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert sentence in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
