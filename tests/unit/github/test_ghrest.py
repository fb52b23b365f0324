"""The GitHub REST groundwork against loopback servers: an answer that is not what GitHub sends is a
clear GitHubError (no traceback, no token, no body), never a crash; a redirect is never followed;
paged listings are read to the end, or refused past their bound, never cut short."""

from __future__ import annotations

import pytest
from fakegithub import CANARY_TOKEN, REPO, FakeGitHub

from conn_reconcile.github import rest as ghrest
from conn_reconcile.github.api import GitHub
from conn_reconcile.github.rest import GitHubError

TOKEN = CANARY_TOKEN


@pytest.mark.parametrize(
    "body",
    [b"<html>rate limited</html>", b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", b"\xff\xfe"],
    ids=["html", "nested-too-deeply", "not-utf8"],
)
def test_an_answer_that_is_not_json_is_a_github_error(answering: tuple[str, list[bytes]], body: bytes) -> None:
    url, bodies = answering
    bodies.append(body)
    with pytest.raises(GitHubError, match="not JSON") as info:
        GitHub(url, TOKEN, "acme/connectors")._call("GET", "/issues")
    assert TOKEN not in str(info.value) and "rate limited" not in str(info.value)


def test_a_json_answer_is_returned(answering: tuple[str, list[bytes]]) -> None:
    url, bodies = answering
    bodies.append(b'[{"id": 1}]')
    assert GitHub(url, TOKEN, "acme/connectors")._call("GET", "/issues") == [{"id": 1}]


def _comments(fake: FakeGitHub, count: int, issue: int = 7) -> None:
    for i in range(count):
        fake.comments[i + 1] = {"issue": issue, "body": f"comment {i + 1}", "user": {"login": "someone"}}


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirect_on_an_ordinary_call_is_a_github_error(fake: FakeGitHub, gh: GitHub, status: int) -> None:
    fake.redirects[f"/repos/{REPO}/issues/7/comments"] = (status, f"{fake.url}/elsewhere")
    with pytest.raises(GitHubError) as info:
        gh.sticky_comment(7, "body", "<!-- marker -->")
    assert str(info.value) == f"GitHub API GET /issues/7/comments: HTTP {status}"
    assert fake.requests == [] and fake.comments == {}, "the redirect is not followed, nothing is posted"


def test_a_listing_of_60_pages_returns_every_item(fake: FakeGitHub, gh: GitHub) -> None:
    _comments(fake, 6000)
    fake.comments[6000]["user"], fake.comments[6000]["body"] = {"login": "github-actions[bot]"}, "<!-- m --> old"
    fake.comments[7000] = {"issue": 8, "body": "another issue", "user": {"login": "someone"}}
    assert gh.sticky_comment(7, "<!-- m --> new", "<!-- m -->") == "updated"
    assert fake.comments[6000]["body"] == "<!-- m --> new" and len(fake.comments) == 6001
    pages = [r for r in fake.requests if r[0] == "GET"]
    assert [int(q["page"][0]) for _, _, q, _ in pages] == list(range(1, 62))  # 60 full pages, then an empty one


def test_a_listing_beyond_the_bound_is_an_error_not_a_partial_list(
    fake: FakeGitHub, gh: GitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ghrest, "MAX_PAGES", 3)
    _comments(fake, 250)
    assert len(gh._pages("/issues/7/comments", {})) == 250
    _comments(fake, 301)
    with pytest.raises(GitHubError, match=r"GET /issues/7/comments: more than 3 pages"):
        gh._pages("/issues/7/comments", {})


def test_link_headers_are_followed_past_pages_shorter_than_asked(fake: FakeGitHub, gh: GitHub) -> None:
    fake.link_headers, fake.max_per_page = True, 30  # GitHub gives fewer than asked: pages are "short"
    _comments(fake, 95)
    assert [c["id"] for c in gh._pages("/issues/7/comments", {})] == list(range(1, 96))
    assert len(fake.requests) == 4
    fake.requests.clear()
    fake.comments.clear()
    _comments(fake, 90)  # the last page is full, and names no next one: no empty page asked for
    assert len(gh._pages("/issues/7/comments", {})) == 90 and len(fake.requests) == 3
