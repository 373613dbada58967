"""A stop taken as Ctrl-C, by the commands that run long statements on a live database
themselves (migrate, seed, reset).

`pulumi up` stops a migrate or seed command that outlives its timeout, asking first (SIGTERM,
providers/local_command.py). PostgreSQL does not notice a client that is gone while a
statement runs, so a statement whose process was killed runs on, holding its locks (and the
app's queries queued behind them), until statement_timeout. On Ctrl-C psycopg cancels the
statement under way on the server, so its transaction rolls back and its locks go at once.
Other commands are left with the default: those that run `pulumi up` must not take a stop
as an interrupt, which would kill the engine mid-update.
"""

from __future__ import annotations

import signal
from types import FrameType


def cancel_statements_on_stop() -> None:
    signal.signal(signal.SIGTERM, _interrupted)


def _interrupted(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)
