"""pytest fixtures: one emulator per test session, a fresh tenant per test.

``supabase_api`` gives a test its own organization and access token on the shared
emulator (PostgreSQL and PgBouncer start once per session): a ``SupabaseTenant`` with

    .url  .token  .org_slug        where and as whom to call the API
    .calls()                       this tenant's calls (recording.Call: method, path, status, is_write, …)
    .project_status(ref)           the status, None once the project is gone
    .project(ref)                  ProjectInfo: addresses, password, jwt secret, postgres_running, …
    .faults                        the toolkit's FaultPlan (error answers, drops, delays)
    .configure(...)                provisioning_delay, fail_next_provisionings, signing_key_interval,
                                   pooler_warmup, rate_limit, rate_window, drop_pooler_connections,
                                   ipv6_route, replica_provisioning, removal_seconds,
                                   resize_seconds, network_apply_seconds
    .advance_clock(seconds)        let time pass for throttles, rate-limit windows, pausing
    .finish_provisioning(ref)      end a long provisioning_delay for one project now
    .client(token=None)            an httpx.Client with the bearer token set
    .project_api_url(ref)          where the project's Auth and Data API stand-ins answer (project_api.py)
    .wait_for_status(ref, wanted)  poll the emulator's state with a deadline
    .violations() / .take_violations()   spec violations this test caused

At teardown the tenant's projects are deleted (their databases stopped), the emulator's
behaviour and faults are reset, and the test FAILS if any answer it caused broke the spec.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from envstack.clients.tls import client_context
from tests.emulators.common.faults import FaultPlan
from tests.emulators.common.recording import Call
from tests.emulators.common.server import is_request_violation, is_undocumented_request
from tests.emulators.supabase.emulator import ProjectInfo, SupabaseEmulator
from tests.emulators.supabase.projects import Tenant


@dataclass
class SupabaseTenant:
    """A test's view of the emulator: its own organization and token."""

    emulator: SupabaseEmulator
    tenant: Tenant
    _violations_seen: int = field(default=0)
    # A test of the local API itself sends off-spec requests on purpose (to see them refused):
    # it sets this, and only answers that break the spec fail it. Every other test, the stack's
    # included, fails on an off-spec request too.
    sends_off_spec_requests: bool = False
    # A real client (the Vercel or Supabase CLI) under test calls operations the spec does
    # not document; those are its own, not envstack's, and do not fail the test.
    real_client_calls_undocumented: bool = False

    @property
    def url(self) -> str:
        return self.emulator.url

    @property
    def token(self) -> str:
        return self.tenant.token

    @property
    def org_slug(self) -> str:
        return self.tenant.organization.slug

    @property
    def faults(self) -> FaultPlan:
        """The emulator's fault rules (cleared after each test)."""
        return self.emulator.app.faults

    def calls(self) -> list[Call]:
        """Every call made with this tenant's token, in order."""
        return self.emulator.app.calls.all(tenant=self.tenant.id)

    def project_status(self, ref: str) -> str | None:
        """The project's status, None once it no longer exists."""
        info = self.emulator.project_info(ref)
        return info.status if info is not None else None

    def project(self, ref: str) -> ProjectInfo | None:
        return self.emulator.project_info(ref)

    def configure(
        self,
        *,
        provisioning_delay: float | None = None,
        fail_next_provisionings: int | None = None,
        signing_key_interval: float | None = None,
        pooler_warmup: float | None = None,
        pooler_joins_after: float | None = None,
        rate_limit: int | None = None,
        rate_window: float | None = None,
        drop_pooler_connections: int | None = None,
        ipv6_route: bool | None = None,
        replica_provisioning: float | None = None,
        removal_seconds: float | None = None,
        resize_seconds: float | None = None,
        network_apply_seconds: float | None = None,
    ) -> None:
        """Change the emulator's behaviour for this test (reset afterwards)."""
        self.emulator.configure(
            provisioning_delay=provisioning_delay,
            fail_next_provisionings=fail_next_provisionings,
            signing_key_interval=signing_key_interval,
            pooler_warmup=pooler_warmup,
            pooler_joins_after=pooler_joins_after,
            rate_limit=rate_limit,
            rate_window=rate_window,
            drop_pooler_connections=drop_pooler_connections,
            ipv6_route=ipv6_route,
            replica_provisioning=replica_provisioning,
            removal_seconds=removal_seconds,
            resize_seconds=resize_seconds,
            network_apply_seconds=network_apply_seconds,
        )

    def advance_clock(self, seconds: float) -> None:
        """Let ``seconds`` pass for every rule the local API measures in time (throttles,
        rate-limit windows, pausing), instead of waiting for them."""
        self.emulator.clock.advance(seconds)

    def finish_provisioning(self, ref: str) -> None:
        """A project kept COMING_UP by ``provisioning_delay`` starts its database now."""
        self.emulator.finish_provisioning(ref)

    def project_api_url(self, ref: str) -> str:
        """The stand-in for ``https://<ref>.supabase.co`` (its Auth and Data API; project_api.py)."""
        return f"{self.url}/project-api/{ref}"

    def client(self, token: str | None = None) -> httpx.Client:
        """An HTTP client for the API with this tenant's token (or another)."""
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=30,
            verify=client_context(),
        )

    def wait_for_status(self, ref: str, wanted: str = "ACTIVE_HEALTHY", timeout: float = 30.0) -> str:
        """Poll (the emulator's state, not the API) until the project has ``wanted``; the
        last status seen is returned so a test can assert on it."""
        deadline = time.monotonic() + timeout
        status = self.project_status(ref)
        while status != wanted and time.monotonic() < deadline:
            time.sleep(0.05)
            status = self.project_status(ref)
        return str(status)

    def violations(self) -> list[str]:
        """Spec violations in requests and answers since this tenant was made (or last taken)."""
        found = self.emulator.app.violations()[self._violations_seen :]
        return [
            v
            for v in found
            if not (self.sends_off_spec_requests and is_request_violation(v))
            and not (self.real_client_calls_undocumented and is_undocumented_request(v))
        ]

    def take_violations(self) -> list[str]:
        """The violations so far, which then no longer fail the test (for tests that provoke them)."""
        found = self.violations()
        self._violations_seen += len(found)
        return found


@pytest.fixture(scope="session")
def supabase_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupabaseEmulator]:
    state_dir = tmp_path_factory.mktemp("supabase")
    emulator = SupabaseEmulator(state_dir).start()
    try:
        yield emulator
    finally:
        emulator.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture
def supabase_api(supabase_emulator: SupabaseEmulator) -> Iterator[SupabaseTenant]:
    emulator = supabase_emulator
    handle = SupabaseTenant(emulator, emulator.add_tenant(), len(emulator.app.violations()))
    try:
        yield handle
    finally:
        emulator.reset()
        emulator.remove_projects_of(handle.tenant)
    problems = handle.violations()
    if problems:
        pytest.fail(
            "the Supabase emulator answered this test off the spec:\n" + "\n".join(f"  {p}" for p in problems),
            pytrace=False,
        )
