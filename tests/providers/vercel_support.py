"""What the Vercel provider tests share: the providers pointed at the local Vercel API
(``vercel_api``), a record of the request bodies they sent, and hand edits made through it.

The local API records every call (method, path, query, status) but never a body; a test that
must see what a provider put in one (the ids of a batch delete, the fields of a PATCH, a
redeploy's ``meta``) reads ``Wire.sent``. The requests still go to the local API: the wire
only keeps a copy of each body on the way.
"""

from __future__ import annotations

import json
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from envstack.clients import tokens
from envstack.clients.tls import client_context
from envstack.clients.vercel import VercelClient
from providers import vercel_access
from providers.vercel_env import VercelEnvironmentVariablesProvider
from tests.emulators.common.recording import Call
from tests.emulators.vercel.envrules import EnvVar
from tests.emulators.vercel.fixtures import VercelApi

ENV_LIST = r"/v10/projects/[^/]+/env"  # list (GET) and batch create (POST)
ENV_ONE = r"/v9/projects/[^/]+/env/[^/]+"  # edit (PATCH) and remove one (DELETE)
ENV_BATCH = r"/v1/projects/[^/]+/env"  # batch delete (DELETE)
ENV_DECRYPTED = r"/v1/projects/[^/]+/env/[^/]+"  # one variable with its value (GET)
REDEPLOYS = r"/v13/deployments"


@dataclass(frozen=True)
class Sent:
    """One request a provider sent, body included."""

    method: str
    path: str
    params: dict[str, str]
    body: Any


class _Recording(httpx.BaseTransport):
    def __init__(self, sent: list[Sent]) -> None:
        self._sent = sent
        self._http = httpx.HTTPTransport(verify=client_context())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()
        body = json.loads(content) if content else None
        self._sent.append(Sent(request.method, request.url.path, dict(request.url.params), body))
        return self._http.handle_request(request)

    def close(self) -> None:
        self._http.close()


class Wire:
    """The providers' requests to the local API, as sent (``vercel_access.open_client`` with
    a recording transport; the token still comes from VERCEL_TOKEN)."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def open_client(self, api_url: str, team: str | None) -> VercelClient:
        return VercelClient(
            base_url=api_url, token=tokens.vercel_token(), team=team or None, transport=_Recording(self.sent)
        )

    def bodies(self, method: str, pattern: str) -> list[Any]:
        return [s.body for s in self.sent if s.method == method and re.fullmatch(pattern, s.path)]


def reach(vercel_api: VercelApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Wire:
    """Point the Vercel providers at the local API with this test's token; their write locks
    live in the test's own directory."""
    monkeypatch.setenv("VERCEL_TOKEN", vercel_api.token)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    wire = Wire()
    monkeypatch.setattr(vercel_access, "open_client", wire.open_client)
    return wire


class Calls:
    """The calls the local API saw from some point on (``mark`` moves that point)."""

    def __init__(self, api: VercelApi) -> None:
        self.api = api
        self._from = len(api.calls())

    def mark(self) -> None:
        self._from = len(self.api.calls())

    def all(self) -> list[Call]:
        return self.api.calls()[self._from :]

    def matching(self, method: str, pattern: str) -> list[Call]:
        return [c for c in self.all() if c.method == method and re.fullmatch(pattern, c.path)]

    def writes(self) -> list[Call]:
        return [c for c in self.all() if c.is_write]

    def methods(self) -> list[str]:
        return [c.method for c in self.all()]


def edit_by_hand(api: VercelApi, project_id: str, env_id: str, **fields: Any) -> dict[str, Any]:
    """Change a variable as a person would in the dashboard (a PATCH through the local API)."""
    with api.http() as http:
        answer = http.patch(f"/v9/projects/{project_id}/env/{env_id}", json=fields)
    assert answer.status_code == 200, answer.text
    edited: dict[str, Any] = answer.json()
    return edited


def delete_by_hand(api: VercelApi, project_id: str, *env_ids: str) -> None:
    """Delete variables as a person would (one batch delete through the local API)."""
    with api.http() as http:
        answer = http.request("DELETE", f"/v1/projects/{project_id}/env", json={"ids": list(env_ids)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["deleted"] == len(env_ids)


def after(milliseconds: float) -> None:
    """Return once the clock has passed ``milliseconds`` (since the epoch), so a change made
    now gets a later ``updatedAt`` than one stamped then (the API counts in milliseconds)."""
    deadline = time.monotonic() + 5
    while time.time() * 1000 <= milliseconds:
        assert time.monotonic() < deadline, "the clock did not move"


# -- the variables provider ----------------------------------------------------------------------

COMMENT = "managed by envstack"


def values(n: int, prefix: str = "VAR") -> dict[str, str]:
    return {f"{prefix}_{i:02d}": secrets.token_urlsafe(18) for i in range(n)}


def env_inputs(
    api: VercelApi,
    project_id: str,
    variables: dict[str, str],
    *,
    target: str = "preview",
    public_keys: list[str] | None = None,
    git_branch: str | None = None,
    adopt: bool = False,
    comment: str | None = COMMENT,
    team: str | None = None,
) -> dict[str, Any]:
    return {
        "api_url": api.url,
        "team": team or api.team,
        "project_id": project_id,
        "target": target,
        "git_branch": git_branch,
        "variables": dict(variables),
        "public_keys": sorted(public_keys or []),
        "adopt": adopt,
        "comment": comment,
    }


def created(provider: VercelEnvironmentVariablesProvider, props: dict[str, Any]) -> dict[str, Any]:
    checked = provider.check({}, props)
    assert checked.failures == []
    result = provider.create(props)
    assert result.outs is not None
    return dict(result.outs)


def updated(provider: VercelEnvironmentVariablesProvider, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
    result = provider.update("id", olds, news)
    assert result.outs is not None
    return dict(result.outs)


def live(api: VercelApi, project_id: str) -> dict[str, EnvVar]:
    """The project's variables by key, with their real values (sensitive ones included)."""
    return {env.key: env for env in api.env_vars(project_id)}
