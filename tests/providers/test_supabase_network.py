"""The network provider called directly, against the local Management API: Supabase may store
new network restrictions and apply them later."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from envstack.errors import ResourceError
from providers.supabase_network import ProjectNetworkProvider
from tests.emulators.supabase.testing import healthy_project

ALLOWED = ["203.0.113.0/24", "2001:db8::/32"]


@pytest.fixture
def api(supabase_api: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", supabase_api.token)
    return supabase_api


@pytest.fixture
def ref(api: Any) -> str:
    with api.client() as client:
        return str(healthy_project(api, client, "restricted")["ref"])


def restrictions(api: Any, ref: str) -> dict[str, Any]:
    with api.client() as client:
        answer: dict[str, Any] = client.get(f"/v1/projects/{ref}/network-restrictions").json()
    return answer


def test_restrictions_stored_for_later_are_waited_for_until_applied(api: Any, ref: str) -> None:
    api.configure(network_apply_seconds=1)
    props = {"management_api": api.url, "ref": ref, "ssl_enforced": None, "allowed_cidrs": ALLOWED}
    before = len(api.calls())
    outs = dict(ProjectNetworkProvider().create(props).outs or {})
    assert outs["allowed_cidrs"] == ALLOWED
    live = restrictions(api, ref)
    assert live["status"] == "applied", "the create returns once Supabase has applied them"
    assert live["config"] == {"dbAllowedCidrs": ["203.0.113.0/24"], "dbAllowedCidrsV6": ["2001:db8::/32"]}
    made = [(c.method, c.path.rsplit("/", 1)[-1]) for c in api.calls()[before:]]
    assert made[:2] == [("GET", "network-restrictions"), ("POST", "apply")], "what is in place, then the new list"
    assert made[2:], "it polled"
    assert set(made[2:]) == {("GET", "network-restrictions")}, "it polled until applied, sending nothing more"


def test_restrictions_not_applied_by_the_deadline_fail_the_step_and_the_next_up_waits_on(api: Any, ref: str) -> None:
    api.configure(network_apply_seconds=600)
    provider = ProjectNetworkProvider()
    props = {"management_api": api.url, "ref": ref, "ssl_enforced": None, "allowed_cidrs": ALLOWED, "wait_timeout": 1}
    with pytest.raises(ResourceError, match=r"stored .* but had not applied them after 1s.*keep waiting"):
        provider.create(props)
    live = restrictions(api, ref)
    assert live["status"] == "stored"
    assert live["old_config"] == {"dbAllowedCidrs": ["0.0.0.0/0"], "dbAllowedCidrsV6": ["::/0"]}, "still in force"
    # A refresh records what is in force, so the next up is a change that waits.
    seen = dict(provider.read(ref, {**props, "allowed_cidrs": ["0.0.0.0/0"]}).outs or {})
    assert seen["allowed_cidrs"] == ["0.0.0.0/0", "::/0"]
    assert provider.diff(ref, seen, props).changes

    before = len(api.calls())

    def apply_once_the_next_run_has_looked() -> None:
        # Supabase gets round to it only after the next run has found the list still stored.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(c.method == "GET" for c in api.calls()[before:]):
                api.advance_clock(600)
                return
            time.sleep(0.05)

    supabase = threading.Thread(target=apply_once_the_next_run_has_looked)
    supabase.start()
    try:
        outs = dict(provider.update(ref, seen, {**props, "wait_timeout": 30}).outs or {})
    finally:
        supabase.join()
    assert outs["allowed_cidrs"] == ALLOWED
    assert restrictions(api, ref)["status"] == "applied"
    made = [c.method for c in api.calls()[before:] if c.path.endswith("network-restrictions") or "apply" in c.path]
    assert "POST" not in made, "the list it found stored is waited for, not sent again (which would restart the wait)"
    assert made.count("GET") >= 2, "it found it stored, then polled until applied"


def test_restrictions_in_place_are_not_sent_again(api: Any, ref: str) -> None:
    props = {"management_api": api.url, "ref": ref, "ssl_enforced": None, "allowed_cidrs": ALLOWED}
    provider = ProjectNetworkProvider()
    provider.create(props)
    before = len(api.calls())
    outs = dict(provider.update(ref, props, {**props, "allowed_cidrs": list(reversed(ALLOWED))}).outs or {})
    assert sorted(outs["allowed_cidrs"]) == sorted(ALLOWED)
    assert [c.method for c in api.calls()[before:]] == ["GET"]


def test_doctor_passes_only_restrictions_supabase_has_applied(api: Any, ref: str) -> None:
    from envstack.ops import health
    from envstack.ops.stack_view import StackView, SupabaseState
    from envstack.settings import load_settings

    settings = {
        "envstack:app": "hermes",
        "envstack:database": json.dumps({"provider": "supabase"}),
        "supabase:organization": "hermes-security",
        "supabase:region": "eu-central-1",
        "supabase:networkRestrictions": json.dumps(ALLOWED),
    }
    supabase = SupabaseState(ref, api.url, api.org_slug, "eu-central-1", "micro", False)
    view = StackView("staging", load_settings("staging", settings), {}, (), supabase, ())

    def check() -> tuple[str, str]:
        (result,) = [c for c in health._network_checks(view) if c.name == "network restrictions"]
        return result.status, result.detail

    status, detail = check()
    assert status == "fail"
    assert "allows 0.0.0.0/0, ::/0, the stack wants" in detail
    api.configure(network_apply_seconds=600)
    with api.client() as client:
        body = {"dbAllowedCidrs": ALLOWED[:1], "dbAllowedCidrsV6": ALLOWED[1:]}
        assert client.post(f"/v1/projects/{ref}/network-restrictions/apply", json=body).is_success
    assert check() == (
        "fail",
        "203.0.113.0/24, 2001:db8::/32 stored, not yet applied by Supabase (the networks before still may connect)",
    )
    api.advance_clock(600)
    assert check() == ("pass", "only 203.0.113.0/24, 2001:db8::/32 may connect")
