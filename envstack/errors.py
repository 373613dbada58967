"""Every error envstack raises on purpose, in one place.

An ``EnvstackError`` is a failure envstack expected and explains: its message is one redacted
sentence or a few, saying what happened and what to do. The command line prints it and exits
1; anything else is a bug and keeps its traceback.

    EnvstackError
    ├── SettingsError      a stack setting is invalid (also a ValueError); each sentence names its key
    ├── CredentialError    a token envstack reads from the environment is not set
    │   └── MissingDatabaseUrl   neither database URL variable is set for a database command
    ├── Refused            envstack will not do this, whatever was asked; nothing was done
    │   └── SeedRefused    test data for production
    ├── ApiError           a Supabase, Vercel or GitHub call failed; names the call, never a secret
    │   ├── NotFound           the API answered 404
    │   ├── EnvConflict        Vercel already holds a variable of that key, target and branch
    │   └── ProjectNameTaken   Vercel already has a project of that name
    ├── DatabaseError      database work failed and nothing of it was kept
    │   ├── MigrationError     a migration is invalid or failed, or the history forbids a run
    │   └── SeedError          the seed file could not be read or failed
    ├── ServerError        a project-managed local server (PostgreSQL, PgBouncer) would not start or stop
    ├── ResourceError      a provider could not make a resource what the program declares
    │   └── NoRoute            no candidate database address is reachable from this machine
    └── StackError         a stack operation (the engine, a stack's outputs) failed
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class EnvstackError(Exception):
    """A failure envstack expected; the message says what to do."""


class SettingsError(EnvstackError, ValueError):
    """Stack settings are invalid; the message has one sentence per problem."""


class CredentialError(EnvstackError):
    """A token envstack reads from the environment (never from settings or state) is not set."""


class MissingDatabaseUrl(CredentialError):
    """Neither URL variable a database command reads is set."""


class Refused(EnvstackError):
    """The tool will not do this, whatever the settings say; nothing was run."""


class SeedRefused(Refused):
    """Seeding was refused before any connection was made."""


class ApiError(EnvstackError):
    """An API call failed. Every field is redacted; ``str()`` is one line naming the call."""

    def __init__(
        self,
        *,
        service: str,
        method: str,
        path: str,
        status: int | None,
        message: str,
        code: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        self.service, self.method, self.path = service, method, path
        self.status, self.message, self.code, self.body = status, message, code, body
        # Seconds the API asked us to wait before trying again (a refusal we gave up on).
        self.retry_after = retry_after
        status_text = f"{status} " if status is not None else ""
        super().__init__(f"{service} {method} {path} failed: {status_text}{message}".rstrip())


class NotFound(ApiError):
    """The API answered 404 for this resource."""


class EnvConflict(ApiError):
    """Vercel refused a variable because one with the same key, target and branch exists."""

    def __init__(self, error: ApiError, keys: Sequence[str]) -> None:
        self.keys = sorted(set(keys))
        named = f" (conflicting: {', '.join(self.keys)})" if self.keys else ""
        super().__init__(
            service=error.service,
            method=error.method,
            path=error.path,
            status=error.status,
            message=f"{error.message}{named}",
            code=error.code,
            body=error.body,
        )


class ProjectNameTaken(ApiError):
    """POST /v11/projects answered 409: a project with that name already exists."""


class DatabaseError(EnvstackError):
    """Database work failed; nothing of it was kept. Already redacted."""


class MigrationError(DatabaseError):
    """A migration file is invalid or failed, or the history forbids a run."""


class SeedError(DatabaseError):
    """The seed file could not be read or failed."""


class ServerError(EnvstackError):
    """A local server could not be initialised, started or stopped."""


class ResourceError(EnvstackError):
    """A resource could not be made what the program declares; the message says why."""


class NoRoute(ResourceError):
    """None of the candidate URLs can be reached from this machine."""


class StackError(EnvstackError):
    """A stack operation failed."""
