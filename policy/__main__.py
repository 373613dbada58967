"""The policy pack the analyzer runs (`--policy-pack policy`); the policies are in guardrails.py."""

from guardrails import POLICIES  # type: ignore[import-not-found]
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="envstack-guardrails", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
