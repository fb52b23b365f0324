"""The API client's own HTTP/1.1 transport against real loopback sockets: what it sends, how it
reads answers (strictly), keep-alive reuse only of a live connection, failures sorted like
httpcore's (the retry rules depend on it), whole-request deadlines, and the proxy fallback.
Servers here synchronise on events and on socket reads, never on sleeps; time bounds are
guards, never the thing measured."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from helpers import LOOPBACK_SSL

from conn_reconcile.deadline import env_proxy, request_deadline, ssl_context_for
from conn_reconcile.http11 import MAX_BODY_BYTES, Http11Transport, api_transports
from conn_reconcile.retry import never_sent

MARGIN = 3.0
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    return data


class Server:
    """A loopback server whose connections are handled by ``serve(conn)``, one thread each."""

    def __init__(self, serve: Callable[[socket.socket], None]):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._serve = serve
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            self._serve(conn)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket], None]], Server]]:
    servers: list[Server] = []

    def start(handler: Callable[[socket.socket], None]) -> Server:
        servers.append(Server(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def transport_for(server: Server) -> Http11Transport:
    return Http11Transport("http", "127.0.0.1", server.port, LOOPBACK_SSL)


def get(transport: httpx.BaseTransport, port: int, timeout: float = 5.0) -> httpx.Response:
    request = httpx.Request(
        "GET",
        f"http://127.0.0.1:{port}/v1/connectors?limit=1",
        extensions={"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}},
    )
    response = transport.handle_request(request)
    response.read()
    return response


def test_a_live_connection_is_reused_and_the_answer_is_complete(serve):
    seen: list[bytes] = []

    def keep_alive(conn: socket.socket) -> None:
        while request := _read_request(conn):
            seen.append(request)
            conn.sendall(OK)

    server = serve(keep_alive)
    transport = transport_for(server)
    for _ in range(3):
        response = get(transport, server.port)
        assert response.status_code == 200 and response.json() == {}
        assert response.headers["content-type"] == "application/json" and response.reason_phrase == "OK"
    assert server.accepted == 1 and len(seen) == 3
    assert seen[0].startswith(b"GET /v1/connectors?limit=1 HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in seen[0]
    transport.close()


def test_a_connection_the_server_closed_while_idle_is_not_reused(serve):
    closed = threading.Event()

    def one_answer_then_close(conn: socket.socket) -> None:
        if _read_request(conn):
            conn.sendall(OK)  # keep-alive promised, then closed while idle
        conn.shutdown(socket.SHUT_RDWR)
        closed.set()

    server = serve(one_answer_then_close)
    transport = transport_for(server)
    assert get(transport, server.port).status_code == 200
    assert closed.wait(5)
    assert get(transport, server.port).status_code == 200  # a new connection, not an error
    assert server.accepted == 2
    transport.close()


def test_failures_are_sorted_like_httpcore(serve):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nobody listens: refused
    refused = Http11Transport("http", "127.0.0.1", port, LOOPBACK_SSL)
    with pytest.raises(httpx.ConnectError) as info:
        get(refused, port)
    assert never_sent(info.value)

    def hang_up(conn: socket.socket) -> None:
        _read_request(conn)  # read the request, then close without an answer

    server = serve(hang_up)
    with pytest.raises(httpx.RemoteProtocolError) as protocol:
        get(transport_for(server), server.port)
    assert not never_sent(protocol.value)  # it reached the server: it may have acted

    def garbage(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"SPDY/9 what\r\n\r\n")

    server = serve(garbage)
    with pytest.raises(httpx.RemoteProtocolError):
        get(transport_for(server), server.port)


@pytest.mark.slow
def test_a_dribbled_answer_is_cut_off_at_the_deadline_as_a_whole(serve):
    stop = threading.Event()

    def dribble(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while not stop.wait(0.05):  # one byte at a time: each read alone is quick
            try:
                conn.sendall(b" ")
            except OSError:
                return

    server = serve(dribble)
    transport = transport_for(server)
    started = time.monotonic()
    try:
        with request_deadline(time.monotonic() + 1.0), pytest.raises(httpx.ReadTimeout):
            get(transport, server.port, timeout=30)
    finally:
        stop.set()
    assert time.monotonic() - started < 1.0 + MARGIN


def answering(*answers: bytes) -> Callable[[socket.socket], None]:
    """A server that reads a request and sends the next answer, for each answer in turn."""
    queue = list(answers)

    def handler(conn: socket.socket) -> None:
        while queue and _read_request(conn):
            conn.sendall(queue.pop(0))

    return handler


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'3;x=y\r\n{"a\r\n4\r\n": 1\r\n1\r\n}\r\n0\r\nTrailer: v\r\n\r\n'
)


@pytest.mark.parametrize(
    ("answer", "body", "reused"),
    [
        (CHUNKED, b'{"a": 1}', True),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n{}", b"{}", True),
        (b"\r\nHTTP/1.1 200 OK\r\nX-Folded: a\r\n  b\r\nContent-Length: 2\r\n\r\n{}", b"{}", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", b"{}", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", b"{}", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}", b"{}", True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b"", True),
    ],
)
def test_answers_are_read_whole_and_the_connection_kept_only_when_it_may_be(serve, answer, body, reused):
    server = serve(answering(answer, OK))
    transport = transport_for(server)
    assert get(transport, server.port).content == body
    assert get(transport, server.port).json() == {}
    assert server.accepted == (1 if reused else 2)
    transport.close()


def test_a_body_up_to_the_end_of_the_connection_is_read_and_the_connection_dropped(serve):
    def until_close(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b'HTTP/1.1 200 OK\r\n\r\n{"x": 1}')

    server = serve(until_close)
    transport = transport_for(server)
    assert get(transport, server.port).json() == {"x": 1}
    assert get(transport, server.port).json() == {"x": 1}
    assert server.accepted == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",  # cut short
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * (100 * 1024) + b"\r\n\r\n",
    ],
)
def test_an_answer_that_is_not_valid_http_is_a_protocol_error(serve, answer):
    server = serve(answering(answer))
    with pytest.raises(httpx.RemoteProtocolError):
        get(transport_for(server), server.port)


@pytest.mark.parametrize(
    "answer",
    [  # announced (refused before reading it), in chunks, up to the end of the connection
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n{}" % (MAX_BODY_BYTES + 1),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n{}" % (MAX_BODY_BYTES + 1),
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b" " * (MAX_BODY_BYTES + 1),
    ],
)
def test_a_body_over_the_limit_is_refused_not_held(serve, answer):
    server = serve(answering(answer))
    with pytest.raises(httpx.RemoteProtocolError, match=f"larger than {MAX_BODY_BYTES} bytes"):
        get(transport_for(server), server.port)


def test_what_is_sent_and_a_request_that_is_not_valid_http_is_refused_before_connecting(serve):
    seen: list[bytes] = []

    def record(conn: socket.socket) -> None:
        data = _read_request(conn)
        head, _, rest = data.partition(b"\r\n\r\n")
        while len(rest) < 7:
            rest += conn.recv(100)
        seen.append(head + b"\r\n\r\n" + rest)
        conn.sendall(OK)

    server = serve(record)
    transport = transport_for(server)
    url = f"http://127.0.0.1:{server.port}/v1/connectors"
    request = httpx.Request("POST", url, headers={"Authorization": "Bearer k"}, content=b'{"a":1}')
    assert transport.handle_request(request).status_code == 200
    assert seen == [
        b"POST /v1/connectors HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer k\r\n"
        b'Content-Length: 7\r\n\r\n{"a":1}' % server.port
    ]
    for bad in ({"Authorization": "Bearer k\r\nX-Injected: 1"}, {"Bad Name": "v"}, {"X": "a\x00"}):
        with pytest.raises(httpx.LocalProtocolError):
            transport.handle_request(httpx.Request("GET", url, headers=bad))
    assert server.accepted == 1  # refused before any connection was made


def test_a_proxy_in_the_environment_hands_requests_to_httpcore(monkeypatch):
    for var in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    limits = httpx.Limits(max_connections=2)
    context = LOOPBACK_SSL
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    monkeypatch.delenv("http_proxy", raising=False)
    assert isinstance(api_transports("http://api.example.test", limits, context)(), httpx.HTTPTransport)
    monkeypatch.delenv("HTTP_PROXY")
    assert isinstance(api_transports("http://api.example.test", limits, context)(), Http11Transport)
    assert isinstance(api_transports("ftp://api.example.test", limits, context)(), httpx.HTTPTransport)


def test_the_ca_bundle_is_loaded_only_when_a_connection_may_use_tls(monkeypatch):
    for var in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("http_proxy", raising=False)

    def cas(url: str) -> int:
        return ssl_context_for(url, env_proxy(url)).cert_store_stats()["x509_ca"]

    assert cas("http://127.0.0.1:8080") == 0  # plain HTTP, direct: nothing to trust, nothing loaded
    assert cas("https://api.example.test") > 0
    # loaded once per process: every client that may use TLS shares that one context
    assert ssl_context_for("https://a.example.test", None) is ssl_context_for("https://b.example.test", None)
    monkeypatch.setenv("HTTP_PROXY", "https://proxy.example.test:3128")  # TLS to the proxy
    assert cas("http://127.0.0.1:8080") > 0
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example.test:3128")
    assert cas("http://127.0.0.1:8080") == 0
