"""Fixed-window rate limiting per key, as the Supabase Management API applies it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateState:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the window ends


class RateLimiter:
    def __init__(self, limit: int = 120, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window = limit, window
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def configure(self, *, limit: int | None = None, window: float | None = None) -> None:
        with self._lock:
            if limit is not None:
                self.limit = limit
            if window is not None:
                self.window = window
            self._windows.clear()

    def hit(self, key: str) -> RateState:
        now = self._clock()
        with self._lock:
            started, count = self._windows.get(key, (now, 0))
            if now - started >= self.window:
                started, count = now, 0
            allowed = count < self.limit
            if allowed:
                count += 1
            self._windows[key] = (started, count)
            reset = max(1, round(started + self.window - now))
            return RateState(allowed, self.limit, max(0, self.limit - count), reset)
