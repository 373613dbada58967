"""`pulumi up --stack staging|production` with the real engine against the local Management API."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pytest
from pulumi import automation as auto

from envstack.db.connect import connect
from tests.emulators.supabase.testing import port_open
from tests.integration.workspace import ProjectCopy, local_apis, make_project_copy

pytestmark = pytest.mark.engine


@pytest.fixture
def project(tmp_path: Path, supabase_api: Any) -> ProjectCopy:
    return make_project_copy(tmp_path, {"SUPABASE_ACCESS_TOKEN": supabase_api.token})


def configure(project: ProjectCopy, stack_name: str, api: Any) -> auto.Stack:
    return project.stack(
        stack_name,
        {
            **local_apis(api),
        },
    )


def secret_outputs(stack: auto.Stack) -> dict[str, str]:
    return {key: str(value.value) for key, value in stack.outputs().items() if value.secret}


def host_of(url: str) -> str:
    return url.split("@", 1)[1].split(":", 1)[0]


def test_staging_up_connects_noop_and_destroy(project: ProjectCopy, supabase_api: Any) -> None:
    stack = configure(project, "staging", supabase_api)
    stack.up(on_output=project.on_output)
    outputs = stack.outputs()
    ref = str(outputs["supabase_project_ref"].value)
    urls = secret_outputs(stack)
    for name in ("pooled_url", "prisma_url", "direct_url", "read_only_url", "password", "jwt_secret", "migrations_url"):
        assert outputs[name].secret, f"{name} is exported as a secret"

    with connect(urls["pooled_url"]) as conn:
        assert conn.execute("SELECT count(*) > 0 FROM hermes_leads").fetchone() == (True,), "staging is seeded"
        conn.execute("INSERT INTO hermes_leads (lead_id, full_name, email) VALUES ('it-lead-01', 'I', 'i@example.com')")
    with connect(urls["prisma_url"]) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with connect(urls["direct_url"]) as conn:
        # The app's own login role, not postgres (migrations_url is postgres's).
        assert conn.execute("SELECT current_user").fetchone() == (outputs["user"].value,)
    with connect(urls["migrations_url"]) as conn:
        versions = conn.execute("SELECT count(*) FROM supabase_migrations.schema_migrations").fetchone()
        assert versions is not None
        assert versions[0] >= 1
    with connect(urls["read_only_url"]) as conn:
        assert conn.execute("SELECT count(*) FROM hermes_leads WHERE lead_id = 'it-lead-01'").fetchone() == (1,)
        with pytest.raises(psycopg.Error):
            conn.execute(
                "INSERT INTO hermes_leads (lead_id, full_name, email) VALUES ('it-lead-02', 'R', 'r@example.com')"
            )

    state = project.export_state("staging")
    printed = "".join(project.output)
    for secret in urls.values():
        assert secret not in state
        assert secret not in printed

    before = len(supabase_api.calls())
    stack.preview(on_output=project.on_output)
    again = stack.up(on_output=project.on_output)
    assert set((again.summary.resource_changes or {}).keys()) == {"same"}
    assert supabase_api.calls()[before:] == [], "a no-op preview and up call nothing, the organization check included"

    # The organization is asked about again once the setting changes, and one the token cannot
    # see fails the preview with the sentence naming the setting.
    stack.set_config("supabase:organization", auto.ConfigValue("someone-elses"))
    before = len(supabase_api.calls())
    with pytest.raises(auto.CommandError) as refused:
        stack.preview(on_output=project.on_output)
    assert (
        "has a problem: Invalid stack setting supabase:organization: no organization 'someone-elses' is visible to "
        f"SUPABASE_ACCESS_TOKEN (it sees: {supabase_api.org_slug})."
    ) in str(refused.value)
    assert [f"{c.method} {c.path}" for c in supabase_api.calls()[before:]] == ["GET /v1/organizations"]
    stack.set_config("supabase:organization", auto.ConfigValue(supabase_api.org_slug))

    info = supabase_api.project(ref)
    stack.destroy(on_output=project.on_output)
    assert supabase_api.project_status(ref) is None, "the project is gone"
    assert not port_open(info.db_host, 5432), "its database processes are gone"


def test_production_is_protected_and_never_seeded(project: ProjectCopy, supabase_api: Any) -> None:
    stack = configure(project, "production", supabase_api)
    stack.up(on_output=project.on_output)
    urls = secret_outputs(stack)
    with connect(urls["pooled_url"]) as conn:
        assert conn.execute("SELECT count(*) FROM hermes_leads").fetchone() == (0,), "production starts empty"
    ref = str(stack.outputs()["supabase_project_ref"].value)

    # Recoverable (Pulumi.production.yaml): a week of point-in-time recovery, and the moment
    # before the migrations ran recorded (a Pro organization has no restore points).
    point = stack.outputs()["recovery_point"].value
    assert point["restore_point"] is None
    with supabase_api.client() as client:
        kept = client.get(f"/v1/projects/{ref}/database/backups").json()
    assert kept["pitr_enabled"] is True
    # The moment is this machine's time (the local API's calendar moves with the clock other
    # tests advance in the same session, so the two are not compared here; test_restore_reset restores to one).
    recorded = datetime.fromisoformat(point["before_migrations"].replace("Z", "+00:00"))
    assert recorded.tzinfo is not None
    doctor = project.envstack("doctor", "--stack", "production", "--json")
    checks = {c["check"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["point-in-time recovery"] == {
        "check": "point-in-time recovery",
        "status": "pass",
        "detail": "7 days, as the stack wants",
    }, doctor.stdout
    assert checks["backups"]["status"] == "pass", doctor.stdout
    assert "the newest moment PITR can restore to" in checks["backups"]["detail"]

    # Hardened: its database requires TLS, directly and through the pooler.
    with supabase_api.client() as client:
        assert client.get(f"/v1/projects/{ref}/ssl-enforcement").json()["currentConfig"] == {"database": True}
    for name in ("pooled_url", "migrations_url"):
        with pytest.raises(psycopg.OperationalError):
            connect(urls[name], sslmode="disable").close()
    # Turned off in the dashboard: doctor says so, and `pulumi up --refresh` puts it back. In
    # the same incident someone gave the app's database role another password by hand.
    with supabase_api.client() as client:
        client.put(f"/v1/projects/{ref}/ssl-enforcement", json={"requestedConfig": {"database": False}})
    app_role = urls["pooled_url"].split("://", 1)[1].split(":", 1)[0].split(".", 1)[0]
    with connect(urls["migrations_url"], autocommit=True) as conn:
        conn.execute(f"ALTER ROLE \"{app_role}\" PASSWORD 'set-by-hand-in-an-incident'")
    doctor = project.envstack("doctor", "--stack", "production", "--json")
    checks = {c["check"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["ssl enforcement"]["status"] == "fail", doctor.stdout
    assert "pulumi up --refresh" in checks["ssl enforcement"]["detail"]
    assert checks["pooled_url"]["status"] == "fail", doctor.stdout
    assert "pulumi up --refresh" in checks["pooled_url"]["detail"], "a refused login names the repair"
    stack.up(on_output=project.on_output, refresh=True)
    doctor = project.envstack("doctor", "--stack", "production", "--json")
    checks = {c["check"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["ssl enforcement"]["status"] == "pass", doctor.stdout
    assert "refuses a connection without TLS" in checks["ssl enforcement"]["detail"]
    same = secret_outputs(stack)["pooled_url"] == urls["pooled_url"]  # apart: a failed assert shows its operands
    assert same, "the same password, set back"
    with connect(urls["pooled_url"]) as conn:
        assert conn.execute("SELECT count(*) FROM hermes_leads").fetchone() == (0,)
    state = project.export_state("production")
    passwords = {name: unquote(urlsplit(value).password or "") for name, value in urls.items()}
    leaked = [name for name, value in urls.items() if value in state or (passwords[name] and passwords[name] in state)]
    assert leaked == [], "the refresh kept every password encrypted in the state"

    with pytest.raises(auto.CommandError, match="protected"):
        stack.destroy(on_output=project.on_output)
    assert supabase_api.project_status(ref) == "ACTIVE_HEALTHY"


def test_without_ipv6_migrations_fall_back_to_the_session_pooler_and_say_so(
    project: ProjectCopy, supabase_api: Any
) -> None:
    """supabase:ipv6 defaults to auto. On a machine with no IPv6 route (the local API's
    default, as on GitHub's runners) the direct host db.<ref> cannot be reached, so envstack's
    own sessions go through the session pooler, and the output says why. Once IPv6 routes,
    the next up moves them to the direct host and changes nothing else. The app always gets
    the session pooler: Vercel's functions may have no IPv6 either."""
    stack = configure(project, "staging", supabase_api)
    result = stack.up(on_output=project.on_output)
    ref = str(stack.outputs()["supabase_project_ref"].value)
    info = supabase_api.project(ref)
    urls = secret_outputs(stack)
    assert host_of(urls["migrations_url"]) == info.pooler_host_name, "migrations went through the session pooler"
    assert f"postgres.{ref}:" in urls["migrations_url"]
    assert host_of(urls["direct_url"]) == info.pooler_host_name, "POSTGRES_URL_NON_POOLING is the session pooler"
    assert f"db.{ref}." in result.stdout
    assert "IPv6-only" in result.stdout, "the fallback is said, with its reason"
    with connect(urls["migrations_url"]) as conn:
        assert conn.execute("SELECT count(*) FROM supabase_migrations.schema_migrations").fetchone() != (0,)

    supabase_api.configure(ipv6_route=True)
    preview = stack.preview(on_output=project.on_output)
    assert preview.change_summary.get(auto.OpType.UPDATE, 0) >= 1, "the preview sees the route change"
    moved = stack.up(on_output=project.on_output)
    assert "IPv6-only" not in moved.stdout
    urls = secret_outputs(stack)
    assert host_of(urls["migrations_url"]) == info.db_host_name, "with IPv6, the direct host"
    assert host_of(urls["direct_url"]) == info.pooler_host_name, "the app's variables did not move"
    with connect(urls["migrations_url"]) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
    changes = moved.summary.resource_changes or {}
    assert changes.get(auto.OpType.CREATE, 0) == 0
    assert changes.get(auto.OpType.REPLACE, 0) == 0
    stack.destroy(on_output=project.on_output)


def test_every_rotation_works_on_protected_production(project: ProjectCopy, supabase_api: Any) -> None:
    """Production's resources are protected, so the engine refuses any replace or delete:
    each rotation must be an update in place, through `rotate` as through the counters."""
    stack = configure(project, "production", supabase_api)
    stack.up(on_output=project.on_output)
    before = secret_outputs(stack)
    for secret in ("app-secret", "postgres", "database", "api-keys"):
        # --no-wait: the API keys' second step (deleting the replaced keys) is due only after a
        # grace period; the first step is what must not be refused.
        rotated = project.envstack("rotate", "--stack", "production", secret, "--no-wait")
        assert rotated.returncode == 0, f"{secret}: {rotated.stdout}{rotated.stderr}"
        assert "protected" not in rotated.stdout + rotated.stderr
    counters = stack.outputs()["rotations"].value
    assert {name: counters[name]["counter"] for name in ("app-secret", "postgres", "database", "api-keys")} == {
        "app-secret": 1,
        "postgres": 1,
        "database": 1,
        "api-keys": 1,
    }
    after = secret_outputs(stack)
    assert after["migrations_url"] != before["migrations_url"], "postgres has a new password"
    with connect(after["migrations_url"]) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
    assert after["direct_url"] != before["direct_url"], "the app logs in as the other role now"
    with connect(after["pooled_url"]) as conn:
        assert conn.execute("SELECT count(*) FROM hermes_leads").fetchone() == (0,), "never seeded"
    ref = str(stack.outputs()["supabase_project_ref"].value)
    assert supabase_api.project_status(ref) == "ACTIVE_HEALTHY"
    noop = stack.preview(on_output=project.on_output).change_summary
    assert set(noop) <= {auto.OpType.SAME}, noop

    # The same through the counters, as a team commits them, with the JWT key too: one plain `up`.
    for key, value in {"rotation:appSecret": "2", "rotation:postgres": "2", "rotation:jwt": "1"}.items():
        stack.set_config(key, auto.ConfigValue(value))
    result = stack.up(on_output=project.on_output)
    changes = set(result.summary.resource_changes or {})
    assert not {"delete", "replace", "create-replacement", "delete-replaced"} & changes, changes
    counters = stack.outputs()["rotations"].value
    assert [counters[name]["counter"] for name in ("app-secret", "postgres", "jwt")] == [2, 2, 1]
    assert counters["jwt"]["step"] != "idle", "the JWT rotation is under way (its next steps are due later)"
    with connect(secret_outputs(stack)["migrations_url"]) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)


def test_a_project_supabase_paused_is_torn_down_whole(project: ProjectCopy, supabase_api: Any) -> None:
    """A Free project untouched for a week is paused, its database down (pull-request stacks
    closed after a week, the janitor's idle limit): the destroy failed dropping the login roles
    inside it, before the project's delete, and every teardown after failed the same way."""
    supabase_api.tenant.organization.plan = "free"
    stack = configure(project, "staging", supabase_api)
    stack.up(on_output=project.on_output)
    ref = str(stack.outputs()["supabase_project_ref"].value)
    supabase_api.advance_clock(7 * 24 * 3600)
    with supabase_api.client() as client:  # Supabase says so at the next look at the project
        assert client.get(f"/v1/projects/{ref}").json()["status"] == "INACTIVE"
    assert not port_open(supabase_api.project(ref).db_host, 5432), "its database is down"

    stack.destroy(on_output=project.on_output)

    assert supabase_api.project_status(ref) is None, "the project is gone"
    assert (stack.export_stack().deployment or {}).get("resources") in (None, []), "nothing is left in the state"
