"""Least privilege in the workflows, read from the files themselves (issue 15): code from a
pull request never reaches production's secrets, production's secrets are used on the
default branch only, and every preview and `up` is gated by the default branch's policy pack."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_workflows import WORKFLOWS, load

PULL_REQUEST_EVENTS = {"pull_request", "pull_request_target"}
# The full ref: github.ref_name of a tag named like the default branch (refs/tags/main) is "main"
# too, and a manual run may be started on a tag, with that tag's code.
DEFAULT_BRANCH_ONLY = "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
# Each GitHub environment and the secrets it holds (README.md, "Pull requests" and "Production").
ENVIRONMENT_SECRETS = {
    "staging": {"PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "SUPABASE_ACCESS_TOKEN", "VERCEL_TOKEN"},
    "production-read": {
        "PULUMI_BACKEND_URL",
        "PULUMI_CONFIG_PASSPHRASE",
        "SUPABASE_ACCESS_TOKEN",
        "VERCEL_TOKEN",
        "STAGING_PULUMI_CONFIG_PASSPHRASE",
        "STAGING_PULUMI_BACKEND_URL",
    },
    "production": {"PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "SUPABASE_ACCESS_TOKEN", "VERCEL_TOKEN"},
}
GATED = re.compile(r"\bpulumi (?:preview|up)\b|\bpython -m envstack pr (?:comment|up)\b")


def jobs() -> Iterator[tuple[Path, str, dict[str, Any], dict[str, Any]]]:
    for path in WORKFLOWS:
        workflow = load(path)
        for name, job in workflow["jobs"].items():
            yield path, name, job, workflow


def environments(job: dict[str, Any]) -> set[str]:
    """The environments a job may run in (a matrix expression names them as literals)."""
    raw = job.get("environment")
    if raw is None:
        return set()
    text = raw["name"] if isinstance(raw, dict) else str(raw)
    return set(re.findall(r"'([a-z-]+)'", text)) or {text}


def secrets_of(job: dict[str, Any]) -> set[str]:
    return set(re.findall(r"secrets\.([A-Z_]+)", str(job)))


def scripts(job: dict[str, Any]) -> list[str]:
    return [str(step["run"]).replace("\\\n", " ") for step in job.get("steps") or [] if "run" in step]


def triggers(workflow: dict[str, Any]) -> set[str]:
    on = workflow["on"]
    return {on} if isinstance(on, str) else set(on)


def test_the_rules_see_every_kind_of_job() -> None:
    """The checks below would pass on nothing: make sure they look at real jobs."""
    found = {(path.name, name) for path, name, _, _ in jobs()}
    assert {("preview.yml", "preview"), ("pr-environment.yml", "up"), ("deploy-production.yml", "deploy")} <= found
    assert any("production" in environments(job) for _, _, job, _ in jobs())


def test_every_job_that_reads_a_secret_reads_only_its_environments() -> None:
    for path, name, job, _ in jobs():
        used = secrets_of(job)
        if not used:
            continue
        named = environments(job)
        assert named, f"{path.name} {name}: secrets come from a GitHub environment, never the repository"
        allowed = set().union(*(ENVIRONMENT_SECRETS[e] for e in named))
        assert used <= allowed, (
            f"{path.name} {name} reads {sorted(used - allowed)}, which {sorted(named)} does not hold"
        )


def test_no_job_a_pull_request_triggers_can_reach_production() -> None:
    checked = 0
    for path, name, job, workflow in jobs():
        if not triggers(workflow) & PULL_REQUEST_EVENTS:
            continue
        checked += 1
        assert not any("production" in e for e in environments(job)), f"{path.name} {name}: production's environment"
        assert environments(job) <= {"staging"} or not secrets_of(job), f"{path.name} {name}"
        for script in scripts(job):
            assert not re.search(r"--stack[ =]production\b|\bstack production\b", script), (
                f"{path.name} {name} opens production's stack with the pull request's code"
            )
    assert checked >= 4, "preview and pr-environment's jobs are checked"


def test_every_job_with_production_secrets_runs_on_the_default_branch_only() -> None:
    checked = 0
    for path, name, job, workflow in jobs():
        if not any("production" in e for e in environments(job)):
            continue
        checked += 1
        events = triggers(workflow)
        assert not events & PULL_REQUEST_EVENTS, f"{path.name}: a pull request triggers a job with production's secrets"
        assert events <= {"push", "schedule", "workflow_dispatch"}, f"{path.name}: {sorted(events)}"
        if "push" in events:
            assert workflow["on"]["push"]["branches"] == ["main"], f"{path.name}: pushes to the default branch only"
        # A manual run or a push may name another branch: the job itself refuses it.
        assert DEFAULT_BRANCH_ONLY in str(job.get("if", "")), f"{path.name} {name} must run on the default branch only"
    assert checked >= 4, "production's deploy, its plan, its doctor and the diff are checked"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_preview_and_up_is_gated_by_the_default_branchs_policy_pack(path: Path) -> None:
    workflow = load(path)
    from_pull_request = bool(triggers(workflow) & PULL_REQUEST_EVENTS)
    for name, job in workflow["jobs"].items():
        for script in scripts(job):
            for line in script.splitlines():
                if not GATED.search(line) or line.strip().startswith("echo "):
                    continue
                packs = re.findall(r"--policy-pack[ =](\S+)", line)
                # A pull request's tree is not trusted: the pack is the default branch's checkout.
                wanted = "trusted/policy" if from_pull_request else "policy"
                assert packs == [wanted], f"{path.name} {name}: `{line.strip()}` must run with --policy-pack {wanted}"
        if from_pull_request and any(GATED.search(s) for s in scripts(job)):
            checkouts = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")]
            trusted = [s for s in checkouts if (s.get("with") or {}).get("path") == "trusted"]
            assert trusted, f"{path.name} {name}: the default branch is checked out at trusted/"
            assert trusted[0]["with"]["ref"] == "${{ github.event.repository.default_branch }}"
            uses = [str(s.get("uses")) for s in job["steps"]]
            assert "./.github/actions/trusted-policy" in uses, "the trusted pack gets its own virtualenv"


def test_production_is_deployed_by_a_workflow_of_its_own_behind_an_approval() -> None:
    workflow = load(Path(WORKFLOWS[0]).parent / "deploy-production.yml")
    plan, deploy = workflow["jobs"]["plan"], workflow["jobs"]["deploy"]
    assert environments(plan) == {"production-read"}
    assert environments(deploy) == {"production"}, "the environment whose reviewers approve"
    assert deploy["needs"] == "plan"
    run = "\n".join(scripts(deploy))
    up = run.index("pulumi up --stack production --yes")
    assert "--policy-pack policy" in run[up:].splitlines()[0]
    assert run.index("python -m envstack doctor --stack production") > up
    assert "migrate record --stack production" in run, "the history the previews compare with"
    assert workflow["concurrency"]["cancel-in-progress"] is False
