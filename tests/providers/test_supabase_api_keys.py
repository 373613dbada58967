"""The API key providers called directly, against the local Management API."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

import providers.supabase_api_keys as keys_module
from providers.supabase_api_keys import KINDS, ApiKeyRetirementProvider, SupabaseApiKeysProvider
from tests.emulators.common.faults import FaultRule
from tests.emulators.supabase.testing import healthy_project


@pytest.fixture
def project(supabase_api: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", supabase_api.token)
    with supabase_api.client() as client:
        return healthy_project(supabase_api, client, "keys")


CLAIM = "a-secret-only-this-stack-holds"


def inputs(api: Any, ref: str, rotation: int) -> dict[str, Any]:
    return {"management_api": api.url, "ref": ref, "prefix": "envstack_staging", "rotation": rotation, "claim": CLAIM}


def made_by_hand(api: Any, ref: str, kind: str, name: str, description: str | None = None) -> dict[str, Any]:
    """A key made in the dashboard (or by envstack before claims): no tag in its description."""
    with api.client() as client:
        answer = client.post(
            f"/v1/projects/{ref}/api-keys",
            params={"reveal": "true"},
            json={"type": kind, "name": name, "description": description},
        )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def accepted(api: Any, ref: str, key: str) -> bool:
    """Whether the project's Data API takes the key (the apikey header)."""
    answer = httpx.get(f"{api.project_api_url(ref)}/rest/v1/", headers={"apikey": key})
    return answer.status_code == 200


def named(api: Any, ref: str, prefix: str) -> list[str]:
    with api.client() as client:
        keys = client.get(f"/v1/projects/{ref}/api-keys").json()
    return sorted(f"{k['type']}:{k['name']}" for k in keys if k["name"].startswith(prefix))


