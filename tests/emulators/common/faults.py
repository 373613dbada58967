"""Faults an emulator injects on request: error answers, lost answers, slow and held answers.

A rule matches requests by method and a path regex and fires for its next ``count``
matches, after letting the first ``skip`` matches through (so a test can fault "the third
poll"). ``when`` says whether it fires before the emulator handles the request (the call
has no effect, as with a 429 or a 503 from a load balancer) or after (the call took effect
and its answer is replaced or lost, the case that tests whether a client double-creates).

Actions:
- ``respond``: answer ``status`` / ``body`` / ``headers`` instead;
- ``drop``: close the connection without an answer (the client sees a reset);
- ``delay``: wait ``delay`` seconds, then carry on (longer than the client's timeout: a
  read timeout; ``before`` such a request is still handled once the wait is over);
- ``hang``: hold the request until the test calls ``release()`` (or ``delay`` seconds pass,
  when set), so a test can act while a client waits on a known call (kill it, say). Then
  ``before``: the request is dropped unhandled; ``after``: the held answer is sent.
``fired`` is set when a rule first fires, for tests to wait on.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["respond", "drop", "delay", "hang"]
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
    delay: float = 0.0  # seconds, for action "delay" (and the longest a "hang" holds, when set)
    skip: int = 0  # matching requests let through before the rule fires
    fired: threading.Event = field(default_factory=threading.Event, init=False, repr=False, compare=False)
    released: threading.Event = field(default_factory=threading.Event, init=False, repr=False, compare=False)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method.upper()) and re.fullmatch(
            self.path, path
        ) is not None

    def release(self) -> None:
        """Let every request this ``hang`` rule holds (or will hold) go on."""
        self.released.set()

    def hold(self) -> None:
        """Block the calling request thread the way a ``hang`` rule says."""
        self.released.wait(self.delay if self.delay > 0 else None)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        known = {name for name, spec in cls.__dataclass_fields__.items() if spec.init}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault rule fields: {sorted(unknown)}")
        return cls(**data)


class FaultPlan:
    """The rules in force; thread-safe, each firing consumes one count."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            rules, self._rules = self._rules, []
        for rule in rules:
            rule.release()  # no request thread stays held by a rule nobody can reach any more

    def pending(self) -> list[FaultRule]:
        with self._lock:
            return [rule for rule in self._rules if rule.count > 0]

    def take(self, method: str, path: str, when: When) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.count > 0 and rule.when == when and rule.matches(method, path):
                    if rule.skip > 0:
                        rule.skip -= 1
                        continue
                    rule.count -= 1
                    rule.fired.set()
                    return rule
        return None
