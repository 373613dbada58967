"""One environment per pull request: up together, isolated, torn down without a trace;
the janitor; and production, which no tool tears down."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from envstack.db.connect import connect
from tests.emulators.common.faults import FaultRule, When
from tests.integration.convergence import spawn_in_session
from tests.integration.workspace import ProjectCopy, local_apis, make_project_copy

pytestmark = pytest.mark.engine

PROJECT = "hermes-web"
PROJECT_URN = (
    "urn:pulumi:{name}::envstack::envstack:environment:Supabase$pulumi-python:dynamic/supabase:Project::{name}-project"
)
VERCEL_PROJECT_URN = (
    "urn:pulumi:{name}::envstack::envstack:environment:Vercel$pulumi-python:dynamic/vercel:Project::"
    "{name}-vercel-" + PROJECT + "-project"
)
DELETES = {"DELETE"}


@pytest.fixture
def repo(github_api: Any) -> str:
    """The app's repository on the local GitHub, which the Vercel project is connected to:
    Vercel scopes variables only to branches of it (and never to its production branch)."""
    return str(github_api.create_repo())


@pytest.fixture
def project(tmp_path: Path, supabase_api: Any, vercel_api: Any, github_api: Any, repo: str) -> ProjectCopy:
    vercel_api.create_project(PROJECT, git_repo=repo)
    vercel_api.deploy(PROJECT, target="preview")
    env = {
        "SUPABASE_ACCESS_TOKEN": supabase_api.token,
        "VERCEL_TOKEN": vercel_api.token,
        "GITHUB_TOKEN": github_api.token,
    }
    return make_project_copy(tmp_path, env)


def bring_up(project: ProjectCopy, name: str, supabase_api: Any, vercel_api: Any, **extra: str) -> auto.Stack:
    stack = project.stack(
        name,
        {
            **local_apis(supabase_api, vercel_api),
            **extra,
        },
    )
    stack.up(on_output=project.on_output)
    return stack


def envstack(project: ProjectCopy, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "envstack", *args],
        cwd=project.root,
        env={**project.run_env(), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str], project: ProjectCopy) -> str:
    output, _ = process.communicate(timeout=600)
    project.output.append(output)
    assert process.returncode == 0, output
    return output


def outputs(project: ProjectCopy, name: str) -> dict[str, Any]:
    return {key: value.value for key, value in project.select(name).outputs().items()}


def fresh_checkout(project: ProjectCopy) -> None:
    """Leave the project as a new clone has it: the pull-request stacks' files are not in git."""
    files = list(project.root.glob("Pulumi.pr-*.yaml"))
    assert files, "pr up wrote its stack's settings here"
    for path in files:
        path.unlink()


def branch_values(vercel_api: Any, branch: str | None) -> dict[str, str]:
    return {e.key: e.value for e in vercel_api.env_vars(PROJECT) if "preview" in e.target and e.git_branch == branch}


def test_a_pull_request_vercel_cannot_scope_to_is_refused_before_anything_is_made(
    project: ProjectCopy, supabase_api: Any, vercel_api: Any, github_api: Any, repo: str
) -> None:
    bring_up(project, "staging", supabase_api, vercel_api)
    writes_before = [c for c in supabase_api.calls() if c.method != "GET"]
    on_main = envstack(project, "pr", "up", "--number", "21", "--branch", "main")
    output, _ = on_main.communicate(timeout=600)
    assert on_main.returncode != 0, output
    assert f"main is the production branch of Vercel project {PROJECT}" in output

    # Another pull request from the same head branch (into another base) holds its variables:
    # this one made its project, then failed at the Vercel write, on every push.
    github_api.create_branch(repo, "feature/shared")
    vercel_api.add_env_by_hand(
        PROJECT,
        "POSTGRES_URL",
        "postgres://x",
        ("preview",),
        git_branch="feature/shared",
        comment="managed by envstack (envstack/pr-30)",
    )
    shared = envstack(project, "pr", "up", "--number", "31", "--branch", "feature/shared")
    output, _ = shared.communicate(timeout=600)
    assert shared.returncode != 0, output
    assert (
        f"branch feature/shared already has variables in Vercel project {PROJECT} that another stack manages "
        "(managed by envstack (envstack/pr-30))"
    ) in output

    unlinked = vercel_api.create_project("hermes-unlinked")
    project.select("staging").set_config("vercel:projects", auto.ConfigValue(json.dumps([unlinked["name"]])))
    elsewhere = envstack(project, "pr", "up", "--number", "22", "--branch", "feature/x")
    output, _ = elsewhere.communicate(timeout=600)
    assert elsewhere.returncode != 0, output
    assert "Vercel project hermes-unlinked is not connected to a Git repository" in output
    assert [c for c in supabase_api.calls() if c.method != "GET"] == writes_before, "nothing was made"
    assert {s.name for s in project.workspace().list_stacks()} == {"staging"}, "no pull-request stack"


