"""`python -m envstack pr comment`: the real entry point, the real engine, the local APIs.

Staging is brought up once for the module (so its database has a migration history);
production is configured but never deployed. The tests run the command as a pull request's
workflow would and read the comment back from the GitHub API.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pulumi import automation as auto

from tests.emulators.supabase.emulator import SupabaseEmulator
from tests.emulators.supabase.fixtures import SupabaseTenant
from tests.emulators.vercel.fixtures import GitHubApi, VercelApi
from tests.emulators.vercel.stack import EmulateStack
from tests.integration.workspace import ProjectCopy, local_apis, make_project_copy

pytestmark = pytest.mark.engine

PROJECT = "hermes-web"
NEW_MIGRATION = "20250301000000_add_lead_notes.sql"
FIRST_FILES = (
    "20250101000000_create_hermes_leads.sql",
    "20250102000000_hermes_leads_workflow_lookups.sql",
    "20250201000000_hermes_leads_app_policies.sql",
)


@dataclass
class Deployed:
    """Staging up, production configured only, a pull request open on the local GitHub."""

    project: ProjectCopy
    staging: auto.Stack
    production: auto.Stack
    github: GitHubApi
    repo: str
    production_secret: str

    def comment(self, number: int, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.project.envstack(
            "pr", "comment", "--number", str(number), "--repo", self.repo, "--github-api", self.github.url, *extra
        )

    def open_pull_request(self) -> int:
        branch = f"change-{secrets.token_hex(3)}"
        self.github.create_branch(self.repo, branch)
        return self.github.open_pull_request(self.repo, branch)

    def secrets(self) -> dict[str, str]:
        """Every value that must never be shown: both stacks' secrets and the credentials."""
        found = {f"staging output {k}": str(v.value) for k, v in self.staging.outputs().items() if v.secret}
        found["production secret variable"] = self.production_secret
        for name in ("SUPABASE_ACCESS_TOKEN", "VERCEL_TOKEN", "GITHUB_TOKEN", "PULUMI_CONFIG_PASSPHRASE"):
            found[name] = self.project.env[name]
        return {k: v for k, v in found.items() if len(v) >= 8}


@pytest.fixture(scope="module")
def tenants(
    supabase_emulator: SupabaseEmulator, emulate_stack: EmulateStack
) -> Iterator[tuple[SupabaseTenant, VercelApi, GitHubApi]]:
    """The function-scoped API fixtures' tenants, made once for this module's shared stacks."""
    supabase = SupabaseTenant(
        supabase_emulator, supabase_emulator.add_tenant(), len(supabase_emulator.app.violations())
    )
    token, tenant, team = emulate_stack.vercel.add_tenant()
    vercel = VercelApi(
        app=emulate_stack.vercel,
        url=emulate_stack.vercel_server.url,
        token=token,
        team=team["id"],
        team_slug=team["slug"],
        tenant=tenant.name,
        _violations_before=len(emulate_stack.vercel.violations()),
    )
    github_tenant = f"gh-{secrets.token_hex(5)}"
    github = GitHubApi(
        app=emulate_stack.github,
        url=emulate_stack.github_server.url,
        token=emulate_stack.github.add_token(github_tenant),
        owner=emulate_stack.github.login,
        tenant=github_tenant,
    )
    try:
        yield supabase, vercel, github
    finally:
        supabase_emulator.remove_projects_of(supabase.tenant)
        emulate_stack.vercel.forget_token(vercel.token)
        emulate_stack.github.forget_token(github.token)
    problems = supabase.violations() + vercel.violations()
    assert not problems, "answers off the spec:\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory, tenants: tuple[SupabaseTenant, VercelApi, GitHubApi]
) -> Deployed:
    supabase_api, vercel_api, github_api = tenants
    # The pull requests are opened on the repository the Vercel project is connected to.
    repo = github_api.create_repo()
    # No deployments: nothing to redeploy keeps staging's bring-up short.
    vercel_api.create_project(PROJECT, git_repo=repo)
    project = make_project_copy(
        tmp_path_factory.mktemp("pr-comment"),
        {
            "SUPABASE_ACCESS_TOKEN": supabase_api.token,
            "VERCEL_TOKEN": vercel_api.token,
            "GITHUB_TOKEN": github_api.token,
            # The local GitHub posts as the token's user, not as GitHub Actions' bot.
            "ENVSTACK_COMMENT_AUTHOR": github_api.owner,
        },
    )
    common = {
        **local_apis(supabase_api, vercel_api),
    }
    production_secret = secrets.token_urlsafe(18)
    staging = project.stack("staging", common)
    production = project.stack(
        "production",
        common,
        secrets_config={"envstack:secretVariables": f'{{"PARTNER_API_KEY": "{production_secret}"}}'},
    )
    staging.up(on_output=project.on_output)
    # No destroy afterwards: the tenants' teardown removes their projects, the backend is temporary.
    return Deployed(project, staging, production, github_api, repo, production_secret)


