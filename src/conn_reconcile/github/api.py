"""The GitHub endpoints the action calls: the sticky pull-request comment, the drift issue, the
pull request merged as a commit, the commits between two, and the plan artifact of a pull request,
taken only from a run of that pull request's final head. Edge module (network)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from conn_reconcile.github.artifact import get_bounded, zip_member
from conn_reconcile.github.rest import MAX_PAGES, PAGE, GitHubError, Rest

BOT = "github-actions[bot]"
#: The statuses of GitHub's compare endpoint.
COMPARE_STATUSES = frozenset({"ahead", "behind", "identical", "diverged"})

_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]*")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _ref(value: str) -> str:
    """``value`` if it is a commit sha or ref name safe to put into a path, else ValueError."""
    if not isinstance(value, str) or not _REF.fullmatch(value) or ".." in value:
        raise ValueError(f"not a commit or ref name: {value!r}")
    return value


def _positive(value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"not a positive number: {value!r}")
    return value


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _full_name(repo: Any) -> str | None:
    """``repo.full_name`` of a repository object (None when the object or the name is missing)."""
    name = repo.get("full_name") if isinstance(repo, dict) else None
    return name if isinstance(name, str) else None


@dataclass
class GitHub(Rest):
    """The GitHub REST API of one repository, authenticated with ``token``."""

    _runs: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)  # run id -> run

    # -- comments and issues ------------------------------------------------------------------

    def sticky_comment(self, number: int, body: str, marker: str) -> str:
        """Update our comment carrying ``marker`` on issue/PR ``number``, or create it.
        Returns "updated" or "created"."""
        comments = self._pages(f"/issues/{_positive(number)}/comments", {})
        ours = [c for c in comments if (c.get("user") or {}).get("login") == BOT and marker in str(c.get("body") or "")]
        if ours:
            self._call("PATCH", f"/issues/comments/{int(ours[0]['id'])}", json={"body": body})
            return "updated"
        self._call("POST", f"/issues/{number}/comments", json={"body": body})
        return "created"

    def drift_issue(self, decision: str, title: str, body: str, label: str) -> str:
        """``decision`` "open": update the open issue labelled ``label`` or create one;
        "close": close every open one with a comment. Returns what was done."""
        issues = [i for i in self._pages("/issues", {"labels": label, "state": "open"}) if "pull_request" not in i]
        if decision == "open":
            if issues:
                self._call("PATCH", f"/issues/{int(issues[0]['number'])}", json={"body": body, "title": title})
                return f"updated #{int(issues[0]['number'])}"
            created = self._call("POST", "/issues", json={"title": title, "body": body, "labels": [label]})
            return f"created #{int(created['number'])}"
        if decision != "close":
            raise ValueError(decision)
        for issue in issues:
            number = int(issue["number"])
            self._call("POST", f"/issues/{number}/comments", json={"body": "The org is in sync again: closing."})
            self._call("PATCH", f"/issues/{number}", json={"state": "closed", "state_reason": "completed"})
        return f"closed {len(issues)}"

    # -- pull requests and commits ------------------------------------------------------------

    def pull(self, number: int) -> dict[str, Any]:
        """Pull request ``number``, the fields used, checked: ``{"number": int, "merged": bool,
        "merge_commit_sha": str | None, "head": {"sha": str, "ref": str, "repo": {"full_name":
        str} | None}}`` (``head.repo`` is None once the fork is deleted)."""
        path = f"/pulls/{_positive(number)}"
        doc = self._object(path)
        head = doc.get("head")
        merge_sha = doc.get("merge_commit_sha")
        if (
            _int(doc.get("number")) != number
            or not isinstance(doc.get("merged"), bool)
            or not (merge_sha is None or isinstance(merge_sha, str))
            or not isinstance(head, dict)
            or not isinstance(head.get("sha"), str)
            or not _SHA.fullmatch(head["sha"])
            or not isinstance(head.get("ref"), str)
            or not (head.get("repo") is None or _full_name(head.get("repo")) is not None)
        ):
            raise GitHubError(f"GitHub API GET {path}: not a pull request")
        repo = _full_name(head.get("repo"))
        return {
            "number": number,
            "merged": doc["merged"],
            "merge_commit_sha": merge_sha,
            "head": {"sha": head["sha"], "ref": head["ref"], "repo": None if repo is None else {"full_name": repo}},
        }

    def merged_pull_request_of(self, sha: str) -> int | None:
        """The pull request merged as commit ``sha`` (its ``merge_commit_sha`` is ``sha``), or None.
        A pull request that merely contains the commit is not it."""
        for pull in self._pages(f"/commits/{_ref(sha)}/pulls", {}):
            number = _int(pull.get("number"))
            if pull.get("merge_commit_sha") == sha and number is not None:
                return number
        return None

    pull_request_of = merged_pull_request_of

    def commits_between(self, base: str, head: str) -> tuple[str, list[str]]:
        """GitHub's comparison of ``base...head``: its status ("ahead", "behind", "identical"
        or "diverged") and the shas of the commits of ``head`` not in ``base``, oldest first.
        Every page is read; a list that ends before ``total_commits`` is a GitHubError."""
        path = f"/compare/{_ref(base)}...{_ref(head)}"
        status: str | None = None
        total = 0
        shas: list[str] = []
        for page in range(1, MAX_PAGES + 1):
            doc = self._object(path, {"per_page": PAGE, "page": page})
            commits = doc.get("commits")
            if not isinstance(commits, list) or not all(
                isinstance(c, dict) and isinstance(c.get("sha"), str) for c in commits
            ):
                raise GitHubError(f"GitHub API GET {path}: no list of commits")
            if status is None:
                status, total_commits = doc.get("status"), _int(doc.get("total_commits"))
                if status not in COMPARE_STATUSES or total_commits is None or total_commits < 0:
                    raise GitHubError(f"GitHub API GET {path}: not a comparison")
                total = total_commits
            shas.extend(c["sha"] for c in commits)
            if len(shas) >= total:
                if len(shas) > total:
                    raise GitHubError(f"GitHub API GET {path}: more commits than total_commits")
                return status, shas
            if not commits:
                raise GitHubError(f"GitHub API GET {path}: the commits end before total_commits")
        raise GitHubError(f"GitHub API GET {path}: more than {MAX_PAGES} pages")

    # -- the plan artifact ----------------------------------------------------------------------

    def _run(self, run_id: int) -> dict[str, Any]:
        if run_id not in self._runs:
            run = self._object(f"/actions/runs/{run_id}")
            if _int(run.get("id")) != run_id:
                raise GitHubError(f"GitHub API GET /actions/runs/{run_id}: not that run")
            self._runs[run_id] = run
        return self._runs[run_id]

    def _artifact_refusal(self, art: dict[str, Any], pull: dict[str, Any], workflow_path: str) -> str | None:
        """Why the artifact ``art`` is not the plan of ``pull`` (None: it is)."""
        head_sha, head_repo = pull["head"]["sha"], _full_name(pull["head"]["repo"])
        if art.get("expired") is not False:
            return "expired"
        wrun = art.get("workflow_run")
        run_id = _int(wrun.get("id")) if isinstance(wrun, dict) else None
        if not isinstance(wrun, dict) or run_id is None:
            return "no workflow run recorded"
        if wrun.get("head_sha") != head_sha:
            return f"head sha {wrun.get('head_sha')}, not the pull request's head {head_sha}"
        if head_repo is None:
            return "the pull request's head repository is gone: its runs cannot be told from a fork's"
        run = self._run(run_id)
        if _full_name(run.get("repository")) != self.repo:
            return f"run of repository {_full_name(run.get('repository'))}, not {self.repo}"
        for key, object_key in (("repository_id", "repository"), ("head_repository_id", "head_repository")):
            recorded, actual = _int(wrun.get(key)), run.get(object_key)
            if recorded is not None and recorded != _int(actual.get("id") if isinstance(actual, dict) else None):
                return f"{key} {recorded} is not the run's"
        if run.get("event") != "pull_request":
            return f"event {run.get('event')}, not pull_request"
        run_path = run.get("path")
        if not isinstance(run_path, str) or run_path.split("@", 1)[0] != workflow_path:
            return f"workflow {run_path}, not {workflow_path}"
        if run.get("head_sha") != head_sha:
            return f"run head sha {run.get('head_sha')}, not the pull request's head {head_sha}"
        run_head_repo = _full_name(run.get("head_repository"))
        if run_head_repo != head_repo:
            return f"head repository {run_head_repo}, not the pull request's {head_repo}"
        return None

    def _download_zip(self, artifact_id: int) -> bytes:
        """The ZIP of artifact ``artifact_id``, in memory and bounded (:func:`.artifact.get_bounded`):
        GitHub answers with a redirect to short-lived storage, followed once, without the token."""
        path = f"/actions/artifacts/{artifact_id}/zip"
        try:
            resp, data = get_bounded(self._url(path), path, self.timeout, self._headers())
            if resp.is_redirect:
                target = resp.url.join(resp.headers.get("location", ""))
                if target.scheme not in ("http", "https") or not target.host:
                    raise GitHubError(f"GitHub API GET {path}: redirected to no http(s) URL")
                resp, data = get_bounded(target, path, self.timeout)
                if resp.status_code != 200:
                    raise GitHubError(f"GitHub API GET {path}: the storage answers HTTP {resp.status_code}")
        except httpx.HTTPError as exc:
            raise GitHubError(f"GitHub API GET {path}: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise GitHubError(f"GitHub API GET {path}: HTTP {resp.status_code}")
        return data

    def verified_plan(
        self,
        number: int,
        artifact: str,
        name: str,
        workflow_path: str,
        log: Callable[[str], None] | None = None,
    ) -> tuple[bytes, int] | None:
        """File ``name`` of the newest unexpired artifact called ``artifact`` uploaded by a run
        of this repository's workflow ``workflow_path`` on a ``pull_request`` event for the
        final head (sha and repository) of pull request ``number``, and that run's id; None when
        no artifact qualifies. ``log`` is told why each artifact looked at was skipped (raw text:
        the caller escapes it). The ZIP is read in memory; a hostile or malformed one is a
        GitHubError."""
        pull = self.pull(number)
        found = self._pages("/actions/artifacts", {"name": artifact}, key="artifacts")
        candidates = [a for a in found if a.get("name") == artifact and _int(a.get("id")) is not None]
        candidates.sort(key=lambda a: (str(a.get("created_at") or ""), a["id"]), reverse=True)
        for art in candidates:
            refusal = self._artifact_refusal(art, pull, workflow_path)
            run_id = int(art["workflow_run"]["id"]) if refusal is None else None
            if run_id is None:
                if log is not None:
                    wrun = art.get("workflow_run")
                    run = wrun.get("id") if isinstance(wrun, dict) else None
                    log(f"artifact {art['id']} from run {run}: {refusal}")
                continue
            data = zip_member(self._download_zip(int(art["id"])), name, f"artifact {artifact} ({art['id']})")
            return data, run_id
        return None
