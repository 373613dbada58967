"""The Supabase project and branch providers called directly, against the local Management API."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from typing import Any

import dill
import pulumi
import pytest

from envstack.db.connect import connect
from envstack.errors import NotFound, ResourceError
from providers.supabase_branch import SupabaseBranchProvider
from providers.supabase_project import SupabaseProjectProvider, _organization_problem
from tests.emulators.common.faults import FaultRule
from tests.emulators.supabase.testing import healthy_project

SECRET_KEYS = ("db_password", "anon_key", "service_role_key", "jwt_secret")


@pytest.fixture
def api(supabase_api: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", supabase_api.token)
    # The tests open the direct host (db.<ref>, IPv6-only) as a machine with IPv6 does.
    supabase_api.configure(ipv6_route=True)
    return supabase_api


def props(api: Any, **changes: Any) -> dict[str, Any]:
    return {
        "management_api": api.url,
        "organization": api.org_slug,
        "name": f"hermes-{secrets.token_hex(3)}",
        "region": "eu-central-1",
        "instance_size": "micro",
        "adopt_ref": None,
        # What the stack's GeneratedSecret records before the project exists.
        "db_password": secrets.token_urlsafe(30),
        "password_version": 0,
        "allow_replace": False,
        "wait_timeout": 60,
        **changes,
    }


def direct_url(outs: dict[str, Any], password: str | None = None) -> str:
    return f"postgresql://postgres:{password or outs['db_password']}@{outs['db_host']}:5432/postgres?sslmode=require"


def projects_named(api: Any, name: str) -> list[str]:
    listed = api.client().get(f"/v1/organizations/{api.org_slug}/projects", params={"search": name}).json()
    return [p["ref"] for p in listed["projects"] if p["name"] == name]


def test_create_read_update_delete(api: Any) -> None:
    provider = SupabaseProjectProvider()
    inputs = props(api)
    assert provider.check({}, inputs).failures == []
    created = provider.create(inputs)
    ref, outs = created.id, dict(created.outs or {})
    assert api.project_status(ref) == "ACTIVE_HEALTHY"
    for key in SECRET_KEYS:
        assert outs[key], key
    with connect(direct_url(outs)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)

    read = provider.read(ref, outs)
    assert read.id == ref
    assert read.outs is not None
    assert read.outs["db_host"] == outs["db_host"]

    renamed = {**inputs, "name": inputs["name"] + "-renamed", "instance_size": "small", "password_version": 1}
    assert provider.diff(ref, outs, renamed).changes
    assert not provider.diff(ref, outs, {**inputs, "wait_timeout": 5}).changes, "a new timeout needs no call"
    updated = dict(provider.update(ref, outs, renamed).outs or {})
    info = api.project(ref)
    assert (info.name, info.instance_size) == (renamed["name"], "small")
    assert updated["db_password"] != outs["db_password"], "a new password_version sets a new password"
    with connect(direct_url(updated)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)

    provider.delete(ref, updated)
    assert api.project_status(ref) is None
    assert provider.read(ref, updated).id == "", "a project deleted behind our back leaves the state"
    provider.delete(ref, updated)  # already gone: a no-op


def test_a_resize_is_waited_out_before_anything_else_is_asked_of_the_project(api: Any) -> None:
    """A new compute size restarts the project (RESIZING): the update waits until it is
    healthy again before it sets a new password and reads what the app needs."""
    api.configure(resize_seconds=2)
    provider = SupabaseProjectProvider()
    inputs = props(api)
    created = provider.create(inputs)
    outs = dict(created.outs or {})
    bigger = {**inputs, "instance_size": "small", "password_version": 1}
    updated = dict(provider.update(created.id, outs, bigger).outs or {})
    assert updated["status"] == "ACTIVE_HEALTHY"
    assert api.project(created.id).instance_size == "small"
    with connect(direct_url(updated)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_project_going_down_does_not_stand_in_its_successors_way(api: Any) -> None:
    """Supabase deletes in the background: a deleted project stays listed, GOING_DOWN, for a
    while. A stack torn down and brought up again under the same name (a pull request closed
    and reopened, staging rebuilt) makes its new project, neither waiting on the old one nor
    refusing over it as someone else's."""
    api.configure(removal_seconds=600)
    provider = SupabaseProjectProvider()
    inputs = props(api)
    first = provider.create(inputs)
    provider.delete(first.id, dict(first.outs or {}))
    assert api.project_status(first.id) == "GOING_DOWN"
    assert projects_named(api, inputs["name"]) == [first.id], "still listed while it goes down"

    again = {**inputs, "db_password": secrets.token_urlsafe(30)}  # a new stack's own password
    assert provider.check({}, again).failures == []
    second = provider.create(again)
    assert second.id != first.id
    assert api.project_status(second.id) == "ACTIVE_HEALTHY"
    with connect(direct_url(dict(second.outs or {}))) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    api.advance_clock(600)
    assert api.project_status(first.id) is None, "gone once Supabase is done"
    assert projects_named(api, inputs["name"]) == [second.id]

    # Deleted in the dashboard: a refresh drops it while it goes down, and no later up is
    # left pointing the app at a database about to disappear.
    with api.client() as client:
        assert client.delete(f"/v1/projects/{second.id}").status_code == 200
    assert api.project_status(second.id) == "GOING_DOWN"
    assert provider.read(second.id, dict(second.outs or {})).id == ""