def test_a_rotation_makes_a_new_pair_and_retirement_deletes_the_old_one_after_the_grace(
    supabase_api: Any, project: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = project["ref"]
    provider = SupabaseApiKeysProvider()
    first = inputs(supabase_api, ref, 0)
    assert provider.check({}, first).failures == []
    assert [f.property for f in provider.check({}, {**first, "claim": "short"}).failures] == ["claim"]
    outs = dict(provider.create(first).outs or {})
    assert outs["publishable_key"].startswith("sb_publishable_")
    assert outs["secret_key"].startswith("sb_secret_")
    assert "·" not in outs["secret_key"], "the value is revealed, not masked"
    assert outs["replaced_ids"] == []
    assert accepted(supabase_api, ref, outs["secret_key"])

    assert not provider.diff(ref, outs, first).changes
    asked = inputs(supabase_api, ref, 1)
    assert provider.diff(ref, outs, asked).changes
    rotated = dict(provider.update(ref, outs, asked).outs or {})
    assert {rotated["publishable_key"], rotated["secret_key"]}.isdisjoint({outs["publishable_key"], outs["secret_key"]})
    assert sorted(rotated["replaced_ids"]) == sorted([outs["publishable_id"], outs["secret_id"]])
    assert accepted(supabase_api, ref, outs["publishable_key"]), "the old keys work until they are retired"

    now = [time.time()]
    monkeypatch.setattr(keys_module, "_clock", lambda: now[0])
    retirement = ApiKeyRetirementProvider()
    plan = {"management_api": supabase_api.url, "ref": ref, "key_ids": rotated["replaced_ids"], "grace_seconds": 30}
    retiring = dict(retirement.create(plan).outs or {})
    assert sorted(retiring["pending"]) == sorted(rotated["replaced_ids"])
    assert retiring["next_due_at"]
    assert accepted(supabase_api, ref, outs["secret_key"]), "nothing deleted during the grace"
    assert not retirement.diff("r", retiring, plan).changes
    now[0] += 30
    assert retirement.diff("r", retiring, plan).changes, "due: the next up shows it"
    retired = dict(retirement.update("r", retiring, plan).outs or {})
    assert retired["pending"] == {}
    assert sorted(retired["retired"]) == sorted(rotated["replaced_ids"])
    for old in (outs["publishable_key"], outs["secret_key"]):
        assert not accepted(supabase_api, ref, old), "a retired key no longer works"
    assert accepted(supabase_api, ref, rotated["secret_key"])
    assert not retirement.diff("r", retired, plan).changes
    # Killed after the delete, before the state was saved: repeated, the 404 is fine.
    assert dict(retirement.update("r", retiring, plan).outs or {})["pending"] == {}

    provider.delete(ref, rotated)
    assert named(supabase_api, ref, "envstack_staging") == []


def test_a_rotation_set_back_keeps_the_pair_it_takes_again(
    supabase_api: Any, project: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """rotation:apiKeys 0 -> 1, then back to 0 (a reverted change) within the grace: the first
    pair is the app's again, and retirement deleted it with the second one."""
    ref = project["ref"]
    provider = SupabaseApiKeysProvider()
    first = dict(provider.create(inputs(supabase_api, ref, 0)).outs or {})
    second = dict(provider.update(ref, first, inputs(supabase_api, ref, 1)).outs or {})
    now = [time.time()]
    monkeypatch.setattr(keys_module, "_clock", lambda: now[0])
    retirement = ApiKeyRetirementProvider()
    plan = {"management_api": supabase_api.url, "ref": ref, "key_ids": second["replaced_ids"], "grace_seconds": 30}
    retiring = dict(retirement.create(plan).outs or {})

    back = dict(provider.update(ref, second, inputs(supabase_api, ref, 0)).outs or {})
    assert back["secret_id"] == first["secret_id"], "the first pair, taken again"
    now[0] += 30
    after = dict(retirement.update("r", retiring, {**plan, "key_ids": back["replaced_ids"]}).outs or {})

    assert accepted(supabase_api, ref, back["secret_key"]), "the pair in use is never deleted"
    assert first["secret_id"] not in after["retired"]
    assert accepted(supabase_api, ref, second["secret_key"]), "the pair set aside gets its own grace"
    now[0] += 30
    retirement.update("r", after, {**plan, "key_ids": back["replaced_ids"]})
    assert not accepted(supabase_api, ref, second["secret_key"])
    assert accepted(supabase_api, ref, back["secret_key"])


def test_held_retirement_deletes_nothing(supabase_api: Any, project: dict[str, Any]) -> None:
    ref = project["ref"]
    provider = SupabaseApiKeysProvider()
    outs = dict(provider.create(inputs(supabase_api, ref, 0)).outs or {})
    rotated = dict(provider.update(ref, outs, inputs(supabase_api, ref, 1)).outs or {})
    plan = {
        "management_api": supabase_api.url,
        "ref": ref,
        "key_ids": rotated["replaced_ids"],
        "grace_seconds": 0,
        "hold": "redeploys are off",
    }
    held = dict(ApiKeyRetirementProvider().create(plan).outs or {})
    assert "redeploys are off" in held["status"]
    assert held["next_due_at"] is None
    assert accepted(supabase_api, ref, outs["secret_key"])


def test_keys_held_long_get_their_whole_grace_once_redeploys_are_back(
    supabase_api: Any, project: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rotated while vercel:redeploy was false, then redeploys turned on a day later: the keys
    were deleted right after that run's redeploy, with no grace for the old deployment's
    requests in flight and the pages that still carry the old publishable key."""
    ref = project["ref"]
    provider = SupabaseApiKeysProvider()
    outs = dict(provider.create(inputs(supabase_api, ref, 0)).outs or {})
    rotated = dict(provider.update(ref, outs, inputs(supabase_api, ref, 1)).outs or {})
    now = [time.time()]
    monkeypatch.setattr(keys_module, "_clock", lambda: now[0])
    retirement = ApiKeyRetirementProvider()
    plan = {"management_api": supabase_api.url, "ref": ref, "key_ids": rotated["replaced_ids"], "grace_seconds": 600}
    held = dict(retirement.create({**plan, "hold": "redeploys are off"}).outs or {})
    now[0] += 86400

    lifted = dict(retirement.update("r", held, plan).outs or {})

    assert accepted(supabase_api, ref, outs["secret_key"]), "the grace starts with the first redeploy"
    assert lifted["next_due_epoch"] == pytest.approx(now[0] + 600)
    assert not retirement.diff("r", lifted, plan).changes
    now[0] += 600
    retirement.update("r", lifted, plan)
    assert not accepted(supabase_api, ref, outs["secret_key"])


def test_a_lost_create_answer_and_a_repeated_rotation_make_no_second_pair(
    supabase_api: Any, project: dict[str, Any]
) -> None:
    ref = project["ref"]
    provider = SupabaseApiKeysProvider()
    outs = dict(provider.create(inputs(supabase_api, ref, 0)).outs or {})
    supabase_api.faults.add(FaultRule(r"/v1/projects/\w+/api-keys", "drop", "POST", "after"))
    asked = inputs(supabase_api, ref, 1)
    rotated = dict(provider.update(ref, outs, asked).outs or {})
    repeated = dict(provider.update(ref, outs, asked).outs or {})
    assert (repeated["publishable_id"], repeated["secret_id"]) == (rotated["publishable_id"], rotated["secret_id"])
    assert repeated["secret_key"] == rotated["secret_key"]
    assert named(supabase_api, ref, "envstack_staging") == [
        "publishable:envstack_staging_0",
        "publishable:envstack_staging_1",
        "secret:envstack_staging_0",
        "secret:envstack_staging_1",
    ]


def test_keys_of_a_project_that_goes_with_the_stack_are_left_to_it(supabase_api: Any, project: dict[str, Any]) -> None:
    ref = project["ref"]
    provider = SupabaseApiKeysProvider()
    outs = dict(provider.create({**inputs(supabase_api, ref, 0), "deleted_with_project": True}).outs or {})
    before = len(supabase_api.calls())
    provider.delete(ref, outs)
    assert supabase_api.calls()[before:] == [], "no call: deleting the project deletes its keys"
    assert named(supabase_api, ref, "envstack_staging") == [
        "publishable:envstack_staging_0",
        "secret:envstack_staging_0",
    ]


def test_another_stack_whose_prefix_starts_with_ours_keeps_its_keys(supabase_api: Any, project: dict[str, Any]) -> None:
    """Stack staging's keys are envstack_staging_<n>; envstack_staging_eu_0 is stack staging-eu's."""
    ref = project["ref"]
    provider = SupabaseApiKeysProvider()
    theirs = dict(provider.create({**inputs(supabase_api, ref, 0), "prefix": "envstack_staging_eu"}).outs or {})
    ours = dict(provider.create(inputs(supabase_api, ref, 0)).outs or {})
    assert ours["replaced_ids"] == [], "none of theirs is counted as an earlier key of ours"
    rotated = dict(provider.update(ref, ours, inputs(supabase_api, ref, 1)).outs or {})
    assert sorted(rotated["replaced_ids"]) == sorted([ours["publishable_id"], ours["secret_id"]])
    provider.delete(ref, rotated)
    assert named(supabase_api, ref, "envstack_staging") == [
        "publishable:envstack_staging_eu_0",
        "secret:envstack_staging_eu_0",
    ]
    assert accepted(supabase_api, ref, theirs["secret_key"])


def test_a_key_deleted_outside_the_stack_is_seen_by_a_refresh_and_made_again(
    supabase_api: Any, project: dict[str, Any]
) -> None:
    ref = project["ref"]
    provider = SupabaseApiKeysProvider()
    asked = inputs(supabase_api, ref, 0)
    outs = dict(provider.create(asked).outs or {})
    intact = provider.read(f"{ref}/envstack_staging", outs)
    assert dict(intact.outs or {}) == outs, "nothing changed, nothing to say"
    assert not provider.diff(ref, dict(intact.outs or {}), asked).changes

    with supabase_api.client() as client:
        assert client.delete(f"/v1/projects/{ref}/api-keys/{outs['secret_id']}").is_success  # in the dashboard
    refreshed = provider.read(f"{ref}/envstack_staging", outs)
    seen = dict(refreshed.outs or {})
    assert refreshed.id == f"{ref}/envstack_staging"
    assert seen["secret_id"] == "", "the refresh records it gone"
    assert seen["publishable_id"] == outs["publishable_id"]
    assert provider.diff(ref, seen, asked).changes, "the next up makes it again"

    repaired = dict(provider.update(ref, seen, asked).outs or {})
    assert repaired["publishable_key"] == outs["publishable_key"], "the key still there is kept"
    assert repaired["secret_key"] != outs["secret_key"]
    assert accepted(supabase_api, ref, repaired["secret_key"])
    assert not accepted(supabase_api, ref, outs["secret_key"])
    assert repaired["replaced_ids"] == []
    assert named(supabase_api, ref, "envstack_staging") == [
        "publishable:envstack_staging_0",
        "secret:envstack_staging_0",
    ]
    assert not provider.diff(ref, repaired, asked).changes

    with supabase_api.client() as client:
        assert client.delete(f"/v1/projects/{ref}").is_success
    gone = provider.read(f"{ref}/envstack_staging", repaired)
    assert gone.id == "", "the project is gone, and its keys with it"


def test_a_key_someone_else_named_like_ours_is_never_taken_nor_deleted(
    supabase_api: Any, project: dict[str, Any]
) -> None:
    """Someone made envstack_staging_0 and _1 by hand in the project (an adopted one): the name is
    no proof, so the stack makes its own pair beside theirs and leaves theirs alone throughout."""
    ref = project["ref"]
    theirs = [made_by_hand(supabase_api, ref, kind, f"envstack_staging_{n}") for kind in KINDS for n in (0, 1)]
    # Even the description envstack writes proves nothing without the tag only the claim makes.
    copied = made_by_hand(supabase_api, ref, "secret", "envstack_staging_0", "managed by envstack (envstack/staging)")
    theirs.append(copied)
    theirs_ids = {k["id"] for k in theirs}
    provider = SupabaseApiKeysProvider()

    outs = dict(provider.create(inputs(supabase_api, ref, 0)).outs or {})
    assert {outs["publishable_id"], outs["secret_id"]}.isdisjoint(theirs_ids), "a pair of its own"
    assert outs["secret_key"] not in {k["api_key"] for k in theirs}
    assert outs["replaced_ids"] == [], "none of theirs is counted as an earlier key of ours"
    again = dict(provider.create(inputs(supabase_api, ref, 0)).outs or {})
    assert (again["publishable_id"], again["secret_id"]) == (outs["publishable_id"], outs["secret_id"]), (
        "an interrupted run's pair, found by its tag: none made twice"
    )

    rotated = dict(provider.update(ref, outs, inputs(supabase_api, ref, 1)).outs or {})
    assert sorted(rotated["replaced_ids"]) == sorted([outs["publishable_id"], outs["secret_id"]])
    provider.delete(ref, rotated)
    for key in theirs:
        assert accepted(supabase_api, ref, key["api_key"]), f"{key['name']} ({key['type']}) is still theirs"
    with supabase_api.client() as client:
        left = {k["id"] for k in client.get(f"/v1/projects/{ref}/api-keys").json()}
    assert theirs_ids <= left
    assert not {rotated["publishable_id"], rotated["secret_id"]} & left, "its own keys went"


def test_keys_made_before_claims_are_the_stacks_by_their_recorded_ids(
    supabase_api: Any, project: dict[str, Any]
) -> None:
    """A stack from before claims: its pair carries no tag, and its state records the ids."""
    ref = project["ref"]
    old = {kind: made_by_hand(supabase_api, ref, kind, "envstack_staging_0") for kind in KINDS}
    stray = made_by_hand(supabase_api, ref, "secret", "envstack_staging_0")  # unrecorded: not proven
    recorded = {
        **{k: v for k, v in inputs(supabase_api, ref, 0).items() if k != "claim"},
        **{f"{kind}_id": old[kind]["id"] for kind in KINDS},
        **{f"{kind}_key": old[kind]["api_key"] for kind in KINDS},
        "replaced_ids": [],
    }
    provider = SupabaseApiKeysProvider()

    assert not provider.diff(ref, recorded, inputs(supabase_api, ref, 0)).changes, "the claim alone changes nothing"
    with supabase_api.client() as client:
        assert client.delete(f"/v1/projects/{ref}/api-keys/{old['secret']['id']}").is_success
    seen = dict(provider.read(f"{ref}/envstack_staging", recorded).outs or {})
    repaired = dict(provider.update(ref, seen, inputs(supabase_api, ref, 0)).outs or {})
    assert repaired["publishable_id"] == old["publishable"]["id"], "its recorded key is kept"
    assert repaired["secret_id"] not in (old["secret"]["id"], stray["id"]), "the stray one is not taken"

    rotated = dict(provider.update(ref, repaired, inputs(supabase_api, ref, 1)).outs or {})
    assert sorted(rotated["replaced_ids"]) == sorted([old["publishable"]["id"], repaired["secret_id"]])
    provider.delete(ref, rotated)
    assert accepted(supabase_api, ref, stray["api_key"]), "never proven the stack's, never deleted"
    assert not accepted(supabase_api, ref, old["publishable"]["api_key"])
