"""Bad stack settings and inputs: each fails `pulumi preview` (the real engine) with one sentence
naming the setting, and neither local API is called.

One project copy and one backend serve the whole table: a case sets its keys (and files) on a
stack, previews it, and puts the stack back. The only calls a case may make are the project
provider's two reads before a project exists (providers/supabase_project.py), made together:
the organizations the token sees (``GET /v1/organizations``: only the API knows which exist)
and the organization's projects of the stack's project name.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pytest
from pulumi import automation as auto
from pulumi.automation import events

from tests.emulators.supabase.emulator import SupabaseEmulator
from tests.emulators.vercel.stack import EmulateStack
from tests.integration.workspace import ProjectCopy, make_project_copy

pytestmark = pytest.mark.engine

ORGANIZATION_READ = "GET /v1/organizations"
# A stack whose project is not created yet looks for a same-named project it does not own (issue 11).
PROJECT_LOOKUP = re.compile(r"GET /v1/organizations/[a-z0-9]+/projects")
BRANCH = "feature/signup"
FIRST_MIGRATION = "20250101000000_create_hermes_leads.sql"
# The engine's own closing line after any program error; not the program's sentence.
ENGINE_EPILOGUE = "an unhandled error occurred"
SENTENCE = re.compile(r"Invalid stack setting (?P<key>[\w:.-]+): (?P<reason>[^\n]+)\.")
# What the engine puts before a sentence a provider's check returned (the resource it is about).
CHECK_PREFIX = re.compile(r"pulumi-python:dynamic/[\w:]+ resource '[\w-]+' has a problem: ")


@dataclass(frozen=True)
class Secret:
    """A value set with `pulumi config set --secret`."""

    value: str = field(repr=False)


ConfigInput = str | Secret | None  # None: the key is removed for the case


def _big(size: int) -> str:
    # Random, so a leak is found by searching for it and nothing looks like a real secret.
    return secrets.token_urlsafe(size)[:size]


BIG_PLAIN = _big(70_000)
BIG_SECRET = _big(66_000)
SECRET_MODE = secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Case:
    id: str
    stack: str
    key: str  # the setting the sentence must name
    config: Mapping[str, ConfigInput] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)  # written into the copy for the case
    reads: tuple[str, ...] = ()  # the only API calls the case may make
    by_provider: bool = False  # found by a provider's check, so the engine names the resource first
    hidden: tuple[str, ...] = ()  # values that must appear nowhere in the output


CASES = [
    Case("bad-region", "staging", "supabase:region", {"supabase:region": "mars-north-1"}),
    Case("region-missing", "staging", "supabase:region", {"supabase:region": None}),
    Case("unknown-instance-size", "staging", "supabase:instanceSize", {"supabase:instanceSize": "huge"}),
    Case("project-name-too-long", "staging", "supabase:projectName", {"supabase:projectName": "h" * 257}),
    Case(
        "unknown-organization",
        "staging",
        "supabase:organization",
        {"supabase:organization": "no-such-organization"},
        reads=(ORGANIZATION_READ, "GET /v1/organizations/no-such-organization/projects"),
        by_provider=True,
    ),
    Case("organization-not-a-slug", "staging", "supabase:organization", {"supabase:organization": "Hermes Security"}),
    Case("api-url-not-http", "staging", "supabase:apiUrl", {"supabase:apiUrl": "ftp://127.0.0.1/api"}),
    Case("wait-timeout-negative", "staging", "supabase:waitTimeout", {"supabase:waitTimeout": "-5"}),
    Case("app-not-a-slug", "staging", "envstack:app", {"envstack:app": "Hermes App"}),
    Case("misspelt-setting", "staging", "supabase:regoin", {"supabase:regoin": "eu-central-1"}),
    Case("unknown-namespace", "staging", "aws:region", {"aws:region": "eu-central-1"}),
    Case(
        "invalid-variable-name",
        "staging",
        "envstack:variables.add",
        {"envstack:variables": json.dumps({"add": {"1ST_CHOICE": "blue"}})},
    ),
    Case(
        "reserved-variable-name",
        "staging",
        "envstack:variables.add",
        {"envstack:variables": json.dumps({"add": {"TZ": "Europe/Berlin"}})},
    ),
    Case(
        "reserved-secret-variable-name",
        "staging",
        "envstack:secretVariables",
        {"envstack:secretVariables": Secret(json.dumps({"AWS_SECRET_KEY": SECRET_MODE}))},
        hidden=(SECRET_MODE,),
    ),
    Case(
        "encrypted-public-variables",
        "staging",
        "envstack:variables",
        {"envstack:variables": Secret(json.dumps({"add": {"STRIPE_KEY": SECRET_MODE}}))},
        hidden=(SECRET_MODE,),
    ),
    Case(
        "empty-variable-value",
        "staging",
        "envstack:variables.add",
        {"envstack:variables": json.dumps({"add": {"APP_MODE": ""}})},
    ),
    Case(
        "value-over-vercel-size-limit",
        "staging",
        "envstack:variables.add",
        {"envstack:variables": json.dumps({"add": {"FEATURE_FLAGS": BIG_PLAIN}})},
        hidden=(BIG_PLAIN[:64],),
    ),
    Case(
        "secret-value-over-vercel-size-limit",
        "staging",
        "envstack:secretVariables",
        {"envstack:secretVariables": Secret(json.dumps({"SIGNING_KEYS": BIG_SECRET}))},
        hidden=(BIG_SECRET[:64],),
    ),
    Case(
        "rename-onto-an-existing-name",
        "staging",
        "envstack:variables",
        {"envstack:variables": json.dumps({"rename": {"POSTGRES_URL": "DATABASE_URL"}})},
    ),
    Case(
        "drop-an-unknown-variable",
        "staging",
        "envstack:variables.drop",
        {"envstack:variables": json.dumps({"drop": ["POSTGRES_URLS"]})},
    ),
    Case(
        "sensitive-development-variables",
        "staging",
        "vercel:target",
        {"vercel:target": "development", "envstack:secretVariables": Secret(json.dumps({"APP_MODE": SECRET_MODE}))},
        hidden=(SECRET_MODE,),
    ),
    Case("staging-writing-production", "staging", "vercel:target", {"vercel:target": "production"}),
    Case("git-branch-on-production", "production", "vercel:gitBranch", {"vercel:gitBranch": "main"}),
    Case(
        "invalid-new-vercel-project",
        "staging",
        "vercel:projects",
        {"vercel:createProjects": "true", "vercel:projects": json.dumps(["Hermes Web"])},
    ),
    Case("seeding-production", "production", "envstack:seed", {"envstack:seed": "true"}),
    Case(
        "production-on-the-local-database",
        "production",
        "envstack:database",
        {"envstack:database": json.dumps({"provider": "local", "name": "hermes_production"})},
    ),
    Case(
        "production-sharing-staging-project-name",
        "production",
        "supabase:projectName",
        {"supabase:projectName": "hermes-staging"},
    ),
    Case(
        # Seen from staging's side: its up would seed production and its destroy delete it.
        "staging-naming-productions-project",
        "staging",
        "supabase:projectName",
        {"supabase:projectName": "hermes-production"},
    ),
    Case("production-allowing-a-replace", "production", "supabase:allowReplace", {"supabase:allowReplace": "true"}),
    Case(
        "adopting-without-password",
        "production",
        "supabase:dbPassword",
        {"supabase:projectRef": "abcdefghijklmnopqrst"},
    ),
    Case(
        "malformed-project-ref",
        "production",
        "supabase:projectRef",
        {"supabase:projectRef": "hermes-prod", "supabase:dbPassword": Secret(SECRET_MODE)},
        hidden=(SECRET_MODE,),
    ),
    Case(
        "migration-file-with-a-bad-name",
        "staging",
        "envstack:migrations.directory",
        files={
            # The Supabase CLI would skip it (no "_" after the version); envstack refuses it.
            "supabase/migrations/20250101000000-add-lead-source.sql": "ALTER TABLE hermes_leads ADD source text;\n"
        },
    ),
    Case(
        "two-migrations-one-version",
        "staging",
        "envstack:migrations.directory",
        files={"supabase/migrations/20250101000000_add_lead_source.sql": "SELECT 1;\n"},
    ),
    Case(
        "missing-migrations-directory",
        "staging",
        "envstack:migrations.directory",
        {"envstack:migrations": json.dumps({"directory": "db/migrations"})},
    ),
    Case("missing-seed-file", "staging", "envstack:seedFile", {"envstack:seedFile": "supabase/seeds/leads.sql"}),
    Case(
        "pull-request-number-mismatch",
        "pr-7",
        "envstack:pullRequest",
        {"envstack:pullRequest": json.dumps({"number": 8, "branch": BRANCH})},
    ),
    Case("pull-request-variables-not-branch-scoped", "pr-7", "vercel:gitBranch", {"vercel:gitBranch": None}),
]


@dataclass
class Table:
    project: ProjectCopy
    stacks: dict[str, auto.Stack]
    files: dict[str, str]  # each stack's settings file without any case
    _emulator: SupabaseEmulator
    _emulate: EmulateStack
    _supabase_tenant: str
    _vercel_tenant: str

    def calls(self) -> list[str]:
        found = self._emulator.app.calls.all(tenant=self._supabase_tenant)
        found += self._emulate.vercel.calls.all(tenant=self._vercel_tenant)
        return [f"{c.method} {c.path}" for c in found]


@pytest.fixture(scope="module")
def table(
    tmp_path_factory: pytest.TempPathFactory, supabase_emulator: SupabaseEmulator, emulate_stack: EmulateStack
) -> Iterator[Table]:
    """One copy of the project with staging, production and pr-7 on both local APIs (own tenants)."""
    tenant = supabase_emulator.add_tenant()
    vercel_token, vercel_tenant, team = emulate_stack.vercel.add_tenant()
    project = make_project_copy(
        tmp_path_factory.mktemp("bad-input"),
        {"SUPABASE_ACCESS_TOKEN": tenant.token, "VERCEL_TOKEN": vercel_token},
    )
    apis = {
        "supabase:apiUrl": supabase_emulator.url,
        "supabase:organization": tenant.organization.slug,
        "vercel:apiUrl": emulate_stack.vercel_server.url,
        "vercel:team": team["id"],
    }
    base = {
        "staging": apis,
        "production": apis,
        "pr-7": {
            **apis,
            "envstack:app": "hermes",
            "envstack:database": json.dumps({"provider": "supabase"}),
            "supabase:region": "eu-central-1",
            "envstack:pullRequest": json.dumps({"number": 7, "branch": BRANCH}),
            "vercel:projects": json.dumps(["hermes-web"]),
            "vercel:gitBranch": BRANCH,
        },
    }
    stacks = {name: project.stack(name, config) for name, config in base.items()}
    # Each stack's file (Pulumi.<stack>.yaml in the copy) as it is, put back after each case.
    files = {name: (project.root / f"Pulumi.{name}.yaml").read_text() for name in stacks}
    try:
        yield Table(project, stacks, files, supabase_emulator, emulate_stack, tenant.id, vercel_tenant.name)
    finally:
        emulate_stack.vercel.forget_token(vercel_token)


@dataclass
class Preview:
    succeeded: bool
    errors: list[str]
    output: str


def preview(stack: auto.Stack) -> Preview:
    errors: list[str] = []
    output: list[str] = []

    def on_event(event: events.EngineEvent) -> None:
        diagnostic = event.diagnostic_event
        if diagnostic is not None and diagnostic.severity == "error":
            errors.append(diagnostic.message.strip())

    try:
        stack.preview(on_output=output.append, on_event=on_event, color="never")
    except auto.CommandError as exc:
        output.append(str(exc))
        return Preview(False, errors, "\n".join(output))
    return Preview(True, errors, "\n".join(output))


def apply_case(table: Table, case: Case) -> None:
    # Plain values go into the stack's file as a team writes them; secrets through the engine,
    # which encrypts them.
    plain = {k: v for k, v in case.config.items() if isinstance(v, str)}
    table.project.write_settings(case.stack, plain, remove=[k for k, v in case.config.items() if v is None])
    hidden = {k: auto.ConfigValue(v.value, secret=True) for k, v in case.config.items() if isinstance(v, Secret)}
    if hidden:
        table.stacks[case.stack].set_all_config(hidden)
    for relative, text in case.files.items():
        (table.project.root / relative).write_text(text)


def undo_case(table: Table, case: Case) -> None:
    (table.project.root / f"Pulumi.{case.stack}.yaml").write_text(table.files[case.stack])
    for relative in case.files:
        (table.project.root / relative).unlink()


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 20
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("stack", ["staging", "production", "pr-7"])
def test_each_stack_previews_cleanly_without_the_bad_input(table: Table, stack: str) -> None:
    """The control: every case below changes only what it names, so only that can fail it."""
    before = table.calls()
    result = preview(table.stacks[stack])
    assert result.succeeded, result.output
    made = sorted(table.calls()[len(before) :])
    assert len(made) == 2, f"a valid preview only reads, and reads this: {made}"
    assert made[0] == ORGANIZATION_READ, made
    assert PROJECT_LOOKUP.fullmatch(made[1]), made


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_fails_the_preview_naming_the_setting(table: Table, case: Case) -> None:
    before = table.calls()
    apply_case(table, case)
    try:
        result = preview(table.stacks[case.stack])
    finally:
        undo_case(table, case)

    assert not result.succeeded, f"{case.id}: the preview succeeded"
    program_errors = [e for e in result.errors if ENGINE_EPILOGUE not in e]
    assert len(program_errors) == 1, f"{case.id}: expected one error, got {program_errors}\n{result.output}"
    message = program_errors[0]
    prefix = CHECK_PREFIX.match(message)
    assert bool(prefix) == case.by_provider, f"{case.id}: {message!r}"
    if prefix is not None:
        message = message[prefix.end() :]
    found = SENTENCE.fullmatch(message)
    assert found is not None, f"{case.id}: not one sentence naming a setting: {message!r}"
    assert found["key"] == case.key, f"{case.id}: names {found['key']}, not {case.key}: {message}"
    assert not re.search(r"\.\s+[A-Z]", found["reason"]), f"{case.id}: more than one sentence: {message}"
    assert "Traceback" not in result.output
    made = sorted(table.calls()[len(before) :])
    assert made == sorted(case.reads), f"{case.id}: the local APIs were called"
    for value in case.hidden:
        assert value not in result.output, f"{case.id}: a value it set was printed"
