"""Supavisor's circuit breaker for failed logins, as the pooler front applies it.

Supavisor (supabase/supavisor lib/supavisor/circuit_breaker.ex) counts authentication
errors per tenant and client address: 10 within 300 seconds open the breaker for 600
seconds, during which every login from that address to that tenant is refused, the right
password included, with ``Circuit breaker open: Too many authentication errors`` (SQLSTATE
XX000, lib/supavisor/errors). That is how a client retrying an old password after a
rotation locks out its own neighbours on the same address. Times are the local API's clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

MAX_FAILURES = 10
WINDOW_SECONDS = 300.0
BLOCK_SECONDS = 600.0
MESSAGE = "Circuit breaker open: Too many authentication errors"

Key = tuple[str, str]  # (project ref, client address)


class AuthBreaker:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._failures: dict[Key, list[float]] = {}
        self._blocked: dict[Key, float] = {}
        self._lock = threading.Lock()

    def is_open(self, key: Key) -> bool:
        with self._lock:
            until = self._blocked.get(key)
            if until is None:
                return False
            if self._clock() < until:
                return True
            del self._blocked[key]
            self._failures.pop(key, None)
            return False

    def record_failure(self, key: Key) -> None:
        now = self._clock()
        with self._lock:
            recent = [t for t in self._failures.get(key, []) if t > now - WINDOW_SECONDS]
            recent.append(now)
            self._failures[key] = recent
            if len(recent) >= MAX_FAILURES:
                self._blocked[key] = now + BLOCK_SECONDS

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self._blocked.clear()