def test_three_pull_requests_at_once_each_on_a_branch_of_staging(
    project: ProjectCopy, supabase_api: Any, vercel_api: Any, github_api: Any, repo: str
) -> None:
    previews = json.dumps({"database": "branch"})
    bring_up(project, "staging", supabase_api, vercel_api, **{"envstack:previews": previews})
    staging_before = branch_values(vercel_api, None)
    staging_ref = str(outputs(project, "staging")["supabase_project_ref"])
    requests = {11: "feature/alpha", 12: "feature/beta", 13: "fix/gamma"}
    for branch in requests.values():
        github_api.create_branch(repo, branch)  # pushed, as a pull request's head branch is
    alpha = vercel_api.deploy(PROJECT, "preview", branch="feature/alpha")  # the others have none yet
    before = {d["uid"] for d in vercel_api.deployments_of(vercel_api.projects_named(PROJECT)[0])}

    # Gated by the policy pack, as pr-environment.yml runs it (there with the default branch's).
    running = [
        envstack(project, "pr", "up", "--number", str(n), "--branch", b, "--policy-pack", "policy")
        for n, b in requests.items()
    ]
    for process in running:
        assert "envstack-guardrails" in finish(process, project), "the policy pack ran with the up"

    refs = {}
    for number, branch in requests.items():
        out = outputs(project, f"pr-{number}")
        refs[number] = str(out["supabase_project_ref"])
        assert supabase_api.project(refs[number]).parent_ref == staging_ref, "a preview branch of staging"
        with connect(str(out["pooled_url"])) as conn:
            seeded = conn.execute("SELECT count(*) FROM hermes_leads").fetchone()
            assert seeded is not None
            assert seeded[0] > 0, "each pull request gets the test data"
            conn.execute(
                "INSERT INTO hermes_leads (lead_id, full_name, email) VALUES (%s, 'PR', 'pr@example.com')",
                (f"only-in-pr-{number}",),
            )
        scoped = branch_values(vercel_api, branch)
        assert scoped["POSTGRES_URL"] == out["pooled_url"], f"{branch}'s deployments reach pr-{number}"
    assert len(set(refs.values())) == 3
    rebuilt = [d for d in vercel_api.deployments_of(vercel_api.projects_named(PROJECT)[0]) if d["uid"] not in before]
    assert [d["meta"].get("githubCommitRef") for d in rebuilt] == ["feature/alpha"], (
        "each pull request rebuilds its own branch's deployment, and only one that exists"
    )
    assert vercel_api.deployment(rebuilt[0]["uid"])["gitSource"]["sha"] == alpha["gitSource"]["sha"]
    for number in requests:
        with connect(str(outputs(project, f"pr-{number}")["pooled_url"])) as conn:
            marks = conn.execute("SELECT lead_id FROM hermes_leads WHERE lead_id LIKE 'only-in-pr-%'").fetchall()
            assert marks == [(f"only-in-pr-{number}",)], "no pull request sees another's data"
    assert branch_values(vercel_api, None) == staging_before, "staging's branch-less variables are untouched"

    deletes_before = len([c for c in supabase_api.calls() if c.method in DELETES])
    # pr-environment.yml tears down from a fresh checkout, which has no Pulumi.pr-<n>.yaml
    # (`pr up` writes it, and git ignores it): only the backend's state is there.
    fresh_checkout(project)
    # The down job runs `recover` first; there, too, with nothing but the state.
    recovered = finish(envstack(project, "recover", "--stack", "pr-11", "--force", "--if-exists"), project)
    assert "no interrupted operations in the state" in recovered
    for process in [envstack(project, "pr", "down", "--number", str(n)) for n in requests]:
        finish(process, project)
    for number, branch in requests.items():
        assert supabase_api.project_status(refs[number]) is None, f"pr-{number}'s branch is gone"
        assert branch_values(vercel_api, branch) == {}, f"{branch}'s variables are gone"
    assert supabase_api.project_status(staging_ref) == "ACTIVE_HEALTHY"
    assert branch_values(vercel_api, None) == staging_before
    assert not {s.name for s in project.workspace().list_stacks()} & {f"pr-{n}" for n in requests}, "stacks removed"
    again = finish(envstack(project, "pr", "down", "--number", "11"), project)
    assert "nothing to tear down" in again
    assert len([c for c in supabase_api.calls() if c.method in DELETES]) == deletes_before + 3


