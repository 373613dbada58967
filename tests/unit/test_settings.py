"""Each rejected setting fails with one sentence that names the key."""

from __future__ import annotations

import json

import pytest

from envstack.errors import SettingsError
from envstack.settings import StackSettings, assert_isolated_from, database_identity, load_settings

DEV = {
    "envstack:app": "hermes",
    "envstack:database": json.dumps({"provider": "local", "name": "hermes_dev"}),
    "envstack:seed": "true",
}
SUPABASE = {
    "envstack:app": "hermes",
    "envstack:database": json.dumps({"provider": "supabase"}),
    "supabase:organization": "hermes-security",
    "supabase:region": "eu-central-1",
}


def test_valid_dev_settings() -> None:
    settings = load_settings("dev", DEV)
    assert settings.environment == "dev"
    assert settings.seeds
    assert settings.envstack.database.provider == "local"


PULL_REQUEST = {**SUPABASE, "envstack:pullRequest": json.dumps({"number": 42, "branch": "feature/leads"})}
BRANCH_DB = json.dumps({"provider": "supabase-branch", "parentRef": "abcdefghijklmnopqrst"})


def test_pull_request_stack_is_a_preview_environment() -> None:
    settings = load_settings("pr-42", PULL_REQUEST)
    assert settings.environment == "preview"
    assert settings.envstack.pull_request is not None
    assert settings.envstack.pull_request.branch == "feature/leads"


def test_pull_request_stack_on_a_branch_of_staging() -> None:
    config = {
        **PULL_REQUEST,
        "envstack:database": BRANCH_DB,
        "vercel:projects": '["hermes-web"]',
        "vercel:gitBranch": "feature/leads",
    }
    settings = load_settings("pr-42", config)
    assert settings.envstack.database.provider == "supabase-branch"
    assert settings.vercel_target == "preview"


