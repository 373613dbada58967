"""One Vercel project's share of an environment: its variables for one target, and the
redeploy that makes a new deployment pick them up (Vercel applies variables only to new
deployments)."""

from __future__ import annotations

import hashlib
import json

import pulumi

from envstack.settings import StackSettings
from envstack.variables import AppVariables
from providers.vercel_env import VercelEnvironmentVariables
from providers.vercel_project import VercelProject
from providers.vercel_redeploy import VercelRedeploy


def _fingerprint(hashes: dict[str, str] | None) -> str:
    """Changes whenever any variable's value (hash) changes, and only then."""
    return hashlib.sha256(json.dumps(hashes or {}, sort_keys=True).encode()).hexdigest()


class VercelEnvironment(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        project: str,
        settings: StackSettings,
        variables: AppVariables[pulumi.Output[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("envstack:environment:Vercel", name, None, opts)
        vercel = settings.vercel
        scope = {"api_url": vercel.api_url, "team": vercel.team}
        target, branch = settings.vercel_target, vercel.git_branch
        child = pulumi.ResourceOptions(parent=self)
        self.project = VercelProject(
            f"{name}-project", project=project, create=vercel.create_projects, **scope, opts=child
        )
        self.variables = VercelEnvironmentVariables(
            f"{name}-variables",
            project_id=self.project.project_id,
            target=target,
            git_branch=branch,
            variables=variables.values,
            public_keys=sorted(variables.public),
            adopt=vercel.adopt_variables,
            # Names the stack: the provider recognises its own variables after an interrupted run.
            comment=f"managed by envstack ({pulumi.get_project()}/{settings.stack})",
            **scope,
            opts=child,
        )
        self.redeploy = VercelRedeploy(
            f"{name}-redeploy",
            project_id=self.project.project_id,
            project_name=project,
            target=target,
            git_branch=branch,
            trigger=self.variables.hashes.apply(_fingerprint),
            enabled=vercel.redeploy,
            timeout_seconds=vercel.redeploy_timeout,
            **scope,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.variables]),
        )
        self.register_outputs({"project_id": self.project.project_id})
