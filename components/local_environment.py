"""The dev environment's database: a role and database on the project-managed PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pulumi

from components.migrations import DatabaseMigrations
from envstack import variables
from envstack.settings import LocalDatabase as LocalDatabaseSettings
from envstack.settings import StackSettings
from providers.local_database import LocalDatabase


class LocalEnvironment(pulumi.ComponentResource):
    """Database + role, migrations and seed data; ``info`` is what the app needs to reach it."""

    def __init__(
        self,
        name: str,
        *,
        settings: StackSettings,
        project_root: Path,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("envstack:environment:Local", name, None, opts)
        db_settings = settings.envstack.database
        assert isinstance(db_settings, LocalDatabaseSettings)
        server_dir = project_root / settings.localdb.directory
        child = pulumi.ResourceOptions(parent=self)

        self.database = LocalDatabase(
            f"{name}-database",
            admin_socket_dir=str(server_dir / "run"),
            host=settings.localdb.host,
            port=settings.localdb.port,
            database=db_settings.name,
            role=db_settings.role,
            opts=child,
        )
        url = self.database.url
        self.info: dict[variables.Field, pulumi.Output[str]] = {
            "pooled_url": url,
            "prisma_url": url,
            "direct_url": url,
            "user": self.database.role,
            "host": self.database.host,
            "password": self.database.password,
            "database": self.database.database,
        }
        self.migrations = DatabaseMigrations(
            f"{name}-migrations",
            project_root=project_root,
            direct_url=url,
            settings=settings.envstack.migrations,
            environment=settings.environment,
            seed_file=settings.envstack.seed_file if settings.seeds else None,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.database]),
        )
        self.url = url
        self.register_outputs({"url": url})
