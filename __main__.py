"""envstack: one environment (dev, staging, production or a pull request) per stack."""

from pathlib import Path

import pulumi

from components.local_environment import LocalEnvironment
from envstack.settings import LocalDatabase
from envstack.stack_config import current_settings

PROJECT_ROOT = Path(__file__).resolve().parent

settings = current_settings(PROJECT_ROOT)
protect = pulumi.ResourceOptions(protect=settings.is_production)

if isinstance(settings.envstack.database, LocalDatabase):
    environment = LocalEnvironment(settings.stack, settings=settings, project_root=PROJECT_ROOT, opts=protect)
    pulumi.export("environment", settings.environment)
    pulumi.export("database_url", environment.url)
else:
    raise pulumi.RunError(
        f"Stack '{settings.stack}' uses envstack:database provider 'supabase', which this version of "
        "envstack cannot deploy yet; only the local provider (dev) is implemented."
    )
