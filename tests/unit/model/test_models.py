"""The pydantic models of connector files, API answers and the state, and the rules they share
(validation.Rules): exact types where files are strict, every problem located and worded
without the input, the string rules checked in pydantic-core agreeing with their Python meaning."""

from __future__ import annotations

import random
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError

from conn_reconcile.config.model import ConfigFile
from conn_reconcile.model.connector import (
    EDGES_RULE,
    HTTP_URL_RULE,
    NON_BLANK_RULE,
    PLAIN_RULE,
    SPEC_MESSAGES,
    ConnectorSpec,
    RemoteConnector,
    validate_strict,
)
from conn_reconcile.model.state import Intent, ManagedRecord, Mutation, State
from conn_reconcile.model.validation import WHITESPACE, first_problem, problems, validate_json

SERVICE = {"type": "bearer", "token": "${DOCS_TOKEN}"}
BASE: dict[str, Any] = {"name": "docs", "url": "https://docs.example.com/search", "service_auth": SERVICE}


def found(model: Any, data: Any) -> list[tuple[str, str, str]]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return [(p.path, p.type, p.message) for p in problems(info.value)]


def test_a_strict_model_takes_exactly_its_types_and_reports_every_problem_in_field_order() -> None:
    data = {"extra": 1, "name": 5, "url": b"https://x", "excludes": ("a",), "active": "yes", "service_auth": []}
    assert found(ConnectorSpec, data) == [
        ("name", "string_type", "Input should be a valid string"),
        ("url", "string_type", "Input should be a valid string"),
        ("excludes", "list_type", "Input should be a valid list"),
        ("active", "bool_type", "Input should be a valid boolean"),
        ("service_auth", "model_type", "Input should be a valid dictionary or instance of ServiceAuthSpec"),
        ("extra", "extra_forbidden", "Extra inputs are not permitted"),
    ]
    assert found(ConfigFile, {"max_deletes": 1.0, "parallelism": "4", "prune": 1}) == [
        ("prune", "bool_type", "Input should be a valid boolean"),
        ("max_deletes", "int_type", "Input should be a valid integer"),
        ("parallelism", "int_type", "Input should be a valid integer"),
    ]


def test_constraints_missing_fields_and_nested_locations() -> None:
    data = {"name": "n" * 257, "url": "https://x", "service_auth": {"type": "jwt"}, "excludes": ["a", 5]}
    assert found(ConnectorSpec, data) == [
        ("name", "string_too_long", "String should have at most 256 characters"),
        ("excludes.1", "string_type", "Input should be a valid string"),
        ("service_auth.type", "literal_error", "Input should be 'bearer', 'basic' or 'noscheme'"),
        ("service_auth.token", "missing", "Field required"),
    ]
    config = {"parallelism": 65, "environments": {"bad name": {"vars": {"1x": "v"}}}}
    assert found(ConfigFile, config) == [
        ("parallelism", "less_than_equal", "Input should be less than or equal to 64"),
        (
            "environments.bad name",
            "environment_name",
            "environment names are letters, digits, '.', '_' and '-' (at most 64)",
        ),
        (
            "environments.bad name.vars.1x",
            "variable_name",
            "must be an environment variable name (letters, digits, _; not starting with a digit)",
        ),
    ]
    assert found(ConnectorSpec, ["not", "a", "mapping"]) == [
        ("", "model_type", "Input should be a valid dictionary or instance of ConnectorSpec")
    ]


def test_the_spec_messages_word_pydantics_errors_the_tools_way() -> None:
    spec, errors = validate_strict(ConnectorSpec, {"name": "a", "colour": 1}, SPEC_MESSAGES)
    assert spec is None
    assert [(p.path, p.message) for p in errors] == [("url", "required field is missing"), ("colour", "unknown field")]


def test_the_api_model_takes_what_json_cannot_say_better_and_ignores_unknown_keys() -> None:
    r = RemoteConnector.model_validate(
        {"id": "c-1", "name": "n", "active": "true", "excludes": ["a", "b"], "new_field": 1, "oauth": {"x": 1}}
    )
    assert (r.active, r.excludes, r.oauth is not None) == (True, ("a", "b"), True)
    assert found(RemoteConnector, {"id": "c-1", "name": 5, "active": "maybe"}) == [
        ("name", "string_type", "Input should be a valid string"),
        ("active", "bool_parsing", "Input should be a valid boolean, unable to interpret input"),
    ]


