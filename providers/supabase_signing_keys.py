"""Dynamic provider: rotating a Supabase project's JWT signing key, step by step.

The legacy JWT secret cannot be rotated through the Management API; Supabase's signing keys
can, in the order its docs give (guides/auth/signing-keys):

    1. import the legacy secret as a signing key, if no key is in use yet;
    2. create a standby key: Auth publishes it in the JWKS but does not sign with it yet;
    3. after ``standby_seconds`` (JWKS caches must know the key by then), make it the key in
       use; the old one becomes "previously used" and stays trusted;
    4. after ``revoke_after`` (the tokens it signed have expired: default, the project's
       ``jwt_exp`` plus 15 minutes), revoke the old key.

Supabase throttles signing-key state changes ("approximately 5 minutes" between them): a
step the API refuses for that is not an error but a step due later, at the time the API
names (``not_before``), and the next ``pulumi up`` after it takes the step.

A rotation is asked for by changing ``rotation`` (a counter). Each ``pulumi up`` advances as
far as time allows and stops; ``diff`` reports a change as soon as a step is due (a time
comparison, no network), so the next ``up`` (or ``preview``) shows it. The state says which
step the rotation is in and when the next one is due (``phase``, ``next_step``,
``next_due_at``, ``status``). Nothing here is secret: key ids and statuses only.

Every step is safe to repeat after an interruption: a key already imported or in use is
found instead of imported or switched again; a standby key is adopted rather than a second
one made (a create whose answer was lost leaves one behind); a key already revoked is done.
The imported legacy secret can only be revoked once the legacy ``anon``/``service_role`` API
keys (JWTs it signed) are disabled: until then it stays trusted, the rotation says so, and
a later rotation revokes it once they are. A counter changed mid-rotation starts the next
rotation when this one has finished. Destroying the resource leaves the keys as they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from envstack.api_urls import same_api
from envstack.errors import ApiError, ResourceError
from providers.declared import Declared, Inputs
from providers.supabase_access import client_for
from providers.unknowns import is_unknown

DEFAULT_ALGORITHM = "ES256"
REVOKE_MARGIN_SECONDS = 900  # after the JWT expiry, before the old key is revoked
DEFAULT_JWT_EXP = 3600
_INPUTS = ("management_api", "ref", "rotation", "algorithm", "standby_seconds", "revoke_after_seconds")
IDLE, STANDBY, SWITCHED = "idle", "standby", "switched"
THROTTLE_SECONDS = 300.0  # when a throttled change does not say how long ("approximately 5 minutes")


class Throttled(Exception):
    """Supabase refused a signing-key change made too soon after the last one."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"signing-key changes are throttled for {seconds:.0f}s")
        self.seconds = seconds


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class Rotation:
    """Where the signing-key rotation stands (the resource's state, minus its inputs)."""

    completed: int  # the last counter fully rotated to (or the one the stack started with)
    phase: str = IDLE
    target: int | None = None  # the counter the rotation under way serves
    new_key_id: str | None = None
    old_key_id: str | None = None
    kept_trusted: list[str] = field(default_factory=list)  # legacy secrets not revocable yet
    phase_started_at: float | None = None
    revoke_wait_seconds: float | None = None
    in_use_key_id: str | None = None
    rotated_at: str | None = None
    note: str | None = None
    not_before: float | None = None  # Supabase throttles key changes: the next one not before this

    @classmethod
    def of(cls, state: dict[str, Any]) -> Rotation:
        known = {name for name in cls.__dataclass_fields__}
        values = {k: v for k, v in state.items() if k in known}
        values["completed"] = int(values.get("completed") or 0)
        if values.get("target") is not None:
            values["target"] = int(values["target"])
        values["kept_trusted"] = list(values.get("kept_trusted") or [])
        return cls(**values)


@dataclass(frozen=True)
class Timing:
    standby_seconds: float
    revoke_after_seconds: float | None  # None: the project's jwt_exp + REVOKE_MARGIN_SECONDS

    @classmethod
    def of(cls, props: dict[str, Any]) -> Timing:
        revoke = props.get("revoke_after_seconds")
        return cls(float(props.get("standby_seconds") or 0), None if revoke is None else float(revoke))


