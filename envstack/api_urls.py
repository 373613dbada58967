"""One spelling per API base URL, so where an API lives never looks like a change of what exists.

``https://API.supabase.com/`` and ``https://api.supabase.com`` are the same API: the settings
store the normalized form, and providers compare stored URLs through ``same_api`` so state
written before normalization (or by hand) does not diff either.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

# Where the real services live: the defaults of the settings, the clients and the providers.
SUPABASE_API_URL = "https://api.supabase.com"
VERCEL_API_URL = "https://api.vercel.com"
GITHUB_API_URL = "https://api.github.com"


def normalize_api_url(url: str) -> str:
    """Scheme and host in lowercase, no trailing slash, no query or fragment."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, "", ""))


def same_api(a: object, b: object) -> bool:
    """Do two stored base URLs name the same API? (Missing values equal only each other.)"""
    if not isinstance(a, str) or not isinstance(b, str):
        return a == b
    return normalize_api_url(a) == normalize_api_url(b)
