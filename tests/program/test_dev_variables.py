"""The dev stack's variable names against staging's, evaluated under Pulumi's mocks: only the
names the README's dev section lists as having no local meaning differ."""

from __future__ import annotations

import re
import runpy
from typing import Any

import pulumi

from envstack.variables import DEFAULT_NAMES
from tests.program.harness import ROOT, GraphMocks, RecordingMonitor
from tests.program.test_program_graph import stack_config


def program_globals(stack: str) -> dict[str, Any]:
    """What __main__.py leaves defined for ``stack`` (its ``variables`` among them)."""
    mocks = GraphMocks()
    pulumi.runtime.set_mocks(mocks, project="envstack", stack=stack, preview=True, monitor=RecordingMonitor(mocks))
    pulumi.runtime.set_all_config(stack_config(stack))
    found: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def evaluate() -> None:
        found.update(runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"))

    evaluate()
    return found


def documented_dev_exceptions() -> set[str]:
    """The names the README's dev section says `.env.local` does not carry."""
    readme = (ROOT / "README.md").read_text()
    paragraph = re.search(r"Not in `\.env\.local`, because(.*?)\n\n", readme, re.S)
    assert paragraph, "the README's dev section lists the names .env.local does not carry"
    # Up to "Every other name", the sentence after the list.
    listed = paragraph.group(1).split("Every other name")[0]
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", listed))


def test_dev_carries_every_name_staging_writes_but_the_documented_ones() -> None:
    dev = set(program_globals("dev")["variables"].values)
    staging = set(program_globals("staging")["variables"].values)
    exceptions = documented_dev_exceptions()
    assert exceptions, "the README names at least the Supabase API keys"
    assert dev - staging == set(), "dev has no name staging lacks"
    assert staging - dev == exceptions, "only the documented names are missing from .env.local"
    assert "POSTGRES_READ_REPLICA_URL" in dev
    assert staging == set(DEFAULT_NAMES), "staging writes every default name"


def test_dev_declares_staging_login_roles_and_database_access() -> None:
    from tests.program.harness import run_program

    graph = run_program("dev", stack_config("dev"))
    roles = {r.name: r.inputs for r in graph.resources if r.type.endswith("postgres:LoginRoles")}
    assert {name: (i["group"], i["access"]) for name, i in roles.items()} == {
        "dev-app-login-roles": ("hermes_app", "read_write"),
        "dev-read-only-login-roles": ("hermes_reader", "read_only"),
    }
    # The admin connection is the superuser on the server's own socket: no password anywhere.
    admin = next(iter(roles.values()))["admin_url"]
    assert "user=postgres" in admin
    assert "password" not in admin
    access = [r for r in graph.resources if r.type.endswith("local:DatabaseAccess")]
    assert [(r.inputs["database"], r.inputs["owner"]) for r in access] == [("hermes_dev", "hermes_dev")]
