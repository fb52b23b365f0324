"""The emulator's OAuth, as the spec (tests/data/cohere-connectors-openapi.yaml) has it:
``auth_status`` per API key (the user making the request: ``valid``, ``expired``, or the field
omitted when the user has not authorized), set by a test as a user's grant; and
``POST /v1/connectors/{id}/oauth/authorize[?after_token_redirect=URL]``."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import emulator_client, loopback_client
from ruamel.yaml import YAML

from conn_reconcile.emulator import Emulator

SPEC = Path(__file__).resolve().parents[2] / "data" / "cohere-connectors-openapi.yaml"
OAUTH = {
    "client_id": "cid-1",
    "client_secret": "never-returned",
    "authorize_url": "https://idp.example.com/auth",
    "token_url": "https://idp.example.com/token",
    "scope": "read",
}


def _check(name: str, instance: object) -> None:
    from jsonschema import Draft202012Validator

    spec = YAML(typ="safe").load(SPEC.read_text(encoding="utf-8"))
    validator = Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]})
    assert not list(validator.iter_errors(instance))


def test_auth_status_is_the_requesting_keys_and_only_of_oauth_connectors(emulator: Emulator) -> None:
    drive = emulator.seed({"name": "drive", "url": "https://a.example.com", "oauth": OAUTH})
    docs = emulator.seed({"name": "docs", "url": "https://a.example.com"})
    assert "auth_status" not in drive  # nobody has authorized it yet: the field is omitted
    emulator.set_auth_status(drive["id"], "valid", api_key="alice-key")
    with emulator_client(emulator, "alice-key") as alice, emulator_client(emulator, "bob-key") as bob:
        got = alice.get(f"/v1/connectors/{drive['id']}").json()
        assert got["connector"]["auth_status"] == "valid"
        _check("GetConnectorResponse", got)
        listed = alice.get("/v1/connectors").json()
        assert {c["name"]: c.get("auth_status") for c in listed["connectors"]} == {"drive": "valid", "docs": None}
        _check("ListConnectorsResponse", listed)
        assert "auth_status" not in bob.get(f"/v1/connectors/{drive['id']}").json()["connector"]
        patched = alice.patch(f"/v1/connectors/{drive['id']}", json={"active": False}).json()
        assert patched["connector"]["auth_status"] == "valid"
        emulator.set_auth_status(drive["id"], "expired", api_key="alice-key")
        assert alice.get(f"/v1/connectors/{drive['id']}").json()["connector"]["auth_status"] == "expired"
        emulator.set_auth_status(drive["id"], "", api_key="alice-key")  # the grant revoked
        assert "auth_status" not in alice.get(f"/v1/connectors/{drive['id']}").json()["connector"]
    with pytest.raises(ValueError, match="does not use oauth"):
        emulator.set_auth_status(docs["id"], "valid")
    with pytest.raises(ValueError, match="valid, expired"):
        emulator.set_auth_status(drive["id"], "ok")
    with pytest.raises(ValueError, match="not found"):
        emulator.set_auth_status("nope", "valid")


def test_a_grant_set_without_a_key_is_the_emulators_key_and_goes_with_the_connector() -> None:
    with Emulator(api_key="right-key") as emu, emulator_client(emu, "right-key") as api:
        drive = emu.seed({"name": "drive", "url": "https://a.example.com", "oauth": OAUTH}, id="drive-1")
        control = loopback_client(base_url=emu.url)
        r = control.post("/_emulator/auth_status", json={"id": "drive-1", "status": "expired"})
        assert r.status_code == 200, r.text
        assert api.get("/v1/connectors/drive-1").json()["connector"]["auth_status"] == "expired"
        assert control.post("/_emulator/auth_status", json={"id": "drive-1", "status": 3}).status_code == 400
        assert api.delete("/v1/connectors/drive-1").status_code == 200
        emu.seed({"name": "drive", "url": "https://a.example.com", "oauth": OAUTH}, id=drive["id"])
        assert "auth_status" not in api.get("/v1/connectors/drive-1").json()["connector"]
        control.close()


def test_authorize_answers_as_the_spec_says(emulator: Emulator, api) -> None:
    drive = emulator.seed({"name": "drive", "url": "https://a.example.com", "oauth": OAUTH})
    path = f"/v1/connectors/{drive['id']}/oauth/authorize"
    r = api.post(path, params={"after_token_redirect": "https://app.example.com/done"})
    assert r.status_code == 200 and list(r.json()) == ["redirect_url"]
    _check("OAuthAuthorizeResponse", r.json())
    query = parse_qs(urlsplit(r.json()["redirect_url"]).query)
    state = json.loads(base64.urlsafe_b64decode(query["state"][0] + "=" * (-len(query["state"][0]) % 4)))
    assert state["after_token_redirect"] == "https://app.example.com/done"
    plain = api.post(path).json()["redirect_url"]  # no redirect asked for: none in the state
    plain_state = parse_qs(urlsplit(plain).query)["state"][0]
    assert "after_token_redirect" not in json.loads(
        base64.urlsafe_b64decode(plain_state + "=" * (-len(plain_state) % 4))
    )
    for bad in ("not a url", "javascript:alert(1)", "/relative"):
        refused = api.post(path, params={"after_token_redirect": bad})
        assert refused.status_code == 400 and "after_token_redirect" in refused.json()["message"], bad
    docs = emulator.seed({"name": "docs", "url": "https://a.example.com"})
    refused = api.post(f"/v1/connectors/{docs['id']}/oauth/authorize")
    assert refused.status_code == 400 and "does not use oauth" in refused.json()["message"]
    assert api.post("/v1/connectors/nope/oauth/authorize").status_code == 404
    assert api.get(path).status_code == 405
