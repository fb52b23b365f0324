"""Unit tests of the API client against httpx.MockTransport: no network, no real waiting."""

from __future__ import annotations

import email.utils
import json
import random
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from conn_reconcile import __version__
from conn_reconcile.client import CohereClient
from conn_reconcile.errors import ApiError, AuthError, ConfigError, NotFoundError, OutcomeUnknownError
from conn_reconcile.ratelimit import TokenBucket
from conn_reconcile.retry import Backoff, parse_retry_after

KEY = "canary-key-7f3a9c1e5b2d"
TOKEN = "svc-token-canary-44e1b0"
URL = "https://api.example.test/"


def conn(id: str, name: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": id,
        "name": name or id,
        "url": f"https://{id}.example.com/search",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        **extra,
    }


def reply(status: int = 200, data: Any = None, *, text: str | None = None, headers: dict | None = None) -> httpx.Response:
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    return httpx.Response(status, json=data if data is not None else {}, headers=headers)


class Recorder:
    """A MockTransport handler that records every request and delegates to ``handler``."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]):
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def sent(self, method: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method]


class UpperRng(random.Random):
    """Jitter that always picks the top of the range, so delays are the backoff ceilings."""

    def uniform(self, a: float, b: float) -> float:
        return b


def make(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> tuple[CohereClient, Recorder, list[float]]:
    recorder = Recorder(handler)
    sleeps: list[float] = []
    kwargs.setdefault("rng", random.Random(7))
    client = CohereClient(URL, KEY, transport=httpx.MockTransport(recorder), sleep=sleeps.append, **kwargs)
    return client, recorder, sleeps


def scripted(*steps: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    """A handler answering each request with the next step (raising it when it is an error)."""
    queue = list(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        step = queue.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    return handler


class Org:
    """A tiny in-memory connectors API for the create-recovery tests.

    ``posts`` scripts the POST answers: "ok" creates and answers 200, "created-500" /
    "created-timeout" create and then fail, "500" / "timeout" / "connect" / "429" fail
    without creating, a Response is returned as is.
    """

    def __init__(self, existing: list[dict[str, Any]] = (), posts: list[Any] = (), list_fails: bool = False):
        self.connectors = list(existing)
        self.posts = list(posts)
        self.list_fails = list_fails
        self.lag = 0  # list responses that still omit the newest connector

    def create(self, request: httpx.Request) -> dict[str, Any]:
        body = json.loads(request.content)
        item = conn(f"{body['name']}-{len(self.connectors)}", body["name"])
        self.connectors.insert(0, item)
        return item

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            if self.list_fails:
                return reply(401, {"message": "invalid api token"})
            visible = self.connectors[self.lag :] if self.lag else self.connectors
            self.lag = max(0, self.lag - 1)
            return reply(200, {"connectors": visible, "total_count": len(visible)})
        step = self.posts.pop(0)
        if isinstance(step, httpx.Response):
            return step
        if step == "ok":
            return reply(200, {"connector": self.create(request)})
        if step == "created-500":
            self.create(request)
            return reply(500, {"message": "internal error"})
        if step == "created-timeout":
            self.create(request)
            raise httpx.ReadTimeout("timed out", request=request)
        if step == "500":
            return reply(500, {"message": "internal error"})
        if step == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        if step == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        if step == "429":
            return reply(429, {"message": "slow down"}, headers={"Retry-After": "1"})
        raise AssertionError(step)


BODY = {"name": "docs", "url": "https://docs.example.com/search", "service_auth": {"type": "bearer", "token": TOKEN}}


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


# ---- pagination ---------------------------------------------------------------------------


def paged(items: list[dict[str, Any]], *, total: bool = True) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        limit, offset = int(request.url.params["limit"]), int(request.url.params["offset"])
        data: dict[str, Any] = {"connectors": items[offset : offset + limit]}
        if total:
            data["total_count"] = len(items)
        return reply(200, data)

    return handler


def test_pagination_across_three_pages_with_total_count() -> None:
    items = [conn(f"c{i}") for i in range(6)]
    client, rec, _ = make(paged(items), page_size=2)
    assert [c.id for c in client.list_connectors()] == [f"c{i}" for i in range(6)]
    # pages are read while they are full, whatever total_count says (it could be lying):
    # the fourth, empty page ends the listing
    assert [(r.url.params["limit"], r.url.params["offset"]) for r in rec.requests] == [
        ("2", "0"),
        ("2", "2"),
        ("2", "4"),
        ("2", "6"),
    ]


def test_pagination_without_total_stops_at_a_short_page() -> None:
    items = [conn(f"c{i}") for i in range(5)]
    client, rec, _ = make(paged(items, total=False), page_size=2)
    assert len(client.list_connectors()) == 5
    assert [r.url.params["offset"] for r in rec.requests] == ["0", "2", "4"]


def test_duplicate_across_pages_relists_once() -> None:
    # a create between page 1 and 2 shifts "b" onto page 2 (no total_count to notice it)
    client, rec, _ = make(
        scripted(
            reply(200, {"connectors": [conn("a"), conn("b")]}),
            reply(200, {"connectors": [conn("b"), conn("c")]}),
            reply(200, {"connectors": [conn("x"), conn("a")]}),
            reply(200, {"connectors": [conn("b"), conn("c")]}),
            reply(200, {"connectors": []}),
        ),
        page_size=2,
    )
    assert [c.id for c in client.list_connectors()] == ["x", "a", "b", "c"]
    assert [r.url.params["offset"] for r in rec.requests] == ["0", "2", "0", "2", "4"]


def test_duplicate_id_in_both_passes_is_an_error_not_dropped() -> None:
    page = reply(200, {"connectors": [conn("a"), conn("b"), conn("a")], "total_count": 3})
    client, rec, _ = make(lambda r: page, page_size=5)
    with pytest.raises(ApiError) as info:
        client.list_connectors()
    assert str(info.value) == (
        "API error on GET /v1/connectors: the connector list has connector id 'a' twice (again as item 2) (read twice)"
    )
    assert len(rec.requests) == 2


def test_total_count_change_relists_once_then_accepts_a_stable_listing() -> None:
    pages = [
        reply(200, {"connectors": [conn("a"), conn("b")], "total_count": 3}),
        reply(200, {"connectors": [conn("b"), conn("c")], "total_count": 4}),  # n was created
        # second pass over [n, a, b, c]
        reply(200, {"connectors": [conn("n"), conn("a")], "total_count": 4}),
        reply(200, {"connectors": [conn("b"), conn("c")], "total_count": 4}),
        reply(200, {"connectors": [], "total_count": 4}),
    ]
    client, rec, _ = make(scripted(*pages), page_size=2)
    assert [c.id for c in client.list_connectors()] == ["n", "a", "b", "c"]
    assert [r.url.params["offset"] for r in rec.requests] == ["0", "2", "0", "2", "4"]


def test_total_count_changing_in_both_passes_is_an_error() -> None:
    pages = [
        reply(200, {"connectors": [conn("a"), conn("b")], "total_count": 3}),
        reply(200, {"connectors": [conn("c")], "total_count": 4}),
        reply(200, {"connectors": [conn("n"), conn("a")], "total_count": 4}),
        reply(200, {"connectors": [conn("a"), conn("b")], "total_count": 5}),
    ]
    client, _, _ = make(scripted(*pages), page_size=2)
    with pytest.raises(ApiError, match=r"the org changed while it was being listed \(total_count went from 4 to 5\)"):
        client.list_connectors()


def test_total_count_shrinking_relists_so_nothing_is_skipped() -> None:
    pages = [
        reply(200, {"connectors": [conn("a"), conn("b")], "total_count": 4}),
        # "a" was deleted: offset 2 now starts at "d", so "c" would be skipped
        reply(200, {"connectors": [conn("d")], "total_count": 3}),
        reply(200, {"connectors": [conn("b"), conn("c")], "total_count": 3}),
        reply(200, {"connectors": [conn("d")], "total_count": 3}),
    ]
    client, _, _ = make(scripted(*pages), page_size=2)
    assert [c.id for c in client.list_connectors()] == ["b", "c", "d"]


def test_pagination_that_never_advances_is_an_error_not_a_loop() -> None:
    client, rec, _ = make(lambda r: reply(200, {"connectors": [conn("a"), conn("b")]}), page_size=2)
    with pytest.raises(ApiError, match="connector id 'a' twice"):
        client.list_connectors()
    assert len(rec.requests) == 4  # two pages per pass, two passes


@pytest.mark.parametrize(
    ("pages", "message"),
    [
        # page 1 is full and total_count says more, but page 2 is empty
        ([[conn("a"), conn("b")], []], "the connector list is incomplete: 2 distinct connectors read, total_count says 5"),
        # total_count is smaller than what the pages hold
        ([[conn("a"), conn("b")], [conn("c")]],
         "the connector list does not match its total_count: 3 distinct connectors read, total_count says 2"),
    ],
    ids=["empty-second-page", "total-too-small"],
)
def test_a_listing_that_does_not_add_up_is_read_again_then_an_error(pages: list, message: str) -> None:
    total = 5 if not pages[1] else 2
    handler = paged_pages(pages, total)
    client, rec, _ = make(handler, page_size=2)
    with pytest.raises(ApiError) as info:
        client.list_connectors()
    assert str(info.value) == f"API error on GET /v1/connectors: {message} (read twice)"
    assert [r.url.params["offset"] for r in rec.requests] == ["0", "2"] * 2


def paged_pages(pages: list[list[dict[str, Any]]], total: int) -> Callable[[httpx.Request], httpx.Response]:
    """Answer page ``offset // limit`` of ``pages`` with ``total_count`` = ``total``."""

    def handler(request: httpx.Request) -> httpx.Response:
        index = int(request.url.params["offset"]) // int(request.url.params["limit"])
        return reply(200, {"connectors": pages[index] if index < len(pages) else [], "total_count": total})

    return handler