def test_a_refresh_drops_the_project_only_when_the_project_itself_is_gone(api: Any) -> None:
    """A 404 from a live project's pooler settings fails the read: returning no id would drop a
    project that still exists (and is billed), and a later destroy would leave it running."""
    provider = SupabaseProjectProvider()
    created = provider.create(props(api))
    outs = dict(created.outs or {})
    api.faults.add(FaultRule(path=f"/v1/projects/{created.id}/config/database/pooler", method="GET", status=404))
    with pytest.raises(NotFound):
        provider.read(created.id, outs)
    assert provider.read(created.id, outs).id == created.id, "the next refresh, answered, keeps it"
    provider.delete(created.id, outs)


def test_adopting_by_ref_never_deletes(api: Any) -> None:
    provider = SupabaseProjectProvider()
    owner = provider.create(props(api))
    password = owner.outs["db_password"] if owner.outs else ""
    adopted = provider.create(props(api, adopt_ref=owner.id, db_password=password, organization=None))
    assert adopted.id == owner.id
    assert adopted.outs is not None
    assert adopted.outs["adopted"] is True
    assert adopted.outs["db_password"] == password, "adopting does not reset the password"
    provider.delete(adopted.id, dict(adopted.outs))
    assert api.project_status(owner.id) == "ACTIVE_HEALTHY", "an adopted project is only forgotten"


def test_a_lost_create_answer_adopts_the_project_it_made(api: Any) -> None:
    api.faults.add(FaultRule(path="/v1/projects", method="POST", action="drop", when="after"))
    inputs = props(api)
    created = SupabaseProjectProvider().create(inputs)
    assert projects_named(api, inputs["name"]) == [created.id], "one project, not two"
    assert created.outs is not None
    with connect(direct_url(dict(created.outs))) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,), "the password sent with the lost create works"


def test_a_run_that_died_after_creating_is_found_by_name(api: Any) -> None:
    inputs = props(api)
    first = SupabaseProjectProvider().create(inputs)  # its outputs were never saved
    assert SupabaseProjectProvider().check({}, inputs).failures == [], "the recorded password proves it ours"
    again = SupabaseProjectProvider().create(inputs)
    assert again.id == first.id
    assert projects_named(api, inputs["name"]) == [first.id]
    assert again.outs is not None
    assert not [c for c in api.calls() if c.method in ("PATCH", "DELETE")], "nothing reset, nothing deleted"
    with connect(direct_url(dict(again.outs))) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,), "the password recorded before the create opens it"


