"""envstack: one environment (dev, staging, production or a pull request) per stack."""

import os
from pathlib import Path
from typing import Any, cast

import pulumi

from components.local_environment import LocalEnvironment
from components.supabase_environment import SupabaseEnvironment
from components.vercel_environment import VercelEnvironment
from envstack.ops import rotation
from envstack.ops.stack_config import current_settings
from envstack.settings import LocalDatabase, app_variables
from providers.dotenv_file import DotenvFile
from providers.generated_secret import GeneratedSecret
from providers.rotation_record import RotationRecord

PROJECT_ROOT = Path(__file__).resolve().parent
# The SDK's own annotations of Output.all are too narrow for mixed types.
_Output = cast(Any, pulumi.Output)

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
app_secret = GeneratedSecret(f"{stack}-app-jwt-secret", rotation=settings.rotation.app_secret, opts=protect)
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
vercel = [
    VercelEnvironment(
        f"{stack}-vercel-{project}", project=project, settings=settings, variables=variables, opts=protect
    )
    for project in settings.vercel.projects
]

# Rotations: what each one touched, and the record of who rotated what when (never a secret).
rotated: list[pulumi.Resource] = [app_secret, *(v.redeploy for v in vercel)]
status: dict[str, Any] = {}
if isinstance(database, SupabaseEnvironment):
    retirement = database.retire_replaced_api_keys(
        grace_seconds=settings.rotation.api_key_grace_seconds,
        # The replaced keys go once the redeploys carrying the new ones are READY.
        after=[v.redeploy for v in vercel],
        hold=None
        if settings.vercel.redeploy or not vercel
        else "vercel:redeploy is false, so deployments may still use them; delete them in Supabase once none does",
    )
    rotated += [database.app_roles, database.reader_roles, database.signing_keys, database.api_keys, retirement]
    keys = database.signing_keys
    status = {
        "database": {"active_role": database.app_roles.active, "read_only_role": database.reader_roles.active},
        "jwt": {
            "step": keys.phase,
            "status": keys.status,
            "next_step": keys.next_step,
            "next_due_at": keys.next_due_at,
            "next_due_epoch": keys.next_due_epoch,
        },
        "api-keys": {
            "status": retirement.status,
            "next_due_at": retirement.next_due_at,
            "next_due_epoch": retirement.next_due_epoch,
        },
    }
    pulumi.export("migrations_url", pulumi.Output.secret(database.migrations_url))
    # Say in every run's output where a rotation that takes several runs stands.
    _Output.all(keys.phase, keys.status).apply(lambda v: pulumi.log.info(v[1]) if v[0] != "idle" else None)
    _Output.all(retirement.next_due_at, retirement.status).apply(lambda v: pulumi.log.info(v[1]) if v[0] else None)
record = RotationRecord(
    f"{stack}-rotations",
    counters=rotation.counters(settings),
    # Who deploys is recorded with each rotation, never compared: it causes no change by itself.
    run=rotation.run_identity(os.environ),
    opts=pulumi.ResourceOptions(protect=settings.is_production, depends_on=rotated),
)
pulumi.export(
    "rotations",
    _Output.all(record.latest, status).apply(
        lambda v: {name: {**entry, **v[1].get(name, {})} for name, entry in (v[0] or {}).items()}
    ),
)
pulumi.export("rotation_history", record.history)

pulumi.export("environment", settings.environment)
for field, value in database.info.items():
    pulumi.export(field, value)
