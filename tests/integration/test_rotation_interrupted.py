"""Rotations killed at every step and resumed: they complete, and nothing runs twice in a way
that breaks the app (the app secret, which calls no API, is rotated once at the end).

Each step is caught in the act: the local API holds the answer to the step's call once the
call has taken effect (a "hang" fault, ``when="after"``), or PostgreSQL holds the password
change on a row lock, or the redeploy is still building. Then the whole run is killed (the
engine and its plugins, as when a machine goes away), `python -m envstack recover` clears
what it left, and the next `pulumi up` goes on: the worst case, where the step happened and
nobody recorded it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
from pulumi import automation as auto

from envstack.db.connect import connect
from tests.emulators.common.faults import FaultRule
from tests.integration.convergence import (
    PROJECT,
    STACK,
    Staging,
    assert_converged,
    assert_noop,
    wait_until,
)

pytestmark = pytest.mark.engine

TIMINGS = {"rotation:jwtStandbySeconds": "1", "rotation:jwtRevokeAfterSeconds": "1", "rotation:apiKeyGraceSeconds": "0"}
SIGNING_KEYS = r"/v1/projects/\w+/config/auth/signing-keys"


def killed_when(staging: Staging, happened: Callable[[], bool], what: str) -> None:
    """Start `pulumi up`, kill it (engine and plugins) once ``happened``, and recover the stack."""
    run = staging.spawn_up()
    wait_until(lambda: happened() or run.process.poll() is not None, 120, what)
    assert run.process.poll() is None, f"the run ended before {what}:\n{run.output()[-3000:]}"
    run.kill()
    recovered = staging.envstack("recover", "--stack", STACK)
    assert recovered.returncode == 0, recovered.stderr


def killed_at_call(staging: Staging, api: Any, method: str, path: str, what: str) -> None:
    """Kill the run once ``method path`` has taken effect and its answer is being held."""
    rule = api.faults.add(FaultRule(path, "hang", method, "after", delay=120))
    try:
        killed_when(staging, rule.fired.is_set, what)
    finally:
        rule.release()
        api.faults.clear()


def bump(staging: Staging, key: str, value: int) -> None:
    staging.stack.set_config(key, auto.ConfigValue(str(value)))


def outputs(staging: Staging) -> dict[str, Any]:
    return {k: v.value for k, v in staging.stack.outputs().items()}


def variable(staging: Staging, name: str) -> str:
    value = staging.vercel.env_value(PROJECT, name, "preview")
    assert value is not None, name
    return value


def can_connect(url: str) -> bool:
    try:
        with connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def test_every_rotation_step_survives_a_killed_run(fresh_staging: Staging) -> None:
    staging = fresh_staging
    # The rotation's waits are seconds here, not an hour: Supabase's five-minute throttle on
    # signing-key changes is scaled with them (a throttled step is tested in test_signing_key_rotation).
    staging.supabase.configure(signing_key_interval=1)
    for key, value in TIMINGS.items():
        staging.stack.set_config(key, auto.ConfigValue(value))
    staging.up()
    ref = str(outputs(staging)["supabase_project_ref"])
    api_base = staging.supabase.project_api_url(ref)
    with staging.supabase.client() as client:
        # The app uses the publishable and secret keys: the legacy ones are off, so the legacy
        # JWT secret can be revoked too.
        assert client.put(f"/v1/projects/{ref}/api-keys/legacy", params={"enabled": "false"}).status_code == 200
    project = staging.supabase.emulator.state.projects[ref]
    assert project.server is not None
    superuser = project.server.admin_conninfo()

    # -- database: the idle role's new password, the variables, the redeploy ------------------------
    before_url, before_user = variable(staging, "POSTGRES_URL"), variable(staging, "POSTGRES_USER")
    idle = re.sub(r"_a$", "_b", before_user) if before_user.endswith("_a") else re.sub(r"_b$", "_a", before_user)
    bump(staging, "rotation:database", 1)
    with psycopg.connect(superuser) as holder:
        # An open transaction that changed the idle role holds its row: the password change waits.
        holder.execute(f'ALTER ROLE "{idle}" CONNECTION LIMIT 50')

        def password_change_waiting() -> bool:
            with psycopg.connect(superuser, autocommit=True) as probe:
                row = probe.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE 'ALTER ROLE%PASSWORD%'"
                ).fetchone()
            return bool(row and row[0])

        killed_when(staging, password_change_waiting, "the idle role's password change")
        holder.rollback()
    # The new values go in one upsert (providers/vercel_env.py): killed once it has taken effect.
    killed_at_call(staging, staging.vercel, "POST", r"/v\d+/projects/[^/]+/env", "writing the variables")
    staging.vercel.configure(build_seconds=60)
    deployments_before = len(_deployments(staging))
    killed_when(staging, lambda: len(_deployments(staging)) > deployments_before, "the redeploy building")
    staging.vercel.configure(build_seconds=0)
    # The command a user would run again after `recover`: it finishes this rotation (the
    # counter stays 1), where raising the counter would give the running deployment's role,
    # which the kills left in use, a new password.
    resumed = staging.envstack("rotate", "--stack", STACK, "database")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "a database rotation to 1 was asked for and has not finished" in resumed.stdout, resumed.stdout[-3000:]
    after_url = variable(staging, "POSTGRES_URL")
    assert variable(staging, "POSTGRES_USER") == idle, "the other role is active"
    with connect(after_url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (idle,)
    assert can_connect(before_url), "the running deployment's role kept its password"
    assert can_connect(variable(staging, "POSTGRES_READ_REPLICA_URL"))

    # -- JWT signing key: import, standby, switch, revoke --------------------------------------------
    bump(staging, "rotation:jwt", 1)
    killed_at_call(staging, staging.supabase, "POST", f"{SIGNING_KEYS}/legacy", "importing the legacy secret")
    killed_at_call(staging, staging.supabase, "POST", SIGNING_KEYS, "creating the standby key")
    killed_at_call(staging, staging.supabase, "PATCH", rf"{SIGNING_KEYS}/[^/]+", "switching to the new key")
    killed_at_call(staging, staging.supabase, "PATCH", rf"{SIGNING_KEYS}/[^/]+", "revoking the old key")
    staging.up()
    with staging.supabase.client() as client:
        keys = client.get(f"/v1/projects/{ref}/config/auth/signing-keys").json()["keys"]
    assert sorted((k["algorithm"], k["status"]) for k in keys) == [("ES256", "in_use"), ("HS256", "revoked")], (
        "one new key, made once; the legacy secret revoked"
    )
    assert outputs(staging)["rotations"]["jwt"]["step"] == "idle"

    # -- API keys: the new pair, the deletion of the old one ----------------------------------------
    old_secret = variable(staging, "SUPABASE_SECRET_KEY")
    bump(staging, "rotation:apiKeys", 1)
    killed_at_call(staging, staging.supabase, "POST", r"/v1/projects/\w+/api-keys", "creating the new keys")
    killed_at_call(staging, staging.supabase, "DELETE", r"/v1/projects/\w+/api-keys/[^/]+", "deleting the old keys")
    staging.up()
    with staging.supabase.client() as client:
        ours = client.get(f"/v1/projects/{ref}/api-keys").json()
    assert sorted((k["type"], k["name"]) for k in ours if k["name"].startswith("envstack_")) == [
        ("publishable", "envstack_staging_1"),
        ("secret", "envstack_staging_1"),
    ], "one new pair, made once; the old pair deleted"
    new_secret = variable(staging, "SUPABASE_SECRET_KEY")
    assert httpx.get(f"{api_base}/rest/v1/", headers={"apikey": new_secret}).status_code == 200
    assert httpx.get(f"{api_base}/rest/v1/", headers={"apikey": old_secret}).status_code == 401

    # -- postgres: the password change ---------------------------------------------------------------
    bump(staging, "rotation:postgres", 1)
    killed_at_call(staging, staging.supabase, "PATCH", r"/v1/projects/\w+/database/password", "the password change")
    staging.up()
    with connect(str(outputs(staging)["migrations_url"])) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
    assert can_connect(variable(staging, "POSTGRES_URL")), "the app never used postgres"

    # -- the app's own JWT_SECRET (no API: generated anew, written, redeployed) ----------------------
    old_app_secret = variable(staging, "JWT_SECRET")
    bump(staging, "rotation:appSecret", 1)
    staging.up()
    assert variable(staging, "JWT_SECRET") != old_app_secret
    assert old_app_secret not in staging.copy.export_state(STACK)

    history = outputs(staging)["rotation_history"]
    assert sorted((e["secret"], e["counter"]) for e in history) == [
        ("api-keys", 1),
        ("app-secret", 1),
        ("database", 1),
        ("jwt", 1),
        ("postgres", 1),
    ], "each rotation recorded once"
    assert_converged(staging)
    assert_noop(staging)


def _deployments(staging: Staging) -> list[dict[str, Any]]:
    answer = staging.vercel.app.upstream.request("GET", "/v6/deployments", params={"teamId": staging.vercel.team})
    assert answer.ok
    found: list[dict[str, Any]] = answer.body["deployments"]
    return found
