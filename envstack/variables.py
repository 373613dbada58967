"""The one place that turns a database's connection info into application variable names.

The dev stack writes these names to ``.env.local``; staging and production write the same
names to Vercel, so an app reads the same variables everywhere. The default names are
those the Supabase integration on the Vercel Marketplace writes, plus the NivoStack ones
(``POSTGRES_READ_REPLICA_URL``, ``DATABASE_URL``, ``JWT_SECRET``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

# The pieces of connection info an environment can provide. Not every environment has
# every piece (the dev database has no Supabase keys); a missing piece yields no variable.
Field = Literal[
    "pooled_url",  # transaction pooler: what the app uses for queries
    "prisma_url",  # the same with pgbouncer=true, which Prisma needs behind a pooler
    "direct_url",  # not pooled: migrations and long sessions
    "read_only_url",  # a login role that cannot write
    "user",
    "host",
    "password",
    "database",
    "api_url",
    "anon_key",
    "service_role_key",
    "publishable_key",
    "secret_key",
    "jwt_secret",
    "app_jwt_secret",  # the app's own signing secret, generated per environment
]

DEFAULT_NAMES: dict[str, Field] = {
    "POSTGRES_URL": "pooled_url",
    "POSTGRES_PRISMA_URL": "prisma_url",
    "POSTGRES_URL_NON_POOLING": "direct_url",
    "POSTGRES_USER": "user",
    "POSTGRES_HOST": "host",
    "POSTGRES_PASSWORD": "password",
    "POSTGRES_DATABASE": "database",
    "SUPABASE_URL": "api_url",
    "SUPABASE_ANON_KEY": "anon_key",
    "SUPABASE_SERVICE_ROLE_KEY": "service_role_key",
    "SUPABASE_JWT_SECRET": "jwt_secret",
    "NEXT_PUBLIC_SUPABASE_URL": "api_url",
    "NEXT_PUBLIC_SUPABASE_ANON_KEY": "anon_key",
    "SUPABASE_PUBLISHABLE_KEY": "publishable_key",
    "NEXT_PUBLIC_SUPABASE_PUBLISHABLE_KEY": "publishable_key",
    "SUPABASE_SECRET_KEY": "secret_key",
    "POSTGRES_READ_REPLICA_URL": "read_only_url",
    "DATABASE_URL": "pooled_url",
    "JWT_SECRET": "app_jwt_secret",
}

# What a read-only app gets instead: these pieces as the read-only role (a missing one is not
# given at all), and none of the keys that can write past a database role (the service role
# and secret keys bypass row-level security; Supabase's JWT secret can sign a service_role token).
READER_FIELDS: tuple[Field, ...] = ("pooled_url", "prisma_url", "direct_url", "read_only_url", "user", "password")
WRITE_KEYS: frozenset[Field] = frozenset({"service_role_key", "secret_key", "jwt_secret"})

# Pieces that are safe to show (everything else is written as a secret).
PUBLIC_FIELDS: frozenset[Field] = frozenset({"user", "host", "database", "api_url", "anon_key", "publishable_key"})


@dataclass(frozen=True)
class AppVariables(Generic[T]):
    """The app's variables: name → value, and which names carry no secret."""

    values: dict[str, T | str]
    public: frozenset[str]

    def is_secret(self, name: str) -> bool:
        return name not in self.public


def variables_for(
    info: Mapping[Field, T],
    *,
    rename: Mapping[str, str] | None = None,
    drop: Iterable[str] = (),
    add: Mapping[str, str] | None = None,
    secret_add: Mapping[str, str] | None = None,
) -> AppVariables[T]:
    """Variable name → value for the pieces ``info`` has, after the stack's renames, drops and additions.

    Values added in plain stack settings are public; ``secret_add`` values (set with
    ``pulumi config set --secret``) and every connection piece outside PUBLIC_FIELDS are secret.
    """
    rename = rename or {}
    dropped = frozenset(drop)
    values: dict[str, T | str] = {}
    public: set[str] = set()
    for name, field in DEFAULT_NAMES.items():
        if name in dropped or field not in info:
            continue
        final = rename.get(name, name)
        values[final] = info[field]
        if field in PUBLIC_FIELDS:
            public.add(final)
    for name, value in (add or {}).items():
        values[name] = value
        public.add(name)
    for name, value in (secret_add or {}).items():
        values[name] = value
        public.discard(name)
    return AppVariables(values, frozenset(public))


def as_reader(info: Mapping[Field, T], reader: Mapping[Field, T]) -> dict[Field, T]:
    """``info`` for an app that must not write: the reader's connection pieces, no write keys."""
    kept = {f: v for f, v in info.items() if f not in WRITE_KEYS and f not in READER_FIELDS}
    return {**kept, **{f: reader[f] for f in READER_FIELDS if f in reader}}


def narrowed(
    variables: AppVariables[T],
    *,
    select: Iterable[str] | None = None,
    drop: Iterable[str] = (),
    rename: Mapping[str, str] | None = None,
) -> AppVariables[T]:
    """One project's share of the stack's variables: ``select`` (or all) minus ``drop``, renamed."""
    rename = rename or {}
    kept = [n for n in (select if select is not None else variables.values) if n not in frozenset(drop)]
    values = {rename.get(n, n): variables.values[n] for n in kept if n in variables.values}
    public = frozenset(rename.get(n, n) for n in kept if n in variables.public)
    return AppVariables(values, public)
