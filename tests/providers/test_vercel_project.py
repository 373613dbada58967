"""The Vercel project provider called directly: reference, create, adopt, delete only its own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dill
import pytest

from envstack.errors import ResourceError
from providers import vercel_access
from providers.vercel_project import VercelProjectProvider
from tests.providers.fake_vercel import FakeVercel, new_token

API = "http://127.0.0.1:9"


@pytest.fixture
def vercel(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVercel]:
    token = new_token()
    monkeypatch.setenv("VERCEL_TOKEN", token)
    fake = FakeVercel(token=token)
    monkeypatch.setattr(vercel_access, "open_client", fake.client)
    yield fake
    assert fake.problems == []


def inputs(fake: FakeVercel, project: str, *, create: bool) -> dict[str, Any]:
    return {"api_url": API, "team": fake.team_slug, "project": project, "create": create, "framework": None}


def test_an_existing_project_is_referenced_by_name_or_id_and_never_deleted(vercel: FakeVercel) -> None:
    project_id = vercel.add_project("hermes")
    provider = VercelProjectProvider()
    by_name = provider.create(inputs(vercel, "hermes", create=False))
    by_id = provider.create(inputs(vercel, project_id, create=False))
    assert by_name.id == by_id.id == project_id
    assert by_name.outs is not None
    assert (by_name.outs["name"], by_name.outs["created"]) == ("hermes", False)
    provider.delete(project_id, by_name.outs)
    assert project_id in vercel.projects


def test_a_missing_project_is_named_in_the_error(vercel: FakeVercel) -> None:
    with pytest.raises(ResourceError, match="'hermes' in team fake-team was not found"):
        VercelProjectProvider().create(inputs(vercel, "hermes", create=False))


def test_a_created_project_is_deleted_on_destroy(vercel: FakeVercel) -> None:
    provider = VercelProjectProvider()
    result = provider.create(inputs(vercel, "hermes-staging", create=True))
    assert result.outs is not None
    assert result.outs["created"] is True
    assert vercel.projects[result.id]["name"] == "hermes-staging"
    provider.delete(result.id, result.outs)
    assert vercel.projects == {}
    provider.delete(result.id, result.outs)  # already gone: fine


def test_a_name_already_taken_is_adopted_but_not_owned(vercel: FakeVercel) -> None:
    existing = vercel.add_project("hermes")
    provider = VercelProjectProvider()
    result = provider.create(inputs(vercel, "hermes", create=True))
    assert result.outs is not None
    assert (result.id, result.outs["created"]) == (existing, False)
    provider.delete(result.id, result.outs)
    assert existing in vercel.projects


def test_check_and_diff_make_no_calls(vercel: FakeVercel) -> None:
    provider = VercelProjectProvider()
    assert [f.property for f in provider.check({}, inputs(vercel, "Hermes App", create=True)).failures] == ["project"]
    assert provider.check({}, inputs(vercel, "Hermes App", create=False)).failures == []
    olds = {**inputs(vercel, "hermes", create=False), "project_id": "prj_1", "name": "hermes", "created": False}
    assert provider.diff("prj_1", olds, inputs(vercel, "hermes", create=False)).changes is False
    assert provider.diff("prj_1", olds, inputs(vercel, "other", create=False)).replaces == ["project"]
    assert vercel.requests == []


def test_refresh_forgets_a_project_deleted_elsewhere_and_the_provider_pickles(vercel: FakeVercel) -> None:
    provider = dill.loads(dill.dumps(VercelProjectProvider(), recurse=True))  # noqa: S301 - our own object, pickled as Pulumi does
    project_id = vercel.add_project("hermes")
    outs = provider.create(inputs(vercel, "hermes", create=False)).outs
    assert provider.read(project_id, outs).id == project_id
    del vercel.projects[project_id]
    assert provider.read(project_id, outs).id == ""


def test_where_the_api_lives_is_never_a_replace_and_costs_no_call_to_compare(vercel: FakeVercel) -> None:
    provider = VercelProjectProvider()
    project_id = vercel.add_project("hermes")
    olds = dict(provider.create(inputs(vercel, "hermes", create=False)).outs or {})
    assert olds["team_id"] == vercel.team_id, "the slug's team id, from the project's owner"
    vercel.forget_requests()

    def diff(**change: Any) -> tuple[bool, list[str]]:
        found = provider.diff(project_id, olds, {**inputs(vercel, "hermes", create=False), **change})
        return bool(found.changes), list(found.replaces or [])

    assert diff(api_url=API + "/") == (False, []), "the same URL"
    assert diff(api_url="HTTP://127.0.0.1:9/") == (False, []), "the same URL, spelled otherwise"
    assert diff(team=vercel.team_id) == (False, []), "the same team, by its id"
    assert diff(api_url="http://127.0.0.2:9") == (True, []), "re-read there, never replaced"
    assert diff(team="team_other") == (True, [])
    assert vercel.requests == []

    updated = provider.update(project_id, olds, {**inputs(vercel, "hermes", create=False), "team": vercel.team_id})
    assert updated.outs is not None
    assert (updated.outs["project_id"], updated.outs["team"]) == (project_id, vercel.team_id)
    assert [r.method for r in vercel.requests] == ["GET"], "a read, no write"


def test_naming_the_same_project_otherwise_or_flipping_create_never_replaces(vercel: FakeVercel) -> None:
    """A replace of a created project would delete it: only another project is a replace."""
    provider = VercelProjectProvider()
    created = provider.create(inputs(vercel, "hermes", create=True))
    project_id, olds = created.id, dict(created.outs or {})
    assert olds["created"] is True
    vercel.forget_requests()

    def diff(**change: Any) -> tuple[bool, list[str]]:
        found = provider.diff(project_id, olds, {**inputs(vercel, "hermes", create=True), **change})
        return bool(found.changes), list(found.replaces or [])

    assert diff(project=project_id) == (True, []), "its id for its name: re-read, never replaced"
    assert diff(create=False) == (True, []), "the stack still made it"
    assert diff(project="another") == (True, ["project"]), "another project is a replace"
    assert vercel.requests == []
    updated = provider.update(project_id, olds, {**inputs(vercel, "hermes", create=False), "project": project_id})
    assert updated.outs is not None
    assert (updated.outs["project_id"], updated.outs["created"]) == (project_id, True)
    assert [r.method for r in vercel.requests] == ["GET"], "a read, no write"
    provider.delete(project_id, updated.outs)
    assert project_id not in vercel.projects, "still the stack's own: destroy deletes it"
