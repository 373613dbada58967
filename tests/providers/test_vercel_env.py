"""The Vercel variables provider called directly, against the local Vercel API: what create,
update and delete write and in how many calls, and what check and diff cost."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

import dill
import pytest

from providers.vercel_env import VercelEnvironmentVariablesProvider
from tests.emulators.common.faults import FaultRule
from tests.emulators.vercel.envrules import EnvVar, present
from tests.emulators.vercel.fixtures import GitHubApi, VercelApi
from tests.providers.vercel_support import (
    COMMENT,
    ENV_BATCH,
    ENV_LIST,
    Calls,
    Wire,
    created,
    delete_by_hand,
    env_inputs,
    live,
    reach,
    updated,
    values,
)
from tests.providers.vercel_support import (
    after as after_ms,
)


@pytest.fixture
def api(vercel_api: VercelApi) -> VercelApi:
    return vercel_api


@pytest.fixture
def wire(vercel_api: VercelApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Wire:
    return reach(vercel_api, monkeypatch, tmp_path)


def project_of(api: VercelApi) -> str:
    return str(api.create_project("hermes")["id"])


@pytest.mark.parametrize("n", [13, 60])
def test_create_writes_every_variable_in_a_constant_number_of_calls(api: VercelApi, wire: Wire, n: int) -> None:
    project = project_of(api)
    variables = values(n)
    public = ["VAR_00", "VAR_01"]
    calls = Calls(api)
    outs = created(VercelEnvironmentVariablesProvider(), env_inputs(api, project, variables, public_keys=public))

    assert len(calls.writes()) == 1, "one batched POST, whatever the number of variables"
    assert len(calls.all()) == 2, "one list to find conflicts, one write"
    assert calls.writes()[0].query.get("upsert") == ["true"]
    stored = live(api, project)
    assert {k: env.value for k, env in stored.items()} == variables
    assert {k: env.type for k, env in stored.items()} == {
        k: "encrypted" if k in public else "sensitive" for k in variables
    }
    assert all(env.target == ("preview",) and env.git_branch is None for env in stored.values())
    assert outs["ids"] == {k: env.id for k, env in stored.items()}
    assert set(outs["hashes"]) == set(variables)
    assert outs["adopted_keys"] == []
    text = repr(outs["hashes"]) + repr(outs["ids"]) + repr(outs["types"])
    assert not any(v in text for v in variables.values()), "no value (or plain digest of one) in the outputs"


def test_development_cannot_hold_sensitive_values(api: VercelApi, wire: Wire) -> None:
    project = project_of(api)
    created(VercelEnvironmentVariablesProvider(), env_inputs(api, project, values(3, "DEV"), target="development"))
    stored = live(api, project)
    assert {k: (env.type, env.target) for k, env in stored.items()} == {
        f"DEV_{i:02d}": ("encrypted", ("development",)) for i in range(3)
    }


def test_custom_environments_are_scoped_by_id(api: VercelApi, wire: Wire) -> None:
    """The local API stores no variable of a custom environment alone (emulate wants a
    target), so its answer to the write is the one it gives for a stored variable, injected."""
    project = project_of(api)
    now = int(time.time() * 1000)
    answered = {
        key: EnvVar(f"env{secrets.token_hex(8)}", key, "", "sensitive", (), None, COMMENT, ("env_staging01",), now, now)
        for key in ("STAGE_00", "STAGE_01")
    }
    answer = {"created": [present(env, decrypted=False) for env in answered.values()], "failed": []}
    api.faults.add(FaultRule(path=ENV_LIST, method="POST", status=201, body=answer))

    news = env_inputs(api, project, values(2, "STAGE"), target="env_staging01")
    outs = created(VercelEnvironmentVariablesProvider(), news)

    [sent] = wire.bodies("POST", ENV_LIST)
    assert [{k: v for k, v in item.items() if k != "value"} for item in sent] == [
        {"key": key, "type": "sensitive", "customEnvironmentIds": ["env_staging01"], "comment": COMMENT}
        for key in ("STAGE_00", "STAGE_01")
    ], "no target: the custom environment's id"
    assert outs["ids"] == {key: env.id for key, env in answered.items()}
    assert outs["types"] == {"STAGE_00": "sensitive", "STAGE_01": "sensitive"}


def test_branch_scoped_preview_variables_coexist_with_the_branchless_ones(
    api: VercelApi, wire: Wire, github_api: GitHubApi
) -> None:
    # Vercel scopes a variable only to a branch of the project's Git repository.
    repo = github_api.create_repo()
    github_api.create_branch(repo, "pr-7")
    project = str(api.create_project("hermes", git_repo=repo)["id"])
    branchless = api.add_env_by_hand(project, "DATABASE_URL", secrets.token_urlsafe(12), target=["preview"])
    outs = created(
        VercelEnvironmentVariablesProvider(),
        env_inputs(api, project, {"DATABASE_URL": secrets.token_urlsafe(12)}, git_branch="pr-7"),
    )
    records = [env for env in api.env_vars(project) if env.key == "DATABASE_URL"]
    assert len(records) == 2
    assert {env.git_branch for env in records} == {None, "pr-7"}
    assert outs["ids"]["DATABASE_URL"] != branchless.id


def test_a_new_scope_is_written_before_the_old_one_is_deleted(api: VercelApi, wire: Wire) -> None:
    """The engine's order for a replacement that is not delete-first: the new target's
    variables are made while the old target's still exist, then the old ones go."""
    project = project_of(api)
    provider = VercelEnvironmentVariablesProvider()
    variables = values(3)
    old = created(provider, env_inputs(api, project, variables, target="preview"))
    assert (
        provider.diff("id", old, env_inputs(api, project, variables, target="production")).delete_before_replace
        is False
    )
    new = created(provider, env_inputs(api, project, variables, target="production"))
    both = sorted((env.key, env.target[0]) for env in api.env_vars(project))
    assert both == sorted((key, target) for key in variables for target in ("preview", "production")), "both, meanwhile"
    provider.delete("id", old)
    after = api.env_vars(project)
    assert sorted((env.key, list(env.target)) for env in after) == [(key, ["production"]) for key in sorted(variables)]
    assert {env.id for env in after} == set(new["ids"].values())


