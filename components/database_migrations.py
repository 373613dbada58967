"""Schema migrations and seed data, run after a database exists and whenever they change."""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi

from providers.local_command import MIGRATE_PURPOSE, SEED_PURPOSE, LocalCommand, LocalCommandInputs


def content_hash(*paths: Path) -> str:
    """A digest of file names and contents: the trigger that re-runs a command."""
    digest = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class MigrationPlan:
    """What to migrate and seed, known before any database exists: everything
    ``DatabaseMigrations`` needs but the database's URL, which the environment components
    learn only once they have declared their database."""

    project_root: Path
    directory: str  # the migration files, relative to project_root
    command: str | None  # None: the project's own runner
    timeout: float  # seconds the whole migration command may take
    limits: Mapping[str, float]  # the runner's bounds in seconds, by environment variable
    environment: str  # ENVSTACK_ENVIRONMENT: the seed command refuses production by it
    seed_file: str | None = None  # relative to project_root; None declares no seed command


@dataclass(frozen=True)
class DatabaseMigrationsArgs:
    plan: MigrationPlan
    direct_url: pulumi.Input[str]  # not pooled: migrations take locks and run long


class DatabaseMigrations(pulumi.ComponentResource):
    """Applies ``supabase/migrations`` on the direct (non-pooled) connection, then seeds.

    Seeding is declared only when ``seed_file`` is given; the seed command itself also
    refuses a production environment, so test data cannot reach production even if a
    caller gets this wrong. Each command is marked with its ``purpose``, which the policy
    pack reads to refuse a seed command in production whatever its command line.
    """

    def __init__(self, name: str, args: DatabaseMigrationsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("envstack:database:Migrations", name, None, opts)
        plan = args.plan
        child = pulumi.ResourceOptions(parent=self)
        env: dict[str, pulumi.Input[str]] = {
            "POSTGRES_URL_NON_POOLING": pulumi.Output.secret(args.direct_url),
            "DATABASE_URL": pulumi.Output.secret(args.direct_url),
            "ENVSTACK_ENVIRONMENT": plan.environment,
            **{variable: f"{seconds:g}" for variable, seconds in plan.limits.items()},
        }
        directory = shlex.quote(plan.directory)
        self.migrate = LocalCommand(
            f"{name}-migrate",
            LocalCommandInputs(
                command=plan.command or f"python -m envstack migrate up --dir {directory}",
                environment=env,
                triggers=[content_hash(plan.project_root / plan.directory)],
                timeout=plan.timeout,
                purpose=MIGRATE_PURPOSE,
            ),
            opts=child,
        )
        self.seed: LocalCommand | None = None
        if plan.seed_file is not None:
            self.seed = LocalCommand(
                f"{name}-seed",
                LocalCommandInputs(
                    command=f"python -m envstack seed --file {shlex.quote(plan.seed_file)}",
                    environment=env,
                    triggers=[content_hash(plan.project_root / plan.seed_file)],
                    timeout=plan.timeout,
                    purpose=SEED_PURPOSE,
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.migrate]),
            )
        self.register_outputs({})
