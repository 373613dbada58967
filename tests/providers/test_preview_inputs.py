"""What providers see in a preview, as the engine sends it: `pulumi preview` of a stack whose
dependencies change (or that was never deployed) must not fail, and a stack with nothing to
change must show nothing to change.

The inputs go through the dynamic provider host's own deserialization, so a preview's
unknowns arrive as they really do (``pulumi.output.Unknown`` objects, not the wire string).
"""

from __future__ import annotations

import secrets
from typing import Any

from google.protobuf import struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime import rpc

from providers.supabase_project import SupabaseProjectProvider
from providers.vercel_env import VercelEnvironmentVariablesProvider


def as_the_engine_sends(props: dict[str, Any]) -> dict[str, Any]:
    wire = struct_pb2.Struct()
    wire.update(props)
    deserialized: dict[str, Any] = rpc.deserialize_properties(wire, True)
    return deserialized


def variables_inputs(variables: Any) -> dict[str, Any]:
    return {
        "api_url": "http://127.0.0.1:9",
        "team": "team_x",
        "project_id": "prj_x",
        "target": "preview",
        "git_branch": None,
        "variables": variables,
        "public_keys": [],
        "adopt": False,
        "comment": "managed by envstack (envstack/staging)",
    }


def test_variables_not_known_until_apply_pass_check_and_count_as_a_change() -> None:
    news = as_the_engine_sends(variables_inputs(rpc.UNKNOWN))
    provider = VercelEnvironmentVariablesProvider()
    assert provider.check({}, news).failures == []
    olds = {**variables_inputs({"A": "1"}), "ids": {}, "hashes": {}, "salt": "s", "types": {}}
    assert provider.diff("prj_x/preview", olds, news).changes is True


def test_one_unknown_value_passes_check_and_counts_as_a_change() -> None:
    news = as_the_engine_sends(variables_inputs({"A": "1", "B": rpc.UNKNOWN}))
    provider = VercelEnvironmentVariablesProvider()
    assert provider.check({}, news).failures == []
    olds = {**variables_inputs({"A": "1", "B": "2"}), "ids": {}, "hashes": {}, "salt": "s", "types": {}}
    assert provider.diff("prj_x/preview", olds, news).changes is True


def test_a_created_projects_generated_password_is_no_change() -> None:
    inputs = {
        "management_api": "http://127.0.0.1:9",
        "organization": "acme",
        "name": "hermes-staging",
        "region": "eu-central-1",
        "instance_size": "micro",
        "password_version": 0,
        "wait_timeout": 120,
        "adopt_ref": None,
        "db_password": None,
    }
    # The state holds the password the provider generated; the program never sets one.
    olds = {**inputs, "db_password": secrets.token_urlsafe(24), "adopted": False, "ref": "abcdefghijklmnopqrst"}
    diff = SupabaseProjectProvider().diff("abcdefghijklmnopqrst", olds, as_the_engine_sends(inputs))
    assert diff.changes is False


def test_an_adopted_projects_password_setting_still_counts() -> None:
    inputs = {
        "management_api": "http://127.0.0.1:9",
        "organization": "acme",
        "name": "hermes-production",
        "region": "eu-central-1",
        "instance_size": "small",
        "password_version": 0,
        "wait_timeout": 120,
        "adopt_ref": "abcdefghijklmnopqrst",
    }
    olds = {**inputs, "db_password": secrets.token_urlsafe(24), "adopted": True}
    news = {**inputs, "db_password": secrets.token_urlsafe(24)}
    assert SupabaseProjectProvider().diff("abcdefghijklmnopqrst", olds, news).changes is True
