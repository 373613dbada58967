"""The proof that an object the stack finds by name is one the stack made.

A ``claim`` is a secret the stack records (a generated secret, encrypted in the state) before
it makes anything that needs it. An object the stack makes carries ``tag(claim, subject)``, an
HMAC that only the holder of the claim can write, where the API or the server keeps free text
for it (an API key's description, a role's comment). A name can be taken by anyone; the tag
cannot. This module holds no provider: state stores providers by module path, and nothing here
is one.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from pulumi.dynamic import CheckFailure

from providers.unknowns import is_unknown

MIN_CLAIM = 16


def tag(claim: str, subject: str) -> str:
    """What the text of an object the holder of ``claim`` made ends with (``subject`` names the object)."""
    digest = hmac.new(claim.encode(), subject.encode(), hashlib.sha256).hexdigest()
    return f"[envstack {digest[:32]}]"


def carries(text: str | None, claim: str | None, subject: str) -> bool:
    """Whether ``text`` (a description, a comment) ends with the claim's tag for ``subject``."""
    return bool(claim and text and text.endswith(tag(claim, subject)))


def check_claim(news: dict[str, Any]) -> list[CheckFailure]:
    claim = news.get("claim")
    if is_unknown(claim) or (isinstance(claim, str) and len(claim) >= MIN_CLAIM):
        return []
    return [CheckFailure("claim", f"a secret of at least {MIN_CLAIM} characters is required")]
