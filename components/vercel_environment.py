"""One Vercel project's share of an environment: its variables for one target, and the
redeploy that makes a new deployment pick them up (Vercel applies variables only to new
deployments)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import pulumi

from providers.generated_secret import GeneratedSecret, GeneratedSecretInputs
from providers.vercel_env import VercelEnvironmentVariables, VercelEnvironmentVariablesInputs, comment_of, digests
from providers.vercel_project import VercelProject, VercelProjectInputs
from providers.vercel_redeploy import VercelRedeploy, VercelRedeployInputs


def _fingerprint(hashes: dict[str, str] | None, repairs: int | None = None) -> str:
    """Changes whenever any variable's value (hash) changes, or an update restored variables
    changed in Vercel (``repairs``), and only then."""
    digest = hashlib.sha256(json.dumps(hashes or {}, sort_keys=True).encode()).hexdigest()
    # Without a repair the digest is what it always was, so no stack redeploys on upgrading.
    return f"{digest}:{repairs}" if repairs else digest


@dataclass(frozen=True)
class VercelEnvironmentArgs:
    project: str  # the Vercel project's name or id
    stack: str  # named in each variable's comment
    api_url: str
    team: str | None  # None: a personal account
    create_project: bool
    target: str  # production, preview, development or a custom environment's id
    git_branch: str | None  # scopes the variables of the preview target to one branch
    variables: Mapping[str, pulumi.Input[str]]  # name → value
    public: Collection[str]  # the names whose values are not secret
    adopt_variables: bool
    redeploy: bool
    redeploy_timeout: float  # seconds


class VercelEnvironment(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        args: VercelEnvironmentArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        redeploy_after: Sequence[pulumi.Resource] = (),
    ) -> None:
        """``redeploy_after``: what the redeployed app needs done first (the database's migrations),
        whether or not any of this project's variables comes from it."""
        super().__init__("envstack:environment:Vercel", name, None, opts)
        target, branch = args.target, args.git_branch
        child = pulumi.ResourceOptions(parent=self)
        self.project = VercelProject(
            f"{name}-project",
            VercelProjectInputs(project=args.project, create=args.create_project, api_url=args.api_url, team=args.team),
            opts=child,
        )
        # A reviewer sees each changed variable by name in `pulumi preview --diff` (and in the pull
        # request's comment): a public value as it is, a secret one as a digest keyed by this key.
        digest_key = GeneratedSecret(f"{name}-digest-key", GeneratedSecretInputs(length=32), opts=child)
        self.variables = VercelEnvironmentVariables(
            f"{name}-variables",
            VercelEnvironmentVariablesInputs(
                project_id=self.project.project_id,
                target=target,
                git_branch=branch,
                variables=args.variables,
                public_keys=sorted(args.public),
                adopt=args.adopt_variables,
                # Names the stack: the provider recognises its own variables after an interrupted run.
                comment=comment_of(pulumi.get_project(), args.stack),
                api_url=args.api_url,
                team=args.team,
                digests=digests(args.variables, args.public, digest_key.value),
            ),
            opts=child,
        )
        self.redeploy = VercelRedeploy(
            f"{name}-redeploy",
            VercelRedeployInputs(
                project_id=self.project.project_id,
                project_name=args.project,
                target=target,
                git_branch=branch,
                trigger=pulumi.Output.all(self.variables.hashes, self.variables.repairs).apply(
                    lambda found: _fingerprint(found[0], found[1])
                ),
                enabled=args.redeploy,
                timeout_seconds=args.redeploy_timeout,
                api_url=args.api_url,
                team=args.team,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.variables, *redeploy_after]),
        )
        self.register_outputs({"project_id": self.project.project_id})
