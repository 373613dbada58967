"""What an emulator was asked, so tests can count calls the way a bill would."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Call:
    index: int
    method: str
    path: str
    query: dict[str, list[str]]
    status: int | None  # None: the connection was dropped without an answer
    operation_id: str | None
    injected: bool  # answered (or dropped) by a fault rule
    tenant: str | None  # whose token made the call, when the emulator knows
    at: float = field(default_factory=time.time)
    # What the emulator noticed about the call beyond its shape (for example that it asked
    # to decrypt a sensitive value), for tests to assert on. Never request or answer bodies.
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class CallLog:
    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def record(self, **fields: Any) -> Call:
        with self._lock:
            call = Call(index=len(self._calls), **fields)
            self._calls.append(call)
            return call

    def all(self, *, tenant: str | None = None, since: int = 0) -> list[Call]:
        with self._lock:
            calls = self._calls[since:]
        return [c for c in calls if tenant is None or c.tenant == tenant]

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)
