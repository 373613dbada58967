"""The real API's rules for project environment variables, as plain functions.

Sources: uniqueness is key + overlapping target +
equal gitBranch (terraform-provider-vercel ``findConflictingEnvID``); gitBranch only with
target ["preview"] (getsentry/sentry#38047), only in a project connected to a Git repository,
only for a branch that exists there and is not the production branch (``check_git_branch``);
development cannot be sensitive (Vercel docs,
CLI ``commands/env/add.ts``); reserved names (Vercel docs "Reserved Environment
Variables", vercel/docs#1784 for the message); sensitive values never readable.

How variables live in emulate: emulate refuses two variables with one key and
overlapping targets whatever their gitBranch (its ``findEnvByKeyAndTargetsOverlap``
ignores the branch), which the real API allows (a preview variable for all branches and
one for branch X). Branch-scoped variables are therefore stored in emulate under the key
``KEY@branch`` (``@`` is never valid in a real key) and shown with their real key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

TARGETS = ("production", "preview", "development")
TYPES = ("system", "secret", "encrypted", "plain", "sensitive")
# https://vercel.com/docs/environment-variables/reserved-environment-variables (the page
# lists AWS_REGION, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
# AWS_SESSION_TOKEN as allowed).
RESERVED_KEYS = frozenset(
    {
        "AWS_SECRET_KEY",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "NOW_REGION",
        "TZ",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_KEY_LENGTH = 256
MAX_VALUE_BYTES = 64 * 1024  # the documented total per deployment; no variable can be larger
MAX_BRANCH_LENGTH = 250  # SPEC createProjectEnv gitBranch maxLength
MAX_COMMENT_LENGTH = 500  # SPEC createProjectEnv comment maxLength
BRANCH_SEPARATOR = "@"

ConflictStyle = Literal["env_conflict", "forbidden", "conflict", "legacy"]
CONFLICT_STYLES: tuple[ConflictStyle, ...] = ("env_conflict", "forbidden", "conflict", "legacy")
_LEGACY_MESSAGE = (
    "Another Environment Variable with the same Name and Environment exists in your project. "
    "Remove it or choose a different Name or Environment."
)  # pulumiverse/pulumi-vercel#118
_SESSION_KEY = secrets.token_bytes(32)


class EnvError(Exception):
    """An answer the real API gives instead of doing what was asked."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = {k: v for k, v in details.items() if v is not None}

    def error(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}

    def body(self) -> dict[str, Any]:
        return {"error": self.error()}


def bad_request(message: str, **details: Any) -> EnvError:
    return EnvError(400, "bad_request", message, **details)


@dataclass(frozen=True)
class EnvVar:
    """A variable as emulate stores it, with its real key and value."""

    id: str
    key: str
    value: str
    type: str
    target: tuple[str, ...]
    git_branch: str | None
    comment: str
    custom_environment_ids: tuple[str, ...] = ()
    created_at: int = 0
    updated_at: int = 0

    @classmethod
    def from_emulate(cls, raw: dict[str, Any]) -> EnvVar:
        key, _, _ = str(raw["key"]).partition(BRANCH_SEPARATOR)
        target = raw.get("target") or []
        return cls(
            id=str(raw["id"]),
            key=key,
            value=str(raw.get("value") or ""),
            type=str(raw["type"]),
            target=tuple([target] if isinstance(target, str) else target),
            git_branch=raw.get("gitBranch") or None,
            comment=str(raw.get("comment") or ""),
            custom_environment_ids=tuple(raw.get("customEnvironmentIds") or ()),
            created_at=int(raw.get("createdAt") or 0),
            updated_at=int(raw.get("updatedAt") or 0),
        )


def stored_key(key: str, git_branch: str | None) -> str:
    return f"{key}{BRANCH_SEPARATOR}{git_branch}" if git_branch else key


@dataclass(frozen=True)
class EnvInput:
    """One variable a client asked to create (or what a PATCH would make of one)."""

    key: str
    value: str
    type: str
    target: tuple[str, ...]
    git_branch: str | None = None
    comment: str = ""
    custom_environment_ids: tuple[str, ...] = field(default=())

    def to_emulate(self) -> dict[str, Any]:
        return {
            "key": stored_key(self.key, self.git_branch),
            "value": self.value,
            "type": self.type,
            "target": list(self.target),
            "gitBranch": self.git_branch,
            "comment": self.comment,
            "customEnvironmentIds": list(self.custom_environment_ids),
        }


def _string_list(raw: Any, name: str, allowed: Iterable[str] | None = None) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise bad_request(f"Invalid request: `{name}` should be array.")
    if allowed is not None:
        allowed = tuple(allowed)
        for item in raw:
            if item not in allowed:
                raise bad_request(f"Invalid request: `{name}` should be one of {', '.join(allowed)}.")
    return tuple(dict.fromkeys(raw))


