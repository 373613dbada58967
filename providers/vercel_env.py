"""Dynamic provider: the environment variables one stack owns in one Vercel project and target.

One resource holds every variable of one scope: a target (``production``, ``preview``,
``development`` or a custom environment id ``env_…``) and, for preview only, optionally one
git branch. Values are inputs (secret); the state keeps, per key, the Vercel env id and a
salted HMAC of the value written, never the value, so ``diff`` sees changed inputs without a
network call and nothing in the outputs can be reversed into a value.

What it writes and how:
- Secret values are ``sensitive`` (write-only on Vercel) on production, preview and custom
  environments; development cannot hold sensitive variables, so they are ``encrypted``
  there. ``public_keys`` are ``encrypted`` everywhere. A sensitive value is never read back.
- Create and additions: one list call to find variables of the same key, an overlapping
  target and the same branch (Vercel's uniqueness rule); any such variable the stack does not
  own fails the step with nothing written, unless ``adopt`` is set. Then one batched POST with
  ``upsert=true``, whatever the number of variables. Items Vercel refuses are reported by key
  and what the write created is deleted again, so nothing is orphaned.
- A POST that fails after it may have taken effect (a 5xx, a reset, a timeout) is neither
  undone nor repeated blindly (``create_once``): the project's list shows which of the keys
  asked for now exist exactly in this scope that were not in the list taken before (under the
  same lock, so this write made them). Those are kept and recorded; only the missing ones are
  written again. So the step succeeds with one variable per key, and the next run has nothing
  to do. Only when the write still fails after that is what it made deleted again.
- Changed values go in one POST with ``upsert=true``, whatever their number: Vercel updates the
  variable of the same key, target and branch in place, so ids stay stable. Doing it twice
  does no harm, so a call without a clear answer is made again. An upsert updates only the
  value (the spec: "the existing variable's value will be updated"), so a variable to restore
  or put back in place (drift, below), or whose comment changes, is PATCHed on its own, and an
  adopted variable of another type is deleted and written anew, one of another comment
  PATCHed. A key that
  moves between secret and public is deleted, then written again with the new type: Vercel
  changes sensitivity only by removing and re-adding a variable (its docs on sensitive
  variables), and a create before the delete would be refused as a duplicate. Removed keys are
  deleted by id, in one call.
- Adoption: only a variable scoped exactly like this resource (same single target, same
  branch) can be taken over; from then on the stack owns it: it is overwritten now and
  deleted on destroy like the variables the stack created.
- ``diff`` never calls the API, so a no-op ``up`` or preview costs nothing here. Drift made in
  Vercel is found by a refresh (``pulumi up --refresh``, or ``pulumi refresh`` then ``up``):
  ``read`` takes one list of the project's variables (one call per page of 100, however many
  variables) and compares it with the state. A variable deleted by hand drops out (the next
  ``up`` writes it anew); one changed by hand (Vercel's ``updatedAt`` later than the one
  recorded after the stack's last write, in ``stamps``) is marked drifted, and one moved to
  another target or branch, or a sensitive one made readable, is marked misplaced; one deleted
  and added again under the same key and exactly this scope (the Vercel CLI's ``env rm`` then
  ``env add``) is taken back, since that place was the stack's: its new id is recorded and it
  is marked drifted. The next ``up`` restores each in place (its update lists the variables
  again, so what changed since the refresh is repaired too). A refresh that finds
  anything adds one to ``repairs``, which is part of the redeploy's trigger, so the ``up``
  that restores is followed by one redeploy. No value is read for this, except for a readable
  variable without a stamp (a state from before stamps): its value is compared by hash; a
  sensitive value is never read. After a write whose answer was lost (it may still land, and
  move ``updatedAt``), its keys get no stamp until the resource's next update: a late write of
  its own is no edit. A variable the stack never recorded is never touched: one that overlaps
  this scope without matching it still fails the step, naming it.
- Writes to one project are serialized across threads and processes on this machine (a file
  lock), and Vercel's "ongoing env update" answer is retried by the HTTP layer.
- ``api_url`` and ``team`` say where the API is, not what exists: they never replace the
  resource. A URL that normalizes equal is no change; another URL or team spelling (a slug
  changed to the team's id) is an in-place update that writes nothing. The project itself is
  ``project_id``, checked by the project resource this one depends on.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from envstack.api_urls import VERCEL_API_URL, same_api
from envstack.clients.vercel_scope import Scope, reviewable, value_hash
from envstack.errors import ResourceError
from envstack.vercel_names import NAME_PATTERN, RESERVED_NAMES, VERCEL_MAX_TOTAL_BYTES, is_target
from providers import vercel_access
from providers.declared import Declared, Inputs
from providers.unknowns import is_unknown

if TYPE_CHECKING:
    from envstack.clients.vercel import CreatedEnvs, EnvVar, VercelClient

# How often one write is tried when its failures may hide a success (see _Batch).
ATTEMPTS = 3
# The longest a delete may take to spread before anything is written again (see _settled).
DELETE_SETTLE_SECONDS = 60.0
SECRET_OUTPUTS = ("salt",)
MAX_BRANCH_LENGTH = 250
MAX_COMMENT_LENGTH = 500
# A key's stamp while a lost write of it may still land (see _write): never recorded.
UNSTAMPED = -1.0
# Stand-ins for a hash after a refresh found the variable changed on Vercel: never equal to
# a real hash, so the next diff shows a change and update restores the variable.
DRIFT_VALUE = "drift:value"
DRIFT_PLACEMENT = "drift:placement"
_DRIFT = (DRIFT_VALUE, DRIFT_PLACEMENT)
_REPLACE_ON = ("project_id", "target", "git_branch")
# How every envstack stack's comment begins; ``comment_of`` adds the stack.
MARK = "managed by envstack"


def comment_of(project: str, stack: str) -> str:
    """The comment a stack's variables carry: it names the stack that manages them."""
    return f"{MARK} ({project}/{stack})"


