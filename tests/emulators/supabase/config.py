"""What a test may change about the emulator's behaviour (the faults beyond the toolkit's)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields

SIGNING_KEY_INTERVAL = 300.0
POOLER_WARMUP = 1.0
# A stand-in: the real deployment of a read replica takes minutes, by the database's size.
REPLICA_PROVISIONING = 180.0


@dataclass
class Behaviour:
    provisioning_delay: float = 0.0  # seconds a new project stays COMING_UP before its database starts
    fail_next_provisionings: int = 0  # the next N new projects end INIT_FAILED
    # Minimum seconds between signing key state changes ("approximately 5 minutes", docs).
    signing_key_interval: float = SIGNING_KEY_INTERVAL
    # Seconds after a project turns healthy during which its pooler settings answer 500
    # (the pooler tenant is still being made: terraform-provider-supabase#239, PR #262).
    pooler_warmup: float = POOLER_WARMUP
    # Seconds after a new project turns ACTIVE_HEALTHY before its pooler (Supavisor) lets its
    # clients in; until then /health reports the pooler COMING_UP. Supabase's own guide says to
    # poll ACTIVE_HEALTHY and then /health for each service used (supabase-for-platforms.mdx):
    # the status alone does not promise the pooler is there.
    pooler_joins_after: float = 0.0
    # Seconds a new read replica stays INIT_READ_REPLICA before its PostgreSQL starts (replicas.py).
    replica_provisioning: float = REPLICA_PROVISIONING
    # Seconds a deleted project stays listed, GOING_DOWN (its database gone), before it is not
    # found: Supabase deletes in the background, and the API's statuses include GOING_DOWN and
    # REMOVED (OpenAPI document, v1-get-project and the organization's project list).
    removal_seconds: float = 0.0
    # Seconds a project stays RESIZING after its compute size changes (a resize restarts it;
    # the API's statuses include RESIZING, which terraform-provider-supabase waits out).
    resize_seconds: float = 0.0
    # Seconds new network restrictions stay "stored" before they are "applied" (the API's
    # statuses; its description: the config "has been applied to the project, or is pending").
    network_apply_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take_provisioning_failure(self) -> bool:
        with self._lock:
            if self.fail_next_provisionings > 0:
                self.fail_next_provisionings -= 1
                return True
            return False

    def to_json(self) -> dict[str, float | int]:
        return {name: getattr(self, name) for name in knobs()}


def knobs() -> dict[str, type]:
    """Each setting of Behaviour and its type: what a test may set (emulator.configure, the
    admin API's config route) and what it is reset to between tests (its default)."""
    kinds = {"float": float, "int": int}
    return {f.name: kinds[str(f.type)] for f in fields(Behaviour) if not f.name.startswith("_")}
