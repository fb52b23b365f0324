"""A fake GitHub REST API on loopback: issue comments and issues, in memory, recording every
request (method, path, query, JSON body, Authorization header)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BOT = {"login": "github-actions[bot]"}


class FakeGitHub:
    def __init__(self, repo: str = "acme/connectors", token: str = "ghs-fake-token") -> None:
        self.repo, self.token = repo, token
        self.comments: dict[int, dict[str, Any]] = {}  # id -> {"issue": n, "body": ..., "user": ...}
        self.issues: dict[int, dict[str, Any]] = {}  # number -> {"title", "body", "labels", "state"}
        self.pulls: dict[str, list[dict[str, Any]]] = {}  # commit sha -> pull requests
        self.artifacts: list[dict[str, Any]] = []  # {"id", "name", "created_at", "expired", "zip": bytes}
        self.requests: list[tuple[str, str, dict[str, list[str]], Any]] = []
        self.storage_auth: list[str | None] = []
        self._next = 1000
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append((self.command, parts.path, parse_qs(parts.query), body))
                if parts.path.startswith("/storage/"):
                    fake.storage_auth.append(self.headers.get("Authorization"))
                    art = next(a for a in fake.artifacts if a["id"] == int(parts.path.rsplit("/", 1)[1]))
                    return self._send(200, art["zip"])
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._send(401, {"message": "Bad credentials"})
                status, doc = fake.route(self.command, parts.path, parse_qs(parts.query), body)
                self._send(status, doc)

            def _send(self, status: int, doc: Any) -> None:
                if isinstance(doc, bytes):  # an artifact's storage: no token expected there
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(doc)))
                    self.end_headers()
                    self.wfile.write(doc)
                    return
                if status == 302:
                    self.send_response(302)
                    self.send_header("Location", doc)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        prefix = f"/repos/{self.repo}"
        if not path.startswith(prefix):
            return 404, {"message": "Not Found"}
        rest = path[len(prefix) :].strip("/").split("/")
        page = int(query.get("page", ["1"])[0])
        per_page = int(query.get("per_page", ["30"])[0])

        def paged(items: list[Any]) -> tuple[int, Any]:
            return 200, items[(page - 1) * per_page : page * per_page]

        if rest[:1] == ["commits"] and rest[2:] == ["pulls"]:
            return 200, self.pulls.get(rest[1], [])
        if rest == ["actions", "artifacts"]:
            found = [
                {k: v for k, v in a.items() if k != "zip"} for a in self.artifacts if a["name"] == query["name"][0]
            ]
            return 200, {"total_count": len(found), "artifacts": found}
        if rest[:2] == ["actions", "artifacts"] and rest[3:] == ["zip"]:
            return 302, f"{self.url}/storage/{int(rest[2])}"
        if rest[:1] == ["issues"] and len(rest) == 3 and rest[2] == "comments":
            number = int(rest[1])
            if method == "GET":
                return paged([{"id": i, **c} for i, c in self.comments.items() if c["issue"] == number])
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
                return paged(found)
            number = self.new_id()
            self.issues[number] = {**body, "state": "open"}
            return 201, {"number": number}
        if rest[:1] == ["issues"] and len(rest) == 2 and method == "PATCH":
            self.issues[int(rest[1])].update(body)
            return 200, {"number": int(rest[1])}
        return 404, {"message": "Not Found"}
