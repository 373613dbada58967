"""Where a Vercel variable lives (a target, a custom environment, a git branch), and how the state
keeps a value without holding it: what the Vercel providers and the checks that read Vercel agree on."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from envstack.vercel_names import STANDARD_TARGETS

if TYPE_CHECKING:
    # Only when writing: the Pulumi program imports this module through the Vercel provider,
    # and need not load the HTTP client for it.
    from envstack.clients.vercel import EnvVar, NewEnv


def value_hash(salt: str, key: str, value: str) -> str:
    """What the state keeps instead of a value: an HMAC keyed by the resource's secret salt."""
    return hmac.new(salt.encode(), f"{key}\0{value}".encode(), hashlib.sha256).hexdigest()


def reviewable(values: Mapping[str, str], public: Collection[str], key: str) -> dict[str, str]:
    """What a reviewer may see of each variable: a public one's value as it is, a secret one's
    as a short digest keyed by a secret of the stack (so it changes exactly when the value does,
    and says nothing about it)."""
    return {name: v if name in public else f"hmac:{value_hash(key, name, v)[:16]}" for name, v in values.items()}


@dataclass(frozen=True)
class Scope:
    """Where the variables live: one target and, for preview, at most one git branch."""

    project_id: str
    target: str
    git_branch: str | None = None

    @classmethod
    def of(cls, props: Mapping[str, Any]) -> Scope:
        return cls(str(props["project_id"]), str(props["target"]), props.get("git_branch") or None)

    @property
    def standard(self) -> bool:
        return self.target in STANDARD_TARGETS

    def describe(self) -> str:
        branch = f" (branch {self.git_branch})" if self.git_branch else ""
        return f"Vercel project {self.project_id}, {self.target}{branch}"

    def placement(self) -> dict[str, Any]:
        """The edit_env fields that put a variable back into this scope."""
        if self.standard:
            return {"target": [self.target], "custom_environment_ids": [], "git_branch": self.git_branch}
        return {"target": [], "custom_environment_ids": [self.target]}

    def overlaps(self, env: EnvVar) -> bool:
        """Would Vercel consider ``env`` the same variable as ours of that key?"""
        covered = self.target in (env.target if self.standard else env.custom_environment_ids)
        return covered and (env.git_branch or None) == self.git_branch

    def exactly(self, env: EnvVar) -> bool:
        if self.standard:
            placed = env.target == [self.target] and not env.custom_environment_ids
        else:
            placed = env.custom_environment_ids == [self.target] and not env.target
        return placed and (env.git_branch or None) == self.git_branch

    def new_env(self, key: str, value: str, type_: str, comment: str | None) -> NewEnv:
        from envstack.clients.vercel import NewEnv

        if self.standard:
            return NewEnv(key, value, type_, target=[self.target], git_branch=self.git_branch, comment=comment)
        return NewEnv(key, value, type_, custom_environment_ids=[self.target], comment=comment)
