"""Dynamic provider: the moment before a migration run, kept so the database can be brought back to it.

``RecoveryPoint`` is made again whenever its ``trigger`` (the migration files' content hash)
changes, before the migrations run (they depend on it). Each time it records the time
(``recorded_at``, UTC) and asks Supabase for a restore point ``name`` (at most 20 characters,
named after the newest migration, ``pre-<version>``). Supabase offers restore points to some
organizations only; elsewhere the API answers that the endpoint is unavailable, and the time
is what remains: with point-in-time recovery on, `python -m envstack restore --to <time>`
brings the database back to it. Either way the run goes on: a missing restore point is said,
not fatal. Deleting the resource deletes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from envstack.clients.tokens import supabase_token
from envstack.errors import ApiError, ResourceError
from providers.declared import Declared, Inputs
from providers.project_setting import setting_diff


def _record(props: dict[str, Any]) -> dict[str, Any]:
    from envstack.clients.supabase_backups import SupabaseBackupsClient

    recorded = datetime.fromtimestamp(int(time.time()), UTC).isoformat().replace("+00:00", "Z")
    name, ref = str(props["name"]), str(props["ref"])
    restore_point: str | None = None
    with SupabaseBackupsClient(base_url=str(props["management_api"]), token=supabase_token()) as client:
        try:
            restore_point = client.create_restore_point(ref, name).name
        except (ApiError, ResourceError) as exc:  # refused, or never usable (failed, still PENDING)
            pulumi.log.warn(f"no restore point {name} ({exc}); restore to {recorded} instead")
    where = f"restore point {restore_point}, or the time {recorded}" if restore_point else f"the time {recorded}"
    pulumi.log.info(f"before the migrations: {where} (python -m envstack restore --to …)")
    return {**props, "recorded_at": recorded, "restore_point": restore_point}


class RecoveryPointProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"{props['ref']}/{props['name']}", outs=_record(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return setting_diff(olds, news, any(olds.get(k) != news.get(k) for k in ("trigger", "name")))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if olds.get("trigger") == news.get("trigger") and olds.get("name") == news.get("name"):
            # Only the API's spelling moved: the recorded moment stands.
            return UpdateResult(
                outs={**news, "recorded_at": olds.get("recorded_at"), "restore_point": olds.get("restore_point")}
            )
        return UpdateResult(outs=_record(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


@dataclass(frozen=True)
class RecoveryPointInputs(Inputs):
    management_api: str
    ref: pulumi.Input[str]
    name: str  # pre-<newest migration version>: at most 20 characters
    trigger: str  # the migration files' content hash: a new point whenever they change


class RecoveryPoint(Declared, module="supabase", name="RecoveryPoint"):
    recorded_at: pulumi.Output[str]
    restore_point: pulumi.Output[str | None]

    def __init__(self, name: str, inputs: RecoveryPointInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(RecoveryPointProvider(), name, inputs, opts)
