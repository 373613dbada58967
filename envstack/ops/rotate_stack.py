"""Rotating one secret of a deployed stack, by its counter: what `python -m envstack rotate` does.

The imperative way to ask for what the ``rotation:`` counters ask for declaratively: bump the
secret's counter in the stack's configuration (``Pulumi.<stack>.yaml``: commit it, so every
checkout agrees) and run ``pulumi up`` with its progress shown. A rotation whose later steps
are due later (a JWT signing key waits for JWKS caches, then for tokens to expire; replaced
API keys wait out their grace) is followed to its end: ``follow`` waits for each step and
runs ``up`` again, unless told not to wait, when it stops after the first ``up`` and says when
to run again. A rotation asked for and not finished (its counter is above the one the stack
recorded: a run failed or was killed) is continued, as is a JWT rotation under way: neither
is started a second time.

With ``revoke`` (``--revoke-previous``, database and API keys) it also sets the secret's
revocation setting (``rotation:databaseRevoked``, ``rotation:apiKeysRevoked``) to the new
counter: the credential this rotation replaces stops working as soon as the redeploys that
carry the new one are READY (and ``rotation:revokeDrainSeconds`` more), not at the next
rotation or after the API keys' grace.

A dry run previews the rotation (``pulumi preview`` with the bumped counter in a temporary
copy of the stack's configuration) and changes nothing: not the configuration, not the
state, not Supabase or Vercel. Secrets never appear on a command line: the counter is the
only value set. Kept apart from ``envstack.ops.rotation``, which the Pulumi program imports:
the program has no use for the Automation API.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from envstack import errors
from envstack.ops import automation, rotation
from envstack.redaction import redact
from envstack.settings import StackSettings

MAX_RUNS = 8  # a whole rotation takes at most three; more means something is stuck
_FALLBACK_POLL_SECONDS = 5.0


def rotate(root: Path, name: str, secret_name: str, *, dry_run: bool, wait: bool, revoke: bool = False) -> int:
    """Rotate ``secret_name`` (a key of ``rotation.SECRETS``) of stack ``name``; the exit status.
    With ``revoke``, the credential it replaces is revoked as soon as the new one is live."""
    secret = rotation.SECRETS[secret_name]
    out = automation.printer(f"[{name}] ")
    if revoke and secret.revoked_key is None:
        revocable = ", ".join(s.name for s in rotation.SECRETS.values() if s.revoked_key)
        raise errors.Refused(f"--revoke-previous is for {revocable}; {secret.name} has no previous credential to keep")
    stack = automation.existing(root, name)
    if stack is None:
        raise errors.Refused(f"there is no stack {name} in this backend")
    settings = automation.settings_of(stack)
    reason = rotation.why_not(settings, secret)
    if reason is not None:
        raise errors.Refused(f"{name} has no {secret.name} to rotate: {reason}")
    outputs = automation.outputs(stack)
    if "rotations" not in outputs:
        raise errors.Refused(f"{name} has not been brought up yet (or predates rotation): run `pulumi up` first")
    current = rotation.counter(settings, secret)
    unfinished = _unfinished(name, secret, current, _status(outputs, secret.name).get("counter"))
    if secret.name == "database" and not dry_run:
        if not unfinished:
            _refuse_after_a_failed_update(stack)
        # Continuing too: the killed run may not have given the idle role its password yet.
        refuse_while_rolled_back(settings)
    under_way = secret.name == "jwt" and _status(outputs, secret.name).get("step") not in (None, "idle")
    wanted = current if under_way or unfinished else current + 1
    if unfinished:
        out(unfinished)
    elif under_way:
        out(f"a JWT signing-key rotation is under way ({_status(outputs, 'jwt').get('status')}); continuing it")
    else:
        out(f"rotating {secret.name} ({secret.what}): {secret.key} {current} -> {wanted}")

    values = {} if under_way or unfinished else {secret.key: wanted}
    if revoke and secret.revoked_key:
        values[secret.revoked_key] = wanted
        out(f"and revoking what it replaces as soon as the new one is live: {secret.revoked_key} -> {wanted}")

    if dry_run:
        _preview(root, name, values, out)
        out("dry run: nothing was changed (configuration, state, Supabase and Vercel are as they were)")
        return 0

    if values:  # plain counters, all in one `pulumi config set-all`
        stack.set_all_config({key: auto.ConfigValue(str(value)) for key, value in values.items()})
    for key, value in values.items():
        out(f"{key} is now {value} in Pulumi.{name}.yaml: commit it so every checkout agrees")
    return follow(stack, secret.name, out, wait=wait)


def _unfinished(name: str, secret: rotation.Secret, current: int, recorded: Any) -> str | None:
    """What to say when the counter was raised and no `up` has finished that rotation since
    (a killed run leaves no failed update in the history): the rotation to finish, not a
    second one. A second database rotation would give the role the running deployment still
    uses a new password; a second API-key rotation would make another pair."""
    if not isinstance(recorded, int) or current == recorded:
        return None
    if current < recorded:
        raise errors.Refused(
            f"{secret.key} is {current} in Pulumi.{name}.yaml, but the stack last rotated {secret.name} to "
            f"{recorded}: bring the configuration back to {recorded} (from version control) before rotating again"
        )
    return (
        f"a {secret.name} rotation to {current} was asked for and has not finished ({secret.key} is {current}; "
        f"the stack last completed {recorded}); continuing it rather than starting another"
    )


def _refuse_after_a_failed_update(stack: auto.Stack) -> None:
    """A database rotation changes the password of the role the previous rotation left idle.
    If the last update failed (its redeploy never became READY, say), the deployment still
    running may use exactly that role: finish that update first."""
    last = next((u for u in stack.history(page_size=5, show_secrets=False) if u.kind == "update"), None)
    if last is not None and last.result != "succeeded":
        raise errors.Refused(
            f"the last `pulumi up` of {stack.name} {last.result}: run it again until it succeeds (so the running "
            "deployment uses the active database role) before rotating the database credentials again"
        )


def refuse_while_rolled_back(settings: StackSettings) -> None:
    """A database rotation gives the idle role a new password. After an Instant Rollback,
    production serves an older build, which may hold exactly that role, and the redeploy that
    would carry the new one is staged, not served: production would fail to log in until
    someone promotes. So no database rotation while production is rolled back."""
    from envstack.clients import tokens
    from envstack.clients.vercel import VercelClient

    vercel = settings.vercel
    if settings.vercel_target != "production" or not vercel.projects:
        return
    with VercelClient(base_url=vercel.api_url, token=tokens.vercel_token(), team=vercel.team) as client:
        for project in vercel.project_names:
            try:
                production = client.production(project)
            except errors.NotFound:
                continue  # not made yet: nothing serves it
            if production.rolled_back and production.served is not None:
                raise errors.Refused(
                    f"Vercel project {project}'s production is rolled back to {production.served.id} (Instant "
                    "Rollback): that build may log in as the database role this rotation gives a new password, and "
                    "the redeploy carrying the new one would be staged, not served. Promote a deployment "
                    f"(`vercel promote <deployment>`) when production may move on, then rotate"
                )


def _status(outputs: MutableMapping[str, auto.OutputValue], name: str) -> dict[str, Any]:
    value = outputs["rotations"].value if "rotations" in outputs else None
    entry = value.get(name) if isinstance(value, dict) else None
    return entry if isinstance(entry, dict) else {}


def follow(
    stack: auto.Stack,
    name: str,
    out: automation.Printer,
    *,
    wait: bool,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> int:
    """``pulumi up`` until the rotation has no step left (or once, without ``wait``)."""
    for run_number in range(1, MAX_RUNS + 1):
        try:
            # The run's own outputs: reading the stack's again would start two more processes.
            outputs = stack.up(on_output=out, show_secrets=False).outputs
        except auto.CommandError as exc:
            # The command run again continues this rotation (the counter is above the one the
            # stack recorded), so it is as good a way to finish as a plain `pulumi up`.
            raise errors.StackError(
                f"pulumi up failed (run {run_number} of this rotation): {redact(str(exc))[-2000:]}\n"
                f"The counter is set: run the same command again (or `pulumi up --stack {stack.name}`) to finish "
                f"this {name} rotation; it does not start another. After a killed run, "
                f"`python -m envstack recover --stack {stack.name}` first."
            ) from None
        status = _status(outputs, name)
        due = status.get("next_due_epoch")
        if due is None:
            roles = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in status.items() if k.endswith("_role") and v)
            out(
                f"{name}: rotation {status.get('counter')} recorded at {status.get('at')} by {status.get('by')}"
                + (f"; {roles}" if roles else "")
            )
            if status.get("status"):
                out(str(status["status"]))
            return 0
        out(str(status.get("status") or f"the next step of the {name} rotation is due at {status.get('next_due_at')}"))
        if not wait:
            out(
                f"run `python -m envstack rotate --stack {stack.name} {name}` (or `pulumi up`) after "
                f"{status.get('next_due_at')} to take the next step"
            )
            return 0
        pause = max(0.0, float(due) - clock()) + 0.5
        out(f"waiting {pause:.0f}s for the next step ({status.get('next_step') or 'retire the replaced keys'})")
        sleep(pause if pause > 0 else _FALLBACK_POLL_SECONDS)
    raise errors.StackError(f"the {name} rotation still had steps left after {MAX_RUNS} runs of pulumi up; see above")


def _preview(root: Path, name: str, values: dict[str, int], out: automation.Printer) -> None:
    """``pulumi preview`` with the counter (and the revocation) changed in a copy of the stack's configuration."""
    original = root / f"Pulumi.{name}.yaml"
    with tempfile.TemporaryDirectory(prefix="envstack-rotate-") as scratch:
        config_file = Path(scratch) / original.name
        if original.exists():
            shutil.copyfile(original, config_file)
        else:
            config_file.write_text("config: {}\n")
        for key, value in values.items():
            automation.run_pulumi(
                root, ["config", "set", "--config-file", str(config_file), "--stack", name, key], str(value)
            )
        proc = subprocess.Popen(
            ["pulumi", "preview", "--stack", name, "--config-file", str(config_file), "--diff", "--non-interactive"],
            cwd=root,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            out(line)
        if proc.wait() != 0:
            raise errors.StackError(f"pulumi preview of {name} failed (exit {proc.returncode}); see above")
