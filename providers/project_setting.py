"""What the providers that hold one setting of a Supabase project share: when their diff is a change.

Such a resource (the project's network rules, its PITR add-on, the moment before a migration
run) belongs to one project: another ``ref`` replaces it (the new one made first, nothing of
the old project undone). A new spelling of the same Management API is no change of its own.
"""

from __future__ import annotations

from typing import Any

from pulumi.dynamic import DiffResult

from envstack.api_urls import same_api
from providers.unknowns import is_unknown


def setting_diff(olds: dict[str, Any], news: dict[str, Any], changed: bool) -> DiffResult:
    """The diff of a project setting whose own comparison says ``changed``."""
    if not is_unknown(news.get("ref")) and olds.get("ref") != news.get("ref"):
        return DiffResult(changes=True, replaces=["ref"], delete_before_replace=False)
    moved = not same_api(olds.get("management_api"), news.get("management_api"))
    return DiffResult(changes=changed or moved, replaces=[], delete_before_replace=False)
