"""Creating an object exactly once over a network that may lose the answer.

A POST that fails with a 5xx, a reset or a read timeout may still have created its object: a
gateway can answer 502 or 503 after the server behind it acted, and a lost answer says
nothing at all. Repeating the POST blindly would make a second object (a second billed
project, a second key) that no state knows. So after such a failure the object is looked up
by its natural key (a project's name, a key's name, a branch's name) and created again only
when it is not there. An answer that refuses the request (a 4xx) is raised as it is.

Not there yet is not the same as not made: a server that has not answered (a read timeout,
a gateway's 504) may still be making it, and would finish after a lookup that came too soon.
So the lookup goes on, backing off, for ``ENVSTACK_CREATE_SETTLE_SECONDS`` (default 30)
before the object is created again.

The HTTP layer (``http.py``) never repeats a POST itself unless its caller says that is
harmless; every create of a new object goes through ``create_once``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from envstack.clients.http import seconds_setting
from envstack.clients.polling import Backoff
from envstack.errors import ApiError, ResourceError

T = TypeVar("T")
log = logging.getLogger("envstack.http")

ATTEMPTS = 3
RETRY_SECONDS = 1.0
SETTLE_VARIABLE = "ENVSTACK_CREATE_SETTLE_SECONDS"
DEFAULT_SETTLE_SECONDS = 30.0
MAX_LOOKS = 16  # about the default settle's worth at the waits' cap


def settle_seconds() -> float:
    """How long a create that may have happened is looked for before it is made again."""
    return seconds_setting(SETTLE_VARIABLE, DEFAULT_SETTLE_SECONDS, zero=True)


def may_have_acted(exc: ApiError) -> bool:
    """Could the server have done what the failed call asked? (No answer, or a 5xx.)"""
    return exc.status is None or exc.status >= 500


def create_once(
    create: Callable[[], T],
    find: Callable[[], T | None],
    *,
    what: str,
    attempts: int = ATTEMPTS,
    retry_seconds: float = RETRY_SECONDS,
    say: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``create()``; after a failure that may hide a success, ``find()`` first (for as long as
    ``settle_seconds()`` while it finds nothing), and ``create()`` again only when nothing is
    found. ``say`` reports what happened (the provider's log); ``sleep`` and ``clock`` go together."""
    report = say or log.info
    settle = settle_seconds()
    for attempt in range(1, attempts + 1):
        try:
            return create()
        except ApiError as exc:
            if not may_have_acted(exc):
                raise
            answer = f"a {exc.status} answer" if exc.status is not None else "no answer"
            found = _look(find, settle, sleep, clock)
            if found is not None:
                report(f"creating {what} got {answer}, but it was created: using it, not making a second")
                return found
            if attempt == attempts:
                raise ResourceError(
                    f"creating {what} failed {attempts} times ({exc}) and it does not exist; run `pulumi up` "
                    "again: it looks for it before creating, so nothing is made twice"
                ) from None
            report(f"creating {what} got {answer} and it does not exist: creating it again")
            sleep(retry_seconds * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _look(
    find: Callable[[], T | None], settle: float, sleep: Callable[[float], None], clock: Callable[[], float]
) -> T | None:
    """``find()`` until it finds something, ``settle`` seconds have passed, or it has looked
    ``MAX_LOOKS`` times (the waits back off; the count bounds the calls whatever the clock says)."""
    backoff = Backoff(first=0.25, cap=3.0, timeout=settle, sleep=sleep, clock=clock)
    for _ in range(MAX_LOOKS - 1):
        found = find()
        if found is not None or backoff.expired():
            return found
        backoff.wait()
    return find()
