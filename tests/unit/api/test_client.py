"""Unit tests of the API client against httpx.MockTransport: headers, retries and backoff,
deletes, rate limiting, secrets in errors. No network, no real waiting."""

from __future__ import annotations

import email.utils
import json
import random
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpers import LOOPBACK_SSL
from mock_api import BODY, KEY, TOKEN, URL, UpperRng, conn, make, reply, scripted

from conn_reconcile import __version__
from conn_reconcile.api.client import CohereClient
from conn_reconcile.api.ratelimit import TokenBucket
from conn_reconcile.api.retry import Backoff, parse_retry_after
from conn_reconcile.errors import ApiError, AuthError, ConfigError, NotFoundError, OutcomeUnknownError

# ---- headers and plain calls --------------------------------------------------------------


def test_headers_and_base_url() -> None:
    client, rec, _ = make(lambda r: reply(200, {"connector": conn("a")}))
    assert client.get_connector("a").id == "a"
    request = rec.requests[0]
    assert str(request.url) == "https://api.example.test/v1/connectors/a"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["X-Client-Name"] == "conn-reconcile"
    assert request.headers["User-Agent"] == f"conn-reconcile/{__version__}"
    assert request.headers["Accept"] == "application/json"


def test_requests_are_built_exactly_as_an_httpx_client_builds_them() -> None:
    """Same URL, headers (in order) and body; only the codings its answers are decoded from are
    accepted (not br or zstd, which httpx offers when their packages are installed)."""
    client, rec, _ = make(lambda r: reply(200, {"connector": conn("a")}))
    body = {"name": "a é", "url": "https://x.test/s", "excludes": ["b"], "continue_on_failure": True}
    client.create_connector(body)
    client.update_connector("a", {"description": "d"})
    client.get_connector("a")
    headers = {"Accept-Encoding": "gzip, deflate", "Authorization": f"Bearer {KEY}", "X-Client-Name": "conn-reconcile"}
    headers |= {"User-Agent": f"conn-reconcile/{__version__}", "Accept": "application/json"}
    with httpx.Client(base_url=URL, headers=headers, verify=LOOPBACK_SSL) as http:
        expected = [
            http.build_request("POST", "/v1/connectors", json=body),
            http.build_request("PATCH", "/v1/connectors/a", json={"description": "d"}),
            http.build_request("GET", "/v1/connectors/a"),
        ]
    for sent, built in zip(rec.requests, expected, strict=True):
        assert (sent.method, str(sent.url), sent.content) == (built.method, str(built.url), built.content)
        assert sent.headers.raw == built.headers.raw


def test_update_sends_patch_body_and_parses_connector() -> None:
    client, rec, _ = make(lambda r: reply(200, {"connector": conn("a", description="new")}))
    remote = client.update_connector("a", {"description": "new"})
    assert remote.description == "new"
    assert rec.requests[0].method == "PATCH"
    assert json.loads(rec.requests[0].content) == {"description": "new"}


@pytest.mark.parametrize("data", [{}, {"connector": []}, {"connector": {"name": "no id"}}, [1]])
def test_single_connector_response_must_be_documented_shape(data: Any) -> None:
    client, _, _ = make(lambda r: reply(200, data))
    with pytest.raises(ApiError, match="invalid response"):
        client.get_connector("a")


def test_invalid_client_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        CohereClient(URL, KEY, page_size=101)
    with pytest.raises(ConfigError):
        CohereClient(URL, KEY, max_attempts=0)


def test_context_manager_closes_the_connection_pool() -> None:
    with make(lambda r: reply(200, {"connector": conn("a")}))[0] as client:
        client.get_connector("a")
    with pytest.raises(RuntimeError):
        client.get_connector("a")


# ---- retries ------------------------------------------------------------------------------


def test_429_retry_after_seconds_is_honoured() -> None:
    client, rec, sleeps = make(
        scripted(
            reply(429, {"message": "slow down"}, headers={"Retry-After": "3"}),
            reply(200, {"connectors": [conn("a")], "total_count": 1}),
        )
    )
    assert [c.id for c in client.list_connectors()] == ["a"]
    assert sleeps == [3.0]
    assert len(rec.requests) == 2


