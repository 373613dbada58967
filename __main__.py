"""envstack: one environment (dev, staging, production or a pull request) per stack."""

from pathlib import Path

import pulumi

from components.local_environment import LocalEnvironment
from components.supabase_environment import SupabaseEnvironment
from components.vercel_environment import VercelEnvironment
from envstack.settings import LocalDatabase
from envstack.stack_config import current_settings
from envstack.variables import app_variables
from providers.dotenv_file import DotenvFile
from providers.generated_secret import GeneratedSecret

PROJECT_ROOT = Path(__file__).resolve().parent

settings = current_settings(PROJECT_ROOT)
stack = settings.stack
# Production resources can't be deleted or replaced by an `up` or `destroy`.
protect = pulumi.ResourceOptions(protect=settings.is_production)

database: LocalEnvironment | SupabaseEnvironment
if isinstance(settings.envstack.database, LocalDatabase):
    database = LocalEnvironment(stack, settings=settings, project_root=PROJECT_ROOT, opts=protect)
else:
    database = SupabaseEnvironment(stack, settings=settings, project_root=PROJECT_ROOT, opts=protect)
    pulumi.export("supabase_project_ref", database.project.ref)

# The app's own signing secret (NivoStack's JWT_SECRET), different in every environment.
app_secret = GeneratedSecret(f"{stack}-app-jwt-secret", opts=protect)
variables = app_variables({**database.info, "app_jwt_secret": app_secret.value}, settings)

env_file = settings.envstack.env_file or (".env.local" if isinstance(database, LocalEnvironment) else None)
if env_file:
    DotenvFile(
        f"{stack}-env-file",
        path=env_file,
        variables=variables.values,
        # It was once declared inside the dev environment component; the alias keeps it the same file.
        opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(parent=database)]),
    )
for project in settings.vercel.projects:
    VercelEnvironment(
        f"{stack}-vercel-{project}", project=project, settings=settings, variables=variables, opts=protect
    )

pulumi.export("environment", settings.environment)
for field, value in database.info.items():
    pulumi.export(field, value)
