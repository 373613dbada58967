"""The JWT signing-key rotation provider called directly, against the local Management API.

Time is moved by the test, the provider's clock and the local API's together: the steps fall
due, and Supabase's throttle on signing-key changes (about five minutes) runs out, without
waiting.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import providers.supabase_signing_keys as rotation_module
from envstack.errors import ResourceError
from providers.supabase_signing_keys import SigningKeyRotationProvider
from tests.emulators.common.faults import FaultRule
from tests.emulators.supabase.testing import healthy_project

WRITES = {"POST", "PATCH", "PUT", "DELETE"}


class Clock:
    """Starts at the real time (the emulator stamps keys with it) and moves only when told."""

    def __init__(self, api: Any) -> None:
        self.now = time.time()
        self.api = api

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.api.advance_clock(seconds)


@pytest.fixture
def clock(supabase_api: Any, monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(supabase_api)
    monkeypatch.setattr(rotation_module, "_clock", fake)
    return fake


@pytest.fixture
def project(supabase_api: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", supabase_api.token)
    with supabase_api.client() as client:
        return healthy_project(supabase_api, client, "keys")


def inputs(api: Any, ref: str, rotation: int, **changes: Any) -> dict[str, Any]:
    return {
        "management_api": api.url,
        "ref": ref,
        "rotation": rotation,
        "algorithm": "ES256",
        "standby_seconds": 60.0,
        "revoke_after_seconds": 120.0,
        **changes,
    }


def statuses(api: Any, ref: str) -> dict[str, str]:
    with api.client() as client:
        keys = client.get(f"/v1/projects/{ref}/config/auth/signing-keys").json()["keys"]
    return {k["id"]: k["status"] for k in keys}


def writes(api: Any) -> list[str]:
    return [f"{c.method} {c.path}" for c in api.calls() if c.method in WRITES]


def test_a_rotation_steps_through_standby_switch_and_revoke_as_time_allows(
    supabase_api: Any, project: dict[str, Any], clock: Clock
) -> None:
    ref = project["ref"]
    provider = SigningKeyRotationProvider()
    first = inputs(supabase_api, ref, 0)
    assert provider.check({}, first).failures == []
    before = len(writes(supabase_api))
    state = dict(provider.create(first).outs or {})
    assert writes(supabase_api)[before:] == [], "the counter a stack starts with rotates nothing"
    assert state["phase"] == "idle"
    assert not provider.diff(ref, state, first).changes

    asked = inputs(supabase_api, ref, 1)
    assert provider.diff(ref, state, asked).changes, "a new counter is a change"
    state = dict(provider.update(ref, state, asked).outs or {})
    assert state["phase"] == "standby"
    keys = statuses(supabase_api, ref)
    legacy = state["old_key_id"]
    assert keys == {legacy: "in_use", state["new_key_id"]: "standby"}, "legacy imported, one standby key"
    assert state["next_due_at"]
    assert "standby" in state["status"]
    assert not provider.diff(ref, state, asked).changes, "nothing is due yet"

    clock.advance(60)
    assert provider.diff(ref, state, asked).changes, "the switch fell due: the next up shows it"
    state = dict(provider.update(ref, state, asked).outs or {})
    assert state["phase"] == "switched"
    assert statuses(supabase_api, ref) == {legacy: "previously_used", state["new_key_id"]: "in_use"}

    clock.advance(120)
    state = dict(provider.update(ref, state, asked).outs or {})
    assert state["phase"] == "idle"
    assert state["completed"] == 1
    assert statuses(supabase_api, ref)[legacy] == "previously_used", "legacy API keys still need it"
    assert "legacy JWT secret stays trusted" in state["status"]
    assert state["kept_trusted"] == [legacy]
    assert not provider.diff(ref, state, asked).changes

    # The team moved to publishable/secret keys and disabled the legacy ones: the next
    # rotation revokes the legacy secret along with the key it retires.
    with supabase_api.client() as client:
        assert client.put(f"/v1/projects/{ref}/api-keys/legacy", params={"enabled": "false"}).status_code == 200
    first_key = state["in_use_key_id"]
    again = inputs(supabase_api, ref, 2, standby_seconds=0.0, revoke_after_seconds=0.0)
    clock.advance(300)
    state = dict(provider.update(ref, state, again).outs or {})
    # With no waits of its own, the rotation still waits out Supabase's throttle: a key
    # change at most every five minutes. Each refused step is due when the API says.
    assert state["phase"] == "switched", "switched; the revoke right after it is throttled"
    assert state["next_due_epoch"] == pytest.approx(clock.now + 300, abs=2)
    assert not provider.diff(ref, state, again).changes, "nothing is due while throttled"
    clock.advance(300)
    assert provider.diff(ref, state, again).changes
    state = dict(provider.update(ref, state, again).outs or {})
    assert state["phase"] == "switched", "one of the two revokes ran; the other is throttled"
    assert sorted(statuses(supabase_api, ref).values()).count("revoked") == 1
    clock.advance(300)
    state = dict(provider.update(ref, state, again).outs or {})
    assert state["phase"] == "idle"
    keys = statuses(supabase_api, ref)
    assert keys[legacy] == keys[first_key] == "revoked"
    assert keys[state["in_use_key_id"]] == "in_use"
    assert state["kept_trusted"] == []


def test_the_legacy_secret_stays_trusted_once_supabase_no_longer_says_if_legacy_keys_are_on(
    supabase_api: Any, project: dict[str, Any], clock: Clock
) -> None:
    """The legacy API keys endpoint "will be removed in the future, check for HTTP 404" (its
    OpenAPI summary). Without its answer the rotation finishes, and keeps the legacy secret
    trusted: revoking it under enabled legacy keys would turn their clients away."""
    ref = project["ref"]
    provider = SigningKeyRotationProvider()
    state = dict(provider.create(inputs(supabase_api, ref, 0)).outs or {})
    supabase_api.faults.add(FaultRule(path=f"/v1/projects/{ref}/api-keys/legacy", method="GET", status=404, count=1000))
    asked = inputs(supabase_api, ref, 1, standby_seconds=0.0, revoke_after_seconds=0.0)
    for _ in range(3):  # standby, switch, finish: each once Supabase's throttle allows
        state = dict(provider.update(ref, state, asked).outs or {})
        clock.advance(300)
    assert state["phase"] == "idle"
    legacy = state["kept_trusted"][0]
    assert statuses(supabase_api, ref)[legacy] == "previously_used"
    assert "no longer answers whether the legacy" in state["status"]


def test_revoke_waits_for_the_projects_jwt_expiry_when_not_set(
    supabase_api: Any, project: dict[str, Any], clock: Clock
) -> None:
    ref = project["ref"]
    with supabase_api.client() as client:
        assert client.patch(f"/v1/projects/{ref}/config/auth", json={"jwt_exp": 600}).status_code == 200
    provider = SigningKeyRotationProvider()
    state = dict(provider.create(inputs(supabase_api, ref, 0)).outs or {})
    asked = inputs(supabase_api, ref, 1, standby_seconds=0.0, revoke_after_seconds=None)
    state = dict(provider.update(ref, state, asked).outs or {})
    assert state["phase"] == "switched"
    assert state["revoke_wait_seconds"] == 600 + 900
    clock.advance(1499)
    assert not provider.diff(ref, state, asked).changes
    clock.advance(1)
    assert provider.diff(ref, state, asked).changes


def test_every_step_repeated_after_a_lost_answer_or_a_killed_run_does_it_once(
    supabase_api: Any, project: dict[str, Any], clock: Clock
) -> None:
    ref = project["ref"]
    provider = SigningKeyRotationProvider()
    idle = dict(provider.create(inputs(supabase_api, ref, 0)).outs or {})
    asked = inputs(supabase_api, ref, 1, revoke_after_seconds=30.0)

    # The standby key is made but its answer is lost: the provider finds it instead of failing.
    supabase_api.faults.add(FaultRule(r"/v1/projects/\w+/config/auth/signing-keys", "drop", "POST", "after"))
    standby = dict(provider.update(ref, idle, asked).outs or {})
    assert standby["phase"] == "standby"
    # A run killed after that step repeats it from the old state: still one standby key.
    repeated = dict(provider.update(ref, idle, asked).outs or {})
    assert repeated["new_key_id"] == standby["new_key_id"]
    assert sorted(statuses(supabase_api, ref).values()) == ["in_use", "standby"]

    clock.advance(60)
    switched = dict(provider.update(ref, standby, asked).outs or {})
    assert switched["phase"] == "switched"
    # Killed after the switch took effect, before the state was saved: repeated, nothing breaks.
    again = dict(provider.update(ref, standby, asked).outs or {})
    assert (again["phase"], again["new_key_id"]) == ("switched", switched["new_key_id"])
    keys = statuses(supabase_api, ref)
    assert keys[switched["new_key_id"]] == "in_use"
    assert keys[switched["old_key_id"]] == "previously_used"

    clock.advance(30)
    done = dict(provider.update(ref, switched, asked).outs or {})
    assert done["phase"] == "idle"
    # Killed after the revoke, before the state was saved: the key is found revoked already.
    assert dict(provider.update(ref, switched, asked).outs or {})["phase"] == "idle"
    assert len(statuses(supabase_api, ref)) == 2, "no key made twice"


def test_a_counter_changed_mid_rotation_waits_for_it_to_finish(
    supabase_api: Any, project: dict[str, Any], clock: Clock
) -> None:
    ref = project["ref"]
    provider = SigningKeyRotationProvider()
    state = dict(provider.create(inputs(supabase_api, ref, 0)).outs or {})
    state = dict(provider.update(ref, state, inputs(supabase_api, ref, 1)).outs or {})
    bumped = inputs(supabase_api, ref, 2)
    assert provider.diff(ref, state, bumped).changes
    state = dict(provider.update(ref, state, bumped).outs or {})
    assert (state["phase"], state["target"]) == ("standby", 1)
    assert not provider.diff(ref, state, bumped).changes, "recorded once; nothing due"
    clock.advance(60)
    state = dict(provider.update(ref, state, bumped).outs or {})
    clock.advance(120)
    state = dict(provider.update(ref, state, bumped).outs or {})
    assert (state["phase"], state["target"], state["completed"]) == ("standby", 2, 1), "the next one started"


def test_a_run_killed_after_the_switch_is_finished_not_repeated(
    supabase_api: Any, project: dict[str, Any], clock: Clock
) -> None:
    ref = project["ref"]
    provider = SigningKeyRotationProvider()
    idle = dict(provider.create(inputs(supabase_api, ref, 0)).outs or {})
    asked = inputs(supabase_api, ref, 1, standby_seconds=0.0)
    # One run imports, publishes and switches (no standby wait), then dies unrecorded.
    lost = dict(provider.update(ref, idle, asked).outs or {})
    assert lost["phase"] == "switched"
    resumed = dict(provider.update(ref, idle, asked).outs or {})
    assert (resumed["phase"], resumed["new_key_id"]) == ("switched", lost["new_key_id"])
    assert resumed["old_key_id"] == lost["old_key_id"], "the key to retire is the one that signed before"
    assert sorted(statuses(supabase_api, ref).values()) == ["in_use", "previously_used"], "no second standby key"


def test_a_run_killed_after_the_switch_keeps_the_old_key_trusted_for_the_token_lifetime(
    supabase_api: Any, project: dict[str, Any], clock: Clock
) -> None:
    """With no revoke wait set, the resumed rotation revoked the previous key at once: every
    token it signed in the last hour was refused."""
    ref = project["ref"]
    with supabase_api.client() as client:
        assert client.patch(f"/v1/projects/{ref}/config/auth", json={"jwt_exp": 600}).status_code == 200
    provider = SigningKeyRotationProvider()
    idle = dict(provider.create(inputs(supabase_api, ref, 0)).outs or {})
    asked = inputs(supabase_api, ref, 1, standby_seconds=0.0, revoke_after_seconds=None)
    lost = dict(provider.update(ref, idle, asked).outs or {})
    assert lost["phase"] == "switched"
    clock.advance(300)  # Supabase's throttle is not what holds the revoke back

    resumed = dict(provider.update(ref, idle, asked).outs or {})

    assert resumed["phase"] == "switched"
    assert resumed["revoke_wait_seconds"] == 600 + 900
    assert statuses(supabase_api, ref)[lost["old_key_id"]] == "previously_used", "still trusted"
    assert not provider.diff(ref, resumed, asked).changes, "nothing is due before the tokens expire"


def test_a_standby_key_removed_by_hand_is_made_again(supabase_api: Any, project: dict[str, Any], clock: Clock) -> None:
    """The second rotation's standby key revoked and deleted in the dashboard: the rotation
    took the key that already signed for one an interrupted run had switched to, and ended
    "complete" with no new key."""
    ref = project["ref"]
    provider = SigningKeyRotationProvider()
    state = dict(provider.create(inputs(supabase_api, ref, 0)).outs or {})
    quick = {"standby_seconds": 0.0, "revoke_after_seconds": 0.0}
    state = dict(provider.update(ref, state, inputs(supabase_api, ref, 1, **quick)).outs or {})
    clock.advance(300)
    state = dict(provider.update(ref, state, inputs(supabase_api, ref, 1, **quick)).outs or {})
    assert state["phase"] == "idle"
    signer = state["in_use_key_id"]

    asked = inputs(supabase_api, ref, 2)
    clock.advance(300)
    state = dict(provider.update(ref, state, asked).outs or {})
    assert state["phase"] == "standby"
    removed = state["new_key_id"]
    with supabase_api.client() as client:
        for status in ("previously_used", "revoked"):
            clock.advance(300)
            changed = client.patch(f"/v1/projects/{ref}/config/auth/signing-keys/{removed}", json={"status": status})
            assert changed.status_code == 200, changed.text
        clock.advance(300)
        deleted = client.delete(f"/v1/projects/{ref}/config/auth/signing-keys/{removed}")
        assert deleted.status_code == 200, deleted.text

    state = dict(provider.update(ref, state, asked).outs or {})

    assert state["phase"] == "standby", "the rotation starts over"
    assert state["new_key_id"] not in (removed, signer)
    assert state["old_key_id"] == signer
    assert statuses(supabase_api, ref)[signer] == "in_use"
    assert statuses(supabase_api, ref)[state["new_key_id"]] == "standby"


def test_a_standby_key_of_another_algorithm_is_never_promoted(
    supabase_api: Any, project: dict[str, Any], clock: Clock
) -> None:
    """Someone prepared a standby key (an HS256 secret, or a private key imported from
    elsewhere): the next rotation:jwt bump made it Auth's signing key and revoked the current."""
    ref = project["ref"]
    provider = SigningKeyRotationProvider()
    idle = dict(provider.create(inputs(supabase_api, ref, 0)).outs or {})
    with supabase_api.client() as client:
        made = client.post(
            f"/v1/projects/{ref}/config/auth/signing-keys", json={"algorithm": "HS256", "status": "standby"}
        )
        assert made.status_code == 201, made.text
    before = statuses(supabase_api, ref)
    calls = len(writes(supabase_api))

    with pytest.raises(ResourceError, match=r"a standby key this stack did not make is waiting \(\S+ \(HS256\)\)"):
        provider.update(ref, idle, inputs(supabase_api, ref, 1))

    assert statuses(supabase_api, ref) == before
    assert writes(supabase_api)[calls:] == []
