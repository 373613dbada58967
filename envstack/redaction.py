"""Masking of secrets in text that may reach a log, an exception or the terminal.

Two complementary mechanisms: values we know are secret (passed explicitly), and shapes
that are secret wherever they appear (URL passwords, bearer tokens, Supabase personal
access tokens, JWTs, API keys), so a secret we were never told about is still masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

# Order matters: URL userinfo first so the password inside a DSN is caught even when it
# happens to look like something else.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host  ->  scheme://user:***@host
    (re.compile(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*:)[^@\s/]+(?=@)"), r"\g<pre>" + MASK),
    # libpq key/value form: password=secret
    (re.compile(r"(?i)(?P<pre>\bpassword\s*=\s*)('[^']*'|[^\s&]+)"), r"\g<pre>" + MASK),
    (re.compile(r"(?i)(?P<pre>\bbearer\s+)[A-Za-z0-9._~+/=-]+"), r"\g<pre>" + MASK),
    (re.compile(r"\bsbp_[A-Za-z0-9]{8,}"), MASK),
    (re.compile(r"\bsb_(?:secret|publishable)_[A-Za-z0-9_-]{8,}"), MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), MASK),
)

# Very short values would mask ordinary words; secrets we generate are far longer.
_MIN_SECRET_LENGTH = 6


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` with every known secret value and every secret-shaped token masked."""
    known = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