def test_a_pattern_anchored_with_dollar_refuses_a_final_newline() -> None:
    """A pattern's ``$`` is the end of the string (Rust's regex, as JSON Schema's); Python's
    would also match before a final newline, and an id with a newline must never reach a URL."""
    assert RemoteConnector.model_validate({"id": "abc-123", "name": "n"}).id == "abc-123"
    for bad in ("abc\n", "abc\r", "../x", "", "a" * 129):
        assert [t for _, t, _ in found(RemoteConnector, {"id": bad, "name": "n"})] == ["string_pattern_mismatch"]
    assert [t for _, t, _ in found(ConnectorSpec, {**BASE, "service_auth": {**SERVICE, "token": "${T}\n"}})] == [
        "literal_secret"
    ]


def test_no_message_holds_the_input_value() -> None:
    canary = "CANARY-s3cr3t-value"
    data = {
        "name": ["x"],
        "url": canary,
        "description": {canary: canary},
        "active": canary,
        "excludes": canary,
        canary: canary,
        "service_auth": {"type": canary, "token": canary},
    }
    with pytest.raises(ValidationError) as info:
        ConnectorSpec.model_validate(data)
    listed = problems(info.value)
    assert len(listed) == 8
    assert all(canary not in p.message for p in listed)
    assert [p.path for p in listed if canary in p.path] == [canary]  # an unknown key is named, as a key
    assert str(info.value).count(canary) == 1  # hide_input_in_errors: pydantic's own text names only the key


def test_the_model_rule_runs_after_the_fields_and_only_when_they_are_valid() -> None:
    oauth = {"authorize_url": "https://a/x", "token_url": "https://a/y"}
    both = {**BASE, "oauth": oauth}
    assert found(ConnectorSpec, both) == [
        ("", "value_error", "oauth and service_auth are mutually exclusive; keep only one")
    ]
    assert [p for p, _, _ in found(ConnectorSpec, {**both, "url": "ftp://x"})] == ["url"]


def test_building_a_model_validates_it() -> None:
    with pytest.raises(ValidationError):
        ManagedRecord(id="c-1", name=None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Intent(id="i", op="rename", name="n", started_at="t")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ConnectorSpec(name="n", url="https://x", service_auth={"type": "bearer", "token": "literal"})  # type: ignore[arg-type]


def test_fields_set_copies_and_frozen_models() -> None:
    spec = ConnectorSpec.model_validate({"name": "n", "url": "https://x", "active": None})
    assert spec.model_fields_set == {"name", "url", "active"}
    with pytest.raises(ValidationError, match="frozen"):
        spec.name = "other"  # type: ignore[misc]
    intent = Intent(id="i", op="create", name="n", started_at="t")
    unknown = intent.model_copy(update={"status": "unknown"})
    assert (unknown.status, intent.status, unknown.model_fields_set) == (
        "unknown",
        "pending",
        intent.model_fields_set | {"status"},
    )
    state = State()
    state.apply(Mutation(intents=[intent]))
    assert state.intents == {"i": intent} and State().intents == {}  # a fresh default each time


def test_a_journal_line_leaves_defaults_out_and_reads_back() -> None:
    mutation = Mutation(
        put=[ManagedRecord(id="c-1", name="é")], intents=[Intent(id="i", op="create", name="n", started_at="t")]
    )
    line = mutation.model_dump_json(exclude_defaults=True)
    assert line == '{"put":[{"id":"c-1","name":"é"}],"intents":[{"id":"i","op":"create","name":"n","started_at":"t"}]}'
    assert validate_json(Mutation, line) == mutation


def test_json_that_is_not_json_is_a_json_invalid_error_and_any_string_json_escapes_is_read() -> None:
    for text, why in (
        (b"{not json", "Invalid JSON: Expecting"),
        (b"\xff", "Invalid JSON"),
        (b"[" * 100_000, "nested too deeply"),
    ):
        with pytest.raises(ValidationError) as info:
            validate_json(State, text)
        assert [e["type"] for e in info.value.errors()] == ["json_invalid"]
        assert why in first_problem(info.value, "")
    lone = validate_json(State, '{"connectors": {"a": {"id": "a", "name": "x\\ud800"}}}')  # a name the API sent
    assert lone.connectors["a"].name == "x\ud800"


def test_the_first_problem_names_its_path_or_the_whole_input() -> None:
    with pytest.raises(ValidationError) as info:
        RemoteConnector.model_validate({"id": "c", "name": "n", "excludes": [1]})
    assert first_problem(info.value, "connector") == "excludes.0: Input should be a valid string"
    with pytest.raises(ValidationError) as info:
        RemoteConnector.model_validate([])
    assert first_problem(info.value, "connector") == (
        "connector: Input should be a valid dictionary or instance of RemoteConnector"
    )


# ---- the rules checked in pydantic-core mean what their Python definitions say --------------


def _rust(pattern: str) -> re.Pattern[str]:
    """A rule's pattern in Python's re: ``$`` is the very end, as in Rust's regex."""
    return re.compile(pattern.removesuffix("$") + r"\Z" if pattern.endswith("$") else pattern)


def _random_strings(alphabet: list[str], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7))) for _ in range(count)]