def test_the_janitor_takes_closed_pull_requests_and_leaves_open_ones(
    project: ProjectCopy, supabase_api: Any, vercel_api: Any, github_api: Any, repo: str
) -> None:
    bring_up(project, "staging", supabase_api, vercel_api)
    numbers = {}
    for branch in ("feature/open", "feature/closed"):
        github_api.create_branch(repo, branch)
        numbers[branch] = github_api.open_pull_request(repo, branch)
        finish(envstack(project, "pr", "up", "--number", str(numbers[branch]), "--branch", branch), project)
    closed_ref = str(outputs(project, f"pr-{numbers['feature/closed']}")["supabase_project_ref"])
    github_api.close_pull_request(repo, numbers["feature/closed"])  # while nothing ran
    fresh_checkout(project)  # janitor.yml, like every workflow, starts from one

    def gc(*args: str) -> str:
        return finish(envstack(project, "pr", "gc", "--repo", repo, "--github-api", github_api.url, *args), project)

    closed, still_open = numbers["feature/closed"], numbers["feature/open"]
    # janitor.yml: one job decides, then one job per stack tears it down in that pull
    # request's queue, deciding again there.
    listed = gc("--list", "stale.json")
    assert f"pr-{closed}: pull request {closed} is closed, to tear down" in listed
    assert f"pr-{still_open}: pull request {still_open} is open, kept" in listed
    # Each with the code to tear it down from: GitHub's answer has no merge commit for this
    # closed, unmerged pull request, so its head commit (tests/unit/test_teardown_code.py).
    head = github_api.pull_request(repo, closed)["head"]["sha"]
    assert json.loads((project.root / "stale.json").read_text()) == [{"number": closed, "ref": head, "head": ""}]
    assert supabase_api.project_status(closed_ref) is not None, "listing tears nothing down"
    assert f"pr-{closed}" in {summary.name for summary in project.workspace().list_stacks()}

    assert f"pr-{closed}: pull request {closed} is closed, tearing down" in gc("--number", str(closed))
    assert supabase_api.project_status(closed_ref) is None, "its own project is gone"
    assert branch_values(vercel_api, "feature/closed") == {}
    assert f"pr-{still_open}: pull request {still_open} is open, kept" in gc("--number", str(still_open))
    assert branch_values(vercel_api, "feature/open"), "the open one keeps its variables"
    names = {summary.name for summary in project.workspace().list_stacks()}
    assert f"pr-{still_open}" in names
    assert f"pr-{closed}" not in names
    # A teardown job that finds its stack gone (pr-environment.yml's `down` came first).
    assert f"pr-{closed} does not exist: nothing to tear down" in gc("--number", str(closed))

    # By hand, `pr gc` decides and tears down in one go.
    github_api.close_pull_request(repo, still_open)
    assert f"pr-{still_open}: pull request {still_open} is closed, tearing down" in gc()
    assert branch_values(vercel_api, "feature/open") == {}
    assert not {s.name for s in project.workspace().list_stacks()} & {f"pr-{closed}", f"pr-{still_open}"}


