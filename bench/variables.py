"""Vercel variables: what writing, changing and removing N of them costs (calls and time).

The variables resource's provider is driven directly against the local Vercel API, so the
figures are the variables' own, without the rest of a stack around them.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.local_apis import LocalApis, Tenants
from bench.report import Row, Section, seconds
from bench.runs import median, timed

SIZES = (13, 60, 200)
PAGE = 100  # variables per page of Vercel's list
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


def _pages(count: int) -> int:
    return max(1, math.ceil(count / PAGE))


def _floor(step: str) -> str:
    """The fewest calls each step can make with the calls Vercel documents: the list is one
    call when every variable comes in one answer (the local API's does); where Vercel pages it
    at 100, each further page adds one call, which ``_goal`` allows."""
    if step.startswith("write"):
        return "2 calls (list, one batched write)"
    if step.startswith("change"):
        return "2 calls (list, one `upsert` of every value)"
    if step.startswith("refresh"):
        return "1 call (list)"
    return "2 calls (one batched delete, a list that no longer shows them)"


def _goal(step: str, calls: dict[int, int]) -> str:
    """Issue 18: changing N values in O(1) calls, a refresh in O(pages); met when no size
    needs more than its floor's calls."""
    if not step.startswith(("change", "refresh")):
        return ""
    bound = "O(1)" if step.startswith("change") else "O(pages)"
    fewest = {count: (1 if step.startswith("refresh") else 2) + _pages(count) - 1 for count in calls}
    verdict = "met" if all(calls[count] <= fewest[count] for count in calls) else "missed"
    return f"{bound}: {verdict}"


def measure(apis: LocalApis, runs: int) -> Section:
    section = Section("variables", "Vercel variables: N of them", runs)
    results = {count: [_one(apis, count) for _ in range(runs)] for count in SIZES}
    steps = list(results[SIZES[0]][0])
    calls = {step: {count: max(r[step][1] for r in results[count]) for count in SIZES} for step in steps}
    for count in SIZES:
        for step in steps:
            took = median([r[step][0] for r in results[count]])
            section.rows.append(
                Row(
                    f"{count} variables: {step}",
                    seconds(took),
                    _floor(step),
                    goal=_goal(step, calls[step]) if count == SIZES[-1] else "",
                    calls=f"{calls[step][count]}",
                )
            )
    section.notes.append(
        "Writing any number of variables is a list (to refuse overwriting a variable the stack does not own) "
        "and one batched create (`upsert`, so a repeat after a lost answer rewrites the same). Changing any "
        "number of values is a list (what changed in Vercel since the last write is restored, not "
        "overwritten blindly) and one `POST …/env?upsert=true` with every new value: Vercel updates each "
        "variable of that key, target and branch in place, so the ids the state records stay. Removing them "
        "is one batched delete and a list that no longer shows them (Vercel deletes eventually, and until "
        "then a deleted variable is in the way of a new one of its key and scope). A refresh is one list per "
        "page of 100: edits made by hand are seen by "
        "Vercel's `updatedAt` against the one recorded after the stack's last write, so no value is read "
        "back. Each goal is judged on every size: the calls must not grow with N beyond the list's pages."
    )
    return section