def someone_elses_project(api: Any, name: str) -> tuple[str, str]:
    password = secrets.token_urlsafe(24)
    body = {"name": name, "organization_slug": api.org_slug, "db_pass": password}
    made = api.client().post("/v1/projects", json=body)
    assert made.status_code == 201
    api.wait_for_status(made.json()["ref"])
    return made.json()["ref"], password


def writes(api: Any) -> list[str]:
    return [f"{c.method} {c.path}" for c in api.calls() if c.method != "GET"]


@pytest.mark.parametrize("password_known", [True, False], ids=["password-recorded", "first-preview"])
def test_a_project_of_the_same_name_that_is_not_ours_is_refused(api: Any, password_known: bool) -> None:
    """Never adopted by name: its password is not reset, nothing is written, and the sentence
    names the project, its ref and the two ways out."""
    from pulumi.runtime import rpc

    inputs = props(api)
    foreign, password = someone_elses_project(api, inputs["name"])
    before = writes(api)
    provider = SupabaseProjectProvider()
    asked = inputs if password_known else {**inputs, "db_password": rpc.UNKNOWN}
    failures = provider.check({}, asked).failures
    assert [f.property for f in failures] == ["name"]
    reason = failures[0].reason
    assert f"Supabase project {inputs['name']!r} ({foreign}) already exists" in reason
    assert f"set supabase:projectRef {foreign}" in reason
    assert "another supabase:projectName" in reason
    with pytest.raises(ResourceError, match=rf"\({foreign}\) already exists .* nothing was changed"):
        provider.create(inputs)
    assert writes(api) == before, "zero writes"
    assert projects_named(api, inputs["name"]) == [foreign]
    with connect(direct_url({"db_host": api.project(foreign).db_host}, password)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,), "its owner's password still works"


def test_changing_what_identifies_a_project_needs_allow_replace(api: Any) -> None:
    provider = SupabaseProjectProvider()
    olds = props(api)
    moved = {**olds, "region": "us-east-1"}
    failures = provider.check(olds, moved).failures
    assert [f.property for f in failures] == ["region"]
    assert f"would replace Supabase project {olds['name']!r}" in failures[0].reason
    assert "supabase:allowReplace" in failures[0].reason
    assert provider.check(olds, {**moved, "allow_replace": True}).failures == []
    assert provider.diff("ref", olds, {**moved, "allow_replace": True}).replaces == ["region"]


def test_a_replacement_onto_a_name_someone_else_holds_is_refused_before_the_delete(api: Any) -> None:
    """A replacement into another organization deletes the old project first, then creates: a
    name taken there by someone else's project must stop it in the preview, not leave the stack
    with no project at all. (The stack moves from an organization of its own to the test's.)"""
    provider = SupabaseProjectProvider()
    olds = props(api, organization="hermes-old-org")
    news = {**props(api), "allow_replace": True}
    assert provider.diff("ref", olds, news).replaces == ["organization"]
    foreign, _ = someone_elses_project(api, news["name"])
    failures = provider.check(olds, news).failures
    assert [f.property for f in failures] == ["name"]
    assert f"Supabase project {news['name']!r} ({foreign}) already exists" in failures[0].reason


ORGANIZATIONS = ("GET", "/v1/organizations")


def organization_reads(api: Any, since: int) -> int:
    return sum(1 for c in api.calls()[since:] if (c.method, c.path) == ORGANIZATIONS)


