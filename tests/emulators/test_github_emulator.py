"""The local GitHub API (emulate's, recorded): repositories, pull requests opened, closed
and merged, and the issue comments a pull request bot posts and edits."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.emulators.vercel.fixtures import GitHubApi


@pytest.fixture
def gh(github_api: GitHubApi) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=github_api.url,
        headers={"Authorization": f"Bearer {github_api.token}", "Accept": "application/vnd.github+json"},
    ) as client:
        yield client


def test_a_pull_request_opens_closes_and_merges(github_api: GitHubApi, gh: httpx.Client) -> None:
    repo = github_api.create_repo()
    head_sha = github_api.create_branch(repo, "feature/login")
    number = github_api.open_pull_request(repo, "feature/login")
    pr = gh.get(f"/repos/{repo}/pulls/{number}")
    assert pr.status_code == 200
    body = pr.json()
    assert (body["state"], body["head"]["ref"], body["head"]["sha"], body["base"]["ref"]) == (
        "open",
        "feature/login",
        head_sha,
        "main",
    )
    assert body["url"].startswith(github_api.url)  # emulate's own address is rewritten
    github_api.close_pull_request(repo, number)
    assert gh.get(f"/repos/{repo}/pulls/{number}").json()["state"] == "closed"
    github_api.reopen_pull_request(repo, number)
    github_api.merge_pull_request(repo, number)
    merged = gh.get(f"/repos/{repo}/pulls/{number}").json()
    assert (merged["state"], merged["merged"]) == ("closed", True)
    assert gh.get(f"/repos/{repo}/pulls/{number + 100}").status_code == 404


def test_comments_are_created_updated_and_listed(github_api: GitHubApi, gh: httpx.Client) -> None:
    repo = github_api.create_repo()
    github_api.create_branch(repo, "pr-branch")
    number = github_api.open_pull_request(repo, "pr-branch")
    created = gh.post(f"/repos/{repo}/issues/{number}/comments", json={"body": "Preview: pending"})
    assert created.status_code == 201
    comment_id = created.json()["id"]
    updated = gh.patch(f"/repos/{repo}/issues/comments/{comment_id}", json={"body": "Preview: ready"})
    assert updated.status_code == 200
    listed = gh.get(f"/repos/{repo}/issues/{number}/comments")
    assert [(c["id"], c["body"]) for c in listed.json()] == [(comment_id, "Preview: ready")]
    assert [c["body"] for c in github_api.comments(repo, number)] == ["Preview: ready"]
    assert gh.post(f"/repos/{repo}/issues/{number}/comments", json={"body": ""}).status_code == 422
    assert [(c.method, c.status) for c in github_api.calls()] == [
        ("POST", 201),
        ("PATCH", 200),
        ("GET", 200),
        ("POST", 422),
    ]


def test_a_token_it_does_not_know_is_bad_credentials(github_api: GitHubApi) -> None:
    repo = github_api.create_repo()
    answer = httpx.get(f"{github_api.url}/repos/{repo}", headers={"Authorization": "Bearer ghp_unknown"})
    assert answer.status_code == 401  # emulate alone accepts any token as its first user
    assert answer.json()["message"] == "Bad credentials"
    anonymous = httpx.post(f"{github_api.url}/repos/{repo}/issues/1/comments", json={"body": "x"})
    assert anonymous.status_code in (401, 403, 404)
