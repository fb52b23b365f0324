"""The API client's own reading of answers, in process against loopback servers writing raw bytes:
compressed bombs and bodies over the bound refused, broken HTTP a protocol error, connections kept
alive only when they may be, failures sorted for the retry rules, a proxy from the environment."""

from __future__ import annotations

import contextlib
import resource
import socket
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from helpers import serving

from conn_reconcile.api.client import MAX_BODY_BYTES, CohereClient
from conn_reconcile.errors import ApiError, OutcomeUnknownError

pytestmark = pytest.mark.e2e

MARGIN = 5.0  # interpreter start-up and a loaded machine

KEY = "canary-hostile-key-2b7d"
CONNECTOR = b'{"connector": {"id": "a", "name": "a", "url": "https://a.example.com/search"}}'


def gzip(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


def double_gzip_bomb() -> bytes:
    """About 2.5 KB, ``Content-Encoding: gzip, gzip``, expanding to 1 GiB of zeros (a valid
    gzip stream inside a gzip stream, built from one compressed MiB repeated)."""
    mib = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = c.compress(mib) + c.flush(zlib.Z_FULL_FLUSH)
    steady = c.compress(mib) + c.flush(zlib.Z_FULL_FLUSH)  # the same bytes for every further MiB
    crc = 0
    for _ in range(1024):
        crc = zlib.crc32(mib, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return gzip(header + first + steady * 1023 + c.flush() + struct.pack("<II", crc, 0))  # ISIZE: 2**30 mod 2**32


def answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = [f"HTTP/1.1 {status}", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        head.append(f"Content-Length: {len(body)}")
    return "\r\n".join([*head, "", ""]).encode() + body


class Raw(BaseHTTPRequestHandler):
    """Answers each request with the next of ``answers`` written as raw bytes (None: hang up
    without answering; a callable writes the answer itself); counts connections and records
    the request lines."""

    protocol_version = "HTTP/1.1"
    answers: list[Any]
    connections: list[int]
    lines: list[str]

    def setup(self) -> None:
        super().setup()
        self.connections.append(1)

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):  # the client left (a body over the bound)
            super().handle()

    def respond(self) -> None:
        self.lines.append(self.requestline)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        step = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if step is None:
            self.close_connection = True
        elif callable(step):
            step(self)
        else:
            self.wfile.write(step)
            self.wfile.flush()
            self.close_connection = b"connection: close" in step.lower() or step.startswith(b"HTTP/1.0")

    do_GET = do_POST = do_PATCH = do_DELETE = respond

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def raw() -> Iterator[Callable[..., tuple[str, type[Raw]]]]:
    """``raw(*answers)``: a loopback server answering with those bytes: (its URL, its handler class)."""
    with contextlib.ExitStack() as stack:

        def start(*answers: Any) -> tuple[str, type[Raw]]:
            handler = type("Handler", (Raw,), {"answers": list(answers), "connections": [], "lines": []})
            return stack.enter_context(serving(handler)), handler

        yield start


def client(url: str, **kwargs: Any) -> CohereClient:
    kwargs.setdefault("max_attempts", 1)
    kwargs.setdefault("backoff_base", 0.01)
    return CohereClient(url, KEY, **kwargs)


def test_a_double_gzip_bomb_stops_at_the_size_bound_quickly_and_in_little_memory(raw):
    bomb = double_gzip_bomb()
    assert len(bomb) < 4096
    url, _ = raw(answer(bomb, "Content-Type: application/json", "Content-Encoding: gzip, gzip"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB (Linux)
    started = time.monotonic()
    with client(url, timeout=5) as api, pytest.raises(ApiError, match=f"too large.*larger than {MAX_BODY_BYTES} bytes"):
        api.get_connector("a")
    assert time.monotonic() - started < 2.5  # well within --timeout 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # not 1 GiB (or 3)


def test_plan_against_a_compressed_bomb_fails_at_once(project, raw):
    url, handler = raw(answer(double_gzip_bomb(), "Content-Encoding: gzip, gzip"))
    project.write("docs.yaml", project.service("docs"))
    started = time.monotonic()
    plan = project.run("--timeout", "5", "plan", env={"CO_API_URL": url})
    assert plan.code == 1, plan.both
    assert f"the answer is too large (AnswerTooLarge: the answer's body is larger than {MAX_BODY_BYTES}" in plan.err
    assert len(handler.lines) == 4  # every attempt refused at the bound, none waited for the timeout
    assert time.monotonic() - started < 5 + MARGIN


@pytest.mark.parametrize(
    "over",
    [  # announced (refused before reading it: nothing more comes), in chunks, up to the end of the connection
        answer(b"{}", f"Content-Length: {MAX_BODY_BYTES + 1}"),
        answer(
            b"%x\r\n%s\r\n0\r\n\r\n" % (MAX_BODY_BYTES + 1, b" " * (MAX_BODY_BYTES + 1)), "Transfer-Encoding: chunked"
        ),
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b" " * (MAX_BODY_BYTES + 1),
        answer(gzip(b" " * (MAX_BODY_BYTES + 1)), "Content-Encoding: gzip"),
    ],
    ids=["announced", "chunked", "until-close", "gzip"],
)
def test_a_body_over_the_bound_is_refused_not_held(raw, over):
    url, _ = raw(over)
    with client(url, timeout=30) as api, pytest.raises(ApiError, match=f"larger than {MAX_BODY_BYTES} bytes"):
        api.get_connector("a")


@pytest.mark.parametrize(
    "encoded",
    [
        answer(gzip(CONNECTOR), "Content-Encoding: gzip"),
        answer(gzip(gzip(CONNECTOR)), "Content-Encoding: gzip, x-gzip"),
        answer(zlib.compress(CONNECTOR), "Content-Encoding: deflate"),
        answer(zlib.compress(CONNECTOR)[2:-4], "Content-Encoding: deflate"),  # raw deflate, as servers send it
        answer(CONNECTOR, "Content-Encoding: identity"),
    ],
    ids=["gzip", "gzip-twice", "deflate", "raw-deflate", "identity"],
)
def test_compressed_answers_are_decoded(raw, encoded):
    url, _ = raw(encoded)
    with client(url) as api:
        assert api.get_connector("a").name == "a"


@pytest.mark.parametrize(
    "broken",
    [
        answer(b'{"connector":', "Content-Length: 40", "Connection: close"),  # cut short
        answer(b"{}", "Content-Length: 2", "Content-Length: 3"),
        answer(b"{}", "Transfer-Encoding: gzip"),
        answer(b"zz\r\n", "Transfer-Encoding: chunked"),
        answer(b"{}", "Bad Header: x"),
        answer(b"{}", "X: a\x00b"),
        b"HTTP/2 200\r\n\r\n",
        b"SPDY/9 what\r\n\r\n",
        answer(b"{}", "X-Big: " + "a" * (200 * 1024)),  # h11's limit: 100 KiB of a head still incomplete
        answer(b"{}", "Content-Encoding: br"),  # a coding never asked for
        answer(b"not gzip at all", "Content-Encoding: gzip"),
    ],
)
def test_an_answer_that_is_not_valid_http_is_a_protocol_error(raw, broken):
    url, _ = raw(broken)
    with client(url, timeout=10) as api, pytest.raises(ApiError, match="broke the HTTP protocol"):
        api.get_connector("a")


@pytest.mark.parametrize(
    ("framing", "reused"),
    [
        (answer(CONNECTOR), True),
        (
            answer(b"%x\r\n%s\r\n0\r\nTrailer: v\r\n\r\n" % (len(CONNECTOR), CONNECTOR), "Transfer-Encoding: chunked"),
            True,
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + answer(CONNECTOR), True),
        (answer(CONNECTOR, "Connection: close"), False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(CONNECTOR), CONNECTOR), False),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + CONNECTOR, False),  # the body ends with the connection
    ],
    ids=["length", "chunked", "interim-100", "connection-close", "http-1.0", "until-close"],
)
def test_answers_are_read_whole_and_a_connection_kept_only_when_it_may_be(raw, framing, reused):
    url, handler = raw(framing)
    with client(url) as api:
        for _ in range(3):
            assert api.get_connector("a").id == "a"
    assert len(handler.connections) == (1 if reused else 3)


def test_a_connection_the_server_closed_while_idle_is_not_reused(raw):
    def answer_then_close(handler: Raw) -> None:
        handler.wfile.write(answer(CONNECTOR))  # keep-alive promised, then closed while idle
        handler.wfile.flush()
        handler.connection.shutdown(socket.SHUT_RDWR)
        handler.close_connection = True

    url, handler = raw(answer_then_close)
    with client(url) as api:
        assert api.get_connector("a").id == "a"
        time.sleep(0.05)  # let the close reach the client's socket
        assert api.get_connector("a").id == "a"  # a new connection, not an error
    assert len(handler.connections) == 2


def test_failures_are_sorted_for_the_retry_rules(raw):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{unused.getsockname()[1]}"
    with client(refused, max_attempts=2) as api, pytest.raises(ApiError, match=r"could not connect.*2 attempts"):
        api.create_connector({"name": "docs", "url": "https://docs.example.com"})  # never sent: resent

    url, handler = raw(None)  # reads each request, then hangs up without an answer
    with client(url, max_attempts=3) as api, pytest.raises(OutcomeUnknownError):
        api.create_connector({"name": "docs", "url": "https://docs.example.com"})
    posts = [line for line in handler.lines if line.startswith("POST")]
    assert len(posts) == 1  # it reached the server, which may have acted: never resent


def test_a_header_that_is_not_valid_http_is_never_sent(raw):
    url, handler = raw(answer(CONNECTOR))
    api = CohereClient(url, KEY + "\r\nX-Injected: 1", max_attempts=3)
    with api, pytest.raises(ApiError, match="not valid HTTP") as info:
        api.get_connector("a")
    assert KEY not in str(info.value) and "Injected" not in str(info.value)
    assert handler.lines == []  # refused before anything was sent, and not retried


def test_a_proxy_from_the_environment_is_used(raw, monkeypatch):
    for var in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(var, raising=False)
    proxy, handler = raw(answer(CONNECTOR))
    monkeypatch.setenv("HTTP_PROXY", proxy)
    with client("http://api.example.test") as api:
        assert api.get_connector("a").id == "a"
    assert handler.lines == ["GET http://api.example.test/v1/connectors/a HTTP/1.1"]
