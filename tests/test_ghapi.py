"""ghapi against a loopback server whose answers are not what GitHub sends: a clear
GitHubError (no traceback, no token, no body), never a crash."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from helpers import serving

from conn_reconcile.ghapi import GitHub, GitHubError

TOKEN = "ghs-canary-token-7f3a"


@pytest.fixture
def answering() -> Iterator[tuple[str, list[bytes]]]:
    """A server answering 200 with the next body of the list it yields (and its URL)."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = bodies.pop(0)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler) as url:
        yield url, bodies


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
