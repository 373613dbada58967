"""The one model of a stack's settings, validated before any resource is declared.

Pulumi hands the program a flat mapping of namespaced keys (``envstack:seed``,
``supabase:region``…) whose values are strings, or JSON for structured values. This
module turns that mapping into a ``StackSettings`` or fails with one sentence per
problem, each naming the offending key the way the user would type it in
``pulumi config set``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

Environment = Literal["dev", "staging", "production", "preview"]

# Namespaces the engine itself owns; their keys are not ours to validate.
_ENGINE_NAMESPACES = frozenset({"pulumi"})

_SLUG = r"^[a-z0-9][a-z0-9-]*[a-z0-9]$"
_IDENTIFIER = r"^[a-z_][a-z0-9_]{0,62}$"  # a PostgreSQL identifier we never need to quote
_PROJECT_REF = r"^[a-z]{20}$"

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Identifier = Annotated[str, StringConstraints(pattern=_IDENTIFIER)]


class SettingsError(ValueError):
    """Stack settings are invalid; the message has one sentence per problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class MigrationSettings(_Section):
    directory: NonEmpty = "supabase/migrations"
    # None runs the project's own Supabase-compatible runner; anything else is a shell
    # command (for example "npx prisma migrate deploy") that finds the database in
    # POSTGRES_URL_NON_POOLING / DATABASE_URL.
    command: NonEmpty | None = None


class LocalDatabase(_Section):
    """A database and login role on the project-managed PostgreSQL (dev only)."""

    provider: Literal["local"]
    name: Identifier
    owner: Identifier | None = None

    @property
    def role(self) -> str:
        return self.owner or self.name


class SupabaseDatabase(_Section):
    provider: Literal["supabase"]


DatabaseSettings = Annotated[LocalDatabase | SupabaseDatabase, Field(discriminator="provider")]


class EnvstackSettings(_Section):
    """The ``envstack:`` namespace."""

    environment: Environment | None = None
    app: NonEmpty = Field(pattern=_SLUG, max_length=40)
    database: DatabaseSettings
    seed: bool = False
    seed_file: NonEmpty = Field("supabase/seed.sql", alias="seedFile")
    migrations: MigrationSettings = MigrationSettings()
    env_file: NonEmpty | None = Field(None, alias="envFile")


class LocalDbSettings(_Section):
    """The ``localdb:`` namespace: where the project-managed PostgreSQL listens."""

    host: NonEmpty = "127.0.0.1"
    port: int = Field(54329, ge=1, le=65535)
    directory: NonEmpty = ".envstack/postgres"


class SupabaseSettings(_Section):
    """The ``supabase:`` namespace."""

    api_url: NonEmpty = Field("https://api.supabase.com", alias="apiUrl", pattern=r"^https?://")
    organization: NonEmpty | None = Field(None, pattern=r"^[\w-]+$")
    region: NonEmpty | None = Field(None, pattern=r"^[a-z]{2}-[a-z]+-\d$")
    instance_size: NonEmpty | None = Field(None, alias="instanceSize")
    project_name: NonEmpty | None = Field(None, alias="projectName", max_length=256)
    # Adopt an existing project instead of creating one; an adopted project is never
    # deleted by `pulumi destroy`.
    project_ref: NonEmpty | None = Field(None, alias="projectRef", pattern=_PROJECT_REF)
    # The database password of an adopted project (pulumi config set --secret): adopting
    # must not reset it, or whatever already uses the project would be cut off.
    db_password: NonEmpty | None = Field(None, alias="dbPassword", repr=False)
    # Without IPv6 the direct host is unreachable, so migrations use the session pooler.
    ipv6: bool = True
    # Seconds to wait for a new project to become healthy.
    wait_timeout: float = Field(600, alias="waitTimeout", gt=0)


class StackSettings(_Section):
    """Everything a stack can set, across namespaces."""

    stack: NonEmpty
    environment: Environment
    envstack: EnvstackSettings
    localdb: LocalDbSettings = LocalDbSettings()
    supabase: SupabaseSettings = SupabaseSettings()

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def seeds(self) -> bool:
        # Belt and braces: validation already rejects seed on production.
        return self.envstack.seed and not self.is_production

    @property
    def supabase_project_name(self) -> str:
        return self.supabase.project_name or f"{self.envstack.app}-{self.stack}"

    @model_validator(mode="after")
    def _environment_rules(self) -> StackSettings:
        db = self.envstack.database
        if self.is_production:
            if self.envstack.seed:
                raise _KeyedError("envstack:seed", "production never receives test data, so seed must be false")
            if isinstance(db, LocalDatabase):
                raise _KeyedError(
                    "envstack:database", "production must use a Supabase database, not the local dev PostgreSQL"
                )
        if isinstance(db, SupabaseDatabase) and self.supabase.project_ref and not self.supabase.db_password:
            raise _KeyedError(
                "supabase:dbPassword",
                "is required when adopting supabase:projectRef (pulumi config set --secret supabase:dbPassword …)",
            )
        if isinstance(db, SupabaseDatabase) and not self.supabase.project_ref:
            for key, value in (
                ("supabase:organization", self.supabase.organization),
                ("supabase:region", self.supabase.region),
            ):
                if value is None:
                    raise _KeyedError(
                        key, "is required to create a Supabase project (or set supabase:projectRef to adopt one)"
                    )
        return self


