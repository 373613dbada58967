"""The local APIs' time, which tests move forward instead of waiting.

The real services have rules measured in minutes and days (a signing-key change throttled
for about five minutes, a rate-limit window of a minute, a free project paused after a
week without activity). The local APIs keep those real durations and measure them on this
clock: it runs with the monotonic clock, and a test that needs a week to pass advances it
by a week. Nothing here sleeps. Timestamps in answers stay real (a client compares an
epoch ``reset`` with its own clock), so only durations are skipped, never dates.

A rule that speaks in dates (a backup taken every day, a point-in-time recovery window) reads
``calendar()``: the real date plus everything skipped. ``real_time(t)`` maps such a date back
to the real moment the clock read it; a date inside a skip maps to the moment of the skip
(nothing happened meanwhile, so that is what the world looked like then).
"""

from __future__ import annotations

import threading
import time


class TestClock:
    __test__ = False  # not a pytest test class, despite the name

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()
        self._skips: list[tuple[float, float]] = []  # (real unix time of the skip, calendar offset after it)

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
            self._skips.append((time.time(), self._offset))
            return time.monotonic() + self._offset

    def calendar(self) -> float:
        """Unix seconds on the clock's calendar: the real date plus everything skipped."""
        with self._lock:
            return time.time() + self._offset

    def calendar_of(self, real: float) -> float:
        """The calendar date the clock showed at the real unix time ``real``."""
        with self._lock:
            offset = 0.0
            for at, after in self._skips:
                if at > real:
                    break
                offset = after
            return real + offset

    def real_time(self, calendar: float) -> float:
        """The real unix time at which the calendar showed ``calendar`` (a date skipped over:
        the moment of that skip)."""
        with self._lock:
            offset, previous_at = 0.0, float("-inf")
            for at, after in self._skips:
                if calendar < at + offset:
                    return max(calendar - offset, previous_at)
                if calendar < at + after:
                    return at  # skipped over
                offset, previous_at = after, at
            return max(calendar - offset, previous_at)
