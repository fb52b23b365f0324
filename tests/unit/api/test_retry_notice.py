"""Each retry of an API call is announced before its wait (``on_retry``): the call, why it failed,
the wait and the attempt coming, for reads, updates and a create refused with 429. MockTransport,
no real waiting."""

from __future__ import annotations

import httpx
from mock_api import conn, make, reply, scripted

BODY = {"name": "a", "url": "https://x.test/s"}


def test_every_retry_is_announced_with_its_reason_wait_and_attempt() -> None:
    said: list[str] = []
    client, _, sleeps = make(
        scripted(
            httpx.ReadTimeout("slow"),
            reply(503, {"message": "busy"}),
            httpx.ConnectError("refused"),
            reply(200, {"connector": conn("a")}),
        ),
        timeout=10,
        on_retry=said.append,
    )
    assert client.get_connector("a").id == "a"
    waits = [f"{s:.1f}" for s in sleeps]
    assert said == [
        f"conn-reconcile: GET /v1/connectors/a: timed out after 10s; retrying in {waits[0]}s (attempt 2 of 4)",
        f"conn-reconcile: GET /v1/connectors/a: HTTP 503; retrying in {waits[1]}s (attempt 3 of 4)",
        f"conn-reconcile: GET /v1/connectors/a: could not connect; retrying in {waits[2]}s (attempt 4 of 4)",
    ]


def test_a_create_refused_with_429_is_announced_with_the_servers_wait() -> None:
    said: list[str] = []
    answers = scripted(
        reply(429, {"message": "slow down"}, headers={"Retry-After": "2"}), reply(200, {"connector": conn("a")})
    )
    client, _, sleeps = make(answers, on_retry=said.append)
    client.create_connector(BODY)
    assert sleeps == [2.0]
    assert said == ["conn-reconcile: POST /v1/connectors: HTTP 429; retrying in 2.0s (attempt 2 of 4)"]


def test_without_a_listener_nothing_is_said_and_the_retries_happen() -> None:
    client, rec, _ = make(scripted(reply(502), reply(200, {"connector": conn("a")})))
    assert client.get_connector("a").id == "a" and len(rec.requests) == 2
