"""Is one environment healthy? The checks `python -m envstack doctor` shows, one per line:

- the Supabase project (or preview branch) is ACTIVE_HEALTHY, and the app's API keys the stack
  made still exist;
- each exported database URL connects and does what it claims (envstack.ops.database_checks);
- the database's migration history equals the repository's migration files;
- every Vercel variable the stack wrote exists, scoped exactly as written, with the value the
  stack wrote where Vercel lets one read it back (envstack.ops.vercel_checks);
- each target's latest deployment is newer than the last change of a variable it reads.

Only reads: the Management API, the Vercel API, the database (one temporary-table attempt
by the read-only role, which must be refused). A service that cannot be asked (no token, an
API error) fails its check instead of stopping the others. Checks write no secret values;
rendering (envstack.ops.checks) redacts once more with every secret the stack holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from envstack.clients import tokens
from envstack.errors import ApiError, ResourceError
from envstack.ops import app_health, backup_checks, database_checks, pool_checks, replica_checks, vercel_checks
from envstack.ops.checks import Check
from envstack.ops.stack_view import StackView, SupabaseState, VercelVariables
from envstack.settings import LocalDatabaseSettings

if TYPE_CHECKING:
    from envstack.clients.vercel import EnvVar, VercelClient


def diagnose(view: StackView, root: Path) -> list[Check]:
    results: list[Check] = []
    pooler, direct, paused = _supabase_checks(view, results)
    if view.supabase is None and isinstance(view.settings.envstack.database, LocalDatabaseSettings):
        pooler, direct = _local_pooler(view, root)
    if paused:
        # One cause, said once: every database check would only fail to connect.
        urls = [n for n in ("pooled_url", "prisma_url", "direct_url", "read_only_url") if n in view.outputs]
        names = [*urls, "migrations", *pool_checks.NAMES]
        results += [Check.skipped(n, "the project is paused") for n in names]
    else:
        results += _database_checks(view, root, pooler, direct)
        results += _connection_checks(view, pooler)
        results += _network_checks(view)
        results += replica_checks.replica_check(view)
        results += backup_checks.backup_checks(view)
    for variables in view.vercel:
        results += _vercel_checks(variables, view)
    return results


def _database_checks(
    view: StackView, root: Path, pooler: database_checks.PoolerClaim | None, direct: database_checks.Address | None
) -> list[Check]:
    results: list[Check] = []
    results += [
        database_checks.check_pooled("pooled_url", view.output("pooled_url"), pooler),
        database_checks.check_pooled("prisma_url", view.output("prisma_url"), pooler, prisma=True),
        database_checks.check_session("direct_url", view.output("direct_url"), direct),
    ]
    if "read_only_url" in view.outputs:
        results.append(database_checks.check_read_only("read_only_url", view.output("read_only_url")))
    migrations = view.settings.envstack.migrations
    results.append(
        database_checks.check_migrations(
            "migrations", view.history_url, root / migrations.directory, migrations.command
        )
    )
    return results


def _connection_checks(view: StackView, pooler: database_checks.PoolerClaim | None) -> list[Check]:
    """Connection and pool usage against the limits (envstack:monitoring), read as postgres."""
    chosen = view.settings.envstack.monitoring
    size = view.supabase.instance_size if view.supabase else None
    limits = pool_checks.Limits(
        connections_percent=chosen.connections_percent,
        pool_percent=chosen.pool_percent,
        pool_size=(pooler.pool_size if pooler else None) or chosen.pool_size,
        pool_clients=(pooler.max_clients if pooler else None) or pool_checks.POOLER_CLIENTS_BY_SIZE.get(size or ""),
        long_query_seconds=chosen.long_query_seconds,
        idle_in_transaction_seconds=chosen.idle_in_transaction_seconds,
    )
    return pool_checks.pool_checks(view.history_url, limits, _app_roles(view))


def _app_roles(view: StackView) -> Callable[[str], bool]:
    """The login roles apps connect as, which the pools are made of: both of each rotation pair
    (``<app>_app_a``/``_b``, ``<app>_reader_a``/``_b``), on Supabase and on the dev database alike."""
    app = view.settings.envstack.app.replace("-", "_")
    names = {f"{app}_{group}_{member}" for group in ("app", "reader") for member in ("a", "b")}
    return names.__contains__


def _local_pooler(view: StackView, root: Path) -> tuple[database_checks.PoolerClaim, database_checks.Address]:
    """The dev stack's pooler and database, from its localdb: settings, as the Management API's
    answer is for a Supabase project: the pooled URLs must go to the transaction PgBouncer, the
    non-pooled one straight to PostgreSQL."""
    from envstack.db.pgbouncer import MAX_CLIENTS, POOL_SIZE, TRANSACTION, DevPooler, configured_mode
    from envstack.db.pgserver import PostgresServer

    local = view.settings.localdb
    server = PostgresServer(root / local.directory, host=local.host, port=local.port)
    pooler = DevPooler(server, port=local.pooler_port, session_port=local.session_pooler_port)
    # The mode it was started with (None until `localdb start` configured it).
    mode = configured_mode(pooler.bouncers()[TRANSACTION])
    claim = database_checks.PoolerClaim(
        database_checks.Address(local.host, local.pooler_port), mode, POOL_SIZE, MAX_CLIENTS
    )
    return claim, database_checks.Address(local.host, local.port)


def _supabase_checks(
    view: StackView, results: list[Check]
) -> tuple[database_checks.PoolerClaim | None, database_checks.Address | None, bool]:
    """The project's status; where its pooler and database are, to check the URLs against;
    and whether it is paused (its database then answers nobody)."""
    project = view.supabase
    name = "supabase project"
    if project is None:
        results.append(Check.skipped(name, "this stack has no Supabase project (a local database)"))
        return None, None, False
    token = tokens.present(tokens.SUPABASE)
    if not token:
        results.append(Check.failed(name, "SUPABASE_ACCESS_TOKEN is not set, so the project cannot be asked"))
        return None, None, False
    from envstack.clients.supabase import PAUSED, SupabaseClient, paused_explanation

    what = "preview branch" if project.is_branch else "project"
    try:
        with SupabaseClient(base_url=project.management_api, token=token) as client:
            found = client.get_project(project.ref)
            if found.status in PAUSED:
                restore = f"{project.management_api.rstrip('/')}/v1/projects/{project.ref}/restore"
                explained = paused_explanation(f"{what} {project.ref}", found.status, restore)
                results.append(Check.failed(name, f"{explained}, then run doctor again"))
                return None, None, True
            pooler = client.get_pooler_config(project.ref)
    except (ApiError, ResourceError) as exc:  # ResourceError: the project reports no primary pooler
        results.append(Check.failed(name, f"{what} {project.ref}: {exc}"))
        return None, None, False
    if found.status == "ACTIVE_HEALTHY":
        results.append(Check.passed(name, f"{what} {project.ref} is ACTIVE_HEALTHY"))
    else:
        results.append(Check.failed(name, f"{what} {project.ref} is {found.status}, not ACTIVE_HEALTHY"))
    if project.api_keys:
        results.append(_api_key_check(project, token))
    claim = database_checks.PoolerClaim(
        database_checks.Address(pooler.db_host, pooler.db_port, pooler.db_user),
        pooler.pool_mode,
        pooler.default_pool_size,
        pooler.max_client_conn,
    )
    if view.settings.supabase.ipv6 is True and found.database is not None:
        direct = database_checks.Address(found.database.host, database_checks.SESSION_PORT)
    else:
        direct = database_checks.Address(pooler.db_host, database_checks.SESSION_PORT)
    return claim, direct, False


def _api_key_check(project: SupabaseState, token: str) -> Check:
    """The app's publishable and secret keys the stack recorded still exist in the project."""
    from envstack.clients.supabase import SupabaseClient

    name = "supabase api keys"
    try:
        with SupabaseClient(base_url=project.management_api, token=token) as client:
            live = {k.id for k in client.list_api_keys(project.ref, reveal=False)}
    except ApiError as exc:
        return Check.failed(name, f"cannot be listed: {exc}")
    gone = [f"{kind} key {key}" for kind, key, key_id in project.api_keys if not key_id or key_id not in live]
    if gone:
        return Check.failed(
            name,
            f"{' and '.join(gone)}: deleted outside the stack (`pulumi up --refresh` makes it again and redeploys)",
        )
    return Check.passed(name, " and ".join(f"{kind} key {key}" for kind, key, _ in project.api_keys) + " exist")


