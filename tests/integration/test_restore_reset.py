"""`python -m envstack restore` and `reset` against staging and production brought up by the
real engine on the local Supabase API, whose restores are PostgreSQL's own point-in-time
recovery: a deleted row comes back; production prints the call and restores nothing; a reset
drops what was added by hand and brings the migrations and seed rows back, with the app's
login roles still able to read; production is never reset."""

from __future__ import annotations

import json
import math
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from envstack.clients.supabase_backups import SupabaseBackupsClient
from envstack.db import migrations
from envstack.db.connect import connect
from envstack.ops.reset import read_public
from tests.integration.workspace import ProjectCopy, local_apis, make_project_copy

pytestmark = pytest.mark.engine

SEED_LEADS = ["test-lead-0001", "test-lead-0002", "test-lead-0003", "test-lead-0004"]
# Long enough for the local API to ship the WAL written before it (every two minutes).
SHIPPING = 300


@pytest.fixture
def project(tmp_path: Path, supabase_api: Any) -> ProjectCopy:
    return make_project_copy(tmp_path, {"SUPABASE_ACCESS_TOKEN": supabase_api.token})


def bring_up(project: ProjectCopy, name: str, supabase_api: Any) -> auto.Stack:
    # Small compute: the least that PITR runs on. No Vercel project: restore and reset are
    # the database's business.
    stack = project.stack(name, {**local_apis(supabase_api), "supabase:instanceSize": "small"})
    stack.up(on_output=project.on_output)
    return stack


def outputs_of(stack: auto.Stack) -> dict[str, str]:
    return {k: str(v.value) for k, v in stack.outputs().items()}


def run(project: ProjectCopy, *args: str, hidden: list[str]) -> subprocess.CompletedProcess[str]:
    return project.envstack_hiding(*args, hidden=hidden)


def leads(url: str) -> list[str]:
    with connect(url) as conn:
        return [str(r[0]) for r in conn.execute("SELECT lead_id FROM public.hermes_leads ORDER BY lead_id")]


def execute(url: str, statement: str) -> None:
    with connect(url, autocommit=True) as conn:
        conn.execute(statement.encode())


def restore_posts(supabase_api: Any, ref: str) -> list[str]:
    """The calls that restore the project (to a time, a restore point or a backup)."""
    restores = {f"/v1/projects/{ref}/database/backups/{kind}" for kind in ("restore-pitr", "undo", "restore")}
    return [f"{c.method} {c.path}" for c in supabase_api.calls() if c.method == "POST" and c.path in restores]


