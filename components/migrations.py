"""Schema migrations and seed data, run after a database exists and whenever they change."""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

import pulumi

from envstack.db import migrations
from envstack.settings import MigrationSettings
from providers.local_command import LocalCommand


def content_hash(*paths: Path) -> str:
    """A digest of file names and contents: the trigger that re-runs a command."""
    digest = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


class DatabaseMigrations(pulumi.ComponentResource):
    """Applies ``supabase/migrations`` on the direct (non-pooled) connection, then seeds.

    Seeding is declared only when ``seed_file`` is given; the seed command itself also
    refuses a production environment, so test data cannot reach production even if a
    caller gets this wrong.
    """

    def __init__(
        self,
        name: str,
        *,
        project_root: Path,
        direct_url: pulumi.Input[str],
        settings: MigrationSettings,
        environment: str,
        seed_file: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("envstack:database:Migrations", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        env: dict[str, pulumi.Input[str]] = {
            "POSTGRES_URL_NON_POOLING": pulumi.Output.secret(direct_url),
            "DATABASE_URL": pulumi.Output.secret(direct_url),
            "ENVSTACK_ENVIRONMENT": environment,
            **{
                variable: f"{getattr(settings, field):g}"
                for field, variable in migrations.LIMIT_VARIABLES.items()
            },
        }
        directory = shlex.quote(settings.directory)
        self.migrate = LocalCommand(
            f"{name}-migrate",
            command=settings.command or f"python -m envstack migrate up --dir {directory}",
            environment=env,
            triggers=[content_hash(project_root / settings.directory)],
            timeout=settings.timeout,
            opts=child,
        )
        self.seed: LocalCommand | None = None
        if seed_file is not None:
            self.seed = LocalCommand(
                f"{name}-seed",
                command=f"python -m envstack seed --file {shlex.quote(seed_file)}",
                environment=env,
                triggers=[content_hash(project_root / seed_file)],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.migrate]),
            )
        self.register_outputs({})