def _network_checks(view: StackView) -> list[Check]:
    """What the settings say about who may reach the database, as the API and a client see it.
    A setting changed in the dashboard is put back by `pulumi up --refresh`."""
    project, settings = view.supabase, view.settings
    wanted_ssl, wanted_cidrs = settings.ssl_enforced, settings.supabase.network_restrictions
    token = tokens.present(tokens.SUPABASE)
    if project is None or project.is_branch or not token or (wanted_ssl is None and wanted_cidrs is None):
        return []
    from envstack.clients.supabase import SupabaseClient

    try:
        with SupabaseClient(base_url=project.management_api, token=token) as client:
            enforced = client.ssl_enforced(project.ref) if wanted_ssl is not None else None
            allowed = client.network_restrictions(project.ref) if wanted_cidrs is not None else None
    except ApiError as exc:
        return [Check.failed("network", str(exc))]
    results: list[Check] = []
    if wanted_ssl is not None:
        state = {True: "on", False: "off"}
        if enforced != wanted_ssl:
            detail = f"is {state[bool(enforced)]}, the stack wants it {state[wanted_ssl]}: run pulumi up --refresh"
            results.append(Check.failed("ssl enforcement", detail))
        elif wanted_ssl:
            results.append(database_checks.check_tls_required("ssl enforcement", view.output("pooled_url")))
        else:
            results.append(Check.passed("ssl enforcement", "off, as the stack wants"))
    if wanted_cidrs is not None:
        wanted = ", ".join(wanted_cidrs)
        listed = allowed.cidrs if allowed is not None else []
        if sorted(listed) != sorted(wanted_cidrs):
            detail = f"allows {', '.join(listed) or 'none'}, the stack wants {wanted}: run pulumi up --refresh"
            results.append(Check.failed("network restrictions", detail))
        elif allowed is not None and not allowed.applied:
            detail = f"{wanted} stored, not yet applied by Supabase (the networks before still may connect)"
            results.append(Check.failed("network restrictions", detail))
        else:
            results.append(Check.passed("network restrictions", f"only {wanted} may connect"))
    return results