def test_the_whitespace_class_is_what_str_strip_removes() -> None:
    every = "".join(map(chr, range(0x110000)))
    assert set(re.findall(f"[{WHITESPACE}]", every)) == {c for c in every if c.isspace()}


def test_the_plain_rule_refuses_exactly_a_reference() -> None:
    """``${...}`` anywhere (a ``}`` after a ``${``) is refused; any other ``$`` or ``{`` is text."""
    reference = re.compile(r"\$\{[^}]*\}")
    plain = _rust(PLAIN_RULE.pattern)
    for value in _random_strings([*"${}a\n", "}$"], 30_000, 11):
        assert bool(plain.search(value)) == (reference.search(value) is None), repr(value)


def test_the_name_rules_are_strip_semantics() -> None:
    non_blank, edges = _rust(NON_BLANK_RULE.pattern), _rust(EDGES_RULE.pattern)
    for value in _random_strings(["a", " ", "\n", "\x1f", "\u3000", "\u200b", "é"], 30_000, 5):
        assert bool(non_blank.search(value)) == bool(value.strip()), repr(value)
        if value.strip():
            assert bool(edges.search(value)) == (value == value.strip()), repr(value)
    for value, message in (("", "must not be empty"), ("\u3000", "must not be empty"), ("a\n", "must not start")):
        assert found(ConnectorSpec, {**BASE, "name": value})[0][2].startswith(message)


def test_the_fast_url_pattern_never_accepts_what_urlsplit_refuses() -> None:
    """The URL rule's pattern spares most URLs a call of urlsplit (which decides any other):
    whatever the pattern accepts, urlsplit must accept too."""
    fast = _rust(HTTP_URL_RULE.pattern)
    alphabet = [*"htps:/?#[]@.-aZ0é ", "\t", "\n", "\r", "\x00", "\x0b", "\x1f"]
    rng = random.Random(7)
    accepted = 0
    for _ in range(50_000):
        prefix = rng.choice(["http://", "https://", "HTTP://", "http:/", "", "https:"])
        value = prefix + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        if fast.search(value):
            accepted += 1
            parts = urlsplit(value)  # raises on unbalanced IPv6 brackets: must not happen here
            assert parts.scheme in ("http", "https") and parts.netloc, repr(value)
    assert accepted > 1000  # the shortcut is exercised
    for bad in ("https://[::1", "https://\t/x", "ftp://x", "https:///x", "HTTPS://", " "):
        assert found(ConnectorSpec, {**BASE, "url": bad}) == [
            ("url", "http_url", "must be an absolute http:// or https:// URL")
        ]
    for good in ("HTTPS://Example.com/s", "http://[::1]:8080/search"):  # decided by urlsplit
        assert ConnectorSpec.model_validate({**BASE, "url": good}).url == good


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("sk-live-1", "literal secrets are not allowed; reference an environment variable, e.g. ${MY_TOKEN}"),
        ("${1X}", "literal secrets are not allowed; reference an environment variable, e.g. ${MY_TOKEN}"),
        (
            "${github_token}",
            "${github_token} is reserved: a connector secret may not reference the Cohere API key or CI variables",
        ),
    ],
)
def test_a_secret_is_a_reference_to_a_variable_that_is_not_reserved(token: str, message: str) -> None:
    assert found(ConnectorSpec, {**BASE, "service_auth": {**SERVICE, "token": token}}) == [
        ("service_auth.token", "literal_secret" if "literal" in message else "value_error", message)
    ]