def managing_stack(comment: str | None) -> str | None:
    """The stack an envstack comment names (None: not an envstack stack's variable)."""
    if not comment or not comment.startswith(f"{MARK} (") or not comment.endswith(")"):
        return None
    return comment[len(MARK) + 2 : -1].rpartition("/")[2] or None


_INPUTS = ("api_url", "team", "project_id", "target", "git_branch", "public_keys", "adopt", "comment")


def _pause(seconds: float) -> None:
    time.sleep(seconds)


def _settled(client: VercelClient, scope: Scope, deleted: Collection[str]) -> list[EnvVar] | None:
    """The project's list once Vercel no longer lists the variables just deleted (None when
    the project itself is gone).

    Vercel deletes variables eventually, not at once (terraform-provider-vercel PR #306, which
    then waits 5 seconds between deleting and creating): meanwhile a deleted variable is still
    listed and in the way of a new one of its key and scope, and one carrying this stack's
    comment would be taken back as its own, written into, and then vanish."""
    from envstack.errors import NotFound

    deadline, wait = time.monotonic() + DELETE_SETTLE_SECONDS, 0.1
    while True:
        try:
            listed = client.list_env(scope.project_id)
        except NotFound:
            return None
        left = {env.id for env in listed} & set(deleted)
        if not left:
            return listed
        if time.monotonic() > deadline:
            raise ResourceError(
                f"{scope.describe()}: Vercel still lists {len(left)} variables deleted {DELETE_SETTLE_SECONDS:g}s "
                "ago; run `pulumi up` again"
            )
        _pause(wait)
        wait = min(wait * 2, 2.0)


def desired_types(props: Mapping[str, Any]) -> dict[str, str]:
    public = set(props.get("public_keys") or [])
    secret_type = "encrypted" if props.get("target") == "development" else "sensitive"
    return {key: "encrypted" if key in public else secret_type for key in props.get("variables") or {}}


def _names(keys: Iterable[str]) -> str:
    return ", ".join(sorted(keys))


def _info(scope: Scope, message: str) -> None:
    pulumi.log.info(f"{scope.describe()}: {message}")


@dataclass
class _Plan:
    remove: list[str] = field(default_factory=list)
    add: list[str] = field(default_factory=list)
    patch: list[str] = field(default_factory=list)
    recreate: list[str] = field(default_factory=list)
    comment: bool = False

    @property
    def empty(self) -> bool:
        return not (self.remove or self.add or self.patch or self.recreate or self.comment)


def _plan(olds: Mapping[str, Any], news: Mapping[str, Any]) -> _Plan:
    ids: Mapping[str, str] = olds.get("ids") or {}
    hashes: Mapping[str, str] = olds.get("hashes") or {}
    types: Mapping[str, str] = olds.get("types") or {}
    salt = str(olds.get("salt") or "")
    variables: Mapping[str, str] = news.get("variables") or {}
    wanted = desired_types(news)
    plan = _Plan(comment=(olds.get("comment") or None) != (news.get("comment") or None))
    plan.remove = sorted(set(ids) - set(variables))
    plan.add = sorted(set(variables) - set(ids))
    for key in sorted(set(variables) & set(ids)):
        if types.get(key) != wanted[key]:
            plan.recreate.append(key)
        elif hashes.get(key) != value_hash(salt, key, variables[key]):
            plan.patch.append(key)
    return plan


@dataclass
class _Drift:
    """What happened in Vercel to the variables the state records, seen in one list call."""

    gone: list[str] = field(default_factory=list)  # deleted by hand: written anew
    # Deleted and added again by hand under the same key and exactly this scope (the Vercel
    # CLI's way to change a value: `env rm`, then `env add`): the key's place is the stack's, so
    # the new variable is taken back and restored in place.
    replaced: dict[str, EnvVar] = field(default_factory=dict)
    edited: list[str] = field(default_factory=list)  # changed by hand (value, type or scope)

    @property
    def empty(self) -> bool:
        return not (self.gone or self.replaced or self.edited)

    def describe(self) -> str:
        parts = [
            f"{_names(self.gone)} deleted" if self.gone else "",
            f"{_names(self.replaced)} deleted and added again" if self.replaced else "",
            f"{_names(self.edited)} edited" if self.edited else "",
        ]
        return "; ".join(filter(None, parts)) + " outside the stack"


def _drift(live: Sequence[EnvVar], olds: Mapping[str, Any], scope: Scope) -> _Drift:
    ids: Mapping[str, str] = olds.get("ids") or {}
    stamps: Mapping[str, float] = olds.get("stamps") or {}
    types: Mapping[str, str] = olds.get("types") or {}
    by_id = {env.id: env for env in live}
    owned = set(ids.values())
    drift = _Drift()
    for key, env_id in sorted(ids.items()):
        env = by_id.get(env_id)
        if env is None or env.key != key:
            twin = next((e for e in live if e.key == key and e.id not in owned and scope.exactly(e)), None)
            if twin is not None:
                drift.replaced[key] = twin
            else:
                drift.gone.append(key)
            continue
        touched = key in stamps and (env.updated_at or 0.0) > float(stamps[key])
        weakened = types.get(key) == "sensitive" and env.type != "sensitive"
        if touched or weakened or not scope.exactly(env):
            drift.edited.append(key)
    return drift


