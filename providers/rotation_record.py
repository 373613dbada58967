"""Dynamic provider: the record of a stack's secret rotations (which secret, when, by which run).

``counters`` maps a secret's name (``database``, ``jwt``…) to its rotation counter. When a
counter differs from the one last recorded, an entry ``{secret, counter, previous, at, by}``
is added to ``history`` (the newest ``HISTORY_LENGTH`` are kept) and becomes ``latest[secret]``.
``run`` says who is deploying (a CI run id, or user@host); it is stored in entries but never
compared, so a different person running an unchanged stack changes nothing. Declared after
everything the rotations touch, so an entry is written only once the rotation's own steps of
that run went through. No secret ever reaches it: names, numbers and times only. No network.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from providers.declared import Declared, Inputs
from providers.unknowns import is_unknown

HISTORY_LENGTH = 50


def _counters(value: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in (value or {}).items()} if isinstance(value, Mapping) else {}


def _record(news: dict[str, Any], olds: dict[str, Any] | None) -> dict[str, Any]:
    counters = _counters(news.get("counters"))
    latest: dict[str, Any] = dict((olds or {}).get("latest") or {})
    history: list[Any] = list((olds or {}).get("history") or [])
    if olds is None:
        latest = {name: {"secret": name, "counter": n, "at": None, "by": None} for name, n in counters.items()}
    else:
        before = _counters(olds.get("counters"))
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for name, counter in sorted(counters.items()):
            if before.get(name) == counter:
                continue
            entry = {"secret": name, "counter": counter, "previous": before.get(name), "at": at, "by": news.get("run")}
            latest[name] = entry
            history.append(entry)
    return {"counters": counters, "run": news.get("run"), "latest": latest, "history": history[-HISTORY_LENGTH:]}


class RotationRecordProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_="rotations", outs=_record(props, None))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        counters = news.get("counters")
        changed = is_unknown(counters) or _counters(counters) != _counters(olds.get("counters"))
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_record(news, olds))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # only ever existed in the state


@dataclass(frozen=True)
class RotationRecordInputs(Inputs):
    counters: dict[str, int]  # secret → rotation counter, as the settings have them
    run: str


class RotationRecord(Declared, module="envstack", name="RotationRecord"):
    latest: pulumi.Output[dict[str, Any]]
    history: pulumi.Output[list[dict[str, Any]]]

    def __init__(self, name: str, inputs: RotationRecordInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(RotationRecordProvider(), name, inputs, opts)
