"""The policy pack's rules as functions (the engine runs them in tests/integration/test_pr_environments.py)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from providers import local_command

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "policy"))
import guardrails  # the policy pack is a directory beside the project, not a package


@dataclass
class Opts:
    protect: bool


@dataclass
class Args:
    urn: str
    resource_type: str
    name: str
    protect: bool
    props: dict[str, Any] = field(default_factory=dict)

    @property
    def opts(self) -> Opts:
        return Opts(self.protect)


def violations(rule: Any, args: Args) -> list[str]:
    found: list[str] = []
    rule(args, lambda message, urn: found.append(message))
    return found


def resource(stack: str, protect: bool, **props: Any) -> Args:
    kind = "pulumi-python:dynamic/local:Command"
    return Args(f"urn:pulumi:{stack}::envstack::{kind}::{stack}-x", kind, f"{stack}-x", protect, props)


def test_the_stack_comes_from_the_urn() -> None:
    assert guardrails.stack_of("urn:pulumi:production::envstack::t::n") == "production"
    assert guardrails.stack_of("not a urn") == ""


@pytest.mark.parametrize(
    ("stack", "protect", "violated"),
    [("production", False, True), ("production", True, False), ("staging", False, False), ("pr-3", False, False)],
)
def test_only_an_unprotected_production_resource_violates(stack: str, protect: bool, violated: bool) -> None:
    assert bool(violations(guardrails.protected, resource(stack, protect))) == violated


@pytest.mark.parametrize("kind", ["pulumi-python:dynamic:Resource", "random:index/randomPassword:RandomPassword"])
def test_a_production_resource_of_any_package_must_be_protected(kind: str) -> None:
    """A resource declared without a module name, or of a provider package added later, was
    outside the rule: only pulumi-python:dynamic/ types were held to it."""
    unprotected = Args(f"urn:pulumi:production::envstack::{kind}::x", kind, "x", False)
    assert violations(guardrails.protected, unprotected)
    engine = "pulumi:providers:pulumi-python"
    default_provider = Args(f"urn:pulumi:production::envstack::{engine}::default", engine, "default", False)
    assert not violations(guardrails.protected, default_provider), "the engine's own are not the program's to protect"


def test_production_may_not_declare_the_seed_command() -> None:
    seed = {"command": "python -m envstack seed --file supabase/seed.sql", "purpose": "seed"}
    assert violations(guardrails.never_seeded, resource("production", True, **seed))
    assert not violations(guardrails.never_seeded, resource("staging", False, **seed))
    migrate = {"command": "python -m envstack migrate up", "purpose": "migrate"}
    assert not violations(guardrails.never_seeded, resource("production", True, **migrate))


def test_the_seed_command_is_known_by_its_purpose_not_its_command_line() -> None:
    custom = {"command": "./scripts/load-fixtures.sh", "purpose": "seed"}
    assert violations(guardrails.never_seeded, resource("production", True, **custom))
    # A command that merely mentions seeding, unmarked, is not the seed command.
    unmarked = {"command": "echo python -m envstack seed", "purpose": None}
    assert not violations(guardrails.never_seeded, resource("production", True, **unmarked))


def test_the_policy_and_the_provider_agree_on_the_seed_marker() -> None:
    # The policy pack cannot import envstack, so it keeps its own copy of the literal.
    assert guardrails.SEED_PURPOSE == local_command.SEED_PURPOSE
