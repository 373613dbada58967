"""`pr comment`'s parts that need no engine: pending migrations, the upsert, the command line."""

from __future__ import annotations

import json
import secrets
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from envstack import cli
from envstack.clients.github import GitHubClient
from envstack.credentials import credential_values
from envstack.db import migrations
from envstack.ops.pr_comment import pending_migrations, upsert_comment
from envstack.ops.preview_report import MARKER
from tests.conftest import ScratchDatabase

REPO = "acme/web"


def write_migrations(directory: Path, *names: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_text(f"CREATE TABLE t_{name[:14]} (id int);\n")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


def test_a_never_deployed_stack_would_run_every_file(tmp_path: Path) -> None:
    write_migrations(tmp_path, "20250101000000_a.sql", "20250102000000_b.sql")
    plan = pending_migrations(tmp_path, None)
    assert plan.pending == ("20250101000000_a.sql", "20250102000000_b.sql")
    assert plan.note is not None
    assert "never deployed" in plan.note
    assert plan.problem is None


def test_only_files_missing_from_the_history_are_pending(tmp_path: Path, database: ScratchDatabase) -> None:
    write_migrations(tmp_path, "20250101000000_a.sql")
    migrations.apply(database.url, tmp_path, log=lambda _: None)
    write_migrations(tmp_path, "20250102000000_b.sql")
    plan = pending_migrations(tmp_path, database.url)
    assert plan.pending == ("20250102000000_b.sql",)
    assert plan.problem is None
    assert plan.edited == ()
    assert plan.missing == ()


def test_an_unreachable_database_is_reported_not_raised(tmp_path: Path) -> None:
    write_migrations(tmp_path, "20250101000000_a.sql")
    password = secrets.token_urlsafe(18)
    plan = pending_migrations(tmp_path, f"postgresql://postgres:{password}@127.0.0.1:{closed_port()}/postgres")
    assert plan.pending == ()
    assert plan.problem is not None
    assert "database error" in plan.problem
    assert password not in plan.problem


def test_another_tools_migrations_are_not_guessed(tmp_path: Path) -> None:
    plan = pending_migrations(tmp_path / "prisma", "postgresql://unused@127.0.0.1:1/x", "npx prisma migrate deploy")
    assert plan.pending == ()
    assert plan.problem is None
    assert plan.note is not None
    assert "npx prisma migrate deploy" in plan.note


def test_credentials_from_the_environment_are_known_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    passphrase = secrets.token_urlsafe(16)
    (tmp_path / "passphrase").write_text(passphrase + "\n")
    token = secrets.token_urlsafe(20)
    monkeypatch.setenv("VERCEL_TOKEN", token)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(tmp_path / "passphrase"))
    found = credential_values()
    assert token in found
    assert passphrase in found


class FakeIssueComments:
    """GitHub's issue-comment endpoints over a list, 100 per page like the real API."""

    def __init__(self, bodies: list[str], authors: dict[int, str] | None = None) -> None:
        """``authors``: who wrote which comment (by index); the others, the workflow's bot."""
        self.comments: list[dict[str, Any]] = [
            {"id": 1000 + i, "body": body, "user": user((authors or {}).get(i, BOT))} for i, body in enumerate(bodies)
        ]
        self.writes: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == f"/repos/{REPO}/issues/7/comments":
            page, per_page = int(request.url.params["page"]), int(request.url.params["per_page"])
            return httpx.Response(200, json=self.comments[(page - 1) * per_page : page * per_page])
        body: dict[str, Any] = json.loads(request.content or b"{}")
        self.writes.append(f"{request.method} {path}")
        if request.method == "POST" and path == f"/repos/{REPO}/issues/7/comments":
            created: dict[str, Any] = {
                "id": 5000,
                "body": body["body"],
                "html_url": "https://github.invalid/c/5000",
                "user": user(BOT),
            }
            self.comments.append(created)
            return httpx.Response(201, json=created)
        if request.method == "PATCH" and path.startswith(f"/repos/{REPO}/issues/comments/"):
            comment_id = int(path.rsplit("/", 1)[1])
            for comment in self.comments:
                if comment["id"] == comment_id:
                    comment["body"] = body["body"]
                    return httpx.Response(200, json=comment)
        return httpx.Response(404, json={"message": "Not Found"})


BOT = "github-actions[bot]"


