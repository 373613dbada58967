"""Creating an object exactly once over a network that may lose the answer.

A POST that fails with a 5xx, a reset or a read timeout may still have created its object: a
gateway can answer 502 or 503 after the server behind it acted, and a lost answer says
nothing at all. Repeating the POST blindly would make a second object (a second billed
project, a second key) that no state knows. So after such a failure the object is looked up
by its natural key (a project's name, a key's name, a branch's name) and created again only
when it is not there. An answer that refuses the request (a 4xx) is raised as it is.

The HTTP layer (``http.py``) never repeats a POST itself unless its caller says that is
harmless; every create of a new object goes through ``create_once``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from envstack.errors import ApiError, ResourceError

T = TypeVar("T")
log = logging.getLogger("envstack.http")

ATTEMPTS = 3
RETRY_SECONDS = 1.0


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
) -> T:
    """``create()``; after a failure that may hide a success, ``find()`` first, and ``create()``
    again only when nothing is found. ``say`` reports what happened (the provider's log)."""
    report = say or log.info
    for attempt in range(1, attempts + 1):
        try:
            return create()
        except ApiError as exc:
            if not may_have_acted(exc):
                raise
            answer = f"a {exc.status} answer" if exc.status is not None else "no answer"
            found = find()
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
