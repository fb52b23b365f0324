"""The emulator's fault injection (statuses, delays, drops, garbage, bodies, dribbles, faults after
the operation) and its test-control paths, over real HTTP on loopback."""

from __future__ import annotations

import json
import re
import secrets
import socket
from urllib.parse import urlsplit

import httpx
import pytest
from e2e import wait_for
from helpers import emulator_client as http

from conn_reconcile.emulator import Emulator

CANARY = "canary-" + secrets.token_hex(8)


def test_fault_body_answers_exactly_that_json_with_the_rules_status(emulator, api):
    page = {"connectors": [{"id": "../x", "name": "n"}], "total_count": 7}
    emulator.faults.add("GET", "/v1/connectors", body=page)
    emulator.faults.add("GET", "/v1/connectors", body={"message": "busy"}, statuses=[503], retry_after=1)
    first, second, third = (api.get("/v1/connectors") for _ in range(3))
    assert (first.status_code, first.json()) == (200, page)
    assert (second.status_code, second.json(), second.headers["Retry-After"]) == (503, {"message": "busy"}, "1")
    assert third.json() == {"connectors": [], "total_count": 0}  # the rules are used up
    assert len(emulator.faults) == 0


def test_fault_body_after_the_operation_replaces_the_real_answer(emulator, api, endpoint):
    emulator.faults.add("POST", "/v1/connectors", after=True, body={"connector": {"id": "a/../../x", "name": "p"}})
    r = api.post("/v1/connectors", json={"name": "p", "url": endpoint.url})
    assert r.json() == {"connector": {"id": "a/../../x", "name": "p"}}
    assert [c["name"] for c in emulator.connectors] == ["p"]  # the create did happen


def _raw_get(emu: Emulator, path: str = "/v1/connectors") -> socket.socket:
    host, port = urlsplit(emu.url).hostname, urlsplit(emu.url).port
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n\r\n".encode())
    return sock


@pytest.mark.slow
def test_fault_dribble_sends_the_whole_response_one_byte_at_a_time(emulator, api):
    emulator.seed({"name": "d", "url": "https://a.example.com"}, id="d-1")
    expected = api.get("/v1/connectors").json()
    emulator.faults.add("GET", "/v1/connectors", dribble=0.002)
    sock = _raw_get(emulator)
    reads: list[bytes] = []

    def complete() -> bool:
        head, sep, body = b"".join(reads).partition(b"\r\n\r\n")
        length = re.search(rb"Content-Length: (\d+)", head)
        return bool(sep and length and len(body) == int(length.group(1)))

    with sock:
        while not complete():
            reads.append(sock.recv(65536))
            assert reads[-1], "the server closed the connection early"
    data = b"".join(reads)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and json.loads(body) == expected
    # one byte per send, 2 ms apart: far more reads than a single send would need
    assert len(reads) > len(data) // 4


def test_fault_dribble_of_an_injected_answer_over_httpx(emulator):
    emulator.faults.add(
        "GET", "/v1/connectors", dribble=0.001, body={"connectors": [], "total_count": 3}, statuses=[500]
    )
    with http(emulator) as client:
        r = client.get("/v1/connectors")
    assert (r.status_code, r.json()) == (500, {"connectors": [], "total_count": 3})


def test_dribbling_stops_when_the_client_disconnects(emulator):
    emulator.faults.add("GET", "/v1/connectors", dribble=30)  # 30 s per byte: only a disconnect ends it
    sock = _raw_get(emulator)
    assert sock.recv(1) == b"H"
    wait_for(lambda: emulator.dribbling == 1, "the emulator to dribble")
    sock.close()
    wait_for(lambda: emulator.dribbling == 0, "the emulator to notice the disconnect", timeout=5)