def due_at(state: Rotation, timing: Timing) -> float | None:
    """When the next step of the rotation under way may run (None: nothing under way)."""
    if state.phase_started_at is None:
        return None
    if state.phase == STANDBY:
        due = state.phase_started_at + timing.standby_seconds
    elif state.phase == SWITCHED:
        wait = timing.revoke_after_seconds if timing.revoke_after_seconds is not None else state.revoke_wait_seconds
        due = state.phase_started_at + float(wait or 0)
    else:
        return None
    return max(due, state.not_before or due)


def describe(state: Rotation, timing: Timing) -> tuple[str, str | None]:
    """(what the rotation is doing, the next step) in words for the run's output."""
    due = iso(due_at(state, timing))
    if state.phase == STANDBY:
        return (
            f"JWT signing keys, rotation {state.target}: standby key {state.new_key_id} is published in the JWKS "
            f"but does not sign yet; it becomes the signing key at {due} (or the first pulumi up after)",
            "make the standby key the signing key",
        )
    if state.phase == SWITCHED:
        return (
            f"JWT signing keys, rotation {state.target}: key {state.new_key_id} signs new tokens; the previous key "
            f"{state.old_key_id} is still trusted until {due}, then revoked (the first pulumi up after that)",
            "revoke the previous key",
        )
    signer = state.in_use_key_id or "(the legacy secret)"
    done = f"JWT signing keys: rotation {state.completed} is complete; key {signer} signs"
    return (f"{done}. {state.note}" if state.note else done), None