def kill_pr_up_at_its_project(
    project: ProjectCopy,
    supabase_api: Any,
    number: int,
    branch: str,
    when: When,
    tmp_path: Path,
    vercel_api: Any | None = None,
) -> None:
    """`pr up`, killed whole (the runner went away) while its project's create is on its way
    (``before``: Supabase never sees it) or answered (``after``: made, the answer lost). With
    ``vercel_api``, the Vercel project's read is under way too: a second interrupted create."""
    rule = supabase_api.faults.add(FaultRule(path=r"/v1/projects", method="POST", when=when, action="hang"))
    rules = [rule]
    if vercel_api is not None:
        # The first read is `pr up`'s own check of the branch, before the engine starts.
        read = FaultRule(path=rf"/v9/projects/{PROJECT}", method="GET", action="hang", skip=1)
        rules.append(vercel_api.faults.add(read))
    command = [sys.executable, "-m", "envstack", "pr", "up", "--number", str(number), "--branch", branch]
    run = spawn_in_session(command, project, tmp_path / "pr-up.log")
    try:
        for each in rules:
            assert each.fired.wait(120), f"pr up never called {each.path}:\n{run.output()}"
        run.kill()
    finally:
        for each in rules:
            each.release()
        run.reap()
    fresh_checkout(project)  # the teardown jobs start from one


def unfinished_creates(output: str) -> list[str]:
    """The creates a refusal names as not finished. The Vercel project's may be among them or not:
    the targeted run goes on past the project's failure, but only with what the program had
    registered before that failure stopped it."""
    found = re.search(r"could not finish (\d+) creates a killed run left \(([^)]*)\)", output)
    assert found is not None, output
    named = found.group(2).split(", ")
    assert len(named) == int(found.group(1)), output
    return named


def test_a_pull_request_environment_killed_as_its_project_was_made_is_torn_down_whole(
    project: ProjectCopy, supabase_api: Any, vercel_api: Any, github_api: Any, repo: str, tmp_path: Path
) -> None:
    """`pr up` dies after Supabase made its project and before the answer (the ref) reached
    the state; the pull request closes. The down job's recover and `pr down`, from a fresh
    checkout, leave no project behind."""
    bring_up(project, "staging", supabase_api, vercel_api)
    branch = "feature/killed"
    github_api.create_branch(repo, branch)
    number = github_api.open_pull_request(repo, branch)
    name = f"pr-{number}"

    def projects() -> list[str]:
        return [p.ref for p in supabase_api.emulator.state.projects_of(supabase_api.tenant) if p.name.endswith(name)]

    kill_pr_up_at_its_project(project, supabase_api, number, branch, "after", tmp_path, vercel_api)
    (made,) = projects()
    assert supabase_api.project_status(made) is not None, "Supabase made the project"

    recovered = project.envstack("recover", "--stack", name, "--force", "--if-exists", "--keep-creates")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    # The project's create, the Vercel project's read under way beside it, and whichever
    # others the engine had started.
    assert re.search(r"kept \d+ interrupted creates in the state", recovered.stdout), recovered.stdout
    assert "creating " + PROJECT_URN.format(name=name) in recovered.stdout
    assert "creating " + VERCEL_PROJECT_URN.format(name=name) in recovered.stdout

    # Supabase will not list the organization's projects: the create cannot tell whether
    # it made one. The next push's `pr up` fails and keeps the create for whoever runs next
    # (were it dropped, the project would be in no state and the teardown would leave it);
    # `pr down` tears nothing down, and the next one has the same work to do.
    supabase_api.faults.add(FaultRule(path=r"/v1/organizations/[^/]+/projects", method="GET", status=403, count=1000))
    again = envstack(project, "pr", "up", "--number", str(number), "--branch", branch)
    output, _ = again.communicate(timeout=600)
    assert again.returncode == 1, output
    assert PROJECT_URN.format(name=name) in unfinished_creates(output), output
    fresh_checkout(project)
    refused = envstack(project, "pr", "down", "--number", str(number), "--branch", branch)
    output, _ = refused.communicate(timeout=600)
    assert refused.returncode == 1, output
    assert PROJECT_URN.format(name=name) in unfinished_creates(output), output
    assert name in {summary.name for summary in project.workspace().list_stacks()}
    assert supabase_api.project_status(made) is not None
    supabase_api.faults.clear()

    report = finish(envstack(project, "pr", "down", "--number", str(number), "--branch", branch), project)

    assert re.search(r"\d+ creates a killed run left unfinished", report)
    assert "was created by an earlier run: using it" in report, "the create found the project, made none"
    assert supabase_api.project_status(made) is None, "the project the killed run made is gone"
    assert projects() == []
    assert branch_values(vercel_api, branch) == {}
    assert name not in {summary.name for summary in project.workspace().list_stacks()}


