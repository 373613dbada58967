"""Which modules a stack's pickled providers need, read without unpickling (envstack/ops/provider_modules.py)."""

from __future__ import annotations

import base64
import json
import pickle
from pathlib import Path
from typing import Any

import dill
import pytest

from envstack.ops.provider_modules import importable, missing, pickled_modules
from providers.generated_secret import GeneratedSecretProvider
from providers.supabase_api_keys import ApiKeyRetirementProvider, SupabaseApiKeysProvider

ROOT = Path(__file__).resolve().parents[2]
RECORDED = json.loads((ROOT / "tests" / "reference" / "old_layout_providers.json").read_text())
SIG = "4dabf18193072939515e22adb298388d"


def sdk_pickle(provider: object) -> str:
    """The provider as the SDK pickles it into a resource's inputs (pulumi/dynamic/dynamic.py)."""
    return base64.b64encode(dill.dumps(provider, protocol=pickle.DEFAULT_PROTOCOL, recurse=True)).decode()


def shown(blob: str) -> dict[str, str]:
    """A secret as `pulumi stack export --show-secrets` writes it."""
    return {SIG: "1b47061264138c4ac30d75fd1eb44270", "plaintext": json.dumps(blob)}


def resource(urn: str, blob: Any) -> dict[str, Any]:
    return {"urn": urn, "inputs": {"__provider": blob}, "outputs": {"__provider": blob}}


def test_each_recorded_provider_names_its_own_module() -> None:
    """Providers pickled by the SDK of an earlier layout (tests/reference/old_layout_providers.json)."""
    assert RECORDED
    for class_name, blob in RECORDED.items():
        modules = pickled_modules(base64.b64decode(blob))
        assert len(modules) == 1, (class_name, modules)
        assert next(iter(modules)).startswith("providers."), (class_name, modules)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_every_pickle_protocol_and_a_module_named_twice(protocol: int) -> None:
    """Protocols 0-3 name a class's module in the GLOBAL opcode; 4 and 5 push the names as
    strings (the second time from the memo) before STACK_GLOBAL."""
    both = [ApiKeyRetirementProvider(), SupabaseApiKeysProvider(), GeneratedSecretProvider()]
    modules = pickled_modules(dill.dumps(both, protocol=protocol))
    assert {"providers.supabase_api_keys", "providers.generated_secret"} <= modules
    assert not any(m.endswith("Provider") for m in modules), "a class name is not a module"


def make_checkout(tmp_path: Path, *modules: str) -> Path:
    for module in modules:
        path = tmp_path.joinpath(*module.split("."))
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.with_name(f"{path.name}.py").write_text("")
    return tmp_path


def test_a_checkout_without_a_provider_module_is_named_with_the_resources_that_need_it(tmp_path: Path) -> None:
    keys, secret = sdk_pickle(SupabaseApiKeysProvider()), sdk_pickle(GeneratedSecretProvider())
    deployment = {
        "resources": [resource("urn:keys", shown(keys)), resource("urn:secret", shown(secret))],
        "pending_operations": [{"type": "creating", "resource": resource("urn:secret-2", shown(secret))}],
    }
    head = make_checkout(tmp_path / "head", "providers.supabase_api_keys", "providers.generated_secret")
    base = make_checkout(tmp_path / "base", "providers.supabase_api_keys")
    assert missing(deployment, head) == {}
    assert missing(deployment, base) == {"providers.generated_secret": ["urn:secret", "urn:secret-2"]}


def test_installed_modules_are_found_and_an_unreadable_provider_is_left_to_the_engine(tmp_path: Path) -> None:
    class Local:  # defined here, so dill pickles it by value: it needs only dill and builtins
        pass

    by_value = sdk_pickle(Local())
    assert "dill._dill" in pickled_modules(base64.b64decode(by_value))
    encrypted = {SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:abc"}
    deployment = {
        "resources": [resource("urn:a", shown(by_value)), resource("urn:b", encrypted), resource("urn:c", "%%")]
    }
    assert missing(deployment, tmp_path) == {}
    assert not importable("no_such_package_anywhere.module", tmp_path)
    assert importable("providers.vercel_env", ROOT)
    assert not importable("providers.no_such_provider", ROOT)
