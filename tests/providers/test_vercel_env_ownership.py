"""The Vercel variables provider and variables it did not create, against the local Vercel API:
made by hand they are left alone or refused, adopted only when asked and scoped exactly like
the stack's, and what a killed run of the stack wrote is taken back."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from envstack.errors import ResourceError
from providers.vercel_env import VercelEnvironmentVariablesProvider
from tests.emulators.common.faults import FaultRule
from tests.emulators.vercel.fixtures import GitHubApi, VercelApi
from tests.providers.vercel_support import COMMENT, Calls, created, env_inputs, live, reach, updated, values


@pytest.fixture
def api(vercel_api: VercelApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> VercelApi:
    reach(vercel_api, monkeypatch, tmp_path)
    return vercel_api


@pytest.fixture
def project(api: VercelApi) -> str:
    return str(api.create_project("hermes")["id"])


def test_variables_created_by_hand_survive_create_update_and_delete(api: VercelApi, github_api: GitHubApi) -> None:
    # One of them is scoped to branch x, which Vercel allows only for a branch of the project's repository.
    repo = github_api.create_repo()
    github_api.create_branch(repo, "x")
    project = str(api.create_project("hermes", git_repo=repo)["id"])
    by_hand = {
        "OTHER_KEY": api.add_env_by_hand(project, "OTHER_KEY", secrets.token_urlsafe(8), target=["preview"]),
        "PROD_ONLY": api.add_env_by_hand(project, "VAR_00", secrets.token_urlsafe(8), target=["production"]),
        "BRANCH": api.add_env_by_hand(project, "VAR_01", secrets.token_urlsafe(8), target=["preview"], git_branch="x"),
    }
    provider = VercelEnvironmentVariablesProvider()
    variables = values(3)
    outs = created(provider, env_inputs(api, project, variables))
    outs = updated(provider, outs, env_inputs(api, project, {"VAR_00": secrets.token_urlsafe(9)}))
    provider.delete("id", outs)

    assert {env.id for env in api.env_vars(project)} == {env.id for env in by_hand.values()}


def test_a_conflict_without_adopt_fails_having_written_nothing(api: VercelApi, project: str) -> None:
    theirs = secrets.token_urlsafe(16)
    api.add_env_by_hand(project, "VAR_02", theirs, type="sensitive", target=["preview"])
    api.add_env_by_hand(project, "VAR_04", theirs, target=["preview", "production"])
    provider = VercelEnvironmentVariablesProvider()
    calls = Calls(api)

    with pytest.raises(ResourceError) as caught:
        provider.create(env_inputs(api, project, values(6)))

    message = str(caught.value)
    assert "VAR_02, VAR_04" in message
    assert "Nothing was written" in message
    assert "adopt" in message
    assert calls.writes() == []
    assert len(api.env_vars(project)) == 2


def test_an_update_refuses_a_conflict_before_it_deletes_anything(api: VercelApi, project: str) -> None:
    """A secret turned public is deleted and added again (Vercel changes sensitivity no other
    way); a new key in the same update that someone already made by hand was refused only after
    that delete, and the app was left without the first variable."""
    provider = VercelEnvironmentVariablesProvider()
    variables = values(2)
    outs = created(provider, env_inputs(api, project, variables))
    before = live(api, project)
    assert before["VAR_00"].type == "sensitive"
    api.add_env_by_hand(project, "VAR_09", secrets.token_urlsafe(16), target=["preview"])
    calls = Calls(api)

    news = env_inputs(api, project, {**variables, "VAR_09": secrets.token_urlsafe(16)}, public_keys=["VAR_00"])
    with pytest.raises(ResourceError, match=r"did not create: VAR_09\. Nothing was written"):
        provider.update("id", outs, news)

    assert calls.writes() == []
    after = live(api, project)
    assert after["VAR_00"].id == before["VAR_00"].id
    assert after["VAR_00"].value == variables["VAR_00"]


def test_adopt_takes_over_exactly_scoped_variables_and_destroy_then_removes_them(api: VercelApi, project: str) -> None:
    theirs = api.add_env_by_hand(project, "VAR_01", secrets.token_urlsafe(16), type="sensitive", target=["preview"])
    provider = VercelEnvironmentVariablesProvider()
    variables = values(3)

    outs = created(provider, env_inputs(api, project, variables, adopt=True))

    assert outs["ids"]["VAR_01"] == theirs.id
    assert outs["adopted_keys"] == ["VAR_01"]
    assert live(api, project)["VAR_01"].value == variables["VAR_01"]
    assert len(api.env_vars(project)) == 3
    provider.delete("id", outs)
    assert api.env_vars(project) == []


def test_adopt_refuses_a_variable_another_envstack_stack_manages(api: VercelApi, project: str) -> None:
    """Two stacks on one target (staging and a qa stack, say): adopt took the other stack's
    variable, both states then recorded one id, and each up undid the other's value."""
    other = created(
        VercelEnvironmentVariablesProvider(),
        env_inputs(
            api, project, {"VAR_01": secrets.token_urlsafe(12)}, comment="managed by envstack (envstack/staging)"
        ),
    )
    provider = VercelEnvironmentVariablesProvider()
    calls = Calls(api)
    with pytest.raises(
        ResourceError, match=r"cannot adopt variables an envstack stack manages \(their comment names it\): VAR_01"
    ):
        provider.create(env_inputs(api, project, values(3), adopt=True, comment="managed by envstack (envstack/qa)"))
    assert calls.writes() == []
    assert live(api, project)["VAR_01"].id == other["ids"]["VAR_01"]