def _vercel_checks(variables: VercelVariables, view: StackView) -> list[Check]:
    from envstack.clients.vercel import VercelClient

    token = tokens.present(tokens.VERCEL)
    if not token:
        return [Check.failed(f"vercel {variables.where}", "VERCEL_TOKEN is not set, so Vercel cannot be asked")]
    try:
        with VercelClient(base_url=variables.api_url, token=token, team=variables.team) as client:
            live = client.list_env(variables.project_id)
            return [
                *vercel_checks.variable_checks(client, variables, live, view.name),
                vercel_checks.deployment_check(client, variables, live, view.name),
                *_app_health(client, variables, view, live),
            ]
    except (ApiError, ResourceError) as exc:  # ResourceError: Vercel's list pages did not advance
        return [Check.failed(f"vercel {variables.where}", str(exc))]


def _app_health(
    client: VercelClient, variables: VercelVariables, view: StackView, live: Sequence[EnvVar]
) -> list[Check]:
    """The app's own health route (envstack:health) on the deployment serving the target: it
    must reach the database this stack wired, which catches a build wired to another one. On
    the shared preview target, a branch with variables of its own for the stack's keys (a pull
    request's stack) is another stack's: its preview is not asked."""
    health = view.settings.envstack.health
    if health is None or (health.projects is not None and variables.project not in health.projects):
        return []
    pooled = view.output("pooled_url")
    wired = {
        "ref": view.output("supabase_project_ref"),
        "host": urlsplit(pooled).hostname if pooled else None,
        "name": view.output("database"),
    }
    bypass = tokens.present(tokens.VERCEL_BYPASS)
    return [
        app_health.check_deployment_health(
            client,
            variables.project_id,
            variables.target,
            variables.git_branch,
            health.path,
            {field: wired[field] for field in health.expect},
            name=f"app {variables.where} health",
            timeout=health.timeout,
            secrets=[*view.secrets, *([bypass] if bypass else [])],
            bypass_secret=bypass,
            other_stacks=frozenset(
                e.git_branch for e in live if variables.git_branch is None and e.git_branch and e.key in variables.ids
            ),
        )
    ]