def parse_create_item(raw: Any) -> EnvInput:
    """The shape the spec's createProjectEnv body demands; EnvError 400 when it is not met."""
    if not isinstance(raw, dict):
        raise bad_request("Invalid request: the body should be an object or an array of objects.")
    for name in ("key", "value", "type"):
        if name not in raw:
            raise bad_request(f"Invalid request: missing required property `{name}`.")
    if not isinstance(raw["key"], str) or not isinstance(raw["value"], str):
        raise bad_request("Invalid request: `key` and `value` should be strings.")
    if raw["type"] not in TYPES:
        raise bad_request(f"Invalid request: `type` should be one of {', '.join(TYPES)}.")
    if "target" not in raw and "customEnvironmentIds" not in raw:
        raise bad_request("Invalid request: missing required property `target` or `customEnvironmentIds`.")
    target = _string_list(raw.get("target", []), "target", TARGETS)
    custom = _string_list(raw.get("customEnvironmentIds", []), "customEnvironmentIds")
    branch = raw.get("gitBranch")
    if branch is not None and not isinstance(branch, str):
        raise bad_request("Invalid request: `gitBranch` should be string.")
    comment = raw.get("comment", "")
    if not isinstance(comment, str):
        raise bad_request("Invalid request: `comment` should be string.")
    return EnvInput(raw["key"], raw["value"], raw["type"], target, branch or None, comment, custom)


