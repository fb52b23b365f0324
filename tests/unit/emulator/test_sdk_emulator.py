"""The official Cohere Python SDK works against the emulator (fidelity check).

The SDK joins ``base_url`` and ``"v1/connectors"`` itself, so ``base_url`` is the bare
emulator URL, without a ``/v1`` suffix (cohere/core/http_client.py ``_build_url``).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest

cohere = pytest.importorskip("cohere")
from cohere.errors import BadRequestError, NotFoundError, UnauthorizedError  # noqa: E402
from helpers import loopback_client  # noqa: E402

from conn_reconcile.emulator import Emulator  # noqa: E402

API_KEY = "sdk-test-key"
TOKEN = "sdk-canary-" + secrets.token_hex(8)
CLIENT_SECRET = "sdk-secret-" + secrets.token_hex(8)


@pytest.fixture
def strict_emulator():
    with Emulator(api_key=API_KEY) as emu:
        yield emu


def sdk(emu: Emulator, api_key: str, **kwargs):
    return cohere.Client(  # its HTTP client never goes through a proxy of the environment
        api_key=api_key,
        base_url=emu.url,
        httpx_client=loopback_client(timeout=10),
        **kwargs,
    )


@pytest.fixture
def co(strict_emulator):
    return sdk(strict_emulator, API_KEY, client_name="sdk-test")


def test_sdk_connector_lifecycle(strict_emulator, co, make_endpoint):
    ep = make_endpoint(auth_type="bearer", token=TOKEN)
    created = co.connectors.create(
        name="SDK Docs",
        url=ep.url + "/search",
        description="via the SDK",
        excludes=["raw"],
        continue_on_failure=True,
        service_auth={"type": "bearer", "token": TOKEN},
    ).connector
    assert created.id.startswith("sdk-docs-") and len(created.id) == len("sdk-docs-") + 6
    assert (created.name, created.description, created.url) == ("SDK Docs", "via the SDK", ep.url + "/search")
    assert (created.excludes, created.active, created.continue_on_failure) == (["raw"], True, True)
    assert created.auth_type == "service_auth" and created.organization_id == strict_emulator.organization_id
    assert created.created_at.tzinfo is not None and created.created_at == created.updated_at
    assert abs((datetime.now(UTC) - created.created_at).total_seconds()) < 3600
    assert len(ep.queries) == 1  # the registration test reached the real endpoint with the token

    listed = co.connectors.list(limit=10, offset=0)
    assert listed.total_count == 1 and [c.id for c in listed.connectors] == [created.id]

    got = co.connectors.get(created.id).connector
    assert got.id == created.id and got.excludes == ["raw"]

    updated = co.connectors.update(created.id, name="SDK Docs v2", active=False).connector
    assert (updated.name, updated.active, updated.url) == ("SDK Docs v2", False, created.url)
    assert updated.updated_at > created.updated_at and updated.created_at == created.created_at

    co.connectors.delete(created.id)
    with pytest.raises(NotFoundError):
        co.connectors.get(created.id)
    assert co.connectors.list().total_count == 0

    assert {r.client_name for r in strict_emulator.requests} == {"sdk-test"}


def test_sdk_oauth_connector_and_authorize(strict_emulator, co):
    created = co.connectors.create(
        name="Drive",
        url="http://127.0.0.1:9/unreachable-but-oauth-is-not-tested",
        oauth={
            "client_id": "cid",
            "client_secret": CLIENT_SECRET,
            "authorize_url": "https://idp.example.com/auth",
            "token_url": "https://idp.example.com/token",
            "scope": "drive.read",
        },
    ).connector
    assert created.auth_type == "oauth"
    assert created.oauth.client_id == "cid" and created.oauth.token_url == "https://idp.example.com/token"
    assert created.oauth.client_secret is None
    redirect = co.connectors.o_auth_authorize(
        created.id, after_token_redirect="https://app.example.com/ok"
    ).redirect_url
    assert redirect.startswith("https://idp.example.com/auth?") and "client_id=cid" in redirect
    assert strict_emulator.connectors[0]["oauth"]["client_secret"] == CLIENT_SECRET


def test_sdk_errors(strict_emulator, co, make_endpoint):
    ep = make_endpoint(auth_type="bearer", token=TOKEN)
    with pytest.raises(BadRequestError) as exc:
        co.connectors.create(name="bad", url=ep.url, service_auth={"type": "basic", "token": TOKEN})
    assert "registration test failed" in exc.value.body["message"] and TOKEN not in str(exc.value.body)
    with pytest.raises(BadRequestError):
        co.connectors.list(limit=500)
    wrong = sdk(strict_emulator, "not-the-key")
    with pytest.raises(UnauthorizedError):
        wrong.connectors.list()
    assert strict_emulator.connectors == []
