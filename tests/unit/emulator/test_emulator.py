"""The emulated Cohere connectors API, over real HTTP on loopback (httpx, no mocks): the registration
test, validation, secrets never returned, pagination, PATCH and DELETE, persistence, and processes."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from helpers import emulator_client as http
from helpers import loopback_client

from conn_reconcile.emulator import Emulator

CANARY = "canary-" + secrets.token_hex(8)
OAUTH = {
    "client_id": "cid-1",
    "client_secret": CANARY,
    "authorize_url": "https://idp.example.com/auth?x=1",
    "token_url": "https://idp.example.com/token",
    "scope": "read",
}
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def dead_url() -> str:
    with Emulator() as emu:  # bind an ephemeral port, then free it
        return emu.url + "/search"


@pytest.mark.parametrize("auth_type", ["bearer", "basic", "noscheme"])
def test_create_runs_registration_test_with_cohere_auth_header(emulator, api, make_endpoint, auth_type):
    ep = make_endpoint(auth_type=auth_type, token=CANARY)
    r = api.post(
        "/v1/connectors",
        json={"name": "Example Connector!", "url": ep.url + "/s", "service_auth": {"type": auth_type, "token": CANARY}},
    )
    assert r.status_code == 200, r.text
    c = r.json()["connector"]
    assert re.fullmatch(r"example-connector-[a-z0-9]{6}", c["id"])
    assert (c["name"], c["url"], c["auth_type"]) == ("Example Connector!", ep.url + "/s", "service_auth")
    assert (c["active"], c["continue_on_failure"], c["organization_id"]) == (True, False, emulator.organization_id)
    assert "service_auth" not in c and CANARY not in r.text
    assert STAMP.match(c["created_at"]) and c["created_at"] == c["updated_at"]
    assert len(ep.queries) == 1 and isinstance(ep.queries[0]["query"], str)
    assert emulator.connectors[0]["service_auth"] == {"type": auth_type, "token": CANARY}
    assert api.get(f"/v1/connectors/{c['id']}").json()["connector"] == c


def test_connector_without_service_auth_is_tested_without_header(api, make_endpoint):
    assert api.post("/v1/connectors", json={"name": "a", "url": make_endpoint().url}).status_code == 200
    strict = make_endpoint(auth_type="bearer", token=CANARY)
    r = api.post("/v1/connectors", json={"name": "b", "url": strict.url})
    assert r.status_code == 400 and "HTTP 401" in r.json()["message"]


@pytest.mark.parametrize("problem", ["down", "wrong-scheme", "wrong-token", "500", "not-json", "results-not-list"])
def test_registration_failure_rejects_create_without_leaking_token(emulator, api, make_endpoint, problem):
    ep = make_endpoint(auth_type="bearer", token="expected-" + CANARY[::-1])
    url, auth = ep.url, {"type": "bearer", "token": CANARY}
    if problem == "down":
        url = dead_url()
    elif problem == "wrong-scheme":
        ep = make_endpoint(auth_type="bearer", token=CANARY)
        url, auth = ep.url, {"type": "basic", "token": CANARY}
    elif problem != "wrong-token":
        ep = make_endpoint()
        url = ep.url
        ep.fail_with = 500 if problem == "500" else None
        ep.raw_response = {"not-json": b"<html>", "results-not-list": b'{"results": {"a": 1}}'}.get(problem)
    r = api.post("/v1/connectors", json={"name": "x", "url": url, "service_auth": auth})
    assert r.status_code == 400
    assert r.json()["message"].startswith("connector registration test failed: ")
    assert CANARY not in r.text
    assert emulator.connectors == []
    assert api.get("/v1/connectors").json() == {"connectors": [], "total_count": 0}


def test_oauth_connector_is_not_tested_and_never_returns_client_secret(emulator, api):
    r = api.post("/v1/connectors", json={"name": "drive", "url": dead_url(), "oauth": OAUTH})
    assert r.status_code == 200, r.text
    c = r.json()["connector"]
    assert c["auth_type"] == "oauth"
    assert c["oauth"] == {k: v for k, v in OAUTH.items() if k != "client_secret"}
    assert emulator.connectors[0]["oauth"]["client_secret"] == CANARY


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ([1], "JSON object"),
        ({"url": "http://127.0.0.1:1/"}, "name is required"),
        ({"name": "a"}, "url is required"),
        ({"name": 3, "url": "http://127.0.0.1:1/"}, "name must be a string"),
        ({"name": "a", "url": "ftp://x"}, "http(s)"),
        ({"name": "a", "url": "http://127.0.0.1:1/", "active": "yes"}, "active must be a boolean"),
        ({"name": "a", "url": "http://127.0.0.1:1/", "excludes": "raw"}, "excludes"),
        ({"name": "a", "url": "http://127.0.0.1:1/", "id": "pinned"}, "unknown field(s): id"),
        (
            {
                "name": "a",
                "url": "http://127.0.0.1:1/",
                "oauth": OAUTH,
                "service_auth": {"type": "bearer", "token": CANARY},
            },
            "oauth and service_auth are mutually exclusive",
        ),
        (
            {"name": "a", "url": "http://127.0.0.1:1/", "service_auth": {"type": "digest", "token": CANARY}},
            "bearer, basic",
        ),
        ({"name": "a", "url": "http://127.0.0.1:1/", "service_auth": {"type": "bearer"}}, "token is required"),
        ({"name": "a", "url": "http://127.0.0.1:1/", "oauth": {"client_secret": CANARY}}, "oauth.authorize_url"),
    ],
)
def test_create_validation(emulator, api, body, needle):
    r = api.post("/v1/connectors", json=body)
    assert r.status_code == 400 and needle in r.json()["message"]
    assert CANARY not in r.text and emulator.connectors == []


def test_malformed_json_body_is_400(api):
    r = api.post("/v1/connectors", content=b'{"name": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["message"]


def test_no_endpoint_ever_returns_a_secret(emulator, api, endpoint):
    bodies = []
    for body in (
        {"name": "s", "url": endpoint.url, "service_auth": {"type": "bearer", "token": CANARY}},
        {"name": "o", "url": endpoint.url, "oauth": OAUTH},
    ):
        r = api.post("/v1/connectors", json=body)
        bodies.append(r.text)
        cid = r.json()["connector"]["id"]
        bodies += [
            api.get(f"/v1/connectors/{cid}").text,
            api.patch(f"/v1/connectors/{cid}", json=body | {"name": "renamed"}).text,
            api.post(f"/v1/connectors/{cid}/oauth/authorize").text,
        ]
    bodies += [
        api.get("/v1/connectors").text,
        api.get("/_emulator/connectors").text,
        api.get("/_emulator/requests").text,
    ]
    assert all(CANARY not in b for b in bodies)
    masked = api.get("/_emulator/connectors").json()["connectors"]
    assert [
        c.get("service_auth", c.get("oauth"))[k] for c, k in zip(masked, ("token", "client_secret"), strict=True)
    ] == ["***"] * 2


def test_list_pagination_newest_first(emulator, api):
    base = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [
        emulator.seed(
            {"name": f"c{i}", "url": "https://x.example.com"}, created_at=(base + timedelta(seconds=i)).isoformat()
        )["id"]
        for i in range(250)
    ]
    pages = [api.get("/v1/connectors", params={"limit": 100, "offset": off}).json() for off in (0, 100, 200)]
    assert [len(p["connectors"]) for p in pages] == [100, 100, 50]
    assert {p["total_count"] for p in pages} == {250}
    assert [c["id"] for p in pages for c in p["connectors"]] == ids[::-1]
    assert len(api.get("/v1/connectors").json()["connectors"]) == 30
    assert api.get("/v1/connectors", params={"limit": "100.0", "offset": 249}).json()["connectors"][0]["id"] == ids[0]
    assert api.get("/v1/connectors", params={"limit": 0}).json() == {"connectors": [], "total_count": 250}
    for bad in ({"limit": 101}, {"limit": -1}, {"offset": -1}, {"limit": "ten"}, {"limit": 2.5}):
        r = api.get("/v1/connectors", params=bad)
        assert r.status_code == 400 and r.json()["message"]


def test_same_timestamp_keeps_creation_order(emulator, api):
    ids = [
        emulator.seed({"name": f"c{i}", "url": "https://x.example.com"}, created_at="2026-01-01T00:00:00Z")["id"]
        for i in range(5)
    ]
    ids.append(emulator.seed({"name": "now", "url": "https://x.example.com"})["id"])
    assert [c["id"] for c in api.get("/v1/connectors").json()["connectors"]] == ids[::-1]


def test_patch_changes_only_present_fields_and_bumps_updated_at(emulator, api, endpoint):
    c = emulator.seed(
        {
            "name": "p",
            "url": "https://a.example.com",
            "description": "d",
            "excludes": ["x"],
            "service_auth": {"type": "bearer", "token": CANARY},
        }
    )
    stamps = [c["updated_at"]]
    for body in ({"active": False}, {"active": False}, {"url": endpoint.url, "excludes": [], "name": None}):
        r = api.patch(f"/v1/connectors/{c['id']}", json=body)
        assert r.status_code == 200, r.text
        stamps.append(r.json()["connector"]["updated_at"])
    after = r.json()["connector"]
    assert stamps == sorted(set(stamps)) and all(STAMP.match(s) for s in stamps)  # strictly increasing
    assert after == c | {"active": False, "url": endpoint.url, "excludes": [], "updated_at": stamps[-1]}
    assert endpoint.queries == []  # PATCH does not re-run the registration test (documented choice)
    assert emulator.connectors[0]["service_auth"]["token"] == CANARY


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"description": "new"}, "description cannot be updated"),
        ({"colour": "red"}, "unknown field(s): colour"),
        ({"active": 1}, "active must be a boolean"),
        ({"oauth": OAUTH, "service_auth": {"type": "bearer", "token": CANARY}}, "mutually exclusive"),
        ("text", "JSON object"),
    ],
)
def test_patch_validation(emulator, api, body, needle):
    c = emulator.seed({"name": "p", "url": "https://a.example.com"})
    r = api.patch(f"/v1/connectors/{c['id']}", json=body)
    assert r.status_code == 400 and needle in r.json()["message"] and CANARY not in r.text
    assert api.get(f"/v1/connectors/{c['id']}").json()["connector"] == c


def test_patch_switches_auth_and_keeps_exclusivity(emulator, api):
    c = emulator.seed({"name": "p", "url": "https://a.example.com", "oauth": OAUTH})
    r = api.patch(f"/v1/connectors/{c['id']}", json={"service_auth": {"type": "basic", "token": CANARY}})
    assert r.json()["connector"]["auth_type"] == "service_auth" and "oauth" not in r.json()["connector"]
    assert "oauth" not in emulator.connectors[0]
    r = api.patch(f"/v1/connectors/{c['id']}", json={"oauth": OAUTH})
    assert r.json()["connector"]["auth_type"] == "oauth" and "service_auth" not in emulator.connectors[0]


def test_not_found_wrong_method_and_delete(emulator, api):
    for method in ("GET", "PATCH", "DELETE"):
        r = api.request(method, "/v1/connectors/nope-123456", json={} if method == "PATCH" else None)
        assert r.status_code == 404 and "not found" in r.json()["message"]
    assert api.get("/v2/connectors").status_code == 404 and api.get("/v1/models").json()["message"]
    r = api.put("/v1/connectors", json={})
    assert r.status_code == 405 and r.headers["Allow"] == "GET, POST" and r.json()["message"]
    c = emulator.seed({"name": "d", "url": "https://a.example.com"})
    r = api.delete(f"/v1/connectors/{c['id']}")
    assert (r.status_code, r.json()) == (200, {})
    assert api.get(f"/v1/connectors/{c['id']}").status_code == 404 and emulator.connectors == []


def test_api_key_is_required():
    with Emulator(api_key="right-key") as emu:
        for key in (None, "wrong-key", ""):
            with http(emu, key) as client:
                r = client.get("/v1/connectors")
                assert r.status_code == 401 and r.json()["message"]
        with http(emu, None, headers={"Authorization": "Basic right-key"}) as client:
            assert client.get("/v1/connectors").status_code == 401
        with http(emu, "right-key") as client:
            assert client.get("/v1/connectors").status_code == 200


def test_oauth_authorize(emulator, api):
    c = emulator.seed({"name": "o", "url": "https://a.example.com", "oauth": OAUTH})
    r = api.post(f"/v1/connectors/{c['id']}/oauth/authorize", params={"after_token_redirect": "https://app/done"})
    url = r.json()["redirect_url"]
    assert url.startswith("https://idp.example.com/auth?x=1&")
    q = parse_qs(urlsplit(url).query)
    assert (q["client_id"], q["scope"], q["response_type"]) == (["cid-1"], ["read"], ["code"])
    state = json.loads(base64.urlsafe_b64decode(q["state"][0] + "=" * (-len(q["state"][0]) % 4)))
    assert state["connector_id"] == c["id"] and state["after_token_redirect"] == "https://app/done"
    plain = emulator.seed({"name": "s", "url": "https://a.example.com"})
    assert api.post(f"/v1/connectors/{plain['id']}/oauth/authorize").status_code == 400
    assert api.post("/v1/connectors/nope/oauth/authorize").status_code == 404
    assert api.get(f"/v1/connectors/{c['id']}/oauth/authorize").status_code == 405


def test_concurrent_creates_over_keep_alive(emulator, endpoint):
    with http(emulator, limits=httpx.Limits(max_connections=20)) as client, ThreadPoolExecutor(20) as pool:
        rs = list(
            pool.map(lambda i: client.post("/v1/connectors", json={"name": f"n{i}", "url": endpoint.url}), range(60))
        )
    assert {r.status_code for r in rs} == {200}
    assert len({r.json()["connector"]["id"] for r in rs}) == 60 == len(emulator.connectors)
    assert emulator.requests.count("POST", "/v1/connectors") == 60


def test_stop_disconnects_keep_alive_clients():
    emu = Emulator().start()
    client = http(emu)
    assert client.get("/v1/connectors").status_code == 200
    emu.stop()
    with pytest.raises(httpx.TransportError):
        client.get("/v1/connectors")
    client.close()


def test_data_file_persists_atomically_and_reloads(tmp_path, endpoint):
    data = tmp_path / "org.json"
    with Emulator(data_file=data) as emu, http(emu) as client:
        c = client.post(
            "/v1/connectors",
            json={"name": "kept", "url": endpoint.url, "service_auth": {"type": "bearer", "token": CANARY}},
        ).json()["connector"]
        org = emu.organization_id
    assert os.stat(data).st_mode & 0o777 == 0o600 and os.listdir(tmp_path) == ["org.json"]
    with Emulator(data_file=data) as emu, http(emu) as client:
        assert client.get(f"/v1/connectors/{c['id']}").json()["connector"] == c and emu.organization_id == org
        assert emu.connectors[0]["service_auth"]["token"] == CANARY  # the org database keeps secrets
        client.delete(f"/v1/connectors/{c['id']}")
    assert json.loads(data.read_text())["connectors"] == []


def _spawn(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    src = str(Path(__file__).resolve().parents[3] / "src")
    full_env = {**os.environ, "PYTHONPATH": src, **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", *args], stderr=subprocess.PIPE, text=True, env=full_env)
    line = proc.stderr.readline()
    return proc, line


@pytest.mark.slow
def test_emulator_and_endpoint_run_as_processes(tmp_path):
    ep, ep_line = _spawn(
        ["conn_reconcile.emulator.endpoint", "--port", "0", "--auth-type", "bearer", "--token-env", "EP_TOKEN"],
        {"EP_TOKEN": CANARY},
    )
    emu, emu_line = _spawn(
        ["conn_reconcile.emulator", "--port", "0", "--api-key", "k", "--data", str(tmp_path / "d.json")]
    )
    try:
        ep_url = re.fullmatch(r"endpoint listening on (http://127\.0\.0\.1:\d+)\n", ep_line).group(1)
        emu_url = re.fullmatch(r"emulator listening on (http://127\.0\.0\.1:\d+)\n", emu_line).group(1)
        with loopback_client("k", base_url=emu_url) as client:
            ok = client.post(
                "/v1/connectors", json={"name": "p", "url": ep_url, "service_auth": {"type": "bearer", "token": CANARY}}
            )
            bad = client.post(
                "/v1/connectors",
                json={"name": "p", "url": ep_url, "service_auth": {"type": "noscheme", "token": CANARY}},
            )
        assert (ok.status_code, bad.status_code) == (200, 400)
    finally:
        for proc in (ep, emu):
            proc.send_signal(signal.SIGTERM)
    outputs = [proc.communicate(timeout=10)[1] for proc in (ep, emu)]
    assert [proc.returncode for proc in (ep, emu)] == [0, 0]
    assert all(CANARY not in out for out in [*outputs, ep_line, emu_line])


def test_endpoint_checks_auth_body_and_searches(make_endpoint):
    docs = [{"id": "1", "text": "alpha beta"}, {"id": "2", "text": "gamma"}]
    ep = make_endpoint(auth_type="basic", token=CANARY, documents=docs)
    with loopback_client(base_url=ep.url) as c:
        good = {"Authorization": f"Basic {CANARY}"}
        assert c.post("/any/path", json={"query": "GAMMA"}, headers=good).json() == {"results": [docs[1]]}
        assert c.post("/", json={"query": "zeta"}, headers=good).json() == {"results": docs}
        assert c.post("/", json={"query": "x"}, headers={"Authorization": f"Bearer {CANARY}"}).status_code == 401
        assert c.post("/", json={"q": "x"}, headers=good).status_code == 400
        assert c.post("/", content=b"{", headers=good).status_code == 400
        assert c.get("/", headers=good).status_code == 405
        ep.fail_with = 503
        assert c.post("/", json={"query": "x"}, headers=good).status_code == 503
    assert [q["query"] for q in ep.queries] == ["GAMMA", "zeta", "x"]
