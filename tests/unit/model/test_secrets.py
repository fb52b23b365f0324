import base64
import json
import time
from urllib.parse import quote, quote_plus

import pytest

from conn_reconcile.errors import SecretError
from conn_reconcile.escape import escape
from conn_reconcile.model.binding import BoundSecrets, bind_refs, payload_refs
from conn_reconcile.model.secrets import MASK, MIN_REDACT_LEN, Redactor, fingerprint, secret_forms


def bound(payload: dict, env: dict[str, str], where: str = "a.yaml") -> BoundSecrets:
    return bind_refs(payload_refs(payload, name="x", where=where), env, Redactor())


def test_resolve_replaces_references_and_leaves_the_input_alone():
    payload = {"name": "x", "service_auth": {"type": "bearer", "token": "${TOK}"}}
    out = bound(payload, {"TOK": "v"}).resolve(payload, where="a.yaml")
    assert out["service_auth"]["token"] == "v" and payload["service_auth"]["token"] == "${TOK}"


@pytest.mark.parametrize("env,word", [({}, "not set"), ({"TOK": ""}, "empty")])
def test_unset_variable_names_file_field_and_variable(env, word):
    payload = {"service_auth": {"type": "bearer", "token": "${TOK}"}}
    with pytest.raises(SecretError) as err:
        bound(payload, env).resolve(payload, where="connectors/a.yaml")
    assert str(err.value) == f"connectors/a.yaml: service_auth.token: environment variable TOK is {word}"


def test_fingerprint_is_keyed_and_does_not_contain_the_value():
    a, b = fingerprint("k1", "secret-value"), fingerprint("k2", "secret-value")
    assert a != b and a.startswith("hmac-sha256:") and "secret-value" not in a
    assert fingerprint("k1", "secret-value") == a


# -- the redactor ------------------------------------------------------------------------------
CANARIES = [
    'CANARY-quote"back\\slash/plus+ space',
    "CANARY-ünïcödé-密钥-🔑/+=?&",
    "CANARY\ttab\nnewline\x1b-ctrl\u202e",
    "plain-CANARY-4f9e2d81",
]


def echoed_forms(value: str) -> dict[str, str]:
    raw = value.encode()
    forms = {
        "raw": value,
        "json-ascii": json.dumps(value)[1:-1],
        "json-unicode": json.dumps(value, ensure_ascii=False)[1:-1],
        "quote": quote(value, safe=""),
        "quote_plus": quote_plus(value),
        "escaped": escape(value),
    }
    for name, encode in (("b64", base64.b64encode), ("b64url", base64.urlsafe_b64encode)):
        forms[name] = encode(raw).decode()
        forms[name + "-unpadded"] = encode(raw).decode().rstrip("=")
    return forms


@pytest.mark.parametrize("canary", CANARIES)
def test_every_echoed_form_is_masked(canary):
    r = Redactor([canary])
    for form_name, form in echoed_forms(canary).items():
        text = f'{{"message": "invalid token {form}", "echo": "{form}"}} and <{form}>'
        out = r(text)
        assert form not in out, form_name
        assert out.count(MASK) == 3, (form_name, out)


def test_a_json_body_echoing_the_secret_is_masked_in_every_encoding():
    canary = CANARIES[0]
    r = Redactor([canary])
    for ensure_ascii in (True, False):
        body = json.dumps({"error": f"bad token: {canary}", "token": canary}, ensure_ascii=ensure_ascii)
        out = r(body)
        assert "CANARY" not in out and json.loads(out) == {"error": f"bad token: {MASK}", "token": MASK}


def test_secret_forms_cover_urls_and_base64_variants():
    forms = secret_forms("a b/c+d")
    assert {"a b/c+d", "a%20b%2Fc%2Bd", "a+b%2Fc%2Bd", "YSBiL2MrZA==", "YSBiL2MrZA"} <= forms


def _every_form(value: str) -> set[str]:
    """secret_forms the long way: every encoding computed, whatever the value."""
    raw = value.encode("utf-8", "surrogateescape")
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], escape(value)}
    forms |= {quote(raw, safe=""), quote_plus(raw, safe="")}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode("ascii")
        forms |= {encoded, encoded.rstrip("=")}
    return {f for f in forms if len(f) >= MIN_REDACT_LEN}


@pytest.mark.parametrize(
    "value", ["tok00001x9e3779b1", "A-b_c.d~e0", "::x", "a b", "caf\u00e9-tok", "x/y+z=", 'q"uote', "tab\tbed"]
)
def test_secret_forms_are_every_form_also_for_plain_tokens(value: str) -> None:
    assert secret_forms(value) == _every_form(value)


def test_short_values_are_not_masked_in_free_text():
    r = Redactor(["abc", None, ""])
    assert r("abc abcdef") == "abc abcdef"
    r.add("x" * MIN_REDACT_LEN)
    assert r("x" * MIN_REDACT_LEN) == MASK


def test_the_longest_secret_wins_and_adds_are_seen():
    r = Redactor(["CANARY-long-secret-value"])
    r.add("CANARY-long")
    assert r("a CANARY-long-secret-value b CANARY-long c") == f"a {MASK} b {MASK} c"
    r.add("later-added-secret")
    assert r("later-added-secret") == MASK


def test_a_redactors_own_output_is_not_masked_again_until_it_learns_a_value():
    # "ive)" is in the mask itself: masking the output again would mangle it
    r = Redactor(["CANARY-secret", "ive)"])
    out = r("a CANARY-secret b zzzz-later")
    assert out == f"a {MASK} b zzzz-later"
    assert r(out) is out  # a renderer's masked text, printed by the console: one pass
    r.add("zzzz-later")
    assert r(out) == f"a {MASK.replace('ive)', MASK)} b {MASK}"  # a new value: masked again


def test_thousands_of_secrets_mask_in_one_pass():
    secrets = [f"CANARY-{i:05d}-{'x' * (i % 7)}-secret" for i in range(5000)]
    r = Redactor()
    started = time.perf_counter()
    for s in secrets:  # one add per secret, as the applier does: no re-sorting each time
        r.add(s)
    text = " filler ".join(secrets[::50]) + " clean text " * 20_000
    out = r(text)
    elapsed = time.perf_counter() - started
    assert "CANARY" not in out and out.count(MASK) == 100
    assert elapsed < 10, elapsed  # a guard against quadratic behaviour, not a benchmark


def test_data_masks_secret_fields_but_keeps_references():
    r = Redactor(["CANARY-in-data"])
    data = r.data({"service_auth": {"token": "literal"}, "oauth": {"client_secret": "${S}"}, "x": ("CANARY-in-data",)})
    assert data == {"service_auth": {"token": MASK}, "oauth": {"client_secret": "${S}"}, "x": [MASK]}


@pytest.mark.parametrize(
    "var",
    [
        "CO_API_KEY",
        "CO_API_URL",
        "CONN_RECONCILE_FINGERPRINT_KEY",
        "GITHUB_TOKEN",
        "ACTIONS_RUNTIME_TOKEN",
        "RUNNER_TEMP",
        "github_token",
    ],
)
def test_resolution_refuses_reserved_variables_even_from_a_plan_file(var):
    payload = {"service_auth": {"type": "bearer", "token": f"${{{var}}}"}}
    secrets = bound(payload, {var: "CANARY-value"}, where="plan.json")
    assert not secrets.values  # never even read
    with pytest.raises(SecretError, match="is reserved") as err:
        secrets.resolve(payload, where="plan.json")
    assert "CANARY" not in str(err.value)
