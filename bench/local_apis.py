"""Both local APIs for a benchmark session: the Supabase emulator and emulate (Vercel) behind
its fidelity layer, started once; a fresh tenant (organization, team, token) per run."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.emulators.common.faults import FaultRule
from tests.emulators.supabase.emulator import SupabaseEmulator
from tests.emulators.supabase.fixtures import SupabaseTenant
from tests.emulators.vercel.fixtures import GitHubApi, VercelApi
from tests.emulators.vercel.stack import EmulateStack


@dataclass
class Tenants:
    supabase: SupabaseTenant
    vercel: VercelApi
    github: GitHubApi  # the repositories Vercel projects are connected to

    def calls(self) -> tuple[int, int]:
        """(reads, writes) so far, both APIs together."""
        calls = [*self.supabase.calls(), *self.vercel.calls()]
        writes = sum(1 for c in calls if c.is_write)
        return len(calls) - writes, writes


class LocalApis:
    def __init__(self, supabase: SupabaseEmulator, vercel: EmulateStack) -> None:
        self.supabase, self.vercel = supabase, vercel

    def tenants(self) -> Tenants:
        app = self.vercel.vercel
        token, tenant, team = app.add_tenant()
        vercel = VercelApi(
            app=app,
            url=self.vercel.vercel_server.url,
            token=token,
            team=team["id"],
            team_slug=team["slug"],
            tenant=tenant.name,
        )
        github_tenant = f"gh-{secrets.token_hex(5)}"
        github = GitHubApi(
            app=self.vercel.github,
            url=self.vercel.github_server.url,
            token=self.vercel.github.add_token(github_tenant),
            owner=self.vercel.github.login,
            tenant=github_tenant,
        )
        return Tenants(SupabaseTenant(self.supabase, self.supabase.add_tenant()), vercel, github)

    def forget(self, tenants: Tenants) -> None:
        """Stop the tenant's databases and clear every setting a run changed."""
        self.supabase.remove_projects_of(tenants.supabase.tenant)
        self.supabase.reset()
        self.vercel.vercel.reset_settings()
        self.vercel.vercel.forget_token(tenants.vercel.token)
        self.vercel.github.forget_token(tenants.github.token)

    def latency(self, seconds: float) -> None:
        """Every later call to either API waits ``seconds`` before it is handled."""
        for plan in (self.supabase.app.faults, self.vercel.vercel.faults):
            plan.add(FaultRule(path=".*", action="delay", delay=seconds, count=10**9))


@contextmanager
def local_apis() -> Iterator[LocalApis]:
    state = Path(tempfile.mkdtemp(prefix="envstack-bench-supabase-"))
    supabase = SupabaseEmulator(state).start()
    try:
        vercel = EmulateStack.start()
        try:
            yield LocalApis(supabase, vercel)
        finally:
            vercel.stop()
    finally:
        supabase.stop()
        shutil.rmtree(state, ignore_errors=True)
