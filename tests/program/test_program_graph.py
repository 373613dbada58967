"""The resource graph each stack declares, evaluated under Pulumi's mocks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.program.harness import ROOT, Registered, run_program


def stack_config(stack: str) -> dict[str, str]:
    import json

    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in document["config"].items()}


def test_dev_declares_database_migrations_seed_and_env_file() -> None:
    graph = run_program("dev", stack_config("dev"), preview=False)
    types = sorted(r.type for r in graph.resources)
    assert types.count("pulumi-python:dynamic/local:Database") == 1
    assert types.count("pulumi-python:dynamic/local:Command") == 2  # migrate + seed
    assert types.count("pulumi-python:dynamic/local:DotenvFile") == 1
    env_file = next(r for r in graph.resources if r.type.endswith("local:DotenvFile"))
    assert {"DATABASE_URL", "POSTGRES_URL_NON_POOLING", "JWT_SECRET"} <= set(env_file.inputs["variables"])
    assert not [t for t in types if "vercel" in t.lower()], "dev has no Vercel resources"
    database = next(r for r in graph.resources if r.type.endswith("local:Database"))
    assert database.inputs["database"] == "hermes_dev"


def test_dev_on_a_supabase_project_writes_its_variables_to_the_env_file_too() -> None:
    """It validated and deployed, and wrote the app's variables nowhere."""
    config = {
        "envstack:app": "hermes",
        "envstack:database": '{"provider": "supabase"}',
        "supabase:organization": "hermes-security",
        "supabase:region": "eu-central-1",
    }
    graph = run_program("dev", config, preview=False)
    env_file = [r for r in graph.resources if r.type.endswith("local:DotenvFile")]
    assert len(env_file) == 1
    assert env_file[0].inputs["path"].endswith(".env.local")
    assert {"DATABASE_URL", "POSTGRES_URL_NON_POOLING"} <= set(env_file[0].inputs["variables"])


def test_dev_without_seed_declares_no_seed_command() -> None:
    config = {**stack_config("dev"), "envstack:seed": "false"}
    graph = run_program("dev", config)
    commands = [r.name for r in graph.resources if r.type.endswith("local:Command")]
    assert commands == ["dev-migrations-migrate"]


def test_migrations_run_the_projects_runner_on_the_direct_url() -> None:
    graph = run_program("dev", stack_config("dev"))
    migrate = next(r for r in graph.resources if r.name == "dev-migrations-migrate")
    assert migrate.inputs["command"].startswith("python -m envstack migrate up")
    assert migrate.inputs["triggers"], "a content hash re-runs migrations when files change"


def test_invalid_settings_fail_before_any_resource(tmp_path: Path) -> None:
    config = {**stack_config("dev"), "envstack:database": '{"provider": "local", "name": "Bad Name"}'}
    with pytest.raises(Exception, match=r"Invalid stack setting envstack:database.name"):
        run_program("dev", config)


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_committed_stack_files_are_valid_settings(stack: str) -> None:
    from envstack.settings import load_settings

    settings = load_settings(stack, stack_config(stack))
    assert settings.environment == stack
    assert settings.seeds == (stack == "staging")


def test_production_and_staging_use_different_projects() -> None:
    from envstack.settings import assert_isolated_from, database_identity, load_settings

    production = load_settings("production", stack_config("production"))
    assert_isolated_from(production, {"staging": database_identity(load_settings("staging", stack_config("staging")))})
    assert production.supabase_project_name != load_settings("staging", stack_config("staging")).supabase_project_name


def test_staging_declares_project_migrations_seed_and_read_only_role() -> None:
    graph = run_program("staging", stack_config("staging"))
    by_type: dict[str, list[str]] = {}
    for resource in graph.resources:
        by_type.setdefault(resource.type, []).append(resource.name)
    assert by_type["pulumi-python:dynamic/supabase:Project"] == ["staging-project"]
    assert sorted(by_type["pulumi-python:dynamic/local:Command"]) == [
        "staging-migrations-migrate",
        "staging-migrations-seed",
    ]
    assert sorted(by_type["pulumi-python:dynamic/postgres:LoginRoles"]) == [
        "staging-app-login-roles",
        "staging-read-only-login-roles",
    ]
    assert not any(r.protect for r in graph.resources), "staging can be torn down"
    project = next(r for r in graph.resources if r.name == "staging-project")
    assert project.inputs["name"] == "hermes-staging"
    assert "db_password" in project.secret_inputs, "the password recorded before the create goes in as a secret"
    password = next(r for r in graph.resources if r.name == "staging-database-password")
    assert password.type == "pulumi-python:dynamic/random:Secret", "a secret in the state before the project exists"