def user(login: str) -> dict[str, str]:
    return {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"}


def upsert(fake: FakeIssueComments, body: str) -> str:
    with GitHubClient(base_url="http://127.0.0.1:9", token="t", transport=httpx.MockTransport(fake.handle)) as gh:
        return upsert_comment(gh, REPO, 7, body)


def test_the_first_run_posts_and_later_runs_update_that_comment() -> None:
    fake = FakeIssueComments(["Looks good", "Please rebase"])
    assert upsert(fake, f"{MARKER}\nfirst").startswith("posted comment")
    assert upsert(fake, f"{MARKER}\nsecond").startswith("updated comment")
    assert fake.writes == [f"POST /repos/{REPO}/issues/7/comments", f"PATCH /repos/{REPO}/issues/comments/5000"]
    ours = [c for c in fake.comments if c["body"].startswith(MARKER)]
    assert [c["body"] for c in ours] == [f"{MARKER}\nsecond"]


def test_our_comment_is_found_past_the_first_page_and_others_are_left_alone() -> None:
    bodies = [f"review {i}" for i in range(130)]
    bodies[3] = f"> {MARKER}\n> someone quoting us"
    bodies[120] = f"{MARKER}\nold preview"
    bodies[125] = f"{MARKER}\na duplicate from long ago"
    fake = FakeIssueComments(bodies)
    upsert(fake, f"{MARKER}\nnew preview")
    assert fake.writes == [f"PATCH /repos/{REPO}/issues/comments/1120"], "the oldest of ours, nothing posted"
    assert fake.comments[3]["body"].startswith("> ")
    assert fake.comments[125]["body"].endswith("a duplicate from long ago")


def test_the_command_line_takes_repeatable_stacks_and_policy_packs() -> None:
    args = cli.build_parser().parse_args(
        ["pr", "comment", "--number", "7", "--repo", REPO, "--stack", "staging", "--policy-pack", "policy"]
    )
    assert (args.command, args.action, args.number, args.repo) == ("pr", "comment", 7, REPO)
    assert args.stacks == ["staging"]
    assert args.policy_packs == [Path("policy")]
    defaults = cli.build_parser().parse_args(["pr", "comment", "--number", "7", "--repo", REPO])
    assert defaults.stacks is None
    assert defaults.github_api == "https://api.github.com"


def test_a_missing_github_token_stops_before_any_preview(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    status = cli.main(["pr", "comment", "--number", "7", "--repo", REPO, "--root", str(tmp_path)])
    printed = capsys.readouterr()
    assert status == 1
    assert "GITHUB_TOKEN is not set" in printed.err
    assert "previewing" not in printed.out


def test_a_comment_someone_else_wrote_with_our_marker_is_never_taken_as_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    """Anyone may put the marker in a comment of their own; a preview written into it could be
    edited by them afterwards, so only the workflow's own comments are updated."""
    fake = FakeIssueComments([f"{MARKER}\nEvery stack previewed cleanly (forged)"], authors={0: "mallory"})
    assert upsert(fake, f"{MARKER}\nthe real preview").startswith("posted comment")
    assert fake.writes == [f"POST /repos/{REPO}/issues/7/comments"]
    assert fake.comments[0]["body"].endswith("(forged)"), "left as its author wrote it"
    # Another identity posts when the job uses another token (a GitHub App's).
    monkeypatch.setenv("ENVSTACK_COMMENT_AUTHOR", "mallory")
    assert upsert(fake, f"{MARKER}\nagain").startswith("updated comment")
    assert fake.writes[-1] == f"PATCH /repos/{REPO}/issues/comments/1000"


def test_a_recorded_stack_that_cannot_be_read_is_a_failed_preview_not_a_missing_comment(tmp_path: Path) -> None:
    """Before, bad YAML in production's settings stopped the command before it posted, and the
    pull request kept the last run's "previewed cleanly" comment."""
    from envstack.ops.pr_comment import guarded_recorded

    (tmp_path / "Pulumi.production.yaml").write_text("config: [unclosed\n")
    record = tmp_path / "recorded.json"
    record.write_text("{}")
    shown = guarded_recorded(tmp_path, None, "production", record)
    assert shown.preview.failed
    assert "could not show production: Pulumi.production.yaml is not valid YAML" in str(shown.preview.error)
