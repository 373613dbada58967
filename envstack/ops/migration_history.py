"""Publishing a stack's migration history (``python -m envstack migrate record``).

Production's deploy job runs it after `pulumi up`, on the default branch, where it may open
production's state; the file it writes holds no credential and no statement, so the
pull-request preview can compare a pull request's migrations with production's history
without ever being given production's secrets (``envstack.db.migration_record``).
"""

from __future__ import annotations

import json
from pathlib import Path

from envstack.db import migration_record
from envstack.errors import StackError
from envstack.ops.stack_view import read_stack


def record_stack(root: Path, name: str, out: Path) -> int:
    """Write the stack's migration history to ``out``; the number of entries."""
    url = read_stack(root, name).history_url
    if url is None:
        raise StackError(f"stack {name} has no database URL output: run `pulumi up --stack {name}` first")
    recorded = migration_record.record(url, name)
    out.write_text(json.dumps(recorded, indent=2) + "\n")
    return len(recorded["migrations"])
