"""A real example connector endpoint: what a Cohere connector serves at its ``url`` (the documents
matching a word of the query), and ``python -m conn_reconcile.emulator.endpoint --port 8766
--auth-type bearer --token-env VAR``, which reads its token from the environment, never from argv."""

from __future__ import annotations

import argparse
import hmac
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from conn_reconcile.emulator.wire import BadBody, JsonHandler, Served, ServerThread
from conn_reconcile.model.connector import AUTH_TOKEN_TYPES
from conn_reconcile.model.registration import authorization_header

DEFAULT_DOCUMENTS: tuple[dict[str, str], ...] = (
    {"id": "doc-1", "title": "Onboarding guide", "text": "How new engineers set up their laptop and accounts."},
    {"id": "doc-2", "title": "Incident runbook", "text": "Steps to follow when production is down."},
    {"id": "doc-3", "title": "Expense policy", "text": "What can be expensed and how to file a claim."},
)


class ConnectorEndpoint(Served):
    """``with ConnectorEndpoint(auth_type="bearer", token=t) as ep: ... ep.url ...``.

    It answers ``POST`` on any path with ``{"results": [documents]}``: the documents matching a
    word of the query (all documents when none match). With a token it requires exactly the
    Authorization header Cohere sends for ``(auth_type, token)`` (401 otherwise); the body must be
    a JSON object with a string ``"query"`` (400 otherwise). ``delay`` sleeps before answering,
    modelling registration latency for benchmarks.

    ``queries`` lists the JSON bodies of the queries that passed auth and validation.
    Set ``fail_with`` to a status to make every query answer it; set ``raw_response`` to
    bytes to make every query answer 200 with exactly those bytes (a misbehaving connector).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        auth_type: str | None = None,
        token: str | None = None,
        delay: float = 0.0,
        documents: list[dict[str, Any]] | None = None,
    ):
        if auth_type is not None and auth_type not in AUTH_TOKEN_TYPES:
            raise ValueError(f"auth_type must be {', '.join(AUTH_TOKEN_TYPES)} or None")
        self.auth_type = auth_type
        self._expected = authorization_header(auth_type, token) if token else None
        self.delay = delay
        self.documents = list(DEFAULT_DOCUMENTS if documents is None else documents)
        self.fail_with: int | None = None
        self.raw_response: bytes | None = None
        self._queries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._thread = ServerThread(host, port, _Handler, self)

    @property
    def queries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._queries)

    def authorized(self, header: str | None) -> bool:
        if self._expected is None:
            return True
        return header is not None and hmac.compare_digest(header.encode(), self._expected.encode())

    def record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self._queries.append(body)

    def search(self, query: str) -> list[dict[str, Any]]:
        words = {w for w in query.casefold().split() if w}
        hits = [doc for doc in self.documents if any(w in str(v).casefold() for v in doc.values() for w in words)]
        return hits or list(self.documents)


class _Handler(JsonHandler):
    def do_POST(self) -> None:
        ep: ConnectorEndpoint = self.server.app
        raw = self.body_or_reject()
        if raw is None:
            return
        if not ep.authorized(self.headers.get("Authorization")):
            self.send_json(401, {"message": "unauthorized"})
            return
        try:
            body = self.parse_json(raw)
        except BadBody as exc:
            self.send_json(400, {"message": str(exc)})
            return
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            self.send_json(400, {"message": "body must be a JSON object with a string 'query'"})
            return
        ep.record(body)
        self.wait(ep.delay)
        if ep.fail_with is not None:
            self.send_json(ep.fail_with, {"message": f"failing on purpose with HTTP {ep.fail_with}"})
        elif ep.raw_response is not None:
            self.send_bytes(200, ep.raw_response, "application/json")
        else:
            self.send_json(200, {"results": ep.search(body["query"])})

    def _not_allowed(self) -> None:
        try:
            self.read_body()
        except BadBody:
            self.close_connection = True
        self.send_json(405, {"message": "only POST is supported"}, {"Allow": "POST"})

    do_GET = do_PUT = do_PATCH = do_DELETE = _not_allowed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conn_reconcile.emulator.endpoint",
        description="Run an example Cohere connector endpoint on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--auth-type", choices=AUTH_TOKEN_TYPES, default=None)
    parser.add_argument(
        "--token-env",
        metavar="VAR",
        default=None,
        help="name of the environment variable holding the token the endpoint requires",
    )
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each answer")
    parser.add_argument("--documents", type=Path, default=None, help="JSON file with a list of documents")
    args = parser.parse_args(argv)
    token = None
    if args.token_env:
        token = os.environ.get(args.token_env)
        if not token:
            parser.error(f"environment variable {args.token_env} is not set")
    documents = None
    if args.documents is not None:
        documents = json.loads(args.documents.read_text(encoding="utf-8"))
        if not isinstance(documents, list) or not all(isinstance(d, dict) for d in documents):
            parser.error("--documents must hold a JSON list of objects")
    endpoint = ConnectorEndpoint(
        args.host, args.port, auth_type=args.auth_type, token=token, delay=args.delay, documents=documents
    )
    endpoint.serve_until_signalled("endpoint")
    return 0


if __name__ == "__main__":
    sys.exit(main())
