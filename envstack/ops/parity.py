"""What differs between two environments that should not: the facts of each, and their comparison.

Compared, per environment:
- migration history: each version's state in the database against the repository's files
  (applied, not applied, edited, applied without a file);
- the names of the variables each Vercel project gives the environment's target (live, from
  Vercel; names only, never values);
- the Supabase settings the stack manages: organization, region and instance size (from the
  state), and what the project runs (its PostgreSQL version and point-in-time recovery, live);
- the settings that say how both are built: migrations directory and command, ``supabase:ipv6``.

Region, instance size and point-in-time recovery may differ by design (production is bigger,
nearer its users, and recoverable to the minute): such
differences are listed as expected. Every other difference is drift, and so is anything that
could not be read (nothing can be said about it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from envstack import errors
from envstack.clients import tokens
from envstack.db import migrations
from envstack.db.connect import check_seconds
from envstack.ops.stack_view import StackView
from envstack.redaction import redact

Kind = Literal["expected", "drift", "unknown"]
EXPECTED_SUPABASE = frozenset({"region", "instance size", "point-in-time recovery"})
_STATE_LABELS = {"applied": "applied", "pending": "not applied", "edited": "edited", "missing-file": "applied, no file"}
_ABSENT = "-"


@dataclass(frozen=True)
class Facts:
    stack: str
    # "<version>_<name>" -> state label; None when not read (why: migrations_problem, or another tool's history)
    migrations: dict[str, str] | None
    migrations_problem: str | None
    variables: dict[str, frozenset[str] | None]  # Vercel project -> variable names (None: unreadable)
    supabase: dict[str, str | None]
    settings: dict[str, str | None]


@dataclass(frozen=True)
class Difference:
    area: str
    item: str
    left: str
    right: str
    kind: Kind


def gather(view: StackView, root: Path) -> Facts:
    """Read everything compared, from the stack, its database and both APIs (reads only)."""
    chosen = view.settings.envstack.migrations
    history: dict[str, str] | None = None
    problem: str | None = None
    history_url = view.history_url
    if chosen.command is not None:
        pass  # another tool's history: not compared (a different command is a settings difference)
    elif not history_url:
        problem = "the stack exports no URL to read the history over"
    else:
        try:
            states = migrations.status(history_url, root / chosen.directory, within=check_seconds())
            history = {f"{s.version}_{s.name}": _STATE_LABELS[s.state] for s in states}
        except errors.MigrationError as exc:
            problem = str(exc)
    return Facts(
        stack=view.name,
        migrations=history,
        migrations_problem=problem,
        variables=_variable_names(view),
        supabase=_supabase_facts(view),
        settings={
            "migrations directory": chosen.directory,
            "migrations command": chosen.command,
            "supabase:ipv6": str(view.settings.supabase.ipv6).lower(),
        },
    )


def _variable_names(view: StackView) -> dict[str, frozenset[str] | None]:
    from envstack.clients.vercel import VercelClient
    from envstack.clients.vercel_scope import Scope
    from envstack.errors import ApiError, ResourceError

    names: dict[str, frozenset[str] | None] = {}
    token = tokens.present(tokens.VERCEL)
    for variables in view.vercel:
        if not token:
            names[variables.project] = None
            continue
        scope = Scope(variables.project_id, variables.target, variables.git_branch)
        try:
            with VercelClient(base_url=variables.api_url, token=token, team=variables.team) as client:
                live = client.list_env(variables.project_id)
        except (ApiError, ResourceError):  # ResourceError: Vercel's list pages did not advance
            names[variables.project] = None
            continue
        names[variables.project] = frozenset(e.key for e in live if scope.overlaps(e))
    return names


def _supabase_facts(view: StackView) -> dict[str, str | None]:
    from envstack.clients.supabase_backups import SupabaseBackupsClient
    from envstack.errors import ApiError

    project = view.supabase
    if project is None:
        return {}
    facts: dict[str, str | None] = {
        "organization": project.organization,
        "region": project.region,
        "instance size": project.instance_size,
        "postgres version": None,
    }
    if not project.is_branch:
        facts["point-in-time recovery"] = None
    token = tokens.present(tokens.SUPABASE)
    if token:
        try:
            with SupabaseBackupsClient(base_url=project.management_api, token=token) as client:
                live = client.get_project(project.ref)
                facts["region"] = live.region or facts["region"]
                facts["postgres version"] = live.database.version if live.database else None
                if not project.is_branch:
                    variant = client.pitr_variant(project.ref)
                    facts["point-in-time recovery"] = f"{variant.removeprefix('pitr_')} days" if variant else "off"
        except ApiError:
            pass  # stays unknown: reported as such
    return facts


def compare(a: Facts, b: Facts) -> list[Difference]:
    found: list[Difference] = []
    if a.migrations is not None and b.migrations is not None:
        for migration in sorted(set(a.migrations) | set(b.migrations)):
            left, right = a.migrations.get(migration, _ABSENT), b.migrations.get(migration, _ABSENT)
            if left != right:
                found.append(Difference("migrations", migration, left, right, "drift"))
    elif a.migrations is not None or b.migrations is not None or a.migrations_problem or b.migrations_problem:
        # Not when both leave their history to another tool: nothing of envstack's to compare.
        found.append(Difference("migrations", "history", _why(a), _why(b), "unknown"))
    for project in sorted(set(a.variables) | set(b.variables)):
        if project not in a.variables or project not in b.variables:
            left = "writes to it" if project in a.variables else _ABSENT
            right = "writes to it" if project in b.variables else _ABSENT
            found.append(Difference("vercel", f"project {project}", left, right, "drift"))
            continue
        names_a, names_b = a.variables[project], b.variables[project]
        if names_a is None or names_b is None:
            found.append(
                Difference(
                    "vercel",
                    f"{project} variable names",
                    "unreadable" if names_a is None else "read",
                    "unreadable" if names_b is None else "read",
                    "unknown",
                )
            )
            continue
        for name in sorted(names_a ^ names_b):
            left = "set" if name in names_a else _ABSENT
            right = "set" if name in names_b else _ABSENT
            found.append(Difference("vercel", f"{project} {name}", left, right, "drift"))
    if bool(a.supabase) != bool(b.supabase):
        left, right = ("a Supabase project", "none") if a.supabase else ("none", "a Supabase project")
        found.append(Difference("supabase", "database", left, right, "drift"))
    for item in sorted(a.supabase if b.supabase else {}):
        left_value, right_value = a.supabase[item], b.supabase.get(item)
        if left_value is None or right_value is None:
            found.append(Difference("supabase", item, left_value or "unknown", right_value or "unknown", "unknown"))
        elif left_value != right_value:
            kind: Kind = "expected" if item in EXPECTED_SUPABASE else "drift"
            found.append(Difference("supabase", item, left_value, right_value, kind))
    for item in sorted(set(a.settings) | set(b.settings)):
        left_setting, right_setting = a.settings.get(item), b.settings.get(item)
        if left_setting != right_setting:
            found.append(Difference("settings", item, left_setting or _ABSENT, right_setting or _ABSENT, "drift"))
    return found


def _why(facts: Facts) -> str:
    if facts.migrations is not None:
        return "read"
    return facts.migrations_problem or "not read (another tool's history)"


def drifted(differences: Sequence[Difference]) -> bool:
    return any(d.kind != "expected" for d in differences)


def render_table(a: str, b: str, differences: Sequence[Difference], secrets: Sequence[str] = ()) -> str:
    title = f"envstack diff: {a} vs {b}"
    if not differences:
        return f"{title}\n\nno differences"
    rows = [("AREA", "ITEM", a.upper(), b.upper(), "VERDICT")]
    rows += [(d.area, d.item, d.left, d.right, d.kind if d.kind == "expected" else d.kind.upper()) for d in differences]
    widths = [max(len(row[i]) for row in rows) + 2 for i in range(4)]
    lines = [title, ""]
    lines += ["".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + row[4] for row in rows]
    drift = sum(1 for d in differences if d.kind != "expected")
    lines += ["", f"{drift} drift, {len(differences) - drift} expected"]
    return redact("\n".join(lines), secrets)


def render_json(a: str, b: str, differences: Sequence[Difference], secrets: Sequence[str] = ()) -> str:
    document = {
        "stacks": [a, b],
        "drift": drifted(differences),
        "differences": [{"area": d.area, "item": d.item, a: d.left, b: d.right, "kind": d.kind} for d in differences],
    }
    return redact(json.dumps(document, indent=2), secrets)
