"""Dynamic provider: of several database URLs in order of preference, the first this
machine can reach.

Supabase's direct host (``db.<ref>.supabase.co``) has an IPv6 address only unless the IPv4
add-on is bought, and GitHub's hosted runners and many offices have no IPv6 route, while the
session pooler (port 5432 on the pooler host) takes IPv4. Given both, this resource says
which one the machine running ``pulumi up`` reaches, by opening (and closing) a TCP
connection: no login, no credential sent. It looks again on every preview and update,
because the same stack is run from a laptop with IPv6 one day and a runner without it the
next; a change of route updates only the resources that connect through it.

A single candidate is taken as given, without a look: the user chose that route.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from envstack.errors import NoRoute
from providers.declared import Declared, Inputs
from providers.unknowns import is_unknown

SECRET_OUTPUTS = ("url",)
_DEFAULT_PORT = 5432
# A refused connection or a missing route fails at once; a network that drops packets
# would otherwise hold every preview for the kernel's full connect timeout.
_PROBE_SECONDS = 3.0


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or _DEFAULT_PORT


def _unreachable(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be reached, or None when something answers there."""
    try:
        socket.create_connection((host, port), timeout=_PROBE_SECONDS).close()
    except socket.gaierror as exc:
        return f"its name does not resolve ({exc.strerror})"
    except TimeoutError:
        return f"no answer within {_PROBE_SECONDS:g} s"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def choose(candidates: list[str]) -> tuple[str, list[str]]:
    """The first reachable candidate and one line per candidate skipped before it."""
    if len(candidates) == 1:
        return candidates[0], []
    skipped: list[str] = []
    for url in candidates:
        host, port = _address(url)
        why = _unreachable(host, port)
        if why is None:
            return url, skipped
        skipped.append(f"{host}:{port}: {why}")
    raise NoRoute("no candidate database address can be reached from this machine: " + "; ".join(skipped))


def _outs(candidates: list[str], why_it_may_fail: str) -> dict[str, Any]:
    url, skipped = choose(candidates)
    host, port = _address(url)
    if skipped:
        hint = f" ({why_it_may_fail})" if why_it_may_fail else ""
        pulumi.log.warn(f"{skipped[0]}{hint}; envstack connects through {host}:{port} from this machine")
    return {"candidates": candidates, "why_it_may_fail": why_it_may_fail, "url": url, "address": f"{host}:{port}"}


class ReachableUrlProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        candidates = [str(c) for c in props["candidates"]]
        return CreateResult(id_="route", outs=_outs(candidates, str(props.get("why_it_may_fail") or "")))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        candidates = news.get("candidates")
        if is_unknown(candidates) or not isinstance(candidates, list) or any(is_unknown(c) for c in candidates):
            return DiffResult(changes=True)
        if candidates != olds.get("candidates"):
            return DiffResult(changes=True)
        try:
            url, _ = choose([str(c) for c in candidates])
        except NoRoute:
            return DiffResult(changes=True)  # the update says so, with the reasons
        return DiffResult(changes=url != olds.get("url"))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        candidates = [str(c) for c in news["candidates"]]
        return UpdateResult(outs=_outs(candidates, str(news.get("why_it_may_fail") or "")))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # nothing exists outside the state


@dataclass(frozen=True)
class ReachableUrlInputs(Inputs):
    """``why_it_may_fail``: said when the first candidate is skipped, so the user learns why."""

    secret_inputs = ("candidates",)
    candidates: pulumi.Input[list[str]]
    why_it_may_fail: str = ""


class ReachableUrl(Declared, module="database", name="ReachableUrl"):
    """``url``: the first of ``candidates`` this machine reaches; ``address``: its host and port."""

    secret_outputs = SECRET_OUTPUTS
    url: pulumi.Output[str]
    address: pulumi.Output[str]

    def __init__(self, name: str, inputs: ReachableUrlInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(ReachableUrlProvider(), name, inputs, opts)
