"""The pull request's preview comment, as Markdown: pure functions, no I/O.

``python -m envstack pr comment`` gathers one ``StackPreview`` per stack and posts what
``render`` makes of them. Everything that came from the engine, a database or the
settings passes through the redactor here, with every secret the caller knows, before it
is cut to fit, so a cut can never leave half a secret behind.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from envstack.db.migrations import MigrationState
from envstack.redaction import redact

# The first line of envstack's comment: how the next run finds it to update it.
MARKER = "<!-- envstack:preview-comment -->"
# GitHub refuses comment bodies over 65,536 characters; leave room for the closing lines.
MAX_BODY = 64_000
# What the change summary counts, in the engine's operation names (only logical steps are
# counted in a summary, so a replacement shows as one "replace").
COUNTED = (("create", "to create"), ("update", "to update"), ("replace", "to replace"), ("delete", "to delete"))
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SIGN = re.compile(r"^(?P<indent>\s+)(?P<sign>[+-])(?= )")
_MAX_ERROR = 6_000
_TRUNCATED = "… {lines} more lines not shown here; the workflow's log has the whole preview"


@dataclass(frozen=True)
class MigrationPlan:
    """What `pulumi up` would do to the stack's database history."""

    pending: tuple[str, ...] = ()  # file names, in the order they would run
    edited: tuple[str, ...] = ()  # applied files whose content changed since
    missing: tuple[str, ...] = ()  # versions in the history with no file
    note: str | None = None  # why the list is what it is (never deployed, another tool)
    problem: str | None = None  # the history could not be read; nothing is known


@dataclass(frozen=True)
class StackPreview:
    stack: str
    changes: Mapping[str, int] | None  # operation → count; None when the preview did not finish
    output: str  # the engine's output (`pulumi preview --diff`)
    migrations: MigrationPlan
    error: str | None = None  # why the preview failed
    # Not previewed with the pull request's code (production: that would hand it production's
    # passphrase): why, and what stands in for the preview. ``output`` then holds the settings'
    # changes, and ``migrations`` comes from the history its deploy job published.
    recorded: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def plan_from_states(states: Sequence[MigrationState], note: str | None = None) -> MigrationPlan:
    def named(state: str) -> tuple[str, ...]:
        return tuple(f"{s.version}_{s.name}.sql" for s in states if s.state == state)

    missing = tuple(f"{s.version}_{s.name}" if s.name else s.version for s in states if s.state == "missing-file")
    return MigrationPlan(pending=named("pending"), edited=named("edited"), missing=missing, note=note)


def is_ours(body: str | None) -> bool:
    """Whether a comment is envstack's preview comment (its first line is the marker)."""
    return body is not None and body.split("\n", 1)[0].strip() == MARKER


def change_counts(changes: Mapping[str, int]) -> dict[str, int]:
    """The engine's summary (keys may be OpType members or plain strings) with plain keys."""
    counts: dict[str, int] = {}
    for key, value in changes.items():
        name = str(getattr(key, "value", key))
        counts[name] = counts.get(name, 0) + int(value)
    return counts


def summarize_changes(changes: Mapping[str, int] | None) -> str:
    if changes is None:
        return "unknown (the preview did not finish)"
    counts = change_counts(changes)
    parts = [f"{counts.get(op, 0)} {label}" for op, label in COUNTED]
    summary = ", ".join(parts)
    unchanged = counts.get("same", 0)
    return f"{summary} ({unchanged} unchanged)" if unchanged else summary


def has_changes(changes: Mapping[str, int] | None) -> bool:
    return changes is not None and any(change_counts(changes).get(op, 0) for op, _ in COUNTED)


def error_lines(diagnostics: Iterable[str], output: str) -> str:
    """The lines that say why a preview failed: the engine's error diagnostics and policy
    violations when it sent any, else the error lines of its output."""
    found = [line.strip() for line in diagnostics if line.strip()]
    if not found:
        found = [line.strip() for line in output.splitlines() if re.match(r"\s*error:", line)]
    unique = list(dict.fromkeys(found))
    return "\n".join(unique) or "the preview failed without saying why; see the diff block and the workflow's log"


