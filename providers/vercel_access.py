"""How the Vercel providers reach Vercel: the token, the client, the per-project write lock.

The token comes from ``VERCEL_TOKEN`` in the environment, never from an input, so it never
reaches the state. Tests point it at the local Vercel API (``tests/emulators/vercel``); the provider
tests replace ``open_client`` only to keep a copy of the request bodies they send.

The write lock is named by the API (normalized) and the project id alone: project ids are
unique across Vercel, so a stack that names its team by slug and one that names it by id
still take turns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from envstack.clients.tokens import vercel_token

if TYPE_CHECKING:
    from envstack.clients.vercel import VercelClient


def open_client(api_url: str, team: str | None) -> VercelClient:
    from envstack.clients.vercel import VercelClient

    return VercelClient(base_url=api_url, token=vercel_token(), team=team or None)


@contextlib.contextmanager
def project_write_lock(api_url: str, project_id: str) -> Iterator[None]:
    """Serialize env writes to one Vercel project across threads and processes on this machine."""
    import pulumi

    from envstack.api_urls import normalize_api_url
    from envstack.clients.write_lock import exclusive

    def waiting() -> None:
        pulumi.log.info(f"Vercel project {project_id}: waiting for another run writing its variables")

    with exclusive(("vercel-env", normalize_api_url(api_url), project_id), on_wait=waiting):
        yield
