"""The real Supabase CLI (2.117.0, pinned in tests/oracle/package.json) runs unchanged against
the local Supabase Management API, as a user runs it, and each result is checked against what
the local API holds.

The CLI learns where the API is as a user of another Supabase platform would tell it: a
profile file (``SUPABASE_PROFILE``, a YAML file whose ``api_url`` is the local API and whose
``project_host`` is the local API's host-name domain); the token comes from
``SUPABASE_ACCESS_TOKEN``. It runs in a network namespace of its own with nothing but loopback
(tests/oracle/sandbox.py): its API calls reach the local API through a Unix socket, and any
other attempt (telemetry, update checks, real DNS) fails the test. Host names the local API
hands out (``db.<ref>.<domain>``) resolve inside the namespace as outside, through the
session's /etc/hosts (the sandbox shares the session's mount namespace); a project's database address is relayed into
the namespace for the commands that connect to it (``relays``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import ROOT
from tests.emulators.supabase.fixtures import SupabaseTenant
from tests.emulators.supabase.testing import can_login, healthy_project, pg, provisioned_pooler
from tests.oracle.front import unix_front
from tests.oracle.supabase_cli import QUIET, installed_cli

ORACLE = ROOT / "tests" / "oracle"
SANDBOX = ORACLE / "sandbox.py"
_DEADLINE_SECONDS = 90.0
# The CLI's own check of an access token (its bundle: /^sbp_(oauth_|v0_)?[a-f0-9]{40}$/).
TOKEN_FORMAT = re.compile(r"sbp_(oauth_|v0_)?[a-f0-9]{40}")


# What the CLI prints may hold secrets (API keys, a database password, a JWT secret): these are
# masked in every Result, and tests compare secret values by fingerprint only.
_SECRET_SHAPES = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+|sb_secret_[\w-]{20,}")


def fingerprint(value: object) -> str:
    """A short digest to compare secrets by, so that no failure message shows one."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str  # secrets masked
    stderr: str
    raw_stdout: str = field(repr=False)  # for parsing only: never printed

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    __repr__ = __str__

    def json(self) -> Any:
        """The JSON document in stdout (``branches create`` prints a line of prose before it)."""
        start = re.search(r"^[\[{]", self.raw_stdout, re.MULTILINE)
        try:
            return json.loads(self.raw_stdout[start.start() if start else 0 :])
        except ValueError:
            # Not the decoder's error: its traceback would show the raw text.
            raise AssertionError(f"no JSON document in the output:\n{self}") from None


@pytest.fixture(scope="module")
def supabase_cli() -> Path:
    return installed_cli()


def _secrets_of(api: SupabaseTenant) -> list[str]:
    """Every secret the tenant's projects (branches included) hold now."""
    found = [api.token]
    for project in api.emulator.state.projects_of(api.tenant, branches=True):
        found += [project.db_password, project.jwt_secret, project.anon_key, project.service_role_key]
        found += [key.api_key for key in project.api_keys.values() if key.type == "secret"]
    return [value for value in found if value]


def mask(text: str, known: list[str]) -> str:
    for value in sorted(known, key=len, reverse=True):
        text = text.replace(value, "[secret]")
    return _SECRET_SHAPES.sub("[secret]", text)


