"""Whole-request deadlines, the command-wide deadline and the connections, against the real
emulator and dribbling servers on loopback. Timing is driven by emulator faults (``dribble``,
``delay``) and by servers sending a byte per 100 ms; time bounds below are guards ("ends within
the limit plus a margin"), never the thing measured."""

from __future__ import annotations

import random
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler

import httpx
import pytest
from e2e import wait_for
from helpers import serving

from conn_reconcile.api.client import CohereClient
from conn_reconcile.api.deadline import ThreadTransports, env_proxy, ssl_context_for
from conn_reconcile.errors import ApiError, ConfigError, DeadlineExceededError, OutcomeUnknownError

KEY = "deadline-test-key"
LIST = "/v1/connectors"
MARGIN = 3.0  # seconds of slack for a loaded machine; the unbounded case would take minutes


def client_for(emulator, **kwargs) -> CohereClient:
    kwargs.setdefault("backoff_base", 0.01)
    kwargs.setdefault("rng", random.Random(1))
    return CohereClient(emulator.url, KEY, **kwargs)


# ---- proxies and TLS ------------------------------------------------------------------------


def test_env_proxy_follows_the_environment(monkeypatch):
    for var in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ):
        monkeypatch.delenv(var, raising=False)
    assert env_proxy("https://api.cohere.com") is None
    monkeypatch.setenv("HTTPS_PROXY", "proxy.internal:3128")
    assert env_proxy("https://api.cohere.com") == "http://proxy.internal:3128"
    assert env_proxy("http://127.0.0.1:8080") is None
    monkeypatch.setenv("NO_PROXY", "api.cohere.com")
    assert env_proxy("https://api.cohere.com") is None


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


# ---- a server sending one byte per 100 ms is cut off at the deadline, whatever it sends --------

CONNECTOR = b'{"connector": {"id": "a", "name": "a", "url": "https://a.example.com/search"}}'
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(CONNECTOR), CONNECTOR)


class Dribbler(BaseHTTPRequestHandler):
    """Answers the first ``quick`` requests of a connection at once, then dribbles ``answer``
    (default: a valid answer) one byte per 100 ms until the client leaves."""

    protocol_version = "HTTP/1.1"
    quick = 0
    answer = ANSWER
    stop: threading.Event

    def do_GET(self) -> None:
        self.served = getattr(self, "served", 0) + 1
        if self.served <= self.quick:
            self.wfile.write(ANSWER)
            self.wfile.flush()
            return
        for i in range(len(self.answer)):
            if self.stop.wait(0.1):
                break
            try:
                self.connection.sendall(self.answer[i : i + 1])
            except OSError:
                break
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def dribbling() -> Iterator[type[Dribbler]]:
    handler = type("Handler", (Dribbler,), {"stop": threading.Event()})
    yield handler
    handler.stop.set()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("quick", "answer"),
    [
        (0, ANSWER),  # the status line and headers, on a new connection
        (1, ANSWER),  # the same on a kept-alive connection, reused
        (1, ANSWER[: ANSWER.index(b"{")] + b" " * 1000),  # the body, after headers sent at once
    ],
    ids=["head", "head-reused", "body"],
)
def test_a_dribbling_server_is_cut_off_at_the_timeout_as_a_whole(dribbling, quick, answer):
    handler = type("Quick", (dribbling,), {"quick": quick, "answer": answer})
    with serving(handler) as url, CohereClient(url, KEY, timeout=1.0, max_attempts=1) as client:
        if quick:
            assert client.get_connector("a").id == "a"
        started = time.monotonic()
        with pytest.raises(ApiError, match=r"timed out waiting for the response \(ReadTimeout"):
            client.get_connector("a")
        assert time.monotonic() - started < 1.0 + MARGIN


@pytest.mark.slow
def test_a_dribbling_server_is_cut_off_at_the_command_deadline(dribbling):
    with serving(dribbling) as url:
        client = CohereClient(url, KEY, timeout=60.0, deadline_at=time.monotonic() + 1.0)
        started = time.monotonic()
        with client, pytest.raises(DeadlineExceededError, match="passed during GET /v1/connectors/a"):
            client.get_connector("a")
    assert time.monotonic() - started < 1.0 + MARGIN


