"""Read replicas of a Supabase project, through the Management API (beta).

What the API offers, and what this client makes of it:

- ``POST /v1/projects/{ref}/read-replicas/setup`` ``{"read_replica_region": …}`` starts one
  and answers 201 with no body, so the new replica's identifier is learned from the list
  below; ``POST …/read-replicas/remove`` ``{"database_identifier": …}`` removes one.
- The list: ``GET /v1/organizations/{slug}/projects`` gives each project's ``databases``, the
  PRIMARY and every READ_REPLICA with its identifier (``<ref>-rr-<region>-<5 letters>``),
  region and status (INIT_READ_REPLICA while it is deployed, ACTIVE_HEALTHY,
  INIT_READ_REPLICA_FAILED, GOING_DOWN while it is removed).
- Its direct host: no v1 answer carries it. Each database of a project has an endpoint of
  its own named after its identifier, as the project's is after its ref:
  ``db.<identifier>.supabase.co`` beside ``db.<ref>.supabase.co``, so it is derived from the
  project's ``database.host``. IPv6 only unless the IPv4 add-on is bought, like the primary.
- Its pooler: a healthy replica has a Supavisor tenant of its own, listed by
  ``GET …/config/database/pooler`` as a READ_REPLICA entry; log in as ``<role>.<identifier>``.

Setting one up is never repeated blindly: a replica already in the region is used, and a
setup whose answer was lost is looked for before it is sent again (``create_once``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from envstack.clients.polling import Backoff
from envstack.clients.supabase import Pooler, SupabaseClient
from envstack.errors import ApiError, NotFound, ResourceError

READ_REPLICA = "READ_REPLICA"
HEALTHY = "ACTIVE_HEALTHY"
FAILED = frozenset({"INIT_READ_REPLICA_FAILED", "INIT_FAILED", "REMOVED"})
LEAVING = frozenset({"GOING_DOWN", "REMOVED"})
DATABASE_PORT = 5432
# After a setup answered, how long the new replica may take to appear in the list.
_LISTED_WITHIN_SECONDS = 60.0
_FIRST_POLL_SECONDS = 0.2
_MAX_POLL_SECONDS = 10.0  # deployments take minutes


class ReadReplica(BaseModel):
    # Fields added on Supabase's side never break a deploy; an answer that fails to validate is
    # named by its fields, never echoed (answers carry keys and passwords).
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    identifier: str
    region: str
    status: str
    type: str = READ_REPLICA
    # db.<identifier>.<domain>, derived from the project's host; None when that is no name.
    host: str | None = None
    port: int = DATABASE_PORT


def replica_host(primary_host: str | None, ref: str, identifier: str) -> str | None:
    """``db.<identifier>.<domain>`` beside the project's ``db.<ref>.<domain>``."""
    prefix = f"db.{ref}."
    if not primary_host or not primary_host.startswith(prefix):
        return None
    return f"db.{identifier}.{primary_host[len(prefix) :]}"


