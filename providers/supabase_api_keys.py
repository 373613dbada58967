"""Dynamic providers: the app's Supabase API keys, and the deletion of the keys a rotation replaced.

``SupabaseApiKeys`` owns one publishable and one secret key, named ``<prefix>_<rotation>``
(the values are secret outputs). Changing ``rotation`` creates a new pair; the old pair is
not touched here: its ids are reported in ``replaced_ids`` (every key of this stack's that is
not the current pair, so a pair left behind by an interrupted run is included), for
``ApiKeyRetirement`` to delete once the app no longer uses them.

Which keys are this stack's is proven, never read from a name: each key's description ends
in a tag only the holder of ``claim`` (a secret the stack recorded before making any key) can
write, an HMAC of the project, the key's name and its type. A key is the stack's when it
carries that tag or its id is recorded in the state (keys made before claims). A create whose
answer was lost, or that an interrupted run made, is found again by its tag and never made
twice; a key someone else named like ours is neither taken, nor replaced, nor deleted.

A refresh (``read``) lists the project's keys: a key of the pair deleted outside the stack
(in the dashboard) is recorded as gone, and the next update makes it again under the same
name, so its new value reaches Vercel and the redeploy.

Destroying it deletes the stack's keys, unless the project itself goes with the stack
(``deleted_with_project``: a created project or a preview branch, not an adopted project).

``ApiKeyRetirement`` is declared after (depending on) the Vercel redeploys that carry the
new keys. It deletes each replaced key ``grace_seconds`` after it first saw it (requests
still in flight on the old deployment, pages that still carry the old publishable key; a
revocation, ``rotation:apiKeysRevoked``, makes it ``rotation:revokeDrainSeconds``, and a
shorter grace applies to the keys already pending as well);
until then ``diff`` reports a change once the time has come (no network), so a later
``pulumi up`` finishes the job. With ``hold`` set (redeploys are off, so a deployment may
still use the old keys) nothing is deleted and the status says why; once it is lifted, the
held keys get their whole grace from that run on (its redeploy is the first without them).
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from envstack.api_urls import same_api
from envstack.clients.parallel import at_once
from providers.declared import Declared, Inputs
from providers.ownership import carries, check_claim, tag
from providers.supabase_access import client_for, unless_project_gone
from providers.unknowns import is_unknown

SECRET_OUTPUTS = ("publishable_key", "secret_key", "claim")
KINDS = ("publishable", "secret")
# The id a refresh records for a key of the pair deleted outside the stack.
LOST = ""
_NAME = re.compile(r"[a-z_][a-z0-9_]{3,63}")
_MAX_PREFIX = 50


def key_name(prefix: str, rotation: int) -> str:
    return f"{prefix}_{rotation}"


def _clock() -> float:
    return time.time()


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _subject(ref: str, name: str, kind: str | None) -> str:
    return f"{ref}/{name}/{kind}"


def _proven(key: Any, claim: str | None, ref: str, recorded: set[str]) -> bool:
    """Whether ``key`` is the stack's: an id its state records, or the tag only ``claim`` makes."""
    return key.id in recorded or carries(key.description, claim, _subject(ref, key.name, key.type))


def _recorded(props: dict[str, Any]) -> set[str]:
    """The ids of keys this resource's state holds: its pair and the ones it replaced."""
    ids = {props.get("publishable_id"), props.get("secret_id"), *(props.get("replaced_ids") or [])}
    return {i for i in ids if isinstance(i, str) and i}


def _pair(
    client: Any, ref: str, name: str, description: str | None, claim: str, existing: list[Any], recorded: set[str]
) -> dict[str, Any]:
    """The publishable and secret key named ``name`` proven this stack's (its tag, or an id in
    ``recorded``): found among ``existing`` (made by an earlier, interrupted run) or created,
    once each."""
    from envstack.clients.create_once import create_once

    def named(keys: list[Any], kind: str) -> Any | None:
        return next(
            (k for k in keys if k.type == kind and k.name == name and _proven(k, claim, ref, recorded)),
            None,
        )

    def create(kind: str) -> Any:
        mark = tag(claim, _subject(ref, name, kind))
        return client.create_api_key(ref, kind, name, f"{description} {mark}" if description else mark)

    def find(kind: str) -> Any | None:
        return named(client.list_api_keys(ref, reveal=True), kind)

    found = {kind: named(existing, kind) for kind in KINDS}
    # The two creates do not depend on each other: made together, one round trip instead of two.
    made = at_once(
        {
            kind: functools.partial(
                create_once,
                functools.partial(create, kind),
                functools.partial(find, kind),
                what=f"Supabase {kind} key {name}",
                say=pulumi.log.info,
            )
            for kind, key in found.items()
            if key is None
        }
    )
    return {**found, **made}


