"""Results of health checks, and how `doctor` shows them: a table for people, JSON for machines.

Details are written without secrets by every check; everything is passed through the
redactor with the stack's secrets once more before it is shown, in either form.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from envstack.redaction import redact

Status = Literal["pass", "fail", "skip"]
_SHOWN: dict[Status, str] = {"pass": "pass", "fail": "FAIL", "skip": "skip"}


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str

    @classmethod
    def passed(cls, name: str, detail: str) -> Check:
        return cls(name, "pass", detail)

    @classmethod
    def failed(cls, name: str, detail: str) -> Check:
        return cls(name, "fail", detail)

    @classmethod
    def skipped(cls, name: str, detail: str) -> Check:
        return cls(name, "skip", detail)


def failed(checks: Iterable[Check]) -> list[Check]:
    return [c for c in checks if c.status == "fail"]


def summary(checks: Sequence[Check]) -> str:
    counts = {status: sum(1 for c in checks if c.status == status) for status in ("fail", "pass", "skip")}
    return f"{counts['fail']} failed, {counts['pass']} passed, {counts['skip']} skipped"


def render_table(title: str, checks: Sequence[Check], secrets: Iterable[str] = ()) -> str:
    known = tuple(secrets)
    width = max([len(c.name) for c in checks] + [len("CHECK")]) + 2
    lines = [title, "", f"{'CHECK':<{width}}{'RESULT':<8}DETAIL"]
    lines += [f"{c.name:<{width}}{_SHOWN[c.status]:<8}{c.detail}" for c in checks]
    lines += ["", summary(checks)]
    return redact("\n".join(lines), known)


def render_json(stack: str, checks: Sequence[Check], secrets: Iterable[str] = ()) -> str:
    known = tuple(secrets)
    document = {
        "stack": stack,
        "ok": not failed(checks),
        "checks": [{"check": c.name, "status": c.status, "detail": redact(c.detail, known)} for c in checks],
    }
    return json.dumps(document, indent=2)
