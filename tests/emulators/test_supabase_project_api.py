"""The stand-ins for a project's own Auth and Data API (project_api.py): what a rotated key does."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.emulators.supabase import tokens
from tests.emulators.supabase.testing import healthy_project


def keys_of(api: Any, ref: str) -> dict[str, str]:
    with api.client() as client:
        listed = client.get(f"/v1/projects/{ref}/api-keys", params={"reveal": "true"}).json()
    return {k["type"] if k["type"] != "legacy" else k["name"]: k["api_key"] for k in listed}


def sign_in(base: str, apikey: str) -> httpx.Response:
    return httpx.post(
        f"{base}/auth/v1/token",
        params={"grant_type": "password"},
        headers={"apikey": apikey},
        json={"email": "ada@example.com", "password": "any"},
    )


def user(base: str, apikey: str, token: str) -> httpx.Response:
    return httpx.get(f"{base}/auth/v1/user", headers={"apikey": apikey, "Authorization": f"Bearer {token}"})


def data(base: str, apikey: str, token: str | None = None) -> httpx.Response:
    headers = {"apikey": apikey, **({"Authorization": f"Bearer {token}"} if token else {})}
    return httpx.get(f"{base}/rest/v1/", headers=headers)


def test_tokens_follow_the_signing_key_in_use_and_a_revoked_key_stops_working(supabase_api: Any) -> None:
    with supabase_api.client() as client:
        ref = healthy_project(supabase_api, client, "auth")["ref"]
        signing = f"/v1/projects/{ref}/config/auth/signing-keys"
        base = supabase_api.project_api_url(ref)
        keys = keys_of(supabase_api, ref)
        publishable, secret_key = keys["publishable"], keys["secret"]

        assert sign_in(base, "sb_publishable_not_a_real_key_00000000").status_code == 401
        assert httpx.get(f"{base}/rest/v1/").json()["message"] == "No API key found in request"
        legacy_token = sign_in(base, publishable).json()["access_token"]
        assert "kid" not in tokens.token_header(legacy_token), "signed with the legacy JWT secret"
        assert user(base, publishable, legacy_token).json()["email"] == "ada@example.com"
        assert data(base, secret_key).json() == {"role": "service_role"}
        assert data(base, publishable, legacy_token).json() == {"role": "authenticated"}
        assert httpx.get(f"{base}/auth/v1/.well-known/jwks.json").json() == {"keys": []}

        legacy_id = client.post(f"{signing}/legacy").json()["id"]
        standby = client.post(signing, json={"algorithm": "ES256"}).json()
        jwks = httpx.get(f"{base}/auth/v1/.well-known/jwks.json")
        assert [k["kid"] for k in jwks.json()["keys"]] == [standby["id"]], "published before it signs"
        assert "max-age" in jwks.headers["cache-control"]
        assert tokens.token_header(sign_in(base, publishable).json()["access_token"])["kid"] == legacy_id

        assert client.patch(f"{signing}/{standby['id']}", json={"status": "in_use"}).status_code == 200
        supabase_api.advance_clock(300)  # Supabase throttles key changes for about five minutes
        new_token = sign_in(base, publishable).json()["access_token"]
        assert tokens.token_header(new_token) == {"alg": "ES256", "typ": "JWT", "kid": standby["id"]}
        assert tokens.verify_jwt(new_token, jwk=jwks.json()["keys"][0])["role"] == "authenticated"
        assert user(base, publishable, new_token).status_code == 200
        assert user(base, publishable, legacy_token).status_code == 200, "the previous key stays trusted"

        assert client.patch(f"{signing}/{legacy_id}", json={"status": "revoked"}).status_code == 400, (
            "legacy API keys must be disabled first"
        )
        assert client.put(f"/v1/projects/{ref}/api-keys/legacy", params={"enabled": "false"}).status_code == 200
        assert data(base, keys["anon"]).status_code == 401, "disabled legacy keys are refused"
        assert client.patch(f"{signing}/{legacy_id}", json={"status": "revoked"}).status_code == 200

    refused = user(base, publishable, legacy_token)
    assert (refused.status_code, refused.json()["error_code"]) == (403, "bad_jwt")
    assert data(base, publishable, legacy_token).json()["code"] == "PGRST301"
    project = supabase_api.project(ref)
    assert project is not None
    minted = tokens.sign_hs256({"sub": "x", "role": "authenticated", "exp": int(time.time()) + 60}, project.jwt_secret)
    assert user(base, publishable, minted).status_code == 403, "a fresh token from the revoked secret is refused"
    assert user(base, publishable, new_token).status_code == 200


def test_expired_tokens_and_deleted_keys_are_refused(supabase_api: Any) -> None:
    with supabase_api.client() as client:
        ref = healthy_project(supabase_api, client, "exp")["ref"]
        base = supabase_api.project_api_url(ref)
        assert client.patch(f"/v1/projects/{ref}/config/auth", json={"jwt_exp": 1}).status_code == 200
        keys = client.get(f"/v1/projects/{ref}/api-keys", params={"reveal": "true"}).json()
        publishable = next(k for k in keys if k["type"] == "publishable")
        signed_in = sign_in(base, publishable["api_key"]).json()
        assert signed_in["expires_in"] == 1, "tokens live as long as the Auth config's jwt_exp says"
        project = supabase_api.project(ref)
        assert project is not None
        expired = tokens.sign_hs256({"sub": "x", "exp": int(time.time()) - 1}, project.jwt_secret)
        assert "expired" in user(base, publishable["api_key"], expired).json()["msg"]
        assert client.delete(f"/v1/projects/{ref}/api-keys/{publishable['id']}").status_code == 200
    assert data(base, publishable["api_key"]).json()["message"] == "Invalid API key"