def test_diff_sees_changes_from_the_hashes_without_calling_the_api(api: VercelApi, wire: Wire) -> None:
    project = project_of(api)
    provider = VercelEnvironmentVariablesProvider()
    variables = values(4)
    news = env_inputs(api, project, variables)
    outs = created(provider, news)
    calls = Calls(api)

    same = provider.diff("id", outs, news)
    assert (same.changes, same.replaces) == (False, [])
    assert calls.all() == [], "a no-op costs no call: drift made in Vercel is for a refresh to find"
    changed = provider.diff("id", outs, {**news, "variables": {**variables, "VAR_02": secrets.token_urlsafe(9)}})
    assert (changed.changes, changed.replaces) == (True, [])
    retyped = provider.diff("id", outs, {**news, "public_keys": ["VAR_03"]})
    assert (retyped.changes, retyped.replaces) == (True, [])
    moved = provider.diff("id", outs, {**news, "target": "production"})
    assert moved.replaces == ["target"]
    assert moved.delete_before_replace is False, "another scope: the new variables come before the old go"
    elsewhere = provider.diff("id", outs, {**news, "project_id": api.create_project("other")["id"]})
    assert elsewhere.replaces == ["project_id"]
    assert elsewhere.delete_before_replace is True, "perhaps the same project by name: the old ones go first"
    slash = provider.diff("id", outs, {**news, "api_url": api.url + "/"})
    assert (slash.changes, slash.replaces) == (False, []), "the same API"
    assert calls.all() == [], "no diff calls the API"
    for location in ({"team": api.team_slug}, {"api_url": "http://127.0.0.2:9"}):
        where = provider.diff("id", outs, {**news, **location})
        assert (where.changes, where.replaces) == (True, []), "recorded in place, never a replace"
    assert calls.all() == []
    moved_outs = updated(provider, outs, {**news, "team": api.team_slug})
    assert (moved_outs["team"], moved_outs["ids"]) == (api.team_slug, outs["ids"])
    assert calls.methods() == ["GET"], "a move writes nothing (its update lists once, to look for drift)"