class SupabaseReplicaClient(SupabaseClient):
    """The Management API client, with a project's read replicas."""

    def list_read_replicas(self, ref: str) -> list[ReadReplica]:
        """The project's read replicas (those being removed included), as the API lists them."""
        project = self.get_project(ref)
        if not project.organization_slug:
            raise ResourceError(f"Supabase project {ref} names no organization to list its databases from")
        primary_host = project.database.host if project.database else None
        for listed in self._organization_projects(project.organization_slug, project.name):
            if listed.get("ref") != ref:
                continue
            return [
                ReadReplica.model_validate({**db, "host": replica_host(primary_host, ref, str(db.get("identifier")))})
                for db in listed.get("databases") or []
                if db.get("type") == READ_REPLICA
            ]
        raise NotFound(
            service=self.service,
            method="GET",
            path=f"/v1/organizations/{project.organization_slug}/projects",
            status=404,
            message=f"project {ref} is not listed in its organization",
        )

    def _organization_projects(self, slug: str, name: str) -> list[dict[str, Any]]:
        """The organization's projects whose name holds ``name`` (the raw entries, databases kept)."""
        found: list[dict[str, Any]] = []
        offset, limit = 0, 100
        while True:
            page = self._api.get(
                f"/v1/organizations/{slug}/projects", params={"offset": offset, "limit": limit, "search": name}
            )
            batch = list(page.get("projects") or [])
            found += batch
            offset += len(batch)
            if not batch or offset >= int(page.get("pagination", {}).get("count", 0)):
                return found

    def find_read_replica(self, ref: str, region: str) -> ReadReplica | None:
        """The first listed replica of the project in ``region`` that may serve: not being
        removed, not failed (a failed one is left for Supabase's support to look at)."""
        for replica in self.list_read_replicas(ref):
            if replica.region == region and replica.status not in LEAVING | FAILED:
                return replica
        return None

    def set_up_read_replica(
        self,
        ref: str,
        region: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        say: Callable[[str], None] | None = None,
    ) -> ReadReplica:
        """The project's replica in ``region``: the one already there, else a new one (set up
        exactly once, even when an answer is lost). It may still be deploying: see
        ``wait_read_replica_healthy``."""
        from envstack.clients.create_once import create_once

        existing = self.find_read_replica(ref, region)
        if existing is not None:
            return existing

        def create() -> ReadReplica:
            self._api.post(
                f"/v1/projects/{ref}/read-replicas/setup", json={"read_replica_region": region}, expected=(200, 201)
            )
            return self._listed_after_setup(ref, region, sleep)

        return create_once(
            create, lambda: self.find_read_replica(ref, region), what=f"a read replica of {ref} in {region}", say=say
        )

    def _listed_after_setup(self, ref: str, region: str, sleep: Callable[[float], None]) -> ReadReplica:
        backoff = Backoff(first=_FIRST_POLL_SECONDS, cap=_MAX_POLL_SECONDS, timeout=_LISTED_WITHIN_SECONDS, sleep=sleep)
        while True:
            replica = self.find_read_replica(ref, region)
            if replica is not None:
                return replica
            if backoff.expired():
                raise ResourceError(
                    f"Supabase accepted a read replica of {ref} in {region} but has not listed it after "
                    f"{_LISTED_WITHIN_SECONDS:.0f}s; run again: an existing replica in the region is used, not doubled"
                )
            backoff.wait()

    def get_read_replica(self, ref: str, identifier: str) -> ReadReplica | None:
        for replica in self.list_read_replicas(ref):
            if replica.identifier == identifier:
                return replica
        return None

    def wait_read_replica_healthy(
        self,
        ref: str,
        identifier: str,
        timeout: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        report: Callable[[str], None] | None = None,
    ) -> ReadReplica:
        """Poll until the replica is ACTIVE_HEALTHY; fail on a dead end, its removal or the deadline."""
        backoff = Backoff(first=_FIRST_POLL_SECONDS, cap=_MAX_POLL_SECONDS, timeout=timeout, sleep=sleep)
        reported = ""
        while True:
            replica = self.get_read_replica(ref, identifier)
            if replica is None:
                raise ResourceError(f"read replica {identifier} of {ref} no longer exists")
            if replica.status == HEALTHY:
                return replica
            if replica.status in FAILED or replica.status in LEAVING:
                raise ResourceError(
                    f"read replica {identifier} of {ref} is {replica.status} instead of {HEALTHY}. Running again "
                    "sets up another in the region; Supabase asks to keep a failed one for its support to look "
                    f"at, then to remove it (POST /v1/projects/{ref}/read-replicas/remove), which the stack "
                    "will not do for you"
                )
            if backoff.expired():
                raise ResourceError(
                    f"read replica {identifier} of {ref} was still {replica.status} after {timeout:.0f}s (its "
                    "deployment takes longer for a larger database); run again to keep waiting: the replica is "
                    "found in its region, not set up twice"
                )
            if report is not None and replica.status != reported:
                report(f"read replica {identifier} of {ref} is {replica.status}; waiting up to {timeout:.0f}s")
                reported = replica.status
            backoff.wait()

    def read_replica_pooler(self, ref: str, identifier: str) -> Pooler | None:
        """The replica's pooler entry (a healthy replica has one): host, port, ``postgres.<identifier>``."""
        for entry in self._api.get(f"/v1/projects/{ref}/config/database/pooler"):
            if entry.get("identifier") == identifier and entry.get("database_type") == READ_REPLICA:
                return Pooler.model_validate(entry)
        return None

    def remove_read_replica(self, ref: str, identifier: str) -> bool:
        """Ask for the replica's removal; False when it was already gone. Asking twice is harmless,
        so a lost answer may be retried."""
        try:
            self._api.post(
                f"/v1/projects/{ref}/read-replicas/remove",
                json={"database_identifier": identifier},
                expected=(200, 201),
                retry_unsafe=True,
            )
        except NotFound:
            return False
        except ApiError as exc:
            # Removing one already removed may be refused with another status: it is gone all the same.
            if exc.status is not None and exc.status < 500 and self.get_read_replica(ref, identifier) is None:
                return False
            raise
        return True

    def wait_read_replica_gone(
        self, ref: str, identifier: str, timeout: float, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        """Poll until the replica is no longer listed (or listed as REMOVED)."""
        backoff = Backoff(first=_FIRST_POLL_SECONDS, cap=_MAX_POLL_SECONDS, timeout=timeout, sleep=sleep)
        while True:
            replica = self.get_read_replica(ref, identifier)
            if replica is None or replica.status == "REMOVED":
                return
            if backoff.expired():
                raise ResourceError(
                    f"read replica {identifier} of {ref} was still {replica.status} {timeout:.0f}s after its removal "
                    "was asked; run again to keep waiting"
                )
            backoff.wait()
