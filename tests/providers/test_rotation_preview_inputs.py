"""The rotation providers in a preview, with the unknowns the engine sends while the project
itself is being updated (a postgres rotation, say): nothing shows as replaced, and nothing
shows as changed that will not change."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import rpc

from providers.postgres_login_roles import LoginRolesProvider
from providers.supabase_api_keys import ApiKeyRetirementProvider, SupabaseApiKeysProvider
from providers.supabase_signing_keys import SigningKeyRotationProvider
from tests.providers.test_preview_inputs import as_the_engine_sends

API = "http://127.0.0.1:9"
REF = "abcdefghijklmnopqrst"


def test_an_unknown_ref_is_the_same_project() -> None:
    keys = {"management_api": API, "ref": REF, "prefix": "envstack_staging", "rotation": 2, "claim": "c" * 32}
    news = as_the_engine_sends({**keys, "ref": rpc.UNKNOWN})
    provider = SupabaseApiKeysProvider()
    assert provider.check({}, news).failures == []
    diff = provider.diff(f"{REF}/envstack_staging", keys, news)
    assert (diff.changes, diff.replaces) == (False, [])

    rotation = {
        "management_api": API,
        "ref": REF,
        "rotation": 1,
        "algorithm": "ES256",
        "standby_seconds": 1200.0,
        "revoke_after_seconds": None,
    }
    signing = SigningKeyRotationProvider()
    news = as_the_engine_sends({**rotation, "ref": rpc.UNKNOWN})
    assert signing.check({}, news).failures == []
    diff = signing.diff(REF, {**rotation, "completed": 1, "phase": "idle"}, news)
    assert (diff.changes, diff.replaces) == (False, [])

    retirement = {"management_api": API, "ref": REF, "key_ids": ["k1"], "grace_seconds": 900.0, "hold": None}
    olds: dict[str, Any] = {**retirement, "pending": {}, "retired": ["k1"]}
    assert (
        not ApiKeyRetirementProvider().diff("r", olds, as_the_engine_sends({**retirement, "ref": rpc.UNKNOWN})).changes
    )
    assert (
        ApiKeyRetirementProvider().diff("r", olds, as_the_engine_sends({**retirement, "key_ids": rpc.UNKNOWN})).changes
    )


def test_a_new_admin_url_updates_the_roles_without_replacing_them() -> None:
    roles = {
        "admin_url": "postgresql://postgres:old@127.0.0.1:5432/postgres",
        "group": "hermes_app",
        "access": "read_write",
        "grants_version": "v1",
        "claim": "c" * 32,
        "rotation": 0,
    }
    news = as_the_engine_sends({**roles, "admin_url": rpc.UNKNOWN})
    provider = LoginRolesProvider()
    assert provider.check({}, news).failures == []
    diff = provider.diff("hermes_app", {**roles, "active": "hermes_app_a", "password": "x"}, news)
    assert (diff.changes, diff.replaces) == (True, [])
