"""A deployed stack as the health and parity commands read it, from its configuration and state.

Its settings, its outputs and the state of the resources those commands compare with the
world: the Supabase project (or branch) and, per Vercel project and target, the variables
the stack wrote (their ids, types and salted hashes, never their values). Secret values
(outputs, the hash salt, secret settings) are held in memory only, and collected in
``secrets`` so that anything printed can be masked once more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from envstack.credentials import credential_values
from envstack.errors import StackError
from envstack.ops import automation
from envstack.ops.exported_state import outputs_in, plain
from envstack.settings import StackSettings, load_settings
from providers.declared import type_token
from providers.supabase_api_keys import KINDS, SupabaseApiKeys, key_name
from providers.supabase_branch import SupabaseBranch
from providers.supabase_project import SupabaseProject
from providers.vercel_env import VercelEnvironmentVariables
from providers.vercel_project import VercelProject

# The state's type of each resource the views read, from the resource classes themselves.
SUPABASE_TYPES = (type_token(SupabaseProject), type_token(SupabaseBranch))
VERCEL_PROJECT_TYPE = type_token(VercelProject)
VERCEL_VARIABLES_TYPE = type_token(VercelEnvironmentVariables)
API_KEYS_TYPE = type_token(SupabaseApiKeys)


@dataclass(frozen=True)
class VercelVariables:
    """The variables a stack wrote to one Vercel project and target (as its state records them)."""

    project: str  # the project's name as the stack's settings give it (its id when unknown)
    project_id: str
    api_url: str
    team: str | None
    target: str
    git_branch: str | None
    ids: dict[str, str]  # key -> Vercel env id
    hashes: dict[str, str]  # key -> HMAC of the value written (providers/vercel_env.py)
    types: dict[str, str]  # key -> encrypted | sensitive
    salt: str = field(repr=False)
    # key -> Vercel's updatedAt (ms) after the stack's last write; a later one is someone
    # else's edit. Absent (a state from before stamps) or negative (a write whose answer was
    # lost): unknown.
    stamps: dict[str, float] = field(default_factory=dict)

    @property
    def where(self) -> str:
        branch = f" ({self.git_branch})" if self.git_branch else ""
        return f"{self.project} {self.target}{branch}"


@dataclass(frozen=True)
class SupabaseState:
    ref: str
    management_api: str
    organization: str | None
    region: str | None
    instance_size: str | None
    is_branch: bool
    # The app's API keys the stack recorded: (publishable | secret, name, id); "" when a refresh
    # found one deleted (providers/supabase_api_keys.py).
    api_keys: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class StackView:
    name: str
    settings: StackSettings
    outputs: dict[str, Any] = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)
    supabase: SupabaseState | None
    vercel: tuple[VercelVariables, ...]

    def output(self, key: str) -> str | None:
        value = self.outputs.get(key)
        return None if value is None else str(value)

    @property
    def history_url(self) -> str | None:
        """A URL that can read the migration history: the one migrations run over
        (``migrations_url``, where the app logs in as a role of its own), else the direct one."""
        return self.output("migrations_url") or self.output("direct_url")


def read_stack(root: Path, name: str) -> StackView:
    """Everything the commands need from one stack; StackError when there is no such stack."""
    reads = automation.read_config_and_state(root, name)
    if reads is None:
        raise StackError(f"no stack named {name} in the backend (PULUMI_BACKEND_URL)")
    config = reads.config
    settings = load_settings(name, automation.plain_config(config))
    # The stack's outputs are its root resource's, read from the same export as the rest.
    state: Mapping[str, Any] = reads.deployment
    raw = [(str(r.get("type")), r.get("outputs") or {}) for r in state.get("resources") or []]
    stack_outputs = outputs_in(state)
    outputs = {key: value.value for key, value in stack_outputs.items()}
    resources = [(kind, plain(outs)) for kind, outs in raw]
    names = {str(o.get("project_id")): str(o.get("project")) for t, o in resources if t == VERCEL_PROJECT_TYPE}
    # Where the APIs are, and the Vercel team, come from the settings (the checked-out
    # Pulumi.<stack>.yaml), never from the state: a job reading a stack whose state others can
    # write (staging's, which pull-request jobs hold) would send its own tokens wherever that
    # state named (drift.yml's diff holds production-read's).
    vercel = tuple(
        _variables(outs, names, settings)
        for kind, outs in resources
        if kind == VERCEL_VARIABLES_TYPE and outs.get("ids")
    )
    supabase = next((_supabase(kind, outs, settings) for kind, outs in resources if kind in SUPABASE_TYPES), None)
    keys = next((_api_keys(outs) for kind, outs in resources if kind == API_KEYS_TYPE), ())
    if supabase is not None and keys:
        supabase = replace(supabase, api_keys=keys)
    found = (*automation.secret_values(config, stack_outputs), *(v.salt for v in vercel), *credential_values())
    secrets = tuple(s for s in found if s)
    return StackView(name, settings, outputs, secrets, supabase, vercel)


def _variables(outs: dict[str, Any], names: dict[str, str], settings: StackSettings) -> VercelVariables:
    project_id = str(outs["project_id"])
    return VercelVariables(
        project=names.get(project_id, project_id),
        project_id=project_id,
        api_url=settings.vercel.api_url,
        team=settings.vercel.team,
        target=str(outs["target"]),
        git_branch=outs.get("git_branch") or None,
        ids=dict(outs.get("ids") or {}),
        hashes=dict(outs.get("hashes") or {}),
        types=dict(outs.get("types") or {}),
        salt=str(outs.get("salt") or ""),
        stamps={str(k): float(v) for k, v in (outs.get("stamps") or {}).items() if isinstance(v, int | float)},
    )


def _api_keys(outs: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    name = key_name(str(outs.get("prefix")), int(outs.get("rotation") or 0))
    return tuple((kind, name, str(outs.get(f"{kind}_id") or "")) for kind in KINDS)


def _supabase(kind: str, outs: dict[str, Any], settings: StackSettings) -> SupabaseState:
    return SupabaseState(
        ref=str(outs["ref"]),
        management_api=settings.supabase.api_url,
        organization=outs.get("organization"),
        region=outs.get("region"),
        instance_size=outs.get("instance_size"),
        is_branch=kind.endswith(":Branch"),
    )