def test_body_and_dribble_faults_over_http_are_validated(emulator):
    with http(emulator, None) as raw:
        ok = raw.post(
            "/_emulator/faults",
            json={"method": "GET", "path_regex": "/v1/connectors", "body": {"connectors": []}, "dribble": 0.5},
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["fault"] | {} == raw.get("/_emulator/faults").json()["faults"][0]
        assert ok.json()["fault"]["body"] == {"connectors": []} and ok.json()["fault"]["dribble"] == 0.5
        for bad in ({"dribble": -1}, {"dribble": "slow"}, {"body": {}, "drop": True}, {"dribble": 1, "drop": True}):
            r = raw.post("/_emulator/faults", json={"method": "GET", "path_regex": "/v1/connectors", **bad})
            assert r.status_code == 400 and r.json()["message"], bad
    assert len(emulator.faults) == 1


def test_fault_status_sequence_with_retry_after(emulator, api):
    emulator.faults.add("GET", "/v1/connectors", statuses=[503, 429], retry_after=2)
    emulator.faults.add("GET", "/v1/connectors", statuses=[500], retry_after=0.25)
    got = [api.get("/v1/connectors") for _ in range(4)]
    assert [(r.status_code, r.headers.get("Retry-After")) for r in got] == [
        (503, "2"),
        (429, "2"),
        (500, "0.25"),
        (200, None),
    ]
    assert "injected" in got[0].json()["message"] and len(emulator.faults) == 0


def test_python_helpers_reject_bad_input(emulator):
    with pytest.raises(ValueError, match="name is required"):
        emulator.seed({"url": "https://a.example.com"})
    with pytest.raises(ValueError, match="only one of"):
        emulator.faults.add("GET", "/v1/connectors", statuses=[500], drop=True)
    with pytest.raises(ValueError, match="statuses"):
        emulator.faults.add("GET", "/v1/connectors", statuses=[42])
    assert emulator.connectors == [] and len(emulator.faults) == 0


def test_fault_matching_method_fullmatch_and_times(emulator, api):
    c = emulator.seed({"name": "f", "url": "https://a.example.com"})
    emulator.faults.add("GET", "/v1/connectors", statuses=[500])  # whole-path match only
    assert api.get(f"/v1/connectors/{c['id']}").status_code == 200
    assert api.get("/v1/connectors").status_code == 500
    emulator.faults.add("PATCH", "/v1/connectors/.+", statuses=[409], times=3)
    assert api.get(f"/v1/connectors/{c['id']}").status_code == 200
    assert api.get("/v1/connectors").status_code == 200
    assert [api.patch(f"/v1/connectors/{c['id']}", json={}).status_code for _ in range(4)] == [409, 409, 409, 200]


def test_fault_delay_drop_and_garbage(emulator, api):
    emulator.faults.add("*", "/v1/connectors", delay=1.0)
    with http(emulator, timeout=0.1) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.get("/v1/connectors")
    emulator.faults.add("GET", "/v1/connectors", drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/v1/connectors")
    emulator.faults.add("GET", "/v1/connectors", garbage=True)
    r = api.get("/v1/connectors")
    assert r.status_code == 200 and "json" not in r.headers["Content-Type"]
    with pytest.raises(json.JSONDecodeError):
        r.json()
    assert api.get("/v1/connectors").json()["total_count"] == 0


@pytest.mark.parametrize("fault", [{"statuses": [500]}, {"drop": True}, {"statuses": [504], "delay": 0.05}])
def test_fault_after_means_the_operation_happened(emulator, api, endpoint, fault):
    emulator.faults.add("POST", "/v1/connectors", after=True, **fault)
    if fault.get("drop"):
        with pytest.raises(httpx.RemoteProtocolError):
            api.post("/v1/connectors", json={"name": "ghost", "url": endpoint.url})
    else:
        assert (
            api.post("/v1/connectors", json={"name": "ghost", "url": endpoint.url}).status_code == fault["statuses"][0]
        )
    assert [c["name"] for c in emulator.connectors] == ["ghost"]
    assert api.get("/v1/connectors").json()["connectors"][0]["name"] == "ghost"


def test_control_endpoints_over_http(emulator):
    with http(emulator, None) as raw:
        assert raw.get("/v1/connectors").status_code == 401  # control paths need no auth, /v1 does
        r = raw.post("/_emulator/faults", json={"method": "GET", "path_regex": "/v1/connectors", "statuses": [502]})
        assert r.status_code == 200 and raw.get("/_emulator/faults").json()["faults"][0]["remaining"] == 1
        assert (
            raw.post("/_emulator/faults", json={"method": "GET", "path_regex": "(", "statuses": []}).status_code == 400
        )
        assert raw.post("/_emulator/faults", json={"method": "GET", "path_regex": "/", "bogus": 1}).status_code == 400
        assert raw.delete("/_emulator/faults").status_code == 200 and len(emulator.faults) == 0
        seeded = raw.post(
            "/_emulator/seed",
            json={
                "id": "pinned-1",
                "name": "s",
                "url": "https://a.example.com",
                "service_auth": {"type": "bearer", "token": CANARY},
            },
        )
        assert seeded.json()["connector"]["id"] == "pinned-1" and CANARY not in seeded.text
        assert (
            raw.post(
                "/_emulator/seed", json={"id": "pinned-1", "name": "s", "url": "https://a.example.com"}
            ).status_code
            == 400
        )
        assert raw.get("/_emulator/connectors").json()["connectors"][0]["service_auth"]["token"] == "***"
        with http(emulator, headers={"X-Client-Name": "conn-reconcile"}) as authed:
            assert authed.get("/v1/connectors", params={"limit": 5}).json()["total_count"] == 1
        assert raw.get("/_emulator/requests").json()["requests"][-1] == {
            "method": "GET",
            "path": "/v1/connectors",
            "query": {"limit": "5"},
            "client_name": "conn-reconcile",
        }
        assert raw.post("/_emulator/reset").status_code == 200 and emulator.connectors == []
        assert len(emulator.requests) == 0 and raw.get("/_emulator/nope").status_code == 404
