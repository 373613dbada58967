"""The one HTTP layer every API client uses: timeouts, retries with backoff, redaction.

Transport concerns live here and nowhere else; the API clients beside this module only
say which call to make and what its answer means.

Retry rules:
- 429 means nothing was done, so any method is retried.
- Any 5xx, a connection error or a read timeout may come after a write happened: a gateway
  502 or 503 can be sent after the server behind it created the object. They are retried for
  reads, PUTs and deletes, and for POST/PATCH only when the caller says repeating is harmless
  (``retry_unsafe``). A create is never repeated here: ``create_once`` looks the object up
  by its natural key first, and creates again only when it is not there.
- Anything else an API documents as "rejected, try again" (Vercel's 400 "ongoing env update
  is already happening") is named by the client through ``retry_when``: such an answer
  means nothing was done, so it is retried whatever the method.
- A status the caller names in ``not_yet`` is raised at once, without a retry: the caller
  polls it with a deadline of its own (a new project's pooler settings answer 500 until its
  pooler is provisioned, which can outlast this layer's attempts).
- Refusals (429 and ``retry_when``) are retried until ``max_wait`` seconds of waiting have
  passed, however many it takes: another writer may hold a project for a while. Failures
  (5xx, lost connections) also stop after ``attempts`` tries. A refusal whose stated wait
  is longer than what is left of ``max_wait`` fails at once, carrying that wait
  (``ApiError.retry_after``): a caller that can come back later (a throttled signing-key
  change) does so instead of sleeping.
Waits grow exponentially with full jitter, and honour ``Retry-After``,
``X-RateLimit-Reset`` and Vercel's ``error.limit.reset`` when the server gives them.

How long to wait for any one answer is ``ENVSTACK_HTTP_TIMEOUT`` seconds (default 30), read
when a client is made: from the environment, never a resource input, so changing it changes
no state. A slow link may need more; tests that provoke read timeouts need less.
"""

from __future__ import annotations

import datetime
import email.utils
import logging
import os
import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import httpx

from envstack.clients.tls import client_context
from envstack.errors import ApiError, NotFound, SettingsError
from envstack.redaction import redact

log = logging.getLogger("envstack.http")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_RETRY_IF_IDEMPOTENT = frozenset({500, 502, 503, 504})
TIMEOUT_VARIABLE = "ENVSTACK_HTTP_TIMEOUT"
DEFAULT_TIMEOUT = 30.0


def seconds_setting(variable: str, default: float, *, zero: bool = False) -> float:
    """Seconds from the environment variable ``variable`` (``default`` when unset): more than
    0, or with ``zero`` 0 or more; anything else is a SettingsError naming the variable."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not (seconds > 0 or (zero and seconds == 0)):
        what = "a number of seconds, 0 or more" if zero else "a positive number of seconds"
        raise SettingsError(f"{variable} must be {what}, not {raw!r}")
    return seconds


def request_timeout() -> float:
    """Seconds to wait for one answer: ``ENVSTACK_HTTP_TIMEOUT`` when set, else the default."""
    return seconds_setting(TIMEOUT_VARIABLE, DEFAULT_TIMEOUT)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_wait: float = 120.0


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    """(code, message) from the error bodies Supabase and Vercel send."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return _str(error.get("code")), _str(error.get("message"))
        if isinstance(error, str):
            return None, _str(body.get("message")) or error
        return _str(body.get("code")), _str(body.get("message")) or _str(body.get("msg"))
    return None, None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _retry_after(value: str, now: float) -> float | None:
    """Retry-After's seconds or HTTP date; None when absent or unreadable (a proxy's "soon"
    must not turn a retryable answer into a crash)."""
    if not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # RFC 9110 dates are GMT; a zoneless one is taken as such
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return max(0.0, parsed.timestamp() - now)


def _server_wait(response: httpx.Response, now: float, *, refused: bool) -> float | None:
    """How long the server asked us to wait, if it said. The rate-limit headers ride on
    every Supabase answer, so they are a request to wait only on a refusal: a 500 with
    ``X-RateLimit-Reset: 40`` says when the window ends, not that the call was throttled."""
    retry_after = _retry_after(response.headers.get("Retry-After") or "", now)
    if retry_after is not None:
        return retry_after
    if not refused:
        return None
    reset = response.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            value = float(reset)
        except ValueError:
            value = None
        if value is not None:
            # Supabase sends seconds until reset; an epoch timestamp is far larger.
            return max(0.0, value - now) if value > 1e9 else value
    try:
        limit = response.json().get("error", {}).get("limit", {})
        epoch = float(limit["reset"])
    except (ValueError, AttributeError, KeyError, TypeError):
        return None
    return max(0.0, epoch - now)


