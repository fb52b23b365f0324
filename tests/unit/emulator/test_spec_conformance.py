"""The emulator against the published spec (tests/data/cohere-connectors-openapi.yaml): every
operation the spec lists is served, and every response validates against the spec's schema."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from helpers import LOOPBACK_SSL, loopback_client
from ruamel.yaml import YAML

from conn_reconcile.emulator import Emulator
from conn_reconcile.model.connector import AUTH_TOKEN_TYPES

SPEC = Path(__file__).resolve().parents[2] / "data" / "cohere-connectors-openapi.yaml"


@pytest.fixture(scope="module")
def spec():
    return YAML(typ="safe").load(SPEC.read_text(encoding="utf-8"))


def test_the_auth_token_types_are_the_specs(spec):
    assert AUTH_TOKEN_TYPES == ("bearer", "basic", "noscheme")
    assert list(AUTH_TOKEN_TYPES) == spec["components"]["schemas"]["AuthTokenType"]["enum"]


def check(spec, name: str, instance) -> None:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]})
    errors = sorted(validator.iter_errors(instance), key=str)
    assert not errors, f"{name}: {errors[0].message} at {list(errors[0].absolute_path)}"


def check_error(resp: httpx.Response, status: int) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]


@pytest.fixture
def api(endpoint):
    with (
        Emulator(api_key="spec-key") as emu,
        loopback_client("spec-key", base_url=emu.url) as http,
    ):
        http.endpoint_url = endpoint.url
        yield http


def test_every_operation_in_the_spec_is_served_and_matches_its_schema(spec, api):
    operations = {(path, method) for path, item in spec["paths"].items() for method in item if method != "parameters"}
    assert operations == {
        ("/v1/connectors", "get"),
        ("/v1/connectors", "post"),
        ("/v1/connectors/{id}", "get"),
        ("/v1/connectors/{id}", "patch"),
        ("/v1/connectors/{id}", "delete"),
        ("/v1/connectors/{id}/oauth/authorize", "post"),
    }
    url = api.endpoint_url + "/search"
    created = api.post("/v1/connectors", json={"name": "spec docs", "url": url, "description": "d", "excludes": ["x"]})
    assert created.status_code == 200, created.text
    check(spec, "CreateConnectorResponse", created.json())
    cid = created.json()["connector"]["id"]
    assert cid.startswith("spec-docs-")

    oauth = api.post(
        "/v1/connectors",
        json={
            "name": "drive",
            "url": url,
            "oauth": {
                "client_id": "c",
                "client_secret": "s",
                "authorize_url": "https://a.example.com/authorize",
                "token_url": "https://a.example.com/token",
                "scope": "read",
            },
        },
    )
    check(spec, "CreateConnectorResponse", oauth.json())
    assert "client_secret" not in oauth.json()["connector"]["oauth"]

    listed = api.get("/v1/connectors", params={"limit": 100})
    check(spec, "ListConnectorsResponse", listed.json())
    assert [c["name"] for c in listed.json()["connectors"]] == ["drive", "spec docs"]  # newest first

    check(spec, "GetConnectorResponse", api.get(f"/v1/connectors/{cid}").json())
    check(spec, "UpdateConnectorResponse", api.patch(f"/v1/connectors/{cid}", json={"active": False}).json())
    authorize = api.post(
        f"/v1/connectors/{oauth.json()['connector']['id']}/oauth/authorize",
        params={"after_token_redirect": "https://app.example.com/done"},
    )
    check(spec, "OAuthAuthorizeResponse", authorize.json())
    deleted = api.delete(f"/v1/connectors/{cid}")
    assert deleted.status_code == 200
    check(spec, "DeleteConnectorResponse", deleted.json())


def test_error_responses_have_the_documented_shape(api):
    check_error(api.get("/v1/connectors/nope"), 404)
    check_error(api.patch("/v1/connectors/nope", json={"active": True}), 404)
    check_error(api.delete("/v1/connectors/nope"), 404)
    check_error(api.get("/v1/connectors", params={"limit": 101}), 400)
    check_error(api.post("/v1/connectors", json={"url": "https://x.example.com"}), 400)
    check_error(api.post("/v1/connectors", content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    check_error(
        httpx.get(str(api.base_url) + "/v1/connectors", headers={"Authorization": "Bearer wrong"}, verify=LOOPBACK_SSL),
        401,
    )
