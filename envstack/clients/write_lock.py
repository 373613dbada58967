"""A lock shared by every thread and process on this machine that writes to the same thing.

Several stacks (and Pulumi's parallel resource steps within one) may write to the same remote
object at once; some APIs reject or mishandle concurrent writes. ``exclusive`` serializes them
with ``flock`` on a file under the system temp dir named by a digest of the parts. flock
locks belong to open file descriptions, so two threads of one process exclude each other too,
and the kernel drops a lock when its holder dies, so a crashed run never leaves one behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path


def lock_path(parts: Sequence[str]) -> Path:
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
    return Path(tempfile.gettempdir()) / f"envstack-{digest}.lock"


@contextlib.contextmanager
def exclusive(parts: Sequence[str], *, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the lock named by ``parts`` for the ``with`` block; ``on_wait`` runs if it is busy."""
    # Read-only is enough for flock, and lets another user's run open a file we created.
    fd = os.open(lock_path(parts), os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