class _KeyedError(ValueError):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key, self.reason = key, reason


def environment_for_stack(stack: str) -> Environment | None:
    """The environment a conventional stack name implies."""
    if stack in ("dev", "staging", "production"):
        return stack  # type: ignore[return-value]
    if re.fullmatch(r"pr-\d+", stack):
        return "preview"
    return None


def _decode(value: str) -> Any:
    """Config values are strings; structured ones arrive as JSON."""
    stripped = value.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return value
    return value


_NAMESPACES: dict[str, type[_Section]] = {
    "envstack": EnvstackSettings,
    "localdb": LocalDbSettings,
    "supabase": SupabaseSettings,
}


def _config_key(loc: tuple[int | str, ...]) -> str:
    """Map a pydantic error location back to the key a user sets with `pulumi config`."""
    parts = [str(p) for p in loc]
    # A discriminated union adds its tag ("local"/"supabase") after the field name.
    if parts[:2] == ["envstack", "database"] and len(parts) > 2:
        del parts[2]
    if not parts or parts[0] not in _NAMESPACES:
        return ".".join(parts) or "settings"
    namespace, *rest = parts
    if not rest:
        return namespace
    field = _NAMESPACES[namespace].model_fields.get(rest[0])
    if field is not None and field.alias:
        rest[0] = field.alias
    return f"{namespace}:{rest[0]}" + "".join(f".{p}" for p in rest[1:])


def _sentence(key: str, message: str) -> str:
    message = message.rstrip(".")
    return f"Invalid stack setting {key}: {message[0].lower()}{message[1:]}."


def load_settings(stack: str, config: Mapping[str, str]) -> StackSettings:
    """Validate a stack's configuration, raising SettingsError with one sentence per problem."""
    problems: list[str] = []
    sections: dict[str, dict[str, Any]] = {}
    for full_key, raw in config.items():
        namespace, _, key = full_key.partition(":")
        if namespace in _ENGINE_NAMESPACES:
            continue
        if namespace not in _NAMESPACES or not key:
            known = ", ".join(f"{n}:" for n in _NAMESPACES)
            problems.append(_sentence(full_key, f"unknown setting (envstack reads only {known} keys)"))
            continue
        sections.setdefault(namespace, {})[key] = _decode(raw)

    envstack = sections.setdefault("envstack", {})
    declared = envstack.get("environment")
    environment = declared or environment_for_stack(stack)
    if environment is None:
        problems.append(
            _sentence(
                "envstack:environment",
                f"stack '{stack}' is not dev, staging, production or pr-<number>, "
                "so this setting must say which environment it is",
            )
        )
    if problems:
        raise SettingsError("\n".join(problems))

    try:
        return StackSettings.model_validate({"stack": stack, "environment": environment, **sections})
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            original = error.get("ctx", {}).get("error")
            if isinstance(original, _KeyedError):
                problems.append(_sentence(original.key, original.reason))
                continue
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown setting"
            elif error["type"] == "missing":
                message = "is required"
            problems.append(_sentence(_config_key(tuple(error["loc"])), message))
        raise SettingsError("\n".join(dict.fromkeys(problems))) from None


def assert_isolated_from(settings: StackSettings, others: Mapping[str, StackSettings]) -> None:
    """Production shares no database with any other stack in this repository."""
    if not settings.is_production:
        return
    for name, other in others.items():
        if other.is_production:
            continue
        if settings.supabase.project_ref and settings.supabase.project_ref == other.supabase.project_ref:
            raise SettingsError(
                _sentence("supabase:projectRef", f"production must not share its Supabase project with stack '{name}'")
            )
        if (
            isinstance(other.envstack.database, SupabaseDatabase)
            and settings.supabase_project_name == other.supabase_project_name
        ):
            raise SettingsError(
                _sentence(
                    "supabase:projectName", f"production must not share its Supabase project name with stack '{name}'"
                )
            )
