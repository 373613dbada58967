"""Stacks made before a change of layout keep working after it.

A dynamic provider is pickled by reference into each resource's state (its module path and
class name); `refresh` and `destroy` load it from there. This test brings staging up, swaps
every resource's pickled provider for the one commit 8e8bac2 (the last commit before the
envstack/ layout of issue 13) wrote, and runs refresh, a no-op up and destroy on today's code.

`ENVSTACK_RECORD_OLD_LAYOUT=1` rewrote the recording; it was run once, on that commit.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import pickletools
from pathlib import Path
from typing import Any

import pytest

from tests.integration.convergence import PROJECT, PROJECT_NAME, Staging

pytestmark = pytest.mark.engine

RECORDING = Path(__file__).resolve().parents[1] / "reference" / "old_layout_providers.json"


def provider_blobs(deployment: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(the secret that holds it, the pickled provider) for every dynamic resource in a state
    exported with --show-secrets: the SDK stores `__provider` as a secret."""
    found = []
    for resource in deployment.get("resources") or []:
        for part in ("inputs", "outputs"):
            secret = (resource.get(part) or {}).get("__provider")
            if isinstance(secret, dict) and "plaintext" in secret:
                found.append((secret, json.loads(secret["plaintext"])))
    return found


def pickled_class(blob: str) -> str:
    """`module.Class` of a pickled provider, read without importing anything."""
    strings = [arg for op, arg, _ in pickletools.genops(base64.b64decode(blob)) if isinstance(arg, str)]
    for module, name in itertools.pairwise(strings):
        if module.startswith("providers.") and name[:1].isupper():
            return f"{module}.{name}"
    raise AssertionError(f"no provider class in a pickled provider: {strings[:6]}")


def swap_in_old_providers(state: dict[str, Any], old: dict[str, str]) -> int:
    swapped = 0
    for secret, blob in provider_blobs(state["deployment"]):
        name = pickled_class(blob).rsplit(".", 1)[1]
        assert name in old, f"no recording of provider {name}: record again on the old layout"
        secret["plaintext"] = json.dumps(old[name])
        swapped += 1
    return swapped


def export_state(staging: Staging) -> dict[str, Any]:
    proc = staging.copy.run("pulumi", "stack", "export", "--stack", "staging", "--show-secrets")
    assert proc.returncode == 0, "pulumi stack export failed"
    state: dict[str, Any] = json.loads(proc.stdout)
    return state


def import_state(staging: Staging, state: dict[str, Any], path: Path) -> None:
    """Import a state that holds secrets in plain text (the engine encrypts them again); the file
    goes at once."""
    path.write_text(json.dumps(state))
    try:
        proc = staging.copy.run("pulumi", "stack", "import", "--stack", "staging", "--file", str(path))
    finally:
        path.unlink()
    assert proc.returncode == 0, "pulumi stack import failed"


def test_a_stack_from_the_old_layout_refreshes_updates_and_destroys(fresh_staging: Staging, tmp_path: Path) -> None:
    staging = fresh_staging
    staging.up()
    state = export_state(staging)
    if os.environ.get("ENVSTACK_RECORD_OLD_LAYOUT"):
        recording = {pickled_class(b).rsplit(".", 1)[1]: b for _, b in provider_blobs(state["deployment"])}
        RECORDING.write_text(json.dumps(dict(sorted(recording.items())), indent=2) + "\n")
    old = json.loads(RECORDING.read_text())
    assert all(pickled_class(blob).startswith("providers.") for blob in old.values())

    assert swap_in_old_providers(state, old) >= len(old)
    import_state(staging, state, tmp_path / "old.json")
    staging.stack.refresh(on_output=staging.copy.on_output)
    result = staging.up()
    changed = {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}
    assert changed == {}, f"a no-op up on the old layout's state changed {changed}"

    # The up may have written today's pickles; destroy must work from the old ones as well.
    state = export_state(staging)
    swap_in_old_providers(state, old)
    import_state(staging, state, tmp_path / "old-again.json")
    staging.stack.destroy(on_output=staging.copy.on_output)

    assert staging.supabase.emulator.state.projects_of(staging.supabase.tenant) == [], (
        f"{PROJECT_NAME} is gone after destroy"
    )
    assert [v.key for v in staging.vercel.env_vars(PROJECT)] == [], "the stack's variables are gone after destroy"