def fence(text: str, info: str = "") -> str:
    """A fenced code block that no backtick run inside ``text`` can close early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text.rstrip()}\n{ticks}"


def diff_markup(output: str) -> str:
    """The engine's output with colour codes removed and each indented ``+``/``-`` moved to
    the start of its line, where a ```diff block colours it."""
    plain = _ANSI.sub("", output)
    return "\n".join(_SIGN.sub(r"\g<sign>\g<indent>", line) for line in plain.splitlines())


def cut(text: str, limit: int) -> str:
    """``text`` shortened at a line boundary to at most about ``limit`` characters."""
    if len(text) <= limit:
        return text
    lines = text.splitlines()
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join([*kept, _TRUNCATED.format(lines=len(lines) - len(kept))])


def render(
    previews: Sequence[StackPreview], secrets: Iterable[str], *, updated: datetime, max_body: int = MAX_BODY
) -> str:
    """The whole comment. ``secrets``: every value to mask, of every stack previewed."""
    known = tuple(secrets)

    def mask(text: str) -> str:
        return redact(text, known)

    sections = [_section(p, mask) for p in previews]
    head = _head(previews, updated)
    skeleton = "\n\n".join([head, *(s.text for s in sections)])
    # Each diff block adds its own frame (summary, fences, the truncation line).
    room = max(0, max_body - len(skeleton) - 300 * len(sections))
    per_stack = room // max(1, len(sections))
    body = "\n\n".join([head, *(s.with_output(per_stack) for s in sections)])
    # Belt and braces: anything secret-shaped that slipped into the frame is masked too.
    return cut(mask(body), max_body) + "\n"


@dataclass(frozen=True)
class _Section:
    text: str  # everything but the engine's output
    output: str  # already masked
    title: str = "Diff (<code>pulumi preview --diff</code>)"

    def with_output(self, limit: int) -> str:
        if not self.output.strip():
            return self.text
        return (
            f"{self.text}\n\n<details><summary>{self.title}</summary>\n\n"
            f"{fence(cut(self.output, limit), 'diff')}\n\n</details>"
        )


def _head(previews: Sequence[StackPreview], updated: datetime) -> str:
    rows = ["| stack | result | changes | migrations that would run |", "|---|---|---|---|"]
    for p in previews:
        result = "**failed**" if p.failed else ("changes" if has_changes(p.changes) else "no changes")
        if p.recorded is not None and not p.failed:
            result = "not previewed here (see below)"
        changes = summarize_changes(p.changes) if p.changes is not None else "—"
        if p.migrations.problem:
            migrations = "unknown"
        else:
            migrations = str(len(p.migrations.pending)) if p.migrations.pending else "none"
        rows.append(f"| `{p.stack}` | {result} | {changes} | {migrations} |")
    failed = [p.stack for p in previews if p.failed]
    verdict = (
        f"**Preview failed for {', '.join(f'`{s}`' for s in failed)}.**" if failed else "Every stack previewed cleanly."
    )
    stamp = updated.strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            MARKER,
            "## envstack: what this pull request would change",
            "",
            verdict,
            "",
            *rows,
            "",
            f"<sub>Updated {stamp} by <code>python -m envstack pr comment</code>; "
            "previewed again on every push. Nothing was deployed.</sub>",
        ]
    )


def _section(preview: StackPreview, mask: Callable[[str], str]) -> _Section:
    lines = [f"### `{preview.stack}`" + (" — preview failed" if preview.failed else "")]
    if preview.error is not None:
        lines += ["", fence(cut(mask(_ANSI.sub("", preview.error)), _MAX_ERROR))]
    if preview.recorded is not None:
        lines += ["", f"_{mask(preview.recorded)}_"]
        settings = "none" if not preview.output.strip() else "below"
        lines += ["", f"**Settings changed in `Pulumi.{preview.stack}.yaml`:** {settings}"]
    else:
        lines += ["", f"**Changes:** {summarize_changes(preview.changes)}"]
    lines += ["", *_migration_lines(preview.migrations, mask)]
    title = (
        f"Settings (<code>Pulumi.{preview.stack}.yaml</code> against the default branch)"
        if preview.recorded is not None
        else "Diff (<code>pulumi preview --diff</code>)"
    )
    # Colour codes go before masking: one inside a secret would hide it from the redactor.
    return _Section("\n".join(lines), diff_markup(mask(_ANSI.sub("", preview.output))), title)


def _migration_lines(plan: MigrationPlan, mask: Callable[[str], str]) -> list[str]:
    if plan.problem is not None:
        heading = "**Migrations that would run:** unknown, the database's history could not be read:"
        return [heading, "", fence(mask(plan.problem))]
    lines: list[str] = []
    if plan.pending:
        lines.append("**Migrations that would run:**")
        lines += [f"- `{name}`" for name in plan.pending]
    else:
        lines.append("**Migrations that would run:** none")
    if plan.note:
        lines += ["", f"_{mask(plan.note)}_"]
    if plan.edited:
        lines += ["", "**Applied migrations whose file has changed since** (not applied again):"]
        lines += [f"- `{name}`" for name in plan.edited]
    if plan.missing:
        lines += ["", "**In the database's history but with no file** (`up` refuses until this is resolved):"]
        lines += [f"- `{name}`" for name in plan.missing]
    return lines
