"""What a pull request's stack takes from staging's settings, and what it must not."""

from __future__ import annotations

import json

from pulumi import automation as auto

from envstack.ops.pr_environments import pull_request_config
from envstack.settings import load_settings


class Staging:
    """Stands in for the staging stack: only its configuration is read (its database is a project)."""

    def __init__(self, config: dict[str, auto.ConfigValue]) -> None:
        self.config = config

    def get_all_config(self) -> dict[str, auto.ConfigValue]:
        return dict(self.config)


STAGING = {
    "envstack:app": auto.ConfigValue("hermes"),
    "envstack:database": auto.ConfigValue('{"provider": "supabase"}'),
    "envstack:seed": auto.ConfigValue("true"),
    "supabase:organization": auto.ConfigValue("hermes-security"),
    "supabase:region": auto.ConfigValue("eu-central-1"),
    "supabase:projectRef": auto.ConfigValue("abcdefghijklmnopqrst"),
    "supabase:dbPassword": auto.ConfigValue("staging-password", secret=True),
    "supabase:backups": auto.ConfigValue('{"recoveryPoint": true}'),
    "vercel:projects": auto.ConfigValue('["hermes-web"]'),
    "vercel:adoptVariables": auto.ConfigValue("true"),
    "envstack:secretVariables": auto.ConfigValue('{"STRIPE_KEY": "sk_test"}', secret=True),
}


def test_a_pull_request_takes_staging_settings_but_not_its_project_or_its_takeovers() -> None:
    config = pull_request_config(Staging(STAGING), 42, "feature/leads")  # type: ignore[arg-type]
    for key in ("supabase:projectRef", "supabase:dbPassword", "supabase:backups", "vercel:adoptVariables"):
        assert key not in config, f"{key} is staging's own"
    assert config["supabase:projectName"].value == "hermes-pr-42"
    assert json.loads(config["envstack:pullRequest"].value) == {"number": 42, "branch": "feature/leads"}
    assert config["vercel:gitBranch"].value == "feature/leads"
    assert config["envstack:secretVariables"].secret, "an inherited secret stays a secret"
    settings = load_settings("pr-42", {k: v.value for k, v in config.items()})
    assert not settings.vercel.adopt_variables, "its variables are only ever ones it made"


def test_staging_on_a_custom_environment_still_gives_pull_requests_their_preview_branch() -> None:
    """Every `pr up` failed on vercel:gitBranch while staging wrote a custom environment."""
    staging = {**STAGING, "vercel:target": auto.ConfigValue("env_Stg123")}
    config = pull_request_config(Staging(staging), 42, "feature/leads")  # type: ignore[arg-type]
    settings = load_settings("pr-42", {k: v.value for k, v in config.items()})
    assert (settings.vercel_target, settings.vercel.git_branch) == ("preview", "feature/leads")