class _Steps:
    """The steps against the Management API (``client`` is an envstack.clients.supabase.SupabaseClient)."""

    def __init__(self, client: Any, ref: str, algorithm: str, clock: Callable[[], float]) -> None:
        self.client, self.ref, self.algorithm, self.clock = client, ref, algorithm, clock

    def start(self, state: Rotation, wanted: int, timing: Timing) -> Rotation:
        keys = self.client.list_signing_keys(self.ref)
        in_use = next((k for k in keys if k.status == "in_use"), None)
        switched_from = self._switched_from(state, in_use)
        if in_use is not None and switched_from is not None:
            # A run that died after the switch, before the state was saved: not a second
            # rotation, the rest of this one (the wait, then the revoke).
            pulumi.log.info(f"JWT signing keys: {in_use.id} already signs (an interrupted run switched to it)")
            # The old key stays trusted as long as after any switch: the wait was never recorded.
            return replace(
                self._begun(state, SWITCHED, wanted, in_use.id, switched_from, _epoch(in_use.updated_at), in_use.id),
                revoke_wait_seconds=self._revoke_wait(timing),
            )
        foreign = [
            k
            for k in keys
            if k.status == "standby" and (in_use is None or k.id != in_use.id) and k.algorithm != self.algorithm
        ]
        if foreign:
            # Never this stack's (it makes its standby keys of its own algorithm): someone's
            # prepared key, perhaps imported from a private key held elsewhere, must not become
            # Auth's signing key by a counter bump.
            named = ", ".join(f"{k.id} ({k.algorithm})" for k in foreign)
            raise ResourceError(
                f"JWT signing keys of {self.ref}: a standby key this stack did not make is waiting ({named}); "
                "nothing was changed. Revoke it in Supabase, or promote it there yourself, and run again"
            )
        if in_use is None:
            legacy = self.client.get_legacy_signing_key(self.ref)
            if legacy is None:
                pulumi.log.info("JWT signing keys: importing the legacy JWT secret as the signing key in use")
                legacy = self._import_legacy()
            in_use = legacy
        standby = self._standby(keys, exclude=in_use.id)
        started = _epoch(standby.created_at) if standby is not None else None
        if standby is None:
            standby = self._create_standby(exclude=in_use.id)
            started = self.clock()
        pulumi.log.info(f"JWT signing keys: standby key {standby.id} ({standby.algorithm}) published")
        return self._begun(state, STANDBY, wanted, standby.id, in_use.id, started, in_use.id)

    def _begun(
        self, state: Rotation, phase: str, wanted: int, new: str, old: str, started: float | None, in_use: str
    ) -> Rotation:
        """A rotation towards ``wanted`` in ``phase`` since ``started`` (never in the future)."""
        return Rotation(
            completed=state.completed,
            phase=phase,
            target=wanted,
            new_key_id=new,
            old_key_id=old,
            kept_trusted=state.kept_trusted,
            phase_started_at=min(started or self.clock(), self.clock()),
            in_use_key_id=in_use,
            rotated_at=state.rotated_at,
        )

    def _switched_from(self, state: Rotation, in_use: Any | None) -> str | None:
        """The key that signed when the last rotation ended, if another one signs now."""
        if in_use is None:
            return None
        if state.in_use_key_id is not None:
            return state.in_use_key_id if in_use.id != state.in_use_key_id else None
        # The stack started before any key was imported: the legacy secret signed then.
        legacy = self.client.get_legacy_signing_key(self.ref)
        return legacy.id if legacy is not None and legacy.id != in_use.id else None

    def _standby(self, keys: list[Any], exclude: str) -> Any | None:
        """A standby key of this algorithm already there (ours from an interrupted run, which only a
        key of another algorithm is certainly not; see ``start``): used, not duplicated."""
        waiting = [k for k in keys if k.status == "standby" and k.id != exclude]
        return max(waiting, key=lambda k: k.created_at or "", default=None)

    def _create_standby(self, exclude: str) -> Any:
        from envstack.clients.create_once import create_once

        # A standby key found after a lost answer is the one this call made: there was none before it.
        return create_once(
            lambda: self.client.create_signing_key(self.ref, self.algorithm, "standby"),
            lambda: self._standby(self.client.list_signing_keys(self.ref), exclude=exclude),
            what=f"a standby JWT signing key of {self.ref}",
            say=pulumi.log.info,
        )

    def _import_legacy(self) -> Any:
        from envstack.clients.create_once import create_once

        return create_once(
            lambda: self.client.import_legacy_signing_key(self.ref),
            lambda: self.client.get_legacy_signing_key(self.ref),
            what=f"the imported legacy JWT secret of {self.ref}",
            say=pulumi.log.info,
        )

    def switch(self, state: Rotation, timing: Timing) -> Rotation:
        key = self.client.get_signing_key(self.ref, state.new_key_id)
        if key is None:
            # Deleted by hand meanwhile: start over with a new standby key.
            pulumi.log.warn(f"JWT signing keys: standby key {state.new_key_id} is gone; creating another")
            # The key that signs is still the one that signed when this rotation began.
            again = Rotation(
                completed=state.completed,
                kept_trusted=state.kept_trusted,
                in_use_key_id=state.in_use_key_id,
                rotated_at=state.rotated_at,
            )
            return self.start(again, state.target or 0, timing)
        if key.status == "standby":
            self._set_status(key.id, "in_use")
        elif key.status != "in_use":
            raise ResourceError(
                f"JWT signing keys: the standby key {key.id} is now {key.status}, changed outside this stack; move it "
                "back to standby (or delete it) and run pulumi up again"
            )
        wait = self._revoke_wait(timing)
        pulumi.log.info(
            f"JWT signing keys: {key.id} now signs new tokens; {state.old_key_id} stays trusted for {wait:.0f}s"
        )
        return Rotation(
            **{
                **asdict(state),
                "phase": SWITCHED,
                "phase_started_at": self.clock(),
                "revoke_wait_seconds": wait,
                "not_before": None,
            },
        )

    def _revoke_wait(self, timing: Timing) -> float:
        """Seconds the previous key stays trusted after the switch: until every token it signed has expired."""
        if timing.revoke_after_seconds is not None:
            return timing.revoke_after_seconds
        jwt_exp = self.client.get_auth_config(self.ref).jwt_exp or DEFAULT_JWT_EXP
        return float(jwt_exp + REVOKE_MARGIN_SECONDS)

    def finish(self, state: Rotation) -> Rotation:
        legacy = self.client.get_legacy_signing_key(self.ref)
        kept: list[str] = []
        unanswered = False  # Supabase no longer says whether the legacy API keys are enabled
        for key_id in dict.fromkeys([*state.kept_trusted, *([state.old_key_id] if state.old_key_id else [])]):
            if key_id == state.new_key_id:
                continue
            key = self.client.get_signing_key(self.ref, key_id)
            if key is None or key.status in ("revoked", "standby"):
                continue
            if key.status == "in_use":
                raise ResourceError(
                    f"JWT signing keys: {key_id}, the key this rotation retires, is in use again (changed outside "
                    "this stack); make the new key the one in use, then run pulumi up again"
                )
            if legacy is not None and key.id == legacy.id:
                # Revoking the legacy secret while the legacy API keys are on would turn away
                # every client still using them: without an answer, it stays trusted too.
                enabled = self.client.legacy_api_keys_enabled(self.ref)
                unanswered = enabled is None
                if enabled is not False:
                    kept.append(key.id)
                    continue
            self._set_status(key.id, "revoked")
            pulumi.log.info(f"JWT signing keys: {key.id} revoked; tokens it signed are no longer accepted")
        note = (
            "The legacy JWT secret stays trusted (previously used): the legacy anon and service_role API keys are "
            "still enabled, and they are signed with it. Move the app to the publishable and secret keys, disable "
            "the legacy API keys, and the next JWT rotation revokes it."
            if kept and not unanswered
            else "The legacy JWT secret stays trusted (previously used): Supabase no longer answers whether the "
            "legacy anon and service_role API keys are enabled (404 from its legacy API keys endpoint). Once no "
            "client uses them, revoke it in the dashboard (JWT Keys)."
            if kept
            else None
        )
        return Rotation(
            completed=int(state.target if state.target is not None else state.completed),
            kept_trusted=kept,
            in_use_key_id=state.new_key_id,
            rotated_at=iso(self.clock()),
            note=note,
        )

    def _set_status(self, key_id: str, status: str) -> None:
        try:
            self.client.set_signing_key_status(self.ref, key_id, status)
        except ApiError as error:
            if error.status != 429:
                raise
            raise Throttled(error.retry_after or THROTTLE_SECONDS) from None


