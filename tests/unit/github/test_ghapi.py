"""The GitHub endpoints the action calls, against the fake GitHub API: pull requests and commit
comparisons read and checked, and the plan artifact taken only from a run of the pull request's
final head, its ZIP refused when hostile or malformed (the token never sent to the storage)."""

from __future__ import annotations

import io
import os
import re
import stat
import warnings
import zipfile
from typing import Any

import pytest
from fakegithub import CANARY_TOKEN, REPO, FakeGitHub

from conn_reconcile.github import artifact as ghartifact
from conn_reconcile.github.api import GitHub
from conn_reconcile.github.rest import GitHubError

TOKEN = CANARY_TOKEN
SHA = "0123456789abcdef0123456789abcdef01234567"
HEAD = "a" * 40
OLD_HEAD = "b" * 40
PLAN_YML = ".github/workflows/plan.yml"
ARTIFACT, PLAN = "conn-reconcile-plan-pr9", "conn-reconcile-plan.json"


def test_only_the_pull_request_merged_as_the_commit_is_found(fake: FakeGitHub, gh: GitHub) -> None:
    fake.pulls[SHA] = [{"number": 3, "merge_commit_sha": "f" * 40}]  # lists the commit, was not merged as it
    assert gh.merged_pull_request_of(SHA) is None and gh.pull_request_of(SHA) is None
    fake.pulls[SHA] = [{"number": 3, "merge_commit_sha": "f" * 40}, {"number": 9, "merge_commit_sha": SHA}]
    assert gh.merged_pull_request_of(SHA) == 9
    with pytest.raises(ValueError):
        gh.merged_pull_request_of("../../issues")


def _pull(head_repo: str | None = "alice/connectors", sha: str = HEAD) -> dict[str, Any]:
    return {
        "merged": True,
        "merge_commit_sha": SHA,
        "state": "closed",
        "head": {"sha": sha, "ref": "add-docs", "repo": None if head_repo is None else {"full_name": head_repo}},
    }


def test_a_pull_request_is_read_and_checked(fake: FakeGitHub, gh: GitHub) -> None:
    fake.pulls_by_number[9] = _pull()
    assert gh.pull(9) == {
        "number": 9,
        "merged": True,
        "merge_commit_sha": SHA,
        "head": {"sha": HEAD, "ref": "add-docs", "repo": {"full_name": "alice/connectors"}},
    }
    fake.pulls_by_number[9] = _pull(head_repo=None)  # the fork is deleted
    assert gh.pull(9)["head"]["repo"] is None
    for broken in ({"merged": "yes"}, {"head": {"sha": "short", "ref": "x", "repo": None}}, {"number": 10}):
        fake.pulls_by_number[9] = {**_pull(), **broken}
        with pytest.raises(GitHubError, match="GET /pulls/9: not a pull request"):
            gh.pull(9)
    with pytest.raises(GitHubError, match="GET /pulls/10: HTTP 404"):
        gh.pull(10)


def test_commits_between_reads_every_page_oldest_first(fake: FakeGitHub, gh: GitHub) -> None:
    commits = [f"{i:040x}" for i in range(260)]
    fake.compare[SHA, HEAD] = {"status": "ahead", "commits": commits}
    assert gh.commits_between(SHA, HEAD) == ("ahead", commits)
    assert [q["page"] for _, p, q, _ in fake.requests if "/compare/" in p] == [["1"], ["2"], ["3"]]
    fake.compare[HEAD, HEAD] = {"status": "identical", "commits": []}
    assert gh.commits_between(HEAD, HEAD) == ("identical", [])
    fake.compare[HEAD, SHA] = {"status": "diverged", "commits": commits[:5]}
    assert gh.commits_between(HEAD, SHA) == ("diverged", commits[:5])
    with pytest.raises(ValueError):
        gh.commits_between("main?x=1", HEAD)