def test_the_organization_is_asked_only_when_its_answer_can_have_changed(api: Any) -> None:
    provider = SupabaseProjectProvider()
    news = props(api)
    before = len(api.calls())
    assert provider.check({}, news).failures == []
    assert organization_reads(api, before) == 1, "a project not created yet: its organization is checked"

    before = len(api.calls())
    assert provider.check(news, news).failures == []
    assert provider.check(news, {**news, "management_api": api.url + "/"}).failures == []
    assert provider.check(news, {**news, "name": "hermes-renamed", "instance_size": "small"}).failures == []
    assert api.calls()[before:] == [], "the same organization in the same API: nothing is asked"

    for allow_replace in (False, True):
        before = len(api.calls())
        moved = {**news, "organization": "someone-elses", "allow_replace": allow_replace}
        failures = provider.check(news, moved).failures
        assert [f.property for f in failures] == [""], "the sentence names the setting, not the input"
        assert failures[0].reason == (
            "Invalid stack setting supabase:organization: no organization 'someone-elses' is visible to "
            f"SUPABASE_ACCESS_TOKEN (it sees: {api.org_slug})."
        )
        assert organization_reads(api, before) == 1


def test_an_organization_that_cannot_be_checked_only_warns(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    assert _organization_problem(props(api, management_api=closed), warnings.append) is None
    assert len(warnings) == 1
    assert warnings[0].startswith("supabase:organization was not checked: supabase GET /v1/organizations failed")
    assert "sbp_" not in warnings[0]

    monkeypatch.delenv("SUPABASE_ACCESS_TOKEN")
    monkeypatch.setattr(pulumi.log, "warn", warnings.append)
    before = len(api.calls())
    assert SupabaseProjectProvider().check({}, props(api)).failures == []
    assert warnings[1:] == ["supabase:organization was not checked: SUPABASE_ACCESS_TOKEN is not set"]
    assert api.calls()[before:] == []


def test_where_the_api_lives_is_not_what_exists(api: Any) -> None:
    provider = SupabaseProjectProvider()
    olds = props(api)
    same = provider.diff("ref", olds, {**olds, "management_api": api.url + "/"})
    assert (same.changes, same.replaces) == (False, [])
    moved = provider.diff("ref", olds, {**olds, "management_api": "http://127.0.0.2:1"})
    assert (moved.changes, moved.replaces) == (True, []), "recorded in place, never replaced"
    assert provider.check(olds, {**olds, "management_api": api.url + "/"}).failures == []


def test_delete_waits_out_not_ready_for_deletion(api: Any) -> None:
    api.configure(provisioning_delay=1.5)
    inputs = props(api)
    created = api.client().post(
        "/v1/projects",
        json={"name": inputs["name"], "organization_slug": api.org_slug, "db_pass": secrets.token_urlsafe(16)},
    )
    assert created.status_code == 201
    ref = created.json()["ref"]
    refused = api.client().delete(f"/v1/projects/{ref}")
    assert (refused.status_code, refused.json()) == (400, {"message": "Project not ready for deletion."})
    SupabaseProjectProvider().delete(ref, inputs)
    assert api.project_status(ref) is None


def test_an_unknown_ref_and_a_bad_token_fail_clearly(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = SupabaseProjectProvider()
    with pytest.raises(Exception, match="404 Project not found"):
        provider.create(props(api, adopt_ref="abcdefghijklmnopqrst", db_password="x" * 12))
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", "sbp_" + secrets.token_hex(20))
    with pytest.raises(Exception, match="401") as caught:
        provider.create(props(api))
    assert "sbp_" not in str(caught.value), "the token is never in an error"


def test_providers_survive_pickling() -> None:
    for provider in (SupabaseProjectProvider(), SupabaseBranchProvider()):
        # Pulumi pickles providers with dill; this is our own object, not untrusted data.
        assert type(dill.loads(dill.dumps(provider, recurse=True))) is type(provider)  # noqa: S301


def branch_inputs(api: Any, parent: str) -> dict[str, Any]:
    return {
        "management_api": api.url,
        "parent_ref": parent,
        "name": f"pr-7-{secrets.token_hex(5)}",
        "git_branch": "feature/leads",
        "wait_timeout": 60,
    }


def test_a_branch_is_a_database_of_its_own_and_goes_unless_made_persistent(api: Any) -> None:
    parent = SupabaseProjectProvider().create(props(api))
    provider = SupabaseBranchProvider()
    inputs = branch_inputs(api, parent.id)
    created = provider.create(inputs)
    outs = dict(created.outs or {})
    assert outs["ref"] != parent.id
    assert outs["db_password"]
    with connect(direct_url(outs)) as conn:
        conn.execute("CREATE TABLE only_here (n int)")
    assert parent.outs is not None
    with connect(direct_url(dict(parent.outs))) as conn:
        assert conn.execute("SELECT to_regclass('public.only_here')").fetchone() == (None,)
    assert provider.create(inputs).id == created.id, "an interrupted run finds its claimed name"
    assert not provider.diff(created.id, outs, {**inputs, "name": "pr-7"}).changes, "the name is fixed at create"

    provider.read(created.id, outs)
    provider.delete(created.id, outs)
    assert api.project_status(outs["ref"]) is None
    provider.delete(created.id, outs)  # a second delete is a no-op
    # By its ref: the API calls the id form of /v1/branches/{branch_id_or_ref} deprecated.
    asked = {c.path.removeprefix("/v1/branches/") for c in api.calls() if c.path.startswith("/v1/branches/")}
    assert asked == {outs["ref"]}

    kept = provider.create(branch_inputs(api, parent.id))
    made_persistent = api.client().patch(f"/v1/branches/{kept.id}", json={"persistent": True})
    assert made_persistent.status_code == 200
    provider.delete(kept.id, dict(kept.outs or {}))
    assert api.project_status(dict(kept.outs or {})["ref"]) == "ACTIVE_HEALTHY", "someone chose to keep it"
    patches = [c for c in api.calls() if c.method == "PATCH"]
    assert len(patches) == 1, "only the test's own: never switched back to ephemeral"


@pytest.mark.parametrize("status", [502, 503])
def test_a_branch_create_answered_after_the_fact_makes_one_branch(api: Any, status: int) -> None:
    parent = SupabaseProjectProvider().create(props(api))
    inputs = branch_inputs(api, parent.id)
    api.faults.add(FaultRule(path=r"/v1/projects/\w+/branches", method="POST", status=status, when="after"))
    created = SupabaseBranchProvider().create(inputs)
    listed = api.client().get(f"/v1/projects/{parent.id}/branches").json()
    assert [b["id"] for b in listed if b["name"] == inputs["name"]] == [created.id]
    posts = [c.status for c in api.calls() if c.method == "POST" and c.path.endswith("/branches")]
    assert posts == [status]


# -- when the create call fails: never a second project ------------------------------------


def named(api: Any, name: str) -> list[str]:
    return [p.ref for p in api.emulator.state.projects_of(api.tenant) if p.name == name]


def creates(api: Any) -> list[int | None]:
    return [c.status for c in api.calls() if c.method == "POST" and c.path == "/v1/projects"]


def test_a_500_to_the_create_is_retried_once_nothing_of_that_name_exists(api: Any) -> None:
    api.faults.add(FaultRule(path="/v1/projects", method="POST", status=500, body={"message": "boom"}))
    inputs = props(api)
    created = SupabaseProjectProvider().create(inputs)
    assert creates(api) == [500, 201]
    assert named(api, inputs["name"]) == [created.id]
    outs = dict(created.outs or {})
    url = f"postgresql://postgres:{outs['db_password']}@{outs['db_host']}:5432/postgres?sslmode=require"
    with connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


AFTER_THE_FACT = {
    "502": FaultRule(path="/v1/projects", method="POST", status=502, when="after"),
    "503": FaultRule(path="/v1/projects", method="POST", status=503, when="after"),
    "reset": FaultRule(path="/v1/projects", method="POST", action="drop", when="after"),
    "timeout": FaultRule(path="/v1/projects", method="POST", action="delay", delay=1.5, when="after"),
}


@pytest.mark.parametrize("fault", AFTER_THE_FACT, ids=list(AFTER_THE_FACT))
def test_a_failure_after_the_project_was_made_uses_it(api: Any, fault: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A gateway's 502 or 503, a reset or a timeout after Supabase made the project: one project."""
    monkeypatch.setenv("ENVSTACK_HTTP_TIMEOUT", "0.5")
    rule = AFTER_THE_FACT[fault]
    api.faults.add(FaultRule(**{k: getattr(rule, k) for k in ("path", "method", "status", "action", "when", "delay")}))
    inputs = props(api)
    created = SupabaseProjectProvider().create(inputs)
    # A delayed answer is recorded once the server is done waiting: poll for it, with a deadline.
    deadline = time.monotonic() + 10
    while not creates(api) and time.monotonic() < deadline:
        time.sleep(0.05)
    sent = {"reset": None, "timeout": 201}.get(fault, int(fault) if fault.isdigit() else None)
    assert creates(api) == [sent], "found by name, never sent again"
    assert named(api, inputs["name"]) == [created.id]
    with connect(direct_url(dict(created.outs or {}))) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_project_the_server_makes_after_the_client_gave_up_is_found_not_made_twice(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer is not lost after the fact: the server is still at work when the client's
    read times out, and makes the project a second later. Looked for at once, it is not there
    yet; it is looked for again until it is, and never asked for a second time."""
    monkeypatch.setenv("ENVSTACK_HTTP_TIMEOUT", "0.5")
    monkeypatch.setenv("ENVSTACK_CREATE_SETTLE_SECONDS", "10")
    api.faults.add(FaultRule(path="/v1/projects", method="POST", action="delay", delay=1.5, when="before"))
    inputs = props(api)
    created = SupabaseProjectProvider().create(inputs)
    deadline = time.monotonic() + 10
    while not creates(api) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert creates(api) == [201], "sent once"
    assert named(api, inputs["name"]) == [created.id]


def test_a_create_that_keeps_failing_gives_up_clearly(api: Any) -> None:
    api.faults.add(FaultRule(path="/v1/projects", method="POST", status=500, count=5))
    inputs = props(api)
    with pytest.raises(ResourceError, match=r"failed 3 times .* and it does not exist; run `pulumi up` again"):
        SupabaseProjectProvider().create(inputs)
    assert creates(api) == [500, 500, 500]
    assert named(api, inputs["name"]) == []


def test_a_lost_answer_with_nothing_found_is_sent_again(api: Any) -> None:
    api.faults.add(FaultRule(path="/v1/projects", method="POST", action="drop"))
    inputs = props(api)
    created = SupabaseProjectProvider().create(inputs)
    assert creates(api) == [None, 201], "looked up first, found nothing, created once"
    assert named(api, inputs["name"]) == [created.id]


def test_a_same_named_project_that_never_came_up_blocks_nothing(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """One left COMING_UP by a run that timed out, which then failed: it can never be proven
    anyone's, so it is named in a warning and a new project is made, where every later up
    used to stop at it."""
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", warnings.append)
    inputs = props(api)
    api.configure(fail_next_provisionings=1)
    made = api.client().post(
        "/v1/projects",
        json={"name": inputs["name"], "organization_slug": api.org_slug, "db_pass": secrets.token_urlsafe(24)},
    )
    assert made.status_code == 201
    dead = made.json()["ref"]
    assert api.wait_for_status(dead, "INIT_FAILED") == "INIT_FAILED"

    assert SupabaseProjectProvider().check({}, inputs).failures == []
    created = SupabaseProjectProvider().create(inputs)
    assert created.id != dead
    assert sorted(projects_named(api, inputs["name"])) == sorted([dead, created.id])
    assert any(f"({dead}) is INIT_FAILED" in w and "delete it in the dashboard" in w for w in warnings), warnings


def test_init_failed_says_nothing_is_left(api: Any) -> None:
    api.configure(fail_next_provisionings=1)
    inputs = props(api)
    with pytest.raises(ResourceError) as caught:
        SupabaseProjectProvider().create(inputs)
    message = str(caught.value)
    assert "ended in status INIT_FAILED instead of ACTIVE_HEALTHY" in message
    assert "it was deleted again, so nothing is left behind" in message
    assert named(api, inputs["name"]) == []


def test_a_pooler_still_provisioned_is_waited_for_past_the_http_retries(api: Any) -> None:
    """A new project's pooler settings answer 500 until its pooler is provisioned, for as long
    as that takes: the create waits (up to wait_timeout), where a failure's few retries would
    give up and leave the stack without the project's connection details."""
    api.configure(pooler_warmup=3600)
    refusals_before_ready = 8  # more than the HTTP layer's 6 attempts for a failure

    def pooler_refusals() -> int:
        return sum(1 for c in api.calls() if c.path.endswith("/config/database/pooler") and c.status == 500)

    def provision_after_refusals() -> None:
        deadline = time.monotonic() + 60
        while pooler_refusals() < refusals_before_ready and time.monotonic() < deadline:
            time.sleep(0.02)
        api.advance_clock(3600)

    helper = threading.Thread(target=provision_after_refusals, daemon=True)
    helper.start()
    created = SupabaseProjectProvider().create(props(api))
    helper.join()
    assert pooler_refusals() >= refusals_before_ready, "polled past the HTTP layer's attempts"
    outs = dict(created.outs or {})
    pooled = (
        f"postgresql://{outs['pooler_user']}:{outs['db_password']}@{outs['pooler_host']}:{outs['pooler_port']}/postgres"
    )
    with connect(pooled + "?sslmode=require") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_pooler_that_never_comes_up_fails_at_the_wait_timeout(api: Any) -> None:
    api.configure(pooler_warmup=3600)
    with pytest.raises(ResourceError, match=r"still answered 500 after 6s \(supabase:waitTimeout\).*pulumi up` again"):
        SupabaseProjectProvider().create(props(api, wait_timeout=6))


def test_a_project_is_ready_only_once_its_pooler_lets_clients_in(api: Any) -> None:
    """ACTIVE_HEALTHY does not promise the pooler is serving (Supabase's guide: poll the status,
    then /health for each service used). The migrations and login roles that come right after
    connect once, through the pooler on a runner without IPv6."""
    api.configure(pooler_joins_after=4)
    created = SupabaseProjectProvider().create(props(api))
    outs = dict(created.outs or {})
    pooled = (
        f"postgresql://{outs['pooler_user']}:{outs['db_password']}@{outs['pooler_host']}:{outs['pooler_port']}/postgres"
    )
    with connect(pooled + "?sslmode=require", connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert any(c.path.endswith(f"/v1/projects/{created.id}/health") for c in api.calls()), "it asked"


def test_a_pooler_that_never_joins_fails_at_the_wait_timeout_naming_it(api: Any) -> None:
    api.configure(pooler_joins_after=3600)
    with pytest.raises(
        ResourceError, match=r"services were not all up after 3s \(supabase:waitTimeout\): pooler COMING_UP"
    ):
        SupabaseProjectProvider().create(props(api, wait_timeout=3))


def test_an_adopted_project_is_not_waited_on_for_its_services(api: Any) -> None:
    """Someone else's project (production's, often): its pooler's health is not the stack's to
    wait on, and an up must not fail on it."""
    api.configure(pooler_joins_after=3600)
    with api.client() as client:
        made = healthy_project(api, client, "adopted-elsewhere")
        health = client.get(f"/v1/projects/{made['ref']}/health", params={"services": "pooler"}).json()
    assert health[0]["status"] == "COMING_UP", "its pooler is not serving"
    before = len(api.calls())
    adopted = SupabaseProjectProvider().create(
        props(api, adopt_ref=made["ref"], db_password=made["db_pass"], organization=None, wait_timeout=3)
    )
    assert adopted.outs is not None
    assert not any(c.path.endswith("/health") for c in api.calls()[before:]), "no health asked of it"
