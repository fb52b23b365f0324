"""A fake GitHub REST API on loopback, in memory: issue comments and issues, pull requests, workflow
runs, artifacts (their ZIP behind a redirect to a "storage" path) and commit comparisons, paged as
GitHub pages them; it records every request (method, path, query, JSON body)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BOT = {"login": "github-actions[bot]"}
REPO = "acme/connectors"
#: a token the tests look for in every output: it must never be printed
CANARY_TOKEN = "ghs-canary-token-7f3a"
NOT_FOUND = 404, {"message": "Not Found"}

Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]]


class _Handler(BaseHTTPRequestHandler):
    """Serves ``self.server.fake``: redirects first, then the artifacts' storage (no token
    expected there), then the API (the token required)."""

    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        if parts.path in fake.redirects:
            return self._send(*fake.redirects[parts.path])
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        fake.requests.append((self.command, parts.path, parse_qs(parts.query), body))
        if parts.path.startswith("/storage/"):
            fake.storage_auth.append(self.headers.get("Authorization"))
            art = next(a for a in fake.artifacts if a["id"] == int(parts.path.rsplit("/", 1)[1]))
            return self._send(200, art["zip"])
        if self.headers.get("Authorization") != f"Bearer {fake.token}":
            return self._send(401, {"message": "Bad credentials"})
        self._send(*fake.route(self.command, parts.path, parse_qs(parts.query), body))

    def _send(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        if isinstance(doc, bytes):  # an artifact's storage: no token expected there
            self.send_response(status)
            self.send_header("Content-Length", str(len(doc)))
            self.end_headers()
            self.wfile.write(doc)
            return
        if 300 <= status < 400:
            self.send_response(status)
            self.send_header("Location", doc)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = _handle


class _Server(ThreadingHTTPServer):
    def __init__(self, fake: FakeGitHub) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Pages:
    """The page a listing request asks for (``page``, and ``per_page`` capped at the fake's
    ``max_per_page``), and its ``Link`` header when the fake sends them."""

    def __init__(self, fake: FakeGitHub, path: str, query: dict[str, list[str]]) -> None:
        self.fake, self.path = fake, path
        self.page = int(query.get("page", ["1"])[0])
        self.per_page = min(int(query.get("per_page", ["30"])[0]), fake.max_per_page)

    def window(self, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        """This page of ``items`` (sliced before anything is copied), and its Link header."""
        page, per_page = self.page, self.per_page
        headers = {}
        if self.fake.link_headers:
            more = len(items) > page * per_page
            url = f"{self.fake.url}{self.path}?per_page={per_page}&page="
            links = [f'<{url}{page + 1}>; rel="next"'] if more else []
            headers["Link"] = ", ".join([*links, f'<{url}1>; rel="first"'])
        return items[(page - 1) * per_page : page * per_page], headers

    def paged(self, items: list[Any], make: Any = None) -> tuple[int, Any, dict[str, str]]:
        window_items, headers = self.window(items)
        return 200, [make(i) for i in window_items] if make else window_items, headers


class FakeGitHub:
    """The fake's data, which tests set and read, and its server (``with FakeGitHub() as fake:
    ... fake.url ...``). Listings are paged with ``page``/``per_page``, ``per_page`` capped at
    ``max_per_page``; with ``link_headers`` set, a page names the next one in a ``Link`` header.
    ``storage_auth`` records the Authorization header of every artifact download."""

    def __init__(self, repo: str = "acme/connectors", token: str = "ghs-fake-token") -> None:
        self.repo, self.token = repo, token
        self.comments: dict[int, dict[str, Any]] = {}  # id -> {"issue": n, "body": ..., "user": ...}
        self.issues: dict[int, dict[str, Any]] = {}  # number -> {"title", "body", "labels", "state"}
        self.pulls: dict[str, list[dict[str, Any]]] = {}  # commit sha -> pull requests
        # {"id", "name", "created_at", "expired", "zip": bytes, and optionally "workflow_run": {"id",
        # "repository_id", "head_repository_id", "head_branch", "head_sha"}}; listed in this order
        self.artifacts: list[dict[str, Any]] = []
        # number -> {"number", "merged", "merge_commit_sha", "head": {"sha", "ref", "repo": {"full_name"} | None}}
        self.pulls_by_number: dict[int, dict[str, Any]] = {}
        # run id -> {"event", "path", "head_sha", "head_branch", "repository": {"id", "full_name"},
        # "head_repository": {"id", "full_name"} | None}; served with "id" added
        self.runs: dict[int, dict[str, Any]] = {}
        # (base, head) -> {"status": "ahead" | "behind" | "identical" | "diverged", "commits": [sha, ...]}
        self.compare: dict[tuple[str, str], dict[str, Any]] = {}
        # request path -> (3xx status, Location): answered before anything else
        self.redirects: dict[str, tuple[int, str]] = {}
        self.max_per_page = 100
        self.link_headers = False
        self.requests: list[tuple[str, str, dict[str, list[str]], Any]] = []
        self.storage_auth: list[str | None] = []
        self._next = 1000
        self.server = _Server(self)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # a short poll interval: shutdown() waits for the loop's next poll (0.5 s by default)
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def new_id(self) -> int:
        self._next += 1
        return self._next

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Answer:
        prefix = f"/repos/{self.repo}"
        if not path.startswith(prefix):
            return NOT_FOUND
        rest = path[len(prefix) :].strip("/").split("/")
        pages = _Pages(self, path, query)
        if rest[:1] == ["issues"]:
            return self._issues(method, rest, query, body, pages)
        if rest[:1] == ["actions"]:
            return self._actions(rest, query, pages)
        return self._git(rest, pages)

    def _git(self, rest: list[str], pages: _Pages) -> Answer:
        """Commits, pull requests and comparisons."""
        if rest[:1] == ["commits"] and rest[2:] == ["pulls"]:
            return pages.paged(self.pulls.get(rest[1], []))
        if rest[:1] == ["pulls"] and len(rest) == 2:
            if int(rest[1]) not in self.pulls_by_number:
                return NOT_FOUND
            return 200, {"number": int(rest[1]), **self.pulls_by_number[int(rest[1])]}
        if rest[:1] == ["compare"] and len(rest) >= 2 and "..." in "/".join(rest[1:]):
            base, head = "/".join(rest[1:]).split("...", 1)
            if (base, head) not in self.compare:
                return NOT_FOUND
            comparison = self.compare[base, head]
            commits, headers = pages.window(list(comparison["commits"]))
            doc = {
                "status": comparison["status"],
                "ahead_by": len(comparison["commits"]),
                "total_commits": len(comparison["commits"]),
                "commits": [{"sha": sha} for sha in commits],
            }
            return 200, doc, headers
        return NOT_FOUND

    def _actions(self, rest: list[str], query: dict[str, list[str]], pages: _Pages) -> Answer:
        """Workflow runs and artifacts (an artifact's ZIP: a redirect to the storage path)."""
        if rest[:2] == ["actions", "runs"] and len(rest) == 3:
            if int(rest[2]) not in self.runs:
                return NOT_FOUND
            return 200, {"id": int(rest[2]), **self.runs[int(rest[2])]}
        if rest == ["actions", "artifacts"]:
            found = [a for a in self.artifacts if a["name"] == query["name"][0]]
            items, headers = pages.window(found)
            listed = [{k: v for k, v in a.items() if k != "zip"} for a in items]
            return 200, {"total_count": len(found), "artifacts": listed}, headers
        if rest[:2] == ["actions", "artifacts"] and rest[3:] == ["zip"]:
            return 302, f"{self.url}/storage/{int(rest[2])}"
        return NOT_FOUND

    def _issues(self, method: str, rest: list[str], query: dict[str, list[str]], body: Any, pages: _Pages) -> Answer:
        """Issues and their comments."""
        if len(rest) == 3 and rest[2] == "comments":
            number = int(rest[1])
            if method == "GET":
                ids = [i for i, c in self.comments.items() if c["issue"] == number]
                return pages.paged(ids, lambda i: {"id": i, **self.comments[i]})
            cid = self.new_id()
            self.comments[cid] = {"issue": number, "body": body["body"], "user": BOT}
            return 201, {"id": cid}
        if rest[:2] == ["issues", "comments"] and method == "PATCH":
            self.comments[int(rest[2])]["body"] = body["body"]
            return 200, {"id": int(rest[2])}
        if rest == ["issues"]:
            if method == "GET":
                label, state = query["labels"][0], query["state"][0]
                found = [
                    {"number": n, **i} for n, i in self.issues.items() if label in i["labels"] and i["state"] == state
                ]
                return pages.paged(found)
            number = self.new_id()
            self.issues[number] = {**body, "state": "open"}
            return 201, {"number": number}
        if len(rest) == 2 and method == "PATCH":
            self.issues[int(rest[1])].update(body)
            return 200, {"number": int(rest[1])}
        return NOT_FOUND
