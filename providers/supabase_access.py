"""What the Supabase providers share: the token, the client, waiting for health, and the
connection details the API reports for a project (or a branch, which is a project too).

The token comes from ``SUPABASE_ACCESS_TOKEN`` in the environment, never from an input, so
it never reaches the state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from envstack.clients.tokens import supabase_token
from envstack.errors import ResourceError

if TYPE_CHECKING:
    from envstack.clients.supabase import SupabaseClient

# States a project passes through on its way up, and states it never leaves by itself.
TERMINAL = frozenset({"INIT_FAILED", "REMOVED", "GOING_DOWN", "INACTIVE", "PAUSING", "PAUSE_FAILED", "RESTORE_FAILED"})
_FIRST_POLL_SECONDS = 0.5
_MAX_POLL_SECONDS = 5.0
_REPORT_EVERY_SECONDS = 15.0


def open_client(api_url: str) -> SupabaseClient:
    from envstack.clients.supabase import SupabaseClient

    return SupabaseClient(base_url=api_url, token=supabase_token())


def client_for(props: Mapping[str, Any]) -> SupabaseClient:
    """A client of the Management API a resource's inputs name (``management_api``)."""
    return open_client(str(props["management_api"]))


def wait_until_healthy(status_of: Callable[[], str], what: str, timeout: float, again: str) -> None:
    """Poll ``status_of`` until ACTIVE_HEALTHY, reporting progress; fail clearly on a dead end or
    the deadline (``again`` tells the user why running `pulumi up` again is safe)."""
    import pulumi

    from envstack.clients.supabase import PAUSED, paused_explanation

    started = time.monotonic()
    interval, reported, last_report = _FIRST_POLL_SECONDS, "", 0.0
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
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            raise ResourceError(
                f"{what} was still {status} after {timeout:.0f}s (supabase:waitTimeout); run `pulumi up` "
                f"again to keep waiting: {again}"
            )
        if status != reported or elapsed - last_report >= _REPORT_EVERY_SECONDS:
            pulumi.log.info(f"{what} is {status}; waiting up to {timeout:.0f}s for it")
            reported, last_report = status, elapsed
        time.sleep(min(interval, max(0.0, timeout - elapsed)))
        # Real projects take minutes: back off so a long wait stays far below the rate limit.
        interval = min(interval * 1.5, _MAX_POLL_SECONDS)


def api_details(client: Any, ref: str) -> dict[str, Any]:
    """The pooler, API URL and keys of a healthy project or branch."""
    pooler = client.get_pooler_config(ref)
    by_type: dict[str, str | None] = {"anon": None, "service_role": None, "publishable": None, "secret": None}
    for key in client.list_api_keys(ref, reveal=True):
        kind = key.name if key.type == "legacy" else key.type
        if kind in by_type and by_type[kind] is None:
            by_type[kind] = key.api_key
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
    }
