"""Each dynamic resource states its data once: outputs as annotations, secret ones among them."""

from __future__ import annotations

import importlib
import pkgutil

import pulumi

import providers
from providers.declared import Declared, output_names, type_token
from providers.supabase_signing_keys import Rotation, SigningKeyRotation
from providers.vercel_env import VercelEnvironmentVariables


def resource_classes() -> list[type[pulumi.dynamic.Resource]]:
    for module in pkgutil.iter_modules(providers.__path__):
        importlib.import_module(f"providers.{module.name}")
    found: list[type[pulumi.dynamic.Resource]] = []
    pending = list(pulumi.dynamic.Resource.__subclasses__())
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if cls.__module__.startswith("providers.") and cls is not Declared:
            found.append(cls)
    return found


def test_every_resource_declares_its_data_and_marks_secrets_among_its_outputs() -> None:
    classes = resource_classes()
    assert len(classes) >= 14
    for cls in classes:
        assert issubclass(cls, Declared), f"{cls.__name__} declares its outputs through providers.declared"
        outputs = output_names(cls)
        assert outputs, cls.__name__
        assert set(cls.secret_outputs) <= set(outputs), f"{cls.__name__}: a secret output it does not declare"


def test_signing_key_rotation_declares_every_field_of_its_state() -> None:
    assert set(Rotation.__dataclass_fields__) <= set(output_names(SigningKeyRotation))


def test_type_tokens_come_from_the_classes() -> None:
    assert type_token(VercelEnvironmentVariables) == "pulumi-python:dynamic/vercel:EnvironmentVariables"