def test_a_run_killed_after_writing_is_taken_back_by_the_next_run(api: VercelApi, project: str) -> None:
    variables = values(5)
    first = created(VercelEnvironmentVariablesProvider(), env_inputs(api, project, variables))
    # The process died before Pulumi saved `first`: the next run creates again, from nothing.
    again = created(VercelEnvironmentVariablesProvider(), env_inputs(api, project, variables))

    assert again["ids"] == first["ids"], "the same variables, not a second set"
    assert len(api.env_vars(project)) == 5


def test_another_stacks_comment_is_not_taken_for_ours(api: VercelApi, project: str) -> None:
    api.add_env_by_hand(project, "VAR_01", secrets.token_urlsafe(9), type="sensitive", target=["preview"], comment="x")
    calls = Calls(api)
    with pytest.raises(ResourceError, match="VAR_01"):
        VercelEnvironmentVariablesProvider().create(env_inputs(api, project, values(3)))
    assert calls.writes() == []


def test_adopt_refuses_a_variable_that_also_serves_other_environments(api: VercelApi, project: str) -> None:
    shared = secrets.token_urlsafe(16)
    api.add_env_by_hand(project, "VAR_01", shared, target=["preview", "production"])
    calls = Calls(api)
    with pytest.raises(ResourceError, match=r"VAR_01 applies to preview, production.*Nothing was written"):
        VercelEnvironmentVariablesProvider().create(env_inputs(api, project, values(3), adopt=True))
    assert calls.writes() == []
    assert live(api, project)["VAR_01"].value == shared


def test_an_adopted_variable_takes_the_stacks_type_and_comment(api: VercelApi, project: str) -> None:
    """An upsert updates only the value of the variable it finds (the spec: "the existing
    variable's value will be updated"): a readable variable adopted for a secret must not stay
    readable, and it must carry the stack's comment like the ones the stack made."""
    theirs = secrets.token_urlsafe(16)
    readable = api.add_env_by_hand(project, "VAR_01", theirs, type="encrypted", target=["preview"], comment="mine")
    labelled = api.add_env_by_hand(project, "VAR_02", theirs, type="sensitive", target=["preview"], comment="mine")
    provider = VercelEnvironmentVariablesProvider()
    variables = values(3)

    outs = created(provider, env_inputs(api, project, variables, adopt=True))

    now = live(api, project)
    assert {key: (env.type, env.comment) for key, env in now.items()} == {
        key: ("sensitive", COMMENT) for key in variables
    }, "sensitive and the stack's, whatever they were"
    assert {key: now[key].value for key in variables} == variables
    assert outs["ids"] == {key: env.id for key, env in now.items()}
    assert outs["ids"]["VAR_02"] == labelled.id, "same sensitivity: updated in place"
    assert outs["ids"]["VAR_01"] != readable.id, "sensitivity changes only by delete and add"
    assert sorted(outs["adopted_keys"]) == ["VAR_01", "VAR_02"]
    provider.delete("id", outs)
    assert api.env_vars(project) == []


def test_a_failed_write_after_a_retyped_adoption_names_what_it_deleted(api: VercelApi, project: str) -> None:
    api.add_env_by_hand(project, "VAR_01", secrets.token_urlsafe(16), type="encrypted", target=["preview"])
    refusal = {"error": {"code": "BAD_REQUEST", "message": "No environment variables were created"}, "failed": []}
    api.faults.add(FaultRule(path=f"/v10/projects/{project}/env", method="POST", status=400, body=refusal, count=10))

    with pytest.raises(ResourceError) as caught:
        VercelEnvironmentVariablesProvider().create(env_inputs(api, project, values(3), adopt=True))

    assert "VAR_01 had been adopted with another type and deleted to be written anew" in str(caught.value)
    assert "VAR_01" not in live(api, project)
