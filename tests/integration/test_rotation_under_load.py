"""Issue 6's proof under load: rotations while the app keeps serving, with zero failed requests.

Staging, and production with its protected resources, are each brought up by the real
engine against both local APIs. A deployment runner plays
Vercel's hosting (tests/integration/deployments.py): each READY deployment runs as an app
process with that deployment's variables, and traffic moves to it only once it is healthy.
A load loop of 30 requests a second runs through

- a full database rotation (two: the app's role A → B, then B → A, so the password the first
  deployment used is replaced), the second with ``--revoke-previous`` (B is refused as soon as
  the deployment with A is live), then A → B again through the counter itself
  (``rotation:database`` raised and a plain ``pulumi up``; the revoked role is usable once more),
- a JWT signing-key rotation (legacy secret → a new ES256 key, then the legacy secret revoked),
- an API-key rotation with ``--revoke-previous`` (new publishable and secret keys, then the
  old ones deleted right after the redeploy, not after ``rotation:apiKeyGraceSeconds``),

the others asked for with `python -m envstack rotate`, exactly as a user would. Not one request
may fail; after each rotation the retired password or key no longer works; on production no
protected resource is replaced or deleted. The figures per rotation are printed into the test
log (and in the README's Rotation section).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from pulumi import automation as auto

from envstack.db.connect import connect
from tests.emulators.supabase import tokens
from tests.emulators.supabase.fixtures import SupabaseTenant
from tests.emulators.vercel.fixtures import VercelApi
from tests.integration.deployments import DeploymentRunner, Load
from tests.integration.workspace import ProjectCopy, local_apis, make_project_copy

pytestmark = pytest.mark.engine

PROJECT = "hermes-web"
RATE = 30.0  # requests a second sent (the issue asks for at least 20: this leaves room on a busy machine)
JWT_EXP = 4  # seconds a user's token lives (the team's Auth setting in this test)
TIMINGS = {
    # The app's JWKS cache is up to 2 s old (and user tokens are renewed every 2 s); the standby
    # key is published 3 s before it signs, so the cache knows it in time.
    "rotation:jwtStandbySeconds": "3",
    # Every token the old key signed has expired 6 s after the switch (JWT_EXP + a margin).
    "rotation:jwtRevokeAfterSeconds": "6",
    # Without a revocation the old API keys would outlive the redeploy by 10 minutes: the
    # rotation below revokes them, so they go after the drain instead.
    "rotation:apiKeyGraceSeconds": "600",
    # A revocation waits 5 s after the redeploy is READY (the runner's switch takes one or two).
    "rotation:revokeDrainSeconds": "5",
}
SECRET_NAMES = (
    "POSTGRES_URL",
    "POSTGRES_PRISMA_URL",
    "POSTGRES_URL_NON_POOLING",
    "POSTGRES_PASSWORD",
    "POSTGRES_READ_REPLICA_URL",
    "DATABASE_URL",
    "SUPABASE_SECRET_KEY",
    "SUPABASE_PUBLISHABLE_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
    "SUPABASE_JWT_SECRET",
    "JWT_SECRET",
)


def writes(*apis: Any) -> list[str]:
    return [
        f"{c.method} {c.path}" for api in apis for c in api.calls() if c.method in {"POST", "PATCH", "PUT", "DELETE"}
    ]


def can_connect(url: str) -> bool:
    try:
        with connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def accepted(base: str, apikey: str, token: str | None = None) -> bool:
    headers = {"apikey": apikey, **({"Authorization": f"Bearer {token}"} if token else {})}
    return httpx.get(f"{base}/rest/v1/", headers=headers).status_code == 200


class Rotations:
    """Runs `python -m envstack rotate` in the project copy and keeps what it printed."""

    def __init__(self, project: ProjectCopy, stack: str) -> None:
        self.project, self.stack = project, stack
        self.printed: list[str] = []
        self.timings: dict[str, float] = {}

    def rotate(self, secret: str, label: str, *flags: str) -> None:
        started = time.monotonic()
        proc = self.project.envstack("rotate", "--stack", self.stack, secret, *flags)
        self.timings[label] = round(time.monotonic() - started, 1)
        self.printed += [proc.stdout, proc.stderr]
        assert proc.returncode == 0, f"rotate {secret} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture
def project(tmp_path: Path, supabase_api: SupabaseTenant, vercel_api: VercelApi) -> ProjectCopy:
    vercel_api.create_project(PROJECT)
    for target in ("preview", "production"):
        vercel_api.deploy(PROJECT, target=target)
    # Builds take a second, so the runner sees each deployment before it is READY.
    vercel_api.configure(queue_seconds=0.2, build_seconds=1.0)
    # A rotation runs here in seconds, not hours (tokens live 4 s): Supabase's throttle on
    # signing-key changes (about five minutes) is scaled with it, to less than the 6 s
    # between the switch and the revoke, as five minutes is less than a real token's hour.
    supabase_api.configure(signing_key_interval=5)
    env = {"SUPABASE_ACCESS_TOKEN": supabase_api.token, "VERCEL_TOKEN": vercel_api.token}
    return make_project_copy(tmp_path, env)


def protected(project: ProjectCopy, stack: str) -> set[tuple[str, str]]:
    """The (URN, id) of every protected resource in the stack's state."""
    resources = json.loads(project.export_state(stack))["deployment"]["resources"]
    return {(r["urn"], str(r.get("id"))) for r in resources if r.get("protect")}


