"""Which commit janitor.yml tears a pull request's stack down from (pr gc --list)."""

from __future__ import annotations

from typing import Any

import pytest

from envstack.clients.github import PullRequest
from envstack.ops.pr_environments import teardown_code

REPO = "hermes/site"
HEAD, MERGE = "1" * 40, "2" * 40


def pull(*, merged: bool = False, merge: str | None = MERGE, head_repo: str | None = REPO, **extra: Any) -> PullRequest:
    """GitHub's answer to GET /repos/{repo}/pulls/{n}, with the fields teardown_code reads."""
    return PullRequest.model_validate(
        {
            "number": 7,
            "state": "closed",
            "merged": merged,
            "merge_commit_sha": merge,
            "head": {"ref": "feature/x", "sha": HEAD, "repo": {"full_name": head_repo} if head_repo else None},
            "base": {"ref": "main", "sha": "3" * 40, "repo": {"full_name": REPO}},
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("given", "code"),
    [
        # Merged: the base branch holds the pull request now.
        (pull(merged=True), {"ref": "main", "head": ""}),
        # Closed unmerged, or open and idle: the test merge commit the up job ran, then the head.
        (pull(), {"ref": MERGE, "head": HEAD}),
        (pull(state="open"), {"ref": MERGE, "head": HEAD}),
        # GitHub has not computed a merge commit (or never will: a conflict): the head alone.
        (pull(merge=None), {"ref": HEAD, "head": ""}),
        # A fork's pull request, or one whose fork is gone: the janitor's own commit, never the
        # fork's code with staging's secrets.
        (pull(head_repo="someone/site"), {"ref": "", "head": ""}),
        (pull(head_repo=None), {"ref": "", "head": ""}),
        (pull(merged=True, head_repo="someone/site"), {"ref": "", "head": ""}),
    ],
)
def test_the_code_that_brought_the_stack_up(given: PullRequest, code: dict[str, str]) -> None:
    assert teardown_code(given, REPO) == code


def test_the_repository_is_matched_as_github_matches_names() -> None:
    assert teardown_code(pull(head_repo="Hermes/Site"), REPO)["ref"] == MERGE
