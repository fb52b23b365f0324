"""The GitHub REST groundwork of the action: one repository's API, asked with the caller's token
(never printed), no redirect followed, TLS verified; answers read as JSON, and paged listings
read to the end or refused. Failures are :class:`GitHubError`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from conn_reconcile.api.deadline import verifying_ssl_context

#: Items asked for per page of a listing (GitHub's maximum for the endpoints used).
PAGE = 100
#: The most pages one listing may take: a longer one is a GitHubError, never a partial list.
MAX_PAGES = 1000


class GitHubError(Exception):
    """A GitHub API call failed (status and path only: no token, no response body)."""


@dataclass
class Rest:
    """The GitHub REST API of one repository, authenticated with ``token``: requests and listings."""

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
