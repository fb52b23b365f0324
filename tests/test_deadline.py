"""Whole-request deadlines, the command-wide deadline and the pool size, against the real
emulator on loopback. Timing is driven by emulator faults (``dribble``, ``delay``); time
bounds below are guards ("ends within the limit plus a margin"), never the thing measured."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from e2e import wait_for
from helpers import LOOPBACK_SSL

from conn_reconcile.client import CohereClient
from conn_reconcile.deadline import env_proxy
from conn_reconcile.errors import ApiError, ConfigError, DeadlineExceededError, OutcomeUnknownError
from conn_reconcile.pooldeadline import DeadlineBackend, deadline_transport, install_deadline_backend

KEY = "deadline-test-key"
LIST = "/v1/connectors"
MARGIN = 3.0  # seconds of slack for a loaded machine; the unbounded case would take minutes


def client_for(emulator, **kwargs) -> CohereClient:
    kwargs.setdefault("backoff_base", 0.01)
    kwargs.setdefault("rng", random.Random(1))
    return CohereClient(emulator.url, KEY, **kwargs)


# ---- the transport ---------------------------------------------------------------------------


def test_the_deadline_backend_is_installed_and_used(emulator):
    """Fails if httpx/httpcore internals change so that the backend is no longer used."""
    transport = deadline_transport(httpx.Limits(max_connections=4), proxy=None, ssl_context=LOOPBACK_SSL)
    with httpx.Client(base_url=emulator.url, transport=transport, headers={"Authorization": f"Bearer {KEY}"}) as http:
        assert http.get(LIST).status_code == 200
        assert http.get(LIST).status_code == 200  # keep-alive: the same connection
    backend = install_deadline_backend(transport)  # idempotent: returns the installed one
    assert isinstance(backend, DeadlineBackend) and backend.connections == 1


def test_installing_into_something_else_fails_loudly():
    with pytest.raises(RuntimeError, match="internals changed"):
        install_deadline_backend(httpx.MockTransport(lambda r: httpx.Response(200)))  # type: ignore[arg-type]


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


# ---- no pool caps the parallelism: one connection per calling thread ---------------------------


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