@pytest.mark.parametrize(("n", "changed"), [(13, 1), (13, 13), (60, 60), (200, 200)])
def test_changed_values_are_one_upsert_in_place_whatever_their_number(
    api: VercelApi, wire: Wire, n: int, changed: int
) -> None:
    project = project_of(api)
    provider = VercelEnvironmentVariablesProvider()
    variables = values(n)
    outs = created(provider, env_inputs(api, project, variables, public_keys=["VAR_00"]))
    after_ms(max(outs["stamps"].values()))  # so the rewrite's updatedAt is later than the first write's
    calls = Calls(api)
    sent = len(wire.sent)

    fresh = {**variables, **{k: secrets.token_urlsafe(20) for k in sorted(variables)[:changed]}}
    news = env_inputs(api, project, fresh, public_keys=["VAR_00"])
    rewritten = updated(provider, outs, news)

    assert [(c.method, c.path, c.status) for c in calls.all()] == [
        ("GET", f"/v10/projects/{project}/env", 200),  # the update's look for drift
        ("POST", f"/v10/projects/{project}/env", 201),
    ], "one write, whatever the number of changed values"
    [post] = [s for s in wire.sent[sent:] if s.method == "POST"]
    assert post.params.get("upsert") == "true"
    assert sorted(item["key"] for item in post.body) == sorted(variables)[:changed]
    stored = live(api, project)
    assert {k: env.value for k, env in stored.items()} == fresh
    assert {k: env.type for k, env in stored.items()} == {
        k: "encrypted" if k == "VAR_00" else "sensitive" for k in variables
    }
    assert rewritten["ids"] == outs["ids"], "updated in place: ids stay stable"
    assert rewritten["stamps"] == {k: float(env.updated_at) for k, env in stored.items()}
    assert all(rewritten["stamps"][k] > outs["stamps"][k] for k in sorted(variables)[:changed])
    assert rewritten["repairs"] == 0
    calls.mark()
    assert provider.diff("id", rewritten, news).changes is False
    refreshed = provider.read("id", rewritten).outs
    assert refreshed == rewritten, "the stack's own rewrite is no drift"
    assert calls.methods() == ["GET"]


def test_a_new_comment_reaches_every_variable_with_or_without_a_new_value(api: VercelApi, wire: Wire) -> None:
    """An upsert updates only the value (the spec), so a new comment goes by PATCH, to the
    variables whose value changes too."""
    project = project_of(api)
    provider = VercelEnvironmentVariablesProvider()
    variables = values(4)
    outs = created(provider, env_inputs(api, project, variables))
    fresh = {**variables, "VAR_00": secrets.token_urlsafe(20)}
    rewritten = updated(provider, outs, env_inputs(api, project, fresh, comment="managed by envstack (renamed)"))
    stored = live(api, project)
    assert {k: env.comment for k, env in stored.items()} == dict.fromkeys(variables, "managed by envstack (renamed)")
    assert {k: env.value for k, env in stored.items()} == fresh
    assert rewritten["ids"] == outs["ids"]


def test_an_upsert_answer_that_leaves_out_what_it_updated_costs_one_list(api: VercelApi, wire: Wire) -> None:
    """The spec does not say whether ``created`` shows the variables an upsert updated: when
    it does not, one list gives their ids and ``updatedAt``."""
    project = project_of(api)
    provider = VercelEnvironmentVariablesProvider()
    variables = values(4)
    outs = created(provider, env_inputs(api, project, variables))
    api.faults.add(
        FaultRule(path=ENV_LIST, method="POST", when="after", status=201, body={"created": [], "failed": []})
    )
    calls = Calls(api)

    fresh = {k: secrets.token_urlsafe(20) for k in variables}
    rewritten = updated(provider, outs, env_inputs(api, project, fresh))

    assert calls.methods() == ["GET", "POST", "GET"]
    stored = live(api, project)
    assert {k: env.value for k, env in stored.items()} == fresh
    assert rewritten["ids"] == outs["ids"]
    assert rewritten["stamps"] == {k: float(env.updated_at) for k, env in stored.items()}


