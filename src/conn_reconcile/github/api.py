"""The GitHub REST calls of the action: the sticky pull-request comment, the drift issue, the
pull request merged as a commit, and the plan artifact of that pull request, verified and read
in memory. Edge module (network); the token comes from the caller and is never printed.
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from conn_reconcile.api.deadline import verifying_ssl_context

BOT = "github-actions[bot]"
#: Items asked for per page of a listing (GitHub's maximum for the endpoints used).
PAGE = 100
#: The most pages one listing may take: a longer one is a GitHubError, never a partial list.
MAX_PAGES = 1000
#: The largest file taken from an artifact (declared and decompressed), and the largest ZIP downloaded.
MAX_ARTIFACT_BYTES = 64 * 1024 * 1024
#: The most members an artifact's ZIP may have.
MAX_ARTIFACT_MEMBERS = 1000
#: The statuses of GitHub's compare endpoint.
COMPARE_STATUSES = frozenset({"ahead", "behind", "identical", "diverged"})

_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]*")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class GitHubError(Exception):
    """A GitHub API call failed (status and path only: no token, no response body)."""


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


def write_safely(directory: Path, name: str, data: bytes) -> Path:
    """Create the file ``name`` (a plain file name) in ``directory`` holding ``data``, mode 0600:
    never through a symlink, never over an existing file (``FileExistsError``). Returns its path."""
    if not isinstance(name, str) or not name or "/" in name or "\0" in name or name in (".", ".."):
        raise ValueError(f"not a plain file name: {name!r}")
    path = Path(directory) / name
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    except BaseException:
        path.unlink(missing_ok=True)  # ours: created just now (O_EXCL)
        raise
    return path


def _zip_member(archive_bytes: bytes, name: str, what: str) -> bytes:
    """The regular file ``name`` of a ZIP held in memory; GitHubError when the archive is
    malformed or hostile (too many members, an absolute or ``..`` member name, a duplicate of
    ``name``, ``name`` missing, not a regular file or too large, declared or decompressed)."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive_bytes)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ARTIFACT_MEMBERS:
                raise GitHubError(f"{what}: more than {MAX_ARTIFACT_MEMBERS} members")
            for info in infos:
                member = info.filename
                if member.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", member) or ".." in member:
                    raise GitHubError(f"{what}: a member's name is absolute or holds '..'")
            matching = [i for i in infos if i.filename == name]
            if not matching:
                raise GitHubError(f"{what} holds no {name}")
            if len(matching) > 1:
                raise GitHubError(f"{what} holds {name} more than once")
            (info,) = matching
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            # no file type at all (zipfile.writestr, archives made off Unix): a file unless a directory
            regular = kind == stat.S_IFREG or (kind == 0 and not info.is_dir() and not info.external_attr & 0x10)
            if not regular:
                shown = "a symlink" if stat.S_ISLNK(mode) else "not a regular file"
                raise GitHubError(f"{what}: {name} is {shown}")
            if info.file_size > MAX_ARTIFACT_BYTES:
                raise GitHubError(f"{what}: {name} is too large")
            with archive.open(info) as member_file:
                data = member_file.read(MAX_ARTIFACT_BYTES + 1)
            if len(data) > MAX_ARTIFACT_BYTES or len(data) != info.file_size:
                raise GitHubError(f"{what}: {name} is not the size it declares")
            return data
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        RuntimeError,
        NotImplementedError,
        ValueError,
    ):
        # BadZipFile also for a bad CRC: a member that decompresses to more than it declares
        raise GitHubError(f"{what}: not a readable ZIP archive") from None


@dataclass
class GitHub:
    """The GitHub REST API of one repository, authenticated with ``token``."""

    api_url: str
    token: str
    repo: str
    timeout: float = 30.0
    _runs: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)  # run id -> run

    def _send(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """One request with this API's timeout, never following a redirect, TLS verified with
        the process's one SSL context."""
        return httpx.request(
            method, url, timeout=self.timeout, follow_redirects=False, verify=verifying_ssl_context(), **kw
        )

    def _url(self, path: str) -> str:
        return f"{self.api_url.rstrip('/')}/repos/{self.repo}{path}"

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    def _request(self, method: str, path: str, **kw: Any) -> tuple[Any, httpx.Response]:
        """The JSON answer (None when empty) and the response; GitHubError for any status
        outside 2xx (a redirect too), a transport error or an answer that is not JSON."""
        try:
            resp = self._send(method, self._url(path), headers=self._headers(), **kw)
        except httpx.HTTPError as exc:
            raise GitHubError(f"GitHub API {method} {path}: {type(exc).__name__}") from None
        if not 200 <= resp.status_code < 300:
            raise GitHubError(f"GitHub API {method} {path}: HTTP {resp.status_code}")
        try:
            return (resp.json() if resp.content else None), resp
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
            raise GitHubError(f"GitHub API {method} {path}: the answer is not JSON") from None

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        return self._request(method, path, **kw)[0]

    def _object(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        doc = self._call("GET", path, params=params or {})
        if not isinstance(doc, dict):
            raise GitHubError(f"GitHub API GET {path}: not an object")
        return doc

    def _pages(self, path: str, params: dict[str, Any], key: str | None = None) -> list[dict[str, Any]]:
        """Every item of a paged listing (the answer's list, or its ``key`` list), to the end:
        the next page is asked for while the ``Link`` header names one (without that header:
        while pages are full). More than :data:`MAX_PAGES` pages is a GitHubError."""
        out: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            doc, resp = self._request("GET", path, params={**params, "per_page": PAGE, "page": page})
            items = doc.get(key) if key is not None and isinstance(doc, dict) else doc
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise GitHubError(f"GitHub API GET {path}: not a list of objects")
            out.extend(items)
            more = "next" in resp.links if "link" in resp.headers else len(items) >= PAGE
            if not more:
                return out
        raise GitHubError(f"GitHub API GET {path}: more than {MAX_PAGES} pages")

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

    def _get_bounded(
        self, url: str | httpx.URL, path: str, headers: dict[str, str] | None = None
    ) -> tuple[httpx.Response, bytes]:
        """One GET (for API ``path``), not following a redirect: the response and, when it is a
        200, its body (GitHubError past MAX_ARTIFACT_BYTES, read no further)."""
        with httpx.stream(
            "GET", url, headers=headers, timeout=self.timeout, follow_redirects=False, verify=verifying_ssl_context()
        ) as resp:
            data = bytearray()
            if resp.status_code == 200:
                for chunk in resp.iter_bytes():
                    data += chunk
                    if len(data) > MAX_ARTIFACT_BYTES:
                        raise GitHubError(f"GitHub API GET {path}: the ZIP is too large")
            return resp, bytes(data)

    def _download_zip(self, artifact_id: int) -> bytes:
        """The ZIP of artifact ``artifact_id``, in memory (at most MAX_ARTIFACT_BYTES): GitHub
        answers with a redirect to short-lived storage, followed once, without the token."""
        path = f"/actions/artifacts/{artifact_id}/zip"
        try:
            resp, data = self._get_bounded(self._url(path), path, self._headers())
            if resp.is_redirect:
                target = resp.url.join(resp.headers.get("location", ""))
                if target.scheme not in ("http", "https") or not target.host:
                    raise GitHubError(f"GitHub API GET {path}: redirected to no http(s) URL")
                resp, data = self._get_bounded(target, path)
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
            data = _zip_member(self._download_zip(int(art["id"])), name, f"artifact {artifact} ({art['id']})")
            return data, run_id
        return None