def section(body: str, stack: str) -> str:
    """The part of the comment about one stack."""
    found = re.search(rf"^### `{stack}`.*?(?=^### |\Z)", body, re.S | re.M)
    assert found, f"the comment has no section for {stack}:\n{body}"
    return found.group(0)


def pending_in(text: str) -> list[str]:
    """Migration files listed under "Migrations that would run"."""
    block = text.split("**Migrations that would run:**", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^- `([^`]+)`$", block, re.M)


def assert_nothing_secret(deployed: Deployed, *texts: str) -> None:
    shown = "\n".join(texts)
    for what, value in deployed.secrets().items():
        assert value not in shown, f"{what} was shown"


def test_one_comment_updated_in_place_with_pending_migrations(deployed: Deployed) -> None:
    number = deployed.open_pull_request()

    first = deployed.comment(number)
    comments = deployed.github.comments(deployed.repo, number)
    assert first.returncode == 0, "\n".join([first.stdout, first.stderr, *(c["body"] for c in comments)])
    assert len(comments) == 1
    staging = section(comments[0]["body"], "staging")
    assert pending_in(staging) == [], "staging has applied every file it has"
    assert "**Changes:**" in staging

    (deployed.project.root / "supabase" / "migrations" / NEW_MIGRATION).write_text(
        "ALTER TABLE public.hermes_leads ADD COLUMN notes text;\n"
    )
    try:
        second = deployed.comment(number)
    finally:
        (deployed.project.root / "supabase" / "migrations" / NEW_MIGRATION).unlink()
    assert second.returncode == 0, second.stdout + second.stderr

    comments = deployed.github.comments(deployed.repo, number)
    assert len(comments) == 1, "the second run updated the comment instead of adding one"
    ours = (f"/issues/{number}/comments", f"/issues/comments/{comments[0]['id']}")
    writes = [f"{c.method} {c.path}" for c in deployed.github.calls() if c.method in {"POST", "PATCH", "DELETE"}]
    assert [w for w in writes if w.endswith(ours)] == [
        f"POST /repos/{deployed.repo}/issues/{number}/comments",
        f"PATCH /repos/{deployed.repo}/issues/comments/{comments[0]['id']}",
    ]
    body = comments[0]["body"]
    assert body.splitlines()[0] == "<!-- envstack:preview-comment -->"
    assert pending_in(section(body, "staging")) == [NEW_MIGRATION]
    production = section(body, "production")
    assert pending_in(production) == [*FIRST_FILES, NEW_MIGRATION], "production was never deployed"
    assert "never deployed" in production
    assert re.search(r"\*\*Changes:\*\* [1-9]\d* to create", production), "production's preview creates its resources"
    assert "<details>" in production
    assert "pulumi preview --diff" in production

    assert_nothing_secret(deployed, body, first.stdout, first.stderr, second.stdout, second.stderr)


def test_a_failing_stack_fails_the_command_and_is_named(deployed: Deployed) -> None:
    number = deployed.open_pull_request()
    # An invalid setting: the program refuses it before declaring anything.
    deployed.production.set_config("envstack:seed", auto.ConfigValue("true"))
    try:
        run = deployed.comment(number)
    finally:
        deployed.production.set_config("envstack:seed", auto.ConfigValue("false"))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "the preview of production failed" in run.stderr

    comments = deployed.github.comments(deployed.repo, number)
    assert len(comments) == 1, "the comment is posted even when a stack fails"
    body = comments[0]["body"]
    assert "**Preview failed for `production`.**" in body
    assert section(body, "production").startswith("### `production` — preview failed")
    assert "envstack:seed" in section(body, "production"), "the comment says what is wrong"
    assert "preview failed" not in section(body, "staging")
    assert_nothing_secret(deployed, body, run.stdout, run.stderr)


def test_production_is_shown_from_its_published_history_without_its_passphrase(deployed: Deployed) -> None:
    """What preview.yml does: staging previewed, production only from what its deploy job
    published and the settings against the default branch's; production is never opened."""
    root = deployed.project.root
    # Staging stands in for production's deploy job here: the record is the same for any stack.
    recorded = deployed.project.envstack("migrate", "record", "--stack", "staging", "--out", "recorded.json")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    history = (root / "recorded.json").read_text()
    assert [m["version"] for m in json.loads(history)["migrations"]] == [f.split("_")[0] for f in FIRST_FILES]
    trusted = root / "trusted"
    trusted.mkdir()
    settings = (root / "Pulumi.production.yaml").read_text()
    (trusted / "Pulumi.production.yaml").write_text(settings)
    # The pull request changes a plain setting and adds a secret one.
    changed = settings.replace("supabase:instanceSize: small", "supabase:instanceSize: medium")
    assert changed != settings
    (root / "Pulumi.production.yaml").write_text(changed)
    deployed.production.set_config("demo:token", auto.ConfigValue("s3cr3t-extra-value", secret=True))
    (root / "supabase" / "migrations" / NEW_MIGRATION).write_text(
        "ALTER TABLE public.hermes_leads ADD COLUMN x text;\n"
    )
    # A wrong passphrase for production: opening production would fail the command.
    deployed.project.env["ENVSTACK_PASSPHRASE_PRODUCTION"] = "not-production-s-passphrase"
    number = deployed.open_pull_request()
    try:
        run = deployed.comment(
            number, "--stack", "staging", "--recorded", "production=recorded.json", "--trusted", "trusted"
        )
    finally:
        deployed.project.env.pop("ENVSTACK_PASSPHRASE_PRODUCTION")
        (root / "supabase" / "migrations" / NEW_MIGRATION).unlink()
        (root / "Pulumi.production.yaml").write_text(settings)
    assert run.returncode == 0, run.stdout + run.stderr
    body = deployed.github.comments(deployed.repo, number)[0]["body"]
    production = section(body, "production")
    assert "Not previewed with this pull request's code" in production
    assert pending_in(production) == [NEW_MIGRATION], "compared with the published history"
    assert '~ supabase:instanceSize: "small" => "medium"' in production
    assert "+ demo:token: [secret]" in production
    assert "s3cr3t-extra-value" not in body
    assert pending_in(section(body, "staging")) == [NEW_MIGRATION]
    assert_nothing_secret(deployed, body, run.stdout, run.stderr, history)

    # The per-stack passphrase is the one the engine gets: a wrong one for staging is refused.
    deployed.project.env["ENVSTACK_PASSPHRASE_STAGING"] = "not-staging-s-passphrase"
    try:
        refused = deployed.project.envstack("migrate", "record", "--stack", "staging", "--out", "again.json")
    finally:
        deployed.project.env.pop("ENVSTACK_PASSPHRASE_STAGING")
    assert refused.returncode != 0
    assert "passphrase" in (refused.stdout + refused.stderr).lower()
    assert "not-staging-s-passphrase" not in refused.stdout + refused.stderr
    # So is its own backend (production's state kept apart): an empty one has no staging.
    elsewhere = root / "another-backend"
    elsewhere.mkdir()
    deployed.project.env["ENVSTACK_BACKEND_URL_STAGING"] = f"file://{elsewhere}"
    try:
        missing = deployed.project.envstack("migrate", "record", "--stack", "staging", "--out", "again.json")
    finally:
        deployed.project.env.pop("ENVSTACK_BACKEND_URL_STAGING")
    assert missing.returncode != 0
    assert "no stack named staging" in missing.stdout + missing.stderr, missing.stdout + missing.stderr
