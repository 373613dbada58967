"""What the Supabase providers share: the token, the client, waiting for health, and the
connection details the API reports for a project (or a branch, which is a project too).

The token comes from ``SUPABASE_ACCESS_TOKEN`` in the environment, never from an input, so
it never reaches the state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from envstack.clients.parallel import at_once
from envstack.clients.polling import Backoff
from envstack.clients.tokens import supabase_token
from envstack.errors import ApiError, ResourceError

if TYPE_CHECKING:
    from envstack.clients.supabase import SupabaseClient

T = TypeVar("T")

# States a project passes through on its way up, and states it never leaves by itself.
TERMINAL = frozenset({"INIT_FAILED", "REMOVED", "GOING_DOWN", "INACTIVE", "PAUSING", "PAUSE_FAILED", "RESTORE_FAILED"})
# The emulated (and a resumed) project is up within a second, a new real one after minutes.
_FIRST_POLL_SECONDS = 0.2
_MAX_POLL_SECONDS = 5.0
_REPORT_EVERY_SECONDS = 15.0


def open_client(api_url: str) -> SupabaseClient:
    from envstack.clients.supabase import SupabaseClient

    return SupabaseClient(base_url=api_url, token=supabase_token())


def client_for(props: Mapping[str, Any]) -> SupabaseClient:
    """A client of the Management API a resource's inputs name (``management_api``)."""
    return open_client(str(props["management_api"]))


def unless_project_gone(api_url: str, ref: str, read: Callable[[], T]) -> T | None:
    """``read()`` of one of a project's settings, for a refresh; None when it answers 404 because
    the project itself is gone (the refresh then drops the setting from the state). A 404 for a
    live project (an endpoint answering so) is raised: the refresh fails rather than forget."""
    from envstack.errors import NotFound

    try:
        return read()
    except NotFound as missing:
        with open_client(api_url) as client:
            try:
                client.get_project(ref)
            except NotFound:
                return None
        raise missing


def wait_until_healthy(
    status_of: Callable[[], str], what: str, timeout: float, again: str, *, just_created: bool = False
) -> None:
    """Poll ``status_of`` until ACTIVE_HEALTHY, reporting progress; fail clearly on a dead end or
    the deadline (``again`` tells the user why running `pulumi up` again is safe). What was
    ``just_created`` is never up at once, so its first poll waits the first interval."""
    import pulumi

    from envstack.clients.supabase import PAUSED, paused_explanation

    backoff = Backoff(first=_FIRST_POLL_SECONDS, cap=_MAX_POLL_SECONDS, timeout=timeout)
    reported, last_report = "", 0.0
    if just_created:
        backoff.wait()
    while True:
        status = status_of()
        if status == "ACTIVE_HEALTHY":
            return
        if status in PAUSED:
            # Not ours to wake without proof it is ours; a person restores it in a minute.
            explained = paused_explanation(what, status, "/v1/projects/<ref>/restore")
            raise ResourceError(f"{explained}, then run `pulumi up` again")
        if status in TERMINAL:
            raise ResourceError(f"{what} ended in status {status} instead of ACTIVE_HEALTHY")
        if backoff.expired():
            raise ResourceError(
                f"{what} was still {status} after {timeout:.0f}s (supabase:waitTimeout); run `pulumi up` "
                f"again to keep waiting: {again}"
            )
        elapsed = backoff.elapsed()
        if status != reported or elapsed - last_report >= _REPORT_EVERY_SECONDS:
            pulumi.log.info(f"{what} is {status}; waiting up to {timeout:.0f}s for it")
            reported, last_report = status, elapsed
        backoff.wait()


def wait_seconds(props: Mapping[str, Any]) -> float:
    """How long a resource may wait for Supabase (its ``wait_timeout``, supabase:waitTimeout)."""
    return float(props.get("wait_timeout") or 600)