def test_restore_brings_a_row_back_production_is_a_person_s_call_and_reset_starts_over(
    project: ProjectCopy, supabase_api: Any
) -> None:
    staging = bring_up(project, "staging", supabase_api)
    production = bring_up(project, "production", supabase_api)
    hidden = project.secrets_of([staging, production])
    out, prod = outputs_of(staging), outputs_of(production)
    admin, prod_admin = out["migrations_url"], prod["migrations_url"]
    ref, prod_ref = out["supabase_project_ref"], prod["supabase_project_ref"]
    migrations_dir = project.root / "supabase" / "migrations"

    # Without PITR there is no time to go back to: refused before any write, saying why.
    refused = run(project, "restore", "--stack", "staging", "--to", "2026-12-03T17:40:00Z", hidden=hidden)
    assert refused.returncode == 1
    assert "point-in-time recovery is not on for project" in refused.stderr, refused.stderr
    bad = run(project, "restore", "--stack", "staging", "--to", "2026-12-03 17:40", hidden=hidden)
    assert bad.returncode == 1
    assert "has no zone" in bad.stderr, bad.stderr

    # The stack does not manage PITR yet: the add-on through the client.
    with SupabaseBackupsClient(base_url=supabase_api.url, token=supabase_api.token) as client:
        client.set_pitr(ref, "pitr_7")
        client.set_pitr(prod_ref, "pitr_7")

    # A row written, the time noted on the API's clock, WAL shipped, then the row deleted.
    execute(
        admin, "INSERT INTO public.hermes_leads (lead_id, full_name, email) VALUES ('keep-me', 'Kept', 'k@example.com')"
    )
    execute(prod_admin, "CREATE TABLE public.real_data (id int); INSERT INTO public.real_data VALUES (1)")
    noted = math.ceil(supabase_api.emulator.clock.calendar())
    supabase_api.advance_clock(SHIPPING)
    execute(admin, "DELETE FROM public.hermes_leads WHERE lead_id = 'keep-me'")
    execute(prod_admin, "DELETE FROM public.real_data")
    assert "keep-me" not in leads(admin)
    when = datetime.fromtimestamp(noted, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    # Outside the window: the window is named in UTC.
    early = run(project, "restore", "--stack", "staging", "--to", "2001-01-01T00:00:00Z", hidden=hidden)
    assert early.returncode == 1
    assert "is outside the recovery window" in early.stderr, early.stderr
    assert early.stderr.rstrip().endswith(" UTC"), early.stderr
    assert restore_posts(supabase_api, ref) == []

    restored = run(project, "restore", "--stack", "staging", "--to", when, hidden=hidden)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"restoring project {ref} (staging) to {when}" in restored.stdout
    assert "RESTORING" in restored.stdout, "progress is printed while it waits"
    assert "ACTIVE_HEALTHY again" in restored.stdout
    assert "python -m envstack doctor --stack staging" in restored.stdout
    # No database rotation was recorded after that moment, so the app's passwords still hold.
    assert "their variables and the database passwords did not change" in restored.stdout
    assert "Every migration of the repository is still applied." in restored.stdout
    assert "keep-me" in leads(admin), "the deleted row is back"
    assert restore_posts(supabase_api, ref) == [f"POST /v1/projects/{ref}/database/backups/restore-pitr"]

    # Production: the call printed, exit 1, nothing restored.
    dry = run(project, "restore", "--stack", "production", "--to", str(noted), hidden=hidden)
    assert dry.returncode == 1, dry.stdout
    url = f"{supabase_api.url.rstrip('/')}/v1/projects/{prod_ref}/database/backups/restore-pitr"
    assert f"POST {url}\n" in dry.stdout, dry.stdout
    assert "Authorization: Bearer $SUPABASE_ACCESS_TOKEN" in dry.stdout
    assert json.dumps({"recovery_time_target_unix": noted}) in dry.stdout
    assert f"curl -X POST {url} " in dry.stdout
    assert "nothing was restored" in dry.stderr, dry.stderr
    assert "--yes-production" in dry.stderr
    assert restore_posts(supabase_api, prod_ref) == []
    assert supabase_api.project_status(prod_ref) == "ACTIVE_HEALTHY"
    with connect(prod_admin) as conn:
        assert conn.execute("SELECT count(*) FROM public.real_data").fetchone() == (0,), "not restored"
    # A person decided: the same restore, made.
    decided = run(project, "restore", "--stack", "production", "--to", str(noted), "--yes-production", hidden=hidden)
    assert decided.returncode == 0, decided.stdout + decided.stderr
    assert restore_posts(supabase_api, prod_ref) == [f"POST /v1/projects/{prod_ref}/database/backups/restore-pitr"]
    with connect(prod_admin) as conn:
        assert conn.execute("SELECT count(*) FROM public.real_data").fetchone() == (1,), "restored"

    # Reset: a lead added by hand and a table made by hand go; the seed rows come back.
    execute(
        admin, "INSERT INTO public.hermes_leads (lead_id, full_name, email) VALUES ('by-hand', 'H', 'h@example.com')"
    )
    execute(admin, "CREATE TABLE public.scratch (note text)")
    with connect(admin) as conn:
        schema_before = read_public(conn)
    assert {g.grantee for g in schema_before.grants} >= {"anon", "authenticated", "service_role", "hermes_app"}
    assert {d.grantee for d in schema_before.defaults} == {"hermes_app", "hermes_reader"}, schema_before
    # A restore point before the reset: refused on Pro, as the real API refuses it, so made on
    # an Enterprise organization (the local API's stand-in for where restore points work).
    with SupabaseBackupsClient(base_url=supabase_api.url, token=supabase_api.token) as client:
        pro = run(project, "restore", "--stack", "staging", "--to", "before-reset", hidden=hidden)
        assert pro.returncode == 1
        assert "unavailable at the moment" in pro.stderr, pro.stderr
        supabase_api.tenant.organization.plan = "enterprise"
        client.create_restore_point(ref, "before-reset")
    reset = run(project, "reset", "--stack", "staging", hidden=hidden)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert "in one transaction" in reset.stdout
    assert "seeded supabase/seed.sql: 4 rows inserted" in reset.stdout, reset.stdout
    assert leads(admin) == SEED_LEADS
    with connect(admin) as conn:
        assert conn.execute("SELECT to_regclass('public.scratch')").fetchone() == (None,)
        assert read_public(conn) == schema_before, "public is made again with its owner, grants and defaults"
    states = migrations.status(admin, migrations_dir)
    assert [s.state for s in states] == ["applied"] * len(migrations.discover(migrations_dir)), states
    # The app's login roles read the new tables at once: no `pulumi up` needed.
    assert leads(out["direct_url"]) == SEED_LEADS
    assert leads(out["read_only_url"]) == SEED_LEADS

    # The reset undone through the restore point: the hand-made row and table are back.
    undone = run(project, "restore", "--stack", "staging", "--to", "before-reset", hidden=hidden)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert "by-hand" in leads(admin)
    with connect(admin) as conn:
        assert conn.execute("SELECT to_regclass('public.scratch')::text").fetchone() == ("scratch",)
    assert restore_posts(supabase_api, ref)[-1] == f"POST /v1/projects/{ref}/database/backups/undo"

    # Production is never reset: refused, its hand-made table still there.
    refused = run(project, "reset", "--stack", "production", hidden=hidden)
    assert refused.returncode == 1
    assert refused.stderr.startswith("envstack reset: refusing to reset production"), refused.stderr
    assert refused.stdout == ""
    with connect(prod_admin) as conn:
        assert conn.execute("SELECT to_regclass('public.real_data')::text").fetchone() == ("real_data",)