class Closeable:
    """A client used as a context manager: leaving the block closes its connections."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class ApiClient(Closeable):
    """A bearer-token JSON client for one API, with retries and redaction."""

    def __init__(
        self,
        *,
        service: str,
        base_url: str,
        token: str,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        extra_secrets: Sequence[str] = (),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        retry_when: Callable[[httpx.Response], bool] | None = None,
    ) -> None:
        self.service = service
        self._retry = retry or RetryPolicy()
        self._retry_when = retry_when
        self._secrets: list[str] = [token, *extra_secrets]
        self._sleep, self._clock = sleep, clock
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout if timeout is not None else request_timeout(),
            transport=transport,
            verify=client_context(),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "envstack (+pulumi dynamic provider)"},
        )

    def add_secret(self, value: str | None) -> None:
        """Mask ``value`` (learned at run time) in every later error and log line."""
        if value:
            self._secrets.append(value)

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def close(self) -> None:
        self._http.close()

    def _gave_up(
        self,
        method: str,
        path: str,
        response: httpx.Response | None,
        failure: str,
        why: str,
        retry_after: float | None = None,
    ) -> ApiError:
        error = self._error(method, path, response, failure)
        return ApiError(
            service=self.service,
            method=method,
            path=path,
            status=error.status,
            message=f"{error.message} (gave up {why})",
            code=error.code,
            body=error.body,
            retry_after=retry_after,
        )

    def _error(self, method: str, path: str, response: httpx.Response | None, message: str) -> ApiError:
        if response is None:
            return ApiError(service=self.service, method=method, path=path, status=None, message=self.redact(message))
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        code, api_message = _error_fields(body)
        cls = NotFound if response.status_code == 404 else ApiError
        redacted_body = self.redact(body) if isinstance(body, str) else _redact_tree(body, self.redact)
        return cls(
            service=self.service,
            method=method,
            path=path,
            status=response.status_code,
            message=self.redact(api_message or message or response.reason_phrase),
            code=code,
            body=redacted_body,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        expected: Collection[int] = (200, 201, 204),
        retry_unsafe: bool = False,
        not_yet: Collection[int] = (),
    ) -> httpx.Response:
        method = method.upper()
        idempotent = method in _SAFE_METHODS or retry_unsafe
        waited = 0.0
        attempt = failures = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            refused = False
            try:
                response = self._http.request(method, path, params=params, json=json)
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
                retryable = idempotent
            else:
                if response.status_code in expected:
                    return response
                if response.status_code in not_yet:
                    raise self._error(method, path, response, "")
                failure = ""
                # "Too many requests" and "busy, try again" mean nothing was done: only the
                # deadline (max_wait) limits those; failures count against the attempts.
                refused = response.status_code == 429 or (self._retry_when is not None and self._retry_when(response))
                retryable = refused or (idempotent and response.status_code in _RETRY_IF_IDEMPOTENT)
            if not retryable:
                raise self._error(method, path, response, failure)
            failures += 0 if refused else 1
            if failures == self._retry.attempts:
                raise self._gave_up(method, path, response, failure, f"after {attempt} attempts")
            step = min(self._retry.max_delay, self._retry.base_delay * 2 ** (min(attempt, 30) - 1))
            backoff = random.uniform(0, step)  # noqa: S311 - jitter, not crypto
            asked = _server_wait(response, self._clock(), refused=refused) if response is not None else None
            if refused and asked is not None and waited + asked > self._retry.max_wait:
                # Waiting in small steps would only spend the budget and fail the same way:
                # say now how long the API wants, so the caller can come back then.
                raise self._gave_up(
                    method,
                    path,
                    response,
                    failure,
                    f"the API asks to wait {asked:.0f}s more, past the {self._retry.max_wait:.0f}s a call may wait",
                    retry_after=asked,
                )
            # The server's own wait is kept whole (sending before it ends only earns another
            # refusal); max_delay bounds our backoff, and max_wait bounds the total either way.
            delay = max(backoff, asked or 0.0)
            if waited + delay > self._retry.max_wait:
                raise self._gave_up(
                    method, path, response, failure, f"waiting longer would exceed {self._retry.max_wait:.0f}s"
                )
            status = response.status_code if response is not None else self.redact(failure)
            log.info(
                "%s %s %s: %s, retrying in %.1fs (attempt %d)",
                self.service,
                method,
                path,
                status,
                delay,
                attempt + 1,
            )
            self._sleep(delay)
            waited += delay

    def _json(self, response: httpx.Response) -> Any:
        if not response.content:
            return None
        return response.json()

    def get(self, path: str, **kwargs: Any) -> Any:
        return self._json(self.request("GET", path, **kwargs))

    def post(self, path: str, **kwargs: Any) -> Any:
        return self._json(self.request("POST", path, **kwargs))

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self._json(self.request("PATCH", path, **kwargs))

    def put(self, path: str, **kwargs: Any) -> Any:
        return self._json(self.request("PUT", path, **kwargs))

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self._json(self.request("DELETE", path, **kwargs))


def _redact_tree(value: Any, mask: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {k: _redact_tree(v, mask) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_tree(v, mask) for v in value]
    return value


class ServiceClient(Closeable):
    """A typed client of one API, over the one HTTP layer (``_api``)."""

    service: ClassVar[str]
    default_base_url: ClassVar[str]
    _api: ApiClient

    def __init__(
        self, *, base_url: str | None = None, token: str, retry: RetryPolicy | None = None, transport: Any = None
    ) -> None:
        base = base_url or self.default_base_url
        self._api = ApiClient(service=self.service, base_url=base, token=token, retry=retry, transport=transport)

    def close(self) -> None:
        self._api.close()
