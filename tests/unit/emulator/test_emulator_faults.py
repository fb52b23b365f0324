"""The emulator's body and dribble faults, over real HTTP on loopback."""

from __future__ import annotations

import json
import re
import socket
from urllib.parse import urlsplit

import httpx
import pytest
from e2e import wait_for
from helpers import loopback_client

from conn_reconcile.emulator import Emulator


def http(emu: Emulator, key: str | None = "any-key") -> httpx.Client:
    return loopback_client(key, base_url=emu.url)


@pytest.fixture
def api(emulator):
    with http(emulator) as client:
        yield client


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