def test_a_page_longer_than_the_limit_is_an_error() -> None:
    client, _, _ = make(lambda r: reply(200, {"connectors": [conn("a"), conn("b"), conn("c")]}), page_size=2)
    with pytest.raises(ApiError, match="sent 3 items for a page of 2"):
        client.list_connectors()


@pytest.mark.parametrize("bad_id", [".", "..", "a/../../x", "", "a b", "tab\there", "nul\x00", "new\nline",
                                    "x" * 129, "-lead", "caf\u00e9", 7, None])
def test_a_listing_with_an_invalid_id_is_an_error_naming_the_item(bad_id: Any) -> None:
    items = [conn("good-1"), {**conn("x"), "id": bad_id}]
    client, rec, _ = make(lambda r: reply(200, {"connectors": items, "total_count": 2}))
    with pytest.raises(ApiError) as info:
        client.list_connectors()
    text = str(info.value)
    assert text.startswith("API error on GET /v1/connectors: the response is not a valid connector list (item 1: id")
    assert not any(ch in text for ch in "\x00\t\n"), text
    if isinstance(bad_id, str) and len(bad_id) > 3:
        assert bad_id not in text
    assert len(rec.requests) == 1


@pytest.mark.parametrize("bad_id", [".", "..", "a/../../x", "", "a b", "a%2F..", "x\n", "../v1"])
@pytest.mark.parametrize("call", ["get", "update", "delete"])
def test_an_invalid_id_is_refused_before_any_request(bad_id: str, call: str) -> None:
    client, rec, _ = make(lambda r: reply(200, {"connector": conn("a")}))
    action = {
        "get": lambda: client.get_connector(bad_id),
        "update": lambda: client.update_connector(bad_id, {"active": False}),
        "delete": lambda: client.delete_connector(bad_id),
    }[call]
    with pytest.raises(ApiError, match="refusing to send a request for an invalid connector id"):
        action()
    assert rec.requests == []