def test_retry_after_http_date_and_cap() -> None:
    now = 1_800_000_000.0
    later = email.utils.formatdate(now + 7, usegmt=True)
    client, _, sleeps = make(
        scripted(
            reply(503, headers={"Retry-After": later}),
            reply(503, headers={"Retry-After": "3600"}),  # capped at backoff_cap
            reply(200, {"connector": conn("a")}),
        ),
        wall_clock=lambda: now,
        backoff_cap=20.0,
    )
    client.get_connector("a")
    assert sleeps == [7.0, 20.0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5.0), ("0", 0.0), ("-4", 0.0), ("soon", None), ("", None), (None, None), ("nan", None)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=0.0) == expected


def test_503_backoff_grows_and_is_capped() -> None:
    responses = [reply(503, {"message": "busy"})] * 6 + [reply(200, {"connector": conn("a")})]
    client, rec, sleeps = make(scripted(*responses), max_attempts=7, backoff_base=0.5, backoff_cap=3.0, rng=UpperRng())
    client.get_connector("a")
    assert sleeps == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert len(rec.requests) == 7


def test_full_jitter_stays_within_the_ceiling_and_varies() -> None:
    backoff = Backoff(0.5, 4.0, rng=random.Random(1234))
    for retry in range(1, 9):
        delays = [backoff.delay(retry) for _ in range(50)]
        ceiling = min(4.0, 0.5 * 2 ** (retry - 1))
        assert all(0.0 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 40  # jittered, not a fixed value
        assert max(delays) > ceiling / 2


def test_attempts_are_bounded_and_the_last_error_is_raised() -> None:
    client, rec, sleeps = make(lambda r: reply(503, {"message": "overloaded"}), max_attempts=3)
    with pytest.raises(ApiError) as info:
        client.get_connector("a")
    assert info.value.status == 503
    assert "overloaded" in str(info.value) and "3 attempts" in str(info.value)
    assert len(rec.requests) == 3 and len(sleeps) == 2


def test_transport_errors_are_retried_then_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, rec, _ = make(handler, max_attempts=4)
    with pytest.raises(ApiError, match=r"timed out waiting for the response.*4 attempts"):
        client.list_connectors()
    assert len(rec.requests) == 4


def test_transport_error_then_success() -> None:
    client, rec, sleeps = make(scripted(httpx.ConnectError("refused"), reply(200, {"connector": conn("a")})))
    assert client.get_connector("a").id == "a"
    assert len(rec.requests) == 2 and len(sleeps) == 1


@pytest.mark.parametrize("status", [401, 403, 498])
def test_auth_errors_stop_at_once(status: int) -> None:
    client, rec, sleeps = make(lambda r: reply(status, {"message": "invalid api token"}))
    with pytest.raises(AuthError, match="invalid api token") as info:
        client.list_connectors()
    assert info.value.status == status
    assert len(rec.requests) == 1 and sleeps == []


def test_404_is_not_found_and_not_retried() -> None:
    client, rec, _ = make(lambda r: reply(404, {"message": "connector not found"}))
    with pytest.raises(NotFoundError, match="connector not found"):
        client.get_connector("gone")
    assert len(rec.requests) == 1


def test_non_json_error_body_becomes_a_short_clean_snippet() -> None:
    html = "<html><head><title>502 Bad Gateway</title></head><body>" + "x" * 1000 + "</body></html>"
    client, _, _ = make(lambda r: reply(502, text=html), max_attempts=1)
    with pytest.raises(ApiError) as info:
        client.get_connector("a")
    assert info.value.api_message.startswith("502 Bad Gateway x")
    assert "<" not in info.value.api_message
    assert len(info.value.api_message) <= 200
    assert info.value.method == "GET" and info.value.path == "/v1/connectors/a"


# ---- delete -------------------------------------------------------------------------------


@pytest.mark.parametrize("first", [reply(503, {"message": "busy"}), httpx.ReadTimeout("timed out")])
def test_delete_404_after_a_lost_attempt_is_success(first: Any) -> None:
    client, rec, _ = make(scripted(first, reply(404, {"message": "not found"})))
    assert client.delete_connector("a") is None
    assert len(rec.sent("DELETE")) == 2


@pytest.mark.parametrize(
    "steps",
    [
        [reply(404, {"message": "not found"})],
        # the first attempt never reached the server, so the 404 is real
        [httpx.ConnectError("refused"), reply(404, {"message": "not found"})],
    ],
)
def test_delete_404_without_a_lost_attempt_is_not_found(steps: list[Any]) -> None:
    client, _, _ = make(scripted(*steps))
    with pytest.raises(NotFoundError):
        client.delete_connector("a")


# ---- rate limiting ------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_token_bucket_spaces_requests() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4.0, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        bucket.acquire()
    assert clock.sleeps == [0.25, 0.25, 0.25]
    clock.now += 10  # idle: the bucket refills only up to its burst
    bucket.acquire()
    bucket.acquire()
    assert clock.sleeps[3:] == [0.25]


def test_client_requests_are_paced_by_the_rate_limit() -> None:
    clock = FakeClock()
    seen: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(clock.now)
        return reply(200, {"connector": conn("a")})

    client = CohereClient(
        URL, KEY, transport=httpx.MockTransport(handler), rate_limit=2.0, clock=clock, sleep=clock.sleep
    )
    for _ in range(3):
        client.get_connector("a")
    assert [t - 100.0 for t in seen] == [0.0, 0.5, 1.0]


def test_token_bucket_is_shared_fairly_across_threads() -> None:
    clock = FakeClock()  # frozen: every thread reserves against the same instant
    waits: list[float] = []
    lock = threading.Lock()
    bucket = TokenBucket(10.0, clock=clock, sleep=lambda s: None)
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        wait = bucket.acquire()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(round(w, 6) for w in waits) == [round(0.1 * i, 6) for i in range(8)]


def test_one_client_serves_a_thread_pool() -> None:
    from concurrent.futures import ThreadPoolExecutor

    client, rec, _ = make(lambda r: reply(200, {"connector": conn(r.url.path.rsplit("/", 1)[1])}))
    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(lambda i: client.get_connector(f"c{i}").id, range(64)))
    assert ids == [f"c{i}" for i in range(64)]
    assert len(rec.requests) == 64