def _ours(keys: list[Any], props: dict[str, Any], recorded: set[str]) -> list[Any]:
    """The keys among ``keys`` proven this stack's: its tag, or an id in ``recorded``."""
    ref, prefix, claim = str(props["ref"]), str(props["prefix"]), props.get("claim")
    # The whole name, rotation number and all: stack dev's prefix starts stack dev-alice's
    # (envstack_dev_alice_0), and those keys are that stack's.
    named = re.compile(re.escape(prefix) + r"_\d+")
    return [k for k in keys if k.type in KINDS and named.fullmatch(k.name) and _proven(k, claim, ref, recorded)]


def _lost(olds: dict[str, Any]) -> list[str]:
    """The kinds of key a refresh found deleted outside the stack."""
    return [kind for kind in KINDS if olds.get(f"{kind}_id") == LOST]


class SupabaseApiKeysProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        prefix = news.get("prefix")
        if not isinstance(prefix, str) or len(prefix) > _MAX_PREFIX or not _NAME.fullmatch(f"{prefix}_0"):
            failures.append(CheckFailure("prefix", f"lowercase letters, digits and _, at most {_MAX_PREFIX}"))
        rotation = news.get("rotation")
        if not is_unknown(rotation) and (not isinstance(rotation, int | float) or rotation < 0):
            failures.append(CheckFailure("rotation", "a counter (a whole number, 0 or more) is required"))
        return CheckResult(news, [*failures, *check_claim(news)])

    def _outputs(
        self, client: Any, props: dict[str, Any], rotated_at: str | None, olds: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        ref, prefix, rotation = str(props["ref"]), str(props["prefix"]), int(props["rotation"])
        existing, recorded = client.list_api_keys(ref, reveal=True), _recorded(olds or {})
        name, claim = key_name(prefix, rotation), str(props["claim"])
        pair = _pair(client, ref, name, props.get("description"), claim, existing, recorded)
        current = {pair[kind].id for kind in KINDS}
        # Every earlier key of the stack's (a pair an interrupted run left behind included).
        replaced = sorted(k.id for k in _ours(existing, props, recorded) if k.id not in current)
        return {
            **props,
            "rotation": rotation,
            "publishable_id": pair["publishable"].id,
            "secret_id": pair["secret"].id,
            "publishable_key": pair["publishable"].api_key,
            "secret_key": pair["secret"].api_key,
            "replaced_ids": replaced,
            "rotated_at": rotated_at,
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        with client_for(props) as client:
            outs = self._outputs(client, props, None)
        return CreateResult(id_=f"{props['ref']}/{props['prefix']}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # A key a refresh found deleted (its id recorded as LOST) is made again.
        lost = bool(_lost(olds))
        # An unknown ref (a preview while the project itself is updated) is the same project:
        # only a replaced project has another ref, and its preview shows that replacement.
        # Where the API lives is not what exists: a new URL is recorded, nothing replaced.
        replaces = [k for k in ("ref", "prefix") if not is_unknown(news.get(k)) and olds.get(k) != news.get(k)]
        rotation = news.get("rotation")
        rotated = is_unknown(rotation) or int(rotation or 0) != int(olds.get("rotation") or 0)
        moved = not same_api(olds.get("management_api"), news.get("management_api"))
        changes = bool(replaces) or rotated or moved or lost
        return DiffResult(changes=changes, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if int(news.get("rotation") or 0) == int(olds.get("rotation") or 0):
            lost = _lost(olds)
            if not lost:
                return UpdateResult(outs={**olds, "management_api": news.get("management_api")})  # only moved
            name = key_name(str(news["prefix"]), int(news["rotation"]))
            pulumi.log.warn(
                f"API keys: the {' and '.join(lost)} key {name} was deleted outside the stack; "
                "it is made again under the same name and its new value goes to Vercel"
            )
            with client_for(news) as client:
                return UpdateResult(outs=self._outputs(client, news, olds.get("rotated_at"), olds))
        with client_for(news) as client:
            outs = self._outputs(client, news, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), olds)
        pulumi.log.info(
            f"API keys: new publishable and secret keys ({key_name(str(news['prefix']), int(news['rotation']))}); "
            f"{len(outs['replaced_ids'])} replaced keys are deleted after the redeploy"
        )
        return UpdateResult(outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        ref = str(props["ref"])

        def ids_now() -> set[str]:
            with client_for(props) as client:
                return {k.id for k in client.list_api_keys(ref, reveal=False) if k.id}  # legacy keys have none

        present = unless_project_gone(str(props["management_api"]), ref, ids_now)
        if present is None:
            return pulumi.dynamic.ReadResult(id_="", outs={})  # the project is gone, its keys with it
        outs = dict(props)
        for kind in KINDS:
            if outs.get(f"{kind}_id") not in present:
                # Gone: "" marks it (the engine drops an output that is None), and diff then
                # makes it again. The value stays until then: taking it away would drop the
                # app's variable in a run that does not update these keys first.
                outs[f"{kind}_id"] = LOST
        return pulumi.dynamic.ReadResult(id_=id_, outs=outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from envstack.errors import NotFound

        if props.get("deleted_with_project"):
            return  # the project (or branch) is the stack's and goes next, its keys with it
        with client_for(props) as client:
            try:
                keys = _ours(client.list_api_keys(str(props["ref"]), reveal=False), props, _recorded(props))
            except NotFound:
                return  # the project is gone, and its keys with it
            for key in keys:
                client.delete_api_key(str(props["ref"]), key.id)


@dataclass(frozen=True)
class SupabaseApiKeysInputs(Inputs):
    secret_inputs = ("claim",)
    management_api: str
    ref: pulumi.Input[str]
    prefix: str
    rotation: int
    # A secret recorded before any key is made: what proves a key the stack's (providers/ownership.py).
    claim: pulumi.Input[str]
    description: str | None = None
    deleted_with_project: bool = False


class SupabaseApiKeys(Declared, module="supabase", name="ApiKeys"):
    secret_outputs = SECRET_OUTPUTS
    # Kept in the outputs (encrypted) for the delete, which is given the outputs alone.
    claim: pulumi.Output[str]
    publishable_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]
    publishable_id: pulumi.Output[str]
    secret_id: pulumi.Output[str]
    replaced_ids: pulumi.Output[list[str]]
    rotated_at: pulumi.Output[str | None]

    def __init__(self, name: str, inputs: SupabaseApiKeysInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(SupabaseApiKeysProvider(), name, inputs, opts)


def _retire(props: dict[str, Any], olds: dict[str, Any]) -> dict[str, Any]:
    now = _clock()
    grace = float(props.get("grace_seconds") or 0)
    replaced = set(props.get("key_ids") or [])
    # A key no longer among the replaced ones is in use again (a rotation counter set back
    # re-adopts the pair of that number while it still exists): it is never deleted.
    pending: dict[str, float] = {k: float(v) for k, v in (olds.get("pending") or {}).items() if k in replaced}
    retired: list[str] = list(olds.get("retired") or [])
    for key_id in props.get("key_ids") or []:
        if key_id not in pending and key_id not in retired:
            pending[key_id] = now + grace
    # A shorter grace (a revocation: rotation:apiKeysRevoked) applies to keys already pending too;
    # with the grace unchanged this changes nothing (each was due at most grace after it was seen).
    pending = {k: min(at, now + grace) for k, at in pending.items()}
    hold = props.get("hold")
    if olds.get("hold") and not hold:
        # Redeploys are back on, and this run's redeploy is the first to stop using the held
        # keys: their grace starts now, not when they were first held.
        pending = {k: now + grace for k in pending}
    due = sorted(k for k, at in pending.items() if at <= now)
    if due and not hold:
        with client_for(props) as client:
            for key_id in due:
                client.delete_api_key(str(props["ref"]), key_id)
                retired.append(key_id)
                del pending[key_id]
        pulumi.log.info(f"API keys: {len(due)} replaced keys deleted; they no longer work")
    next_due = min(pending.values(), default=None)
    if hold and pending:
        status = f"API keys: {len(pending)} replaced keys kept: {hold}"
    elif pending:
        status = (
            f"API keys: {len(pending)} replaced keys are deleted at {_iso(next_due)} (or the first pulumi up after)"
        )
    else:
        status = "API keys: no replaced key is left"
    return {
        **{k: props.get(k) for k in ("management_api", "ref", "key_ids", "grace_seconds", "hold")},
        "pending": pending,
        "retired": retired,
        "status": status,
        "next_due_at": None if hold else _iso(next_due),
        "next_due_epoch": None if hold else next_due,
    }


class ApiKeyRetirementProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"{props['ref']}/retired-api-keys", outs=_retire(props, {}))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if is_unknown(news.get("key_ids")):
            return DiffResult(changes=True, replaces=[], delete_before_replace=False)
        known = set(olds.get("pending") or {}) | set(olds.get("retired") or [])
        new_keys = bool(set(news.get("key_ids") or []) - known)
        pending = [float(v) for v in (olds.get("pending") or {}).values()]
        due = bool(pending) and not news.get("hold") and min(pending) <= _clock()
        changed = not same_api(olds.get("management_api"), news.get("management_api")) or any(
            not is_unknown(news.get(k)) and olds.get(k) != news.get(k) for k in ("ref", "grace_seconds", "hold")
        )
        return DiffResult(changes=new_keys or due or changed, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_retire(news, olds))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # SupabaseApiKeys deletes every key of its naming when it goes


@dataclass(frozen=True)
class ApiKeyRetirementInputs(Inputs):
    management_api: str
    ref: pulumi.Input[str]
    key_ids: pulumi.Input[list[str]]
    grace_seconds: float
    hold: str | None = None


class ApiKeyRetirement(Declared, module="supabase", name="ApiKeyRetirement"):
    status: pulumi.Output[str]
    next_due_at: pulumi.Output[str | None]
    next_due_epoch: pulumi.Output[float | None]
    retired: pulumi.Output[list[str]]
    pending: pulumi.Output[dict[str, float]]

    def __init__(self, name: str, inputs: ApiKeyRetirementInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(ApiKeyRetirementProvider(), name, inputs, opts)
