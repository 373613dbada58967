"""One GET of an app's own endpoint over HTTPS: what ``doctor`` uses to ask a deployment's
health route (docs/app-health.md) how it is.

Unlike the API clients beside it, this call carries no token of envstack's (an app is not an
API envstack holds a credential for; a Vercel Protection Bypass secret, when given, is the
only header that could be secret, and is masked like one), is made once (a health check that
needs retries to pass is not healthy) and follows a redirect only to an ``https`` URL on the
same host (a Next.js trailing-slash redirect, say); any other redirect is the answer, so no
request ever leaves TLS or goes where the caller did not point it. Certificates are checked
with the standard trust store (envstack/clients/tls.py): ``SSL_CERT_FILE`` when set, else
certifi's bundle, or ``ca_file`` when the caller names one. Every text that comes back is
redacted with the caller's secrets before anyone sees it.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from envstack.clients.tls import client_context
from envstack.redaction import redact

MAX_REDIRECTS = 3
_SHOWN_CHARACTERS = 300


class EndpointUnreachable(Exception):
    """No answer came back: a name that does not resolve, a refused connection, a TLS
    failure or a timeout. The message is one redacted sentence."""


@dataclass(frozen=True)
class EndpointAnswer:
    url: str  # the URL that gave this answer (after any same-host https redirect)
    status: int
    body: Any  # the JSON answer, or None when it was not JSON
    text: str  # the start of the answer as text, redacted, for messages
    content_type: str
    location: str | None  # where a redirect not followed pointed, redacted
    edge_error: str | None  # Vercel's x-vercel-error (DEPLOYMENT_NOT_FOUND, ...), when it answered itself


def https_url(base: str, path: str) -> str:
    """``path`` on ``base``: a bare host (how Vercel's API names a deployment) gets https://.
    ValueError for any other scheme: a health check never leaves TLS."""
    base = base.strip()
    if "://" not in base:
        base = f"https://{base}"
    parts = urlsplit(base)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{base} is not an https URL; the health check calls apps over https only")
    return f"{base.rstrip('/')}/{path.lstrip('/')}"


def get_json(
    url: str,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    secrets: Sequence[str] = (),
    ca_file: str | Path | None = None,
    transport: httpx.BaseTransport | None = None,
) -> EndpointAnswer:
    """GET ``url`` (https) once and read its answer; ``EndpointUnreachable`` when none came."""
    known = [*secrets, *(headers or {}).values()]

    def masked(text: str) -> str:
        return redact(text, known)

    verify = ssl.create_default_context(cafile=str(ca_file)) if ca_file else client_context()
    sent = {"Accept": "application/json", "User-Agent": "envstack doctor", **(headers or {})}
    with httpx.Client(timeout=timeout, verify=verify, transport=transport, follow_redirects=False) as client:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = client.get(current, headers=sent)
            except httpx.TimeoutException:
                raise EndpointUnreachable(f"{masked(current)} did not answer within {timeout:g}s") from None
            except httpx.HTTPError as exc:
                raise EndpointUnreachable(f"{masked(current)} could not be reached: {masked(_reason(exc))}") from None
            location = response.headers.get("location")
            following = urljoin(current, location) if location and response.is_redirect else None
            if following is not None and _same_https_host(current, following):
                current = following
                continue
            return _answer(current, response, masked(following) if following else None, masked)
    raise EndpointUnreachable(f"{masked(url)} redirected more than {MAX_REDIRECTS} times")


def _same_https_host(current: str, following: str) -> bool:
    here, there = urlsplit(current), urlsplit(following)
    return there.scheme == "https" and there.hostname == here.hostname and there.port == here.port


def _answer(url: str, response: httpx.Response, location: str | None, masked: Any) -> EndpointAnswer:
    content_type = response.headers.get("content-type", "")
    try:
        body = response.json() if "json" in content_type.lower() else None
    except ValueError:
        body = None
    text = masked(response.text[:_SHOWN_CHARACTERS])
    return EndpointAnswer(
        url=masked(url),
        status=response.status_code,
        body=body,
        text=text,
        content_type=content_type,
        location=location,
        edge_error=response.headers.get("x-vercel-error"),
    )


def _reason(exc: httpx.HTTPError) -> str:
    """The innermost cause, which names what really went wrong (a name that does not resolve,
    a refused connection, a certificate not trusted), on one line."""
    cause: BaseException = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    text = str(cause) or str(exc) or type(exc).__name__
    return " ".join(text.split())