@pytest.mark.parametrize(
    ("stack", "config", "key"),
    [
        ("dev", {**DEV, "envstack:colour": "blue"}, "envstack:colour"),
        ("dev", {**DEV, "vercell:project": "x"}, "vercell:project"),
        ("dev", {**DEV, "envstack:seed": "sometimes"}, "envstack:seed"),
        ("dev", {**DEV, "localdb:port": "fifty"}, "localdb:port"),
        ("dev", {**DEV, "localdb:poolerPort": "54329"}, "localdb:poolerPort"),
        ("dev", {**DEV, "localdb:sessionPoolerPort": "54330"}, "localdb:sessionPoolerPort"),
        ("dev", {**DEV, "localdb:host": "0.0.0.0"}, "localdb:host"),  # noqa: S104 - refused, never bound
        ("dev", {**DEV, "localdb:host": "localhost"}, "localdb:host"),
        (
            "dev",
            {**DEV, "envstack:database": json.dumps({"provider": "local", "name": "x", "owner": "postgres"})},
            "envstack:database.owner",
        ),
        (
            "dev",
            {**DEV, "envstack:database": json.dumps({"provider": "local", "name": "pg_x"})},
            "envstack:database.name",
        ),
        ("dev", {**DEV, "envstack:app": ""}, "envstack:app"),
        ("dev", {**DEV, "envstack:app": "   "}, "envstack:app"),
        ("dev", {**DEV, "envstack:database": json.dumps({"provider": "local", "name": ""})}, "envstack:database.name"),
        ("dev", {**DEV, "envstack:database": json.dumps({"provider": "mysql"})}, "envstack:database"),
        ("dev", {**DEV, "envstack:migrations": json.dumps({"dir": "db"})}, "envstack:migrations.dir"),
        ("staging", {**SUPABASE, "supabase:projectName": ""}, "supabase:projectName"),
        ("staging", {**SUPABASE, "supabase:projectRef": "NOT-A-REF"}, "supabase:projectRef"),
        ("staging", {**SUPABASE, "supabase:apiUrl": "ftp://example.test"}, "supabase:apiUrl"),
        (
            "staging",
            {**SUPABASE, "envstack:database": json.dumps({"provider": "local", "name": "hermes_dev"})},
            "envstack:database",
        ),
        ("staging", {**SUPABASE, "envstack:envFile": ".env.staging"}, "envstack:envFile"),
        ("production", {**SUPABASE, "envstack:envFile": ".env.local"}, "envstack:envFile"),
        ("staging", {k: v for k, v in SUPABASE.items() if k != "supabase:organization"}, "supabase:organization"),
        ("production", {**SUPABASE, "envstack:seed": "true"}, "envstack:seed"),
        ("production", {**DEV, "envstack:seed": "false"}, "envstack:database"),
        ("feature-x", DEV, "envstack:environment"),
        ("production", {**SUPABASE, "supabase:projectRef": "abcdefghijklmnopqrst"}, "supabase:dbPassword"),
        ("staging", {**SUPABASE, "supabase:region": "eu-central-9"}, "supabase:region"),
        ("staging", {**SUPABASE, "supabase:instanceSize": "huge"}, "supabase:instanceSize"),
        ("staging", {**SUPABASE, "supabase:projectName": "x" * 257}, "supabase:projectName"),
        ("dev", {**DEV, "vercel:projects": '["hermes-web"]'}, "vercel:projects"),
        ("staging", {**SUPABASE, "vercel:target": "production"}, "vercel:target"),
        ("production", {**SUPABASE, "vercel:target": "preview"}, "vercel:target"),
        ("production", {**SUPABASE, "vercel:gitBranch": "main"}, "vercel:gitBranch"),
        ("staging", {**SUPABASE, "vercel:apiUrl": "api.vercel.com"}, "vercel:apiUrl"),
        ("staging", {**SUPABASE, "supabase:ipv6": "sometimes"}, "supabase:ipv6"),
        (
            "staging",
            {**SUPABASE, "envstack:variables": '{"rename": {"POSTGRES_URLL": "DB"}}'},
            "envstack:variables.rename",
        ),
        ("staging", {**SUPABASE, "envstack:variables": '{"drop": ["NOPE"]}'}, "envstack:variables.drop"),
        ("staging", {**SUPABASE, "envstack:variables": '{"add": {"1BAD": "x"}}'}, "envstack:variables.add"),
        ("staging", {**SUPABASE, "envstack:variables": '{"add": {"TZ": "UTC"}}'}, "envstack:variables.add"),
        ("staging", {**SUPABASE, "envstack:secretVariables": '{"NOW_REGION": "x"}'}, "envstack:secretVariables"),
        (
            "staging",
            {**SUPABASE, "envstack:variables": '{"rename": {"DATABASE_URL": "POSTGRES_URL"}}'},
            "envstack:variables",
        ),
        ("staging", {**SUPABASE, "envstack:variables": '{"colour": "blue"}'}, "envstack:variables.colour"),
        ("pr-7", SUPABASE, "envstack:pullRequest"),
        ("live", {**SUPABASE, "envstack:environment": "production"}, "envstack:environment"),
        ("production", {**SUPABASE, "envstack:environment": "staging"}, "envstack:environment"),
        ("pr-7", PULL_REQUEST, "envstack:pullRequest"),
        ("pr-42", {**PULL_REQUEST, "envstack:environment": "production"}, "envstack:environment"),
        ("staging", {**SUPABASE, "envstack:database": BRANCH_DB}, "envstack:database"),
        ("pr-42", {**PULL_REQUEST, "vercel:projects": '["hermes-web"]'}, "vercel:gitBranch"),
        ("pr-42", {**PULL_REQUEST, "vercel:projects": '["w"]', "vercel:gitBranch": "main"}, "vercel:gitBranch"),
        ("staging", {**SUPABASE, "envstack:previews": '{"database": "fork"}'}, "envstack:previews.database"),
        ("production", {**SUPABASE, "supabase:sslEnforcement": "false"}, "supabase:sslEnforcement"),
        (
            "staging",
            {**SUPABASE, "supabase:networkRestrictions": '["203.0.113.5/24"]'},
            "supabase:networkRestrictions.0",
        ),
        ("staging", {**SUPABASE, "supabase:networkRestrictions": "[]"}, "supabase:networkRestrictions"),
        ("staging", {**SUPABASE, "envstack:health": '{"path": "api/health"}'}, "envstack:health.path"),
        ("staging", {**SUPABASE, "envstack:health": '{"expect": ["password"]}'}, "envstack:health.expect.0"),
        ("staging", {**SUPABASE, "envstack:health": '{"projects": ["nope"]}'}, "envstack:health.projects"),
        ("staging", {**SUPABASE, "envstack:monitoring": '{"poolPercent": 120}'}, "envstack:monitoring.poolPercent"),
        ("staging", {**SUPABASE, "envstack:monitoring": '{"poolSize": 0}'}, "envstack:monitoring.poolSize"),
        (
            "staging",
            {**SUPABASE, "envstack:monitoring": '{"replicaLagMegabytes": 0}'},
            "envstack:monitoring.replicaLagMegabytes",
        ),
        ("staging", {**SUPABASE, "supabase:readReplica": '{"region": "mars-1"}'}, "supabase:readReplica.region"),
        ("production", {**SUPABASE, "supabase:backups": '{"pitrDays": 0}'}, "supabase:backups.pitrDays"),
        ("staging", {**SUPABASE, "supabase:backups": '{"pitrDays": 3}'}, "supabase:backups.pitrDays"),
        (
            "staging",
            {**SUPABASE, "supabase:instanceSize": "nano", "supabase:backups": '{"pitrDays": 7}'},
            "supabase:backups.pitrDays",
        ),
        ("staging", {**SUPABASE, "supabase:backups": '{"maxAgeHours": 0}'}, "supabase:backups.maxAgeHours"),
        (
            "staging",
            {**SUPABASE, "supabase:instanceSize": "micro", "supabase:readReplica": '{"region": "eu-west-1"}'},
            "supabase:readReplica",
        ),
        (
            "pr-42",
            {**PULL_REQUEST, "envstack:database": BRANCH_DB, "supabase:readReplica": '{"region": "eu-west-1"}'},
            "supabase:readReplica",
        ),
        (
            "pr-42",
            {**PULL_REQUEST, "envstack:database": '{"provider": "supabase-branch"}'},
            "envstack:database.parentRef",
        ),
    ],
)
def test_rejections_name_the_key_in_one_sentence(stack: str, config: dict[str, str], key: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(stack, config)
    message = str(caught.value)
    assert message.startswith(f"Invalid stack setting {key}:"), message
    assert message.count("\n") == 0, message
    assert message.endswith(".")


def test_a_sentence_keeps_the_case_of_a_leading_name() -> None:
    with pytest.raises(SettingsError, match=r"envstack:variables.add: TZ is reserved"):
        load_settings("staging", {**SUPABASE, "envstack:variables": '{"add": {"TZ": "UTC"}}'})


def test_production_must_not_share_a_project_with_another_stack() -> None:
    adopt = {"supabase:projectRef": "abcdefghijklmnopqrst", "supabase:dbPassword": "secret-from-config"}
    production = load_settings("production", {**SUPABASE, **adopt})
    staging = load_settings("staging", {**SUPABASE, **adopt})
    with pytest.raises(SettingsError, match=r"^Invalid stack setting supabase:projectRef: .*'staging'"):
        assert_isolated_from(production, {"staging": database_identity(staging)})


def test_production_must_not_reuse_another_stacks_project_name() -> None:
    production = load_settings("production", {**SUPABASE, "supabase:projectName": "hermes-staging"})
    staging = load_settings("staging", SUPABASE)
    with pytest.raises(SettingsError, match=r"^Invalid stack setting supabase:projectName:"):
        assert_isolated_from(production, {"staging": database_identity(staging)})


PRODUCTION_REF = "abcdefghijklmnopqrst"


@pytest.mark.parametrize(
    ("stack", "settings", "key"),
    [
        ("staging", {**SUPABASE, "supabase:projectName": "hermes-production"}, "supabase:projectName"),
        (
            "staging",
            {**SUPABASE, "supabase:projectRef": PRODUCTION_REF, "supabase:dbPassword": "from-config"},
            "supabase:projectRef",
        ),
        ("pr-7", {**PULL_REQUEST, "supabase:projectName": "hermes-production"}, "supabase:projectName"),
        ("pr-42", {**PULL_REQUEST, "envstack:database": BRANCH_DB}, "envstack:database.parentRef"),
    ],
)
def test_no_other_stack_may_name_productions_project(stack: str, settings: dict[str, str], key: str) -> None:
    """Seen from the other stack's side too: its up would seed production and its destroy delete it."""
    if stack == "pr-7":
        settings = {**settings, "envstack:pullRequest": json.dumps({"number": 7, "branch": "b"})}
    production = load_settings(
        "production", {**SUPABASE, "supabase:projectRef": PRODUCTION_REF, "supabase:dbPassword": "from-config"}
    )
    other = load_settings(stack, settings)
    with pytest.raises(SettingsError, match=rf"^Invalid stack setting {key}: .*production") as caught:
        assert_isolated_from(other, {"production": database_identity(production)})
    assert "\n" not in str(caught.value), "one sentence"
    named = load_settings("production", {**SUPABASE, "supabase:projectName": "hermes-production"})
    if key == "supabase:projectName":
        with pytest.raises(SettingsError, match=r"hermes-production is production's Supabase project, and no other"):
            assert_isolated_from(other, {"production": database_identity(named)})


def test_production_never_allows_a_replace() -> None:
    with pytest.raises(SettingsError, match=r"^Invalid stack setting supabase:allowReplace: production never"):
        load_settings("production", {**SUPABASE, "supabase:allowReplace": "true"})
    assert load_settings("staging", {**SUPABASE, "supabase:allowReplace": "true"}).supabase.allow_replace


def test_api_urls_have_one_spelling() -> None:
    settings = load_settings(
        "staging",
        {**SUPABASE, "supabase:apiUrl": "HTTP://127.0.0.1:54321/", "vercel:apiUrl": "http://LocalHost:3000//"},
    )
    assert (settings.supabase.api_url, settings.vercel.api_url) == ("http://127.0.0.1:54321", "http://localhost:3000")
    assert load_settings("staging", {**SUPABASE, "supabase:apiUrl": "http://[::1]:9/v1"}).supabase.api_url


@pytest.mark.parametrize("url", ["http://api.supabase.com", "http://10.1.2.3:8080", "http://localhost.example.com"])
def test_plain_http_is_only_for_an_api_on_this_machine(url: str) -> None:
    """The token rides in every request, and the answers are production's credentials."""
    for key in ("supabase:apiUrl", "vercel:apiUrl"):
        with pytest.raises(SettingsError, match=rf"^Invalid stack setting {key}: {url} is plain http"):
            load_settings("production", {**SUPABASE, key: url})
    assert load_settings("production", {**SUPABASE, "supabase:apiUrl": url.replace("http:", "https:")})


def test_distinct_projects_are_accepted() -> None:
    production: StackSettings = load_settings("production", SUPABASE)
    assert_isolated_from(production, {"staging": database_identity(load_settings("staging", SUPABASE))})
    assert not production.seeds


def test_variable_renames_drops_and_additions_are_accepted() -> None:
    settings = load_settings(
        "staging",
        {
            **SUPABASE,
            "envstack:variables": json.dumps(
                {"rename": {"DATABASE_URL": "APP_DATABASE_URL"}, "drop": ["SUPABASE_JWT_SECRET"], "add": {"A": "1"}}
            ),
            "envstack:secretVariables": json.dumps({"STRIPE_KEY": "generated-in-test"}),
            "vercel:projects": json.dumps(["hermes-web"]),
        },
    )
    assert settings.vercel_target == "preview"
    assert settings.envstack.variables.rename == {"DATABASE_URL": "APP_DATABASE_URL"}
    assert "generated-in-test" not in repr(settings), "secret values never show in a repr"


@pytest.mark.parametrize(("value", "parsed"), [(None, "auto"), ("auto", "auto"), ("true", True), ("false", False)])
def test_ipv6_is_auto_unless_told(value: str | None, parsed: object) -> None:
    config = SUPABASE if value is None else {**SUPABASE, "supabase:ipv6": value}
    assert load_settings("staging", config).supabase.ipv6 == parsed


@pytest.mark.parametrize(
    ("stack", "extra", "enforced"),
    [
        ("production", {}, True),  # a project production creates requires TLS
        ("production", {"supabase:projectRef": "abcdefghijklmnopqrst", "supabase:dbPassword": "x"}, None),
        ("staging", {}, None),  # left as it is
        ("staging", {"supabase:sslEnforcement": "true"}, True),
        ("staging", {"supabase:sslEnforcement": "false"}, False),
    ],
)
def test_ssl_enforcement_is_on_for_productions_own_project(stack: str, extra: dict[str, str], enforced: object) -> None:
    assert load_settings(stack, {**SUPABASE, **extra}).ssl_enforced is enforced


def test_network_restrictions_keep_both_families() -> None:
    cidrs = json.dumps(["203.0.113.0/24", "2001:db8::/32"])
    settings = load_settings("staging", {**SUPABASE, "supabase:networkRestrictions": cidrs})
    assert settings.supabase.network_restrictions == ["203.0.113.0/24", "2001:db8::/32"]


def test_a_setting_has_one_spelling() -> None:
    """`supabase:project_ref` was taken for `supabase:projectRef`, but the checks that look a key
    up by name did not see it: a pull-request stack inherited staging's project through it."""
    with pytest.raises(SettingsError) as caught:
        load_settings("staging", {**SUPABASE, "supabase:project_ref": "abcdefghijklmnopqrst"})
    assert str(caught.value) == (
        "Invalid stack setting supabase:project_ref: unknown setting (the key is supabase:projectRef)."
    )
    with pytest.raises(SettingsError, match=r"^Invalid stack setting envstack:seed_file: unknown setting"):
        load_settings("dev", {**DEV, "envstack:seed_file": "supabase/seed.sql"})


def test_dev_and_staging_are_what_their_names_say() -> None:
    """A stack named staging declared dev ran on the local database with an env file, while
    `pr up`, drift.yml and the preview comment treated it as staging."""
    with pytest.raises(SettingsError) as caught:
        load_settings("staging", {**DEV, "envstack:environment": "dev"})
    assert str(caught.value) == "Invalid stack setting envstack:environment: the stack named staging is staging."
    with pytest.raises(SettingsError, match=r"^Invalid stack setting envstack:environment: the stack named dev is dev"):
        load_settings("dev", {**SUPABASE, "envstack:environment": "staging"})
    assert load_settings("qa", {**SUPABASE, "envstack:environment": "staging"}).environment == "staging"


@pytest.mark.parametrize("target", ["Production", "PREVIEW", "staging"])
def test_a_target_vercel_does_not_have_fails_naming_the_setting(target: str) -> None:
    """It passed the settings and failed later in the provider's check, naming `target`."""
    config = {**SUPABASE, "vercel:projects": '["hermes-web"]', "vercel:target": target}
    with pytest.raises(SettingsError) as caught:
        load_settings("staging", config)
    assert str(caught.value).startswith(f"Invalid stack setting vercel:target: {target!r} is not production, preview")
    assert load_settings("staging", {**config, "vercel:target": "env_Ab12"}).vercel_target == "env_Ab12"


def test_a_bad_environment_is_one_sentence_naming_its_key() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings("qa", {**SUPABASE, "envstack:environment": "stage"})
    assert str(caught.value) == (
        "Invalid stack setting envstack:environment: input should be 'dev', 'staging', 'production' or 'preview'."
    )
