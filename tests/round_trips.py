"""Counting the round trips a piece of code makes to PostgreSQL, from libpq's own protocol trace.

A round trip is one exchange the client waits on: a simple ``Query`` or an extended-protocol
exchange ended by ``Sync``. Connecting (startup, authentication) is not counted: the trace
starts once the connection is made. Used by the migration tests and by ``python -m bench``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import pq


@dataclass
class Trace:
    files: list[Path] = field(default_factory=list)
    counted: int | None = None  # set when the block ends (the files are gone then)

    def round_trips(self) -> int:
        count = 0
        for path in self.files:
            for line in path.read_text(errors="replace").splitlines():
                parts = line.split("\t")
                if len(parts) >= 3 and parts[0] == "F" and parts[2] in ("Query", "Sync"):
                    count += 1
        return count


@contextlib.contextmanager
def traced(module: Any, name: str = "connect") -> Iterator[Trace]:
    """Trace every connection ``module.<name>`` opens while the block runs."""
    original: Callable[..., psycopg.Connection[Any]] = getattr(module, name)
    trace = Trace()
    opened: list[psycopg.Connection[Any]] = []
    with tempfile.TemporaryDirectory(prefix="envstack-trace-") as directory:

        def connect(*args: Any, **kwargs: Any) -> psycopg.Connection[Any]:
            conn = original(*args, **kwargs)
            path = Path(directory) / f"{len(trace.files)}.trace"
            # libpq's stream owns the descriptor from here on (fdopen); ours closes at once.
            with path.open("w") as sink:
                conn.pgconn.trace(os.dup(sink.fileno()))
            conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            trace.files.append(path)
            opened.append(conn)
            return conn

        setattr(module, name, connect)
        try:
            yield trace
        finally:
            setattr(module, name, original)
            for conn in opened:
                if not conn.closed:
                    conn.pgconn.untrace()  # flushes libpq's stream
        trace.counted = trace.round_trips()
