"""The Vercel variables provider and changes made in Vercel, against the local Vercel API:
refresh marks them, a plain `up` restores them, the drift check reads every page of the
list, and no sensitive value is ever asked for on the way."""

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


def test_refresh_marks_hand_deleted_edited_and_moved_variables_and_up_restores_them(
    api: VercelApi, project: str
) -> None:
    provider = VercelEnvironmentVariablesProvider()
    variables = values(5)
    public = ["VAR_00", "VAR_01"]
    news = env_inputs(api, project, variables, public_keys=public)
    outs = created(provider, news)
    ids = outs["ids"]
    after(max(outs["stamps"].values()))  # so an edit by hand is later than the stack's write
    delete_by_hand(api, project, ids["VAR_04"])
    edit_by_hand(api, project, ids["VAR_00"], value=secrets.token_urlsafe(11))  # a readable value
    edit_by_hand(api, project, ids["VAR_02"], target=["production"])  # moved to another environment
    edit_by_hand(api, project, ids["VAR_03"], value=secrets.token_urlsafe(11))  # sensitive: cannot be seen
    calls = Calls(api)

    read = provider.read("id", outs)

    assert read.id == "id"
    assert read.outs is not None
    refreshed = dict(read.outs)
    assert "VAR_04" not in refreshed["ids"]
    assert refreshed["hashes"]["VAR_00"] == DRIFT_VALUE
    assert refreshed["hashes"]["VAR_01"] == outs["hashes"]["VAR_01"]
    assert refreshed["hashes"]["VAR_02"] == DRIFT_PLACEMENT
    assert refreshed["hashes"]["VAR_03"] == outs["hashes"]["VAR_03"], "a sensitive value is never read to compare"
    decrypted = [c.path.rsplit("/", 1)[1] for c in calls.matching("GET", ENV_DECRYPTED)]
    assert sorted(decrypted) == sorted([ids["VAR_00"], ids["VAR_01"]]), "only readable ones"

    assert provider.diff("id", refreshed, news).changes is True
    restored = updated(provider, refreshed, news)
    stored = live(api, project)
    assert {k: env.value for k, env in stored.items()} == variables, "the edited sensitive one too (by updatedAt)"
    assert stored["VAR_02"].target == ("preview",)
    assert stored["VAR_02"].id == ids["VAR_02"]
    assert provider.diff("id", restored, news).changes is False


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


def test_the_drift_check_reads_every_page_of_the_list(api: VercelApi, project: str) -> None:
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

    assert provider.diff("id", outs, news).changes is False, "the first write's variables are on page two"

    assert [c.query.get("until") for c in calls.matching("GET", ENV_LIST)] == [None, [str(cut)]]


def test_no_request_ever_asks_vercel_to_decrypt_a_sensitive_variable(api: VercelApi, project: str) -> None:
    provider = VercelEnvironmentVariablesProvider()
    variables = values(6)
    news = env_inputs(api, project, variables, public_keys=["VAR_05"])
    calls = Calls(api)
    outs = created(provider, news)
    read = provider.read("id", outs)
    assert read.outs is not None
    outs = updated(provider, dict(read.outs), {**news, "variables": {**variables, "VAR_01": "x" * 12}})
    provider.delete("id", outs)
    assert calls.matching("GET", ENV_DECRYPTED), "the readable one was read"
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
    assert provider.diff("id", stamped, news).changes is True, "an edit made in Vercel is seen"
    repaired = updated(provider, stamped, news)
    assert live(api, project)["VAR_01"].value == variables["VAR_01"]
    assert repaired["repairs"] == 1
