"""The API tokens, read from the environment and nowhere else.

Settings, inputs and state never hold a token, so none can reach a state file or a preview.
Each service has one variable; ``*_token()`` fails with what to do when it is unset, and
``present`` serves the checks that skip what they cannot see without one.
"""

from __future__ import annotations

import os

from envstack.errors import CredentialError

SUPABASE = "SUPABASE_ACCESS_TOKEN"
VERCEL = "VERCEL_TOKEN"
GITHUB = "GITHUB_TOKEN"
# Vercel's Protection Bypass for Automation: lets `doctor` reach a protected deployment's health route.
VERCEL_BYPASS = "VERCEL_AUTOMATION_BYPASS_SECRET"

_WHAT_TO_DO = {
    SUPABASE: "export a Supabase access token to manage projects",
    VERCEL: "export a Vercel access token with access to the team",
    GITHUB: "the workflow passes the job's token, or export one",
    VERCEL_BYPASS: "export the project's Protection Bypass for Automation secret",
}


def present(variable: str) -> str | None:
    """The token, or None when it is not set. No token holds white space: a secret pasted with
    its line break would be refused by the HTTP layer as an illegal header value (and retried as
    if the network had failed), so the edges are trimmed."""
    return (os.environ.get(variable) or "").strip() or None


def required(variable: str) -> str:
    token = present(variable)
    if token is None:
        raise CredentialError(f"{variable} is not set: {_WHAT_TO_DO[variable]}")
    return token


def supabase_token() -> str:
    return required(SUPABASE)


def vercel_token() -> str:
    return required(VERCEL)


def github_token() -> str:
    return required(GITHUB)