def _stamps(
    client: VercelClient,
    scope: Scope,
    ids: Mapping[str, str],
    known: Mapping[str, float],
    listed: Sequence[EnvVar] | None = None,
) -> dict[str, float]:
    """When Vercel last changed each variable, as of now: a later change is someone else's.
    Keys ``known`` as unstamped stay so (see ``UNSTAMPED``). ``listed``: a list taken since the
    last write, which saves listing again."""
    live = {env.id: env for env in (client.list_env(scope.project_id) if listed is None else listed)}
    found = {key: float(live[i].updated_at or live[i].created_at or 0.0) for key, i in ids.items() if i in live}
    return {**found, **{key: UNSTAMPED for key, stamp in known.items() if stamp == UNSTAMPED and key in ids}}


def _check(news: Mapping[str, Any]) -> list[CheckFailure]:
    failures: list[CheckFailure] = []
    project_id = news.get("project_id")
    if not is_unknown(project_id) and (not isinstance(project_id, str) or not project_id.strip()):
        failures.append(CheckFailure("project_id", "the id (or name) of the Vercel project is required"))
    target = news.get("target")
    if not is_unknown(target) and not is_target(target):
        failures.append(
            CheckFailure("target", f"{target!r} is not production, preview, development or a custom environment id")
        )
    branch = news.get("git_branch")
    if branch is not None and not is_unknown(branch):
        if not isinstance(branch, str) or not branch.strip() or len(branch) > MAX_BRANCH_LENGTH:
            failures.append(CheckFailure("git_branch", f"a git branch is 1 to {MAX_BRANCH_LENGTH} characters"))
        elif not is_unknown(target) and target != "preview":
            failures.append(CheckFailure("git_branch", "Vercel scopes variables to a git branch only on preview"))
    comment = news.get("comment")
    if isinstance(comment, str) and not is_unknown(comment) and len(comment) > MAX_COMMENT_LENGTH:
        failures.append(CheckFailure("comment", f"Vercel keeps at most {MAX_COMMENT_LENGTH} characters of comment"))
    variables = news.get("variables")
    if is_unknown(variables):
        return failures
    if not isinstance(variables, Mapping):
        return [*failures, CheckFailure("variables", "a map of variable names to values is required")]
    failures += _check_variables(variables)
    public_keys = news.get("public_keys") or []
    if not is_unknown(public_keys):
        strays = [k for k in public_keys if k not in variables]
        if strays:
            failures.append(CheckFailure("public_keys", f"{_names(strays)} not among the variables"))
    return failures


def _check_variables(variables: Mapping[str, Any]) -> list[CheckFailure]:
    failures: list[CheckFailure] = []
    invalid = [k for k in variables if not isinstance(k, str) or not NAME_PATTERN.fullmatch(k)]
    if invalid:
        failures.append(
            CheckFailure(
                "variables",
                f"invalid names {_names(map(str, invalid))}: Vercel allows only letters, digits and "
                "underscores, not starting with a digit",
            )
        )
    reserved = [k for k in variables if k in RESERVED_NAMES]
    if reserved:
        failures.append(CheckFailure("variables", f"{_names(reserved)} reserved by Vercel's function runtimes"))
    known = {k: v for k, v in variables.items() if not is_unknown(v)}
    not_text = [k for k, v in known.items() if not isinstance(v, str)]
    if not_text:
        failures.append(CheckFailure("variables", f"values of {_names(not_text)} must be strings"))
    empty = [k for k, v in known.items() if v == ""]
    if empty:
        failures.append(CheckFailure("variables", f"{_names(empty)} empty: Vercel stores no empty values"))
    total = sum(len(k.encode()) + len(v.encode()) for k, v in known.items() if isinstance(v, str))
    if total > VERCEL_MAX_TOTAL_BYTES:
        # Sizes only, never values: the message may be shown anywhere.
        biggest = sorted(
            (k for k, v in known.items() if isinstance(v, str)), key=lambda k: -len(str(known[k]).encode())
        )[:3]
        failures.append(
            CheckFailure(
                "variables",
                f"{total} bytes in all, over Vercel's {VERCEL_MAX_TOTAL_BYTES}-byte limit per deployment "
                f"(largest: {_names(biggest)})",
            )
        )
    return failures


def _claim(
    existing: Iterable[EnvVar],
    keys: Iterable[str],
    scope: Scope,
    adopt: bool,
    owned: Iterable[str] = (),
    marker: str | None = None,
    quiet: bool = False,
) -> dict[str, EnvVar]:
    """Variables already in Vercel that ours would collide with: adopted, or a clear failure.

    A variable scoped exactly like ours that carries this resource's comment (``marker``, which
    names the stack) was written by this stack in a run that died before Pulumi recorded it:
    it is taken back without ``adopt``, so an interrupted ``up`` converges on the next one.
    """
    wanted, mine = set(keys), set(owned)
    conflicts = [e for e in existing if e.key in wanted and e.id not in mine and scope.overlaps(e)]
    reclaimed = {e.key: e for e in conflicts if marker and e.comment == marker and scope.exactly(e)}
    conflicts = [e for e in conflicts if e.key not in reclaimed]
    if reclaimed and not quiet:
        _info(scope, f"taking back {len(reclaimed)} variables an interrupted run of this stack wrote")
    if not conflicts:
        return reclaimed
    names = _names({e.key for e in conflicts})
    if not adopt:
        raise ResourceError(
            f"{scope.describe()} already has variables this stack did not create: {names}. Nothing was "
            "written. To take them over, set adopt (the stack then overwrites them and deletes them on "
            "destroy), or remove them in Vercel."
        )
    managed = sorted((e for e in conflicts if (e.comment or "").startswith(MARK)), key=_by_key)
    if managed:
        # Another stack's own (its comment says so, and the stack's state records its id):
        # taking it over would leave two states deleting one variable and undoing each other.
        marks = "; ".join(f"{e.key} ({e.comment})" for e in managed)
        raise ResourceError(
            f"{scope.describe()}: cannot adopt variables an envstack stack manages (their comment names it): "
            f"{marks}. Nothing was written. Give this stack another target or branch, or remove those variables "
            "from that stack (or, if they are this stack's from before a rename, remove them in Vercel)."
        )
    wider = [e for e in conflicts if not scope.exactly(e)]
    if wider:
        spans = "; ".join(
            f"{e.key} applies to {', '.join(e.target + e.custom_environment_ids)}" for e in sorted(wider, key=_by_key)
        )
        raise ResourceError(
            f"{scope.describe()}: cannot adopt variables that also apply to other environments ({spans}). "
            "Nothing was written. Split them per environment in Vercel, or remove them, and run again."
        )
    return {**reclaimed, **{e.key: e for e in conflicts}}


