"""The Vercel variables provider called directly, against a stateful fake of the Vercel API."""

from __future__ import annotations

import re
import secrets
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dill
import pulumi
import pytest

from envstack.errors import ResourceError
from providers import vercel_access, vercel_env
from providers.vercel_env import (
    DRIFT_PLACEMENT,
    DRIFT_VALUE,
    VercelEnvironmentVariablesProvider,
)
from tests.providers.fake_vercel import FakeVercel, new_token

API = "http://127.0.0.1:9"  # never contacted: the fake serves it in-process
ENV_LIST = r"/v10/projects/[^/]+/env"
ENV_ONE = r"/v9/projects/[^/]+/env/[^/]+"
ENV_BATCH = r"/v1/projects/[^/]+/env"


@pytest.fixture
def vercel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeVercel]:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the write locks live
    token = new_token()
    monkeypatch.setenv("VERCEL_TOKEN", token)
    fake = FakeVercel(token=token, page_size=20)
    monkeypatch.setattr(vercel_access, "open_client", fake.client)
    yield fake
    assert fake.problems == [], "the fake saw requests or answers the real API would not accept"


def values(n: int, prefix: str = "VAR") -> dict[str, str]:
    return {f"{prefix}_{i:02d}": secrets.token_urlsafe(18) for i in range(n)}


def inputs(
    fake: FakeVercel,
    project_id: str,
    variables: dict[str, str],
    *,
    target: str = "preview",
    public_keys: list[str] | None = None,
    git_branch: str | None = None,
    adopt: bool = False,
    comment: str | None = "managed by envstack",
    team: str | None = None,
) -> dict[str, Any]:
    return {
        "api_url": API,
        "team": team or fake.team_id,
        "project_id": project_id,
        "target": target,
        "git_branch": git_branch,
        "variables": dict(variables),
        "public_keys": sorted(public_keys or []),
        "adopt": adopt,
        "comment": comment,
    }


def created(provider: VercelEnvironmentVariablesProvider, props: dict[str, Any]) -> dict[str, Any]:
    checked = provider.check({}, props)
    assert checked.failures == []
    result = provider.create(props)
    assert result.outs is not None
    return dict(result.outs)


def updated(provider: VercelEnvironmentVariablesProvider, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
    result = provider.update("id", olds, news)
    assert result.outs is not None
    return dict(result.outs)


def live(fake: FakeVercel, project_id: str) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in fake.envs[project_id]}


@pytest.mark.parametrize("n", [13, 60])
def test_create_writes_every_variable_in_a_constant_number_of_calls(vercel: FakeVercel, n: int) -> None:
    project = vercel.add_project("hermes")
    variables = values(n)
    public = ["VAR_00", "VAR_01"]
    outs = created(VercelEnvironmentVariablesProvider(), inputs(vercel, project, variables, public_keys=public))

    assert len(vercel.writes()) == 1, "one batched POST, whatever the number of variables"
    assert len(vercel.requests) == 2, "one list to find conflicts, one write"
    assert vercel.writes()[0].params.get("upsert") == "true"
    stored = live(vercel, project)
    assert {k: r["value"] for k, r in stored.items()} == variables
    assert {k: r["type"] for k, r in stored.items()} == {
        k: "encrypted" if k in public else "sensitive" for k in variables
    }
    assert all(r["target"] == ["preview"] and r["gitBranch"] is None for r in stored.values())
    assert outs["ids"] == {k: r["id"] for k, r in stored.items()}
    assert set(outs["hashes"]) == set(variables)
    assert outs["adopted_keys"] == []
    text = repr(outs["hashes"]) + repr(outs["ids"]) + repr(outs["types"])
    assert not any(v in text for v in variables.values()), "no value (or plain digest of one) in the outputs"


