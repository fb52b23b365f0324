"""The fixtures of the GitHub client's tests: a fake GitHub API on loopback and the client that
talks to it, and a bare server answering the bodies a test queues."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from fakegithub import CANARY_TOKEN, REPO, FakeGitHub
from helpers import serving

from conn_reconcile.github.api import GitHub


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


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(REPO, CANARY_TOKEN) as server:
        yield server


@pytest.fixture
def gh(fake: FakeGitHub) -> GitHub:
    return GitHub(fake.url, CANARY_TOKEN, REPO)