def test_creates_a_person_abandons_are_named_and_the_rest_torn_down(
    project: ProjectCopy, supabase_api: Any, vercel_api: Any, github_api: Any, repo: str, tmp_path: Path
) -> None:
    """`pr down --abandon-creates`: for a create that can never run again, a person's call."""
    bring_up(project, "staging", supabase_api, vercel_api)
    branch = "feature/abandoned"
    github_api.create_branch(repo, branch)
    number = github_api.open_pull_request(repo, branch)
    kill_pr_up_at_its_project(project, supabase_api, number, branch, "before", tmp_path)
    recovered = project.envstack("recover", "--stack", f"pr-{number}", "--force", "--keep-creates")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    creates_before = len([c for c in supabase_api.calls() if c.method == "POST" and c.path == "/v1/projects"])

    report = finish(envstack(project, "pr", "down", "--number", str(number), "--abandon-creates"), project)

    assert re.search(r"abandoning \d+ creates a killed run left unfinished", report)
    assert "supabase:Project" in report, "the abandoned create is named"
    assert f"pr-{number} is gone" in report
    assert f"pr-{number}" not in {summary.name for summary in project.workspace().list_stacks()}
    creates = [c for c in supabase_api.calls() if c.method == "POST" and c.path == "/v1/projects"]
    assert len(creates) == creates_before, "nothing was made to be torn down"


def test_production_cannot_be_torn_down_by_any_route(project: ProjectCopy, supabase_api: Any, vercel_api: Any) -> None:
    production = bring_up(project, "production", supabase_api, vercel_api)
    ref = str(outputs(project, "production")["supabase_project_ref"])

    def deletes() -> list[str]:
        return [f"{c.method} {c.path}" for c in supabase_api.calls() + vercel_api.calls() if c.method in DELETES]

    before = deletes()
    tool = envstack(project, "pr", "down", "--stack", "production")
    output, _ = tool.communicate(timeout=120)
    assert tool.returncode == 1
    assert "refusing to destroy production" in output

    with pytest.raises(auto.CommandError, match="protected"):
        production.destroy(on_output=project.on_output)

    # The program as it is passes the pack (every type it declares is held to it, not only the
    # dynamic providers'); a change that drops protection (say, a careless edit of __main__.py)
    # fails the policy before anything runs.
    production.preview(policy_packs=[str(project.root / "policy")], on_output=project.on_output)
    main = project.root / "__main__.py"
    main.write_text(main.read_text().replace("protect=settings.is_production", "protect=False"))
    with pytest.raises(auto.CommandError, match="production-is-protected"):
        production.preview(policy_packs=[str(project.root / "policy")], on_output=project.on_output)
    with pytest.raises(auto.CommandError, match="production-is-protected"):
        production.up(policy_packs=[str(project.root / "policy")], on_output=project.on_output)

    assert deletes() == before, "no route got as far as a delete call"
    assert supabase_api.project_status(ref) == "ACTIVE_HEALTHY"


