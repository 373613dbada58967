"""envstack's policies: what must hold in production whatever the program says.

Run it with every preview and update of staging and production (the pull-request workflow
does): `pulumi preview --stack production --policy-pack policy`. A violation is mandatory,
so the run fails before any resource is touched.

- Every resource of a production stack is protected, so neither `pulumi destroy` nor a
  change that would replace it (a new region, organization or project ref) can delete
  production's database, credentials or variables; the engine refuses first.
- Production never declares the seed command: test data cannot reach it.

A stack is production when its environment component says so (envstack:environment), not
by its name, so a production stack with another name is covered too.
"""

from __future__ import annotations

from pulumi_policy import (
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

ENVIRONMENT_COMPONENTS = ("envstack:environment:Local", "envstack:environment:Supabase")
MANAGED_PREFIX = "pulumi-python:dynamic/"


def is_production(args: StackValidationArgs) -> bool:
    return any(
        r.resource_type in ENVIRONMENT_COMPONENTS and r.props.get("environment") == "production" for r in args.resources
    )


def everything_protected(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    if not is_production(args):
        return
    for resource in args.resources:
        if resource.resource_type.startswith(MANAGED_PREFIX) and not resource.opts.protect:
            report_violation(
                f"{resource.name} ({resource.resource_type}) belongs to production and must be protected, "
                "so that no destroy or replace can delete it",
                resource.urn,
            )


def never_seeded(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    if not is_production(args):
        return
    for resource in args.resources:
        command = str(resource.props.get("command") or "")
        if "envstack seed" in command:
            report_violation(
                "production never receives test data, but this stack declares the seed command", resource.urn
            )


POLICIES = [
    StackValidationPolicy(
        name="production-is-protected",
        description="Every resource of a production stack is protected from destroy and replace.",
        validate=everything_protected,
    ),
    StackValidationPolicy(
        name="production-is-never-seeded",
        description="A production stack never declares the seed command.",
        validate=never_seeded,
    ),
]
