"""Deployments that take time to build, as real ones do.

emulate marks a deployment READY the moment it is created (its ``POST /v13/deployments``
writes readyState "READY"). A deployment made through the fidelity layer instead goes
QUEUED -> BUILDING -> READY (or ERROR / CANCELED when a test asked for that) over the
configured build time; the layer lays this timeline over emulate's answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Outcome = Literal["READY", "ERROR", "CANCELED"]
OUTCOMES: tuple[Outcome, ...] = ("READY", "ERROR", "CANCELED")


@dataclass(frozen=True)
class Timeline:
    started: float  # clock seconds
    queued_for: float
    build_seconds: float
    outcome: Outcome

    def state(self, now: float) -> str:
        elapsed = now - self.started
        if elapsed < self.queued_for:
            return "QUEUED"
        if elapsed < self.queued_for + self.build_seconds:
            return "BUILDING"
        return self.outcome

    def ended_at(self) -> float:
        return self.started + self.queued_for + self.build_seconds


class BuildClock:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._timelines: dict[str, Timeline] = {}
        self._next: list[Outcome] = []
        self._lock = threading.Lock()

    def queue_outcome(self, outcome: str) -> None:
        """The next deployment created ends this way (outcomes queue up in order)."""
        for known in OUTCOMES:
            if outcome == known:
                with self._lock:
                    self._next.append(known)
                return
        raise ValueError(f"outcome must be one of {OUTCOMES}")

    def clear_outcomes(self) -> None:
        with self._lock:
            self._next.clear()

    def start(self, deployment_id: str, *, queued_for: float, build_seconds: float) -> Timeline:
        with self._lock:
            outcome: Outcome = self._next.pop(0) if self._next else "READY"
            timeline = Timeline(self._clock(), max(0.0, queued_for), max(0.0, build_seconds), outcome)
            self._timelines[deployment_id] = timeline
            return timeline

    def now(self) -> float:
        return self._clock()

    def overlay(self, deployment: dict[str, Any]) -> dict[str, Any]:
        """The deployment as it stands now (unchanged when the layer did not create it)."""
        deployment_id = deployment.get("uid") or deployment.get("id")
        with self._lock:
            timeline = self._timelines.get(str(deployment_id))
        if timeline is None:
            return deployment
        state = timeline.state(self._clock())
        shown = {**deployment, "readyState": state}
        if "state" in deployment:
            shown["state"] = state
        started_ms = int(timeline.started * 1000)
        ended_ms = int(timeline.ended_at() * 1000)
        for name, value in (
            ("buildingAt", started_ms + int(timeline.queued_for * 1000) if state != "QUEUED" else None),
            ("readyAt", ended_ms if state == "READY" else None),
            ("canceledAt", ended_ms if state == "CANCELED" else None),
            ("errorCode", "BUILD_FAILED" if state == "ERROR" else None),
            ("errorMessage", "The build failed (set by the emulator's admin knob)." if state == "ERROR" else None),
        ):
            if name in deployment or value is not None:
                shown[name] = value
        if state in {"QUEUED", "BUILDING"} and "aliasAssigned" in deployment:
            shown["aliasAssigned"] = False
        return shown
