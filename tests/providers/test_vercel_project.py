"""The Vercel project provider called directly, against the local Vercel API: reference,
create, adopt, delete only its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dill
import pytest

from envstack.errors import ResourceError
from providers.vercel_project import VercelProjectProvider
from tests.emulators.vercel.fixtures import VercelApi
from tests.providers.vercel_support import Calls, reach


@pytest.fixture
def api(vercel_api: VercelApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> VercelApi:
    reach(vercel_api, monkeypatch, tmp_path)
    return vercel_api


def inputs(api: VercelApi, project: str, *, create: bool) -> dict[str, Any]:
    return {"api_url": api.url, "team": api.team_slug, "project": project, "create": create, "framework": None}


def test_an_existing_project_is_referenced_by_name_or_id_and_never_deleted(api: VercelApi) -> None:
    project_id = api.create_project("hermes")["id"]
    provider = VercelProjectProvider()
    by_name = provider.create(inputs(api, "hermes", create=False))
    by_id = provider.create(inputs(api, project_id, create=False))
    assert by_name.id == by_id.id == project_id
    assert by_name.outs is not None
    assert (by_name.outs["name"], by_name.outs["created"]) == ("hermes", False)
    provider.delete(project_id, by_name.outs)
    assert api.projects_named("hermes") == [project_id]


def test_a_missing_project_is_named_in_the_error(api: VercelApi) -> None:
    with pytest.raises(ResourceError, match=f"'hermes' in team {api.team_slug} was not found"):
        VercelProjectProvider().create(inputs(api, "hermes", create=False))


def test_a_created_project_is_deleted_on_destroy(api: VercelApi) -> None:
    provider = VercelProjectProvider()
    result = provider.create(inputs(api, "hermes-staging", create=True))
    assert result.outs is not None
    assert result.outs["created"] is True
    assert api.projects_named("hermes-staging") == [result.id]
    provider.delete(result.id, result.outs)
    assert api.projects_named("hermes-staging") == []
    provider.delete(result.id, result.outs)  # already gone: fine


def test_a_name_already_taken_is_adopted_but_not_owned(api: VercelApi) -> None:
    existing = api.create_project("hermes")["id"]
    provider = VercelProjectProvider()
    result = provider.create(inputs(api, "hermes", create=True))
    assert result.outs is not None
    assert (result.id, result.outs["created"]) == (existing, False)
    provider.delete(result.id, result.outs)
    assert api.projects_named("hermes") == [existing]


def test_check_and_diff_make_no_calls(api: VercelApi) -> None:
    provider = VercelProjectProvider()
    assert [f.property for f in provider.check({}, inputs(api, "Hermes App", create=True)).failures] == ["project"]
    assert provider.check({}, inputs(api, "Hermes App", create=False)).failures == []
    olds = {**inputs(api, "hermes", create=False), "project_id": "prj_1", "name": "hermes", "created": False}
    assert provider.diff("prj_1", olds, inputs(api, "hermes", create=False)).changes is False
    assert provider.diff("prj_1", olds, inputs(api, "other", create=False)).replaces == ["project"]
    assert api.calls() == []


def test_refresh_forgets_a_project_deleted_elsewhere_and_the_provider_pickles(api: VercelApi) -> None:
    provider = dill.loads(dill.dumps(VercelProjectProvider(), recurse=True))  # noqa: S301 - our own object, pickled as Pulumi does
    project_id = api.create_project("hermes")["id"]
    outs = provider.create(inputs(api, "hermes", create=False)).outs
    assert provider.read(project_id, outs).id == project_id
    with api.http() as http:
        assert http.delete(f"/v9/projects/{project_id}").status_code == 204, "deleted in the dashboard"
    assert provider.read(project_id, outs).id == ""


def test_where_the_api_lives_is_never_a_replace_and_costs_no_call_to_compare(api: VercelApi) -> None:
    provider = VercelProjectProvider()
    project_id = api.create_project("hermes")["id"]
    olds = dict(provider.create(inputs(api, "hermes", create=False)).outs or {})
    assert olds["team_id"] == api.team, "the slug's team id, from the project's owner"
    calls = Calls(api)

    def diff(**change: Any) -> tuple[bool, list[str]]:
        found = provider.diff(project_id, olds, {**inputs(api, "hermes", create=False), **change})
        return bool(found.changes), list(found.replaces or [])

    assert diff(api_url=api.url + "/") == (False, []), "the same URL"
    assert diff(api_url=api.url.replace("http://", "HTTP://") + "/") == (False, []), "the same URL, spelled otherwise"
    assert diff(team=api.team) == (False, []), "the same team, by its id"
    assert diff(api_url="http://127.0.0.2:9") == (True, []), "re-read there, never replaced"
    assert diff(team="team_other") == (True, [])
    assert calls.all() == []

    updated = provider.update(project_id, olds, {**inputs(api, "hermes", create=False), "team": api.team})
    assert updated.outs is not None
    assert (updated.outs["project_id"], updated.outs["team"]) == (project_id, api.team)
    assert calls.methods() == ["GET"], "a read, no write"


def test_naming_the_same_project_otherwise_or_flipping_create_never_replaces(api: VercelApi) -> None:
    """A replace of a created project would delete it: only another project is a replace."""
    provider = VercelProjectProvider()
    created = provider.create(inputs(api, "hermes", create=True))
    project_id, olds = created.id, dict(created.outs or {})
    assert olds["created"] is True
    calls = Calls(api)

    def diff(**change: Any) -> tuple[bool, list[str]]:
        found = provider.diff(project_id, olds, {**inputs(api, "hermes", create=True), **change})
        return bool(found.changes), list(found.replaces or [])

    assert diff(project=project_id) == (True, []), "its id for its name: re-read, never replaced"
    assert diff(create=False) == (True, []), "the stack still made it"
    assert diff(project="another") == (True, ["project"]), "another project is a replace"
    assert calls.all() == []
    updated = provider.update(project_id, olds, {**inputs(api, "hermes", create=False), "project": project_id})
    assert updated.outs is not None
    assert (updated.outs["project_id"], updated.outs["created"]) == (project_id, True)
    assert calls.methods() == ["GET"], "a read, no write"
    provider.delete(project_id, updated.outs)
    assert api.projects_named("hermes") == [], "still the stack's own: destroy deletes it"