def _by_key(env: EnvVar) -> str:
    return env.key


class _Batch:
    """One batched write of ``values`` that may be asked again after a failure hiding a success.

    ``before`` is the project's list taken under the same lock, so a variable of ours that
    appears after a failed call (a key asked for, exactly this scope, an id not listed before)
    was made by this write. ``found`` keeps those; a repeat writes only the keys still missing.
    Adopted keys stay in every repeat: they were listed before, and an upsert rewrites them
    in place.
    """

    def __init__(
        self,
        client: VercelClient,
        scope: Scope,
        values: Mapping[str, str],
        types: Mapping[str, str],
        comment: str | None,
        before: Iterable[EnvVar],
    ) -> None:
        self.client, self.scope, self.values, self.types, self.comment = client, scope, values, types, comment
        self.known = {env.id for env in before}
        self.found: dict[str, EnvVar] = {}
        self.last_error: Exception | None = None

    def missing(self) -> list[str]:
        return [key for key in sorted(self.values) if key not in self.found]

    def create(self) -> CreatedEnvs:
        from envstack.clients.vercel import CreatedEnvs
        from envstack.errors import ApiError

        keys = self.missing()
        items = [self.scope.new_env(key, self.values[key], self.types[key], self.comment) for key in keys]
        try:
            result = self.client.create_env(self.scope.project_id, items, upsert=True)
        except ApiError as exc:
            self.last_error = exc
            raise
        return CreatedEnvs(created=[*self.found.values(), *result.created], failed=result.failed)

    def find(self) -> CreatedEnvs | None:
        """Everything written, once every key is found; None while some are still missing."""
        from envstack.clients.vercel import CreatedEnvs
        from envstack.errors import ApiError

        try:
            listed = self.client.list_env(self.scope.project_id)
        except (ApiError, ResourceError) as exc:
            raise _LookupFailed(str(exc)) from None
        for env in listed:
            if env.key in self.values and env.id not in self.known and self.scope.exactly(env):
                self.found[env.key] = env
        missing = self.missing()
        if missing and self.found:
            _info(
                self.scope,
                f"the failed write made {len(self.found)} of its variables: writing only {_names(missing)} again",
            )
        if missing:
            return None
        return CreatedEnvs(created=list(self.found.values()), failed=[])

    def undo(self, nothing: str = " Nothing was kept.") -> str:
        """Delete what this write made; say what happened, for the error message."""
        from envstack.errors import ApiError

        made = [env.id for env in self.found.values()]
        if not made:
            return nothing
        try:
            self.client.delete_envs(self.scope.project_id, made)
        except ApiError as exc:
            return f" Deleting the {len(made)} variables it had created failed too ({exc}).{_LEFT_OVER}"
        return f" The {len(made)} variables it had created were deleted again."


class _LookupFailed(Exception):
    """Listing the project after a failed write failed too: what the write made is unknown."""


_LEFT_OVER = (
    " If the next run reports variables this stack did not create, they come from this attempt: "
    "set adopt once to take them over."
)


def _retyped(
    client: VercelClient,
    scope: Scope,
    adopted: Mapping[str, EnvVar],
    types: Mapping[str, str],
    before: Iterable[EnvVar],
) -> tuple[Mapping[str, EnvVar], Iterable[EnvVar]]:
    """Adopted variables of another type are deleted first, so the write makes them anew: an
    upsert rewrites only the value of the variable it finds (the spec), and sensitivity changes
    only by delete and add. Returns the adopted variables left, and the list after the delete."""
    retype = sorted(key for key, env in adopted.items() if key in types and env.type != types[key])
    if not retype:
        return adopted, before
    _info(scope, f"{_names(retype)}: adopted with another type, so deleted and written again")
    gone = [adopted[key].id for key in retype]
    client.delete_envs(scope.project_id, gone)
    listed = _settled(client, scope, gone)
    return {k: env for k, env in adopted.items() if k not in retype}, listed if listed is not None else []


def _relabel(
    batch: _Batch, adopted: Mapping[str, EnvVar], ids: Mapping[str, str], stamps: dict[str, float] | None
) -> None:
    """Adopted variables get the stack's comment, like the ones it made (the upsert kept theirs)."""
    comment = batch.comment
    for key in sorted(k for k, env in adopted.items() if k in ids and (env.comment or None) != comment):
        edited = batch.client.edit_env(batch.scope.project_id, ids[key], comment=comment or "")
        if stamps is not None and edited.updated_at and stamps.get(key) != UNSTAMPED:
            stamps[key] = edited.updated_at


