"""Dynamic provider: who may reach a Supabase project's database, and how.

``ProjectNetwork`` holds two of the project's settings, each only when the stack sets it
(None: left as it is):

- ``ssl_enforced``: clients must use TLS, directly and through the pooler
  (``PUT /v1/projects/{ref}/ssl-enforcement``);
- ``allowed_cidrs``: the only IPv4 and IPv6 networks allowed in
  (``POST /v1/projects/{ref}/network-restrictions/apply``, which replaces the list).

``diff`` compares the settings with what the state last saw, without a call: a `pulumi up
--refresh` reads the live settings (``read``), so a change made in the dashboard shows as a
change and the next update puts the stack's settings back. Both calls set a whole value, so
repeating one after a lost answer is harmless. Destroying the resource leaves the settings
as they are: loosening a database's access is not something a teardown should do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from providers.declared import Declared, Inputs
from providers.project_setting import setting_diff
from providers.supabase_access import client_for, unless_project_gone
from providers.unknowns import is_unknown


def _apply(props: dict[str, Any]) -> dict[str, Any]:
    ref = str(props["ref"])
    outs = dict(props)
    with client_for(props) as client:
        if props.get("ssl_enforced") is not None:
            outs["ssl_enforced"] = client.set_ssl_enforcement(ref, bool(props["ssl_enforced"]))
        if props.get("allowed_cidrs") is not None:
            outs["allowed_cidrs"] = client.restrict_network(ref, list(props["allowed_cidrs"]))
    return outs


def _differs(olds: dict[str, Any], news: dict[str, Any], key: str) -> bool:
    """A setting the stack holds that the state last saw otherwise (networks in any order)."""
    wanted, seen = news.get(key), olds.get(key)
    if wanted is None:
        return False
    if isinstance(wanted, list) and isinstance(seen, list):
        return sorted(wanted) != sorted(seen)
    return bool(wanted != seen)


class ProjectNetworkProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        cidrs = news.get("allowed_cidrs")
        if cidrs is not None and not is_unknown(cidrs) and not cidrs:
            failures.append(CheckFailure("allowed_cidrs", "at least one network, or unset to leave them as they are"))
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=str(props["ref"]), outs=_apply(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = _differs(olds, news, "ssl_enforced") or _differs(olds, news, "allowed_cidrs")
        return setting_diff(olds, news, changed)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_apply(news))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        def enforced_now() -> dict[str, Any]:
            # What the project enforces now, for the settings the stack holds.
            outs = dict(props)
            with client_for(props) as client:
                if props.get("ssl_enforced") is not None:
                    outs["ssl_enforced"] = client.ssl_enforced(id_)
                if props.get("allowed_cidrs") is not None:
                    outs["allowed_cidrs"] = client.allowed_cidrs(id_)
            return outs

        outs = unless_project_gone(str(props["management_api"]), id_, enforced_now)
        return pulumi.dynamic.ReadResult(id_=id_ if outs is not None else "", outs=outs or {})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


@dataclass(frozen=True)
class ProjectNetworkInputs(Inputs):
    management_api: str
    ref: pulumi.Input[str]
    ssl_enforced: bool | None
    allowed_cidrs: list[str] | None


class ProjectNetwork(Declared, module="supabase", name="ProjectNetwork"):
    ssl_enforced: pulumi.Output[bool | None]
    allowed_cidrs: pulumi.Output[list[str] | None]

    def __init__(self, name: str, inputs: ProjectNetworkInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(ProjectNetworkProvider(), name, inputs, opts)
