"""The few GitHub REST calls envstack's pull-request tools make, on the shared HTTP layer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from envstack.api_urls import GITHUB_API_URL
from envstack.clients.http import ServiceClient

DEFAULT_BASE_URL = GITHUB_API_URL


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


class Repository(_Model):
    full_name: str  # "owner/name"


class Ref(_Model):
    ref: str
    sha: str | None = None
    repo: Repository | None = None  # None when the fork it came from was deleted


class PullRequest(_Model):
    number: int
    state: str  # "open" or "closed"
    merged: bool | None = None
    head: Ref | None = None  # its branch (None in a trimmed answer)
    base: Ref | None = None
    # The test merge commit (refs/pull/N/merge) while open; the merge itself once merged.
    # GitHub computes it in the background, so an answer may not have it yet.
    merge_commit_sha: str | None = None


class User(_Model):
    login: str
    type: str | None = None  # "User", "Bot", "Organization"


class IssueComment(_Model):
    id: int
    body: str | None = None
    html_url: str | None = None
    user: User | None = None


class GitHubClient(ServiceClient):
    service = "github"
    default_base_url = DEFAULT_BASE_URL

    def pull_request(self, repo: str, number: int) -> PullRequest:
        return PullRequest.model_validate(self._api.get(f"/repos/{repo}/pulls/{number}"))

    def issue_comments(self, repo: str, number: int) -> list[IssueComment]:
        """Every comment of the pull request's conversation, following the pages."""
        comments: list[IssueComment] = []
        page = 1
        while True:
            batch = self._api.get(f"/repos/{repo}/issues/{number}/comments", params={"per_page": 100, "page": page})
            comments += [IssueComment.model_validate(c) for c in batch]
            if len(batch) < 100:
                return comments
            page += 1

    def create_comment(self, repo: str, number: int, body: str) -> IssueComment:
        created = self._api.post(f"/repos/{repo}/issues/{number}/comments", json={"body": body}, expected=(201,))
        return IssueComment.model_validate(created)

    def update_comment(self, repo: str, comment_id: int, body: str) -> IssueComment:
        updated = self._api.patch(f"/repos/{repo}/issues/comments/{comment_id}", json={"body": body}, retry_unsafe=True)
        return IssueComment.model_validate(updated)