def test_staging_writes_preview_variables_and_redeploys() -> None:
    graph = run_program("staging", stack_config("staging"), preview=False)
    variables = next(r for r in graph.resources if r.type.endswith("vercel:EnvironmentVariables"))
    assert variables.name == "staging-vercel-hermes-web-variables"
    assert (variables.inputs["target"], variables.inputs.get("git_branch")) == ("preview", None)
    names = set(variables.inputs["variables"])
    assert {"POSTGRES_URL", "POSTGRES_PRISMA_URL", "POSTGRES_URL_NON_POOLING", "DATABASE_URL", "JWT_SECRET"} <= names
    assert {"SUPABASE_URL", "NEXT_PUBLIC_SUPABASE_ANON_KEY"} <= set(variables.inputs["public_keys"])
    assert not {"POSTGRES_PASSWORD", "SUPABASE_SERVICE_ROLE_KEY", "JWT_SECRET"} & set(variables.inputs["public_keys"])
    assert "variables" in variables.secret_inputs, "every value travels as a secret"
    redeploy = next(r for r in graph.resources if r.type.endswith("vercel:Redeploy"))
    assert redeploy.inputs["enabled"] is True
    assert next(r for r in graph.resources if r.type.endswith("vercel:Project")).inputs["project"] == "hermes-web"


def test_the_redeploy_waits_for_the_migrations_even_without_a_database_variable() -> None:
    """Its other inputs would order it after them only through a database URL."""
    config = {**stack_config("staging"), "vercel:projects": '[{"name": "web", "select": ["JWT_SECRET"]}]'}
    graph = run_program("staging", config, preview=False)
    variables = next(r for r in graph.resources if r.type.endswith("vercel:EnvironmentVariables"))
    assert set(variables.inputs["variables"]) == {"JWT_SECRET"}
    redeploy = next(r for r in graph.resources if r.type.endswith("vercel:Redeploy"))
    assert {"staging-migrations-migrate", "staging-migrations-seed"} <= redeploy.depends_on, redeploy.depends_on


def test_renamed_dropped_and_added_variables_reach_vercel() -> None:
    config = {
        **stack_config("staging"),
        "envstack:variables": '{"rename": {"DATABASE_URL": "APP_DB_URL"}, "drop": ["SUPABASE_JWT_SECRET"], '
        '"add": {"APP_MODE": "preview"}}',
        "envstack:secretVariables": '{"WEBHOOK_SECRET": "made-up-for-this-test"}',
    }
    graph = run_program("staging", config, preview=False)
    variables = next(r for r in graph.resources if r.type.endswith("vercel:EnvironmentVariables"))
    names = set(variables.inputs["variables"])
    assert {"APP_DB_URL", "APP_MODE", "WEBHOOK_SECRET"} <= names
    assert not {"DATABASE_URL", "SUPABASE_JWT_SECRET"} & names
    assert "APP_MODE" in variables.inputs["public_keys"]
    assert "WEBHOOK_SECRET" not in variables.inputs["public_keys"]


def test_production_resources_are_protected_and_never_seeded() -> None:
    graph = run_program("production", stack_config("production"))
    names = {r.name for r in graph.resources}
    assert "production-migrations-seed" not in names
    protected = {r.name for r in graph.resources if r.protect}
    assert {
        "production-project",
        "production-database-password",
        "production-migrations-migrate",
        "production-app-login-roles",
        "production-read-only-login-roles",
        "production-jwt-signing-keys",
        "production-api-keys",
        "production-retired-api-keys",
        "production-rotations",
        "production-app-jwt-secret",
        "production-vercel-hermes-web-variables",
        "production-network",
    } <= protected
    variables = next(r for r in graph.resources if r.type.endswith("vercel:EnvironmentVariables"))
    assert variables.inputs["target"] == "production"
    network = next(r for r in graph.resources if r.name == "production-network")
    assert network.inputs["ssl_enforced"] is True, "production's own project requires TLS"
    assert "staging-network" not in {r.name for r in run_program("staging", stack_config("staging")).resources}