def advance(
    client: Any, ref: str, state: Rotation, wanted: int, timing: Timing, algorithm: str, clock: Callable[[], float]
) -> Rotation:
    """Take every step that is due now, in order; stop at the first one that is not."""
    steps = _Steps(client, ref, algorithm, clock)
    for _ in range(8):  # at most two whole rotations (one under way, one asked for meanwhile)
        try:
            following = _next(steps, state, wanted, timing, clock)
        except Throttled as throttled:
            # Steps are safe to repeat (a key already moved is found as moved), so the step
            # the API refused runs again, whole, at the first pulumi up after the time it named.
            later = clock() + throttled.seconds
            pulumi.log.info(
                "JWT signing keys: Supabase throttles signing-key changes; the next step runs at the first "
                f"pulumi up after {iso(later)}"
            )
            return Rotation(**{**asdict(state), "not_before": later})
        if following is None:
            return state
        state = following
    return state


def _next(steps: _Steps, state: Rotation, wanted: int, timing: Timing, clock: Callable[[], float]) -> Rotation | None:
    """The state after the step due now (None: no step is due)."""
    if state.phase == IDLE:
        return steps.start(state, wanted, timing) if wanted != state.completed else None
    if state.phase not in (STANDBY, SWITCHED):
        raise ResourceError(f"unknown signing key rotation phase {state.phase!r}")
    due = due_at(state, timing)
    if due is not None and clock() < due:
        return None
    return steps.switch(state, timing) if state.phase == STANDBY else steps.finish(state)


def _clock() -> float:
    return time.time()


def _outputs(props: dict[str, Any], state: Rotation) -> dict[str, Any]:
    timing = Timing.of(props)
    status, next_step = describe(state, timing)
    due = due_at(state, timing)
    return {
        **{key: props.get(key) for key in _INPUTS},
        **asdict(state),
        "status": status,
        "next_step": next_step,
        "next_due_at": iso(due),
        "next_due_epoch": due,
    }


class SigningKeyRotationProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        for key in ("rotation", "standby_seconds"):
            value = news.get(key)
            if not is_unknown(value) and (not isinstance(value, int | float) or value < 0):
                failures.append(CheckFailure(key, "a number, 0 or more, is required"))
        revoke = news.get("revoke_after_seconds")
        if revoke is not None and not is_unknown(revoke) and (not isinstance(revoke, int | float) or revoke < 0):
            failures.append(CheckFailure("revoke_after_seconds", "a number of seconds, 0 or more, or unset"))
        if news.get("algorithm") not in ("ES256", "RS256", "EdDSA", "HS256"):
            failures.append(CheckFailure("algorithm", "ES256, RS256, EdDSA or HS256"))
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        # The counter the stack starts with is where it stands: creating rotates nothing.
        with client_for(props) as client:
            in_use = next((k for k in client.list_signing_keys(str(props["ref"])) if k.status == "in_use"), None)
        state = Rotation(completed=int(props["rotation"]), in_use_key_id=in_use.id if in_use else None)
        return CreateResult(id_=str(props["ref"]), outs=_outputs(props, state))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # An unknown ref (a preview while the project itself is updated) is the same project:
        # only a replaced project has another ref, and its preview shows that replacement.
        if not is_unknown(news.get("ref")) and olds.get("ref") != news.get("ref"):
            return DiffResult(changes=True, replaces=["ref"], delete_before_replace=False)
        state = Rotation.of(olds)
        wanted = news.get("rotation")
        # The counter last seen, not the one under way: a counter changed mid-rotation is
        # recorded once and waits for the current rotation to finish.
        asked = is_unknown(wanted) or int(wanted or 0) != int(olds.get("rotation") or 0)
        due = due_at(state, Timing.of(news))
        step_due = state.phase != IDLE and due is not None and _clock() >= due
        retimed = any(olds.get(k) != news.get(k) for k in ("algorithm", "standby_seconds", "revoke_after_seconds"))
        # Where the API lives is not what exists: a new URL is recorded, nothing replaced.
        moved = not same_api(olds.get("management_api"), news.get("management_api"))
        return DiffResult(changes=asked or step_due or retimed or moved, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        state = Rotation.of(olds)
        with client_for(news) as client:
            state = advance(
                client,
                str(news["ref"]),
                state,
                int(news["rotation"]),
                Timing.of(news),
                str(news.get("algorithm") or DEFAULT_ALGORITHM),
                _clock,
            )
        return UpdateResult(outs=_outputs(news, state))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # the project's keys stay as they are: Auth needs one to sign with


@dataclass(frozen=True)
class SigningKeyRotationInputs(Inputs):
    management_api: str
    ref: pulumi.Input[str]
    rotation: int
    standby_seconds: float
    revoke_after_seconds: float | None
    algorithm: str = DEFAULT_ALGORITHM


class SigningKeyRotation(Declared, module="supabase", name="SigningKeyRotation"):
    # Every field of Rotation, then what the provider adds for people reading the stack.
    completed: pulumi.Output[int]
    phase: pulumi.Output[str]
    target: pulumi.Output[int | None]
    new_key_id: pulumi.Output[str | None]
    old_key_id: pulumi.Output[str | None]
    kept_trusted: pulumi.Output[list[str]]
    phase_started_at: pulumi.Output[float | None]
    revoke_wait_seconds: pulumi.Output[float | None]
    in_use_key_id: pulumi.Output[str | None]
    status: pulumi.Output[str]
    next_step: pulumi.Output[str | None]
    next_due_at: pulumi.Output[str | None]
    next_due_epoch: pulumi.Output[float | None]
    rotated_at: pulumi.Output[str | None]
    not_before: pulumi.Output[float | None]
    note: pulumi.Output[str | None]

    def __init__(self, name: str, inputs: SigningKeyRotationInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(SigningKeyRotationProvider(), name, inputs, opts)
