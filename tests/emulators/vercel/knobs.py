"""The test-only settings of the fidelity layer, and the rate limits it enforces."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from tests.emulators.common.ratelimit import RateLimiter, RateState
from tests.emulators.vercel.envrules import CONFLICT_STYLES, ConflictStyle

# Vercel names a limit per endpoint; only the env delete name was seen in a real answer
# (phasehq/console#679), the others follow its pattern.
RATE_LIMIT_NAMES = {
    "removeProjectEnv": "api-projects-environment-variable-delete",
    "batchRemoveProjectEnv": "api-projects-environment-variable-delete",
    "createProjectEnv": "api-projects-environment-variable-create",
    "editProjectEnv": "api-projects-environment-variable-update",
    "filterProjectEnvs": "api-projects-environment-variable-list",
    "getProjectEnv": "api-projects-environment-variable-get",
    "getProject": "api-projects",
    "createDeployment": "api-deployments",
}


@dataclass
class RateRule:
    """At most ``limit`` calls to ``operation`` (a spec operation id, or "*" for every
    operation together) per ``window`` seconds, per token."""

    operation: str
    limit: int
    window: float = 60.0

    def __post_init__(self) -> None:
        if self.limit < 0 or self.window <= 0:
            raise ValueError("a rate rule needs limit >= 0 and window > 0")


def default_rate_limits() -> list[RateRule]:
    """The limits seen in real answers, on by default: env deletes at 60 a minute
    (phasehq/console#679) and project reads at 120 (terraform-provider-vercel#99). Vercel
    publishes no others; an endpoint without a rule here is not limited."""
    return [
        RateRule("removeProjectEnv", 60),
        RateRule("batchRemoveProjectEnv", 60),
        RateRule("getProject", 120),
    ]


@dataclass
class Knobs:
    conflict_style: ConflictStyle = "env_conflict"
    # Seconds an env write holds its project busy: a second write meanwhile answers 400
    # ("an ongoing env update is already happening"). A real write is not instant either.
    env_write_seconds: float = 0.05
    # Seconds a deleted variable is still listed, and still conflicts with a create of its key
    # and scope (upsert or not), before the delete has spread: Vercel deletes variables
    # eventually, not at once (terraform-provider-vercel PR #306, which then waits 5 seconds
    # between deleting and creating variables).
    delete_settle_seconds: float = 0.0
    # A deployment made through the layer is QUEUED this long, then BUILDING this long.
    queue_seconds: float = 0.1
    build_seconds: float = 0.4
    # Seconds a new production deployment rolls out after it is READY (readySubstate ROLLING)
    # before it is PROMOTED, as with Vercel's Rolling Releases configured for the project
    # (docs: rolling-releases): meanwhile the deployment before it still serves part of
    # production. 0: no rolling release, production moves at once.
    rolling_release_seconds: float = 0.0
    rate_limits: list[RateRule] = field(default_factory=default_rate_limits)
    # The module (``python -m`` path) the deployments created from now on serve at their names
    # (serving.py); None: they serve no app, every path answers 404.
    serve_app: str | None = None

    def update(self, changes: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown settings: {unknown}; known: {sorted(known)}")
        for name, value in changes.items():
            if name == "conflict_style" and value not in CONFLICT_STYLES:
                raise ValueError(f"conflict_style must be one of {CONFLICT_STYLES}")
            if name == "rate_limits":
                value = [rule if isinstance(rule, RateRule) else RateRule(**rule) for rule in value]
            elif name == "serve_app":
                if value is not None and not (isinstance(value, str) and value.strip()):
                    raise ValueError("serve_app must be a module path (python -m) or None")
            elif name != "conflict_style":
                value = float(value)
                if value < 0:
                    raise ValueError(f"{name} must not be negative")
            setattr(self, name, value)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RateLimits:
    """One fixed-window limiter per rule, keyed by token, on the local API's clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._limiters: list[tuple[RateRule, RateLimiter]] = []
        self._clock = clock

    def configure(self, rules: list[RateRule]) -> None:
        self._limiters = [
            (rule, RateLimiter(limit=rule.limit, window=rule.window, clock=self._clock)) for rule in rules
        ]

    def hit(self, operation: str | None, key: str) -> tuple[RateRule, RateState] | None:
        """The first rule the call breaks (None: allowed). Every matching rule counts it."""
        broken = None
        for rule, limiter in self._limiters:
            if rule.operation not in ("*", operation):
                continue
            state = limiter.hit(key)
            if not state.allowed and broken is None:
                broken = (rule, state)
        return broken


def rate_limited_body(rule: RateRule, state: RateState, operation: str | None) -> dict[str, Any]:
    """The real 429 body (docs "REST API errors", SPEC RateLimitNotice; message as in
    phasehq/console#679)."""
    now = time.time()
    reset_ms = int((now + state.reset_seconds) * 1000)
    name = RATE_LIMIT_NAMES.get(operation or "", f"api-{operation or 'requests'}")
    return {
        "error": {
            "code": "rate_limited",
            "message": (
                f"Too many requests - try again in {state.reset_seconds} seconds "
                f'(more than {rule.limit}, code: "{name}").'
            ),
            "limit": {"total": rule.limit, "remaining": 0, "reset": reset_ms // 1000, "resetMs": reset_ms},
        }
    }
