"""Unit tests of the client's listing: complete or an error (pages read while full, total_count
checked, no duplicate ids, one re-read), and remote ids as untrusted data. MockTransport."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from mock_api import conn, make, reply, scripted

from conn_reconcile.errors import ApiError
from conn_reconcile.model.connector import REMOTE_ID_RE, parse_spec

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
        (
            [[conn("a"), conn("b")], []],
            "the connector list is incomplete: 2 distinct connectors read, total_count says 5",
        ),
        # total_count is smaller than what the pages hold
        (
            [[conn("a"), conn("b")], [conn("c")]],
            "the connector list does not match its total_count: 3 distinct connectors read, total_count says 2",
        ),
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


@pytest.mark.parametrize(
    "bad_id",
    [".", "..", "a/../../x", "", "a b", "tab\there", "nul\x00", "new\nline", "x" * 129, "-lead", "caf\u00e9", 7, None],
)
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
        reply(200, text='{"connectors": ' + "[" * 100_000 + "]" * 100_000 + "}"),  # JSON nested too deeply
    ],
)
def test_malformed_list_page_is_an_error_never_an_empty_org(response: httpx.Response) -> None:
    client, _, _ = make(lambda r: response)
    with pytest.raises(ApiError, match="not a valid connector list"):
        client.list_connectors()


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("docs-kh3g8q", True),
        ("Docs_1", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("a/b", False),
        ("..", False),
        ("x\n", False),
        ("_lead", False),
        ("", False),
    ],
)
def test_a_pinned_id_has_the_shape_of_a_remote_id(value: str, ok: bool) -> None:
    spec, problems = parse_spec({"id": value, "name": "docs", "url": "https://docs.example.com/search"})
    assert (spec is not None, bool(REMOTE_ID_RE.fullmatch(value))) == (ok, ok)
    assert ok or [p for p, _ in problems] == ["id"]
