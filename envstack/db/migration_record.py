"""A database's migration history as a file, with no credential in it.

Production's deploy job (trusted code on the default branch) publishes it after every `up`;
a pull request's preview compares the pull request's migration files with it, so it lists
what production has not applied, or applied differently, without ever holding production's
password. Each entry keeps the version, the name and a SHA-256 of the statements the
Supabase CLI's history stores for the file, never the statements themselves (no digest where
the history has none: rows an old CLI wrote, which no file can be found edited against).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from envstack.db import migrations
from envstack.db.migrations import MigrationState
from envstack.errors import MigrationError

FORMAT = 1


def digest(statements: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(statements), ensure_ascii=False).encode()).hexdigest()


def record(conninfo: str, stack: str) -> dict[str, Any]:
    """The history of the stack's database as the file says it (only reads)."""
    entries = [
        {"version": version, "name": name, "digest": None if statements is None else digest(statements)}
        for version, (name, statements) in sorted(migrations.history(conninfo).items())
    ]
    return {"format": FORMAT, "stack": stack, "migrations": entries}


def load(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise MigrationError(f"{path}: not a migration record ({exc})") from None
    if not isinstance(loaded, Mapping) or loaded.get("format") != FORMAT:
        raise MigrationError(f"{path}: not a migration record of format {FORMAT}")
    return dict(loaded)


def states(directory: Path, recorded: Mapping[str, Any]) -> list[MigrationState]:
    """Every file and every recorded entry, as ``migrations.status`` tells them apart."""
    entries = {str(e["version"]): e for e in recorded.get("migrations") or []}
    names = {version: str(e.get("name") or "") for version, e in entries.items()}

    def same(migration: migrations.Migration) -> bool:
        recorded = entries[migration.version].get("digest")
        return recorded is None or recorded == digest(migration.statements)

    return migrations.classify(migrations.discover(directory), names, same)
