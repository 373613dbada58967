"""Faults an emulator injects on request: error answers, lost answers, slow answers.

A rule matches requests by method and a path regex and fires for its next ``count``
matches. ``when`` says whether it fires before the emulator handles the request (the call
has no effect, as with a 429 or a 503 from a load balancer) or after (the call took effect
and its answer is replaced or lost, the case that tests whether a client double-creates).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["respond", "drop", "delay"]
When = Literal["before", "after"]


@dataclass
class FaultRule:
    path: str  # regex, full match against the request path
    action: Action = "respond"
    method: str | None = None  # None: any method
    when: When = "before"
    count: int = 1
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds, for action "delay"

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method.upper()) and re.fullmatch(
            self.path, path
        ) is not None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        known = {name for name in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault rule fields: {sorted(unknown)}")
        return cls(**data)


class FaultPlan:
    """The rules in force; thread-safe, each firing consumes one count."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[FaultRule]:
        with self._lock:
            return [rule for rule in self._rules if rule.count > 0]

    def take(self, method: str, path: str, when: When) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.count > 0 and rule.when == when and rule.matches(method, path):
                    rule.count -= 1
                    return rule
        return None