def test_development_cannot_hold_sensitive_values_and_custom_environments_are_scoped_by_id(
    vercel: FakeVercel,
) -> None:
    project = vercel.add_project("hermes")
    provider = VercelEnvironmentVariablesProvider()
    created(provider, inputs(vercel, project, values(3, "DEV"), target="development"))
    created(provider, inputs(vercel, project, values(2, "STAGE"), target="env_staging01"))
    stored = live(vercel, project)
    assert {stored[k]["type"] for k in stored if k.startswith("DEV")} == {"encrypted"}
    staged = [stored[k] for k in stored if k.startswith("STAGE")]
    assert all(r["customEnvironmentIds"] == ["env_staging01"] and r["target"] == [] for r in staged)
    assert {r["type"] for r in staged} == {"sensitive"}


def test_branch_scoped_preview_variables_coexist_with_the_branchless_ones(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    branchless = vercel.add_env(project, "DATABASE_URL", secrets.token_urlsafe(12), target=["preview"])
    outs = created(
        VercelEnvironmentVariablesProvider(),
        inputs(vercel, project, {"DATABASE_URL": secrets.token_urlsafe(12)}, git_branch="pr-7"),
    )
    records = vercel.env_of(project, "DATABASE_URL")
    assert len(records) == 2
    assert {r["gitBranch"] for r in records} == {None, "pr-7"}
    assert outs["ids"]["DATABASE_URL"] != branchless


def test_diff_sees_changes_from_the_hashes_without_calling_the_api(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    provider = VercelEnvironmentVariablesProvider()
    variables = values(4)
    news = inputs(vercel, project, variables)
    outs = created(provider, news)
    vercel.forget_requests()

    same = provider.diff("id", outs, news)
    assert (same.changes, same.replaces) == (False, [])
    assert [(r.method, r.path) for r in vercel.requests] == [("GET", f"/v10/projects/{project}/env")], (
        "with no change asked for, one list looks for changes made in Vercel"
    )
    vercel.forget_requests()
    changed = provider.diff("id", outs, {**news, "variables": {**variables, "VAR_02": secrets.token_urlsafe(9)}})
    assert (changed.changes, changed.replaces) == (True, [])
    retyped = provider.diff("id", outs, {**news, "public_keys": ["VAR_03"]})
    assert (retyped.changes, retyped.replaces) == (True, [])
    moved = provider.diff("id", outs, {**news, "target": "production"})
    assert moved.replaces == ["target"]
    assert moved.delete_before_replace is True
    elsewhere = provider.diff("id", outs, {**news, "project_id": vercel.add_project("other")})
    assert elsewhere.replaces == ["project_id"]
    slash = provider.diff("id", outs, {**news, "api_url": API + "/"})
    assert (slash.changes, slash.replaces) == (False, []), "the same API"
    assert [r.method for r in vercel.requests] == ["GET"], "no change asked for: it looks for drift"
    vercel.forget_requests()
    for location in ({"team": vercel.team_slug}, {"api_url": "http://127.0.0.2:9"}):
        where = provider.diff("id", outs, {**news, **location})
        assert (where.changes, where.replaces) == (True, []), "recorded in place, never a replace"
    assert vercel.requests == []
    moved_outs = updated(provider, outs, {**news, "team": vercel.team_slug})
    assert (moved_outs["team"], moved_outs["ids"]) == (vercel.team_slug, outs["ids"])
    assert [r.method for r in vercel.requests] == ["GET"], "a move writes nothing (it only looks for drift)"


def test_one_changed_value_is_one_patch_in_place(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    provider = VercelEnvironmentVariablesProvider()
    variables = values(13)
    outs = created(provider, inputs(vercel, project, variables))
    vercel.forget_requests()

    fresh = secrets.token_urlsafe(20)
    after = updated(provider, outs, inputs(vercel, project, {**variables, "VAR_05": fresh}))

    assert [(r.method, re.sub(r"[^/]+$", "*", r.path)) for r in vercel.requests] == [
        ("GET", f"/v10/projects/{project}/*"),  # the drift check: one list
        ("PATCH", f"/v9/projects/{project}/env/*"),
    ]
    patch = vercel.requests[1]
    assert patch.path.endswith(outs["ids"]["VAR_05"])
    assert "key" not in patch.body, "the key of a sensitive variable is left out of a PATCH"
    assert live(vercel, project)["VAR_05"]["value"] == fresh
    assert after["ids"] == outs["ids"], "ids stay stable"
    assert after["hashes"]["VAR_05"] != outs["hashes"]["VAR_05"]
    assert provider.diff("id", after, inputs(vercel, project, {**variables, "VAR_05": fresh})).changes is False


def test_a_removed_key_is_deleted_by_its_id_only(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    provider = VercelEnvironmentVariablesProvider()
    variables = values(5)
    outs = created(provider, inputs(vercel, project, variables))
    vercel.forget_requests()

    remaining = {k: v for k, v in variables.items() if k != "VAR_03"}
    after = updated(provider, outs, inputs(vercel, project, remaining))

    assert [(r.method, r.body) for r in vercel.requests] == [
        ("GET", None),
        ("DELETE", {"ids": [outs["ids"]["VAR_03"]]}),
    ]
    assert set(live(vercel, project)) == set(remaining)
    assert set(after["ids"]) == set(remaining)


def test_additions_are_one_batched_write_and_type_changes_follow_vercels_rules(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    provider = VercelEnvironmentVariablesProvider()
    variables = values(3)
    outs = created(provider, inputs(vercel, project, variables, public_keys=["VAR_00"]))
    vercel.forget_requests()

    added = {**variables, **values(4, "NEW")}
    # VAR_00 becomes secret and VAR_01 public: Vercel changes sensitivity only by removing and
    # re-adding, so both are deleted first, then written with the additions.
    after = updated(provider, outs, inputs(vercel, project, added, public_keys=["VAR_01"]))

    stored = live(vercel, project)
    assert {k: r["value"] for k, r in stored.items()} == added
    assert stored["VAR_00"]["type"] == "sensitive"
    assert stored["VAR_01"]["type"] == "encrypted"
    assert stored["VAR_02"]["id"] == outs["ids"]["VAR_02"], "untouched variables keep their ids"
    assert [r.method for r in vercel.requests if r.writes_env] == ["DELETE", "POST"]
    deleted = vercel.calls("DELETE", ENV_BATCH)[0].body["ids"]
    assert sorted(deleted) == sorted([outs["ids"]["VAR_00"], outs["ids"]["VAR_01"]])
    posts = vercel.calls("POST", ENV_LIST)
    assert sorted(item["key"] for item in posts[0].body) == [
        "NEW_00",
        "NEW_01",
        "NEW_02",
        "NEW_03",
        "VAR_00",
        "VAR_01",
    ]
    assert after["ids"] == {k: r["id"] for k, r in stored.items()}
    assert provider.diff("id", after, inputs(vercel, project, added, public_keys=["VAR_01"])).changes is False


def test_variables_created_by_hand_survive_create_update_and_delete(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    by_hand = {
        "OTHER_KEY": vercel.add_env(project, "OTHER_KEY", secrets.token_urlsafe(8), target=["preview"]),
        "PROD_ONLY": vercel.add_env(project, "VAR_00", secrets.token_urlsafe(8), target=["production"]),
        "BRANCH": vercel.add_env(project, "VAR_01", secrets.token_urlsafe(8), target=["preview"], git_branch="x"),
    }
    provider = VercelEnvironmentVariablesProvider()
    variables = values(3)
    outs = created(provider, inputs(vercel, project, variables))
    outs = updated(provider, outs, inputs(vercel, project, {"VAR_00": secrets.token_urlsafe(9)}))
    provider.delete("id", outs)

    assert {r["id"] for r in vercel.envs[project]} == set(by_hand.values())


def test_a_conflict_without_adopt_fails_having_written_nothing(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    theirs = secrets.token_urlsafe(16)
    vercel.add_env(project, "VAR_02", theirs, type_="sensitive", target=["preview"])
    vercel.add_env(project, "VAR_04", theirs, target=["preview", "production"])
    provider = VercelEnvironmentVariablesProvider()

    with pytest.raises(ResourceError) as caught:
        provider.create(inputs(vercel, project, values(6)))

    message = str(caught.value)
    assert "VAR_02, VAR_04" in message
    assert "Nothing was written" in message
    assert "adopt" in message
    assert vercel.writes() == []
    assert len(vercel.envs[project]) == 2


def test_adopt_takes_over_exactly_scoped_variables_and_destroy_then_removes_them(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    theirs = vercel.add_env(project, "VAR_01", secrets.token_urlsafe(16), type_="sensitive", target=["preview"])
    provider = VercelEnvironmentVariablesProvider()
    variables = values(3)

    outs = created(provider, inputs(vercel, project, variables, adopt=True))

    assert outs["ids"]["VAR_01"] == theirs
    assert outs["adopted_keys"] == ["VAR_01"]
    assert live(vercel, project)["VAR_01"]["value"] == variables["VAR_01"]
    assert len(vercel.envs[project]) == 3
    provider.delete("id", outs)
    assert vercel.envs[project] == []


def test_a_run_killed_after_writing_is_taken_back_by_the_next_run(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    variables = values(5)
    first = created(VercelEnvironmentVariablesProvider(), inputs(vercel, project, variables))
    # The process died before Pulumi saved `first`: the next run creates again, from nothing.
    again = created(VercelEnvironmentVariablesProvider(), inputs(vercel, project, variables))

    assert again["ids"] == first["ids"], "the same variables, not a second set"
    assert len(vercel.envs[project]) == 5


def test_another_stacks_comment_is_not_taken_for_ours(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    vercel.add_env(project, "VAR_01", secrets.token_urlsafe(9), type_="sensitive", target=["preview"], comment="x")
    with pytest.raises(ResourceError, match="VAR_01"):
        VercelEnvironmentVariablesProvider().create(inputs(vercel, project, values(3)))


def test_adopt_refuses_a_variable_that_also_serves_other_environments(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    shared = secrets.token_urlsafe(16)
    vercel.add_env(project, "VAR_01", shared, target=["preview", "production"])
    with pytest.raises(ResourceError, match=r"VAR_01 applies to preview, production.*Nothing was written"):
        VercelEnvironmentVariablesProvider().create(inputs(vercel, project, values(3), adopt=True))
    assert vercel.writes() == []
    assert live(vercel, project)["VAR_01"]["value"] == shared


def test_a_refused_item_rolls_back_what_the_batch_created(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    vercel.refuse["VAR_07"] = ("MAX_ENVS_EXCEEDED", "Too many Environment Variables in this project")
    variables = values(10)

    with pytest.raises(ResourceError) as caught:
        VercelEnvironmentVariablesProvider().create(inputs(vercel, project, variables))

    message = str(caught.value)
    assert "VAR_07: Too many Environment Variables" in message
    assert "deleted again" in message
    assert vercel.envs[project] == [], "nothing orphaned"
    assert not any(v in message for v in variables.values())


def test_a_write_whose_answer_is_lost_is_found_and_kept_not_undone(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    theirs = vercel.add_env(project, "THEIRS", secrets.token_urlsafe(8), target=["preview"])
    vercel.lose_answers = 100  # every write takes effect, then its answer is a 500
    provider = VercelEnvironmentVariablesProvider()
    variables = values(5)
    news = inputs(vercel, project, variables)

    outs = created(provider, news)

    assert len(vercel.calls("POST", ENV_LIST)) == 1, "found by listing, not written twice"
    stored = live(vercel, project)
    assert {k: r["value"] for k, r in stored.items() if k != "THEIRS"} == variables
    assert stored["THEIRS"]["id"] == theirs
    assert outs["ids"] == {k: r["id"] for k, r in stored.items() if k != "THEIRS"}
    vercel.forget_requests()
    assert provider.diff("id", outs, news).changes is False
    updated(provider, outs, news)
    # Diff and update each look for drift; the update also stamps what the lost write left unstamped.
    assert [r.method for r in vercel.requests] == ["GET", "GET", "GET"], "the next run only reads"


def test_a_write_that_made_only_some_variables_writes_only_the_missing_ones(
    vercel: FakeVercel, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = vercel.add_project("hermes")
    variables = values(5)
    half_written = _failing_writes(vercel, monkeypatch, writes=["VAR_00", "VAR_01"], status=502)

    outs = created(VercelEnvironmentVariablesProvider(), inputs(vercel, project, variables))

    posts = vercel.calls("POST", ENV_LIST)
    assert [sorted(item["key"] for item in post.body) for post in posts] == [
        ["VAR_00", "VAR_01"],  # what the failing call wrote, then lost the answer of
        ["VAR_02", "VAR_03", "VAR_04"],
    ]
    assert half_written == [502]
    stored = live(vercel, project)
    assert {k: r["value"] for k, r in stored.items()} == variables
    assert outs["ids"] == {k: r["id"] for k, r in stored.items()}


def test_a_write_that_keeps_failing_removes_what_it_made_and_says_so(
    vercel: FakeVercel, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = vercel.add_project("hermes")
    theirs = vercel.add_env(project, "THEIRS", secrets.token_urlsafe(8), target=["preview"])
    failures = _failing_writes(vercel, monkeypatch, writes=["VAR_00"], status=503, times=100)

    with pytest.raises(ResourceError) as caught:
        VercelEnvironmentVariablesProvider().create(inputs(vercel, project, values(3)))

    message = str(caught.value)
    assert "writing 3 variables failed 3 times" in message
    assert "503" in message
    assert "The 1 variables it had created were deleted again" in message
    assert failures == [503, 503, 503]
    assert [r["id"] for r in vercel.envs[project]] == [theirs], "nothing orphaned, theirs untouched"


def _failing_writes(
    fake: FakeVercel, monkeypatch: pytest.MonkeyPatch, *, writes: list[str], status: int, times: int = 1
) -> list[int]:
    """Make the next ``times`` batch writes write only ``writes`` (of the keys they carry), then
    fail with ``status`` as a gateway would after the server acted. Returns the statuses sent."""
    from envstack.clients.vercel import NewEnv, VercelClient
    from envstack.errors import ApiError

    sent: list[int] = []
    real_create = VercelClient.create_env
    monkeypatch.setattr(vercel_env, "_pause", lambda _seconds: None)

    def create_env(self: VercelClient, project_id: str, items: Any, *, upsert: bool) -> Any:
        if len(sent) >= times:
            return real_create(self, project_id, items, upsert=upsert)
        some: list[NewEnv] = [item for item in items if item.key in writes]
        if some:
            real_create(self, project_id, some, upsert=upsert)
        sent.append(status)
        raise ApiError(
            service="vercel", method="POST", path="/v10/projects/x/env", status=status, message="Bad Gateway"
        )

    monkeypatch.setattr(VercelClient, "create_env", create_env)
    return sent


def test_ongoing_env_update_answers_are_waited_out(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    vercel.busy = 2
    variables = values(4)
    created(VercelEnvironmentVariablesProvider(), inputs(vercel, project, variables, team=vercel.team_slug))
    assert {k: r["value"] for k, r in live(vercel, project).items()} == variables
    assert len(vercel.calls("POST", ENV_LIST)) == 3


def test_refresh_marks_hand_deleted_edited_and_moved_variables_and_up_restores_them(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    provider = VercelEnvironmentVariablesProvider()
    variables = values(5)
    public = ["VAR_00", "VAR_01"]
    news = inputs(vercel, project, variables, public_keys=public)
    outs = created(provider, news)
    stored = live(vercel, project)
    vercel.envs[project].remove(stored["VAR_04"])  # deleted by hand
    stored["VAR_00"]["value"] = secrets.token_urlsafe(11)  # readable value edited by hand
    stored["VAR_02"]["target"] = ["production"]  # moved to another environment by hand
    stored["VAR_03"]["value"] = secrets.token_urlsafe(11)  # sensitive: cannot be seen, so not flagged
    vercel.forget_requests()

    read = provider.read("id", outs)

    assert read.id == "id"
    assert read.outs is not None
    refreshed = dict(read.outs)
    assert "VAR_04" not in refreshed["ids"]
    assert refreshed["hashes"]["VAR_00"] == DRIFT_VALUE
    assert refreshed["hashes"]["VAR_01"] == outs["hashes"]["VAR_01"]
    assert refreshed["hashes"]["VAR_02"] == DRIFT_PLACEMENT
    assert refreshed["hashes"]["VAR_03"] == outs["hashes"]["VAR_03"]
    decrypted = [r.path.rsplit("/", 1)[1] for r in vercel.requests if r.path.startswith("/v1/") and r.method == "GET"]
    assert sorted(decrypted) == sorted([outs["ids"]["VAR_00"], outs["ids"]["VAR_01"]]), "only readable ones"

    assert provider.diff("id", refreshed, news).changes is True
    restored = updated(provider, refreshed, news)
    stored = live(vercel, project)
    assert {k: stored[k]["value"] for k in ("VAR_00", "VAR_01", "VAR_02", "VAR_04")} == {
        k: variables[k] for k in ("VAR_00", "VAR_01", "VAR_02", "VAR_04")
    }
    assert stored["VAR_02"]["target"] == ["preview"]
    assert stored["VAR_02"]["id"] == outs["ids"]["VAR_02"]
    assert provider.diff("id", restored, news).changes is False


def test_refresh_keeps_the_resource_when_every_variable_is_gone(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    provider = VercelEnvironmentVariablesProvider()
    news = inputs(vercel, project, values(3))
    outs = created(provider, news)
    vercel.envs[project].clear()

    read = provider.read("the-id", outs)

    assert read.id == "the-id"
    assert read.outs is not None
    assert read.outs["ids"] == {}
    recreated = updated(provider, dict(read.outs), news)
    assert set(recreated["ids"]) == set(news["variables"])
    assert len(vercel.envs[project]) == 3


def test_delete_removes_exactly_its_ids_in_one_call_and_twice_is_fine(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    provider = VercelEnvironmentVariablesProvider()
    outs = created(provider, inputs(vercel, project, values(60)))
    vercel.forget_requests()

    provider.delete("id", outs)
    provider.delete("id", outs)

    assert vercel.envs[project] == []
    batches = vercel.calls("DELETE", ENV_BATCH)
    assert len(batches) == 2
    assert sorted(batches[0].body["ids"]) == sorted(outs["ids"].values())


def test_no_request_ever_asks_vercel_to_decrypt_a_sensitive_variable(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    provider = VercelEnvironmentVariablesProvider()
    variables = values(6)
    news = inputs(vercel, project, variables, public_keys=["VAR_05"])
    outs = created(provider, news)
    read = provider.read("id", outs)
    assert read.outs is not None
    outs = updated(provider, dict(read.outs), {**news, "variables": {**variables, "VAR_01": "x" * 12}})
    provider.delete("id", outs)
    assert not [r for r in vercel.requests if "decrypt" in r.params]
    # The fake records any decrypt of a sensitive variable as a problem; the fixture asserts none.


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
    vercel: FakeVercel, change: dict[str, Any], prop: str, reason: str
) -> None:
    news = {**inputs(vercel, "prj_x", {"A": "value-a"}), **change}
    failures = VercelEnvironmentVariablesProvider().check({}, news).failures
    assert [f.property for f in failures] == [prop]
    assert reason in failures[0].reason
    assert "x" * 20 not in failures[0].reason
    assert vercel.requests == []


def test_check_lets_unknown_values_through_in_preview(vercel: FakeVercel) -> None:
    from pulumi.runtime import rpc

    provider = VercelEnvironmentVariablesProvider()
    assert provider.check({}, inputs(vercel, rpc.UNKNOWN, {"A": rpc.UNKNOWN})).failures == []
    news = {**inputs(vercel, "prj_x", {}), "variables": rpc.UNKNOWN}
    assert provider.check({}, news).failures == []


def test_nothing_secret_reaches_errors_or_progress_lines(
    vercel: FakeVercel, capsys: pytest.CaptureFixture[str]
) -> None:
    project = vercel.add_project("hermes")
    variables = values(4)
    vercel.refuse["VAR_01"] = ("VALUE_INVALID_TYPE", f"bad value {variables['VAR_01']}")
    with pytest.raises(ResourceError) as caught:
        VercelEnvironmentVariablesProvider().create(inputs(vercel, project, variables))
    text = str(caught.value) + capsys.readouterr().err
    assert "VAR_01" in text
    assert not any(v in text for v in variables.values())
    assert vercel.token not in text


def test_the_provider_survives_pickling(vercel: FakeVercel) -> None:
    provider = dill.loads(dill.dumps(VercelEnvironmentVariablesProvider(), recurse=True))  # noqa: S301 - our own object, pickled as Pulumi does
    project = vercel.add_project("hermes")
    outs = created(provider, inputs(vercel, project, values(2)))
    assert len(outs["ids"]) == 2


def test_writes_wait_while_another_run_holds_the_project(vercel: FakeVercel, monkeypatch: pytest.MonkeyPatch) -> None:
    project = vercel.add_project("hermes")
    blocked, finished = threading.Event(), threading.Event()
    failures: list[BaseException] = []
    real_info = pulumi.log.info

    def info(message: str, *args: Any, **kwargs: Any) -> None:
        if "waiting for another run" in message:
            blocked.set()
        real_info(message, *args, **kwargs)

    monkeypatch.setattr(pulumi.log, "info", info)

    def run() -> None:
        try:
            created(VercelEnvironmentVariablesProvider(), inputs(vercel, project, values(3)))
        except BaseException as exc:  # handed to the test thread below
            failures.append(exc)
        finally:
            finished.set()

    # Another stack (or another resource of this one) is writing to the same project.
    with vercel_access.project_write_lock(API, project):
        worker = threading.Thread(target=run)
        worker.start()
        assert blocked.wait(timeout=30), "the provider noticed the project is busy"
        assert vercel.requests == [], "and touched nothing while it was"
    assert finished.wait(timeout=30)
    worker.join(timeout=30)
    assert failures == []
    assert len(vercel.envs[project]) == 3


def test_a_state_from_before_stamps_records_them_once_then_sees_edits(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    provider = VercelEnvironmentVariablesProvider()
    variables = values(3)
    news = inputs(vercel, project, variables, public_keys=["VAR_01"])
    outs = created(provider, news)
    old_state = {k: v for k, v in outs.items() if k not in ("stamps", "repairs")}
    vercel.forget_requests()

    assert provider.diff("id", old_state, news).changes is True, "one update records the stamps"
    stamped = updated(provider, old_state, news)
    assert vercel.writes() == [], "recording them writes nothing"
    assert set(stamped["stamps"]) == set(variables)
    assert provider.diff("id", stamped, news).changes is False

    record = live(vercel, project)["VAR_01"]
    record["value"], record["updatedAt"] = "edited by hand", vercel._tick()
    assert provider.diff("id", stamped, news).changes is True, "an edit made in Vercel is seen"
    repaired = updated(provider, stamped, news)
    assert live(vercel, project)["VAR_01"]["value"] == variables["VAR_01"]
    assert repaired["repairs"] == 1
