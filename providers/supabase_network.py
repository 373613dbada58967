"""Dynamic provider: who may reach a Supabase project's database, and how.

``ProjectNetwork`` holds two of the project's settings, each only when the stack sets it
(None: left as it is):

- ``ssl_enforced``: clients must use TLS, directly and through the pooler
  (``PUT /v1/projects/{ref}/ssl-enforcement``);
- ``allowed_cidrs``: the only IPv4 and IPv6 networks allowed in
  (``POST /v1/projects/{ref}/network-restrictions/apply``, which replaces the list).

Supabase may answer the list ``stored`` and apply it in the background (the old list still
in force until then): the create or update waits until the API says ``applied``, up to the
stack's wait timeout (``supabase:waitTimeout``), so an `up` that succeeds has restricted the
database. Past the deadline it fails, saying so; the next `up` finds the list sent and waits
again (a list already in place is not sent again).

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

from envstack.clients.polling import Backoff
from envstack.errors import ResourceError
from providers.declared import Declared, Inputs
from providers.project_setting import setting_diff
from providers.supabase_access import client_for, unless_project_gone, wait_seconds
from providers.unknowns import is_unknown

_FIRST_POLL_SECONDS = 0.5
_MAX_POLL_SECONDS = 5.0


def _apply(props: dict[str, Any]) -> dict[str, Any]:
    ref = str(props["ref"])
    outs = dict(props)
    with client_for(props) as client:
        if props.get("ssl_enforced") is not None:
            outs["ssl_enforced"] = client.set_ssl_enforcement(ref, bool(props["ssl_enforced"]))
        if props.get("allowed_cidrs") is not None:
            wanted = list(props["allowed_cidrs"])
            restricted = client.network_restrictions(ref)
            # Sent already (an earlier run timed out waiting): sending it again could only put
            # Supabase's pending apply back in the queue.
            if sorted(restricted.cidrs) != sorted(wanted):
                restricted = client.restrict_network(ref, wanted)
            if not restricted.applied:
                restricted = _until_applied(client, ref, wait_seconds(props))
            outs["allowed_cidrs"] = restricted.cidrs
    return outs


def _until_applied(client: Any, ref: str, timeout: float) -> Any:
    """The project's restrictions once Supabase says it applied them (polled, backing off)."""
    pulumi.log.info(f"Supabase stored the networks allowed into project {ref}; waiting up to {timeout:.0f}s to apply")
    backoff = Backoff(first=_FIRST_POLL_SECONDS, cap=_MAX_POLL_SECONDS, timeout=timeout)
    while True:
        backoff.wait()
        restrictions = client.network_restrictions(ref)
        if restrictions.applied:
            return restrictions
        if backoff.expired():
            raise ResourceError(
                f"Supabase stored the networks allowed into project {ref} but had not applied them after "
                f"{timeout:.0f}s (supabase:waitTimeout); the ones before still apply. Run `pulumi up` again "
                "to keep waiting: the list is not sent twice"
            )


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
                    # What is in force, not what was asked: a list Supabase has not applied yet
                    # (an update that timed out waiting) is a change, so the next up waits for it.
                    outs["allowed_cidrs"] = client.network_restrictions(id_).in_force or []
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
    wait_timeout: float | None = None  # how long Supabase may take to apply the networks (None: 600 s)


class ProjectNetwork(Declared, module="supabase", name="ProjectNetwork"):
    ssl_enforced: pulumi.Output[bool | None]
    allowed_cidrs: pulumi.Output[list[str] | None]

    def __init__(self, name: str, inputs: ProjectNetworkInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(ProjectNetworkProvider(), name, inputs, opts)
