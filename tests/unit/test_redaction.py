"""Secrets masked in what they look like when an error message quotes them."""

from __future__ import annotations

import json
import secrets

from envstack.redaction import MASK, redact


def test_tokens_of_every_service_are_masked_by_their_shape() -> None:
    tokens = [
        "sbp_" + secrets.token_hex(20),
        "sbp_oauth_" + secrets.token_hex(20),  # Supabase's OAuth access tokens
        "ghs_" + secrets.token_hex(18),  # a GitHub Actions job's token
        "github_pat_" + secrets.token_hex(30),
    ]
    said = redact(" ".join(f"token={t}," for t in tokens))
    for token in tokens:
        assert token not in said
        assert token[-8:] not in said


def test_a_known_secret_is_masked_escaped_for_json_and_quoted_as_bytes() -> None:
    """A token pasted with its line break reaches httpx, which refuses it quoting its bytes."""
    token = secrets.token_urlsafe(12) + "\t" + secrets.token_urlsafe(12) + "\n"  # escaped inside, not only at the end
    password = secrets.token_urlsafe(12) + '"quoted\\'
    said = redact(
        f"Illegal header value {(b'Bearer ' + token.encode())!r}; body {json.dumps({'p': password})}",
        [token, password],
    )
    for part in token.split():
        assert part not in said
    assert secrets_parts(password) not in said
    assert said.count(MASK) == 2, said


def secrets_parts(password: str) -> str:
    return password.split('"')[0]
