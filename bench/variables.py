"""Vercel variables: what writing, changing and removing N of them costs (calls and time).

The variables resource's provider is driven directly against the local Vercel API, so the
figures are the variables' own, without the rest of a stack around them.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.local_apis import LocalApis, Tenants
from bench.report import Row, Section, seconds
from bench.runs import median, timed

SIZES = (13, 60, 200)
PROJECT = "hermes-web"


@contextmanager
def _token(value: str) -> Iterator[None]:
    before = os.environ.get("VERCEL_TOKEN")
    os.environ["VERCEL_TOKEN"] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("VERCEL_TOKEN", None)
        else:
            os.environ["VERCEL_TOKEN"] = before


def _inputs(tenants: Tenants, project_id: str, count: int) -> dict[str, Any]:
    variables = {f"APP_SETTING_{n:03d}": secrets.token_urlsafe(24) for n in range(count)}
    # About as many readable (public) ones as a stack has: 8 of its 19.
    public = sorted(variables)[: count * 8 // 19]
    return {
        "api_url": tenants.vercel.url,
        "team": tenants.vercel.team,
        "project_id": project_id,
        "target": "preview",
        "git_branch": None,
        "variables": variables,
        "public_keys": public,
        "adopt": False,
        "comment": "managed by envstack (bench)",
    }


def _one(apis: LocalApis, count: int) -> dict[str, tuple[float, int]]:
    from providers.vercel_env import VercelEnvironmentVariablesProvider

    tenants = apis.tenants()
    try:
        project_id = tenants.vercel.create_project(PROJECT)["id"]
        provider = VercelEnvironmentVariablesProvider()
        inputs = _inputs(tenants, project_id, count)
        found: dict[str, tuple[float, int]] = {}

        def step(name: str, action: Any) -> Any:
            before = len(tenants.vercel.calls())
            result: list[Any] = []
            took = timed(lambda: result.append(action()))
            found[name] = (took, len(tenants.vercel.calls()) - before)
            return result[0]

        # The provider's progress lines go to stdout without an engine to send them to.
        quiet = io.StringIO()
        with _token(tenants.vercel.token), contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            created = step("write all (create)", lambda: provider.create(inputs))
            outs = dict(created.outs or {})
            changed = {**inputs, "variables": {k: secrets.token_urlsafe(24) for k in inputs["variables"]}}
            updated = step("change every value", lambda: provider.update(created.id, outs, changed))
            outs = dict(updated.outs or {})
            step("refresh (read)", lambda: provider.read(created.id, outs))
            step("remove all (destroy)", lambda: provider.delete(created.id, outs))
        assert tenants.vercel.env_vars(PROJECT) == [], "the destroy removed every variable"
        return found
    finally:
        apis.forget(tenants)


def _floor(step: str, count: int) -> str:
    """The fewest calls each step can make with the calls Vercel documents."""
    if step.startswith("write"):
        return "2 calls (check, write)"
    if step.startswith("change"):
        return f"{count} calls (a PATCH each)"
    if step.startswith("refresh"):
        return f"{1 + count * 8 // 19} calls (list, read each readable value)"
    return "1 call"


def measure(apis: LocalApis, runs: int) -> Section:
    section = Section("variables", "Vercel variables: N of them", runs)
    for count in SIZES:
        results = [_one(apis, count) for _ in range(runs)]
        for name in results[0]:
            took = median([r[name][0] for r in results])
            calls = max(r[name][1] for r in results)
            section.rows.append(Row(f"{count} variables: {name}", seconds(took), _floor(name, count), f"{calls}"))
    section.notes.append(
        "Writing any number of variables is two calls: one list (to refuse overwriting a variable the stack "
        "does not own) and one batched create (`upsert`, so a repeat after a lost answer rewrites the same). "
        "Removing them is one batched delete. Changing values costs one PATCH per changed variable: PATCH is "
        "Vercel's only documented in-place edit (ids stay what the state records); whether a batched "
        "`upsert` keeps a variable's id is not documented, so it is not relied on. A run changes few values "
        "(a rotation: a password and the URLs carrying it); changing all 200 means 200 calls, which the "
        "HTTP layer paces by Vercel's 429 answers. A refresh lists once and reads back each readable "
        "(non-sensitive) value to detect edits made by hand; sensitive values cannot be read, so cost nothing."
    )
    return section