@pytest.mark.parametrize("answer", [conn("a/../b"), conn("other")], ids=["invalid-id", "another-connector"])
def test_a_connector_answer_about_another_or_an_invalid_id_is_an_error(answer: dict[str, Any]) -> None:
    client, _, _ = make(lambda r: reply(200, {"connector": answer}))
    with pytest.raises(ApiError, match="invalid response"):
        client.get_connector("a")


@pytest.mark.parametrize(
    "response",
    [
        reply(200, text="{not json"),
        reply(200, text="<html><body>Welcome to the captive portal</body></html>"),
        reply(200, [conn("a")]),
        reply(200, {"data": []}),
        reply(200, {"connectors": None}),
        reply(200, {"connectors": {"a": conn("a")}}),
        reply(200, {"connectors": [conn("a"), "b"]}),
        reply(200, {"connectors": [{"name": "missing id"}]}),
        reply(200, {"connectors": [], "total_count": "0"}),
    ],
)
def test_malformed_list_page_is_an_error_never_an_empty_org(response: httpx.Response) -> None:
    client, _, _ = make(lambda r: response)
    with pytest.raises(ApiError, match="not a valid connector list"):
        client.list_connectors()


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
    with pytest.raises(ApiError, match="timed out waiting for the response.*4 attempts"):
        client.list_connectors()
    assert len(rec.requests) == 4


