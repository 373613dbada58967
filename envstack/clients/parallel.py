"""Independent API calls at the same time, so a step waits for one round trip instead of one each.

The clients are safe to share between threads (``httpx.Client`` is), and a handful of reads
or creates stays far below any rate limit. The first failure is raised once every call has
ended, so nothing is left running behind the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def at_once(calls: Mapping[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run ``calls`` together and return their answers under the same names."""
    if len(calls) <= 1:
        return {name: call() for name, call in calls.items()}
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = {name: pool.submit(call) for name, call in calls.items()}
    return {name: future.result() for name, future in futures.items()}
