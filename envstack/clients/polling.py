"""Waits between the polls of something coming up: short at first, then longer, never past a deadline.

What is polled (a project or replica coming up, a build, a restore point, a restore) can be
done within a second or take many minutes. The first wait is short so a quick case is seen
almost as soon as it is done; each next wait is ``FACTOR`` times longer, up to the caller's
cap, so a long wait makes few calls (a handful a minute, far below the APIs' rate limits).
The last wait ends at the deadline, so a wait that times out still makes its last poll then.

    backoff = Backoff(first=0.2, cap=5.0, timeout=600)
    while not done():
        if backoff.expired():
            raise ...
        backoff.wait()

``sleep`` and ``clock`` are injectable, so tests move time instead of waiting for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

FIRST_WAIT_SECONDS = 0.2
FACTOR = 1.5


class Backoff:
    """The waits of one polling loop; ``timeout`` counts from its creation (None: no deadline)."""

    def __init__(
        self,
        *,
        first: float = FIRST_WAIT_SECONDS,
        cap: float,
        timeout: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if first <= 0 or cap < first:
            raise ValueError(f"a first wait above 0 and a cap at least as long are required ({first}, {cap})")
        self._next, self._cap, self._timeout = first, cap, timeout
        self._sleep, self._clock = sleep, clock
        self._slept_to_deadline = False
        self.started = clock()

    def elapsed(self) -> float:
        return self._clock() - self.started

    def expired(self) -> bool:
        """The deadline has come (at it, not only after: the last wait ends exactly there)."""
        # Once a wait has been cut to end at the deadline it has come, whatever rounding in the
        # clock's arithmetic says (a test's clock moved by that wait could otherwise stop just short).
        return self._timeout is not None and (self._slept_to_deadline or self.elapsed() >= self._timeout)

    def wait(self) -> float:
        """Sleep until the next poll is due, and return for how long."""
        seconds = self._next
        if self._timeout is not None:
            left = max(0.0, self._timeout - self.elapsed())
            if left <= seconds:
                seconds, self._slept_to_deadline = left, True
        self._sleep(seconds)
        self._next = min(self._next * FACTOR, self._cap)
        return seconds
