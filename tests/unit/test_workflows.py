"""The GitHub Actions workflows: actionlint finds nothing, and every envstack command they run exists.

actionlint comes from scripts/install-actionlint.sh (``make test`` runs it and exports
ENVSTACK_ACTIONLINT); it runs shellcheck on each ``run:`` script. The composite action's
scripts, which actionlint does not read, go to shellcheck directly.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from envstack import cli

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
# Variables every GitHub-hosted job has without an env: entry.
RUNNER_VARIABLES = frozenset({"GITHUB_REPOSITORY", "GITHUB_API_URL", "GITHUB_PATH", "GITHUB_ENV", "GITHUB_WORKSPACE"})
# Stand-ins for values only a run has, so the command lines can be parsed.
SAMPLE_VALUES = {"PR_NUMBER": "17", "HEAD_REF": "feature/x", "GITHUB_REPOSITORY": "acme/web"}
# What actionlint v1.7 leaves out when it runs shellcheck (rule_shellcheck.go): checks that
# cannot hold for a script cut out of a workflow (sourced files, variables from env:).
SHELLCHECK_EXCLUDED = "SC1091,SC2194,SC2050,SC2153,SC2154,SC2157,SC2043"
PR_SECRETS = ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "SUPABASE_ACCESS_TOKEN", "VERCEL_TOKEN")


def pinned(name: str) -> str:
    for line in (ROOT / "scripts" / "versions.env").read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1].strip()
    raise AssertionError(f"scripts/versions.env pins no {name}")


def actionlint() -> str:
    version = pinned("ACTIONLINT_VERSION")
    if os.environ.get("ENVSTACK_ACTIONLINT"):
        return os.environ["ENVSTACK_ACTIONLINT"]
    cache = Path(
        os.environ.get("ENVSTACK_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "envstack"
    )
    installed = cache / "tools" / "actionlint" / f"v{version}" / "bin" / "actionlint"
    if not installed.is_file():
        pytest.fail(f"actionlint v{version} is not installed: run scripts/install-actionlint.sh (make test does)")
    return str(installed)


def shellcheck() -> str:
    found = shutil.which("shellcheck")
    if found is None:
        pytest.fail("shellcheck is not installed: run scripts/install-actionlint.sh (make test does)")
    return found


def load(path: Path) -> dict[str, Any]:
    document: dict[Any, Any] = yaml.safe_load(path.read_text())
    if True in document:  # YAML 1.1 reads the key `on` as a boolean
        document["on"] = document.pop(True)
    return document


def steps(path: Path) -> Iterator[tuple[str, dict[str, Any], dict[str, str]]]:
    """(where, step, env the step's script sees) for every step of a workflow or composite action."""
    document = load(path)
    if "runs" in document:
        for index, step in enumerate(document["runs"]["steps"]):
            yield f"{path.name} step {index + 1}", step, dict(step.get("env") or {})
        return
    top = dict(document.get("env") or {})
    for job_name, job in document["jobs"].items():
        for index, step in enumerate(job.get("steps") or []):
            env = {**top, **dict(job.get("env") or {}), **dict(step.get("env") or {})}
            yield f"{path.name} job {job_name} step {index + 1}", step, env


# Building the Pulumi engine from source (scripts/build-engine.sh, Go) is for machines that
# cannot reach Pulumi's release binaries; GitHub's runners can, and a build costs minutes a job.
SOURCE_BUILD = re.compile(r"build-engine\.sh|\bgo (?:build|install|get)\b")
# Scripts that run scripts/bootstrap.sh, which builds the engine when no pinned pulumi is on PATH.
BOOTSTRAPS = re.compile(r"scripts/(?:bootstrap|dev|test)\.sh|\bmake (?:dev|test)\b")
OLD_SETUP_ACTION = """
runs:
  using: composite
  steps:
    - uses: actions/setup-go@v5
      with:
        go-version: "1.25"
    - name: Install (scripts/bootstrap.sh)
      shell: bash
      run: . scripts/bootstrap.sh
"""


def source_builds(path: Path) -> list[str]:
    """Each step of a workflow or composite action that builds, or may build, the engine."""
    found = []
    for where, step, env in steps(path):
        uses = str(step.get("uses") or "")
        if uses.startswith("actions/setup-go@"):
            found.append(f"{where}: sets up Go ({uses})")
        script = str(step.get("run") or "")
        build = SOURCE_BUILD.search(script)
        if build:
            found.append(f"{where}: runs {build.group(0)}")
        if BOOTSTRAPS.search(script) and str(env.get("ENVSTACK_NO_ENGINE_BUILD")) != "1":
            found.append(f"{where}: bootstraps without ENVSTACK_NO_ENGINE_BUILD=1, so it builds on a version mismatch")
    return found


def envstack_commands(script: str) -> Iterator[str]:
    joined = script.replace("\\\n", " ")
    for line in joined.splitlines():
        found = re.search(r"\bpython -m envstack\b(.*)", line)
        if found:
            yield found.group(1).strip()


def test_actionlint_is_the_pinned_version() -> None:
    shown = subprocess.run([actionlint(), "-version"], capture_output=True, text=True, check=True).stdout
    assert shown.splitlines()[0] == f"v{pinned('ACTIONLINT_VERSION')}"


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    assert WORKFLOWS, "no workflows found"
    run = subprocess.run(
        [actionlint(), "-shellcheck", shellcheck(), "-pyflakes=", "-no-color", "-oneline", *map(str, WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, f"actionlint:\n{run.stdout}{run.stderr}"


@pytest.mark.parametrize("action", ACTIONS, ids=lambda p: p.parent.name)
def test_composite_action_scripts_pass_shellcheck(action: Path) -> None:
    for where, step, _ in steps(action):
        if "run" not in step:
            continue
        assert step.get("shell") == "bash", f"{where}: a composite action's run step must name its shell"
        run = subprocess.run(
            [shellcheck(), "--norc", "--shell=bash", "-e", SHELLCHECK_EXCLUDED, "-"],
            input=step["run"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, f"{where}:\n{run.stdout}"


def test_every_envstack_command_the_workflows_run_exists() -> None:
    parser = cli.build_parser()
    seen = 0
    for path in [*WORKFLOWS, *ACTIONS]:
        for where, step, env in steps(path):
            for command in envstack_commands(str(step.get("run") or "")):
                seen += 1
                for name in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", command):
                    assert name in env or name in RUNNER_VARIABLES, f"{where}: ${name} is not set for the step"
                concrete = re.sub(
                    r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: SAMPLE_VALUES.get(m.group(1), "sample"), command
                )
                try:
                    parser.parse_args(shlex.split(concrete))
                except SystemExit:
                    pytest.fail(f"{where}: `python -m envstack {command}` is not a valid envstack command")
    assert seen >= 4, "pr comment, up, down and gc are each run by a workflow"


def test_no_expression_is_spliced_into_a_script() -> None:
    """Values reach scripts through env: only, so none can inject shell code (a branch name can)."""
    for path in [*WORKFLOWS, *ACTIONS]:
        for where, step, _ in steps(path):
            assert "${{" not in str(step.get("run") or ""), f"{where}: pass the value through env: instead"


def test_least_privilege_everywhere() -> None:
    for path in WORKFLOWS:
        permissions = load(path).get("permissions")
        assert isinstance(permissions, dict), f"{path.name} must set its token's permissions"
        writes = {scope for scope, level in permissions.items() if level == "write"}
        assert writes <= {"pull-requests"}, f"{path.name} asks for write access to {writes}"
        assert permissions.get("contents") == "read"
        for job in load(path)["jobs"].values():
            assert "permissions" not in job, "permissions are set once, at the top"


def test_the_preview_runs_on_every_push_to_a_pull_request_and_skips_forks() -> None:
    workflow = load(ROOT / ".github" / "workflows" / "preview.yml")
    assert workflow["on"]["pull_request"]["types"] == ["opened", "synchronize", "reopened"]
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write", "actions": "read"}
    jobs = workflow["jobs"]
    fork_jobs = [j for j in jobs.values() if "!= github.repository" in j.get("if", "")]
    assert fork_jobs, "a job runs for forks"
    assert "::notice" in fork_jobs[0]["steps"][0]["run"], "forks are told why nothing ran"
    step = next(
        s for _, s, _ in steps(ROOT / ".github" / "workflows" / "preview.yml") if "pr comment" in s.get("run", "")
    )
    for name in PR_SECRETS:
        assert step["env"][name] == f"${{{{ secrets.{name} }}}}"
    assert step["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    assert "continue-on-error" not in step, "a failed preview fails the check"


def test_one_queue_per_pull_request_that_never_cancels_a_teardown() -> None:
    workflow = load(ROOT / ".github" / "workflows" / "pr-environment.yml")
    assert "closed" in workflow["on"]["pull_request"]["types"]
    assert "github.event.pull_request.number" in workflow["concurrency"]["group"]
    assert workflow["concurrency"]["cancel-in-progress"] is False
    down = workflow["jobs"]["down"]
    assert "github.event.action == 'closed'" in down["if"]
    assert any("pr down" in str(s.get("run")) for s in down["steps"])


def test_a_teardown_runs_the_code_that_brought_the_stack_up() -> None:
    """Merged: the base branch, with the pull request in it. Closed unmerged: the test merge
    commit the up job ran, whose provider modules the stack's state names, a module the pull
    request added among them; the head commit when that cannot be checked out. Should those
    fail, the default branch's code tears the stack down instead."""
    down = load(ROOT / ".github" / "workflows" / "pr-environment.yml")["jobs"]["down"]
    checkouts = [s for s in down["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")]
    assert [" ".join(c["with"]["ref"].split()) for c in checkouts] == [
        "${{ github.event.pull_request.merged && github.event.pull_request.base.ref"
        " || github.event.pull_request.merge_commit_sha || github.event.pull_request.head.sha }}",
        "${{ github.event.pull_request.head.sha }}",
        "${{ github.event.repository.default_branch }}",
    ]
    code, head, default = checkouts
    assert code.get("continue-on-error") is True
    assert head.get("continue-on-error") is True
    assert head["if"] == f"steps.{code['id']}.outcome == 'failure' && !github.event.pull_request.merged"
    assert default["if"] == f"steps.{code['id']}.outcome == 'failure' && steps.{head['id']}.outcome != 'success'"


def test_the_janitor_tears_down_from_the_code_pr_gc_names() -> None:
    """`pr gc --list` names, for each stale stack, the commit that brought it up and a fallback
    (envstack/ops/pr_environments.py, teardown_code); the teardown job checks those out in turn,
    then the commit the run started from."""
    workflow = load(ROOT / ".github" / "workflows" / "janitor.yml")
    find, down = workflow["jobs"]["find"], workflow["jobs"]["down"]
    assert "--list stale.json" in next(s["run"] for s in find["steps"] if s.get("id") == "find")
    assert down["strategy"]["matrix"]["stale"] == "${{ fromJSON(needs.find.outputs.stale) }}"
    assert down["concurrency"]["group"] == "pr-environment-${{ matrix.stale.number }}"
    checkouts = [s for s in down["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")]
    assert [c["with"].get("ref") for c in checkouts] == ["${{ matrix.stale.ref }}", "${{ matrix.stale.head }}", None]
    code, head, started = checkouts
    assert code.get("continue-on-error") is True
    assert head.get("continue-on-error") is True
    assert head["if"] == f"steps.{code['id']}.outcome == 'failure' && matrix.stale.head != ''"
    assert started["if"] == f"steps.{code['id']}.outcome == 'failure' && steps.{head['id']}.outcome != 'success'"
    teardown = next(s for s in down["steps"] if "pr gc" in str(s.get("run")))
    assert teardown["env"]["PR_NUMBER"] == "${{ matrix.stale.number }}"
    assert down["steps"].index(teardown) > down["steps"].index(started)


def test_the_readme_names_every_secret_the_workflows_read() -> None:
    readme = (ROOT / "README.md").read_text()
    for path in WORKFLOWS:
        for name in set(re.findall(r"secrets\.([A-Z_]+)", path.read_text())):
            assert f"`{name}`" in readme, f"{path.name} reads secrets.{name}, which README.md does not document"


def test_no_workflow_or_action_builds_the_engine_from_source() -> None:
    builds = [found for path in [*WORKFLOWS, *ACTIONS] for found in source_builds(path)]
    assert builds == [], "\n".join(builds)


def test_the_source_build_check_catches_what_the_setup_action_used_to_do(tmp_path: Path) -> None:
    action = tmp_path / "action.yml"
    action.write_text(OLD_SETUP_ACTION)
    assert source_builds(action) == [
        "action.yml step 1: sets up Go (actions/setup-go@v5)",
        "action.yml step 2: bootstraps without ENVSTACK_NO_ENGINE_BUILD=1, so it builds on a version mismatch",
    ]
    action.write_text(OLD_SETUP_ACTION.replace(". scripts/bootstrap.sh", "scripts/build-engine.sh"))
    assert "action.yml step 2: runs build-engine.sh" in source_builds(action)


def test_the_setup_action_installs_the_pinned_cli_release() -> None:
    installs = [
        step
        for path in ACTIONS
        for _, step, _ in steps(path)
        if str(step.get("uses") or "").startswith("pulumi/actions@")
    ]
    assert len(installs) == 1, "one step installs the Pulumi CLI with pulumi/actions"
    assert installs[0]["uses"] == "pulumi/actions@v6"
    assert "command" not in installs[0].get("with", {}), "the step only installs; envstack runs pulumi itself"
    assert str(installs[0]["with"]["pulumi-version"]) == pinned("PULUMI_CLI_VERSION")


# envstack commands that change a pull request's stack: only one run at a time may (the lock
# they would take is cleared with `recover --force`, safe only in the pull request's queue).
CHANGES_A_PULL_REQUEST_STACK = re.compile(r"^(?:pr (?:up|down)\b|pr gc\b|recover --stack \"?pr-)")


def test_every_change_to_a_pull_request_stack_waits_in_that_pull_requests_queue() -> None:
    seen = set()
    for path in WORKFLOWS:
        workflow = load(path)
        for job_name, job in workflow["jobs"].items():
            group = (job.get("concurrency") or workflow.get("concurrency") or {}).get("group", "")
            for index, step in enumerate(job.get("steps") or []):
                where = f"{path.name} job {job_name} step {index + 1}"
                for command in envstack_commands(str(step.get("run") or "")):
                    if not CHANGES_A_PULL_REQUEST_STACK.match(command) or "--list" in command:
                        continue
                    assert "$PR_NUMBER" in command, f"{where}: `{command}` names no one pull request"
                    number = str((step.get("env") or {}).get("PR_NUMBER"))
                    assert group == f"pr-environment-{number}", f"{where}: runs outside pull request's queue ({group})"
                    if "--force" in command:
                        assert (job.get("concurrency") or workflow["concurrency"])["cancel-in-progress"] is False
                    seen.add(path.name)
    assert seen == {"pr-environment.yml", "janitor.yml"}


def test_every_teardown_finishes_what_a_killed_run_began() -> None:
    """A pull request stack's recover keeps interrupted creates, and `pr up` and `pr down`
    finish them (`pr down` rebuilding the stack's settings): dropped, what they made would
    be in no state if the next run failed first, and a destroy would leave it running."""
    teardowns = ups = 0
    for path in WORKFLOWS:
        for where, step, env in steps(path):
            commands = list(envstack_commands(str(step.get("run") or "")))
            tears_down = [c for c in commands if re.match(r"pr (?:down|gc\b.*--number)", c)]
            if any(c.startswith("pr up") for c in commands):
                ups += 1
                recovers = [c for c in commands if c.startswith("recover ")]
                assert recovers, f"{where}: recover first"
                assert all("--keep-creates" in c for c in recovers), f"{where}: recover keeps the interrupted creates"
            if not tears_down:
                continue
            teardowns += 1
            recovers = [c for c in commands if c.startswith("recover ")]
            assert recovers, f"{where}: recover first"
            assert all("--keep-creates" in c for c in recovers), f"{where}: recover keeps the interrupted creates"
            for command in tears_down:
                if command.startswith("pr down"):
                    assert "--branch" in command, where
                    assert env.get("HEAD_REF") == "${{ github.head_ref }}", where
    assert teardowns == 2, "pr-environment.yml's down and janitor.yml's teardown"
    assert ups == 1, "pr-environment.yml's up"
