"""The few GitHub REST calls the action makes: one sticky pull-request comment, one drift
issue. Edge module (network). The token comes from the caller and is never printed.

Only the documented endpoints are used (``GITHUB_API_URL`` is the base, so GitHub Enterprise
works): list/create/update issue comments, list/create/update issues.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

import httpx

from conn_reconcile.deadline import verifying_ssl_context

BOT = "github-actions[bot]"
PAGE = 100
MAX_PAGES = 50
MAX_ARTIFACT_BYTES = 64 * 1024 * 1024


class GitHubError(Exception):
    """A GitHub API call failed (status and path only: no token, no response body)."""


@dataclass
class GitHub:
    """The GitHub REST API of one repository, authenticated with ``token``."""

    api_url: str
    token: str
    repo: str
    timeout: float = 30.0

    def _send(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """One request with this API's timeout, never following a redirect, TLS verified with
        the process's one SSL context."""
        return httpx.request(
            method, url, timeout=self.timeout, follow_redirects=False, verify=verifying_ssl_context(), **kw
        )

    def _url(self, path: str) -> str:
        return f"{self.api_url.rstrip('/')}/repos/{self.repo}{path}"

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        url = self._url(path)
        try:
            resp = self._send(method, url, headers=headers, **kw)
        except httpx.HTTPError as exc:
            raise GitHubError(f"GitHub API {method} {path}: {type(exc).__name__}") from None
        if resp.status_code >= 400:
            raise GitHubError(f"GitHub API {method} {path}: HTTP {resp.status_code}")
        try:
            return resp.json() if resp.content else None
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
            raise GitHubError(f"GitHub API {method} {path}: the answer is not JSON") from None

    def _pages(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            items = self._call("GET", path, params={**params, "per_page": PAGE, "page": page})
            if not isinstance(items, list):
                raise GitHubError(f"GitHub API GET {path}: not a list")
            out.extend(i for i in items if isinstance(i, dict))
            if len(items) < PAGE:
                break
        return out

    def sticky_comment(self, number: int, body: str, marker: str) -> str:
        """Update our comment carrying ``marker`` on issue/PR ``number``, or create it.
        Returns "updated" or "created"."""
        comments = self._pages(f"/issues/{number}/comments", {})
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

    def pull_request_of(self, sha: str) -> int | None:
        """The pull request merged as commit ``sha`` (or, failing that, the first one listing it)."""
        pulls = self._call("GET", f"/commits/{sha}/pulls")
        if not isinstance(pulls, list):
            return None
        merged = [p for p in pulls if isinstance(p, dict) and p.get("merge_commit_sha") == sha]
        for pull in merged or [p for p in pulls if isinstance(p, dict)]:
            number = pull.get("number")
            if isinstance(number, int) and not isinstance(number, bool):
                return number
        return None

    def download_file(self, artifact: str, name: str) -> bytes | None:
        """File ``name`` from the newest unexpired artifact called ``artifact``, or None."""
        found = self._call("GET", "/actions/artifacts", params={"name": artifact, "per_page": PAGE})
        items = [a for a in (found or {}).get("artifacts", []) if isinstance(a, dict) and not a.get("expired")]
        if not items:
            return None
        newest = max(items, key=lambda a: str(a.get("created_at") or ""))
        path = f"/actions/artifacts/{int(newest['id'])}/zip"
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/vnd.github+json"}
        url = self._url(path)
        try:  # GitHub answers with a redirect to short-lived storage: the token is not sent there
            resp = self._send("GET", url, headers=headers)
            if resp.is_redirect:
                resp = self._send("GET", resp.headers["location"])
        except httpx.HTTPError as exc:
            raise GitHubError(f"GitHub API GET {path}: {type(exc).__name__}") from None
        if resp.status_code >= 400:
            raise GitHubError(f"GitHub API GET {path}: HTTP {resp.status_code}")
        try:
            with zipfile.ZipFile(io.BytesIO(resp.content)) as archive:
                info = archive.getinfo(name)
                if info.file_size > MAX_ARTIFACT_BYTES:
                    raise GitHubError(f"artifact {artifact}: {name} is too large")
                return archive.read(info)
        except (zipfile.BadZipFile, KeyError):
            raise GitHubError(f"artifact {artifact} holds no {name}") from None