@pytest.fixture
def tls_pair(tmp_path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) SSL contexts: a self-signed certificate for 127.0.0.1, trusted by the client."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key)]
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        [openssl, "req", "-x509", *new_key, "-out", str(cert), "-days", "1", *subject], check=True, capture_output=True
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


@pytest.mark.slow
def test_a_dribbling_tls_server_is_cut_off_on_a_reused_connection(tls_pair):
    """TLS wraps the socket the request opened: the connection is still found and cut off."""
    server_context, client_context = tls_pair
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with server_context.wrap_socket(listener.accept()[0], server_side=True) as conn:
            conn.recv(65536)
            conn.sendall(ANSWER)
            conn.recv(65536)
            for i in range(len(ANSWER)):
                if stop.wait(0.1):
                    return
                conn.sendall(ANSWER[i : i + 1])

    threading.Thread(target=serve, daemon=True).start()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    transport = ThreadTransports(lambda: httpx.HTTPTransport(verify=client_context, limits=limits))
    url = f"https://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with CohereClient(url, KEY, timeout=1.0, max_attempts=1, transport=transport) as client:
            assert client.get_connector("a").id == "a"
            started = time.monotonic()
            with pytest.raises(ApiError, match=r"timed out waiting for the response \(ReadTimeout"):
                client.get_connector("a")
            assert time.monotonic() - started < 1.0 + MARGIN
    finally:
        stop.set()
        listener.close()


def test_a_tls_connection_with_unread_data_is_not_reused(tls_pair):
    """Bytes the server sends after an answer (here a forged second answer, in a TLS record of its
    own) are never read as the next request's answer: that connection is dropped for a new one."""
    server_context, client_context = tls_pair
    listener = socket.create_server(("127.0.0.1", 0))
    forged = ANSWER.replace(b'"name": "a"', b'"name": "x"')
    sent = threading.Event()

    def serve() -> None:
        with server_context.wrap_socket(listener.accept()[0], server_side=True) as first:
            first.recv(65536)
            first.sendall(ANSWER)
            time.sleep(0.05)
            first.sendall(forged)  # unasked
            sent.set()
            with server_context.wrap_socket(listener.accept()[0], server_side=True) as second:
                second.recv(65536)
                second.sendall(ANSWER)

    threading.Thread(target=serve, daemon=True).start()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    transport = ThreadTransports(lambda: httpx.HTTPTransport(verify=client_context, limits=limits))
    url = f"https://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with CohereClient(url, KEY, max_attempts=1, transport=transport) as client:
            assert client.get_connector("a").name == "a"
            assert sent.wait(5)
            time.sleep(0.05)  # the forged record reaches the client's socket
            assert client.get_connector("a").name == "a"
    finally:
        listener.close()


# ---- --timeout bounds a request as a whole ---------------------------------------------------


@pytest.mark.slow
def test_a_dribbling_answer_is_cut_off_at_the_timeout_not_per_byte(emulator):
    emulator.faults.add("GET", LIST, dribble=0.2, times=10)  # ~200 bytes: 40 s if each byte restarted the clock
    with client_for(emulator, timeout=1.0, max_attempts=2) as client:
        started = time.monotonic()
        with pytest.raises(ApiError, match=r"timed out .*gave up after 2 attempts"):
            client.list_connectors()
        elapsed = time.monotonic() - started
    assert elapsed < 2 * 1.0 + MARGIN
    assert emulator.requests.count("GET", LIST) == 2
    wait_for(lambda: emulator.dribbling == 0, "the emulator to notice the client left", timeout=5)


def test_a_slow_but_complete_answer_within_the_timeout_is_fine(emulator):
    emulator.seed({"name": "docs", "url": "https://docs.example.com"}, id="docs-1")
    emulator.faults.add("GET", LIST, dribble=0.001)
    with client_for(emulator, timeout=20.0, max_attempts=1) as client:
        assert [c.id for c in client.list_connectors()] == ["docs-1"]


# ---- --deadline: the command as a whole ------------------------------------------------------


def test_no_request_starts_once_the_deadline_has_passed(emulator):
    with client_for(emulator, deadline_at=time.monotonic() - 0.001) as client:
        with pytest.raises(DeadlineExceededError, match="passed before GET /v1/connectors could be sent"):
            client.list_connectors()
        with pytest.raises(DeadlineExceededError):
            client.create_connector({"name": "docs", "url": "https://docs.example.com"})
        with pytest.raises(DeadlineExceededError):
            client.delete_connector("docs-1")
    assert len(emulator.requests) == 0