def apply_patch(current: EnvVar, raw: Any) -> EnvInput:
    """What editProjectEnv's body makes of a variable (its properties are all optional)."""
    if not isinstance(raw, dict):
        raise bad_request("Invalid request: the body should be an object.")
    allowed = {"key", "target", "gitBranch", "type", "value", "customEnvironmentIds", "comment"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise bad_request(f"Invalid request: should NOT have additional property `{unknown[0]}`.")
    merged = {
        "key": current.key,
        "value": current.value,
        "type": current.type,
        "target": list(current.target),
        "gitBranch": current.git_branch,
        "comment": current.comment,
        "customEnvironmentIds": list(current.custom_environment_ids),
        **raw,
    }
    return parse_create_item(merged)


def check_rules(item: EnvInput) -> None:
    """The real API's rules beyond the body's shape (EnvError 400 for the first broken one)."""
    details = {"key": item.key, "target": list(item.target), "gitBranch": item.git_branch}
    if not item.key or len(item.key) > MAX_KEY_LENGTH:
        raise EnvError(
            400,
            "KEY_INVALID_LENGTH",
            f"The name of your Environment Variable must be between 1 and {MAX_KEY_LENGTH} characters.",
            **details,
        )
    if not KEY_PATTERN.fullmatch(item.key):
        raise EnvError(
            400,
            "KEY_INVALID_CHARACTERS",
            "The name of your Environment Variable contains invalid characters. Only letters, digits and "
            "underscores are allowed, and it must not start with a digit.",
            **details,
        )
    if item.key.upper() in RESERVED_KEYS:
        raise EnvError(
            400,
            "RESERVED_ENV_VARIABLE",
            "The name of your Environment Variable is reserved. Please choose another name.",
            **details,
        )
    if len(item.value.encode()) > MAX_VALUE_BYTES:
        raise EnvError(
            400,
            "VALUE_INVALID_LENGTH",
            f"The value of your Environment Variable exceeds the limit of {MAX_VALUE_BYTES // 1024} KB.",
            **details,
        )
    if item.git_branch is not None and (not item.git_branch.strip() or len(item.git_branch) > MAX_BRANCH_LENGTH):
        raise bad_request(f"Invalid request: `gitBranch` should NOT be longer than {MAX_BRANCH_LENGTH} characters.")
    if len(item.comment) > MAX_COMMENT_LENGTH:
        raise bad_request(f"Invalid request: `comment` should NOT be longer than {MAX_COMMENT_LENGTH} characters.")
    if not item.target and not item.custom_environment_ids:
        raise bad_request("Invalid request: `target` should NOT have fewer than 1 items.")
    if item.git_branch is not None and item.target != ("preview",):
        raise bad_request("Environment Variables with `gitBranch` can only be used with `target=preview`.", **details)
    if item.type == "sensitive" and "development" in item.target:
        raise bad_request(
            "Sensitive Environment Variables are not supported on the Development Environment.", **details
        )


def check_git_branch(item: EnvInput, link: Mapping[str, Any] | None, branch_exists: Callable[[str], bool]) -> None:
    """Vercel's rules for a branch-scoped variable (after ``check_rules``), given the project's
    Git ``link`` (None when it has none) and a way to ask its repository whether a branch
    exists; EnvError 400 for the first broken one. "The API is very strict; the branch has to
    actually exist, can't be your production branch etc." (vercel/terraform-provider-vercel
    PR #20, review thread)."""
    branch = item.git_branch
    if branch is None:
        return
    details = {"key": item.key, "target": list(item.target), "gitBranch": branch}
    if not link:
        # No real answer found for this case (a third-party note: Vercel "only accepts
        # production env writes until Git is connected"); code and wording are ours.
        raise bad_request(
            "Cannot set a Git Branch for an Environment Variable: the Project is not connected to a Git repository.",
            **details,
        )
    production = link.get("productionBranch")
    if branch == production:
        # Wording: vercel/vercel#15763 (and other public reports). The code is the one the
        # domains endpoint answers for the same refusal of a preview domain ("Cannot set
        # Production Branch "x" for a Preview Domain."); for variables it is unconfirmed.
        raise EnvError(
            400,
            "cannot_set_production_branch_as_preview",
            f'Cannot set Production Branch "{branch}" for a Preview Environment Variable.',
            **details,
        )
    if not branch_exists(branch):
        # Wording: the Vercel CLI's tests (vercel/vercel packages/cli/test/unit/commands/env/
        # add.test.ts mock the API's 400 with it) and public reports. The code is the one
        # PATCH /v9/projects/{id}/branch answers for a missing branch (public reports); for
        # variables it is unconfirmed.
        raise EnvError(
            400, "git_branch_not_found", f'Branch "{branch}" not found in the connected Git repository.', **details
        )


def find_conflict(item: EnvInput, existing: Iterable[EnvVar], exclude_id: str | None = None) -> EnvVar | None:
    """The variable ``item`` would collide with: same key, overlapping target or custom
    environment, and the same gitBranch."""
    for env in existing:
        if env.id == exclude_id or env.key != item.key or env.git_branch != item.git_branch:
            continue
        if set(env.target) & set(item.target) or set(env.custom_environment_ids) & set(item.custom_environment_ids):
            return env
    return None


def conflict_error(style: ConflictStyle, item: EnvInput, existing: EnvVar) -> EnvError:
    details: dict[str, Any] = {
        "key": item.key,
        "envVarKey": existing.key,
        "envVarId": existing.id,
        "target": sorted(set(item.target) & set(existing.target)) or list(item.target),
        "gitBranch": item.git_branch,
    }
    where = f"the target {', '.join(details['target'])}" + (f" on branch {item.git_branch}" if item.git_branch else "")
    if style == "legacy":
        return EnvError(403, "ENV_ALREADY_EXISTS", _LEGACY_MESSAGE, **details)
    if style == "forbidden":
        return EnvError(
            403, "forbidden", "The environment variable cannot be created because it already exists.", **details
        )
    message = f"A variable with the name `{item.key}` already exists for {where}."  # vercel/vercel#16588
    return EnvError(409 if style == "conflict" else 400, "ENV_CONFLICT", message, **details)


def ciphertext(env: EnvVar) -> str:
    """What an undecrypted read shows for a value: opaque, stable while the value is."""
    digest = hmac.new(_SESSION_KEY, f"{env.id}\0{env.value}".encode(), hashlib.sha256).hexdigest()
    return f"enc_v2_{digest[:48]}"


def present(env: EnvVar, *, decrypted: bool, include_value: bool = True) -> dict[str, Any]:
    """A variable as the real API shows it. Sensitive values never appear: lists and write
    answers carry an empty value, the decrypted get leaves the value out entirely."""
    body: dict[str, Any] = {
        "id": env.id,
        "key": env.key,
        "type": env.type,
        "target": list(env.target),
        "configurationId": None,
        "comment": env.comment,
        "customEnvironmentIds": list(env.custom_environment_ids),
        "createdAt": env.created_at,
        "updatedAt": env.updated_at,
        "createdBy": None,
        "updatedBy": None,
    }
    if env.git_branch:
        body["gitBranch"] = env.git_branch
    if env.type == "sensitive":
        body["decrypted"] = False
        if include_value:
            body["value"] = ""
        return body
    readable = decrypted or env.type == "plain"
    body["decrypted"] = decrypted and env.type != "plain"
    body["value"] = env.value if readable else ciphertext(env)
    return body


def pulled(envs: list[EnvVar], target: str, git_branch: str | None) -> dict[str, str]:
    """What ``vercel env pull`` gets for a target (and a preview branch): every variable of the
    target, a branch's own variable in place of the general one of the same key, and sensitive
    values as empty strings (the CLI writes a placeholder for those; nothing reveals them)."""
    chosen: dict[str, EnvVar] = {}
    for env in sorted(envs, key=lambda e: e.git_branch is not None):
        if target not in env.target and target not in env.custom_environment_ids:
            continue
        if env.git_branch is not None and env.git_branch != git_branch:
            continue
        chosen[env.key] = env
    return {key: "" if env.type == "sensitive" else env.value for key, env in sorted(chosen.items())}