# ---- secrets ------------------------------------------------------------------------------


def _chain(exc: BaseException) -> list[str]:
    texts = []
    seen: BaseException | None = exc
    while seen is not None:
        texts.append(str(seen))
        texts.extend(str(a) for a in seen.args)
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return texts


def _leaky(request: httpx.Request) -> httpx.Response:
    echo = f"bad request {request.headers['Authorization']} {request.content.decode()}"
    return reply(400, {"message": echo})


@pytest.mark.parametrize(
    ("handler", "call"),
    [
        (_leaky, lambda c: c.create_connector(BODY)),
        (_leaky, lambda c: c.update_connector("a", BODY)),
        (lambda r: reply(401, text=f"<p>key {KEY} rejected</p>"), lambda c: c.list_connectors()),
        (lambda r: reply(500, text=f"boom {KEY} {TOKEN}"), lambda c: c.update_connector("a", BODY)),
        (scripted(httpx.ConnectError(f"refused for {KEY}")), lambda c: c.get_connector("a")),
        (scripted(reply(500), reply(500)), lambda c: c.create_connector(BODY)),
        (lambda r: reply(200, {"connectors": [{"id": KEY}]}), lambda c: c.list_connectors()),
    ],
)
def test_no_secret_in_any_error(handler: Callable, call: Callable[[CohereClient], Any]) -> None:
    client, _, _ = make(handler, max_attempts=1)
    with pytest.raises(Exception) as info:
        call(client)
    assert isinstance(info.value, (ApiError, OutcomeUnknownError))
    for text in _chain(info.value):
        assert KEY not in text and TOKEN not in text
