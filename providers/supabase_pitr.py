"""Dynamic provider: a Supabase project's point-in-time recovery (the PITR add-on).

``ProjectPitr`` holds the add-on variant the stack wants (``pitr_7``, ``pitr_14``, ``pitr_28``
days of history) or None for none, applied through ``/v1/projects/{ref}/billing/addons``. The
call sets a whole value, so repeating it after a lost answer is harmless. A `pulumi up --refresh`
reads the live add-on (``read``), so one removed in the dashboard shows as a change and the
next update puts it back. Destroying the resource leaves the add-on as it is: a teardown that
drops a project's recovery history would be the wrong way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from envstack.clients.tokens import supabase_token
from providers.declared import Declared, Inputs
from providers.project_setting import setting_diff
from providers.supabase_access import unless_project_gone
from providers.unknowns import is_unknown

if TYPE_CHECKING:
    from envstack.clients.supabase_backups import SupabaseBackupsClient

VARIANTS = ("pitr_7", "pitr_14", "pitr_28")


def _client(props: dict[str, Any]) -> SupabaseBackupsClient:
    from envstack.clients.supabase_backups import SupabaseBackupsClient

    return SupabaseBackupsClient(base_url=str(props["management_api"]), token=supabase_token())


def _apply(props: dict[str, Any]) -> dict[str, Any]:
    variant = props.get("variant")
    with _client(props) as client:
        client.set_pitr(str(props["ref"]), variant)
    return dict(props)


class ProjectPitrProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        variant = news.get("variant")
        failures = []
        if variant is not None and not is_unknown(variant) and variant not in VARIANTS:
            failures.append(CheckFailure("variant", f"one of {', '.join(VARIANTS)}, or None for no PITR"))
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=str(props["ref"]), outs=_apply(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return setting_diff(olds, news, olds.get("variant") != news.get("variant"))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_apply(news))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        def variant_now() -> dict[str, Any]:
            with _client(props) as client:
                return {**props, "variant": client.pitr_variant(id_)}

        outs = unless_project_gone(str(props["management_api"]), id_, variant_now)
        return pulumi.dynamic.ReadResult(id_=id_ if outs is not None else "", outs=outs or {})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


@dataclass(frozen=True)
class ProjectPitrInputs(Inputs):
    management_api: str
    ref: pulumi.Input[str]
    variant: str | None  # pitr_7, pitr_14, pitr_28; None: no PITR


class ProjectPitr(Declared, module="supabase", name="ProjectPitr"):
    variant: pulumi.Output[str | None]

    def __init__(self, name: str, inputs: ProjectPitrInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(ProjectPitrProvider(), name, inputs, opts)
