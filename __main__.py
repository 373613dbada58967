"""envstack: one environment (dev, staging, production or a pull request) per stack. Settings in
(validated), components out, outputs exported; each component's Args come from components/from_settings.py."""

import gc
import os
from pathlib import Path

import pulumi

from providers import early_start

# Before the imports below (a tenth of a second and more): the engine starts the dynamic-provider
# process beside them rather than after them (providers/early_start.py).
early_start.start_provider_process()
# The program runs for a second or two and what it builds lives until it exits: the cyclic
# collector would only walk it, during the imports and again as the interpreter exits (a tenth
# of a CPU second a pass, docs/benchmarks.md). Collected again from the end of the body on,
# without what the body built (gc.freeze below).
gc.disable()

from components import from_settings
from components.local_environment import LocalEnvironment
from components.supabase_environment import SupabaseEnvironment
from components.vercel_environment import VercelEnvironment
from envstack.ops import rotation
from envstack.ops.stack_config import current_settings
from envstack.settings import LocalDatabaseSettings, app_variables
from providers.dotenv_file import DotenvFile, DotenvFileInputs
from providers.generated_secret import GeneratedSecret, GeneratedSecretInputs
from providers.rotation_record import RotationRecord, RotationRecordInputs

PROJECT_ROOT = Path(__file__).resolve().parent

settings = current_settings(PROJECT_ROOT)
stack = settings.stack
# Production resources can't be deleted or replaced by an `up` or `destroy`.
protect = pulumi.ResourceOptions(protect=settings.is_production)

database: LocalEnvironment | SupabaseEnvironment
if isinstance(settings.envstack.database, LocalDatabaseSettings):
    database = LocalEnvironment(stack, from_settings.local_args(settings, PROJECT_ROOT), opts=protect)
else:
    database = SupabaseEnvironment(stack, from_settings.supabase_args(settings, PROJECT_ROOT), opts=protect)
    pulumi.export("supabase_project_ref", database.project.ref)
    if database.recovery_point is not None:
        # Where `python -m envstack restore --to` can bring the database back to, before this run's migrations.
        point = database.recovery_point
        pulumi.export(
            "recovery_point",
            pulumi.Output.all(point.recorded_at, point.restore_point).apply(
                lambda v: {"before_migrations": v[0], "restore_point": v[1]}
            ),
        )

# The app's own signing secret (NivoStack's JWT_SECRET), different in every environment.
app_secret = GeneratedSecret(
    f"{stack}-app-jwt-secret", GeneratedSecretInputs(rotation=settings.rotation.app_secret), opts=protect
)
info = {**database.info, "app_jwt_secret": app_secret.value}
variables = app_variables(info, settings)

env_file = from_settings.env_file(settings)
if env_file:
    DotenvFile(
        f"{stack}-env-file",
        DotenvFileInputs(path=env_file, variables=variables.values),
        # It was once declared inside the dev environment component; the alias keeps it the same file.
        opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(parent=database)]),
    )
reader = database.reader_info if isinstance(database, SupabaseEnvironment) else None
vercel = [
    VercelEnvironment(
        f"{stack}-vercel-{p.name}",
        from_settings.vercel_args(settings, p.name, app_variables(info, settings, p, reader)),
        opts=protect,
        # The redeployed app meets the migrated schema, even when none of its variables is a database URL.
        redeploy_after=[database.migrations],
    )
    for p in settings.vercel.projects
]

# Rotations: what each one touched, and the record of who rotated what when (never a secret).
rotated: list[pulumi.Resource] = [app_secret, *(v.redeploy for v in vercel)]
status: rotation.RotationStatus = {}
if isinstance(database, SupabaseEnvironment):
    # The replaced keys go once the redeploys carrying the new ones are READY.
    retire = from_settings.api_key_retirement_args(settings)
    retirement = database.retire_replaced_api_keys(retire, after=[v.redeploy for v in vercel])
    rotated += [database.app_roles, database.reader_roles, database.signing_keys, database.api_keys, retirement]
    # The previous login roles are revoked (rotation:databaseRevoked) once those redeploys are READY.
    revoke = from_settings.login_revocation_args(settings)
    revocations = database.revoke_previous_logins(revoke, after=[v.redeploy for v in vercel]) if revoke else []
    rotated += revocations
    status = rotation.status_of(database, retirement, revocations)
    rotation.report_progress(database, retirement)
# Where migrations run (postgres on Supabase, the owner on the local database): never the app's URL.
pulumi.export("migrations_url", pulumi.Output.secret(database.migrations_url))
record = RotationRecord(
    f"{stack}-rotations",
    RotationRecordInputs(
        counters=rotation.counters(settings),
        # Who deploys is recorded with each rotation, never compared: it causes no change by itself.
        run=rotation.run_identity(os.environ),
    ),
    opts=pulumi.ResourceOptions(protect=settings.is_production, depends_on=rotated),
)
pulumi.export("rotations", rotation.rotations_output(record.latest, status))
pulumi.export("rotation_history", record.history)

pulumi.export("environment", settings.environment)
for field, value in database.info.items():
    pulumi.export(field, value)

# What the body built stays until the program exits: the collector leaves it be from here on.
gc.freeze()
gc.enable()
