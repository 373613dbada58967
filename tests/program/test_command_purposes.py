"""The program marks its migrate and seed commands with their ``purpose``, the marker the policy
pack's production-is-never-seeded rule reads (policy/guardrails.py)."""

from __future__ import annotations

import sys

from providers.local_command import MIGRATE_PURPOSE, SEED_PURPOSE
from tests.program.harness import ROOT, run_program
from tests.program.test_program_graph import stack_config

sys.path.insert(0, str(ROOT / "policy"))
import guardrails  # the policy pack is a directory beside the project, not a package


def test_migrate_and_seed_commands_carry_their_purpose() -> None:
    graph = run_program("staging", stack_config("staging"))
    purposes = {r.name: r.inputs.get("purpose") for r in graph.resources if r.type.endswith("local:Command")}
    assert purposes == {"staging-migrations-migrate": MIGRATE_PURPOSE, "staging-migrations-seed": SEED_PURPOSE}
    assert SEED_PURPOSE == guardrails.SEED_PURPOSE


def test_a_custom_migration_command_is_still_not_the_seed_command() -> None:
    config = {**stack_config("production"), "envstack:migrations": '{"command": "npx prisma db seed"}'}
    graph = run_program("production", config)
    (command,) = [r for r in graph.resources if r.type.endswith("local:Command")]
    assert command.inputs["purpose"] == MIGRATE_PURPOSE
