"""Dynamic provider: a read replica of a Supabase project, in one region.

A read replica is a read-only copy of the project's database that follows it by
replication (Supabase docs guides/platform/read-replicas; the API calls and how a replica is
found are in envstack/clients/supabase_replicas.py). It is a physical copy, so the project's
login roles log in on it with their own passwords: the resource holds no secret of its own.

- create: the replica the stack recorded (``adopt_identifier``) when it still exists, else
  the project's replica already in the region (a run that died after setting it up) when
  ``claim_existing`` (a project the stack created, whose replicas can only be its own), else a
  new one, set up exactly once; then wait until it is ACTIVE_HEALTHY (``wait_timeout``). In an
  adopted project a replica already in the region may serve someone else: create refuses it.
- outputs: its ``identifier`` (``<ref>-rr-<region>-<5 letters>``), ``status``, direct ``host``
  (``db.<identifier>.supabase.co``, IPv6 only unless the IPv4 add-on is bought) and ``port``,
  and its own pooler: ``pooler_host``, ``pooler_port`` and ``pooler_user``
  (``postgres.<identifier>``; any role logs in there as ``<role>.<identifier>``).
- diff: another project or region replaces it, the new one made before the old is removed
  (a project may have several); where the API lives or how long to wait changes nothing.
- read: the replica as the API lists it; gone, it leaves the state.
- delete: remove it and wait until it is no longer listed; one already gone is fine.

Supabase sets prerequisites the API enforces: a Pro, Team or Enterprise plan, at least the
Small compute add-on, Postgres 15+ (and at most 4 replicas below XL compute, 5 from it).
The token comes from ``SUPABASE_ACCESS_TOKEN`` (never an input), so it never reaches the state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from envstack.clients.tokens import supabase_token
from envstack.errors import ResourceError
from providers.declared import Declared, Inputs
from providers.unknowns import is_unknown

if TYPE_CHECKING:
    from envstack.clients.supabase_replicas import ReadReplica, SupabaseReplicaClient

# The regions a replica may be set up in (the spec's SetUpReadReplicaBody.read_replica_region).
REGIONS = frozenset(
    {
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "ap-east-1",
        "ap-southeast-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-southeast-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-north-1",
        "eu-central-1",
        "eu-central-2",
        "ca-central-1",
        "ap-south-1",
        "sa-east-1",
    }
)
_REPLACE_ON = ("project_ref", "region")
_INPUTS = ("api_url", "project_ref", "region", "adopt_identifier", "claim_existing", "wait_timeout")
DEFAULT_WAIT_TIMEOUT = 1800.0  # a deployment restores a physical backup: minutes, more for a big database


def _client(props: dict[str, Any]) -> SupabaseReplicaClient:
    from envstack.clients.supabase_replicas import SupabaseReplicaClient

    return SupabaseReplicaClient(base_url=str(props["api_url"]), token=supabase_token())


def _timeout(props: dict[str, Any]) -> float:
    return float(props.get("wait_timeout") or DEFAULT_WAIT_TIMEOUT)


def _outputs(client: SupabaseReplicaClient, props: dict[str, Any], replica: ReadReplica) -> dict[str, Any]:
    ref = str(props["project_ref"])
    pooler = client.read_replica_pooler(ref, replica.identifier) if replica.status == "ACTIVE_HEALTHY" else None
    return {
        **props,
        "identifier": replica.identifier,
        "status": replica.status,
        "host": replica.host,
        "port": replica.port,
        "pooler_host": pooler.db_host if pooler else props.get("pooler_host"),
        "pooler_port": pooler.db_port if pooler else props.get("pooler_port"),
        "pooler_user": pooler.db_user if pooler else props.get("pooler_user"),
    }


def _recorded(client: SupabaseReplicaClient, props: dict[str, Any]) -> ReadReplica | None:
    """The replica the stack recorded, when it still exists in the region asked for."""
    from envstack.clients.supabase_replicas import FAILED, LEAVING

    identifier = props.get("adopt_identifier")
    if not identifier:
        return None
    replica = client.get_read_replica(str(props["project_ref"]), str(identifier))
    if replica is None or replica.status in LEAVING | FAILED or replica.region != props["region"]:
        pulumi.log.info(f"read replica {identifier} the stack recorded is gone, failed or elsewhere: not using it")
        return None
    return replica


def _refuse_a_replica_of_someone_else(client: SupabaseReplicaClient, ref: str, region: str) -> None:
    found = client.find_read_replica(ref, region)
    if found is not None:
        raise ResourceError(
            f"project {ref} already has a read replica in {region} ({found.identifier}) that this stack did not "
            "record; the project is adopted, so that replica may serve someone else and is left alone: choose another "
            "region in supabase:readReplica, or remove that replica first. If a run of this stack set it up and was "
            "killed before recording it, set supabase:readReplica to "
            f'{{"region": "{region}", "identifier": "{found.identifier}"}} to take it as this stack\'s'
        )


class SupabaseReadReplicaProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        ref, region = news.get("project_ref"), news.get("region")
        if not is_unknown(ref) and not re.fullmatch(r"[a-z]{20}", str(ref or "")):
            failures.append(CheckFailure("project_ref", "a project ref is 20 lowercase letters"))
        if not is_unknown(region) and region not in REGIONS:
            failures.append(
                CheckFailure("region", f"one of Supabase's read replica regions: {', '.join(sorted(REGIONS))}")
            )
        if news.get("wait_timeout") is not None and not float(news["wait_timeout"]) > 0:
            failures.append(CheckFailure("wait_timeout", "a positive number of seconds"))
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        ref, region = str(props["project_ref"]), str(props["region"])
        with _client(props) as client:
            replica = _recorded(client, props)
            if replica is None and props.get("claim_existing") is False:
                _refuse_a_replica_of_someone_else(client, ref, region)
            replica = replica or client.set_up_read_replica(ref, region, say=pulumi.log.info)
            try:
                healthy = client.wait_read_replica_healthy(
                    ref, replica.identifier, _timeout(props), report=pulumi.log.info
                )
            except ResourceError as failed:
                if props.get("claim_existing") is not False or props.get("adopt_identifier") == replica.identifier:
                    raise
                from envstack.clients.supabase_replicas import FAILED

                now = client.get_read_replica(ref, replica.identifier)
                if now is None or now.status in FAILED:
                    raise  # nothing worth naming as the stack's: it is gone or failed
                # In an adopted project the next run cannot tell this replica from someone
                # else's by itself: it refuses it unless told it is the stack's.
                raise ResourceError(
                    f"{failed} The project is adopted, so the next run takes {replica.identifier} as this stack's "
                    f"only when told: set supabase:readReplica to "
                    f'{{"region": "{region}", "identifier": "{replica.identifier}"}}'
                ) from None
            outs = _outputs(client, props, healthy)
        return CreateResult(id_=healthy.identifier, outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        from envstack.api_urls import same_api

        replaces = [k for k in _REPLACE_ON if not is_unknown(news.get(k)) and olds.get(k) != news.get(k)]
        replaces += [k for k in _REPLACE_ON if is_unknown(news.get(k))]
        moved = not same_api(olds.get("api_url"), news.get("api_url"))
        # Replace the new one in before the old goes: the app's reads never lose their replica.
        return DiffResult(changes=bool(replaces) or moved, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # Only where the API lives or how long to wait changed: nothing to do, the inputs recorded.
        return UpdateResult(outs={**olds, **{k: news.get(k) for k in _INPUTS}})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from envstack.errors import NotFound

        with _client(props) as client:
            try:
                replica = client.get_read_replica(str(props["project_ref"]), id_)
            except NotFound:
                replica = None  # the project itself is gone
            if replica is None or replica.status == "REMOVED":
                return ReadResult(id_="", outs={})
            return ReadResult(id_=id_, outs=_outputs(client, props, replica))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from envstack.errors import NotFound

        ref = str(props["project_ref"])
        with _client(props) as client:
            try:
                if client.remove_read_replica(ref, id_):
                    client.wait_read_replica_gone(ref, id_, _timeout(props))
            except NotFound:
                return  # its project is gone, and the replica with it


@dataclass(frozen=True)
class SupabaseReadReplicaInputs(Inputs):
    api_url: str  # the Management API (https://api.supabase.com)
    project_ref: pulumi.Input[str]
    region: str
    adopt_identifier: str | None = None  # a replica the stack recorded earlier, used when it still exists
    # Whether a replica already in the region is the stack's (one a run that died set up): only
    # in a project the stack created. States from before this input read as True, as they acted.
    claim_existing: bool = True
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT


class SupabaseReadReplica(Declared, module="supabase", name="ReadReplica"):
    identifier: pulumi.Output[str]
    status: pulumi.Output[str]
    host: pulumi.Output[str | None]
    port: pulumi.Output[int]
    pooler_host: pulumi.Output[str | None]
    pooler_port: pulumi.Output[int | None]
    pooler_user: pulumi.Output[str | None]

    def __init__(
        self, name: str, inputs: SupabaseReadReplicaInputs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        self.declare(SupabaseReadReplicaProvider(), name, inputs, opts)