def _write(
    client: VercelClient,
    scope: Scope,
    values: Mapping[str, str],
    types: Mapping[str, str],
    comment: str | None,
    adopted: Mapping[str, EnvVar],
    before: Iterable[EnvVar],
    stamps: dict[str, float] | None = None,
) -> dict[str, str]:
    """Write ``values`` in one call (repeated only for what a failed call did not make, see
    ``_Batch``); on any refusal, undo what the write created and fail. ``stamps`` gets
    Vercel's ``updatedAt`` of each variable its answer shows. Adopted variables of another type
    are deleted first (``_retyped``); a failure then says so."""
    if not values:
        return {}
    kept, before = _retyped(client, scope, adopted, types, before)
    retyped = sorted(set(adopted) - set(kept))
    try:
        return _write_batch(_Batch(client, scope, values, types, comment, before), kept, stamps)
    except ResourceError as exc:
        if not retyped:
            raise
        raise ResourceError(
            f"{exc} {_names(retyped)} had been adopted with another type and deleted to be written anew: "
            "the next run writes them."
        ) from None


def _write_batch(batch: _Batch, adopted: Mapping[str, EnvVar], stamps: dict[str, float] | None) -> dict[str, str]:
    from envstack.clients.create_once import create_once
    from envstack.clients.vercel import CONFLICT_CODES
    from envstack.errors import ApiError, EnvConflict

    client, scope, values = batch.client, batch.scope, batch.values
    _info(scope, f"writing {len(values)} variables in one call")

    def say(message: str) -> None:
        _info(scope, message)

    try:
        result = create_once(
            batch.create,
            batch.find,
            what=f"a batch of {len(values)} variables",
            attempts=ATTEMPTS,
            say=say,
            sleep=_pause,
        )
    except EnvConflict as exc:
        undo = batch.undo(nothing=" Nothing was written.")
        raise ResourceError(
            f"{scope.describe()}: Vercel reports variables that already exist: {_names(exc.keys) or 'unnamed'}."
            f"{undo} Set adopt to take them over, or remove them in Vercel."
        ) from None
    except _LookupFailed as exc:
        raise ResourceError(
            f"{scope.describe()}: writing {len(values)} variables failed: {batch.last_error}, and checking what it "
            f"had created failed too ({exc}).{_LEFT_OVER}"
        ) from None
    except ApiError as exc:
        undo = batch.undo()
        raise ResourceError(f"{scope.describe()}: writing {len(values)} variables failed: {exc}.{undo}") from None
    except ResourceError:
        # Every attempt failed, and the last one still left keys missing.
        undo = batch.undo()
        raise ResourceError(
            f"{scope.describe()}: writing {len(values)} variables failed {ATTEMPTS} times, the last time with "
            f"{batch.last_error}.{undo} Run `pulumi up` again: it looks for its variables before writing them "
            "again, so none is made twice."
        ) from None
    ids = {env.key: env.id for env in result.created if env.key in values}
    if stamps is not None and batch.last_error is not None:
        # A write whose answer was lost may still land later and move updatedAt: no baseline
        # for these keys until the resource's next update.
        stamps.update(dict.fromkeys(ids, UNSTAMPED))
    elif stamps is not None:
        stamps.update({env.key: env.updated_at for env in result.created if env.key in ids and env.updated_at})
    refused = {f.name or "?": f.message or f.code for f in result.failed}
    unanswered = [k for k in values if k not in ids and k not in refused]
    if unanswered:
        # An upsert may report what it updated rather than created: find those by listing.
        ids.update({k: env.id for k, env in adopted.items() if k in unanswered})
        if any(k not in ids for k in unanswered):
            live = {env.key: env.id for env in client.list_env(scope.project_id) if scope.exactly(env)}
            ids.update({k: live[k] for k in unanswered if k in live and k not in ids})
    missing = [k for k in unanswered if k not in ids]
    if not refused and not missing:
        _relabel(batch, adopted, ids, stamps)
        return ids
    fresh = [env_id for key, env_id in ids.items() if key not in adopted]
    undo = ""
    if fresh:
        client.delete_envs(scope.project_id, fresh)
        undo = f" The {len(fresh)} variables this call created were deleted again."
    reasons = "; ".join(f"{key}: {reason}" for key, reason in sorted(refused.items()))
    if missing:
        reasons = "; ".join(filter(None, [reasons, f"{_names(missing)}: not in Vercel's answer"]))
    hint = ""
    if any(f.code.upper() in CONFLICT_CODES for f in result.failed):
        hint = " Variables that already exist can be taken over with adopt."
    raise ResourceError(
        f"{scope.describe()}: Vercel refused {len(refused) + len(missing)} variables ({reasons}).{undo}{hint}"
    )


def _rewrite(
    client: VercelClient,
    scope: Scope,
    values: Mapping[str, str],
    types: Mapping[str, str],
    comment: str | None,
    stamps: dict[str, float],
) -> dict[str, str]:
    """New values for variables the stack holds, in one upsert whatever their number: Vercel
    updates the variable of the same key, target and branch in place, so ids stay. Writing the
    same values twice is harmless, so a call that may have acted without an answer is simply
    made again; those keys then get no stamp (see ``UNSTAMPED``). Returns key → id as Vercel
    now has it (a variable deleted by hand since the list is made anew, with a new id)."""
    from envstack.clients.create_once import may_have_acted
    from envstack.errors import ApiError

    items = [scope.new_env(key, values[key], types[key], comment) for key in sorted(values)]
    _info(scope, f"updating {len(items)} variables in place in one call")
    lost = False
    for attempt in range(1, ATTEMPTS + 1):
        try:
            result = client.create_env(scope.project_id, items, upsert=True)
            break
        except ApiError as exc:
            if not may_have_acted(exc) or attempt == ATTEMPTS:
                raise ResourceError(f"{scope.describe()}: updating {len(items)} variables failed: {exc}") from None
            lost = True
            _info(scope, f"updating {len(items)} variables got no clear answer ({exc}): writing the same values again")
            _pause(float(attempt))
    if result.failed:
        reasons = "; ".join(sorted(f"{f.name or '?'}: {f.message or f.code}" for f in result.failed))
        raise ResourceError(f"{scope.describe()}: Vercel refused {len(result.failed)} of the new values ({reasons})")
    answered = {env.key: env for env in result.created if env.key in values}
    if len(answered) < len(values):
        # The answer left some out (it may list only what it created): the list has them all.
        listed = {env.key: env for env in client.list_env(scope.project_id) if scope.exactly(env)}
        answered.update({key: listed[key] for key in values if key not in answered and key in listed})
    missing = [key for key in values if key not in answered]
    if missing:
        raise ResourceError(f"{scope.describe()}: {_names(missing)} not found after updating them in Vercel")
    for key, env in answered.items():
        stamp = env.updated_at or env.created_at
        if lost:
            stamps[key] = UNSTAMPED  # the lost call may still land later and move updatedAt
        elif stamp:
            stamps[key] = float(stamp)
        else:
            stamps.pop(key, None)  # listed for once the writes are done
    return {key: env.id for key, env in answered.items()}


