"""envstack: one environment (dev, staging, production or a pull request) per stack."""

from pathlib import Path

import pulumi

from components.local_environment import LocalEnvironment
from components.supabase_environment import SupabaseEnvironment
from envstack.settings import LocalDatabase
from envstack.stack_config import current_settings

PROJECT_ROOT = Path(__file__).resolve().parent

settings = current_settings(PROJECT_ROOT)
# Production resources can't be deleted or replaced by an `up` or `destroy`.
protect = pulumi.ResourceOptions(protect=settings.is_production)

pulumi.export("environment", settings.environment)
if isinstance(settings.envstack.database, LocalDatabase):
    local = LocalEnvironment(settings.stack, settings=settings, project_root=PROJECT_ROOT, opts=protect)
    pulumi.export("database_url", local.url)
else:
    supabase = SupabaseEnvironment(settings.stack, settings=settings, project_root=PROJECT_ROOT, opts=protect)
    pulumi.export("supabase_project_ref", supabase.project.ref)
    for field, value in supabase.info.items():
        pulumi.export(field, value)