@pytest.mark.parametrize("stack_name", ["staging", "production"])
def test_rotations_under_load_fail_no_request(
    stack_name: str,
    project: ProjectCopy,
    supabase_api: SupabaseTenant,
    vercel_api: VercelApi,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    stack = project.stack(
        stack_name,
        {
            **local_apis(supabase_api, vercel_api),
            **TIMINGS,
        },
    )
    stack.up(on_output=project.on_output)
    brought_up = round(time.monotonic() - started, 1)
    ref = str(stack.outputs()["supabase_project_ref"].value)
    guarded = protected(project, stack_name)
    assert bool(guarded) == (stack_name == "production"), "production's resources are protected"

    # A dry run shows the rotation and changes nothing: not the settings, the state or an API.
    config_file = project.root / f"Pulumi.{stack_name}.yaml"
    config_before, state_before = config_file.read_text(), json.loads(project.export_state(stack_name))
    writes_before = writes(supabase_api, vercel_api)
    dry = project.envstack("rotate", "--stack", stack_name, "database", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "rotation:database 0 -> 1" in dry.stdout
    assert re.search(r"~ pulumi-python:dynamic/postgres:LoginRoles: \(update\)", dry.stdout), dry.stdout[-3000:]
    assert f"LoginRoles::{stack_name}-app-login-roles]" in dry.stdout
    assert "nothing was changed" in dry.stdout
    assert config_file.read_text() == config_before
    assert (
        json.loads(project.export_state(stack_name))["deployment"]["resources"]
        == state_before["deployment"]["resources"]
    )
    assert writes(supabase_api, vercel_api) == writes_before
    base = supabase_api.project_api_url(ref)
    with supabase_api.client() as client:
        # The team's Auth settings: short-lived user tokens, and the legacy anon/service_role
        # keys disabled (the app uses the publishable and secret keys), so the legacy JWT
        # secret can be revoked by the JWT rotation.
        assert client.patch(f"/v1/projects/{ref}/config/auth", json={"jwt_exp": JWT_EXP}).status_code == 200
        assert client.put(f"/v1/projects/{ref}/api-keys/legacy", params={"enabled": "false"}).status_code == 200

    def resolve(variables: dict[str, str]) -> dict[str, str]:
        # https://<ref>.supabase.co is the local project API here, as DNS would make it.
        return {**variables, "SUPABASE_URL": base, "JWKS_TTL_SECONDS": "2"}

    logs = tmp_path / "apps"
    logs.mkdir()
    target = "production" if stack_name == "production" else "preview"
    runner = DeploymentRunner(vercel_api, PROJECT, target, resolve, logs).start()
    load = Load(runner, rate=RATE)
    rotations = Rotations(project, stack_name)
    try:
        first = runner.wait_live()

        # -- database: A -> B, then B -> A ------------------------------------------------------
        load.start("database rotation 1 (A -> B)")
        rotations.rotate("database", "database 1")
        second = runner.wait_live()
        assert second.deployment_id != first.deployment_id
        assert second.env["POSTGRES_USER"] != first.env["POSTGRES_USER"], "the other role is active"
        assert can_connect(first.env["POSTGRES_URL"]), "the previous role keeps its password for now"

        load.phase("database rotation 2 (B -> A), revoke B")
        rotations.rotate("database", "database 2", "--revoke-previous")
        third = runner.wait_live()
        assert third.env["POSTGRES_USER"] == first.env["POSTGRES_USER"], "role A is active again"
        assert third.env["POSTGRES_PASSWORD"] != first.env["POSTGRES_PASSWORD"]
        for name in ("POSTGRES_URL", "POSTGRES_URL_NON_POOLING", "POSTGRES_READ_REPLICA_URL"):
            assert not can_connect(first.env[name]), f"the first deployment's {name} is retired"
            # Right after the rotate command: the previous deployment's role is revoked, not kept.
            assert not can_connect(second.env[name]), f"the previous deployment's {name} is revoked"
            assert can_connect(third.env[name]), f"the live deployment's {name} works"
        config = config_file.read_text()
        assert re.search(r"rotation:databaseRevoked: \"?2\"?\n", config), config

        load.phase("database rotation 3 (A -> B), counter")
        # The counter itself, as a team sets it in Pulumi.<stack>.yaml: a plain `pulumi up`.
        counted = time.monotonic()
        stack.set_config("rotation:database", auto.ConfigValue("3"))
        result = stack.up(on_output=project.on_output)
        rotations.timings["database 3 (counter)"] = round(time.monotonic() - counted, 1)
        changes = result.summary.resource_changes or {}
        assert not {"delete", "replace", "create-replacement", "delete-replaced"} & set(changes), changes
        fourth = runner.wait_live()
        assert fourth.env["POSTGRES_USER"] == second.env["POSTGRES_USER"], "the revoked role B is active again"
        assert can_connect(fourth.env["POSTGRES_URL"]), "with LOGIN and a new password"
        assert can_connect(third.env["POSTGRES_URL"]), "not revoked this time: the previous role keeps its password"
        assert not can_connect(second.env["POSTGRES_URL"]), "B's revoked password stays refused"

        # -- JWT signing key: legacy secret -> ES256, legacy revoked ---------------------------
        project_info = supabase_api.project(ref)
        assert project_info is not None
        legacy_secret = project_info.jwt_secret

        def legacy_token() -> str:
            claims = {"sub": "someone", "role": "authenticated", "exp": int(time.time()) + 60}
            return tokens.sign_hs256(claims, legacy_secret)

        publishable = fourth.env["SUPABASE_PUBLISHABLE_KEY"]
        assert accepted(base, publishable, legacy_token()), "before: the legacy secret signs valid tokens"
        load.phase("JWT signing-key rotation")
        rotations.rotate("jwt", "jwt")
        assert not accepted(base, publishable, legacy_token()), "after: the revoked legacy secret is refused"
        assert stack.outputs()["rotations"].value["jwt"]["step"] == "idle", "the rotation ran to its end"
        with supabase_api.client() as client:
            keys = client.get(f"/v1/projects/{ref}/config/auth/signing-keys").json()["keys"]
        assert sorted(k["status"] for k in keys) == ["in_use", "revoked"]

        # -- API keys: new pair, redeploy, old pair deleted ---------------------------------------
        before = runner.wait_live()
        load.phase("API-key rotation, revoke old")
        rotations.rotate("api-keys", "api-keys", "--revoke-previous")
        after = runner.wait_live()
        assert after.deployment_id != before.deployment_id
        for name in ("SUPABASE_PUBLISHABLE_KEY", "SUPABASE_SECRET_KEY"):
            assert after.env[name] != before.env[name]
            assert not accepted(base, before.env[name]), f"the replaced {name} no longer works"
            assert accepted(base, after.env[name])
    finally:
        if load.phases:
            load.stop()
        runner.stop()

    figures = load.figures()
    with capsys.disabled():
        print(f"\n[rotation load test] {stack_name} brought up in {brought_up}s; rotation times: {rotations.timings}")
        width = max([len("phase"), *(len(str(row["phase"])) for row in figures)])
        heading = f"{'served':>7} {'failed':>7} {'seconds':>8} {'req/s':>6} {'apps':>5}"
        print(f"[rotation load test] {'phase':<{width}} {heading}")
        for row in figures:
            print(
                f"[rotation load test] {row['phase']:<{width}} {row['served']:>7} {row['failed']:>7} "
                f"{row['seconds']:>8} {row['per_second']:>6} {row['deployments']:>5}"
            )
        progress = ("rotating", "waiting", "JWT signing keys", "API keys:", "rotated", "database role")
        for line in "".join(rotations.printed).splitlines():
            if any(word in line for word in progress):
                print(f"[rotation load test] rotate: {line[:200]}")
    failures = load.failures()
    assert not failures, f"{len(failures)} failed requests, e.g. {[(f.phase, f.detail) for f in failures[:5]]}"
    assert not runner.errors, runner.errors
    for row in figures:
        assert row["per_second"] >= 20, f"the load kept up {RATE} requests a second: {row}"

    # -- no rotated secret in plain text anywhere ---------------------------------------------------
    seen = {
        value
        for deployment in runner.deployments.values()
        for name, value in deployment.env.items()
        if name in SECRET_NAMES and len(value) >= 8
    }
    assert len(seen) > 20, "every generation of every secret is checked"
    outputs = project.run("pulumi", "stack", "output", "--json", "--stack", stack_name)
    record = json.dumps(stack.outputs()["rotations"].value) + json.dumps(stack.outputs()["rotation_history"].value)
    texts = {
        "the state": project.export_state(stack_name),
        "the stack outputs": outputs.stdout,
        "the rotation record": record,
        "the engine's output": "".join(project.output),
        "the rotate command's output": "".join(rotations.printed),
        "the apps' logs": "".join(p.read_text(errors="replace") for p in logs.iterdir()),
    }
    for secret in seen:
        for where, text in texts.items():
            assert secret not in text, f"a rotated secret ({len(secret)} characters) is in {where} in plain text"
    history = stack.outputs()["rotation_history"].value
    assert [(e["secret"], e["counter"]) for e in history] == [
        ("database", 1),
        ("database", 2),
        ("database", 3),
        ("jwt", 1),
        ("api-keys", 1),
    ]
    assert all(e["by"] and e["at"] for e in history)
    assert guarded <= protected(project, stack_name), "no protected resource was replaced or deleted"
