"""The Vercel variables provider and changes made in Vercel, against the local Vercel API:
a no-op diff calls nothing, refresh finds and marks them in one list (every page of it, no
value read where a stamp can tell), the `up` after it restores them, and no sensitive value
is ever asked for on the way."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from providers.vercel_env import DRIFT_PLACEMENT, DRIFT_VALUE, VercelEnvironmentVariablesProvider
from tests.emulators.common.faults import FaultRule
from tests.emulators.vercel.fixtures import VercelApi
from tests.providers.vercel_support import (
    ENV_DECRYPTED,
    ENV_LIST,
    Calls,
    after,
    created,
    delete_by_hand,
    edit_by_hand,
    env_inputs,
    live,
    reach,
    updated,
    values,
)


@pytest.fixture
def api(vercel_api: VercelApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> VercelApi:
    reach(vercel_api, monkeypatch, tmp_path)
    return vercel_api


@pytest.fixture
def project(api: VercelApi) -> str:
    return str(api.create_project("hermes")["id"])


def test_refresh_marks_hand_deleted_edited_moved_and_replaced_variables_and_up_restores_them(
    api: VercelApi, project: str
) -> None:
    provider = VercelEnvironmentVariablesProvider()
    variables = values(6)
    public = ["VAR_00", "VAR_01"]
    news = env_inputs(api, project, variables, public_keys=public)
    outs = created(provider, news)
    ids = outs["ids"]
    after(max(outs["stamps"].values()))  # so an edit by hand is later than the stack's write
    delete_by_hand(api, project, ids["VAR_04"])
    edit_by_hand(api, project, ids["VAR_00"], value=secrets.token_urlsafe(11))  # a readable value
    edit_by_hand(api, project, ids["VAR_02"], target=["production"])  # moved to another environment
    edit_by_hand(api, project, ids["VAR_03"], value=secrets.token_urlsafe(11))  # sensitive: seen by updatedAt
    # The Vercel CLI's way to change a value: `env rm`, then `env add` of the same key and scope.
    delete_by_hand(api, project, ids["VAR_05"])
    again = api.add_env_by_hand(project, "VAR_05", secrets.token_urlsafe(11), target=["preview"], type="sensitive")
    calls = Calls(api)

    assert provider.diff("id", outs, news).changes is False, "a plain diff does not look"
    read = provider.read("id", outs)

    assert calls.methods() == ["GET"], "one list, no value read: every key has a stamp"
    assert read.id == "id"
    assert read.outs is not None
    refreshed = dict(read.outs)
    assert "VAR_04" not in refreshed["ids"]
    assert "VAR_04" not in refreshed["stamps"]
    assert refreshed["ids"]["VAR_05"] == again.id, "the key's place was the stack's: taken back"
    assert refreshed["hashes"]["VAR_05"] == DRIFT_VALUE
    assert refreshed["hashes"]["VAR_00"] == DRIFT_VALUE
    assert refreshed["hashes"]["VAR_01"] == outs["hashes"]["VAR_01"]
    assert refreshed["hashes"]["VAR_02"] == DRIFT_PLACEMENT
    assert refreshed["hashes"]["VAR_03"] == DRIFT_VALUE, "a sensitive edit is seen without reading its value"
    assert refreshed["repairs"] == outs["repairs"] + 1, "the redeploy's trigger moves once"
    again_read = provider.read("id", refreshed).outs
    assert again_read == refreshed, "a second refresh finds nothing new: no second repair"

    assert provider.diff("id", refreshed, news).changes is True
    calls.mark()
    restored = updated(provider, refreshed, news)
    stored = live(api, project)
    assert {k: env.value for k, env in stored.items()} == variables
    assert stored["VAR_02"].target == ("preview",)
    assert stored["VAR_02"].id == ids["VAR_02"]
    assert stored["VAR_05"].id == again.id
    assert restored["ids"] == {k: env.id for k, env in stored.items()}
    assert restored["repairs"] == refreshed["repairs"] + 1, "the update's own list saw the same edits"
    assert provider.diff("id", restored, news).changes is False
    assert provider.read("id", restored).outs == restored, "nothing left for a refresh to find"
    assert calls.matching("GET", ENV_DECRYPTED) == []
    assert api.decrypt_calls() == []


def test_refresh_keeps_the_resource_when_every_variable_is_gone(api: VercelApi, project: str) -> None:
    provider = VercelEnvironmentVariablesProvider()
    news = env_inputs(api, project, values(3))
    outs = created(provider, news)
    delete_by_hand(api, project, *outs["ids"].values())

    read = provider.read("the-id", outs)

    assert read.id == "the-id"
    assert read.outs is not None
    assert read.outs["ids"] == {}
    recreated = updated(provider, dict(read.outs), news)
    assert set(recreated["ids"]) == set(news["variables"])
    assert len(api.env_vars(project)) == 3


def test_refresh_reads_every_page_of_the_list_and_nothing_else(api: VercelApi, project: str) -> None:
    provider = VercelEnvironmentVariablesProvider()
    first, second = values(30), values(30, "NEW")
    news = env_inputs(api, project, {**first, **second})
    olds = created(provider, env_inputs(api, project, first))
    after(max(olds["stamps"].values()))
    outs = updated(provider, olds, news)
    # The list's first page, as the local API pages it: the newer half, then a cursor to the rest.
    with api.http() as http:
        listed = http.get(f"/v10/projects/{project}/env").json()["envs"]
    cut = min(env["createdAt"] for env in listed if env["key"] in second)
    page = [env for env in listed if env["createdAt"] >= cut]
    assert sorted(env["key"] for env in page) == sorted(second), "the two writes are apart in time"
    pagination = {"count": len(page), "next": cut, "prev": page[0]["createdAt"]}
    api.faults.add(FaultRule(path=ENV_LIST, method="GET", status=200, body={"envs": page, "pagination": pagination}))
    calls = Calls(api)

    read = provider.read("id", outs)

    assert read.outs == outs, "the first write's variables are on page two: none is missing"
    assert [c.query.get("until") for c in calls.all()] == [None, [str(cut)]], "one call per page, nothing else"
    assert calls.methods() == ["GET", "GET"]


@pytest.mark.parametrize("n", [13, 60, 200])
def test_a_no_op_diff_calls_nothing_and_a_refresh_calls_once_per_page(api: VercelApi, project: str, n: int) -> None:
    provider = VercelEnvironmentVariablesProvider()
    news = env_inputs(api, project, values(n), public_keys=["VAR_00", "VAR_01"])
    outs = created(provider, news)
    calls = Calls(api)

    assert provider.diff("id", outs, news).changes is False
    assert calls.all() == [], "a no-op costs no call"
    read = provider.read("id", outs)

    pages = calls.matching("GET", ENV_LIST)
    assert calls.all() == pages, "only the list: no variable read on its own"
    assert len(pages) == 1 + sum(1 for c in pages if c.query.get("until")), "one call per page"
    assert read.outs == outs


def test_refresh_of_a_state_without_stamps_compares_only_readable_values(api: VercelApi, project: str) -> None:
    provider = VercelEnvironmentVariablesProvider()
    variables = values(4)
    news = env_inputs(api, project, variables, public_keys=["VAR_00", "VAR_01"])
    outs = created(provider, news)
    ids = outs["ids"]
    old_state = {k: v for k, v in outs.items() if k not in ("stamps", "repairs")}
    edit_by_hand(api, project, ids["VAR_00"], value=secrets.token_urlsafe(11))
    edit_by_hand(api, project, ids["VAR_02"], value=secrets.token_urlsafe(11))  # sensitive: cannot be seen
    calls = Calls(api)

    read = provider.read("id", old_state)

    assert read.outs is not None
    refreshed = dict(read.outs)
    decrypted = [c.path.rsplit("/", 1)[1] for c in calls.matching("GET", ENV_DECRYPTED)]
    assert sorted(decrypted) == sorted([ids["VAR_00"], ids["VAR_01"]]), "only readable ones, and only unstamped"
    assert refreshed["hashes"]["VAR_00"] == DRIFT_VALUE
    assert refreshed["hashes"]["VAR_01"] == outs["hashes"]["VAR_01"]
    assert refreshed["hashes"]["VAR_02"] == outs["hashes"]["VAR_02"], "a sensitive value is never read to compare"
    assert refreshed["repairs"] == 1
    assert "stamps" not in refreshed, "still without stamps: the next update records them"
    assert api.decrypt_calls() == []


def test_no_request_ever_asks_vercel_to_decrypt_a_sensitive_variable(api: VercelApi, project: str) -> None:
    provider = VercelEnvironmentVariablesProvider()
    variables = values(6)
    news = env_inputs(api, project, variables, public_keys=["VAR_05"])
    calls = Calls(api)
    outs = created(provider, news)
    read = provider.read("id", {k: v for k, v in outs.items() if k != "stamps"})  # values compared by reading
    assert read.outs is not None
    assert calls.matching("GET", ENV_DECRYPTED), "the readable one was read"
    outs = updated(provider, dict(read.outs), {**news, "variables": {**variables, "VAR_01": "x" * 12}})
    provider.delete("id", outs)
    assert not [c for c in calls.all() if "decrypt" in c.query]
    assert api.decrypt_calls() == [], "the local API saw no request that could reveal a sensitive value"


def test_a_state_from_before_stamps_records_them_once_then_sees_edits(api: VercelApi, project: str) -> None:
    provider = VercelEnvironmentVariablesProvider()
    variables = values(3)
    news = env_inputs(api, project, variables, public_keys=["VAR_01"])
    outs = created(provider, news)
    old_state = {k: v for k, v in outs.items() if k not in ("stamps", "repairs")}
    calls = Calls(api)

    assert provider.diff("id", old_state, news).changes is True, "one update records the stamps"
    stamped = updated(provider, old_state, news)
    assert calls.writes() == [], "recording them writes nothing"
    assert set(stamped["stamps"]) == set(variables)
    assert provider.diff("id", stamped, news).changes is False

    after(max(stamped["stamps"].values()))
    edit_by_hand(api, project, outs["ids"]["VAR_01"], value="edited by hand")
    calls.mark()
    assert provider.diff("id", stamped, news).changes is False, "a plain diff does not look"
    read = provider.read("id", stamped)
    assert read.outs is not None
    refreshed = dict(read.outs)
    assert calls.methods() == ["GET"], "the stamp tells: no value read"
    assert provider.diff("id", refreshed, news).changes is True, "an edit made in Vercel is seen by a refresh"
    repaired = updated(provider, refreshed, news)
    assert live(api, project)["VAR_01"].value == variables["VAR_01"]
    # The refresh counted it, and the update that restored it counts it again: either way the
    # redeploy's trigger moved, and the one up that follows rebuilds once.
    assert repaired["repairs"] == 2
