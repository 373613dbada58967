"""Masking of secrets in text that may reach a log, an exception or the terminal.

Two complementary mechanisms: values we know are secret (passed explicitly), and shapes
that are secret wherever they appear (URL passwords, bearer tokens, Supabase personal
access tokens, JWTs, API keys), so a secret we were never told about is still masked.
"""

from __future__ import annotations

import json
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
    # Supabase personal access tokens, and its OAuth ones (sbp_oauth_…).
    (re.compile(r"\bsbp_(?:oauth_)?[A-Za-z0-9]{8,}"), MASK),
    # GitHub's tokens: an installation's (ghs_), a person's (ghp_, github_pat_), OAuth (gho_, ghu_), refresh (ghr_).
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), MASK),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), MASK),
    (re.compile(r"\bsb_(?:secret|publishable)_[A-Za-z0-9_-]{8,}"), MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), MASK),
)

# Very short values would mask ordinary words; secrets we generate are far longer.
_MIN_SECRET_LENGTH = 6


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` with every known secret value and every secret-shaped token masked."""
    known = {s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH}
    # As an error message may quote it too: escaped for JSON, or as Python's repr of its bytes
    # (httpx's "Illegal header value b'…\\n'" for a token pasted with its newline).
    known |= {form for s in known for form in _quoted_forms(s) if len(form) >= _MIN_SECRET_LENGTH}
    for secret in sorted(known, key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _quoted_forms(secret: str) -> set[str]:
    forms = {json.dumps(secret)[1:-1], repr(secret)[1:-1], repr(secret.encode())[2:-1]}
    # A value with its line break stripped is how the rest of an error line shows it.
    forms |= {secret.strip()}
    return forms - {secret}
