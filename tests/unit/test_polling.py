"""The waits between polls: short first, growing by half to a cap, never past the deadline."""

from __future__ import annotations

import pytest

from envstack.clients.polling import Backoff


class Time:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1_765_000_000.0  # the epoch's magnitude, where float rounding is coarse
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def test_waits_start_short_and_grow_to_the_cap() -> None:
    time = Time()
    backoff = Backoff(first=0.2, cap=1.0, sleep=time.sleep, clock=time.clock)
    for _ in range(6):
        backoff.wait()
    assert time.sleeps == pytest.approx([0.2, 0.3, 0.45, 0.675, 1.0, 1.0])
    assert not backoff.expired(), "no deadline, never expired"


def test_the_last_wait_ends_at_the_deadline_and_then_it_has_passed() -> None:
    time = Time()
    backoff = Backoff(first=1.0, cap=4.0, timeout=5.0, sleep=time.sleep, clock=time.clock)
    polls = 0
    while not backoff.expired():
        polls += 1
        backoff.wait()
    assert time.sleeps == pytest.approx([1.0, 1.5, 2.25, 0.25]), "cut short to end at the deadline"
    assert polls == 4
    assert backoff.elapsed() == pytest.approx(5.0)


@pytest.mark.parametrize("timeout", [0.1, 0.7, 29.999999, 30.0, 123.456789])
def test_a_deadline_is_always_reached_whatever_the_rounding(timeout: float) -> None:
    time = Time()
    backoff = Backoff(first=0.25, cap=3.0, timeout=timeout, sleep=time.sleep, clock=time.clock)
    for _ in range(1000):
        if backoff.expired():
            break
        backoff.wait()
    else:
        pytest.fail("the loop never saw its deadline")
    assert time.now - backoff.started == pytest.approx(timeout)


def test_a_nonsense_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="first wait above 0"):
        Backoff(first=0, cap=1.0)
    with pytest.raises(ValueError, match="cap at least as long"):
        Backoff(first=2.0, cap=1.0)
