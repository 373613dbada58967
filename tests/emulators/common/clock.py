"""The local APIs' time, which tests move forward instead of waiting.

The real services have rules measured in minutes and days (a signing-key change throttled
for about five minutes, a rate-limit window of a minute, a free project paused after a
week without activity). The local APIs keep those real durations and measure them on this
clock: it runs with the monotonic clock, and a test that needs a week to pass advances it
by a week. Nothing here sleeps. Timestamps in answers stay real (a client compares an
epoch ``reset`` with its own clock), so only durations are skipped, never dates.
"""

from __future__ import annotations

import threading
import time


class TestClock:
    __test__ = False  # not a pytest test class, despite the name

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """Seconds on a monotonic scale (compare two readings; the origin means nothing)."""
        with self._lock:
            return time.monotonic() + self._offset

    @property
    def skipped(self) -> float:
        with self._lock:
            return self._offset

    def advance(self, seconds: float) -> float:
        """Let ``seconds`` pass at once; answers the new reading."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
            return time.monotonic() + self._offset
