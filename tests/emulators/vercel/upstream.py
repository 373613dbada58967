"""Requests from the fidelity layer (and the fixtures' helpers) to emulate itself.

emulate maps any bearer token it does not know to its first seeded user, and it answers
403 once one token has made 5000 requests in an hour (GitHub's budget, applied to every
service; core ``createServer``). The upstream token therefore changes every
``ROTATE_EVERY`` requests, so a long benchmark never meets that wall.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from envstack.db.pgserver import require_loopback

ROTATE_EVERY = 2000


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Upstream:
    def __init__(self, base_url: str, owner_token: str) -> None:
        host = urlsplit(base_url).hostname or ""
        require_loopback(host)
        self.base_url = base_url.rstrip("/")
        self._owner_token = owner_token
        self._count = itertools.count()
        self._client = httpx.Client(base_url=self.base_url, timeout=30.0)
        self._lock = threading.Lock()

    def _token(self) -> str:
        with self._lock:
            turn = next(self._count) // ROTATE_EVERY
        return self._owner_token if turn == 0 else f"{self._owner_token}-{turn}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | list[str]] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        sent_headers = {"Authorization": f"Bearer {self._token()}", **(headers or {})}
        if json is not None:
            response = self._client.request(method, path, params=params, json=json, headers=sent_headers)
        else:
            response = self._client.request(method, path, params=params, content=content, headers=sent_headers)
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = response.content
        return Answer(response.status_code, body, dict(response.headers))

    def get(self, path: str, **params: str) -> Answer:
        return self.request("GET", path, params=params)

    def pages(self, path: str, key: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """Every item of a cursor-paginated list. emulate's ``until`` is inclusive, so the
        last item of a page comes again at the top of the next: items are told apart by id."""
        seen: set[str] = set()
        until: str | None = None
        while True:
            query = {**params, "limit": "100", **({"until": until} if until else {})}
            answer = self.request("GET", path, params=query)
            if not answer.ok:
                raise UpstreamError(answer)
            fresh = [item for item in answer.body[key] if item["id"] not in seen]
            for item in fresh:
                seen.add(item["id"])
                yield item
            following = answer.body["pagination"]["next"]
            if following is None or not fresh:
                return
            until = str(following)

    def close(self) -> None:
        self._client.close()


class UpstreamError(RuntimeError):
    def __init__(self, answer: Answer) -> None:
        super().__init__(f"emulate answered {answer.status}")
        self.answer = answer
