"""A recording pass-through in front of emulate's GitHub service.

emulate's GitHub is close enough to the real REST API for pull requests and issue
comments that nothing is reshaped, with two exceptions: emulate accepts any bearer token
as its first user (core ``authMiddleware`` fallback), where GitHub answers 401 "Bad
credentials", and its answers carry its own address in URLs and Link headers, which are
rewritten to this layer's so a client that follows them stays recorded.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Any

from tests.emulators.common.server import Drop, EmulatorApp, Request, Response
from tests.emulators.vercel.upstream import Upstream

_PASSED_HEADERS = ("link", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "location")


class GitHubApp(EmulatorApp):
    service = "github"

    def __init__(self, upstream: Upstream, login: str) -> None:
        super().__init__(None)
        self.upstream = upstream
        self.login = login
        self.public_url = ""  # set once the server listens
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def add_token(self, tenant: str) -> str:
        token = f"ghp_{secrets.token_urlsafe(27)}"
        with self._lock:
            self._tokens[token] = tenant
        return token

    def forget_token(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def tenant_of(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in {"bearer", "token"}:
            return None
        with self._lock:
            return self._tokens.get(token.strip())

    def handle(self, request: Request) -> Response | Drop:
        tenant = None
        if request.headers.get("authorization"):
            tenant = self.tenant_of(request)
            if tenant is None:
                return Response(
                    401,
                    {
                        "message": "Bad credentials",
                        "documentation_url": "https://docs.github.com/rest",
                        "status": "401",
                    },
                )
        headers = {"Content-Type": request.headers.get("content-type", "application/json")} if request.body else {}
        for name in ("accept", "x-github-api-version"):
            if name in request.headers:
                headers[name] = request.headers[name]
        answer = self.upstream.request(
            request.method, request.path, params=dict(request.query), content=request.body or None, headers=headers
        )
        passed = {name: self._rewrite(value) for name, value in answer.headers.items() if name in _PASSED_HEADERS}
        body = answer.body
        if body is not None and not isinstance(body, bytes):
            body = _rewrite_json(body, self._rewrite)
        return Response(answer.status, body, passed, tenant=tenant)

    def _rewrite(self, text: str) -> str:
        if not self.public_url:
            return text
        base = self.upstream.base_url
        return text.replace(base, self.public_url).replace(base.replace("127.0.0.1", "localhost"), self.public_url)


def _rewrite_json(node: Any, rewrite: Callable[[str], str]) -> Any:
    if isinstance(node, str):
        return rewrite(node)
    if isinstance(node, list):
        return [_rewrite_json(item, rewrite) for item in node]
    if isinstance(node, dict):
        return {key: _rewrite_json(value, rewrite) for key, value in node.items()}
    return node