def test_transport_error_then_success() -> None:
    client, rec, sleeps = make(
        scripted(httpx.ConnectError("refused"), reply(200, {"connector": conn("a")}))
    )
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


# ---- create -------------------------------------------------------------------------------


def test_create_success() -> None:
    org = Org(posts=["ok"])
    client, rec, _ = make(org)
    remote = client.create_connector(BODY)
    assert remote.name == "docs"
    assert json.loads(rec.requests[0].content) == BODY


def test_create_500_adopts_the_connector_found_on_relist() -> None:
    org = Org(existing=[conn("other")], posts=["created-500"])
    client, rec, _ = make(org)
    remote = client.create_connector(BODY, known_ids={"other"})
    assert remote.id == org.connectors[0]["id"] and remote.name == "docs"
    assert len(rec.sent("POST")) == 1
    assert len(org.connectors) == 2


def _post_then(failure: str) -> Callable[[httpx.Request], httpx.Response]:
    """A POST answered by ``failure`` (nothing is created); lists answer an empty org."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return reply(200, {"connectors": [], "total_count": 0})
        if failure.isdigit():
            return reply(int(failure), {"message": "internal error"})
        if failure == "unreadable-200":
            return reply(200, text="OK")
        exc = {"read-timeout": httpx.ReadTimeout, "write-timeout": httpx.WriteTimeout,
               "read-error": httpx.ReadError, "disconnected": httpx.RemoteProtocolError}[failure]
        raise exc("failed", request=request)

    return handler


@pytest.mark.parametrize(
    "failure", ["500", "501", "502", "503", "504", "read-timeout", "write-timeout", "read-error", "disconnected",
                "unreadable-200"],
)
def test_create_with_an_unknown_outcome_is_sent_once_relisted_once_then_unknown(failure: str) -> None:
    client, rec, sleeps = make(_post_then(failure))
    with pytest.raises(OutcomeUnknownError) as info:
        client.create_connector(BODY)
    text = str(info.value)
    assert text.startswith("outcome unknown: create of connector 'docs' may or may not have happened (")
    assert text.endswith("; it was not found when listing again; run plan to check")
    assert [r.method for r in rec.requests] == ["POST", "GET"]  # never resent
    assert sleeps == []


def test_create_500_then_nothing_on_relist_names_the_failure() -> None:
    client, _, _ = make(_post_then("500"))
    with pytest.raises(OutcomeUnknownError) as info:
        client.create_connector(BODY)
    assert str(info.value) == (
        "outcome unknown: create of connector 'docs' may or may not have happened "
        "(API error 500 on POST /v1/connectors: internal error); it was not found when listing again; "
        "run plan to check"
    )


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_create_definitive_4xx_is_a_plain_error_without_relisting(status: int) -> None:
    client, rec, _ = make(_post_then(str(status)))
    with pytest.raises(ApiError) as info:
        client.create_connector(BODY)
    assert info.value.status == status and not isinstance(info.value, OutcomeUnknownError)
    assert [r.method for r in rec.requests] == ["POST"]


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_create_never_sent_is_resent_until_the_attempts_run_out(exc: type[httpx.TransportError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("no connection", request=request)

    client, rec, sleeps = make(handler, max_attempts=3)
    with pytest.raises(ApiError, match=r"gave up after 3 attempts") as info:
        client.create_connector(BODY)
    assert not isinstance(info.value, OutcomeUnknownError)
    assert [r.method for r in rec.requests] == ["POST"] * 3 and len(sleeps) == 2


def test_create_relist_failure_is_outcome_unknown_without_resending() -> None:
    org = Org(posts=["500", "ok"], list_fails=True)
    client, rec, _ = make(org)
    with pytest.raises(OutcomeUnknownError, match="'docs'.*re-listing"):
        client.create_connector(BODY)
    assert len(rec.sent("POST")) == 1


def test_create_400_reports_the_api_message_and_is_not_retried() -> None:
    message = "connector registration failed: GET https://docs.example.com/search returned 401"
    org = Org(posts=[reply(400, {"message": message})])
    client, rec, _ = make(org)
    with pytest.raises(ApiError) as info:
        client.create_connector(BODY)
    assert info.value.status == 400 and info.value.api_message == message
    assert not isinstance(info.value, OutcomeUnknownError)
    assert len(rec.requests) == 1


def test_known_ids_exclude_a_same_name_connector_from_adoption() -> None:
    org = Org(existing=[conn("docs-old", "docs")], posts=["created-500"])
    client, rec, _ = make(org)
    remote = client.create_connector(BODY, known_ids={"docs-old"})
    assert remote.id != "docs-old" and remote.name == "docs"
    assert len(rec.sent("POST")) == 1


def test_a_known_same_name_connector_is_not_adopted_the_outcome_stays_unknown() -> None:
    org = Org(existing=[conn("docs-old", "docs")], posts=["500"])
    client, rec, _ = make(org)
    with pytest.raises(OutcomeUnknownError, match="not found when listing again"):
        client.create_connector(BODY, known_ids={"docs-old"})
    assert len(rec.sent("POST")) == 1 and len(rec.sent("GET")) == 1


@pytest.mark.parametrize("first", ["429", "connect"])
def test_create_refused_before_processing_is_resent_without_relisting(first: str) -> None:
    org = Org(posts=[first, "ok"])
    client, rec, sleeps = make(org)
    assert client.create_connector(BODY).name == "docs"
    assert len(rec.sent("POST")) == 2 and rec.sent("GET") == []
    assert len(sleeps) == 1
    if first == "429":
        assert sleeps == [1.0]  # the server's Retry-After


def test_create_that_happened_but_a_lagging_list_hides_is_unknown_never_resent() -> None:
    org = Org(posts=["created-timeout"])
    org.lag = 1  # the re-list does not show it yet
    client, rec, _ = make(org)
    with pytest.raises(OutcomeUnknownError):
        client.create_connector(BODY)
    assert len(rec.sent("POST")) == 1 and len(org.connectors) == 1  # no duplicate


def test_create_several_new_same_name_connectors_is_unknown() -> None:
    org = Org(existing=[conn("docs-1", "docs"), conn("docs-2", "docs")], posts=["500"])
    client, _, _ = make(org)
    with pytest.raises(OutcomeUnknownError, match="several new connectors have that name: docs-1, docs-2"):
        client.create_connector(BODY)


def test_create_success_with_unreadable_answer_adopts_via_relist() -> None:
    org = Org()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            org.create(request)
            return reply(200, text="OK")
        return org(request)

    client, rec, _ = make(handler)
    assert client.create_connector(BODY).id == org.connectors[0]["id"]
    assert len(rec.sent("POST")) == 1


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