def test_a_value_whose_variable_was_deleted_since_the_list_is_written_anew(api: VercelApi, wire: Wire) -> None:
    """The upsert finds no variable to update (deleted by hand between the update's list and
    its write), so Vercel creates one: its new id is the one recorded."""
    project = project_of(api)
    provider = VercelEnvironmentVariablesProvider()
    variables = values(3)
    outs = created(provider, env_inputs(api, project, variables))
    gone = outs["ids"]["VAR_01"]
    with api.http() as http:
        listed = http.get(f"/v10/projects/{project}/env").json()
    api.faults.add(FaultRule(path=ENV_LIST, method="GET", status=200, body=listed))  # the list before the delete
    delete_by_hand(api, project, gone)

    fresh = {**variables, "VAR_01": secrets.token_urlsafe(20)}
    rewritten = updated(provider, outs, env_inputs(api, project, fresh))

    stored = live(api, project)
    assert {k: env.value for k, env in stored.items()} == fresh
    assert rewritten["ids"] == {k: env.id for k, env in stored.items()}
    assert rewritten["ids"]["VAR_01"] != gone


def test_a_removed_key_is_deleted_by_its_id_only(api: VercelApi, wire: Wire) -> None:
    project = project_of(api)
    provider = VercelEnvironmentVariablesProvider()
    variables = values(5)
    outs = created(provider, env_inputs(api, project, variables))
    calls = Calls(api)
    sent = len(wire.sent)

    remaining = {k: v for k, v in variables.items() if k != "VAR_03"}
    after = updated(provider, outs, env_inputs(api, project, remaining))

    assert [(c.method, c.path) for c in calls.all()] == [
        ("GET", f"/v10/projects/{project}/env"),
        ("DELETE", f"/v1/projects/{project}/env"),
        ("GET", f"/v10/projects/{project}/env"),  # the delete has spread (Vercel deletes eventually)
    ]
    assert [s.body for s in wire.sent[sent:]] == [None, {"ids": [outs["ids"]["VAR_03"]]}, None]
    assert set(live(api, project)) == set(remaining)
    assert set(after["ids"]) == set(remaining)


def test_additions_are_one_batched_write_and_type_changes_follow_vercels_rules(api: VercelApi, wire: Wire) -> None:
    project = project_of(api)
    provider = VercelEnvironmentVariablesProvider()
    variables = values(3)
    outs = created(provider, env_inputs(api, project, variables, public_keys=["VAR_00"]))
    calls = Calls(api)
    sent = len(wire.sent)

    added = {**variables, **values(4, "NEW")}
    # VAR_00 becomes secret and VAR_01 public: Vercel changes sensitivity only by removing and
    # re-adding, so both are deleted first, then written with the additions.
    after = updated(provider, outs, env_inputs(api, project, added, public_keys=["VAR_01"]))

    stored = live(api, project)
    assert {k: env.value for k, env in stored.items()} == added
    assert stored["VAR_00"].type == "sensitive"
    assert stored["VAR_01"].type == "encrypted"
    assert stored["VAR_02"].id == outs["ids"]["VAR_02"], "untouched variables keep their ids"
    assert [c.method for c in calls.writes()] == ["DELETE", "POST"]
    # The list that shows the delete has spread is the one the write checks against.
    assert [c.method for c in calls.all()] == ["GET", "DELETE", "GET", "POST"]
    later = [s for s in wire.sent[sent:] if s.method in ("DELETE", "POST")]
    assert [s.method for s in later] == ["DELETE", "POST"]
    assert re.fullmatch(ENV_BATCH, later[0].path)
    assert sorted(later[0].body["ids"]) == sorted([outs["ids"]["VAR_00"], outs["ids"]["VAR_01"]])
    assert sorted(item["key"] for item in later[1].body) == [
        "NEW_00",
        "NEW_01",
        "NEW_02",
        "NEW_03",
        "VAR_00",
        "VAR_01",
    ]
    assert after["ids"] == {k: env.id for k, env in stored.items()}
    assert provider.diff("id", after, env_inputs(api, project, added, public_keys=["VAR_01"])).changes is False