@pytest.mark.parametrize(
    "doc",
    [
        b'{"status": "ahead", "total_commits": 2, "commits": [{"sha": "x"}]}\n{"commits": []}',
        b'{"status": "sideways", "total_commits": 0, "commits": []}',
        b'{"status": "ahead", "total_commits": 1, "commits": [{"sha": "x"}, {"sha": "y"}]}',
    ],
    ids=["ends-early", "unknown-status", "more-than-total"],
)
def test_a_comparison_that_does_not_add_up_is_a_github_error(answering: tuple[str, list[bytes]], doc: bytes) -> None:
    url, bodies = answering
    bodies.extend(doc.split(b"\n"))
    with pytest.raises(GitHubError, match=r"GET /compare/main\.\.\.feature: "):
        GitHub(url, TOKEN, REPO).commits_between("main", "feature")


# ---- the verified plan artifact ------------------------------------------------------------------


def _zip(*members: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.filterwarnings("ignore", "Duplicate name", UserWarning)  # a hostile archive, on purpose
        for name, data in members:
            archive.writestr(name, data)
    return buf.getvalue()


def _run(
    event: str = "pull_request",
    path: str = PLAN_YML + "@refs/pull/9/merge",
    head_sha: str = HEAD,
    head_repo: str = "alice/connectors",
    repo: str = REPO,
) -> dict[str, Any]:
    return {
        "event": event,
        "path": path,
        "head_sha": head_sha,
        "head_branch": "add-docs",
        "repository": {"id": 1 if repo == REPO else 66, "full_name": repo},
        "head_repository": {"id": 2 if head_repo == "alice/connectors" else 67, "full_name": head_repo},
    }


def _artifact(
    fake: FakeGitHub, id: int, run: int, day: int, data: bytes = b"{}", head_sha: str = HEAD, **extra: Any
) -> None:
    wrun = fake.runs[run]
    fake.artifacts.append(
        {
            "id": id,
            "name": ARTIFACT,
            "created_at": f"2026-01-{day:02d}T00:00:00Z",
            "expired": False,
            "zip": _zip((PLAN, data)),
            "workflow_run": {
                "id": run,
                "repository_id": wrun["repository"]["id"],
                "head_repository_id": wrun["head_repository"]["id"],
                "head_branch": "add-docs",
                "head_sha": head_sha,
            },
            **extra,
        }
    )


def _verified(gh: GitHub) -> tuple[tuple[bytes, int] | None, list[str]]:
    skipped: list[str] = []
    return gh.verified_plan(9, ARTIFACT, PLAN, PLAN_YML, log=skipped.append), skipped


@pytest.fixture
def reviewed(fake: FakeGitHub) -> FakeGitHub:
    """Pull request #9 from alice's fork, the plan run 100 of its final head, artifact 1 of it."""
    fake.pulls_by_number[9] = _pull()
    fake.runs[100] = _run()
    _artifact(fake, 1, 100, day=2, data=b"the reviewed plan")
    return fake


def test_the_plan_of_the_final_head_is_taken_and_the_token_stays_home(reviewed: FakeGitHub, gh: GitHub) -> None:
    assert _verified(gh) == ((b"the reviewed plan", 100), [])
    assert reviewed.storage_auth == [None], "the token must not follow the redirect to the artifact storage"


def test_a_fork_runs_artifact_of_the_same_name_is_skipped(reviewed: FakeGitHub, gh: GitHub) -> None:
    # mallory pushed the same commit to her fork, opened a pull request: its run uploads "the plan of #9"
    reviewed.runs[101] = _run(head_repo="mallory/connectors")
    _artifact(reviewed, 2, 101, day=3, data=b"mallory's plan")
    result, skipped = _verified(gh)
    assert result == (b"the reviewed plan", 100)
    assert skipped == [
        "artifact 2 from run 101: head repository mallory/connectors, not the pull request's alice/connectors"
    ]


def test_a_run_of_another_repository_is_skipped(reviewed: FakeGitHub, gh: GitHub) -> None:
    reviewed.runs[101] = _run(repo="mallory/connectors")
    _artifact(reviewed, 2, 101, day=3, data=b"mallory's plan")
    assert _verified(gh) == (
        (b"the reviewed plan", 100),
        ["artifact 2 from run 101: run of repository mallory/connectors, not acme/connectors"],
    )


def test_an_artifact_that_misstates_its_run_is_skipped(reviewed: FakeGitHub, gh: GitHub) -> None:
    reviewed.runs[101] = _run(head_repo="mallory/connectors")
    _artifact(reviewed, 2, 101, day=3, data=b"mallory's plan")
    reviewed.artifacts[-1]["workflow_run"]["head_repository_id"] = 2  # alice's, says the artifact
    assert _verified(gh)[1] == ["artifact 2 from run 101: head_repository_id 2 is not the run's"]


@pytest.mark.parametrize(
    ("run", "reason"),
    [
        (_run(event="push"), "event push, not pull_request"),
        (_run(event="pull_request_target"), "event pull_request_target, not pull_request"),
        (
            _run(path=".github/workflows/other.yml@refs/pull/9/merge"),
            f"workflow .github/workflows/other.yml@refs/pull/9/merge, not {PLAN_YML}",
        ),
        (_run(path=PLAN_YML + ".bak"), f"workflow {PLAN_YML}.bak, not {PLAN_YML}"),
        (_run(head_sha=OLD_HEAD), f"run head sha {OLD_HEAD}, not the pull request's head {HEAD}"),
    ],
    ids=["push", "pull_request_target", "other-workflow", "similar-path", "run-of-an-older-head"],
)
def test_a_run_that_is_not_the_plan_run_of_the_final_head_is_skipped(
    reviewed: FakeGitHub, gh: GitHub, run: dict[str, Any], reason: str
) -> None:
    reviewed.runs[101] = run
    _artifact(reviewed, 2, 101, day=3, data=b"not the reviewed plan")
    assert _verified(gh) == ((b"the reviewed plan", 100), [f"artifact 2 from run 101: {reason}"])


def test_a_stale_head_is_skipped_and_the_newest_good_artifact_taken(reviewed: FakeGitHub, gh: GitHub) -> None:
    reviewed.runs[102] = _run(head_sha=OLD_HEAD)  # an older push of the pull request, its run re-run later
    _artifact(reviewed, 3, 102, day=5, data=b"the plan of an older push", head_sha=OLD_HEAD)
    reviewed.runs[103] = _run()  # a second run of the final head, before the re-run
    _artifact(reviewed, 4, 103, day=4, data=b"the newest reviewed plan")
    _artifact(reviewed, 5, 103, day=6, data=b"expired", expired=True)
    result, skipped = _verified(gh)
    assert result == (b"the newest reviewed plan", 103)
    assert skipped == [
        "artifact 5 from run 103: expired",
        f"artifact 3 from run 102: head sha {OLD_HEAD}, not the pull request's head {HEAD}",
    ]


def test_no_qualifying_artifact_is_none_with_every_reason(reviewed: FakeGitHub, gh: GitHub) -> None:
    reviewed.runs[100]["event"] = "push"
    reviewed.artifacts.append({"id": 7, "name": ARTIFACT, "created_at": "2026-01-01T00:00:00Z", "expired": False})
    assert _verified(gh) == (
        None,
        ["artifact 1 from run 100: event push, not pull_request", "artifact 7 from run None: no workflow run recorded"],
    )
    reviewed.artifacts.clear()
    assert _verified(gh) == (None, [])


def test_a_deleted_fork_cannot_be_verified(reviewed: FakeGitHub, gh: GitHub) -> None:
    reviewed.pulls_by_number[9] = _pull(head_repo=None)
    assert _verified(gh) == (
        None,
        ["artifact 1 from run 100: the pull request's head repository is gone: its runs cannot be told from a fork's"],
    )


def test_artifacts_are_read_from_every_page(reviewed: FakeGitHub, gh: GitHub) -> None:
    reviewed.runs[101] = _run(event="push")
    for i in range(250):  # newer, all refused, listed first as GitHub lists them
        _artifact(reviewed, 1000 + i, 101, day=3)
    reviewed.artifacts.insert(250, reviewed.artifacts.pop(0))
    result, skipped = _verified(gh)
    assert result == (b"the reviewed plan", 100) and len(skipped) == 250
    assert len([r for r in reviewed.requests if r[1].endswith("/actions/artifacts")]) == 3


def _member(name: str, mode: int, dos: int = 0) -> zipfile.ZipInfo:
    """A member ``name`` with Unix ``mode`` and MS-DOS attributes ``dos``."""
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16 | dos
    return info


def _bomb_declared_small() -> bytes:
    """A ZIP whose member says it holds 100 bytes and inflates to 1 MB."""
    data = bytearray(_zip((PLAN, b"\0" * 1_000_000)))
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    data[local + 22 : local + 26] = (100).to_bytes(4, "little")
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")
    return bytes(data)


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (_zip((_member(PLAN, stat.S_IFLNK | 0o777), b"/etc/passwd")), f"{PLAN} is a symlink"),
        (_zip((_member(PLAN, stat.S_IFIFO | 0o644), b"")), f"{PLAN} is not a regular file"),
        (_zip((_member(PLAN, 0, dos=0x10), b"")), f"{PLAN} is not a regular file"),
        (_zip((_member(PLAN, stat.S_IFDIR | 0o755), b"")), f"{PLAN} is not a regular file"),
        (_zip((PLAN, b"{}"), ("../../.bashrc", b"x")), "a member's name is absolute or holds '..'"),
        (_zip((PLAN, b"{}"), ("/etc/cron.d/x", b"x")), "a member's name is absolute or holds '..'"),
        (_zip((PLAN, b"{}"), (PLAN, b"{}")), f"holds {PLAN} more than once"),
        (_zip(("other.json", b"{}")), f"holds no {PLAN}"),
        (_bomb_declared_small(), "not a readable ZIP archive"),
        (b"PK\x03\x04 not a zip at all", "not a readable ZIP archive"),
    ],
    ids=[
        "symlink",
        "fifo",
        "dos-directory",
        "directory-mode",
        "dot-dot",
        "absolute",
        "duplicate",
        "missing",
        "bomb-declared-small",
        "garbage",
    ],
)
def test_a_hostile_or_malformed_archive_is_refused(
    reviewed: FakeGitHub, gh: GitHub, archive: bytes, message: str
) -> None:
    reviewed.artifacts[0]["zip"] = archive
    with pytest.raises(GitHubError, match=re.escape(message)) as info:
        _verified(gh)
    assert TOKEN not in str(info.value)