def _outputs(
    props: Mapping[str, Any],
    ids: Mapping[str, str],
    hashes: Mapping[str, str],
    salt: str,
    types: Mapping[str, str],
    adopted: Iterable[str],
    stamps: Mapping[str, float],
    repairs: int,
) -> dict[str, Any]:
    outs = {key: props.get(key) for key in _INPUTS}
    outs["public_keys"] = list(props.get("public_keys") or [])
    outs.update(
        ids=dict(sorted(ids.items())),
        hashes={k: hashes[k] for k in sorted(ids)},
        salt=salt,
        types={k: types[k] for k in sorted(ids)},
        adopted_keys=sorted(set(adopted) & set(ids)),
        stamps={k: stamps[k] for k in sorted(ids) if stamps.get(k, UNSTAMPED) != UNSTAMPED},
        repairs=repairs,
    )
    return outs


def _moved(olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    """Is the API now reached another way: another URL, or the team spelled otherwise?"""
    if is_unknown(news.get("api_url")) or is_unknown(news.get("team")):
        return True
    return not same_api(olds.get("api_url"), news.get("api_url")) or (olds.get("team") or None) != (
        news.get("team") or None
    )


def resource_id(scope: Scope) -> str:
    return "/".join(filter(None, (scope.project_id, scope.target, scope.git_branch)))


class VercelEnvironmentVariablesProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult(news, _check(news))

    def create(self, props: dict[str, Any]) -> CreateResult:
        scope = Scope.of(props)
        variables: dict[str, str] = dict(props.get("variables") or {})
        types = desired_types(props)
        salt = secrets.token_hex(32)
        api_url, team = str(props["api_url"]), props.get("team")
        with (
            vercel_access.open_client(api_url, team) as client,
            vercel_access.project_write_lock(api_url, scope.project_id),
        ):
            _info(scope, f"checking {len(variables)} variables against the project's existing ones")
            existing = client.list_env(scope.project_id) if variables else []
            adopted = _claim(existing, variables, scope, bool(props.get("adopt")), marker=props.get("comment"))
            if adopted:
                _info(scope, f"adopting {len(adopted)} existing variables")
            stamps: dict[str, float] = {}
            ids = _write(client, scope, variables, types, props.get("comment") or None, adopted, existing, stamps)
            if set(ids) - set(stamps):
                stamps = _stamps(client, scope, ids, stamps)
        hashes = {key: value_hash(salt, key, variables[key]) for key in ids}
        outs = _outputs(props, ids, hashes, salt, types, adopted, stamps, 0)
        return CreateResult(id_=resource_id(scope), outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [
            key
            for key in _REPLACE_ON
            if is_unknown(news.get(key)) or (olds.get(key) or None) != (news.get(key) or None)
        ]
        if replaces:
            # In the same project another target or branch never overlaps the old scope, so the
            # new variables are written first: should that fail, the old ones still serve (a
            # deleted shared preview set is every pull request's fallback too). Another
            # project_id may be the same project spelt by name: the old ones go first then.
            return DiffResult(changes=True, replaces=replaces, delete_before_replace="project_id" in replaces)
        if _moved(olds, news):
            # The update records the new location; the move itself writes nothing.
            return DiffResult(changes=True, replaces=[], delete_before_replace=True)
        variables, public_keys = news.get("variables"), news.get("public_keys")
        if is_unknown(variables) or is_unknown(public_keys) or is_unknown(news.get("comment")):
            return DiffResult(changes=True, replaces=[], delete_before_replace=True)
        if any(is_unknown(v) for v in (variables or {}).values()):
            return DiffResult(changes=True, replaces=[], delete_before_replace=True)
        if not _plan(olds, news).empty:
            return DiffResult(changes=True, replaces=[], delete_before_replace=True)
        if olds.get("ids") and olds.get("stamps") is None:
            # State written before stamps existed: one update records them (a list, no write),
            # so edits made in Vercel from then on are seen.
            _info(Scope.of(olds), "recording when Vercel last changed each variable, to see later edits made there")
            return DiffResult(changes=True, replaces=[], delete_before_replace=True)
        # No API call: drift made in Vercel is what a refresh (``read``) finds and marks.
        return DiffResult(changes=False, replaces=[], delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        from envstack.errors import NotFound

        scope = Scope.of(news)
        plan = _plan(olds, news)
        variables: dict[str, str] = dict(news.get("variables") or {})
        wanted = desired_types(news)
        # A state without a salt (never expected) only costs one PATCH per variable.
        salt = str(olds.get("salt") or secrets.token_hex(32))
        comment = news.get("comment") or None
        ids: dict[str, str] = dict(olds.get("ids") or {})
        hashes: dict[str, str] = dict(olds.get("hashes") or {})
        adopted = set(olds.get("adopted_keys") or [])
        stamps: dict[str, float] = dict(olds.get("stamps") or {})
        repairs = int(olds.get("repairs") or 0)
        restore: set[str] = set()  # patched with value, type and placement, as on a first write
        api_url, team = str(news["api_url"]), news.get("team")
        with (
            vercel_access.open_client(api_url, team) as client,
            vercel_access.project_write_lock(api_url, scope.project_id),
        ):
            live = client.list_env(scope.project_id) if olds.get("ids") else []
            drift = _drift(live, olds, scope)
            if not drift.empty:
                _info(scope, f"restoring what was changed in Vercel: {drift.describe()}")
                repairs += 1
                live_types = {env.id: env.type for env in live}
                for key, env in drift.replaced.items():
                    ids[key] = env.id
                for key in drift.gone:
                    ids.pop(key, None)
                    adopted.discard(key)
                for key in [*drift.replaced, *drift.edited]:
                    if key in plan.remove or key in plan.recreate:
                        continue
                    if live_types.get(ids[key], wanted.get(key)) != wanted.get(key):
                        plan.recreate.append(key)  # sensitivity changes only by delete and add
                    else:
                        restore.add(key)
                plan.add += [k for k in drift.gone if k in variables and k not in plan.add]
                plan.patch = [k for k in plan.patch if k not in drift.gone]
                plan.recreate = [k for k in plan.recreate if k not in drift.gone]
                plan.remove = [k for k in plan.remove if k not in drift.gone]
                plan.patch = [k for k in plan.patch if k not in plan.recreate]
            gone = plan.remove + plan.recreate
            after_delete: list[EnvVar] | None = None
            if gone and (plan.add or plan.recreate):
                # The writes after the deletes would refuse a conflict: refuse it before them, or
                # the failure leaves the deleted variables gone (a key turned public, say, with
                # a new one someone already made by hand).
                _claim(
                    live,
                    plan.add + plan.recreate,
                    scope,
                    bool(news.get("adopt")),
                    owned=ids.values(),
                    marker=news.get("comment"),
                    quiet=True,
                )
            if gone:
                _info(scope, f"deleting {len(gone)} variables")
                client.delete_envs(scope.project_id, [ids[key] for key in gone])
                after_delete = _settled(client, scope, [ids[key] for key in gone])
                for key in gone:
                    ids.pop(key)
                    adopted.discard(key)
            to_add = plan.add + plan.recreate
            # New values of variables where they should be go in one upsert; a restore, a
            # placement to put back, or a new comment needs the PATCH's own fields (an upsert
            # updates only the value: the spec).
            batched = [
                k for k in plan.patch if k not in restore and hashes.get(k) != DRIFT_PLACEMENT and not plan.comment
            ]
            if batched:
                ids.update(_rewrite(client, scope, {k: variables[k] for k in batched}, wanted, comment, stamps))
            patched = [k for k in plan.patch if k not in batched]
            valued = [*patched, *sorted(k for k in restore if k in ids and k not in patched)]
            done = set(valued) | set(batched)
            edits = valued + ([k for k in sorted(ids) if k not in done] if plan.comment else [])
            if edits:
                _info(scope, f"updating {len(edits)} variables in place")
            for key in edits:
                fields: dict[str, Any] = {}
                if key in valued:
                    fields.update(value=variables[key], type=wanted[key])
                    if hashes.get(key) == DRIFT_PLACEMENT or key in restore:
                        fields.update(scope.placement())
                if plan.comment or key in restore:
                    fields["comment"] = comment or ""
                try:
                    edited = client.edit_env(scope.project_id, ids[key], **fields)
                    if edited.updated_at:
                        stamps[key] = edited.updated_at
                except NotFound:
                    # Deleted by hand since the last refresh: write it anew.
                    ids.pop(key)
                    adopted.discard(key)
                    to_add.append(key)
            if to_add:
                # The list that showed the delete had spread is still the project's, unless
                # this update wrote since.
                fresh = after_delete is not None and not (batched or edits)
                existing = after_delete if fresh and after_delete is not None else client.list_env(scope.project_id)
                claimed = _claim(
                    existing, to_add, scope, bool(news.get("adopt")), owned=ids.values(), marker=news.get("comment")
                )
                written = _write(
                    client, scope, {k: variables[k] for k in to_add}, wanted, comment, claimed, existing, stamps
                )
                ids.update(written)
                adopted |= set(claimed)
            # Vercel's answers carry the new updatedAt; only what they left out is listed for
            # (from the list already taken when nothing was written since).
            if set(ids) - set(stamps):
                wrote = bool(gone or batched or edits or to_add)
                stamps = _stamps(client, scope, ids, stamps, listed=None if wrote else live)
        hashes = {key: value_hash(salt, key, variables[key]) for key in ids}
        types = {key: wanted[key] for key in ids}
        return UpdateResult(outs=_outputs(news, ids, hashes, salt, types, adopted, stamps, repairs))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        """Refresh: one list of the project's variables (one call per page) compared with the
        state, as ``_drift`` does. A variable deleted by hand drops out, one deleted and added
        again under its key and scope is taken back (its new id recorded), one edited or moved
        is marked drifted; the next ``up`` writes, restores and redeploys. A value is read back
        only for a readable variable without a stamp to compare."""
        from envstack.errors import NotFound

        ids: Mapping[str, str] = props.get("ids") or {}
        scope = Scope.of(props)
        salt = str(props.get("salt") or "")
        hashes: Mapping[str, str] = props.get("hashes") or {}
        types: Mapping[str, str] = props.get("types") or {}
        stamps: Mapping[str, float] = props.get("stamps") or {}
        found_ids: dict[str, str] = {}
        found_hashes: dict[str, str] = {}
        found_types: dict[str, str] = {}
        found: list[str] = []  # keys whose drift this refresh is the first to see
        with vercel_access.open_client(str(props["api_url"]), props.get("team")) as client:
            try:
                listed = client.list_env(scope.project_id) if ids else []
            except NotFound:
                listed = []
            drift = _drift(listed, props, scope)
            by_id = {env.id: env for env in listed}
            for key, env_id in ids.items():
                if key in drift.gone:
                    found.append(key)  # no longer ours: the next up writes it anew
                    continue
                env = drift.replaced.get(key) or by_id[env_id]
                # The requested type is kept: a team policy may store it as sensitive anyway.
                found_ids[key], found_types[key] = env.id, types.get(key, env.type)
                recorded = hashes.get(key, DRIFT_VALUE)
                weakened = types.get(key) == "sensitive" and env.type != "sensitive"
                if not scope.exactly(env) or weakened:
                    mark: str | None = DRIFT_PLACEMENT
                elif key in drift.replaced or key in drift.edited:
                    mark = DRIFT_VALUE
                elif stamps.get(key, UNSTAMPED) == UNSTAMPED and env.type != "sensitive" and recorded not in _DRIFT:
                    # No stamp to compare with: only a readable value can tell; a sensitive
                    # one is never decrypted.
                    current = client.get_env_decrypted(scope.project_id, env_id)
                    readable = current.value is not None and current.decrypted is not False
                    changed = readable and not hmac.compare_digest(value_hash(salt, key, str(current.value)), recorded)
                    mark = DRIFT_VALUE if changed else None
                else:
                    mark = None
                if key in drift.replaced or (mark and recorded != DRIFT_PLACEMENT and recorded != mark):
                    found.append(key)
                if mark and recorded != DRIFT_PLACEMENT:
                    recorded = mark
                found_hashes[key] = recorded
        outs = dict(props)
        if found:
            seen = _Drift(
                gone=[k for k in found if k in drift.gone],
                replaced={k: env for k, env in drift.replaced.items() if k in found},
                edited=[k for k in found if k not in drift.gone and k not in drift.replaced],
            )
            _info(scope, f"{seen.describe()}: the next `pulumi up` restores them and redeploys")
            # The redeploy's trigger: the up that restores them also rebuilds, once.
            outs["repairs"] = int(props.get("repairs") or 0) + 1
        outs.update(
            ids=found_ids,
            hashes=found_hashes,
            types=found_types,
            adopted_keys=sorted(set(props.get("adopted_keys") or []) & set(found_ids)),
        )
        if "stamps" in props:
            outs["stamps"] = {k: v for k, v in stamps.items() if k in found_ids}
        return pulumi.dynamic.ReadResult(id_=id_, outs=outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        scope = Scope.of(props)
        ids = list((props.get("ids") or {}).values())
        if not ids:
            return
        api_url, team = str(props["api_url"]), props.get("team")
        with (
            vercel_access.open_client(api_url, team) as client,
            vercel_access.project_write_lock(api_url, scope.project_id),
        ):
            _info(scope, f"deleting the {len(ids)} variables this stack owns")
            client.delete_envs(scope.project_id, ids)
            # A replacement's create comes next, and would meet these still listed.
            _settled(client, scope, ids)


def digests(
    variables: Mapping[str, pulumi.Input[str]], public: Collection[str], key: pulumi.Output[str]
) -> pulumi.Output[dict[str, str]]:
    """``digests`` for VercelEnvironmentVariablesInputs (see vercel_scope.reviewable).

    A value shows as it is only when it is public and written in the settings themselves (a
    plain string): one that comes from a resource may be a secret output of the stack, like the
    anon key, which the app may publish but the stack's state never holds in plain text."""
    names = sorted(variables)
    plain = {n for n in names if n in public and isinstance(variables[n], str)}
    values = pulumi.Output.all(key, *(variables[n] for n in names))
    shown = values.apply(lambda v: reviewable(dict(zip(names, v[1:], strict=True)), plain, v[0]))
    # Derived from secrets, but holds none of them: digests under a secret key, and plain settings.
    return pulumi.Output.unsecret(shown)


@dataclass(frozen=True)
class VercelEnvironmentVariablesInputs(Inputs):
    """The variables one stack owns in one project and target (a custom environment's id, or a
    standard target with at most one git branch); ``public_keys`` are written readable."""

    secret_inputs = ("variables",)
    project_id: pulumi.Input[str]
    target: str
    variables: pulumi.Input[Mapping[str, pulumi.Input[str]]]
    public_keys: Sequence[str] = ()
    git_branch: str | None = None
    adopt: bool = False
    comment: str | None = None
    api_url: str = VERCEL_API_URL
    team: str | None = None
    # Name → what `pulumi preview --diff` may show of it (vercel_scope.reviewable): never sent to
    # Vercel, and no cause of a change by itself; it only makes a change readable.
    digests: pulumi.Input[Mapping[str, str]] | None = None

    def props(self) -> dict[str, Any]:
        # In a stable order, so the same keys never look like a change.
        return {**super().props(), "public_keys": sorted(self.public_keys)}


class VercelEnvironmentVariables(Declared, module="vercel", name="EnvironmentVariables"):
    secret_outputs = SECRET_OUTPUTS
    project_id: pulumi.Output[str]
    ids: pulumi.Output[dict[str, str]]
    hashes: pulumi.Output[dict[str, str]]
    salt: pulumi.Output[str]
    types: pulumi.Output[dict[str, str]]
    adopted_keys: pulumi.Output[list[str]]
    stamps: pulumi.Output[dict[str, float]]  # key → Vercel's updatedAt after the stack's last write
    repairs: pulumi.Output[int]  # how many times an update restored what was changed in Vercel

    def __init__(
        self, name: str, inputs: VercelEnvironmentVariablesInputs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        self.declare(VercelEnvironmentVariablesProvider(), name, inputs, opts)
