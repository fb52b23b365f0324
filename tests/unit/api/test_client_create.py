"""Unit tests of the client's create: one POST at most unless the API provably did not act on
it; ambiguous failures are settled by re-listing once, else the outcome is unknown. MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from mock_api import BODY, Org, conn, make, reply

from conn_reconcile.errors import ApiError, OutcomeUnknownError

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
        exc = {
            "read-timeout": httpx.ReadTimeout,
            "write-timeout": httpx.WriteTimeout,
            "read-error": httpx.ReadError,
            "disconnected": httpx.RemoteProtocolError,
        }[failure]
        raise exc("failed", request=request)

    return handler


@pytest.mark.parametrize(
    "failure",
    [
        "500",
        "501",
        "502",
        "503",
        "504",
        "read-timeout",
        "write-timeout",
        "read-error",
        "disconnected",
        "unreadable-200",
    ],
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
    with pytest.raises(OutcomeUnknownError, match=r"'docs'.*re-listing"):
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