def test_a_regular_file_with_unix_mode_bits_is_taken(reviewed: FakeGitHub, gh: GitHub) -> None:
    reviewed.artifacts[0]["zip"] = _zip((_member(PLAN, stat.S_IFREG | 0o644), b"plan"), ("dir/other", b"x"))
    assert _verified(gh)[0] == (b"plan", 100)


def test_sizes_and_member_counts_are_bounded(reviewed: FakeGitHub, gh: GitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ghartifact, "MAX_ARTIFACT_BYTES", 10_000)
    reviewed.artifacts[0]["zip"] = _zip((PLAN, b"\0" * 10_001))  # compresses to little, declares too much
    with pytest.raises(GitHubError, match=f"{PLAN} is too large"):
        _verified(gh)
    reviewed.artifacts[0]["zip"] = _zip((PLAN, b"{}"), ("noise", os.urandom(20_000)))  # the ZIP itself
    with pytest.raises(GitHubError, match="GET /actions/artifacts/1/zip: the ZIP is too large"):
        _verified(gh)
    monkeypatch.setattr(ghartifact, "MAX_ARTIFACT_MEMBERS", 3)
    reviewed.artifacts[0]["zip"] = _zip((PLAN, b"{}"), *[(f"m{i}", b"") for i in range(3)])
    with pytest.raises(GitHubError, match="more than 3 members"):
        _verified(gh)
