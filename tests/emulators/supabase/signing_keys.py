"""JWT signing keys of a project and the state rules the API enforces on them.

Sources: the spec (tests/reference/specs/supabase-management-api.json: operations under
/v1/projects/{ref}/config/auth/signing-keys, SigningKeyResponse, CreateSigningKeyBody,
UpdateSigningKeyBody) and supabase/supabase apps/docs/content/guides/auth/signing-keys.mdx
("Lifetime of a signing key", the FAQ on the 5 minute wait and on the legacy secret).

Rules implemented:
1. ``POST …/signing-keys`` creates a key in ``standby`` (the default) or directly
   ``in_use``; ``POST …/signing-keys/legacy`` imports the project's legacy JWT secret as
   an HS256 key ``in_use`` (once; a second import is refused).
2. Exactly one key is ``in_use`` once any is: making a ``standby`` key ``in_use``
   ("rotate") moves the current one to ``previously_used``, still trusted.
3. Allowed PATCH transitions: standby -> in_use | previously_used;
   previously_used -> revoked | standby; revoked -> standby. Anything else (e.g. the
   ``in_use`` key straight to ``revoked``, or ``revoked`` back to ``in_use`` without going
   through standby) is refused with 400. "At any point you can move a key from the
   previously used or revoked states back to being a standby key, and rotate to it."
4. Revoking the imported legacy secret requires the legacy API keys (anon,
   service_role, which are JWTs signed with it) to be disabled first
   (``PUT …/api-keys/legacy?enabled=false``); the legacy secret is never deleted.
5. ``DELETE`` only removes a ``revoked`` key ("Only possible if the key has been in
   revoked status for a while" [spec]).
6. State changes (PATCH with a new status, DELETE) are throttled: "most actions that
   change the state of a JWT signing key are throttled for approximately 5 minutes"
   [docs]. The interval is 300 seconds of the local API's clock (tests advance the clock
   rather than turn the rule off); a change too soon is answered 429, the status the spec
   documents for these operations, with the seconds left in ``X-RateLimit-Reset`` (how
   the API words every other limit; what it sends here is not documented).

Every refusal is ``{"message": …}`` like the API's other errors; 400 is not in the spec
for these operations (the spec documents only 401/403/429) but is what the API answers
for a request it cannot honour.
"""

from __future__ import annotations

import uuid

from tests.emulators.supabase import tokens
from tests.emulators.supabase.projects import Project, SigningKey, now_iso

TRANSITIONS: dict[str, frozenset[str]] = {
    "standby": frozenset({"in_use", "previously_used"}),
    "previously_used": frozenset({"revoked", "standby"}),
    "revoked": frozenset({"standby"}),
    "in_use": frozenset(),
}


class SigningKeyRefused(Exception):
    def __init__(self, status: int, message: str, retry_in: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_in = retry_in


def _rotate_to(project: Project, key: SigningKey) -> None:
    for other in project.signing_keys.values():
        if other.status == "in_use" and other.id != key.id:
            other.status, other.updated_at = "previously_used", now_iso()
    key.status, key.updated_at = "in_use", now_iso()


def _throttle(project: Project, interval: float, now: float) -> None:
    if project.last_signing_change is None or interval <= 0:
        return
    wait = project.last_signing_change + interval - now
    if wait > 0:
        seconds = int(wait) + 1
        raise SigningKeyRefused(
            429, f"Signing keys were changed too recently; try again in {seconds} seconds.", retry_in=seconds
        )


def create(project: Project, algorithm: str, status: str = "standby") -> SigningKey:
    key_id = str(uuid.uuid4())
    public, private = tokens.new_key_pair(algorithm, key_id)
    key = SigningKey(id=key_id, algorithm=algorithm, status="standby", public_jwk=public, private=private)
    project.signing_keys[key.id] = key
    if status == "in_use":
        _rotate_to(project, key)
    return key


def trusted(project: Project, key: SigningKey) -> bool:
    """Whether the project's APIs accept tokens this key signed: every key but a revoked one
    (a standby key is already published in the JWKS)."""
    return project.signing_keys.get(key.id) is key and key.status != "revoked"


def signing_key(project: Project) -> SigningKey | None:
    """The key Auth signs new tokens with; None while the legacy secret was never imported
    (Auth then signs with the project's JWT secret, without a key id)."""
    return next((k for k in project.signing_keys.values() if k.status == "in_use"), None)


def legacy(project: Project) -> SigningKey | None:
    return next((k for k in project.signing_keys.values() if k.legacy), None)


def import_legacy(project: Project) -> SigningKey:
    if legacy(project) is not None:
        raise SigningKeyRefused(400, "The legacy JWT secret has already been imported as a signing key.")
    key = SigningKey(id=str(uuid.uuid4()), algorithm="HS256", status="standby", public_jwk=None, legacy=True)
    project.signing_keys[key.id] = key
    _rotate_to(project, key)
    return key


def change_status(project: Project, key: SigningKey, status: str, *, interval: float, now: float) -> SigningKey:
    if status == key.status:
        return key
    if status not in TRANSITIONS[key.status]:
        raise SigningKeyRefused(400, f"A signing key cannot move from {key.status} to {status}.")
    if key.legacy and status == "revoked" and project.legacy_keys_enabled:
        raise SigningKeyRefused(
            400, "Disable the legacy anon and service_role API keys before revoking the legacy JWT secret."
        )
    _throttle(project, interval, now)
    if status == "in_use":
        _rotate_to(project, key)
    else:
        key.status, key.updated_at = status, now_iso()
    project.last_signing_change = now
    return key


def remove(project: Project, key: SigningKey, *, interval: float, now: float) -> SigningKey:
    if key.legacy:
        raise SigningKeyRefused(400, "The legacy JWT secret cannot be deleted.")
    if key.status != "revoked":
        raise SigningKeyRefused(400, "Only a revoked signing key can be deleted.")
    _throttle(project, interval, now)
    del project.signing_keys[key.id]
    project.last_signing_change = now
    return key