def pull_request_config(database: str) -> dict[str, str]:
    config = {
        **stack_config("staging"),
        "supabase:projectName": "hermes-pr-42",
        "envstack:pullRequest": '{"number": 42, "branch": "feature/leads"}',
        "vercel:gitBranch": "feature/leads",
    }
    if database == "branch":
        config["envstack:database"] = '{"provider": "supabase-branch", "parentRef": "abcdefghijklmnopqrst"}'
    return config


@pytest.mark.parametrize("database", ["project", "branch"])
def test_a_pull_request_gets_its_own_database_and_branch_scoped_variables(database: str) -> None:
    graph = run_program("pr-42", pull_request_config(database), preview=False)
    types = {r.type for r in graph.resources}
    own = "pulumi-python:dynamic/supabase:Branch" if database == "branch" else "pulumi-python:dynamic/supabase:Project"
    assert own in types
    if database == "branch":
        branch = next(r for r in graph.resources if r.type == own)
        assert branch.inputs["parent_ref"] == "abcdefghijklmnopqrst"
        assert re.fullmatch(r"pr-42-[0-9a-f]{10}", branch.inputs["name"]), "named with the stack's recorded claim"
        assert "name" not in branch.secret_inputs, "the claim is a digest, shown as it is"
        assert "pulumi-python:dynamic/supabase:Project" not in types, "no project of its own"
    variables = next(r for r in graph.resources if r.type.endswith("vercel:EnvironmentVariables"))
    assert (variables.inputs["target"], variables.inputs["git_branch"]) == ("preview", "feature/leads")
    assert any(r.name == "pr-42-migrations-seed" for r in graph.resources), "pull requests get test data"
    assert not any(r.protect for r in graph.resources)


def test_a_revocation_is_declared_only_once_asked_for_and_is_protected_on_production() -> None:
    def revocations(config: dict[str, str]) -> list[Registered]:
        graph = run_program("production", config)
        return [r for r in graph.resources if r.type.endswith("postgres:LoginRevocation")]

    assert revocations(stack_config("production")) == [], "a stack that never revokes declares nothing new"
    asked = {**stack_config("production"), "rotation:database": "4", "rotation:databaseRevoked": "4"}
    declared = revocations(asked)
    assert sorted(r.name for r in declared) == [
        "production-app-login-revocation",
        "production-read-only-login-revocation",
    ]
    for revocation in declared:
        assert revocation.protect
        assert "admin_url" in revocation.secret_inputs
        assert (revocation.inputs["rotation"], revocation.inputs["revoked"]) == (4, 4)
        assert revocation.inputs.get("hold") is None, "redeploys are on: nothing holds it"


@pytest.mark.parametrize("adopted", [False, True], ids=["created", "adopted"])
def test_only_a_project_the_stack_created_claims_a_replica_it_finds(adopted: bool) -> None:
    config = {**stack_config("production"), "supabase:readReplica": '{"region": "eu-west-2"}'}
    if adopted:
        config |= {"supabase:projectRef": "abcdefghijklmnopqrst", "supabase:dbPassword": "adopted-password"}
    graph = run_program("production", config)
    replica = next(r for r in graph.resources if r.type.endswith("supabase:ReadReplica"))
    assert replica.inputs["claim_existing"] is not adopted


@pytest.mark.parametrize("adopted", [False, True], ids=["created", "adopted"])
def test_only_a_database_the_stack_created_gives_it_login_roles_found_by_name(adopted: bool) -> None:
    """In an adopted project a role named like the stack's must carry its tag to be taken."""
    config = stack_config("production")
    if adopted:
        config |= {"supabase:projectRef": "abcdefghijklmnopqrst", "supabase:dbPassword": "adopted-password"}
    graph = run_program("production", config)
    roles = [r for r in graph.resources if r.type.endswith("postgres:LoginRoles")]
    assert len(roles) == 2
    claims = [r.name for r in graph.resources if r.name.endswith("ownership-claim")]
    assert claims == ["production-ownership-claim"], "one claim for the environment's roles and keys"
    for role in roles:
        assert role.inputs["claim_existing"] is not adopted
        assert "claim" in role.secret_inputs
