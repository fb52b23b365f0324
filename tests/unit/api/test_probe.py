"""``plan --probe``: Cohere's registration test run before apply, end to end against real
connector endpoints on loopback: good, wrong token, down, wrong shape, slow, a redirect (reported,
never followed), in every plan format; the token is never printed. Answers bounded in size (once
decoded) and in time (as a whole)."""

from __future__ import annotations

import json
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from e2e import TOKEN
from helpers import serving

from conn_reconcile.api.probe import MAX_ANSWER, run_probes
from conn_reconcile.emulator.endpoint import ConnectorEndpoint
from conn_reconcile.model.binding import BoundSecrets
from conn_reconcile.model.registration import authorization_header
from conn_reconcile.model.secrets import Redactor
from conn_reconcile.plan.preflight import ProbeStatus, ProbeTarget, targets

pytestmark = pytest.mark.e2e


class _Redirect(BaseHTTPRequestHandler):
    location = ""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(307)
        self.send_header("Location", self.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirector(make_endpoint) -> Iterator[tuple[str, ConnectorEndpoint]]:
    """A connector URL answering 307 to another endpoint (which must never be queried)."""
    elsewhere = make_endpoint()
    handler = type("Handler", (_Redirect,), {"location": f"{elsewhere.url}/stolen"})
    with serving(handler) as url:
        yield f"{url}/search", elsewhere


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fleet(project, make_endpoint, redirector):
    """One connector file per case; returns the endpoints that must see (or not see) queries."""
    wrong = make_endpoint(auth_type="bearer", token="another-token-entirely")
    basic = make_endpoint(auth_type="basic", token=TOKEN)
    shape = make_endpoint()
    shape.raw_response = b'{"documents": []}'
    deep = make_endpoint()  # JSON nested deeper than the parser goes: a bad answer, not a crash
    deep.raw_response = b'{"results": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    slow = make_endpoint(delay=30)
    redirect_url, elsewhere = redirector
    project.write("good.yaml", project.service("good"))
    project.write(
        "basic.yaml",
        project.connector("basic", url=f"{basic.url}/search", service_auth={"type": "basic", "token": "${CONN_TOKEN}"}),
    )
    project.write("wrong.yaml", project.service("wrong", url=f"{wrong.url}/search"))
    project.write("down.yaml", project.service("down", url=f"http://127.0.0.1:{_closed_port()}/search"))
    project.write("shape.yaml", project.service("shape", url=f"{shape.url}/search"))
    project.write("slow.yaml", project.service("slow", url=f"{slow.url}/search"))
    project.write("deep.yaml", project.service("deep", url=f"{deep.url}/search"))
    project.write("redirect.yaml", project.service("redirect", url=redirect_url))
    project.write(
        "oauth.yaml",
        project.connector(
            "oauth",
            oauth={
                "client_id": "c",
                "client_secret": "${CONN_TOKEN}",
                "authorize_url": "https://a.example.com/a",
                "token_url": "https://a.example.com/t",
            },
        ),
    )
    return {"basic": basic, "slow": slow, "elsewhere": elsewhere}


EXPECTED = {
    "good": ("ok", None),
    "basic": ("ok", None),
    "wrong": ("http_status", 401),
    "down": ("connection_failed", None),
    "shape": ("bad_response", None),
    "deep": ("bad_response", None),
    "slow": ("timeout", None),
    "redirect": ("http_status", 307),
}


@pytest.mark.slow
def test_probe_reports_each_case_in_json_and_text(project, fleet):
    run = project.run("--timeout", "1", "plan", "--probe", "--format", "json")

    assert run.code == 1, run.both
    doc = json.loads(run.out)
    got = {p["name"]: (p["status"], p["http_status"]) for p in doc["probe"]}
    assert got == EXPECTED  # oauth connectors are not probed (Cohere does not test them)
    by_name = {p["name"]: p for p in doc["probe"]}
    assert by_name["good"]["ok"] is True and by_name["good"]["token_ref"] == "CONN_TOKEN"
    assert by_name["good"]["file"] == "connectors/good.yaml" and by_name["good"]["line"] == 1
    assert "not followed" in by_name["redirect"]["detail"] and "/stolen" in by_name["redirect"]["detail"]
    assert fleet["elsewhere"].queries == []  # the redirect was not followed: the token went nowhere else
    assert by_name["slow"]["seconds"] < 15  # bounded by --timeout, not by the endpoint's 30 s
    assert "Error: 6 probe(s) failed" in run.err
    # the same probe the emulator's registration test sends: what the endpoints accepted
    assert fleet["basic"].queries == [{"query": "registration test"}]
    assert authorization_header("basic", "t") == "Basic t"
    assert project.emulator.connectors == []  # a plan changes nothing

    text = project.run("--timeout", "1", "plan", "--probe", "--probe-warn")
    assert text.code == 0, text.both
    assert "Preflight probes" in text.out and "Probes: 2 ok, 6 failed." in text.out
    assert "FAILED wrong" in text.out and "HTTP 401: the connector refused the token" in text.out
    assert "FAILED down" in text.out and "connection failed" in text.out


@pytest.mark.slow
def test_probe_in_markdown_and_github(project, fleet, tmp_path):
    summary = tmp_path / "summary.md"
    md = project.run(
        "--timeout",
        "1",
        "plan",
        "--probe",
        "--probe-warn",
        "--format",
        "markdown",
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert md.code == 0, md.both
    assert "#### Preflight probes" in md.out and "| :x: | wrong | HTTP 401" in md.out
    assert "| :white_check_mark: | good | ok |" in md.out
    assert "#### Preflight probes" in summary.read_text(encoding="utf-8")

    gh = project.run("--timeout", "1", "plan", "--probe", "--format", "github")
    assert gh.code == 1, gh.both
    assert "::error file=connectors/shape.yaml,line=1,title=conn-reconcile probe::probe shape: bad response" in gh.out
    assert "::notice file=connectors/good.yaml,line=1,title=conn-reconcile probe::probe good: ok" in gh.out


def test_unset_token_is_reported_and_nothing_is_sent(project, make_endpoint):
    ep = make_endpoint()
    project.write(
        "a.yaml",
        project.connector(
            "a", url=f"{ep.url}/search", service_auth={"type": "bearer", "token": "${UNSET_PROBE_TOKEN}"}
        ),
    )

    strict = project.run("plan", "--probe", "--json")  # strict secrets stop the plan before any probe
    assert strict.code == 1 and "UNSET_PROBE_TOKEN" in strict.err and ep.queries == []

    run = project.run("plan", "--probe", "--json", "--allow-unbound")

    assert run.code == 1, run.both
    (probe,) = json.loads(run.out)["probe"]
    assert probe["status"] == "unbound" and "${UNSET_PROBE_TOKEN} is not set" in probe["detail"]
    assert ep.queries == []


def test_only_connectors_that_change_address_or_credentials_are_probed(project):
    project.write("docs.yaml", project.service("docs"))
    project.write("tickets.yaml", project.service("tickets"))
    assert project.run("apply", "--auto-approve").code == 0
    queries = len(project.endpoint.queries)
    project.write("docs.yaml", project.service("docs", active=False))  # an update, same url and token
    project.write("tickets.yaml", project.service("tickets", url=f"{project.endpoint_url}/tickets/v2"))

    run = project.run("plan", "--probe", "--json")

    assert run.code == 0, run.both
    assert [p["name"] for p in json.loads(run.out)["probe"]] == ["tickets"]
    assert len(project.endpoint.queries) == queries + 1


def test_targets_skip_noops_deletes_and_oauth() -> None:
    from conn_reconcile.files.loader import load_bytes
    from conn_reconcile.plan.planner import build_plan

    files = {
        "a.yaml": "name: a\nurl: https://a.example.com\nservice_auth:\n  type: basic\n  token: ${A}\n",
        "b.yaml": "name: b\nurl: https://b.example.com\n",
    }
    desired = [load_bytes(text.encode(), name)[0] for name, text in files.items()]
    plan = build_plan([d for d in desired if d is not None], [])
    assert [(t.name, t.auth_type, t.token_var, t.line) for t in targets(plan, desired)] == [("a", "basic", "A", 1)]


# ---- answers are bounded: in size once decoded, in time as a whole --------------------------------


def _gzip(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


class _Hostile(BaseHTTPRequestHandler):
    """``/bomb``: 200 with a gzip body expanding to 8 MiB; ``/big-401``: a 401 over the bound;
    ``/dribble``: the head one byte per 100 ms."""

    protocol_version = "HTTP/1.1"
    bomb = _gzip(bytes(8 << 20))
    stop = threading.Event()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/dribble":
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n":
                if self.stop.wait(0.1):
                    break
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    break
            self.close_connection = True
            return
        body = self.bomb if self.path == "/bomb" else b" " * (MAX_ANSWER + 1)
        self.send_response(200 if self.path == "/bomb" else 401)
        if self.path == "/bomb":
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
def test_a_compressed_bomb_an_oversized_refusal_and_a_dribbled_head_are_bounded():
    handler = type("Handler", (_Hostile,), {"stop": threading.Event()})
    with serving(handler) as url:
        found = [ProbeTarget(name, f"{name}.yaml", 1, f"{url}/{name}", "bearer", "T") for name in ("bomb", "big-401")]
        found.append(ProbeTarget("dribble", "dribble.yaml", 1, f"{url}/dribble", "bearer", "T"))
        started = time.monotonic()
        try:
            results = run_probes(found, BoundSecrets(values={"T": "t"}), redactor=Redactor(), timeout=1.0)
        finally:
            handler.stop.set()
    got = {r.target.name: (r.status, r.http_status, r.detail) for r in results}
    assert got["bomb"] == (ProbeStatus.BAD_RESPONSE, None, f"the answer is larger than {MAX_ANSWER} bytes")
    assert got["big-401"] == (ProbeStatus.HTTP_STATUS, 401, "the connector refused the token")
    assert got["dribble"][0] is ProbeStatus.TIMEOUT
    assert time.monotonic() - started < 1.0 + 3.0  # the probes run in parallel, each cut off at 1 s