def test_delete_removes_exactly_its_ids_in_one_call_and_twice_is_fine(api: VercelApi, wire: Wire) -> None:
    project = project_of(api)
    theirs = api.add_env_by_hand(project, "THEIRS", secrets.token_urlsafe(8), target=["preview"])
    provider = VercelEnvironmentVariablesProvider()
    outs = created(provider, env_inputs(api, project, values(60)))
    calls = Calls(api)

    provider.delete("id", outs)
    provider.delete("id", outs)

    assert [env.id for env in api.env_vars(project)] == [theirs.id]
    # Each delete, then the list that shows it has spread (Vercel deletes eventually).
    assert [(c.method, c.status) for c in calls.all()] == [("DELETE", 200), ("GET", 200)] * 2
    batches = wire.bodies("DELETE", ENV_BATCH)
    assert len(batches) == 2
    assert sorted(batches[0]["ids"]) == sorted(outs["ids"].values())


def test_nothing_is_written_over_a_variable_whose_delete_has_not_spread(api: VercelApi, wire: Wire) -> None:
    """Vercel deletes variables eventually, not at once: for a while a deleted variable is still
    listed, with this stack's comment, and in the way of a new one of its key. A type change
    (delete, then add) and a delete followed by a create (a replacement, a stack brought up
    again) each wait until the delete has spread, instead of taking the dying variable back."""
    api.configure(delete_settle_seconds=1.0)
    project = project_of(api)
    provider = VercelEnvironmentVariablesProvider()
    variables = values(3)
    inputs = env_inputs(api, project, variables, public_keys=["VAR_00"])
    outs = created(provider, inputs)

    retyped = updated(provider, outs, env_inputs(api, project, variables))
    stored = live(api, project)
    assert {k: env.value for k, env in stored.items()} == variables
    assert stored["VAR_00"].type == "sensitive"
    assert retyped["ids"] == {k: env.id for k, env in stored.items()}

    provider.delete("id", retyped)
    again = created(provider, inputs)
    stored = live(api, project)
    assert {k: env.value for k, env in stored.items()} == variables
    assert again["ids"] == {k: env.id for k, env in stored.items()}


@pytest.mark.parametrize(
    ("change", "prop", "reason"),
    [
        ({"variables": {"1ST": "value-1"}}, "variables", "letters, digits and underscores"),
        ({"variables": {"MY-VAR": "value-1"}}, "variables", "letters, digits and underscores"),
        ({"variables": {"TZ": "UTC-value"}}, "variables", "reserved"),
        ({"variables": {"EMPTY": ""}}, "variables", "empty"),
        ({"variables": {"BIG": "x" * 40_000, "BIGGER": "y" * 30_000}}, "variables", "65536-byte limit"),
        ({"target": "production", "git_branch": "main"}, "git_branch", "only on preview"),
        ({"target": "staging"}, "target", "custom environment id"),
        ({"public_keys": ["NOT_THERE"]}, "public_keys", "NOT_THERE"),
        ({"comment": "c" * 501}, "comment", "500"),
        ({"project_id": ""}, "project_id", "required"),
    ],
)
def test_check_names_the_property_without_calling_the_api(
    api: VercelApi, wire: Wire, change: dict[str, Any], prop: str, reason: str
) -> None:
    news = {**env_inputs(api, "prj_x", {"A": "value-a"}), **change}
    failures = VercelEnvironmentVariablesProvider().check({}, news).failures
    assert [f.property for f in failures] == [prop]
    assert reason in failures[0].reason
    assert "x" * 20 not in failures[0].reason
    assert api.calls() == []
    assert wire.sent == []


def test_check_lets_unknown_values_through_in_preview(api: VercelApi, wire: Wire) -> None:
    from pulumi.runtime import rpc

    provider = VercelEnvironmentVariablesProvider()
    assert provider.check({}, env_inputs(api, rpc.UNKNOWN, {"A": rpc.UNKNOWN})).failures == []
    news = {**env_inputs(api, "prj_x", {}), "variables": rpc.UNKNOWN}
    assert provider.check({}, news).failures == []
    assert api.calls() == []


def test_the_provider_survives_pickling(api: VercelApi, wire: Wire) -> None:
    provider = dill.loads(dill.dumps(VercelEnvironmentVariablesProvider(), recurse=True))  # noqa: S301 - our own object, pickled as Pulumi does
    project = project_of(api)
    outs = created(provider, env_inputs(api, project, values(2)))
    assert len(outs["ids"]) == 2
    assert {env.key for env in api.env_vars(project)} == {"VAR_00", "VAR_01"}
