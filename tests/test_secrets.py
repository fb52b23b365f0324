import pytest

from conn_reconcile.errors import SecretError
from conn_reconcile.secrets import fingerprint, resolve_payload

PATHS = ("oauth.client_secret", "service_auth.token")


def test_resolve_replaces_references_and_leaves_the_input_alone():
    payload = {"name": "x", "service_auth": {"type": "bearer", "token": "${TOK}"}}
    out = resolve_payload(payload, {"TOK": "v"}, where="a.yaml", paths=PATHS)
    assert out["service_auth"]["token"] == "v" and payload["service_auth"]["token"] == "${TOK}"


@pytest.mark.parametrize("env,word", [({}, "not set"), ({"TOK": ""}, "empty")])
def test_unset_variable_names_file_field_and_variable(env, word):
    with pytest.raises(SecretError) as err:
        resolve_payload({"service_auth": {"type": "bearer", "token": "${TOK}"}}, env, where="connectors/a.yaml", paths=PATHS)
    assert str(err.value) == f"connectors/a.yaml: service_auth.token: environment variable TOK is {word}"


def test_fingerprint_is_keyed_and_does_not_contain_the_value():
    a, b = fingerprint("k1", "secret-value"), fingerprint("k2", "secret-value")
    assert a != b and a.startswith("hmac-sha256:") and "secret-value" not in a
    assert fingerprint("k1", "secret-value") == a