def test_recover_before_the_first_up_of_a_pull_request_is_a_no_op(tmp_path: Path) -> None:
    project = make_project_copy(tmp_path)
    quiet = project.envstack("recover", "--stack", "pr-99", "--force", "--if-exists")
    assert quiet.returncode == 0, quiet.stderr
    assert "no stack pr-99 yet" in quiet.stdout
    strict = project.envstack("recover", "--stack", "pr-99")
    assert strict.returncode == 1
    assert "there is no stack pr-99" in strict.stderr


# A provider module a pull request adds, and the resource its program declares with it.
ADDED_PROVIDER = """
from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class MarkerProvider(ResourceProvider):
    def create(self, props):
        return CreateResult(id_="marker", outs={})


class Marker(Resource):
    def __init__(self, name):
        super().__init__(MarkerProvider(), name, {})
"""
ADDED_DECLARATION = '\nfrom providers.pr_marker import Marker\n\nMarker(f"{stack}-marker")\n'


def test_a_teardown_from_code_without_the_stacks_provider_modules_refuses_before_deleting_anything(
    project: ProjectCopy, supabase_api: Any, vercel_api: Any, github_api: Any, repo: str
) -> None:
    """A pull request adds a provider module and brings its stack up with it, then closes
    unmerged. The base branch's code could not load that provider to delete what it made (the
    engine would delete the rest around it): `pr down` names the module and deletes nothing.
    From the pull request's own code, as the down job checks it out, it tears down whole."""
    project.stack("staging", local_apis(supabase_api, vercel_api))
    module, main = project.root / "providers" / "pr_marker.py", project.root / "__main__.py"
    base_main = main.read_text()
    module.write_text(ADDED_PROVIDER)
    main.write_text(base_main + ADDED_DECLARATION)
    branch = "feature/new-provider"
    github_api.create_branch(repo, branch)
    number = github_api.open_pull_request(repo, branch)
    name = f"pr-{number}"
    finish(envstack(project, "pr", "up", "--number", str(number), "--branch", branch), project)
    ref = str(outputs(project, name)["supabase_project_ref"])
    values = branch_values(vercel_api, branch)
    assert values, "the pull request's variables are in Vercel"

    # The base branch's code: neither the module nor its declaration.
    module.unlink()
    main.write_text(base_main)
    fresh_checkout(project)
    deletes = [c for c in supabase_api.calls() + vercel_api.calls() if c.method in DELETES]
    refused = envstack(project, "pr", "down", "--number", str(number), "--branch", branch)
    output, _ = refused.communicate(timeout=600)
    assert refused.returncode == 1, output
    assert f"refusing to tear down {name}: the engine deletes each resource with the provider module" in output
    assert "lacks the provider module (providers.pr_marker) behind 1 of its resources" in output, output
    assert "Traceback" not in output, output
    assert [c for c in supabase_api.calls() + vercel_api.calls() if c.method in DELETES] == deletes, "nothing deleted"
    assert supabase_api.project_status(ref) == "ACTIVE_HEALTHY"
    assert branch_values(vercel_api, branch) == values
    assert name in {summary.name for summary in project.workspace().list_stacks()}

    # The pull request's own code (the down job checks out its test merge commit).
    module.write_text(ADDED_PROVIDER)
    main.write_text(base_main + ADDED_DECLARATION)
    report = finish(envstack(project, "pr", "down", "--number", str(number), "--branch", branch), project)
    assert f"{name} is gone" in report
    assert supabase_api.project_status(ref) is None, "the project is gone"
    assert branch_values(vercel_api, branch) == {}
    assert name not in {summary.name for summary in project.workspace().list_stacks()}