def provisioned_pooler(client: Any, ref: str, timeout: float) -> Any:
    """The pooler settings of a healthy project, once its pooler is provisioned.

    Right after a project turns healthy its pooler settings answer 500 for a while
    (terraform-provider-supabase#239): no one has documented for how long, so that 500 is
    polled like the project's status, fast at first, up to the stack's wait timeout, rather
    than given the HTTP layer's few retries for a failure."""
    import pulumi

    backoff = Backoff(first=_FIRST_POLL_SECONDS / 2, cap=_MAX_POLL_SECONDS, timeout=timeout)
    said = False
    while True:
        try:
            return client.get_pooler_config(ref, not_yet=(500,))
        except ApiError as error:
            if error.status != 500:
                raise
            if backoff.expired():
                raise ResourceError(
                    f"the pooler settings of Supabase project {ref} still answered 500 after {timeout:.0f}s "
                    f"(supabase:waitTimeout): {error}; run `pulumi up` again to keep waiting (what this run made "
                    "is found again, not made twice)"
                ) from None
            if not said:
                pulumi.log.info(
                    f"the pooler of Supabase project {ref} is being provisioned; waiting up to {timeout:.0f}s"
                )
                said = True
        backoff.wait()


# The services a stack's first connections go through: the database, directly, and the pooler.
SERVED_BY = ("db", "pooler")


def wait_until_serving(client: Any, ref: str, timeout: float) -> None:
    """Poll the project's service health until the database and the pooler are up. ACTIVE_HEALTHY
    does not promise the pooler lets clients in yet; Supabase's guide polls /health for each
    service used after it (supabase-for-platforms.mdx), and the migrations and login roles that
    come next connect once, through the pooler where the runner has no IPv6 route."""
    import pulumi

    backoff = Backoff(first=_FIRST_POLL_SECONDS / 2, cap=_MAX_POLL_SECONDS, timeout=timeout)
    said = False
    while True:
        try:
            waiting = {h.name: h.status for h in client.service_health(ref, SERVED_BY) if not h.healthy}
        except ApiError as error:
            if error.status != 500:
                raise
            waiting = {name: "unknown (the health endpoint answered 500)" for name in SERVED_BY}
        if not waiting:
            return
        shown = ", ".join(f"{name} {status}" for name, status in sorted(waiting.items()))
        if backoff.expired():
            raise ResourceError(
                f"Supabase project {ref} is ACTIVE_HEALTHY but its services were not all up after {timeout:.0f}s "
                f"(supabase:waitTimeout): {shown}; run `pulumi up` again to keep waiting (what this run made is "
                "found again, not made twice)"
            )
        if not said:
            pulumi.log.info(f"Supabase project {ref}: waiting up to {timeout:.0f}s for {shown}")
            said = True
        backoff.wait()


def api_details(
    client: Any,
    ref: str,
    *,
    jwt_secret: bool = False,
    pooler_wait: float | None = None,
    serving_wait: float | None = None,
) -> dict[str, Any]:
    """The pooler, API URL and keys of a healthy project or branch (and, with ``jwt_secret``,
    the JWT secret from its PostgREST config), read at the same time. ``pooler_wait`` is for
    what this run made or found just made: its pooler may still be provisioned, for up to
    that many seconds; ``serving_wait`` is for what this run made or restarted, whose database and
    pooler may not serve yet (``wait_until_serving``), never for someone else's project. Of a
    project that has long been up, a 500 is a failure."""

    def read_pooler() -> Any:
        if pooler_wait is None:
            return client.get_pooler_config(ref)
        settings = provisioned_pooler(client, ref, pooler_wait)
        if serving_wait is not None:
            wait_until_serving(client, ref, serving_wait)
        return settings

    reads = {
        "pooler": read_pooler,
        "keys": lambda: client.list_api_keys(ref, reveal=True),
    }
    if jwt_secret:
        reads["postgrest"] = lambda: client.get_postgrest_config(ref)
    got = at_once(reads)
    pooler = got["pooler"]
    by_type: dict[str, str | None] = {"anon": None, "service_role": None, "publishable": None, "secret": None}
    for key in got["keys"]:
        kind = key.name if key.type == "legacy" else key.type
        if kind in by_type and by_type[kind] is None:
            by_type[kind] = key.api_key
    secret = {"jwt_secret": got["postgrest"].jwt_secret} if jwt_secret else {}
    return {
        "ref": ref,
        "pooler_host": pooler.db_host,
        "pooler_port": pooler.db_port,
        "pooler_user": pooler.db_user,
        "db_name": pooler.db_name,
        # Supabase's documented project URL; the Management API has no field for it.
        "api_url": f"https://{ref}.supabase.co",
        "anon_key": by_type["anon"],
        "service_role_key": by_type["service_role"],
        "publishable_key": by_type["publishable"],
        "secret_key": by_type["secret"],
        **secret,
    }
