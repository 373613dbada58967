"""The pull request's preview comment: what reviewers read, and what they must never read."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from pulumi.automation import events

from envstack.db.migrations import MigrationState
from envstack.ops.preview_report import (
    MARKER,
    MigrationPlan,
    StackPreview,
    diff_markup,
    error_lines,
    fence,
    is_ours,
    plan_from_states,
    render,
    summarize_changes,
)

WHEN = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


def preview(stack: str = "staging", **fields: object) -> StackPreview:
    values: dict[str, object] = {
        "changes": {"create": 1, "update": 2, "same": 5},
        "output": "Previewing update (staging):\n    + pulumi-python:dynamic/x:Y: (create)\n",
        "migrations": MigrationPlan(pending=("20250101000000_a.sql",)),
        "error": None,
        **fields,
    }
    return StackPreview(stack, **values)  # type: ignore[arg-type]


def section(body: str, stack: str) -> str:
    found = re.search(rf"^### `{stack}`.*?(?=^### |\Z)", body, re.S | re.M)
    assert found, body
    return found.group(0)


def test_the_marker_is_the_first_line_and_identifies_only_our_comment() -> None:
    body = render([preview()], [], updated=WHEN)
    assert body.splitlines()[0] == MARKER
    assert is_ours(body)
    assert not is_ours("LGTM")
    assert not is_ours(None)
    assert not is_ours(f"> {MARKER}\n> quoted by a reviewer"), "a quote of our comment is not our comment"


def test_each_stack_gets_its_changes_migrations_and_a_collapsed_diff() -> None:
    body = render(
        [
            preview("staging"),
            preview(
                "production",
                changes={"create": 11},
                migrations=MigrationPlan(
                    pending=("20250101000000_a.sql", "20250102000000_b.sql"), note="never deployed"
                ),
            ),
        ],
        [],
        updated=WHEN,
    )
    staging, production = section(body, "staging"), section(body, "production")
    assert "**Changes:** 1 to create, 2 to update, 0 to replace, 0 to delete (5 unchanged)" in staging
    assert "- `20250101000000_a.sql`" in staging
    assert "- `20250102000000_b.sql`" not in staging
    assert "<details><summary>Diff" in staging
    assert "</details>" in staging
    assert "```diff" in staging
    assert "- `20250101000000_a.sql`\n- `20250102000000_b.sql`" in production
    assert "_never deployed_" in production
    assert "| `production` | changes | 11 to create, 0 to update, 0 to replace, 0 to delete | 2 |" in body
    assert "Every stack previewed cleanly." in body
    assert "2026-01-02 03:04 UTC" in body


def test_a_failed_stack_is_named_with_its_reason() -> None:
    body = render(
        [preview("staging"), preview("production", changes=None, error="Invalid stack setting envstack:seed: no")],
        [],
        updated=WHEN,
    )
    assert "**Preview failed for `production`.**" in body
    assert "| `production` | **failed** | — |" in body
    failed = section(body, "production")
    assert failed.startswith("### `production` — preview failed")
    assert "```\nInvalid stack setting envstack:seed: no\n```" in failed
    assert "unknown (the preview did not finish)" in failed
    assert "failed" not in section(body, "staging")


def test_known_secrets_are_masked_everywhere_they_could_appear() -> None:
    token = secrets.token_urlsafe(24)
    password = secrets.token_urlsafe(18)
    body = render(
        [
            preview(
                output=f"value: {token}\n",
                error=f"failed with {token}",
                migrations=MigrationPlan(note=f"note {token}", pending=()),
            ),
            preview("production", migrations=MigrationPlan(problem=f"connection to {password} refused")),
        ],
        [token, password],
        updated=WHEN,
    )
    assert token not in body
    assert password not in body
    assert body.count("***") >= 4


def test_secret_shaped_values_are_masked_without_being_told() -> None:
    password = secrets.token_urlsafe(18)
    body = render(
        [preview(output=f"url: postgresql://postgres:{password}@127.0.0.1:5432/postgres\n")], [], updated=WHEN
    )
    assert password not in body
    assert "postgresql://postgres:***@127.0.0.1:5432/postgres" in body


def test_a_cut_never_leaves_part_of_a_secret() -> None:
    # A multi-line secret (a key in PEM form) is masked whole before any cut: cutting first
    # would leave its first lines behind, no longer matching the secret as a whole.
    lines = [secrets.token_urlsafe(30) for _ in range(6)]
    key = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----"
    output = "\n".join(f"line {i:04d} " + "x" * 60 for i in range(200)) + f"\nkey: {key}\n" + "tail\n" * 50
    for limit in range(14_000, 16_000, 97):
        body = render([preview(output=output)], [key], updated=WHEN, max_body=limit)
        assert len(body) <= limit + 1
        for line in lines:
            assert line not in body


def test_a_huge_preview_is_cut_to_fit_a_github_comment() -> None:
    output = "\n".join(f"    + resource-{i}: (create)" for i in range(20_000))
    body = render([preview(output=output), preview("production", output=output)], [], updated=WHEN)
    assert len(body) <= 64_001
    assert "more lines not shown here; the workflow's log has the whole preview" in body
    assert body.count("</details>") == 2, "both diff blocks are closed"


def test_backticks_in_the_output_cannot_close_the_code_block() -> None:
    output = "```\n# heading that must stay code\n````"
    block = fence(output, "diff")
    assert block.startswith("`````diff\n")
    assert block.endswith("\n`````")
    body = render([preview(output=output)], [], updated=WHEN)
    assert "`````diff\n" in body


def test_the_diff_is_marked_up_for_colour_and_stripped_of_terminal_codes() -> None:
    raw = "\x1b[32m    + pulumi:x: (create)\x1b[0m\n    - old: (delete)\n    ~ changed: (update)\n    -- not a sign"
    assert diff_markup(raw).splitlines() == [
        "+     pulumi:x: (create)",
        "-     old: (delete)",
        "    ~ changed: (update)",
        "    -- not a sign",
    ]


def test_change_summary_reads_the_engine_operation_names() -> None:
    changes = {events.OpType.CREATE: 2, events.OpType.REPLACE: 1, events.OpType.SAME: 3, "delete": 1}
    assert summarize_changes(changes) == "2 to create, 0 to update, 1 to replace, 1 to delete (3 unchanged)"
    assert summarize_changes({}) == "0 to create, 0 to update, 0 to replace, 0 to delete"
    assert summarize_changes(None) == "unknown (the preview did not finish)"


def test_migration_states_become_what_up_would_do() -> None:
    plan = plan_from_states(
        [
            MigrationState("20250101000000", "first", "applied"),
            MigrationState("20250102000000", "second", "edited"),
            MigrationState("20250103000000", "third", "pending"),
            MigrationState("20250104000000", "fourth", "pending"),
            MigrationState("20240101000000", "gone", "missing-file"),
        ]
    )
    assert plan.pending == ("20250103000000_third.sql", "20250104000000_fourth.sql")
    assert plan.edited == ("20250102000000_second.sql",)
    assert plan.missing == ("20240101000000_gone",)
    body = render([preview(migrations=plan)], [], updated=WHEN)
    assert "**In the database's history but with no file**" in body
    assert "- `20250102000000_second.sql`" in body


def test_an_unreadable_history_says_so_instead_of_listing_nothing() -> None:
    body = render([preview(migrations=MigrationPlan(problem="database error: connection refused"))], [], updated=WHEN)
    assert "unknown, the database's history could not be read" in body
    assert "database error: connection refused" in body
    assert "| unknown |" in body


def test_error_lines_prefer_the_engine_diagnostics() -> None:
    output = "Previewing\n    error: update failed\nerror: preview failed\n"
    assert error_lines(["Invalid stack setting x: y.\n", "Invalid stack setting x: y."], output) == (
        "Invalid stack setting x: y."
    )
    assert error_lines([], output) == "error: update failed\nerror: preview failed"
    assert "see the diff block" in error_lines([], "nothing useful")
