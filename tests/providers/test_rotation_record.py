"""The rotation record provider called directly (no network)."""

from __future__ import annotations

from typing import Any

from providers.rotation_record import HISTORY_LENGTH, RotationRecordProvider


def outs(result: Any) -> dict[str, Any]:
    return dict(result.outs or {})


def test_a_changed_counter_is_recorded_with_when_and_by_whom_and_the_runner_alone_changes_nothing() -> None:
    provider = RotationRecordProvider()
    first = {"counters": {"database": 0, "jwt": 2}, "run": "ana@laptop"}
    created = outs(provider.create(first))
    assert created["latest"]["database"] == {"secret": "database", "counter": 0, "at": None, "by": None}
    assert created["history"] == []

    someone_else = {**first, "run": "github run 77"}
    assert not provider.diff("rotations", created, someone_else).changes, "who runs it is not a change"

    # Counters cross the wire as floats.
    asked = {"counters": {"database": 1.0, "jwt": 2.0}, "run": "github run 78"}
    assert provider.diff("rotations", created, asked).changes
    updated = outs(provider.update("rotations", created, asked))
    entry = updated["latest"]["database"]
    assert (entry["counter"], entry["previous"], entry["by"]) == (1, 0, "github run 78")
    assert entry["at"].endswith("Z")
    assert updated["latest"]["jwt"]["at"] is None, "jwt did not rotate"
    assert updated["history"] == [entry]
    assert not provider.diff("rotations", updated, asked).changes


def test_history_keeps_the_newest_entries() -> None:
    provider = RotationRecordProvider()
    state = outs(provider.create({"counters": {"jwt": 0}, "run": "r"}))
    for counter in range(1, HISTORY_LENGTH + 5):
        state = outs(provider.update("rotations", state, {"counters": {"jwt": counter}, "run": f"r{counter}"}))
    assert len(state["history"]) == HISTORY_LENGTH
    assert state["history"][-1]["counter"] == HISTORY_LENGTH + 4
