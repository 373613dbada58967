"""Each Vercel project's own share of the variables (vercel:projects entries), as settings and as the
mapping from connection info to names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from envstack.errors import SettingsError
from envstack.settings import app_variables, load_settings
from envstack.variables import DEFAULT_NAMES, Field

STAGING = {
    "envstack:app": "nivo",
    "envstack:database": json.dumps({"provider": "supabase"}),
    "supabase:organization": "nivo",
    "supabase:region": "eu-central-1",
}
INFO: dict[Field, str] = {field: f"app:{field}" for field in set(DEFAULT_NAMES.values())}
READER: dict[Field, str] = {
    f: f"reader:{f}" for f in ("pooled_url", "prisma_url", "direct_url", "read_only_url", "user", "password")
}


def _with_projects(*projects: Any, **extra: str) -> dict[str, str]:
    return {**STAGING, "vercel:projects": json.dumps(list(projects)), **extra}


def test_a_bare_name_gets_every_variable_as_the_app() -> None:
    settings = load_settings("staging", _with_projects("web"))
    project = settings.vercel.projects[0]
    assert (project.name, project.role, project.select) == ("web", "read_write", None)
    assert settings.vercel.project_names == ["web"]
    shared = app_variables(INFO, settings, project, READER)
    assert shared.values == app_variables(INFO, settings).values
    assert shared.values["POSTGRES_URL"] == "app:pooled_url"


def test_three_projects_each_get_exactly_their_set() -> None:
    settings = load_settings(
        "staging",
        _with_projects(
            "ingest",
            {"name": "dashboard", "select": ["POSTGRES_READ_REPLICA_URL", "NEXT_PUBLIC_SUPABASE_URL", "JWT_SECRET"]},
            {"name": "reports", "role": "read_only", "drop": ["JWT_SECRET"], "rename": {"POSTGRES_URL": "REPORTS_DB"}},
        ),
    )
    ingest, dashboard, reports = (app_variables(INFO, settings, p, READER) for p in settings.vercel.projects)
    assert set(ingest.values) == set(DEFAULT_NAMES)
    assert dashboard.values == {
        "POSTGRES_READ_REPLICA_URL": "app:read_only_url",
        "NEXT_PUBLIC_SUPABASE_URL": "app:api_url",
        "JWT_SECRET": "app:app_jwt_secret",
    }
    assert dashboard.public == {"NEXT_PUBLIC_SUPABASE_URL"}
    # The reporting app logs in as the reader everywhere and gets nothing that writes past it.
    assert reports.values["REPORTS_DB"] == "reader:pooled_url"
    assert reports.values["POSTGRES_URL_NON_POOLING"] == "reader:direct_url"
    assert reports.values["POSTGRES_PASSWORD"] == "reader:password"
    assert reports.values["POSTGRES_USER"] == "reader:user"
    withheld = {"SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_SECRET_KEY", "SUPABASE_JWT_SECRET", "JWT_SECRET", "POSTGRES_URL"}
    assert not withheld & set(reports.values)
    assert "SUPABASE_ANON_KEY" in reports.values
    app_logins = {f"app:{f}" for f in READER}
    assert not app_logins & set(reports.values.values())


def test_project_choices_apply_after_the_stacks_renames_and_additions() -> None:
    config = _with_projects(
        {"name": "web", "select": ["DB", "REGION"]},
        **{"envstack:variables": json.dumps({"rename": {"POSTGRES_URL": "DB"}, "add": {"REGION": "eu"}})},
    )
    settings = load_settings("staging", config)
    assert app_variables(INFO, settings, settings.vercel.projects[0], READER).values == {
        "DB": "app:pooled_url",
        "REGION": "eu",
    }


@pytest.mark.parametrize(
    ("project", "key"),
    [
        ({"name": "web", "select": ["POSTGRES_URLL"]}, "vercel:projects.0.select"),
        ({"name": "web", "drop": ["NOPE"]}, "vercel:projects.0.drop"),
        ({"name": "web", "rename": {"NOPE": "X"}}, "vercel:projects.0.rename"),
        ({"name": "web", "rename": {"POSTGRES_URL": "1BAD"}}, "vercel:projects.0.rename"),
        ({"name": "web", "rename": {"POSTGRES_URL": "DATABASE_URL"}}, "vercel:projects.0.rename"),
        ({"name": "web", "select": ["POSTGRES_URL"], "drop": ["JWT_SECRET"]}, "vercel:projects.0"),
        ({"name": "web", "select": []}, "vercel:projects.0.select"),
        ({"name": "web", "role": "admin"}, "vercel:projects.0.role"),
        ({"name": "web", "role": "read_only", "select": ["SUPABASE_SERVICE_ROLE_KEY"]}, "vercel:projects.0.select"),
        ({"select": ["POSTGRES_URL"]}, "vercel:projects.0.name"),
        ({"name": "web", "colour": "blue"}, "vercel:projects.0.colour"),
    ],
)
def test_a_bad_project_entry_names_its_key(project: dict[str, Any], key: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings("staging", _with_projects(project))
    message = str(caught.value)
    assert message.startswith(f"Invalid stack setting {key}:"), message
    assert message.count("\n") == 0, message
    assert message.endswith("."), message


def test_a_project_listed_twice_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"^Invalid stack setting vercel:projects: web is listed twice"):
        load_settings("staging", _with_projects("web", {"name": "web", "select": ["POSTGRES_URL"]}))


def test_a_read_only_project_without_reader_urls_is_refused() -> None:
    settings = load_settings("staging", _with_projects({"name": "reports", "role": "read_only"}))
    with pytest.raises(SettingsError, match="read-only role"):
        app_variables(INFO, settings, settings.vercel.projects[0])
