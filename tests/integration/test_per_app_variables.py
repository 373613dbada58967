"""NivoStack's shape: one database, three Vercel projects with different needs. Each project holds
exactly the variables its vercel:projects entry chose, and the reporting app's URLs log in as the
read-only role: the real engine, both local APIs, the database reached through its pooler."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pulumi import automation as auto

from envstack.variables import DEFAULT_NAMES
from tests.integration.workspace import ProjectCopy, local_apis, make_project_copy

pytestmark = pytest.mark.engine

INGEST, DASHBOARD, REPORTS = "nivo-ingest", "nivo-dashboard", "nivo-reports"
DASHBOARD_SET = {"POSTGRES_READ_REPLICA_URL", "NEXT_PUBLIC_SUPABASE_URL", "NEXT_PUBLIC_SUPABASE_ANON_KEY"}
# A read-only app gets no key that writes past its database role.
WRITE_KEYS = {"SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_SECRET_KEY", "SUPABASE_JWT_SECRET"}


@pytest.fixture
def project(tmp_path: Path, supabase_api: Any, vercel_api: Any) -> ProjectCopy:
    for name in (INGEST, DASHBOARD, REPORTS):
        vercel_api.create_project(name)
        vercel_api.deploy(name, target="preview")
    env = {"SUPABASE_ACCESS_TOKEN": supabase_api.token, "VERCEL_TOKEN": vercel_api.token}
    return make_project_copy(tmp_path, env)


def preview_values(vercel_api: Any, name: str) -> dict[str, str]:
    return {e.key: e.value for e in vercel_api.env_vars(name) if "preview" in e.target}


def test_three_projects_each_hold_exactly_their_variables(
    project: ProjectCopy, supabase_api: Any, vercel_api: Any
) -> None:
    projects = [
        INGEST,
        {"name": DASHBOARD, "select": sorted(DASHBOARD_SET)},
        {"name": REPORTS, "role": "read_only", "rename": {"POSTGRES_URL": "REPORTS_DATABASE_URL"}},
    ]
    staging = project.stack(
        "staging", {**local_apis(supabase_api, vercel_api), "vercel:projects": json.dumps(projects)}
    )
    staging.up(on_output=project.on_output)
    outputs = {k: str(v.value) for k, v in staging.outputs().items()}

    ingest = preview_values(vercel_api, INGEST)
    assert set(ingest) == set(DEFAULT_NAMES)
    assert ingest["POSTGRES_URL"] == outputs["pooled_url"]

    dashboard = preview_values(vercel_api, DASHBOARD)
    assert set(dashboard) == DASHBOARD_SET
    assert dashboard["POSTGRES_READ_REPLICA_URL"] == outputs["read_only_url"]

    reports = preview_values(vercel_api, REPORTS)
    assert set(reports) == (set(DEFAULT_NAMES) - WRITE_KEYS - {"POSTGRES_URL"}) | {"REPORTS_DATABASE_URL"}
    assert reports["POSTGRES_USER"] != outputs["user"], "the reporting app logs in as another role"
    # Every URL the reporting app holds reaches the database, and none of them can write.
    for name in ("REPORTS_DATABASE_URL", "DATABASE_URL", "POSTGRES_URL_NON_POOLING", "POSTGRES_READ_REPLICA_URL"):
        with psycopg.connect(reports[name], connect_timeout=10, prepare_threshold=None, autocommit=True) as conn:
            assert conn.execute("select current_user").fetchone() == (reports["POSTGRES_USER"],), name
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("create table written_by_a_reader (id int)")
    with psycopg.connect(ingest["POSTGRES_URL"], connect_timeout=10, prepare_threshold=None, autocommit=True) as conn:
        conn.execute("create temporary table written_by_the_app (id int)")

    # Narrowing a project's set later removes what it no longer gets, and leaves the others alone.
    projects[1] = {"name": DASHBOARD, "select": ["NEXT_PUBLIC_SUPABASE_URL"]}
    staging.set_config("vercel:projects", auto.ConfigValue(json.dumps(projects)))
    staging.up(on_output=project.on_output)
    assert set(preview_values(vercel_api, DASHBOARD)) == {"NEXT_PUBLIC_SUPABASE_URL"}
    assert preview_values(vercel_api, INGEST) == ingest
    assert preview_values(vercel_api, REPORTS) == reports
