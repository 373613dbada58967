"""envstack's policies: what must hold in production whatever the program says.

Run them with every preview and update of staging and production (the pull-request workflow
does): `pulumi preview --stack production --policy-pack policy`. A violation is mandatory,
so the run fails before any resource is touched.

- Every resource of the production stack is protected, so neither `pulumi destroy` nor a
  change that would replace it (a new region, organization or project ref) can delete
  production's database, credentials or variables: the engine refuses first.
- Production never declares the seed command: test data cannot reach it. The seed command is
  the local command whose ``purpose`` input is ``seed`` (components/database_migrations.py marks it), so
  it is caught however its command line is spelt. A command that seeds without that mark (a
  custom migrations command written to load data, say) is not recognised: that is the
  settings' author's, reviewed on the default branch with Pulumi.production.yaml.

Production is the stack named ``production`` (the settings model allows no other stack to
be production), read from each resource's URN: the analyzer is shown custom resources only,
not the components whose properties name the environment.
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

PRODUCTION_STACK = "production"
# The engine's own resources (the stack, default providers), which no program protects. Every
# other type counts, whatever its package: a resource declared without a module name, or one of
# a provider package added later, is held to the rules too.
ENGINE_PREFIX = "pulumi:"
# The ``purpose`` that marks the seed command: a copy of providers.local_command.SEED_PURPOSE,
# because the policy pack runs in this directory and cannot import envstack's modules.
# tests/unit/test_guardrails.py keeps the two equal.
SEED_PURPOSE = "seed"


def stack_of(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` → ``<stack>``."""
    return urn.split(":", 3)[2].split("::", 1)[0] if urn.startswith("urn:pulumi:") else ""


def is_production(args: ResourceValidationArgs) -> bool:
    return stack_of(args.urn) == PRODUCTION_STACK and not args.resource_type.startswith(ENGINE_PREFIX)


def protected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if is_production(args) and not args.opts.protect:
        report_violation(
            f"{args.name} ({args.resource_type}) belongs to production and must be protected, "
            "so that no destroy or replace can delete it",
            None,
        )


def never_seeded(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if is_production(args) and args.props.get("purpose") == SEED_PURPOSE:
        report_violation("production never receives test data, but this stack declares the seed command", None)


POLICIES = [
    ResourceValidationPolicy(
        name="production-is-protected",
        description="Every resource of the production stack is protected from destroy and replace.",
        validate=protected,
    ),
    ResourceValidationPolicy(
        name="production-is-never-seeded",
        description="The production stack never declares the seed command.",
        validate=never_seeded,
    ),
]
