"""Independent calls at once: they really overlap, and a failure is raised only once all have ended."""

from __future__ import annotations

import threading

import pytest

from envstack.clients.parallel import at_once


def test_the_calls_run_at_the_same_time_and_answer_under_their_names() -> None:
    # Each call waits for the other to have started: one after the other, the barrier breaks.
    both = threading.Barrier(2, timeout=10)

    def call(answer: str) -> str:
        both.wait()
        return answer

    assert at_once({"pooler": lambda: call("p"), "keys": lambda: call("k")}) == {"pooler": "p", "keys": "k"}


def test_a_failure_is_raised_after_every_call_ended() -> None:
    release = threading.Event()
    finished: list[str] = []

    def slow() -> str:
        release.wait(10)
        finished.append("slow")
        return "done"

    def failing() -> str:
        release.set()
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError, match="refused"):
        at_once({"slow": slow, "failing": failing})
    assert finished == ["slow"], "nothing is left running behind the caller"


def test_one_call_runs_in_the_callers_thread() -> None:
    assert at_once({"only": threading.get_ident}) == {"only": threading.get_ident()}
