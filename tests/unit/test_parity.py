"""What `envstack diff` calls expected, drift and unknown, and how it shows them."""

from __future__ import annotations

import json
from dataclasses import replace

from envstack.ops.parity import Facts, compare, drifted, render_json, render_table

HISTORY = {"20250101000000_create_hermes_leads": "applied"}
STAGING = Facts(
    stack="staging",
    migrations=HISTORY,
    migrations_problem=None,
    variables={"hermes-web": frozenset({"POSTGRES_URL", "JWT_SECRET"})},
    supabase={"organization": "hermes", "region": "eu-central-1", "instance size": "micro", "postgres version": "15"},
    settings={"migrations directory": "supabase/migrations", "migrations command": None, "supabase:ipv6": "false"},
)
PRODUCTION = replace(
    STAGING,
    stack="production",
    supabase={**STAGING.supabase, "region": "eu-west-1", "instance size": "small"},
)


def test_region_and_size_are_expected_differences() -> None:
    differences = compare(STAGING, PRODUCTION)
    assert [(d.item, d.left, d.right, d.kind) for d in differences] == [
        ("instance size", "micro", "small", "expected"),
        ("region", "eu-central-1", "eu-west-1", "expected"),
    ]
    assert not drifted(differences)


def test_everything_else_that_differs_is_drift() -> None:
    production = replace(
        PRODUCTION,
        migrations={**HISTORY, "20990101000000_extra": "applied"},
        variables={"hermes-web": frozenset({"POSTGRES_URL", "JWT_SECRET", "FEATURE_FLAGS"})},
        supabase={**PRODUCTION.supabase, "postgres version": "17", "organization": "other"},
        settings={**STAGING.settings, "supabase:ipv6": "true"},
    )
    drift = [(d.area, d.item, d.left, d.right) for d in compare(STAGING, production) if d.kind == "drift"]
    assert drift == [
        ("migrations", "20990101000000_extra", "-", "applied"),
        ("vercel", "hermes-web FEATURE_FLAGS", "-", "set"),
        ("supabase", "organization", "hermes", "other"),
        ("supabase", "postgres version", "15", "17"),
        ("settings", "supabase:ipv6", "false", "true"),
    ]


def test_what_cannot_be_read_is_not_taken_as_equal() -> None:
    unreadable = replace(
        PRODUCTION, migrations=None, migrations_problem="database error", variables={"hermes-web": None}
    )
    kinds = {(d.area, d.kind) for d in compare(STAGING, unreadable)}
    assert ("migrations", "unknown") in kinds
    assert ("vercel", "unknown") in kinds
    assert drifted(compare(STAGING, unreadable))


def test_a_project_only_one_stack_writes_to_is_drift() -> None:
    other = replace(PRODUCTION, variables={**PRODUCTION.variables, "hermes-admin": frozenset({"POSTGRES_URL"})})
    assert [(d.item, d.kind) for d in compare(STAGING, other) if d.area == "vercel"] == [
        ("project hermes-admin", "drift")
    ]


def test_both_forms_show_every_difference_and_mask_secrets() -> None:
    secret = "correct-horse-battery-staple"
    production = replace(PRODUCTION, migrations=None, migrations_problem=f"cannot connect with {secret}")
    differences = compare(STAGING, production)
    table = render_table("staging", "production", differences, [secret])
    document = json.loads(render_json("staging", "production", differences, [secret]))
    assert secret not in table
    assert secret not in json.dumps(document)
    assert document["drift"] is True
    assert len(document["differences"]) == len(differences) == 3
    assert "UNKNOWN" in table
    assert "expected" in table
    assert render_table("staging", "production", []).endswith("no differences")


def test_histories_both_left_to_another_tool_are_not_compared() -> None:
    prisma = {**STAGING.settings, "migrations command": "npx prisma migrate deploy"}
    staging = replace(STAGING, migrations=None, settings=prisma)
    production = replace(PRODUCTION, migrations=None, settings=prisma)
    assert not drifted(compare(staging, production))
    assert [d.kind for d in compare(staging, PRODUCTION) if d.area in ("migrations", "settings")] == [
        "unknown",
        "drift",
    ]
