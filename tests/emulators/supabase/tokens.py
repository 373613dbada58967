"""Secrets a Supabase project hands out: its JWT secret, the legacy ``anon`` and
``service_role`` keys (HS256 JWTs signed with that secret), publishable and secret API
keys, and the public halves of JWT signing keys.

Shapes follow the recorded real responses (tests/reference/fixtures/supabase-management-recorded/
GET_v1_projects___PROJECT_REF___api_keys, …_postgrest): the JWT secret is 64 random bytes
in base64 (88 characters); ``hash`` is 43 characters of unpadded base64url (a SHA-256);
an unrevealed secret key shows its prefix followed by 26 middle dots, which is the length
of the rest of a ``sb_secret_`` + 22 + ``_`` + 8 character key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

LEGACY_KEY_LIFETIME = 10 * 365 * 24 * 3600  # real legacy keys expire about ten years out
MASK = "\u00b7"  # the middle dot the API masks secret keys with
_MASKED_LENGTH = 26
_PREFIX_LENGTH = 5


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_jwt_secret() -> str:
    return base64.b64encode(secrets.token_bytes(64)).decode()


def sign_hs256(claims: dict[str, Any], secret: str) -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def verify_hs256(token: str, secret: str) -> dict[str, Any]:
    """The claims of a token signed with ``secret``; ValueError when the signature is wrong."""
    header, payload, signature = token.split(".")
    expected = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64url_decode(signature)):
        raise ValueError("bad signature")
    if json.loads(_b64url_decode(header)).get("alg") != "HS256":
        raise ValueError("not an HS256 token")
    claims: dict[str, Any] = json.loads(_b64url_decode(payload))
    return claims


def legacy_key(ref: str, role: str, jwt_secret: str, issued_at: int | None = None) -> str:
    """The ``anon`` or ``service_role`` key of a project, with the claims real keys carry."""
    iat = int(time.time()) if issued_at is None else issued_at
    claims = {"iss": "supabase", "ref": ref, "role": role, "iat": iat, "exp": iat + LEGACY_KEY_LIFETIME}
    return sign_hs256(claims, jwt_secret)


def new_api_key(kind: str) -> str:
    """``sb_publishable_…`` or ``sb_secret_…``: 22 random characters, ``_``, an 8-character check."""
    body = _b64url(secrets.token_bytes(16))[:22]
    check = _b64url(hashlib.sha256(body.encode()).digest())[:8]
    return f"sb_{kind}_{body}_{check}"


def key_hash(api_key: str) -> str:
    return _b64url(hashlib.sha256(api_key.encode()).digest())


def key_prefix(api_key: str) -> str:
    """What the API shows of a key: ``sb_<kind>_`` and its first characters (legacy: 5 of the signature)."""
    if api_key.startswith("sb_"):
        kind_end = api_key.index("_", 3) + 1
        return api_key[: kind_end + _PREFIX_LENGTH]
    return api_key.rsplit(".", 1)[-1][:_PREFIX_LENGTH]


def masked(api_key: str) -> str:
    return key_prefix(api_key) + MASK * _MASKED_LENGTH


def public_jwk(algorithm: str, kid: str) -> dict[str, Any] | None:
    """A fresh key pair's public JWK (None for HS256, which has no public half)."""
    return new_key_pair(algorithm, kid)[0]


def new_key_pair(algorithm: str, kid: str) -> tuple[dict[str, Any] | None, Any]:
    """(public JWK, private key) of a new signing key. The private half stays inside the
    emulator, where its Auth stand-in signs user tokens with it (Supabase never lets it out
    either); for HS256 it is a random shared secret and there is no public JWK."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    common = {"kid": kid, "use": "sig", "key_ops": ["verify"], "ext": True}
    if algorithm == "ES256":
        private_ec = ec.generate_private_key(ec.SECP256R1())
        numbers = private_ec.public_key().public_numbers()
        jwk = {
            **common,
            "kty": "EC",
            "alg": "ES256",
            "crv": "P-256",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
        }
        return jwk, private_ec
    if algorithm == "RS256":
        private_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        rsa_numbers = private_rsa.public_key().public_numbers()
        jwk = {
            **common,
            "kty": "RSA",
            "alg": "RS256",
            "n": _b64url(rsa_numbers.n.to_bytes((rsa_numbers.n.bit_length() + 7) // 8, "big")),
            "e": "AQAB",
        }
        return jwk, private_rsa
    if algorithm == "EdDSA":
        private_ed = ed25519.Ed25519PrivateKey.generate()
        raw = private_ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {**common, "kty": "OKP", "alg": "EdDSA", "crv": "Ed25519", "x": _b64url(raw)}, private_ed
    return None, base64.b64encode(secrets.token_bytes(32)).decode()


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, claims, signing input, signature) of a compact JWT; ValueError when malformed."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_b64url_decode(header_b64))
        claims = json.loads(_b64url_decode(payload_b64))
        signature = _b64url_decode(signature_b64)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"malformed token: {exc}") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("malformed token")
    return header, claims, f"{header_b64}.{payload_b64}".encode(), signature


def token_header(token: str) -> dict[str, Any]:
    return _segments(token)[0]


def sign_jwt(claims: dict[str, Any], algorithm: str, private: Any, kid: str | None = None) -> str:
    """A compact JWT signed with ``private`` (a shared secret for HS256, else a private key)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    header: dict[str, Any] = {"alg": algorithm, "typ": "JWT", **({"kid": kid} if kid else {})}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    ).encode()
    if algorithm == "HS256":
        signature = hmac.new(str(private).encode(), signing_input, hashlib.sha256).digest()
    elif algorithm == "ES256":
        r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif algorithm == "RS256":
        signature = private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif algorithm == "EdDSA":
        signature = private.sign(signing_input)
    else:
        raise ValueError(f"unknown algorithm {algorithm}")
    return f"{signing_input.decode()}.{_b64url(signature)}"


def verify_jwt(token: str, *, secret: str | None = None, jwk: dict[str, Any] | None = None) -> dict[str, Any]:
    """The claims of ``token`` if its signature checks out with the shared ``secret`` (HS256)
    or the public ``jwk``; ValueError otherwise. Expiry is the caller's to check."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    header, claims, signing_input, signature = _segments(token)
    algorithm = header.get("alg")
    if secret is not None:
        if algorithm != "HS256":
            raise ValueError("not an HS256 token")
        expected = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, signature):
            raise ValueError("bad signature")
        return claims
    if jwk is None or jwk.get("alg") != algorithm:
        raise ValueError("no key for this token's algorithm")

    def number(name: str) -> int:
        return int.from_bytes(_b64url_decode(str(jwk[name])), "big")

    try:
        if algorithm == "ES256":
            public_ec = ec.EllipticCurvePublicNumbers(number("x"), number("y"), ec.SECP256R1()).public_key()
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            public_ec.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        elif algorithm == "RS256":
            public_rsa = rsa.RSAPublicNumbers(number("e"), number("n")).public_key()
            public_rsa.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == "EdDSA":
            ed25519.Ed25519PublicKey.from_public_bytes(_b64url_decode(str(jwk["x"]))).verify(signature, signing_input)
        else:
            raise ValueError(f"unknown algorithm {algorithm}")
    except InvalidSignature:
        raise ValueError("bad signature") from None
    return claims