@pytest.fixture
def supabase(supabase_cli: Path, supabase_api: SupabaseTenant, tmp_path: Path) -> Iterator[Callable[..., Result]]:
    """``supabase <args>`` as a user of the local API runs it, through the sandbox: the API's
    address comes from a profile file, the token from SUPABASE_ACCESS_TOKEN."""
    port = int(supabase_api.url.rsplit(":", 1)[1])
    workdir, home = tmp_path / "app", tmp_path / "home"
    workdir.mkdir()
    home.mkdir()
    # The profile's required keys (the CLI's check: name, api_url, dashboard_url, project_host);
    # project_host is the domain the local API's host names are under (db.<ref>.<project_host>).
    profile = tmp_path / "profile.yaml"
    profile.write_text(
        f"name: envstack-local\napi_url: {supabase_api.url}\n"
        f"dashboard_url: {supabase_api.url}/dashboard\nproject_host: {supabase_api.emulator.names.domain}\n"
    )
    with unix_front(tmp_path / "supabase-api.sock", port) as front:

        def run(
            *args: str,
            extra_secrets: tuple[str, ...] = (),
            extra_env: dict[str, str] | None = None,
            relays: tuple[tuple[str, int], ...] = (),
        ) -> Result:
            """``relays``: loopback addresses (a project's database) the CLI may reach besides the API."""
            env = {key: value for key, value in os.environ.items() if not key.startswith("SUPABASE")}
            env |= QUIET | {
                "HOME": str(home),
                "SUPABASE_PROFILE": str(profile),
                "SUPABASE_ACCESS_TOKEN": supabase_api.token,
            }
            env |= extra_env or {}
            sandbox = ["unshare", "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
            sandbox += [sys.executable, str(SANDBOX), "--socket", str(front), "--port", str(port)]
            sandbox += ["--report", str(tmp_path / "sandbox-report.json"), "--timeout", str(_DEADLINE_SECONDS), "--"]
            with contextlib.ExitStack() as fronts:
                for number, (host, relay_port) in enumerate(relays):
                    path = fronts.enter_context(unix_front(tmp_path / f"relay-{number}.sock", relay_port, host))
                    sandbox.insert(-1, f"--relay={host}:{relay_port}={path}")
                try:
                    done = subprocess.run(
                        [*sandbox, str(supabase_cli), *args],
                        cwd=workdir,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        capture_output=True,
                        text=True,
                        timeout=_DEADLINE_SECONDS + 30,
                    )
                except subprocess.TimeoutExpired:
                    # Not the exception itself: its message holds the command line.
                    pytest.fail(f"supabase {' '.join(args[:2])} outlived its deadline", pytrace=False)
            known = _secrets_of(supabase_api) + list(extra_secrets)
            result = Result(done.returncode, mask(done.stdout, known), mask(done.stderr, known), done.stdout)
            assert "outbound network attempts" not in result.stderr, result
            return result

        yield run


def _api_json(api: SupabaseTenant, path: str) -> Any:
    """The local API's own answer, to compare the CLI's result with."""
    with api.client() as client:
        answer = client.get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    return answer.json()


def test_tokens_are_what_the_cli_accepts(supabase_api: SupabaseTenant) -> None:
    assert TOKEN_FORMAT.fullmatch(supabase_api.token), "a token the CLI would refuse"


def test_secrets_are_masked() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.c2lnbmF0dXJl"
    text = f"{jwt} sb_secret_abcdefghijklmnopqrstuv_12345678 hunter2-password sb_secret_abcde····"
    assert mask(text, ["hunter2-password"]) == "[secret] [secret] [secret] sb_secret_abcde····"


def test_projects_create_list_api_keys_delete(supabase: Callable[..., Result], supabase_api: SupabaseTenant) -> None:
    password = f"Pw-{secrets.token_hex(12)}"
    created = supabase(
        "projects", "create", "cli-made", "--org-id", supabase_api.org_slug,
        "--db-password", password, "--region", "eu-central-1", "--output", "json",
        extra_secrets=(password,),
    )  # fmt: skip
    assert created.returncode == 0, created
    ref = created.json()["id"]
    info = supabase_api.project(ref)
    assert info is not None, f"the API holds no project {ref}"
    assert (info.name, info.region, info.is_branch) == ("cli-made", "eu-central-1", False)
    assert fingerprint(info.db_password) == fingerprint(password), "the project got the password given"
    assert supabase_api.wait_for_status(ref) == "ACTIVE_HEALTHY"

    listed = supabase("projects", "list", "--output", "json")
    assert listed.returncode == 0, listed
    by_api = {p["ref"]: p for p in _api_json(supabase_api, "/v1/projects")}
    by_cli = {p["ref"]: p for p in listed.json()}
    assert by_cli.keys() == by_api.keys() == {ref}, listed
    for key in ("name", "region", "status", "organization_slug", "created_at"):
        assert by_cli[ref][key] == by_api[ref][key], key
    table = supabase("projects", "list")
    assert table.returncode == 0, table
    assert re.search(rf"\b{ref}\s*\|\s*cli-made\s*\|", table.stdout), table

    keys = supabase("projects", "api-keys", "--project-ref", ref, "--output", "json")
    assert keys.returncode == 0, keys
    api_keys = _api_json(supabase_api, f"/v1/projects/{ref}/api-keys")
    public = ("id", "name", "type", "prefix", "hash")
    assert [[k.get(f) for f in public] for k in keys.json()] == [[k.get(f) for f in public] for k in api_keys]
    assert [fingerprint(k["api_key"]) for k in keys.json()] == [fingerprint(k["api_key"]) for k in api_keys]
    assert {k["name"] for k in keys.json()} >= {"anon", "service_role"}
    keys_table = supabase("projects", "api-keys", "--project-ref", ref)
    assert keys_table.returncode == 0, keys_table
    assert re.search(r"^\s*anon\s*\|\s*\[secret\]", keys_table.stdout, re.MULTILINE), keys_table
    assert "[secret]" in keys.stdout, "API keys are masked in what a test prints"
    assert "eyJ" not in keys.stdout

    deleted = supabase("projects", "delete", ref, "--yes")
    assert deleted.returncode == 0, deleted
    assert "Deleted project: cli-made" in deleted.stdout, deleted
    assert supabase_api.project_status(ref) is None, "the API no longer holds the project"
    after = supabase("projects", "list", "--output", "json")
    assert after.returncode == 0, after
    assert after.json() == [], after
    assert supabase_api.violations() == []


def test_branches_create_list_get_update_delete(supabase: Callable[..., Result], supabase_api: SupabaseTenant) -> None:
    with supabase_api.client() as client:
        ref = healthy_project(supabase_api, client, "with-branches")["ref"]

    created = supabase("branches", "create", "feat-x", "--project-ref", ref, "--output", "json")
    assert created.returncode == 0, created
    branch_ref = created.json()["project_ref"]
    held = {b["name"]: b for b in _api_json(supabase_api, f"/v1/projects/{ref}/branches")}
    assert held.keys() == {"main", "feat-x"}
    assert held["feat-x"]["project_ref"] == branch_ref
    assert held["feat-x"]["parent_project_ref"] == ref
    branch_info = supabase_api.project(branch_ref)
    assert branch_info is not None
    assert branch_info.is_branch
    assert branch_info.parent_ref == ref

    listed = supabase("branches", "list", "--project-ref", ref, "--output", "json")
    assert listed.returncode == 0, listed
    assert listed.json() == _api_json(supabase_api, f"/v1/projects/{ref}/branches")

    # `get` reads the branch's pooler, which answers 500 until it exists (the CLI then fails,
    # "unexpected get pooler status 500", as against Supabase): wait for it the way a user would.
    assert supabase_api.wait_for_status(branch_ref) == "ACTIVE_HEALTHY"
    with supabase_api.client() as client:
        provisioned_pooler(supabase_api, client, branch_ref)
    got = supabase("branches", "get", "feat-x", "--project-ref", ref, "--output", "json")
    assert got.returncode == 0, got
    details = got.json()
    branch_info = supabase_api.project(branch_ref)
    assert branch_info is not None
    # -o json gives the branch as environment variables (the CLI builds them from the branch's
    # details, its pooler config and API keys).
    direct, pooled = urlsplit(details["POSTGRES_URL_NON_POOLING"]), urlsplit(details["POSTGRES_URL"])
    assert (direct.hostname, direct.port, direct.username) == (branch_info.db_host_name, 5432, "postgres")
    assert (pooled.hostname, pooled.port) == (branch_info.pooler_host_name, 6543)
    assert pooled.username == f"postgres.{branch_ref}"
    assert fingerprint(direct.password) == fingerprint(pooled.password) == fingerprint(branch_info.db_password)
    assert fingerprint(details["SUPABASE_JWT_SECRET"]) == fingerprint(branch_info.jwt_secret)
    branch_keys = {k["name"]: k["api_key"] for k in _api_json(supabase_api, f"/v1/projects/{branch_ref}/api-keys")}
    assert fingerprint(details["SUPABASE_ANON_KEY"]) == fingerprint(branch_keys["anon"])
    assert fingerprint(details["SUPABASE_SERVICE_ROLE_KEY"]) == fingerprint(branch_keys["service_role"])
    shown = supabase("branches", "get", "feat-x", "--project-ref", ref)
    assert shown.returncode == 0, shown
    assert branch_info.db_host_name in shown.stdout, shown
    assert "[secret]" in shown.stdout, "the password and JWT secret are masked"

    updated = supabase(
        "branches", "update", "feat-x", "--name", "feat-y", "--git-branch", "feature/y", "--project-ref", ref
    )
    assert updated.returncode == 0, updated
    branch = {b["project_ref"]: b for b in _api_json(supabase_api, f"/v1/projects/{ref}/branches")}[branch_ref]
    assert (branch["name"], branch.get("git_branch")) == ("feat-y", "feature/y"), branch
    assert re.search(rf"\b{branch_ref}\s*\|\s*feat-y\s*\|", updated.stdout), updated

    deleted = supabase("branches", "delete", "feat-y", "--project-ref", ref)
    assert deleted.returncode == 0, deleted
    assert [b["name"] for b in _api_json(supabase_api, f"/v1/projects/{ref}/branches")] == ["main"]
    assert supabase_api.project_status(branch_ref) is None, "the branch's project is gone (DELETE is synchronous)"
    assert supabase_api.violations() == []


def test_ssl_enforcement_and_network_restrictions(
    supabase: Callable[..., Result], supabase_api: SupabaseTenant
) -> None:
    with supabase_api.client() as client:
        project = healthy_project(supabase_api, client, "guarded")
    ref = project["ref"]
    info = supabase_api.project(ref)
    assert info is not None

    shown = supabase("ssl-enforcement", "get", "--project-ref", ref, "--experimental", "--output", "json")
    assert shown.returncode == 0, shown
    assert shown.json()["currentConfig"] == {"database": False}, "a new project allows plain connections"
    enabled = supabase(
        "ssl-enforcement", "update", "--project-ref", ref, "--experimental", "--enable-db-ssl-enforcement"
    )
    assert enabled.returncode == 0, enabled
    assert _api_json(supabase_api, f"/v1/projects/{ref}/ssl-enforcement")["currentConfig"] == {"database": True}
    assert not can_login(info.db_host, 5432, "postgres", project["db_pass"], sslmode="disable"), "TLS is required"
    assert can_login(info.db_host, 5432, "postgres", project["db_pass"]), "with TLS it works"

    restricted = supabase(
        "network-restrictions", "update", "--project-ref", ref, "--experimental", "--db-allow-cidr", "203.0.113.0/24"
    )
    assert restricted.returncode == 0, restricted
    config = _api_json(supabase_api, f"/v1/projects/{ref}/network-restrictions")["config"]
    assert config == {"dbAllowedCidrs": ["203.0.113.0/24"], "dbAllowedCidrsV6": []}
    listed = supabase("network-restrictions", "get", "--project-ref", ref, "--experimental")
    assert listed.returncode == 0, listed
    assert "203.0.113.0/24" in listed.stdout
    assert supabase_api.violations() == []


def test_postgres_config_get_update_delete(supabase: Callable[..., Result], supabase_api: SupabaseTenant) -> None:
    with supabase_api.client() as client:
        ref = healthy_project(supabase_api, client, "tuned")["ref"]
    path = f"/v1/projects/{ref}/config/database/postgres"

    fresh = supabase("postgres-config", "get", "--project-ref", ref, "--experimental", "--output", "json")
    assert fresh.returncode == 0, fresh
    assert fresh.json() == {} == _api_json(supabase_api, path), "a new project has no overrides"

    updated = supabase(
        "postgres-config", "update", "--project-ref", ref, "--experimental", "--no-restart",
        "--config", "max_connections=120", "--config", "statement_timeout=10s",
    )  # fmt: skip
    assert updated.returncode == 0, updated
    assert _api_json(supabase_api, path) == {"max_connections": 120, "statement_timeout": "10s"}
    merged = supabase("postgres-config", "update", "--project-ref", ref, "--experimental", "--config", "work_mem=8MB")
    assert merged.returncode == 0, merged
    want = {"max_connections": 120, "statement_timeout": "10s", "work_mem": "8MB"}
    assert _api_json(supabase_api, path) == want, "update merges with the overrides already set"

    got = supabase("postgres-config", "get", "--project-ref", ref, "--experimental", "--output", "json")
    assert got.returncode == 0, got
    assert got.json() == want, got
    table = supabase("postgres-config", "get", "--project-ref", ref, "--experimental")
    assert table.returncode == 0, table
    assert re.search(r"max_connections\s*\|\s*120", table.stdout), table

    removed = supabase(
        "postgres-config", "delete", "--project-ref", ref, "--experimental", "--config", "statement_timeout"
    )
    assert removed.returncode == 0, removed
    assert _api_json(supabase_api, path) == {"max_connections": 120, "work_mem": "8MB"}
    replaced = supabase(
        "postgres-config", "update", "--project-ref", ref, "--experimental",
        "--replace-existing-overrides", "--config", "session_replication_role=replica",
    )  # fmt: skip
    assert replaced.returncode == 0, replaced
    assert _api_json(supabase_api, path) == {"session_replication_role": "replica"}
    assert supabase_api.violations() == []


def test_db_push_and_migration_list_linked(
    supabase: Callable[..., Result], supabase_api: SupabaseTenant, tmp_path: Path
) -> None:
    """The CLI reaches the project's database by the name the API gives (db.<ref>.<domain>,
    which the session's /etc/hosts resolves inside the namespace too) at the project's own loopback address,
    relayed into the namespace."""
    with supabase_api.client() as client:
        project = healthy_project(supabase_api, client, "migrated")
    ref = project["ref"]
    migrations = tmp_path / "app" / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "20240101000000_init.sql").write_text("create table public.cli_pushed (id int primary key);\n")
    (tmp_path / "app" / "supabase" / ".temp").mkdir()
    (tmp_path / "app" / "supabase" / ".temp" / "project-ref").write_text(ref)  # what `supabase link` leaves
    info = supabase_api.project(ref)
    assert info is not None
    env = {"SUPABASE_DB_PASSWORD": project["db_pass"]}
    database = ((info.db_host, 5432),)

    # The direct host is IPv6-only and this network has no IPv6 route: the CLI says so.
    no_route = supabase("migration", "list", "--linked", extra_env=env, relays=database)
    assert no_route.returncode != 0, no_route
    assert "IPv6 is not supported on your current network" in no_route.stderr, no_route

    supabase_api.configure(ipv6_route=True)
    before = supabase("migration", "list", "--linked", extra_env=env, relays=database)
    assert before.returncode == 0, before
    assert re.search(r"20240101000000`?\s*\|\s*`?\s*`?\s*\|", before.stdout), "local only, not yet remote"

    pushed = supabase("db", "push", "--linked", "--yes", extra_env=env, relays=database)
    assert pushed.returncode == 0, pushed
    with pg(info.db_host_name, 5432, "postgres", project["db_pass"]) as conn:
        history = conn.execute("SELECT version, name FROM supabase_migrations.schema_migrations").fetchall()
        table = conn.execute("SELECT to_regclass('public.cli_pushed')::text").fetchone()
    assert history == [("20240101000000", "init")]
    assert table == ("cli_pushed",)

    after = supabase("migration", "list", "--linked", extra_env=env, relays=database)
    assert after.returncode == 0, after
    assert re.search(r"20240101000000`?\s*\|\s*`?20240101000000`?\s*\|", after.stdout), after
    assert supabase_api.violations() == []