@pytest.mark.slow
def test_a_request_in_flight_is_cut_off_at_the_deadline(emulator):
    emulator.faults.add("GET", LIST, dribble=0.5, times=10)
    with client_for(emulator, timeout=60.0, deadline_at=time.monotonic() + 1.5) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError, match="passed during GET /v1/connectors"):
            client.list_connectors()
    assert time.monotonic() - started < 1.5 + MARGIN
    assert emulator.requests.count("GET", LIST) == 1  # not retried


def test_retries_stop_when_the_next_wait_would_pass_the_deadline(emulator):
    emulator.faults.add("GET", LIST, statuses=[503], retry_after=20, times=10)
    sleeps: list[float] = []
    with (
        client_for(emulator, deadline_at=time.monotonic() + 10, sleep=sleeps.append, backoff_cap=30) as client,
        pytest.raises(DeadlineExceededError, match=r"GET /v1/connectors .after 1 attempt"),
    ):
        client.list_connectors()
    assert sleeps == [] and emulator.requests.count("GET", LIST) == 1


@pytest.mark.slow
def test_a_create_cut_off_by_the_deadline_is_unknown_and_never_resent(emulator, endpoint):
    emulator.faults.add("POST", LIST, dribble=0.5)  # the create happens; its answer crawls
    with (
        client_for(emulator, timeout=60.0, deadline_at=time.monotonic() + 1.5) as client,
        pytest.raises(OutcomeUnknownError, match="the --deadline passed before it could be checked"),
    ):
        client.create_connector({"name": "docs", "url": endpoint.url})
    assert [r.method for r in emulator.requests] == ["POST"]  # no resend, no re-list after the deadline
    # why "unknown" is the honest answer: the create lands (on a loaded machine the emulator may
    # still be running its registration test when the client gives up)
    wait_for(lambda: [c["name"] for c in emulator.connectors] == ["docs"], "the create to land")
    assert [r.method for r in emulator.requests] == ["POST"]


def test_bad_timeouts_are_config_errors():
    for kwargs in ({"timeout": 0}, {"timeout": -1}):
        with pytest.raises(ConfigError):
            CohereClient("http://127.0.0.1:1", KEY, **kwargs)


# ---- no pool caps the parallelism: one connection per calling thread -----------------------


@pytest.mark.slow
def test_forty_threads_have_forty_requests_in_flight_at_once(emulator):
    ids = [emulator.seed({"name": f"c{i}", "url": "https://c.example.com"})["id"] for i in range(40)]
    emulator.faults.add("GET", "/v1/connectors/.+", delay=2.0, times=40)  # hold every request open
    with client_for(emulator) as client, ThreadPoolExecutor(40) as pool:
        futures = [pool.submit(client.get_connector, cid) for cid in ids]
        # all 40 are in the server at once: a pool capped at 32 would hold 8 back
        wait_for(lambda: len(emulator.requests) == 40, "40 concurrent requests", timeout=10)
        assert sorted(f.result().id for f in futures) == sorted(ids)


@pytest.mark.slow
def test_one_deadline_per_thread(emulator):
    """The deadline is per request and per thread: a slow request in one thread does not cut
    off a fast one in another (the pool and its connections are shared)."""
    emulator.seed({"name": "docs", "url": "https://docs.example.com"}, id="docs-1")
    emulator.faults.add("GET", LIST, dribble=0.3)
    with client_for(emulator, timeout=1.0, max_attempts=1) as client:
        errors: list[BaseException] = []
        slow = threading.Thread(target=lambda: _capture(errors, client.list_connectors))
        slow.start()
        wait_for(lambda: emulator.dribbling == 1, "the slow request to be dribbled")
        assert client.get_connector("docs-1").id == "docs-1"
        slow.join(timeout=10)
    assert len(errors) == 1 and isinstance(errors[0], ApiError) and "timed out" in str(errors[0])


def _capture(errors: list[BaseException], call) -> None:
    try:
        call()
    except BaseException as exc:
        errors.append(exc)
